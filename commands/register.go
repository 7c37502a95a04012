package commands

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
)

// Registered is the outcome of a registration.
type Registered struct {
	UserID    uuid.UUID `json:"user_id"`
	RequestID uuid.UUID `json:"request_id"`
	Position  int64     `json:"position"`
}

// Register records a self-registration: the user (pending) and the access
// request, and claims the email address, all in one atomic append.
func (a *Service) Register(ctx context.Context, r Request, c account.Register) (Registered, error) {
	lookup, err := a.loadLocations(ctx, c.LocationIDs)
	if err != nil {
		return Registered{}, err
	}
	valid, err := account.ValidateRegistration(c, lookup)
	if err != nil {
		return Registered{}, err
	}
	userID, requestID := uuid.New(), uuid.New()
	var out Registered
	err = retry(ctx, func() error {
		owner, err := a.loadEmail(ctx, valid.Email)
		if err != nil {
			return err
		}
		evs, err := account.DecideRegister(owner, valid, userID, requestID)
		if err != nil {
			return err
		}
		reqs, err := newAccountStreams(anonymous(r, "RegisterUser", userID), valid.Email, owner, userID, evs)
		if err != nil {
			return err
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		out = Registered{UserID: userID, RequestID: requestID, Position: lastPosition(res)}
		return nil
	})
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		// Still racing after the retries: somebody else holds the address.
		return Registered{}, &domain.ConflictError{Code: "username_taken", Message: account.UsernameTaken}
	}
	return out, err
}

// newAccountStreams starts an account: the claim of its email address (read
// at owner's version) and the first events of its user stream, to append
// in one atomic step.
func newAccountStreams(meta eventstore.Metadata, email account.Email, owner account.EmailOwner, userID uuid.UUID, evs []account.Event) ([]eventstore.AppendRequest, error) {
	data, err := encodeAccount(meta, account.Subject(userID), evs)
	if err != nil {
		return nil, err
	}
	claim, err := encode(meta, "", account.EmailClaimed{UserID: userID})
	if err != nil {
		return nil, err
	}
	return []eventstore.AppendRequest{
		{StreamID: account.EmailStream(email), Expected: expect(owner.Version), Events: claim},
		{StreamID: account.UserStream(userID), Expected: eventstore.NoStream, Events: data},
	}, nil
}

// DecideAccess approves or rejects one organisation's part of an access
// request. Approving a pending registration activates the account and
// issues its set-password link; rejecting the last open part of one
// rejects the registration and frees the email address.
func (a *Service) DecideAccess(ctx context.Context, actor Actor, userID, requestID uuid.UUID, org string, approve bool, reason string) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	var out Result
	err := retry(ctx, func() error {
		u, err := a.LoadUser(ctx, userID)
		if err != nil {
			return err
		}
		evs, err := account.DecideAccess(u, actor.User, requestID, org, approve, reason, a.now(), uuid.New(), a.cfg.SetLinkTTL)
		if err != nil {
			return err
		}
		command := "ApproveAccess"
		if !approve {
			command = "RejectAccess"
		}
		meta := actor.metadata(command)
		data, err := encodeAccount(meta, account.Subject(userID), evs)
		if err != nil {
			return err
		}
		reqs := []eventstore.AppendRequest{{StreamID: account.UserStream(userID), Expected: eventstore.Exact(u.Version), Events: data}}
		for _, ev := range evs {
			if _, ok := ev.(account.RegistrationRejected); ok {
				email, err := account.ParseEmail(u.Email)
				if err != nil {
					break // erased: nothing to release
				}
				owner, err := a.loadEmail(ctx, email)
				if err != nil {
					return err
				}
				if owner.UserID == userID {
					rel, err := encode(meta, "", account.EmailReleased{UserID: userID})
					if err != nil {
						return err
					}
					reqs = append(reqs, eventstore.AppendRequest{StreamID: account.EmailStream(email), Expected: eventstore.Exact(owner.Version), Events: rel})
				}
			}
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		out = Result{Position: lastPosition(res)}
		return nil
	})
	return out, err
}

