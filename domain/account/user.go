package account

import (
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/location"
)

// User is the state of a user-<id> stream.
type User struct {
	ID      uuid.UUID
	Version int64 // 0: no such user

	Kind                Kind
	Role                Role
	Status              Status
	Email               string
	FullName            string
	Phone               string
	JobTitle            string
	OrganisationType    string
	CommunicationsOptIn bool
	// HomeOrganisation is the organisation of a generic account.
	HomeOrganisation string
	// Auditor: support granted the auditor role (see IsAuditor).
	Auditor bool

	// Locations maps each location the user has access to onto its
	// organisation.
	Locations map[string]string
	Requests  map[uuid.UUID]*Request

	HasPassword        bool
	PasswordExpiresAt  time.Time
	MustChangePassword bool
	Links              map[uuid.UUID]*Link
	RemindersDue       map[string]bool // reminderKey(expiresAt, days)
	Tokens             map[uuid.UUID]*Token
}

// Request is an access request and the decision of each organisation.
type Request struct {
	ID    uuid.UUID
	Via   string
	Parts map[string]*RequestPart // by organisation id
}

// Decisions of a request part.
const (
	Undecided = ""
	Approved  = "approved"
	Refused   = "rejected"
)

// RequestPart is one organisation's locations of a request.
type RequestPart struct {
	OrganisationID string
	LocationIDs    []string
	Decision       string
}

// Link is a password link.
type Link struct {
	Purpose   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	Used      bool
}

// Token is a personal API token.
type Token struct {
	Name      string
	ExpiresAt time.Time
	Revoked   bool
}

// Exists reports whether the user stream has events.
func (u *User) Exists() bool { return u != nil && u.Version > 0 }

// IsSupport reports an active member of the support team.
func (u *User) IsSupport() bool { return u.Exists() && u.Status == Active && u.Role == Support }

// IsAuditor reports an active user whom support made an auditor: they may
// replay every stream, as support does. The flag outlives a deactivation,
// which still ends the role: an inactive user is no auditor.
func (u *User) IsAuditor() bool { return u.Exists() && u.Status == Active && u.Auditor }

// IsCommissioner reports whether u is an active user of a commissioning
// organisation (a CCG, a local authority, a regional local authority or
// LRF, or NHSE/NDX and CSUs): the people who find providers and read the
// analytics of every area.
func (u *User) IsCommissioner() bool {
	if !u.Exists() || u.Status != Active {
		return false
	}
	switch location.OrganisationType(u.OrganisationType) {
	case location.CCG, location.LocalAuthority, location.LocalAuthorityRegional, location.NHSENDXCSU:
		return true
	}
	return false
}

// IsApproverOf reports whether u may approve requests for, and manage the
// users of, an organisation: support, or an active Approver with access to
// one of its locations.
func (u *User) IsApproverOf(org string) bool {
	if u.IsSupport() {
		return true
	}
	if !u.Exists() || u.Status != Active || u.Role != Approver || u.Kind != Personal {
		return false
	}
	for _, o := range u.Locations {
		if o == org {
			return true
		}
	}
	return false
}

