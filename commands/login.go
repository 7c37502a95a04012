package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
)

// Token prefixes: a session cookie's token and a personal API token.
const (
	SessionTokenPrefix = "cts_"
	APITokenPrefix     = "ctk_"
)

// LoginResult is a started session. Token is the session's secret: it goes
// into the cookie and nowhere else.
type LoginResult struct {
	Token                  string
	SessionID              uuid.UUID
	UserID                 uuid.UUID
	ExpiresAt              time.Time
	IdleTimeout            time.Duration // 0: none
	DisclaimerRequired     bool
	MustChangePassword     bool
	PasswordExpired        bool
	PasswordChangeRequired bool
	Position               int64
}

// Login checks an email and password. Every failure is
// domain.ErrUnauthenticated, whatever its cause (no such account, wrong
// password, locked, not active), and costs one password verification, so
// that neither the answer nor its timing tells whether the address is
// registered or the account locked.
func (a *Service) Login(ctx context.Context, r Request, emailIn, pw string, remember bool) (LoginResult, error) {
	email, err := account.ParseEmail(emailIn)
	if err != nil {
		a.burnVerify(ctx, pw)
		return LoginResult{}, domain.ErrUnauthenticated
	}
	owner, err := a.loadEmail(ctx, email)
	if err != nil {
		return LoginResult{}, err
	}
	if owner.UserID == uuid.Nil {
		a.burnVerify(ctx, pw)
		return LoginResult{}, domain.ErrUnauthenticated
	}
	userID := owner.UserID
	hash, err := a.currentHash(ctx, userID)
	if err != nil {
		return LoginResult{}, err
	}
	ok := false
	if hash == "" {
		a.burnVerify(ctx, pw)
	} else if ok, err = a.hashGate.verify(ctx, pw, hash); err != nil {
		return LoginResult{}, fmt.Errorf("verify password of %s: %w", userID, err)
	}

	var out LoginResult
	succeeded := false
	err = retry(ctx, func() error {
		u, err := a.LoadUser(ctx, userID)
		if err != nil {
			return err
		}
		l, err := a.loadLogin(ctx, userID)
		if err != nil {
			return err
		}
		now := a.now()
		sessionID := uuid.New()
		ttl, idle := a.cfg.SessionTTL, a.cfg.IdleTimeout
		if remember {
			ttl, idle = a.cfg.RememberTTL, 0
		}
		evs, started := account.DecideLogin(u, l, account.LoginAttempt{
			PasswordOK: ok, Now: now, SessionID: sessionID, RememberMe: remember, SessionExpires: now.Add(ttl),
		}, account.LoginPolicy{MaxFailures: a.cfg.MaxFailedLogins, LockFor: a.cfg.LockFor})
		meta := anonymous(r, "Login", userID)
		if u.Kind == account.Generic {
			meta.ActorAccountKind = eventstore.AccountGeneric
		}
		if started {
			meta.SessionID = sessionID.String()
		}
		data, err := encodeAccount(meta, account.Subject(userID), evs)
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			if started {
				s := evs[0].(account.LoginSucceeded)
				token, th, err := randomToken(SessionTokenPrefix)
				if err != nil {
					return err
				}
				change := s.MustChangePassword || s.PasswordExpired
				if err := insertSession(ctx, tx, newSession{id: sessionID, tokenHash: th, userID: userID, now: now,
					expires: s.ExpiresAt, idle: idle, disclaimer: s.DisclaimerRequired, passwordChange: change}); err != nil {
					return err
				}
				out = LoginResult{Token: token, SessionID: sessionID, UserID: userID, ExpiresAt: s.ExpiresAt, IdleTimeout: idle,
					DisclaimerRequired: s.DisclaimerRequired, MustChangePassword: s.MustChangePassword,
					PasswordExpired: s.PasswordExpired, PasswordChangeRequired: change}
			}
			res, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: account.LoginStream(userID), Expected: expect(l.Version), Events: data})
			if err != nil {
				return err
			}
			out.Position = lastPosition(res)
			succeeded = started
			return nil
		})
	})
	if err != nil {
		return LoginResult{}, err
	}
	if !succeeded {
		return LoginResult{}, domain.ErrUnauthenticated
	}
	return out, nil
}

