package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// RegisterOrganisation creates an organisation (support or an operator).
func (a *Service) RegisterOrganisation(ctx context.Context, actor Actor, c location.RegisterOrganisation) (Result, error) {
	return a.create(ctx, actor, "RegisterOrganisation", location.OrganisationStream(c.OrganisationID),
		&domain.ConflictError{Code: "organisation_exists", Message: "organisation " + c.OrganisationID + " exists already"},
		func() (any, error) {
			// An id that is none names no stream: the decision says so.
			var o location.Organisation
			if id, err := location.ParseID(c.OrganisationID); err == nil {
				if o, err = a.loadOrganisation(ctx, id); err != nil {
					return nil, err
				}
			}
			ev, err := location.DecideRegisterOrganisation(o, c)
			return orgEvent{ev}, err
		})
}

// RegisterLocation creates a location of an organisation (support or an
// operator; the CQC import builds on the same events).
func (a *Service) RegisterLocation(ctx context.Context, actor Actor, c location.RegisterLocation) (Result, error) {
	return a.create(ctx, actor, "RegisterLocation", location.LocationStream(c.LocationID),
		&domain.ConflictError{Code: "location_exists", Message: "location " + c.LocationID + " exists already"},
		func() (any, error) {
			// An id that is none names no stream: the decision says so.
			var (
				l location.Location
				o location.Organisation
			)
			if id, err := location.ParseID(c.LocationID); err == nil {
				if l, err = a.loadLocation(ctx, id); err != nil {
					return nil, err
				}
			}
			if id, err := location.ParseID(c.OrganisationID); err == nil {
				if o, err = a.loadOrganisation(ctx, id); err != nil {
					return nil, err
				}
			}
			ev, err := location.DecideRegisterLocation(l, o, c)
			return locEvent{ev}, err
		})
}

// create is a support command that starts a stream with the one event
// decide returns; a stream that exists already (a race lost) is exists.
func (a *Service) create(ctx context.Context, actor Actor, command, stream string, exists error, decide func() (any, error)) (Result, error) {
	if err := a.supportOnly(actor); err != nil {
		return Result{}, err
	}
	ev, err := decide()
	if err != nil {
		return Result{}, err
	}
	data, err := encode(actor.metadata(command), "", ev)
	if err != nil {
		return Result{}, err
	}
	res, err := a.store.Append(ctx, stream, eventstore.NoStream, data...)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return Result{}, exists
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Position: res.LastPosition()}, nil
}

type orgEvent struct {
	location.OrganisationRegistered
}

func (orgEvent) EventType() string { return location.TypeOrganisationRegistered }

type locEvent struct {
	location.LocationRegistered
}

func (locEvent) EventType() string { return location.TypeLocationRegistered }

func (a *Service) supportOnly(actor Actor) error {
	if err := actor.mayChange(); err != nil {
		return err
	}
	if !actor.isSystem() && !actor.User.IsSupport() {
		return domain.ErrForbidden
	}
	return nil
}

// GenericCreated is a new generic account and its first password, shown
// once to support, who passes it on; it must be changed at first login.
type GenericCreated struct {
	UserID          uuid.UUID `json:"user_id"`
	InitialPassword string    `json:"initial_password"`
	Position        int64     `json:"position"`
}

// CreateGenericAccount creates a shared account for an organisation.
func (a *Service) CreateGenericAccount(ctx context.Context, actor Actor, c account.CreateGeneric) (GenericCreated, error) {
	if err := a.supportOnly(actor); err != nil {
		return GenericCreated{}, err
	}
	lookup, err := a.loadLocations(ctx, c.LocationIDs)
	if err != nil {
		return GenericCreated{}, err
	}
	initial := newIssuedPassword()
	hash, err := a.hashGate.hash(ctx, initial, a.cfg.Hash)
	if err != nil {
		return GenericCreated{}, err
	}
	userID := uuid.New()
	supportUser := actor.User
	if actor.isSystem() {
		supportUser = account.User{Version: 1, Status: account.Active, Role: account.Support}
	}
	var out GenericCreated
	err = retry(ctx, func() error {
		email, perr := account.ParseEmail(c.Email)
		var owner account.EmailOwner
		if perr == nil {
			if owner, err = a.loadEmail(ctx, email); err != nil {
				return err
			}
		}
		evs, email, err := account.DecideCreateGeneric(supportUser, owner, c, lookup, userID)
		if err != nil {
			return err
		}
		now := a.now()
		evs = append(evs, account.PasswordSet{Via: account.SetBySupport, MustChange: true, ExpiresAt: now.Add(a.cfg.PasswordMaxAge)})
		reqs, err := newAccountStreams(actor.metadata("CreateGenericAccount"), email, owner, userID, evs)
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			if err := a.storePassword(ctx, tx, userID, hash, now); err != nil {
				return err
			}
			res, err := tx.Append(ctx, reqs...)
			if err != nil {
				return err
			}
			out = GenericCreated{UserID: userID, InitialPassword: initial, Position: lastPosition(res)}
			return nil
		})
	})
	return out, err
}

