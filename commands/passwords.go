package commands

import (
	"context"
	"crypto/rand"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// PasswordRules are the rules a new password must meet, for forms.
func (a *Service) PasswordRules() []password.Rule { return a.cfg.Policy.Rules() }

// checkPassword applies the password policy; violations are field errors of
// field.
func (a *Service) checkPassword(ctx context.Context, u account.User, field, candidate string) error {
	var recent []string
	err := a.store.InTx(ctx, func(tx eventstore.Tx) error {
		var err error
		recent, err = recentHashes(ctx, tx, u.ID, a.cfg.Policy.HistorySize)
		return err
	})
	if err != nil {
		return err
	}
	violations, err := a.cfg.Policy.Check(candidate, []string{u.Email, u.FullName}, func(c string) (bool, error) {
		for _, h := range recent {
			ok, err := a.hashGate.verify(ctx, c, h)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if len(violations) == 0 {
		return nil
	}
	var v domain.ValidationError
	for _, x := range violations {
		v.Add(field, x.Code, x.Message)
	}
	return &v
}

// storePassword writes a new hash and keeps only the last HistorySize.
func (a *Service) storePassword(ctx context.Context, tx eventstore.Tx, userID uuid.UUID, hash string, now time.Time) error {
	return storePasswordHash(ctx, tx, userID, hash, now, max(a.cfg.Policy.HistorySize, 1))
}

// ChangePassword: the logged-in user replaces their password (the only
// thing a session that must change its password may do). It ends every
// other session and API token of the user; the one the change was made
// with goes on.
func (a *Service) ChangePassword(ctx context.Context, actor Actor, current, next string) (Result, error) {
	if actor.DisclaimerPending {
		return Result{}, ErrDisclaimerRequired
	}
	u := actor.User
	hash, err := a.currentHash(ctx, u.ID)
	if err != nil {
		return Result{}, err
	}
	ok := false
	if hash != "" {
		if ok, err = a.hashGate.verify(ctx, current, hash); err != nil {
			return Result{}, err
		}
	}
	if !ok {
		return Result{}, domain.Invalid("current_password", "incorrect", "Your current password is not right")
	}
	if err := a.checkPassword(ctx, u, "new_password", next); err != nil {
		return Result{}, err
	}
	newHash, err := a.hashGate.hash(ctx, next, a.cfg.Hash)
	if err != nil {
		return Result{}, err
	}
	keepSession, keepToken := actor.credential()
	var out Result
	err = retry(ctx, func() error {
		u, err := a.LoadUser(ctx, u.ID)
		if err != nil {
			return err
		}
		l, err := a.loadLogin(ctx, u.ID)
		if err != nil {
			return err
		}
		now := a.now()
		evs, err := account.DecideChangePassword(u, now, a.cfg.PasswordMaxAge)
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			out.Position, err = a.writePassword(ctx, tx, passwordWrite{
				meta: actor.metadata("ChangePassword"), user: u, login: l, set: evs, hash: newHash, now: now,
				reason: account.EndedByPasswordChange, keepSession: keepSession, keepToken: keepToken,
			})
			return err
		})
	})
	return out, err
}

// passwordWrite is a password being set: its PasswordSet event, decided on
// user at login's version, and what else ends or changes with it.
type passwordWrite struct {
	meta  eventstore.Metadata
	user  account.User
	login account.Login
	set   []account.Event
	hash  string
	now   time.Time
	// reason is why the other sessions and API tokens end; keepSession
	// and keepToken are the caller's, which stay (uuid.Nil: none).
	reason                 string
	keepSession, keepToken uuid.UUID
	// unlock lifts a lockout (a reset through a link).
	unlock bool
}

// writePassword appends the PasswordSet with the end of every other
// session and API token, then stores the hash and revokes them, in tx.
// The append goes first: its expected versions make a concurrent use of
// the same link (or a concurrent change) fail there with
// ErrWrongExpectedVersion, before anything else is written, so the
// caller's retry decides again and finds the link used. The hash's
// sequence number is then this transaction's alone (every password
// written appends to the user stream).
func (a *Service) writePassword(ctx context.Context, tx eventstore.Tx, p passwordWrite) (int64, error) {
	userID := p.user.ID
	open, err := openSessions(ctx, tx, userID, p.now)
	if err != nil {
		return 0, err
	}
	userEnded, loginEvents := account.DecideEndOtherCredentials(p.user, open, p.keepSession, p.keepToken, p.now, p.reason)
	if p.unlock && (p.login.Locked(p.now) || p.login.Failures > 0) {
		loginEvents = append([]account.Event{account.AccountUnlocked{Reason: p.reason}}, loginEvents...)
	}
	data, err := encodeAccount(p.meta, account.Subject(userID), append(slices.Clone(p.set), userEnded...))
	if err != nil {
		return 0, err
	}
	reqs := []eventstore.AppendRequest{{StreamID: account.UserStream(userID), Expected: eventstore.Exact(p.user.Version), Events: data}}
	if len(loginEvents) > 0 {
		ld, err := encodeAccount(p.meta, "", loginEvents)
		if err != nil {
			return 0, err
		}
		reqs = append(reqs, eventstore.AppendRequest{StreamID: account.LoginStream(userID), Expected: expect(p.login.Version), Events: ld})
	}
	res, err := tx.Append(ctx, reqs...)
	if err != nil {
		return 0, err
	}
	if err := a.storePassword(ctx, tx, userID, p.hash, p.now); err != nil {
		return 0, err
	}
	for _, e := range loginEvents {
		if r, ok := e.(account.SessionRevoked); ok {
			if err := endSession(ctx, tx, r.SessionID, p.now); err != nil {
				return 0, err
			}
		}
	}
	for _, e := range userEnded {
		if r, ok := e.(account.APITokenRevoked); ok {
			if err := endAPIToken(ctx, tx, r.TokenID, p.now); err != nil {
				return 0, err
			}
		}
	}
	// The new password is the change a session that had to change it
	// was waiting for.
	if err := clearPasswordChange(ctx, tx, userID); err != nil {
		return 0, err
	}
	return lastPosition(res), nil
}

// RequestPasswordReset issues a reset link when the address belongs to an
// active account, and does nothing otherwise: the caller answers the same
// either way.
func (a *Service) RequestPasswordReset(ctx context.Context, r Request, emailIn string) error {
	email, err := account.ParseEmail(emailIn)
	if err != nil {
		return nil
	}
	return retry(ctx, func() error {
		owner, err := a.loadEmail(ctx, email)
		if err != nil || owner.UserID == uuid.Nil {
			return err
		}
		u, err := a.LoadUser(ctx, owner.UserID)
		if err != nil {
			return err
		}
		evs := account.DecideResetLink(u, a.now(), uuid.New(), a.cfg.ResetLinkTTL)
		if len(evs) == 0 {
			return nil
		}
		data, err := encodeAccount(anonymous(r, "RequestPasswordReset", uuid.Nil), account.Subject(u.ID), evs)
		if err != nil {
			return err
		}
		_, err = a.store.Append(ctx, account.UserStream(u.ID), eventstore.Exact(u.Version), data...)
		return err
	})
}

// CheckPasswordLink tells whether a set-password or reset link can still
// be used (account.ErrLinkInvalid if not), so that the page it opens can
// say so before the person chooses a password. It changes nothing.
func (a *Service) CheckPasswordLink(ctx context.Context, token string) error {
	userID, linkID, ok := account.ParseLinkToken(a.linkKey, token)
	if !ok {
		return account.ErrLinkInvalid
	}
	u, err := a.LoadUser(ctx, userID)
	if err != nil {
		return err
	}
	_, err = account.DecideSetPasswordByLink(u, linkID, a.now(), a.cfg.PasswordMaxAge)
	return err
}

// SetPasswordWithLink sets a password through a set-password or reset
// link. It lifts a lockout and ends every open session and API token of
// the user. Of concurrent uses of one link exactly one sets the password;
// the others get ErrLinkInvalid, as a used link does.
func (a *Service) SetPasswordWithLink(ctx context.Context, r Request, token, next string) (Result, error) {
	userID, linkID, ok := account.ParseLinkToken(a.linkKey, token)
	if !ok {
		return Result{}, account.ErrLinkInvalid
	}
	u, err := a.LoadUser(ctx, userID)
	if err != nil {
		return Result{}, err
	}
	if _, err := account.DecideSetPasswordByLink(u, linkID, a.now(), a.cfg.PasswordMaxAge); err != nil {
		return Result{}, err
	}
	if err := a.checkPassword(ctx, u, "password", next); err != nil {
		return Result{}, err
	}
	newHash, err := a.hashGate.hash(ctx, next, a.cfg.Hash)
	if err != nil {
		return Result{}, err
	}
	var out Result
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
		evs, err := account.DecideSetPasswordByLink(u, linkID, now, a.cfg.PasswordMaxAge)
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			out.Position, err = a.writePassword(ctx, tx, passwordWrite{
				meta: anonymous(r, "SetPasswordWithLink", userID), user: u, login: l, set: evs, hash: newHash, now: now,
				reason: account.EndedByPasswordReset, unlock: true,
			})
			return err
		})
	})
	return out, err
}

// newIssuedPassword is a random first password: 26 characters of base32,
// 130 bits.
func newIssuedPassword() string { return rand.Text() }
