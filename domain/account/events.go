package account

import (
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/google/uuid"
)

// Event is an event of the account streams. Its type name is stable: a
// change of shape gets a new name.
type Event = domain.Event

// PersonalData is implemented by events that carry personal data: the
// JSON paths to seal under the user's key.
type PersonalData interface {
	PersonalPaths() []string
}

// LocationGrant is a location and the organisation it belongs to.
type LocationGrant struct {
	LocationID     string `json:"location_id"`
	OrganisationID string `json:"organisation_id"`
}

// --- user-<id> ------------------------------------------------------------

// UserRegistered: a person asked for an account (status pending).
type UserRegistered struct {
	UserID              uuid.UUID `json:"user_id"`
	Email               string    `json:"email"`
	FullName            string    `json:"full_name"`
	Phone               string    `json:"phone"`
	JobTitle            string    `json:"job_title"`
	Role                Role      `json:"role"` // the user type asked for
	OrganisationType    string    `json:"organisation_type"`
	TermsAccepted       bool      `json:"terms_accepted"`
	CommunicationsOptIn bool      `json:"communications_opt_in"`
}

// RegisteredManagerImported: the automatic registration made a location's
// registered manager an active Approver of it.
type RegisteredManagerImported struct {
	UserID         uuid.UUID `json:"user_id"`
	Email          string    `json:"email"`
	FullName       string    `json:"full_name"`
	Phone          string    `json:"phone"`
	LocationID     string    `json:"location_id"`
	OrganisationID string    `json:"organisation_id"`
}

// SupportUserCreated: a member of the central support team got an account.
type SupportUserCreated struct {
	UserID   uuid.UUID `json:"user_id"`
	Email    string    `json:"email"`
	FullName string    `json:"full_name"`
}

// GenericAccountCreated: support created a shared account for an
// organisation's locations.
type GenericAccountCreated struct {
	UserID         uuid.UUID       `json:"user_id"`
	Email          string          `json:"email"`
	DisplayName    string          `json:"display_name"`
	OrganisationID string          `json:"organisation_id"`
	Locations      []LocationGrant `json:"locations"`
}

// AccessRequested: the user asked for access to locations, at registration
// or later through My Access. Each organisation's part is decided on its
// own.
type AccessRequested struct {
	RequestID           uuid.UUID       `json:"request_id"`
	Locations           []LocationGrant `json:"locations"`
	Via                 string          `json:"via"` // "registration" or "my_access"
	DeclarationAccepted bool            `json:"declaration_accepted"`
}

// AccessApproved: an Approver of the organisation (or support) approved the
// organisation's part of a request.
type AccessApproved struct {
	RequestID      uuid.UUID `json:"request_id"`
	OrganisationID string    `json:"organisation_id"`
	LocationIDs    []string  `json:"location_ids"`
	Reason         string    `json:"reason,omitempty"`
}

// AccessRejected: the organisation's part of a request was rejected.
type AccessRejected struct {
	RequestID      uuid.UUID `json:"request_id"`
	OrganisationID string    `json:"organisation_id"`
	LocationIDs    []string  `json:"location_ids"`
	Reason         string    `json:"reason,omitempty"`
}

// AccessRevoked: an Approver of an organisation removed the user's access
// to its locations (the user left that organisation but still works for
// another one, whose access stays).
type AccessRevoked struct {
	OrganisationID string   `json:"organisation_id"`
	LocationIDs    []string `json:"location_ids"`
	Reason         string   `json:"reason,omitempty"`
}

// UserApproved: a pending registration got its first approval; the account
// is active (it still needs a password).
type UserApproved struct{}

// RegistrationRejected: every part of a pending registration was rejected;
// the email address is free again.
type RegistrationRejected struct{}

// UserDeactivated: a leaver. Login is refused and every session and API
// token was revoked with this event.
type UserDeactivated struct {
	Reason string `json:"reason,omitempty"`
}

// UserReactivated: a deactivated user may log in again.
type UserReactivated struct{}

// RoleChanged: a user moved between Standard and Approver.
type RoleChanged struct {
	From Role `json:"from"`
	To   Role `json:"to"`
}

// CommunicationsPreferenceChanged: the user opted in or out of emails.
type CommunicationsPreferenceChanged struct {
	OptIn bool `json:"opt_in"`
}