// Organisations lists the organisations of the user's locations, sorted.
func (u *User) Organisations() []string {
	var out []string
	for _, o := range u.Locations {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// ManagedBy reports whether actor may manage u: support, or an Approver of
// one of u's organisations (or of an organisation u is asking to join).
func (u *User) ManagedBy(actor *User) bool {
	if actor.IsSupport() {
		return true
	}
	for _, o := range u.Organisations() {
		if actor.IsApproverOf(o) {
			return true
		}
	}
	for _, r := range u.Requests {
		for o, p := range r.Parts {
			if p.Decision == Undecided && actor.IsApproverOf(o) {
				return true
			}
		}
	}
	return false
}

// pendingLocations are the locations of the user's undecided request parts.
func (u *User) pendingLocations() map[string]bool {
	out := map[string]bool{}
	for _, r := range u.Requests {
		for _, p := range r.Parts {
			if p.Decision == Undecided {
				for _, l := range p.LocationIDs {
					out[l] = true
				}
			}
		}
	}
	return out
}

func reminderKey(expiresAt time.Time, days int) string {
	return expiresAt.UTC().Format(time.RFC3339) + "/" + strconv.Itoa(days)
}

// Evolve applies one event of the user stream.
func Evolve(u User, ev Event) User {
	u.Version++
	if u.Locations == nil {
		u.Locations = map[string]string{}
		u.Requests = map[uuid.UUID]*Request{}
		u.Links = map[uuid.UUID]*Link{}
		u.RemindersDue = map[string]bool{}
		u.Tokens = map[uuid.UUID]*Token{}
	}
	switch e := ev.(type) {
	case UserRegistered:
		u.ID, u.Kind, u.Role, u.Status = e.UserID, Personal, e.Role, Pending
		u.Email, u.FullName, u.Phone, u.JobTitle = e.Email, e.FullName, e.Phone, e.JobTitle
		u.OrganisationType, u.CommunicationsOptIn = e.OrganisationType, e.CommunicationsOptIn
	case RegisteredManagerImported:
		u.ID, u.Kind, u.Role, u.Status = e.UserID, Personal, Approver, Active
		u.Email, u.FullName, u.Phone = e.Email, e.FullName, e.Phone
		u.Locations[e.LocationID] = e.OrganisationID
	case SupportUserCreated:
		u.ID, u.Kind, u.Role, u.Status = e.UserID, Personal, Support, Active
		u.Email, u.FullName = e.Email, e.FullName
	case GenericAccountCreated:
		u.ID, u.Kind, u.Role, u.Status = e.UserID, Generic, Standard, Active
		u.Email, u.FullName, u.HomeOrganisation = e.Email, e.DisplayName, e.OrganisationID
		for _, l := range e.Locations {
			u.Locations[l.LocationID] = l.OrganisationID
		}
	case AccessRequested:
		r := &Request{ID: e.RequestID, Via: e.Via, Parts: map[string]*RequestPart{}}
		for _, l := range e.Locations {
			p := r.Parts[l.OrganisationID]
			if p == nil {
				p = &RequestPart{OrganisationID: l.OrganisationID}
				r.Parts[l.OrganisationID] = p
			}
			p.LocationIDs = append(p.LocationIDs, l.LocationID)
		}
		u.Requests[e.RequestID] = r
	case AccessApproved:
		if p := u.part(e.RequestID, e.OrganisationID); p != nil {
			p.Decision = Approved
		}
		for _, l := range e.LocationIDs {
			u.Locations[l] = e.OrganisationID
		}
	case AccessRejected:
		if p := u.part(e.RequestID, e.OrganisationID); p != nil {
			p.Decision = Refused
		}
	case AccessRevoked:
		for _, l := range e.LocationIDs {
			if u.Locations[l] == e.OrganisationID {
				delete(u.Locations, l)
			}
		}
	case UserApproved:
		u.Status = Active
	case RegistrationRejected:
		u.Status = Rejected
	case UserDeactivated:
		u.Status = Deactivated
		for _, t := range u.Tokens {
			t.Revoked = true
		}
	case UserReactivated:
		u.Status = Active
	case RoleChanged:
		u.Role = e.To
	case CommunicationsPreferenceChanged:
		u.CommunicationsOptIn = e.OptIn
	case PasswordLinkIssued:
		u.Links[e.LinkID] = &Link{Purpose: e.Purpose, IssuedAt: e.IssuedAt, ExpiresAt: e.ExpiresAt}
	case PasswordSet:
		u.HasPassword = true
		u.PasswordExpiresAt = e.ExpiresAt
		u.MustChangePassword = e.MustChange
		// Setting a password spends every outstanding link.
		for _, l := range u.Links {
			l.Used = true
		}
	case PasswordExpiryReminderDue:
		u.RemindersDue[reminderKey(e.ExpiresAt, e.DaysBefore)] = true
	case APITokenCreated:
		u.Tokens[e.TokenID] = &Token{Name: e.Name, ExpiresAt: e.ExpiresAt}
	case APITokenRevoked:
		if t := u.Tokens[e.TokenID]; t != nil {
			t.Revoked = true
		}
	case AuditorRoleGranted:
		u.Auditor = true
	case AuditorRoleRevoked:
		u.Auditor = false
	}
	return u
}

func (u *User) part(requestID uuid.UUID, org string) *RequestPart {
	if r := u.Requests[requestID]; r != nil {
		return r.Parts[org]
	}
	return nil
}

// Login is the state of a login-<id> stream.
type Login struct {
	Version     int64
	Failures    int // consecutive wrong passwords
	LockedUntil time.Time
}

// EvolveLogin applies one event of the login stream.
func EvolveLogin(l Login, ev Event) Login {
	l.Version++
	switch e := ev.(type) {
	case LoginFailed:
		if e.Reason == FailWrongPassword {
			l.Failures = e.Consecutive
		}
	case LoginSucceeded:
		l.Failures = 0
	case AccountLocked:
		l.LockedUntil = e.Until
	case AccountUnlocked:
		l.LockedUntil = time.Time{}
		l.Failures = 0
	}
	return l
}

// Locked reports whether the account is locked at now.
func (l Login) Locked(now time.Time) bool { return now.Before(l.LockedUntil) }

// Email is the state of a useremail-<hash> stream.
type EmailOwner struct {
	Version int64
	UserID  uuid.UUID // uuid.Nil: free
}

// EvolveEmail applies one event of the email stream.
func EvolveEmail(s EmailOwner, ev Event) EmailOwner {
	s.Version++
	switch e := ev.(type) {
	case EmailClaimed:
		s.UserID = e.UserID
	case EmailReleased:
		if s.UserID == e.UserID {
			s.UserID = uuid.Nil
		}
	}
	return s
}
