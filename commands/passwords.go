package commands

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// PasswordRules are the rules a new password must meet, for forms.
func (a *Accounts) PasswordRules() []password.Rule { return a.cfg.Policy.Rules() }

// checkPassword applies the password policy; violations are field errors of
// field.
func (a *Accounts) checkPassword(ctx context.Context, u account.User, field, candidate string) error {
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
func (a *Accounts) storePassword(ctx context.Context, tx eventstore.Tx, userID uuid.UUID, hash string, now time.Time) error {
	var seq int64
	if _, err := scanOne(ctx, tx, []any{&seq}, `SELECT COALESCE(MAX(seq), 0) FROM account_passwords WHERE user_id = ?`, userID.String()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO account_passwords (user_id, seq, hash, set_at) VALUES (?, ?, ?, ?)`,
		userID.String(), seq+1, hash, millis(now)); err != nil {
		return fmt.Errorf("store password hash: %w", err)
	}
	keep := int64(max(a.cfg.Policy.HistorySize, 1))
	if _, err := tx.Exec(ctx, `DELETE FROM account_passwords WHERE user_id = ? AND seq <= ?`, userID.String(), seq+1-keep); err != nil {
		return err
	}
	return nil
}

// ChangePassword: the logged-in user replaces their password (the only
// thing a session that must change its password may do).
func (a *Accounts) ChangePassword(ctx context.Context, actor Actor, current, next string) (Result, error) {
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
	var out Result
	var now time.Time
	err = a.changeUser(ctx, actor, u.ID, "ChangePassword", func(u account.User) ([]account.Event, error) {
		now = a.now()
		return account.DecideChangePassword(u, now, a.cfg.PasswordMaxAge)
	}, func(tx eventstore.Tx, u account.User, _ []account.Event) error {
		if err := a.storePassword(ctx, tx, u.ID, newHash, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE account_sessions SET password_change = 0 WHERE user_id = ?`, u.ID.String())
		return err
	}, func(p int64) { out.Position = p })
	return out, err
}

// RequestPasswordReset issues a reset link when the address belongs to an
// active account, and does nothing otherwise: the caller answers the same
// either way.
func (a *Accounts) RequestPasswordReset(ctx context.Context, r Request, emailIn string) error {
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
func (a *Accounts) CheckPasswordLink(ctx context.Context, token string) error {
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
// link. It lifts a lockout and ends every open session of the user.
func (a *Accounts) SetPasswordWithLink(ctx context.Context, r Request, token, next string) (Result, error) {
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
		meta := anonymous(r, "SetPasswordWithLink", userID)
		data, err := encodeAccount(meta, account.Subject(userID), evs)
		if err != nil {
			return err
		}
		return a.store.InTx(ctx, func(tx eventstore.Tx) error {
			if err := a.storePassword(ctx, tx, userID, newHash, now); err != nil {
				return err
			}
			reqs := []eventstore.AppendRequest{{StreamID: account.UserStream(userID), Expected: eventstore.Exact(u.Version), Events: data}}
			var loginEvents []account.Event
			if l.Locked(now) || l.Failures > 0 {
				loginEvents = append(loginEvents, account.AccountUnlocked{Reason: "password_reset"})
			}
			open, err := openSessions(ctx, tx, userID, now)
			if err != nil {
				return err
			}
			for _, sid := range open {
				loginEvents = append(loginEvents, account.SessionRevoked{SessionID: sid, Reason: "password_reset"})
			}
			if _, err := tx.Exec(ctx, `UPDATE account_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, millis(now), userID.String()); err != nil {
				return err
			}
			if len(loginEvents) > 0 {
				ld, err := encodeAccount(meta, "", loginEvents)
				if err != nil {
					return err
				}
				reqs = append(reqs, eventstore.AppendRequest{StreamID: account.LoginStream(userID), Expected: expect(l.Version), Events: ld})
			}
			res, err := tx.Append(ctx, reqs...)
			if err != nil {
				return err
			}
			out.Position = lastPosition(res)
			return nil
		})
	})
	return out, err
}

func openSessions(ctx context.Context, tx eventstore.Tx, userID uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	rows, err := tx.Query(ctx, `SELECT session_id FROM account_sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY session_id`,
		userID.String(), millis(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// newIssuedPassword is a random first password: 26 characters of base32,
// 130 bits.
func newIssuedPassword() string { return rand.Text() }