// RequestAccess is My Access: the logged-in user asks for more locations.
func (a *Service) RequestAccess(ctx context.Context, actor Actor, locationIDs []string, declaration bool) (Registered, error) {
	if err := actor.mayChange(); err != nil {
		return Registered{}, err
	}
	lookup, err := a.loadLocations(ctx, locationIDs)
	if err != nil {
		return Registered{}, err
	}
	requestID := uuid.New()
	var out Registered
	err = a.appendToUser(ctx, actor, actor.User.ID, "RequestAccess", func(u account.User) ([]account.Event, error) {
		return account.DecideRequestAccess(u, locationIDs, declaration, lookup, requestID)
	}, func(p int64) { out = Registered{UserID: actor.User.ID, RequestID: requestID, Position: p} })
	return out, err
}

// appendToUser is the common shape of a command on one user stream: load,
// decide, append at the version read, retry on a race. done gets the
// position of the last event (0 when nothing was decided).
func (a *Service) appendToUser(ctx context.Context, actor Actor, userID uuid.UUID, command string,
	decide func(u account.User) ([]account.Event, error), done func(position int64)) error {
	return a.changeUser(ctx, actor, userID, command, decide, nil, done)
}

// changeUser is appendToUser with secrets: when secrets is set, it writes
// the secret tables in the transaction that appends the decided events.
func (a *Service) changeUser(ctx context.Context, actor Actor, userID uuid.UUID, command string,
	decide func(u account.User) ([]account.Event, error),
	secrets func(tx eventstore.Tx, u account.User, evs []account.Event) error,
	done func(position int64)) error {
	return retry(ctx, func() error {
		u, err := a.LoadUser(ctx, userID)
		if err != nil {
			return err
		}
		evs, err := decide(u)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			done(0)
			return nil
		}
		data, err := encodeAccount(actor.metadata(command), account.Subject(userID), evs)
		if err != nil {
			return err
		}
		req := eventstore.AppendRequest{StreamID: account.UserStream(userID), Expected: eventstore.Exact(u.Version), Events: data}
		if secrets == nil {
			res, err := a.store.Append(ctx, req.StreamID, req.Expected, req.Events...)
			if err != nil {
				return err
			}
			done(res.LastPosition())
			return nil
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			if err := secrets(tx, u, evs); err != nil {
				return err
			}
			res, err := tx.Append(ctx, req)
			if err != nil {
				return err
			}
			done(lastPosition(res))
			return nil
		})
	})
}

// Deactivate makes a user a leaver: login refused, and every session and
// API token revoked in the same transaction. An Approver of only some of the
// user's organisations removes the access to those (see
// account.DecideDeactivate).
func (a *Service) Deactivate(ctx context.Context, actor Actor, userID uuid.UUID, reason string) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	var out Result
	err := a.changeUser(ctx, actor, userID, "DeactivateUser", func(u account.User) ([]account.Event, error) {
		return account.DecideDeactivate(u, actor.User, reason)
	}, func(tx eventstore.Tx, u account.User, evs []account.Event) error {
		if _, whole := evs[0].(account.UserDeactivated); !whole {
			return nil // access to some organisations removed: the account stays
		}
		return endEverySessionAndToken(ctx, tx, u.ID, a.now())
	}, func(p int64) { out.Position = p })
	return out, err
}

// Reactivate lets a deactivated user log in again.
func (a *Service) Reactivate(ctx context.Context, actor Actor, userID uuid.UUID) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	var out Result
	err := a.appendToUser(ctx, actor, userID, "ReactivateUser", func(u account.User) ([]account.Event, error) {
		return account.DecideReactivate(u, actor.User)
	}, func(p int64) { out.Position = p })
	return out, err
}

// ChangeRole moves a user between Standard and Approver.
func (a *Service) ChangeRole(ctx context.Context, actor Actor, userID uuid.UUID, to string) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	var out Result
	err := a.appendToUser(ctx, actor, userID, "ChangeUserType", func(u account.User) ([]account.Event, error) {
		return account.DecideChangeRole(u, actor.User, to)
	}, func(p int64) { out.Position = p })
	return out, err
}

// SetCommunications records the caller's communications preference.
func (a *Service) SetCommunications(ctx context.Context, actor Actor, optIn bool) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	var out Result
	err := a.appendToUser(ctx, actor, actor.User.ID, "SetCommunicationsPreference", func(u account.User) ([]account.Event, error) {
		return account.DecideCommunications(u, optIn)
	}, func(p int64) { out.Position = p })
	return out, err
}
