package account

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
)

// Limits of requests.
const (
	MaxLocationsPerRequest = 50
	MaxReasonLength        = 500
	MaxTokenNameLength     = 100
)

// Register is a self-registration.
type Register struct {
	Email               string
	FullName            string
	Phone               string
	JobTitle            string
	UserType            string
	OrganisationType    string
	LocationIDs         []string
	TermsAccepted       bool
	CommunicationsOptIn bool
}

// ValidRegistration is a checked registration, ready to decide.
type ValidRegistration struct {
	Email     Email
	Event     UserRegistered
	Locations []LocationGrant
}

// ValidateRegistration checks every field at once. locations resolves the
// chosen location ids (the caller loads them); an unknown id is a field
// error.
func ValidateRegistration(c Register, lookup func(id string) (location.Location, bool)) (ValidRegistration, error) {
	var v domain.ValidationError
	email, err := ParseEmail(c.Email)
	if err != nil {
		v.Merge("", err)
	}
	name := parseFullName(&v, "full_name", c.FullName)
	phone := parsePhone(&v, "phone", c.Phone)
	job := parseJobTitle(&v, "job_title", c.JobTitle)
	role, ok := ParseUserType(c.UserType)
	if !ok {
		v.Add("user_type", "invalid_choice", "Choose Standard or Approver")
	}
	orgType, ok := location.ParseOrganisationType(c.OrganisationType)
	if !ok {
		v.Add("organisation_type", "invalid_choice", "Choose one of the organisation types")
	}
	grants, _ := resolveLocations(&v, "location_ids", c.LocationIDs, lookup)
	if !c.TermsAccepted {
		v.Add("terms_accepted", "required", "You must agree to the Terms of Use to register")
	}
	if err := v.Err(); err != nil {
		return ValidRegistration{}, err
	}
	return ValidRegistration{
		Email: email,
		Event: UserRegistered{
			Email: email.String(), FullName: name, Phone: phone, JobTitle: job, Role: role,
			OrganisationType: string(orgType), TermsAccepted: true, CommunicationsOptIn: c.CommunicationsOptIn,
		},
		Locations: grants,
	}, nil
}

// resolveLocations looks up the chosen locations, once each, reporting the
// unknown and deregistered ones (nobody is given new access to a location
// CQC deregistered) by their index in ids. at[i] is the index in ids of out[i].
func resolveLocations(v *domain.ValidationError, field string, ids []string, lookup func(string) (location.Location, bool)) (out []LocationGrant, at []int) {
	if len(ids) == 0 {
		v.Add(field, "required", "Choose at least one location")
		return nil, nil
	}
	if len(ids) > MaxLocationsPerRequest {
		v.Add(field, "too_many", "Choose at most 50 locations at a time")
		return nil, nil
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := location.ParseID(id); err != nil {
			v.Add(field+"["+strconv.Itoa(i)+"]", "unknown_location", "No location has this id")
			continue
		}
		l, ok := lookup(id)
		if !ok {
			v.Add(field+"["+strconv.Itoa(i)+"]", "unknown_location", "No location has this id")
			continue
		}
		if l.Deregistered() {
			v.Add(field+"["+strconv.Itoa(i)+"]", "deregistered_location", "This location is deregistered with the CQC: choose a location that is registered")
			continue
		}
		out = append(out, LocationGrant{LocationID: l.LocationID, OrganisationID: l.OrganisationID})
		at = append(at, i)
	}
	return out, at
}

// DecideRegister decides a checked registration against the email's
// owner: the events of the new user's stream, or a conflict.
func DecideRegister(owner EmailOwner, r ValidRegistration, userID, requestID uuid.UUID) ([]Event, error) {
	if owner.UserID != uuid.Nil {
		return nil, &domain.ConflictError{Code: "username_taken", Message: UsernameTaken}
	}
	ev := r.Event
	ev.UserID = userID
	return []Event{ev, AccessRequested{RequestID: requestID, Locations: r.Locations, Via: "registration", DeclarationAccepted: true}}, nil
}

// UsernameTaken is the answer to a registration whose email is registered.
const UsernameTaken = "Username taken! This email address is registered already. " +
	"Please contact the Capacity Tracker Support Centre on 0191 691 3729 or necsu.capacitytracker@nhs.net."

