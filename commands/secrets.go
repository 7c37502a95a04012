package commands

// The secrets tables: account_passwords (password hashes), account_sessions
// and account_api_tokens (hashes of the tokens). They hold what never goes
// into an event, and are written in the transaction of the events that tell
// of each change (eventstore.Tx), so the two commit together. Every
// statement on them is one of the functions here; the commands name what
// they do, not the SQL.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

// newSession is a session row to insert at a successful sign-in.
type newSession struct {
	id, userID                 uuid.UUID
	tokenHash                  string
	now, expires               time.Time
	idle                       time.Duration
	disclaimer, passwordChange bool
}

// insertSession stores a new session, and drops the user's sessions that
// ran out: they are of no use to anyone.
func insertSession(ctx context.Context, tx eventstore.Tx, s newSession) error {
	if _, err := tx.Exec(ctx, `INSERT INTO account_sessions (session_id, token_hash, user_id, created_at, expires_at,
    idle_timeout_ms, last_seen_at, disclaimer_pending, password_change) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.id.String(), s.tokenHash, s.userID.String(), millis(s.now), millis(s.expires), s.idle.Milliseconds(), millis(s.now),
		boolInt(s.disclaimer), boolInt(s.passwordChange)); err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM account_sessions WHERE user_id = ? AND expires_at < ?`, s.userID.String(), millis(s.now)); err != nil {
		return fmt.Errorf("drop expired sessions: %w", err)
	}
	return nil
}

// sessionRow is a live (not revoked) session found by its token.
type sessionRow struct {
	id, userID                 string
	expires, idle, lastSeen    int64 // Unix milliseconds; idle a duration
	disclaimer, passwordChange bool
}

// findSession finds the session of a token's hash that was not revoked;
// ok is false when there is none.
func findSession(ctx context.Context, tx eventstore.Tx, hash string) (s sessionRow, ok bool, err error) {
	var disc, change int
	ok, err = scanOne(ctx, tx, []any{&s.id, &s.userID, &s.expires, &s.idle, &s.lastSeen, &disc, &change},
		`SELECT session_id, user_id, expires_at, idle_timeout_ms, last_seen_at, disclaimer_pending, password_change
FROM account_sessions WHERE token_hash = ? AND revoked_at IS NULL`, hash)
	s.disclaimer, s.passwordChange = disc == 1, change == 1
	return s, ok, err
}

// touchSession records that a session was seen now (its idle timeout).
func touchSession(ctx context.Context, tx eventstore.Tx, sessionID string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE account_sessions SET last_seen_at = ? WHERE session_id = ?`, millis(now), sessionID)
	return err
}

// revokeOpenSession ends one of the user's sessions that is still open
// (not revoked, not expired); n is 0 when there is none.
func revokeOpenSession(ctx context.Context, tx eventstore.Tx, sessionID, userID uuid.UUID, now time.Time) (n int64, err error) {
	return tx.Exec(ctx, `UPDATE account_sessions SET revoked_at = ? WHERE session_id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
		millis(now), sessionID.String(), userID.String(), millis(now))
}

// endSession revokes a session unless it was revoked already.
func endSession(ctx context.Context, tx eventstore.Tx, sessionID uuid.UUID, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE account_sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL`,
		millis(now), sessionID.String())
	return err
}

// clearDisclaimer records a generic account's disclaimer acknowledged for
// a session; n is 0 when it was not pending.
func clearDisclaimer(ctx context.Context, tx eventstore.Tx, sessionID uuid.UUID) (n int64, err error) {
	return tx.Exec(ctx, `UPDATE account_sessions SET disclaimer_pending = 0 WHERE session_id = ? AND disclaimer_pending = 1`, sessionID.String())
}

// clearPasswordChange lets the user's sessions that had to change the
// password go on: it was changed.
func clearPasswordChange(ctx context.Context, tx eventstore.Tx, userID uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE account_sessions SET password_change = 0 WHERE user_id = ?`, userID.String())
	return err
}

