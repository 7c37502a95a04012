package commands

// Who a command is for: the caller (Actor) as authenticated, where the
// request came from, the gates every change passes (a generic account's
// disclaimer, a password that must change) and the metadata each event
// records of its actor.

import (
	"strings"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
)

// Request describes where a command came from: the fields of every event's
// metadata that do not depend on who acted.
type Request struct {
	CorrelationID string
	ClientIP      string
	UserAgent     string
}

// Actor is an authenticated caller: the user as loaded at the start of the
// request, and the login it acts through.
type Actor struct {
	User      account.User
	SessionID string // the login session, or "token:<id>" for an API token
	Request
	// DisclaimerPending: a generic account's session that has not
	// acknowledged the disclaimer may not change anything.
	DisclaimerPending bool
	// PasswordChangeRequired: the password expired or was issued by
	// support; the caller may read, but the only change it may make is
	// the password (ChangePassword; Logout ends the session).
	PasswordChangeRequired bool
}

// System is the actor of operator commands (capacityctl).
func System(command string) Actor {
	return Actor{User: account.User{ID: uuid.Nil, Version: 1, Status: account.Active, Role: account.Support}, SessionID: "system:" + command}
}

func (a Actor) isSystem() bool { return a.User.ID == uuid.Nil && a.User.Role == account.Support }

// Errors of the session gate.
var (
	ErrDisclaimerRequired     = &domain.RuleError{Code: "disclaimer_required", Message: "acknowledge the generic account disclaimer before making changes"}
	ErrPasswordChangeRequired = &domain.RuleError{Code: "password_change_required", Message: "change your password before doing anything else"}
)

// mayChange is the gate of every command that changes something.
func (a Actor) mayChange() error {
	switch {
	case a.DisclaimerPending:
		return ErrDisclaimerRequired
	case a.PasswordChangeRequired:
		return ErrPasswordChangeRequired
	}
	return nil
}

func (a Actor) metadata(command string) eventstore.Metadata {
	kind := eventstore.AccountPersonal
	switch {
	case a.isSystem():
		kind = eventstore.AccountSystem
	case a.User.Kind == account.Generic:
		kind = eventstore.AccountGeneric
	}
	actorID := ""
	if a.User.ID != uuid.Nil {
		actorID = a.User.ID.String()
	}
	return eventstore.Metadata{
		CorrelationID:    a.CorrelationID,
		ActorUserID:      actorID,
		ActorAccountKind: kind,
		SessionID:        a.SessionID,
		ClientIP:         a.ClientIP,
		UserAgent:        a.UserAgent,
		Command:          command,
	}
}

// anonymous is the metadata of a command without a login (registration,
// login, password reset).
func anonymous(r Request, command string, userID uuid.UUID) eventstore.Metadata {
	m := eventstore.Metadata{CorrelationID: r.CorrelationID, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
		Command: command, ActorAccountKind: eventstore.AccountPersonal}
	if userID != uuid.Nil {
		m.ActorUserID = userID.String()
	}
	return m
}

// mayEditLocation is the gate of every provider-details command: the
// caller may change things, and has access to the location or is support.
func (a Actor) mayEditLocation(locationID string) error {
	if err := a.mayChange(); err != nil {
		return err
	}
	if a.mayReadLocation(locationID) {
		return nil
	}
	return domain.ErrForbidden
}

// mayReadLocation: support, or an active user with access to the location.
func (a Actor) mayReadLocation(locationID string) bool {
	u := a.User
	if a.isSystem() || u.IsSupport() {
		return true
	}
	if !u.Exists() || u.Status != account.Active {
		return false
	}
	_, ok := u.Locations[locationID]
	return ok
}

// ErrNotASession is returned for session commands called with an API token.
var ErrNotASession = &domain.RuleError{Code: "not_a_session", Message: "this needs a login session, not an API token"}

func (a Actor) session() (uuid.UUID, error) {
	id, err := uuid.Parse(a.SessionID)
	if err != nil {
		return uuid.Nil, ErrNotASession
	}
	return id, nil
}

// credential is the session or API token the actor came with.
func (a Actor) credential() (session, token uuid.UUID) {
	if id, ok := strings.CutPrefix(a.SessionID, "token:"); ok {
		token, _ = uuid.Parse(id)
		return uuid.Nil, token
	}
	session, _ = uuid.Parse(a.SessionID)
	return session, uuid.Nil
}