// CreateSupportUser gives a member of the central support team an account
// and emails a set-password link (an operator's command).
func (a *Service) CreateSupportUser(ctx context.Context, actor Actor, email, fullName string) (Registered, error) {
	if !actor.isSystem() {
		return Registered{}, domain.ErrForbidden
	}
	userID := uuid.New()
	var out Registered
	err := retry(ctx, func() error {
		e, perr := account.ParseEmail(email)
		var owner account.EmailOwner
		var err error
		if perr == nil {
			if owner, err = a.loadEmail(ctx, e); err != nil {
				return err
			}
		}
		evs, e, err := account.DecideCreateSupport(owner, email, fullName, userID, uuid.New(), a.now(), a.cfg.SetLinkTTL)
		if err != nil {
			return err
		}
		reqs, err := newAccountStreams(actor.metadata("CreateSupportUser"), e, owner, userID, evs)
		if err != nil {
			return err
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		out = Registered{UserID: userID, Position: lastPosition(res)}
		return nil
	})
	return out, err
}

// Import outcomes.
const (
	ImportRegistered = "registered"
	ImportUnchanged  = "unchanged"
)

// ImportManager registers a location's registered manager as an active
// Approver with a set-password link (automatic registration). A row
// imported before is "unchanged".
func (a *Service) ImportManager(ctx context.Context, actor Actor, row account.ImportManager) (string, Result, error) {
	if err := a.supportOnly(actor); err != nil {
		return "", Result{}, err
	}
	email, name, phone, err := account.ValidateImport(row)
	if err != nil {
		return "", Result{}, err
	}
	// A location id that is none names no location: the decision says so.
	locID, badID := location.ParseID(row.LocationID)
	userID := uuid.New()
	outcome, out := "", Result{}
	err = retry(ctx, func() error {
		var l location.Location
		if badID == nil {
			if l, err = a.loadLocation(ctx, locID); err != nil {
				return err
			}
		}
		owner, err := a.loadEmail(ctx, email)
		if err != nil {
			return err
		}
		var existing account.User
		if owner.UserID != uuid.Nil {
			if existing, err = a.LoadUser(ctx, owner.UserID); err != nil {
				return err
			}
		}
		evs, done, err := account.DecideImportManager(owner, existing, l, email, name, phone, userID, uuid.New(), a.now(), a.cfg.SetLinkTTL)
		if err != nil {
			return err
		}
		if done {
			outcome = ImportUnchanged
			return nil
		}
		reqs, err := newAccountStreams(actor.metadata("ImportRegisteredManager"), email, owner, userID, evs)
		if err != nil {
			return err
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		outcome, out = ImportRegistered, Result{Position: lastPosition(res)}
		return nil
	})
	return outcome, out, err
}

// TokenCreated is a new personal API token: Token is shown once.
type TokenCreated struct {
	TokenID   uuid.UUID `json:"token_id"`
	Token     string    `json:"token"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
	Position  int64     `json:"position"`
}

// CreateAPIToken creates a personal API token for machine clients. Only a
// personal account's login session may create one.
func (a *Service) CreateAPIToken(ctx context.Context, actor Actor, name string) (TokenCreated, error) {
	if err := actor.mayChange(); err != nil {
		return TokenCreated{}, err
	}
	if _, err := actor.session(); err != nil {
		return TokenCreated{}, err
	}
	if actor.User.Kind != account.Personal {
		return TokenCreated{}, domain.Rule("not_personal", "a generic account cannot have API tokens")
	}
	token, th, err := randomToken(APITokenPrefix)
	if err != nil {
		return TokenCreated{}, err
	}
	tokenID := uuid.New()
	var out TokenCreated
	err = a.changeUser(ctx, actor, actor.User.ID, "CreateAPIToken", func(u account.User) ([]account.Event, error) {
		return account.DecideCreateToken(u, tokenID, name, a.now().Add(a.cfg.APITokenTTL))
	}, func(tx eventstore.Tx, u account.User, evs []account.Event) error {
		created := evs[0].(account.APITokenCreated)
		out = TokenCreated{TokenID: tokenID, Token: token, Name: created.Name, ExpiresAt: created.ExpiresAt}
		return insertAPIToken(ctx, tx, tokenID, th, u.ID, created.Name, a.now(), created.ExpiresAt)
	}, func(p int64) { out.Position = p })
	return out, err
}

// RevokeAPIToken revokes one of the caller's tokens.
func (a *Service) RevokeAPIToken(ctx context.Context, actor Actor, tokenID uuid.UUID) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	var out Result
	err := a.changeUser(ctx, actor, actor.User.ID, "RevokeAPIToken", func(u account.User) ([]account.Event, error) {
		return account.DecideRevokeToken(u, tokenID)
	}, func(tx eventstore.Tx, u account.User, _ []account.Event) error {
		return revokeAPIToken(ctx, tx, tokenID, u.ID, a.now())
	}, func(p int64) { out.Position = p })
	return out, err
}

// RemindPasswordExpiry records the password-expiry reminder due now for a
// user, if any and not sent before for this password; the mail outbox
// sends it. It reports whether a reminder was recorded.
func (a *Service) RemindPasswordExpiry(ctx context.Context, actor Actor, userID uuid.UUID) (bool, error) {
	if !actor.isSystem() {
		return false, domain.ErrForbidden
	}
	sent := false
	err := a.appendToUser(ctx, actor, userID, "RemindPasswordExpiry", func(u account.User) ([]account.Event, error) {
		evs := account.DecideExpiryReminder(u, a.now())
		sent = len(evs) > 0
		return evs, nil
	}, func(int64) {})
	return sent, err
}