// burnVerify spends the time of one password verification (in its turn:
// hashgate.go). The caller answers the same whether or not it ran, so a
// context that ended while waiting needs no mention.
func (a *Service) burnVerify(ctx context.Context, pw string) {
	_, _ = a.hashGate.verify(ctx, pw, a.dummyHash)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// currentHash is the user's current password hash, "" when none is set.
func (a *Service) currentHash(ctx context.Context, userID uuid.UUID) (string, error) {
	var hash string
	err := a.store.InTx(ctx, func(tx eventstore.Tx) error {
		var err error
		hash, err = currentHashTx(ctx, tx, userID)
		return err
	})
	return hash, err
}

// Authenticate turns a session or API token into the actor it stands for,
// with the user's current state. It fails with domain.ErrUnauthenticated
// for an unknown, revoked, expired or idle token and for a user who is no
// longer active.
func (a *Service) Authenticate(ctx context.Context, token string, r Request) (Actor, error) {
	if len(token) > 200 {
		return Actor{}, domain.ErrUnauthenticated
	}
	now := a.now()
	var (
		userID                   uuid.UUID
		sessionID                string
		disclaimer, mustChangePw bool
		found                    bool
	)
	err := a.store.InTx(ctx, func(tx eventstore.Tx) error {
		switch {
		case strings.HasPrefix(token, APITokenPrefix):
			id, uid, lastUsed, ok, err := findAPIToken(ctx, tx, tokenHash(token), now)
			if err != nil || !ok {
				return err
			}
			if lastUsed == nil || millis(now)-*lastUsed > time.Minute.Milliseconds() {
				if err := touchAPIToken(ctx, tx, id, now); err != nil {
					return err
				}
			}
			found, sessionID = true, "token:"+id
			userID, err = uuid.Parse(uid)
			return err
		case strings.HasPrefix(token, SessionTokenPrefix):
			s, ok, err := findSession(ctx, tx, tokenHash(token))
			if err != nil || !ok {
				return err
			}
			nowMs := millis(now)
			if nowMs >= s.expires || (s.idle > 0 && nowMs-s.lastSeen > s.idle) {
				return nil
			}
			// Seen-at is bookkeeping for the idle timeout, not a change
			// of anyone's state: no event, and written at most every
			// 30 seconds.
			if nowMs-s.lastSeen > 30_000 {
				if err := touchSession(ctx, tx, s.id, now); err != nil {
					return err
				}
			}
			found, sessionID, disclaimer, mustChangePw = true, s.id, s.disclaimer, s.passwordChange
			userID, err = uuid.Parse(s.userID)
			return err
		}
		return nil
	})
	if err != nil {
		return Actor{}, fmt.Errorf("authenticate: %w", err)
	}
	if !found {
		return Actor{}, domain.ErrUnauthenticated
	}
	u, err := a.LoadUser(ctx, userID)
	if err != nil {
		return Actor{}, err
	}
	if !u.Exists() || u.Status != account.Active {
		return Actor{}, domain.ErrUnauthenticated
	}
	// An expired or first-issued password holds up API tokens as well as
	// sessions: their owner must change it before anything else changes.
	if u.MustChangePassword || (u.HasPassword && !now.Before(u.PasswordExpiresAt)) {
		mustChangePw = true
	}
	return Actor{User: u, SessionID: sessionID, Request: r, DisclaimerPending: disclaimer, PasswordChangeRequired: mustChangePw}, nil
}

// Logout ends the caller's session.
func (a *Service) Logout(ctx context.Context, actor Actor) (Result, error) {
	sid, err := actor.session()
	if err != nil {
		return Result{}, err
	}
	return a.endSession(ctx, actor, actor.User.ID, sid, account.LoggedOut{SessionID: sid}, "Logout")
}

// RevokeSession ends one session of a user: the user's own (from another
// session) or, for support, anyone's.
func (a *Service) RevokeSession(ctx context.Context, actor Actor, userID, sessionID uuid.UUID) (Result, error) {
	if err := actor.mayChange(); err != nil {
		return Result{}, err
	}
	reason := "user"
	if actor.User.ID != userID {
		if !actor.User.IsSupport() {
			return Result{}, domain.ErrNotFound
		}
		reason = "support"
	}
	return a.endSession(ctx, actor, userID, sessionID, account.SessionRevoked{SessionID: sessionID, Reason: reason}, "RevokeSession")
}

func (a *Service) endSession(ctx context.Context, actor Actor, userID, sessionID uuid.UUID, ev account.Event, command string) (Result, error) {
	var out Result
	err := retry(ctx, func() error {
		l, err := a.loadLogin(ctx, userID)
		if err != nil {
			return err
		}
		data, err := encodeAccount(actor.metadata(command), "", []account.Event{ev})
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			n, err := revokeOpenSession(ctx, tx, sessionID, userID, a.now())
			if err != nil {
				return err
			}
			if n == 0 {
				return domain.ErrNotFound
			}
			res, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: account.LoginStream(userID), Expected: expect(l.Version), Events: data})
			if err != nil {
				return err
			}
			out.Position = lastPosition(res)
			return nil
		})
	})
	return out, err
}

// AcknowledgeDisclaimer records that a generic account's login read the
// disclaimer: the session may now change things.
func (a *Service) AcknowledgeDisclaimer(ctx context.Context, actor Actor) (Result, error) {
	sid, err := actor.session()
	if err != nil {
		return Result{}, err
	}
	if !actor.DisclaimerPending {
		return Result{}, nil
	}
	var out Result
	err = retry(ctx, func() error {
		l, err := a.loadLogin(ctx, actor.User.ID)
		if err != nil {
			return err
		}
		data, err := encodeAccount(actor.metadata("AcknowledgeDisclaimer"), "", []account.Event{account.DisclaimerAcknowledged{SessionID: sid}})
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			n, err := clearDisclaimer(ctx, tx, sid)
			if err != nil || n == 0 {
				return err
			}
			res, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: account.LoginStream(actor.User.ID), Expected: expect(l.Version), Events: data})
			if err != nil {
				return err
			}
			out.Position = lastPosition(res)
			return nil
		})
	})
	return out, err
}

// Disclaimer is shown at every login of a generic account.
const Disclaimer = "This is a generic account, shared by several people. Auditing of the activity of this account " +
	"cannot determine which person logged in under it: in the event of any queries about historical data changes " +
	"made through it, audits will be limited. By continuing you confirm that you are authorised by your organisation " +
	"to use this account and that you will keep its login details within your organisation."