// endEverySessionAndToken revokes all the user's sessions and API tokens
// (a deactivated account).
func endEverySessionAndToken(ctx context.Context, tx eventstore.Tx, userID uuid.UUID, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE account_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		millis(now), userID.String()); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE account_api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		millis(now), userID.String())
	return err
}

// insertAPIToken stores a new API token's hash.
func insertAPIToken(ctx context.Context, tx eventstore.Tx, tokenID uuid.UUID, hash string, userID uuid.UUID, name string,
	now, expires time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO account_api_tokens (token_id, token_hash, user_id, name, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?)`, tokenID.String(), hash, userID.String(), name, millis(now), millis(expires))
	return err
}

// findAPIToken finds the live (not revoked, not expired) API token of a
// token's hash; ok is false when there is none.
func findAPIToken(ctx context.Context, tx eventstore.Tx, hash string, now time.Time) (id, userID string, lastUsed *int64, ok bool, err error) {
	ok, err = scanOne(ctx, tx, []any{&id, &userID, &lastUsed}, `SELECT token_id, user_id, last_used_at FROM account_api_tokens
WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?`, hash, millis(now))
	return id, userID, lastUsed, ok, err
}

// touchAPIToken records that a token was used now.
func touchAPIToken(ctx context.Context, tx eventstore.Tx, tokenID string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE account_api_tokens SET last_used_at = ? WHERE token_id = ?`, millis(now), tokenID)
	return err
}

// revokeAPIToken revokes one of the user's tokens.
func revokeAPIToken(ctx context.Context, tx eventstore.Tx, tokenID, userID uuid.UUID, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE account_api_tokens SET revoked_at = ? WHERE token_id = ? AND user_id = ?`,
		millis(now), tokenID.String(), userID.String())
	return err
}

// endAPIToken revokes a token unless it was revoked already.
func endAPIToken(ctx context.Context, tx eventstore.Tx, tokenID uuid.UUID, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE account_api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL`,
		millis(now), tokenID.String())
	return err
}

// storePasswordHash stores the user's new password hash and keeps only the
// last keep of them (the password history).
func storePasswordHash(ctx context.Context, tx eventstore.Tx, userID uuid.UUID, hash string, now time.Time, keep int) error {
	var seq int64
	if _, err := scanOne(ctx, tx, []any{&seq}, `SELECT COALESCE(MAX(seq), 0) FROM account_passwords WHERE user_id = ?`, userID.String()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO account_passwords (user_id, seq, hash, set_at) VALUES (?, ?, ?, ?)`,
		userID.String(), seq+1, hash, millis(now)); err != nil {
		return fmt.Errorf("store password hash: %w", err)
	}
	_, err := tx.Exec(ctx, `DELETE FROM account_passwords WHERE user_id = ? AND seq <= ?`, userID.String(), seq+1-int64(keep))
	return err
}

func currentHashTx(ctx context.Context, tx eventstore.Tx, userID uuid.UUID) (string, error) {
	hashes, err := recentHashes(ctx, tx, userID, 1)
	if err != nil || len(hashes) == 0 {
		return "", err
	}
	return hashes[0], nil
}

// recentHashes are the user's last n password hashes, newest first.
func recentHashes(ctx context.Context, tx eventstore.Tx, userID uuid.UUID, n int) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT hash FROM account_passwords WHERE user_id = ? ORDER BY seq DESC LIMIT ?`, userID.String(), n)
	if err != nil {
		return nil, fmt.Errorf("read password hashes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// scanOne scans the first row of a query into dest; ok is false when there
// is none.
func scanOne(ctx context.Context, tx eventstore.Tx, dest []any, query string, args ...any) (ok bool, err error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	if !rows.Next() {
		return false, rows.Err()
	}
	return true, rows.Scan(dest...)
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