// Purposes of a password link.
const (
	LinkSetPassword   = "set_password"
	LinkResetPassword = "reset_password"
)

// PasswordLinkIssued: a single-use link to set (after approval) or reset
// (forgotten password) the password was issued and is to be emailed. The
// link's secret is derived from LinkID with a server key; it is in no event.
type PasswordLinkIssued struct {
	LinkID    uuid.UUID `json:"link_id"`
	Purpose   string    `json:"purpose"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Ways a password gets set.
const (
	SetByLink    = "link"    // the user chose it through a set-password or reset link
	SetByChange  = "change"  // the logged-in user changed it
	SetBySupport = "support" // support issued it: it must be changed at first login
)

// PasswordSet: the account's password was set (the hash is kept apart from
// the events). A password issued by support must be changed at first login.
type PasswordSet struct {
	Via        string    `json:"via"`
	LinkID     uuid.UUID `json:"link_id,omitempty"`
	MustChange bool      `json:"must_change"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// PasswordExpiryReminderDue: the password expires in DaysBefore days and the
// user is to be reminded (once per password and reminder).
type PasswordExpiryReminderDue struct {
	DaysBefore int       `json:"days_before"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// APITokenCreated: the user created a personal API token (its hash is kept
// apart from the events).
type APITokenCreated struct {
	TokenID   uuid.UUID `json:"token_id"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
}

// APITokenRevoked: a token stops working. Reason is empty when its user
// revoked it, else why it ended (EndedByPasswordChange,
// EndedByPasswordReset).
type APITokenRevoked struct {
	TokenID uuid.UUID `json:"token_id"`
	Reason  string    `json:"reason,omitempty"`
}

// AuditorRoleGranted: support made the user an auditor, who may replay
// every stream as support does (time travel) and gains no other power.
type AuditorRoleGranted struct{}

// AuditorRoleRevoked: support took the auditor role back.
type AuditorRoleRevoked struct{}

// --- login-<id> -----------------------------------------------------------

// LoginSucceeded: a session started.
type LoginSucceeded struct {
	SessionID          uuid.UUID `json:"session_id"`
	RememberMe         bool      `json:"remember_me"`
	ExpiresAt          time.Time `json:"expires_at"`
	DisclaimerRequired bool      `json:"disclaimer_required"`
	MustChangePassword bool      `json:"must_change_password"`
	PasswordExpired    bool      `json:"password_expired"`
}

// Reasons of a failed login.
const (
	FailWrongPassword = "wrong_password"
	FailLocked        = "locked"
	FailNotActive     = "not_active"
	FailNoPassword    = "no_password"
)

// LoginFailed: a login was refused. Consecutive counts the wrong passwords
// in a row, this one included.
type LoginFailed struct {
	Reason      string `json:"reason"`
	Consecutive int    `json:"consecutive"`
}

// AccountLocked: too many wrong passwords in a row.
type AccountLocked struct {
	Until    time.Time `json:"until"`
	Failures int       `json:"failures"`
}

// AccountUnlocked: the lock was lifted before it ran out, by a password
// reset.
type AccountUnlocked struct {
	Reason string `json:"reason"`
}

// LoggedOut: the user ended a session.
type LoggedOut struct {
	SessionID uuid.UUID `json:"session_id"`
}

// SessionRevoked: a session was ended by its user from another session, or
// by support.
type SessionRevoked struct {
	SessionID uuid.UUID `json:"session_id"`
	Reason    string    `json:"reason"`
}

// DisclaimerAcknowledged: a generic account's login acknowledged the
// disclaimer; the session may now change things.
type DisclaimerAcknowledged struct {
	SessionID uuid.UUID `json:"session_id"`
}

// --- useremail-<hash> -----------------------------------------------------

// EmailClaimed: the address belongs to UserID.
type EmailClaimed struct {
	UserID uuid.UUID `json:"user_id"`
}

// EmailReleased: the address is free again (the registration was rejected).
type EmailReleased struct {
	UserID uuid.UUID `json:"user_id"`
}

func (UserRegistered) EventType() string                  { return "UserRegistered" }
func (RegisteredManagerImported) EventType() string       { return "RegisteredManagerImported" }
func (SupportUserCreated) EventType() string              { return "SupportUserCreated" }
func (GenericAccountCreated) EventType() string           { return "GenericAccountCreated" }
func (AccessRequested) EventType() string                 { return "AccessRequested" }
func (AccessApproved) EventType() string                  { return "AccessApproved" }
func (AccessRejected) EventType() string                  { return "AccessRejected" }
func (AccessRevoked) EventType() string                   { return "AccessRevoked" }
func (UserApproved) EventType() string                    { return "UserApproved" }
func (RegistrationRejected) EventType() string            { return "RegistrationRejected" }
func (UserDeactivated) EventType() string                 { return "UserDeactivated" }
func (UserReactivated) EventType() string                 { return "UserReactivated" }
func (RoleChanged) EventType() string                     { return "RoleChanged" }
func (CommunicationsPreferenceChanged) EventType() string { return "CommunicationsPreferenceChanged" }
func (PasswordLinkIssued) EventType() string              { return "PasswordLinkIssued" }
func (PasswordSet) EventType() string                     { return "PasswordSet" }
func (PasswordExpiryReminderDue) EventType() string       { return "PasswordExpiryReminderDue" }
func (APITokenCreated) EventType() string                 { return "APITokenCreated" }
func (APITokenRevoked) EventType() string                 { return "APITokenRevoked" }
func (AuditorRoleGranted) EventType() string              { return "AuditorRoleGranted" }
func (AuditorRoleRevoked) EventType() string              { return "AuditorRoleRevoked" }
func (LoginSucceeded) EventType() string                  { return "LoginSucceeded" }
func (LoginFailed) EventType() string                     { return "LoginFailed" }
func (AccountLocked) EventType() string                   { return "AccountLocked" }
func (AccountUnlocked) EventType() string                 { return "AccountUnlocked" }
func (LoggedOut) EventType() string                       { return "LoggedOut" }
func (SessionRevoked) EventType() string                  { return "SessionRevoked" }
func (DisclaimerAcknowledged) EventType() string          { return "DisclaimerAcknowledged" }
func (EmailClaimed) EventType() string                    { return "EmailClaimed" }
func (EmailReleased) EventType() string                   { return "EmailReleased" }

func (UserRegistered) PersonalPaths() []string {
	return []string{"email", "full_name", "phone", "job_title"}
}
func (RegisteredManagerImported) PersonalPaths() []string {
	return []string{"email", "full_name", "phone"}
}
func (SupportUserCreated) PersonalPaths() []string    { return []string{"email", "full_name"} }
func (GenericAccountCreated) PersonalPaths() []string { return []string{"email"} }

// events is the registry of the account streams' events.
var events = domain.NewRegistry(
	domain.EventOf[UserRegistered](),
	domain.EventOf[RegisteredManagerImported](),
	domain.EventOf[SupportUserCreated](),
	domain.EventOf[GenericAccountCreated](),
	domain.EventOf[AccessRequested](),
	domain.EventOf[AccessApproved](),
	domain.EventOf[AccessRejected](),
	domain.EventOf[AccessRevoked](),
	domain.EventOf[UserApproved](),
	domain.EventOf[RegistrationRejected](),
	domain.EventOf[UserDeactivated](),
	domain.EventOf[UserReactivated](),
	domain.EventOf[RoleChanged](),
	domain.EventOf[CommunicationsPreferenceChanged](),
	domain.EventOf[PasswordLinkIssued](),
	domain.EventOf[PasswordSet](),
	domain.EventOf[PasswordExpiryReminderDue](),
	domain.EventOf[APITokenCreated](),
	domain.EventOf[APITokenRevoked](),
	domain.EventOf[AuditorRoleGranted](),
	domain.EventOf[AuditorRoleRevoked](),
	domain.EventOf[LoginSucceeded](),
	domain.EventOf[LoginFailed](),
	domain.EventOf[AccountLocked](),
	domain.EventOf[AccountUnlocked](),
	domain.EventOf[LoggedOut](),
	domain.EventOf[SessionRevoked](),
	domain.EventOf[DisclaimerAcknowledged](),
	domain.EventOf[EmailClaimed](),
	domain.EventOf[EmailReleased](),
)

// Events is the package's event registry: its type names and decoders.
func Events() domain.Registry { return events }

// Decode reads an account event from its type name and JSON, by the rules
// of domain.Registry.Decode: unknown types return (nil, nil), as other
// aggregates' events, or newer ones, are skipped.
func Decode(eventType string, data []byte) (Event, error) {
	return events.Decode(eventType, data)
}