// DecideAccess is an Approver's (or support's) decision on one
// organisation's part of a request. linkID and linkTTL are used when the
// approval activates the user, who then gets a set-password link.
func DecideAccess(u User, actor User, requestID uuid.UUID, org string, approve bool, reason string, now time.Time, linkID uuid.UUID, linkTTL time.Duration) ([]Event, error) {
	if !u.Exists() {
		return nil, domain.ErrNotFound
	}
	p := u.part(requestID, org)
	if p == nil {
		return nil, domain.ErrNotFound
	}
	if !actor.IsApproverOf(org) {
		return nil, domain.ErrForbidden
	}
	if u.ID == actor.ID {
		// Another Approver of the organisation, or support, decides: the
		// mail outbox sends a request to them and never to its requester.
		return nil, domain.Rule("self", "you cannot decide your own request: another Approver of the organisation or support will")
	}
	reason = domain.CleanText(reason)
	if utf8.RuneCountInString(reason) > MaxReasonLength {
		return nil, domain.Invalid("reason", "too_long", "A reason has at most 500 characters")
	}
	if p.Decision != Undecided {
		return nil, domain.Rule("already_decided", "this request was %s already", p.Decision)
	}
	if u.Status == Rejected || u.Status == Deactivated {
		return nil, domain.Rule("user_not_active", "the user's account is %s", u.Status)
	}
	if !approve {
		evs := []Event{AccessRejected{RequestID: requestID, OrganisationID: org, LocationIDs: p.LocationIDs, Reason: reason}}
		if u.Status == Pending && !u.anyApprovedOrUndecidedBut(requestID, org) {
			evs = append(evs, RegistrationRejected{})
		}
		return evs, nil
	}
	evs := []Event{AccessApproved{RequestID: requestID, OrganisationID: org, LocationIDs: p.LocationIDs, Reason: reason}}
	if u.Status == Pending {
		evs = append(evs, UserApproved{})
		if !u.HasPassword {
			evs = append(evs, PasswordLinkIssued{LinkID: linkID, Purpose: LinkSetPassword, IssuedAt: now, ExpiresAt: now.Add(linkTTL)})
		}
	}
	return evs, nil
}

// anyApprovedOrUndecidedBut reports whether some part other than (request,
// org) is approved or still open.
func (u *User) anyApprovedOrUndecidedBut(requestID uuid.UUID, org string) bool {
	for id, r := range u.Requests {
		for o, p := range r.Parts {
			if id == requestID && o == org {
				continue
			}
			if p.Decision != Refused {
				return true
			}
		}
	}
	return false
}

// RequestAccess is My Access: an active user asks for more locations.
func DecideRequestAccess(u User, ids []string, declaration bool, lookup func(string) (location.Location, bool), requestID uuid.UUID) ([]Event, error) {
	if !u.Exists() || u.Status != Active {
		return nil, domain.ErrForbidden
	}
	if u.Kind != Personal || u.Role == Support {
		return nil, domain.Rule("not_personal", "only personal accounts of providers request access")
	}
	var v domain.ValidationError
	grants, at := resolveLocations(&v, "location_ids", ids, lookup)
	if !declaration {
		v.Add("declaration_accepted", "required", "You must accept the declaration")
	}
	pending := u.pendingLocations()
	for k, g := range grants {
		if _, has := u.Locations[g.LocationID]; has {
			v.Add("location_ids["+strconv.Itoa(at[k])+"]", "already_granted", "You have access to this location already")
		} else if pending[g.LocationID] {
			v.Add("location_ids["+strconv.Itoa(at[k])+"]", "already_requested", "You asked for this location already")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return []Event{AccessRequested{RequestID: requestID, Locations: grants, Via: "my_access", DeclarationAccepted: true}}, nil
}

// DecideDeactivate: an Approver of the user's organisations (or support)
// deactivates a leaver. An Approver of only some of them removes the user's
// access to those organisations' locations instead (AccessRevoked): the
// user left them, not the others, whose access stays.
func DecideDeactivate(u User, actor User, reason string) ([]Event, error) {
	if err := canManage(u, actor); err != nil {
		return nil, err
	}
	if u.ID == actor.ID {
		return nil, domain.Rule("self", "you cannot deactivate your own account")
	}
	reason = domain.CleanText(reason)
	if utf8.RuneCountInString(reason) > MaxReasonLength {
		return nil, domain.Invalid("reason", "too_long", "A reason has at most 500 characters")
	}
	if u.Status != Active {
		return nil, domain.Rule("not_active", "the account is %s, not active", u.Status)
	}
	var revoked []Event
	for _, org := range u.Organisations() {
		if !actor.IsApproverOf(org) {
			continue
		}
		var locs []string
		for l, o := range u.Locations {
			if o == org {
				locs = append(locs, l)
			}
		}
		slices.Sort(locs)
		revoked = append(revoked, AccessRevoked{OrganisationID: org, LocationIDs: locs, Reason: reason})
	}
	if !actor.IsSupport() && len(revoked) == 0 {
		return nil, domain.Rule("no_access", "the user has no access to locations of your organisations")
	}
	if actor.IsSupport() || len(revoked) == len(u.Organisations()) {
		return []Event{UserDeactivated{Reason: reason}}, nil
	}
	return revoked, nil
}

// DecideReactivate brings a deactivated user back.
func DecideReactivate(u User, actor User) ([]Event, error) {
	if err := canManage(u, actor); err != nil {
		return nil, err
	}
	if u.Status != Deactivated {
		return nil, domain.Rule("not_deactivated", "the account is %s, not deactivated", u.Status)
	}
	return []Event{UserReactivated{}}, nil
}

// DecideChangeRole moves a user between Standard and Approver.
func DecideChangeRole(u User, actor User, to string) ([]Event, error) {
	if err := canManage(u, actor); err != nil {
		return nil, err
	}
	r, ok := ParseUserType(to)
	if !ok || to == "" {
		return nil, domain.Invalid("user_type", "invalid_choice", "Choose standard or approver")
	}
	if u.Role == Support || u.Kind != Personal {
		return nil, domain.Rule("fixed_role", "the role of this account cannot be changed")
	}
	if u.ID == actor.ID {
		return nil, domain.Rule("self", "you cannot change your own user type")
	}
	// The user type holds in every organisation of the user's locations:
	// an Approver of one of them must not make, or unmake, an Approver of
	// another.
	if !actor.IsSupport() {
		for _, o := range u.Organisations() {
			if !actor.IsApproverOf(o) {
				return nil, domain.Rule("other_organisations",
					"this user also has access to locations of organisations you are not an Approver of: ask support to change their user type")
			}
		}
	}
	if u.Role == r {
		return nil, nil
	}
	return []Event{RoleChanged{From: u.Role, To: r}}, nil
}

// DecideGrantAuditor: support makes an active personal account an
// auditor. Granting the role to an auditor decides nothing, as changing a
// user type to the one it is does.
func DecideGrantAuditor(u User, actor User) ([]Event, error) {
	if err := auditorRoleBy(u, actor); err != nil {
		return nil, err
	}
	if u.Status != Active {
		return nil, domain.Rule("not_active", "the account is %s, not active", u.Status)
	}
	// What an auditor sees is logged against a person: a shared login
	// would hide who looked.
	if u.Kind != Personal {
		return nil, domain.Rule("not_personal", "only a personal account can be an auditor")
	}
	// Four eyes: no one makes themself an auditor.
	if u.ID == actor.ID {
		return nil, domain.Rule("own_account", "another member of the support team must grant you the auditor role")
	}
	if u.Auditor {
		return nil, nil
	}
	return []Event{AuditorRoleGranted{}}, nil
}

// DecideRevokeAuditor: support takes the auditor role back, whatever the
// account's status. Revoking it from a user without it decides nothing.
func DecideRevokeAuditor(u User, actor User) ([]Event, error) {
	if err := auditorRoleBy(u, actor); err != nil {
		return nil, err
	}
	if !u.Auditor {
		return nil, nil
	}
	return []Event{AuditorRoleRevoked{}}, nil
}

// auditorRoleBy: only support grants and revokes the auditor role. The
// actor is checked first, so that nobody else learns whether a user exists.
func auditorRoleBy(u User, actor User) error {
	if !actor.IsSupport() {
		return domain.ErrForbidden
	}
	if !u.Exists() {
		return domain.ErrNotFound
	}
	return nil
}

func canManage(u User, actor User) error {
	if !u.Exists() {
		return domain.ErrNotFound
	}
	if !u.ManagedBy(&actor) {
		// Not found rather than forbidden: an Approver of another
		// organisation must not learn that the user exists.
		return domain.ErrNotFound
	}
	return nil
}

// DecideCommunications records the user's communications preference.
func DecideCommunications(u User, optIn bool) ([]Event, error) {
	if u.CommunicationsOptIn == optIn {
		return nil, nil
	}
	return []Event{CommunicationsPreferenceChanged{OptIn: optIn}}, nil
}

// DecideResetLink issues a reset link to an active user; for anybody else
// it decides nothing (the caller answers the same either way).
func DecideResetLink(u User, now time.Time, linkID uuid.UUID, ttl time.Duration) []Event {
	if !u.Exists() || u.Status != Active {
		return nil
	}
	// One reset email per few minutes: repeated requests (or somebody
	// else's, for this address) do not flood the inbox; the last link
	// still works.
	for _, l := range u.Links {
		if l.Purpose == LinkResetPassword && !l.Used && now.Before(l.IssuedAt.Add(ResetLinkInterval)) {
			return nil
		}
	}
	return []Event{PasswordLinkIssued{LinkID: linkID, Purpose: LinkResetPassword, IssuedAt: now, ExpiresAt: now.Add(ttl)}}
}

// ResetLinkInterval is the least time between two reset links of a user.
const ResetLinkInterval = 5 * time.Minute

// ErrLinkInvalid is the answer to a link that is unknown, used or expired.
var ErrLinkInvalid = domain.Rule("invalid_link", "This link is not valid: it may have been used already or have expired. Ask for a new one.")

// DecideSetPasswordByLink checks the link; the caller has checked the new
// password against the policy and stores its hash.
func DecideSetPasswordByLink(u User, linkID uuid.UUID, now time.Time, maxAge time.Duration) ([]Event, error) {
	if !u.Exists() {
		return nil, ErrLinkInvalid
	}
	l := u.Links[linkID]
	if l == nil || l.Used || !now.Before(l.ExpiresAt) || u.Status != Active {
		return nil, ErrLinkInvalid
	}
	return []Event{PasswordSet{Via: SetByLink, LinkID: linkID, ExpiresAt: now.Add(maxAge)}}, nil
}

// Why sessions and API tokens end when a password is set.
const (
	EndedByPasswordReset  = "password_reset"
	EndedByPasswordChange = "password_change"
)

// DecideEndOtherCredentials: a new password ends every other way into the
// account (ASVS 3.3.3), whoever may have learnt the old one: the user's
// API tokens still in force (on the user stream) and the open sessions
// (on the login stream), except the session or token the change was made
// with (keepSession, keepToken; uuid.Nil for none, as in a reset by link).
func DecideEndOtherCredentials(u User, openSessions []uuid.UUID, keepSession, keepToken uuid.UUID, now time.Time,
	reason string) (userEvents, loginEvents []Event) {
	var tokens []uuid.UUID
	for id, t := range u.Tokens {
		if !t.Revoked && now.Before(t.ExpiresAt) && id != keepToken {
			tokens = append(tokens, id)
		}
	}
	slices.SortFunc(tokens, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	for _, id := range tokens {
		userEvents = append(userEvents, APITokenRevoked{TokenID: id, Reason: reason})
	}
	for _, sid := range openSessions {
		if sid != keepSession {
			loginEvents = append(loginEvents, SessionRevoked{SessionID: sid, Reason: reason})
		}
	}
	return userEvents, loginEvents
}

// DecideChangePassword: the logged-in user changed their password.
func DecideChangePassword(u User, now time.Time, maxAge time.Duration) ([]Event, error) {
	if !u.Exists() || u.Status != Active {
		return nil, domain.ErrForbidden
	}
	return []Event{PasswordSet{Via: SetByChange, ExpiresAt: now.Add(maxAge)}}, nil
}

// DecideIssuePassword: support issued a password (a generic account's); it
// must be changed at first login.
func DecideIssuePassword(u User, now time.Time, maxAge time.Duration) ([]Event, error) {
	if !u.Exists() || u.Status != Active {
		return nil, domain.Rule("not_active", "the account is not active")
	}
	return []Event{PasswordSet{Via: SetBySupport, MustChange: true, ExpiresAt: now.Add(maxAge)}}, nil
}

// LoginPolicy is the lockout rule.
type LoginPolicy struct {
	MaxFailures int           // consecutive wrong passwords that lock (5)
	LockFor     time.Duration // how long (24h)
}

// LoginAttempt is one login to decide.
type LoginAttempt struct {
	PasswordOK     bool
	Now            time.Time
	SessionID      uuid.UUID
	RememberMe     bool
	SessionExpires time.Time
}

// DecideLogin decides a login: the events of the login stream, and whether
// a session starts. A locked account fails the same way whatever the
// password.
func DecideLogin(u User, l Login, a LoginAttempt, p LoginPolicy) ([]Event, bool) {
	failures := l.Failures
	if !l.LockedUntil.IsZero() && !l.Locked(a.Now) {
		failures = 0 // the lock ran out: count afresh
	}
	switch {
	case l.Locked(a.Now):
		return []Event{LoginFailed{Reason: FailLocked, Consecutive: failures}}, false
	case u.Status != Active:
		return []Event{LoginFailed{Reason: FailNotActive, Consecutive: failures}}, false
	case !u.HasPassword:
		return []Event{LoginFailed{Reason: FailNoPassword, Consecutive: failures}}, false
	case !a.PasswordOK:
		n := failures + 1
		evs := []Event{LoginFailed{Reason: FailWrongPassword, Consecutive: n}}
		if n >= p.MaxFailures {
			evs = append(evs, AccountLocked{Until: a.Now.Add(p.LockFor), Failures: n})
		}
		return evs, false
	}
	return []Event{LoginSucceeded{
		SessionID: a.SessionID, RememberMe: a.RememberMe, ExpiresAt: a.SessionExpires,
		DisclaimerRequired: u.Kind == Generic,
		MustChangePassword: u.MustChangePassword,
		PasswordExpired:    !a.Now.Before(u.PasswordExpiresAt),
	}}, true
}

// DecideCreateToken: the user creates a personal API token.
func DecideCreateToken(u User, tokenID uuid.UUID, name string, expiresAt time.Time) ([]Event, error) {
	if !u.Exists() || u.Status != Active {
		return nil, domain.ErrForbidden
	}
	name = domain.CleanText(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxTokenNameLength {
		return nil, domain.Invalid("name", "invalid_length", "Name the token in 1 to 100 characters")
	}
	active := 0
	for _, t := range u.Tokens {
		if !t.Revoked {
			active++
		}
	}
	if active >= 20 {
		return nil, domain.Rule("too_many_tokens", "revoke a token first: at most 20 can be active")
	}
	return []Event{APITokenCreated{TokenID: tokenID, Name: name, ExpiresAt: expiresAt}}, nil
}

// DecideRevokeToken revokes one of the user's tokens.
func DecideRevokeToken(u User, tokenID uuid.UUID) ([]Event, error) {
	t := u.Tokens[tokenID]
	if t == nil {
		return nil, domain.ErrNotFound
	}
	if t.Revoked {
		return nil, nil
	}
	return []Event{APITokenRevoked{TokenID: tokenID}}, nil
}

// ReminderDays are the days before expiry on which a reminder is sent.
func ReminderDays() []int { return []int{14, 7, 1} }

// DecideExpiryReminder: the reminder due at now, if any and not yet sent.
func DecideExpiryReminder(u User, now time.Time) []Event {
	if !u.Exists() || u.Status != Active || !u.HasPassword || !now.Before(u.PasswordExpiresAt) {
		return nil
	}
	left := u.PasswordExpiresAt.Sub(now)
	reminderDays := ReminderDays()
	// The smallest reminder whose window has been entered: 1 day left
	// sends the 1-day reminder, not the 7-day one that was missed.
	for i := len(reminderDays) - 1; i >= 0; i-- {
		d := reminderDays[i]
		if left <= time.Duration(d)*24*time.Hour {
			if u.RemindersDue[reminderKey(u.PasswordExpiresAt, d)] {
				return nil
			}
			return []Event{PasswordExpiryReminderDue{DaysBefore: d, ExpiresAt: u.PasswordExpiresAt}}
		}
	}
	return nil
}

// ImportManager is one row of the automatic registration.
type ImportManager struct {
	LocationID string
	FullName   string
	Email      string
	Phone      string
}

// ValidateImport checks a row. A missing or invalid phone number is not an
// error: CQC data often lacks one.
func ValidateImport(c ImportManager) (Email, string, string, error) {
	var v domain.ValidationError
	email, err := ParseEmail(c.Email)
	if err != nil {
		v.Merge("", err)
	}
	name := parseFullName(&v, "full_name", c.FullName)
	var pv domain.ValidationError
	phone := parsePhone(&pv, "phone", c.Phone)
	if pv.Err() != nil {
		phone = ""
	}
	if err := v.Err(); err != nil {
		return Email{}, "", "", err
	}
	return email, name, phone, nil
}

// DecideImportManager decides one imported registered manager against the
// email's owner. done is true when the import ran before: nothing to do.
func DecideImportManager(owner EmailOwner, existing User, l location.Location, email Email, name, phone string, userID, linkID uuid.UUID, now time.Time, linkTTL time.Duration) (evs []Event, done bool, err error) {
	if !l.Exists() {
		return nil, false, domain.Invalid("location_id", "unknown_location", "No location has this id")
	}
	if owner.UserID != uuid.Nil {
		if org, has := existing.Locations[l.LocationID]; has && org == l.OrganisationID && existing.Role == Approver {
			return nil, true, nil
		}
		return nil, false, &domain.ConflictError{Code: "username_taken", Message: "the email address belongs to another account"}
	}
	return []Event{
		RegisteredManagerImported{UserID: userID, Email: email.String(), FullName: name, Phone: phone, LocationID: l.LocationID, OrganisationID: l.OrganisationID},
		PasswordLinkIssued{LinkID: linkID, Purpose: LinkSetPassword, IssuedAt: now, ExpiresAt: now.Add(linkTTL)},
	}, false, nil
}

// CreateGeneric is support's creation of a shared account.
type CreateGeneric struct {
	Email          string
	DisplayName    string
	OrganisationID string
	LocationIDs    []string
}

// DecideCreateGeneric checks a generic account against the email's owner;
// the caller then issues its first password.
func DecideCreateGeneric(actor User, owner EmailOwner, c CreateGeneric, lookup func(string) (location.Location, bool), userID uuid.UUID) ([]Event, Email, error) {
	if !actor.IsSupport() {
		return nil, Email{}, domain.ErrForbidden
	}
	var v domain.ValidationError
	email, err := ParseEmail(c.Email)
	if err != nil {
		v.Merge("", err)
	}
	name := cleanField(&v, "display_name", "display name", c.DisplayName, 2, 100)
	grants, at := resolveLocations(&v, "location_ids", c.LocationIDs, lookup)
	for k, g := range grants {
		if g.OrganisationID != c.OrganisationID {
			v.Add("location_ids["+strconv.Itoa(at[k])+"]", "other_organisation", "This location belongs to another organisation")
		}
	}
	if err := v.Err(); err != nil {
		return nil, Email{}, err
	}
	if owner.UserID != uuid.Nil {
		return nil, Email{}, &domain.ConflictError{Code: "username_taken", Message: UsernameTaken}
	}
	return []Event{GenericAccountCreated{UserID: userID, Email: email.String(), DisplayName: name, OrganisationID: c.OrganisationID, Locations: grants}}, email, nil
}

// DecideCreateSupport creates a member of the support team (an operator's
// command), who gets a set-password link.
func DecideCreateSupport(owner EmailOwner, emailIn, fullName string, userID, linkID uuid.UUID, now time.Time, linkTTL time.Duration) ([]Event, Email, error) {
	var v domain.ValidationError
	email, err := ParseEmail(emailIn)
	if err != nil {
		v.Merge("", err)
	}
	name := parseFullName(&v, "full_name", fullName)
	if err := v.Err(); err != nil {
		return nil, Email{}, err
	}
	if owner.UserID != uuid.Nil {
		return nil, Email{}, &domain.ConflictError{Code: "username_taken", Message: UsernameTaken}
	}
	return []Event{
		SupportUserCreated{UserID: userID, Email: email.String(), FullName: name},
		PasswordLinkIssued{LinkID: linkID, Purpose: LinkSetPassword, IssuedAt: now, ExpiresAt: now.Add(linkTTL)},
	}, email, nil
}
