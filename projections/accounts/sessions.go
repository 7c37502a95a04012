package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Sessions is a user's list of sessions (when and from where they logged
// in, which sessions are still open), for the user and for support: table
// user_sessions, one row per login, ended by a logout, a revocation or the
// user's deactivation.
type Sessions struct{}

// SessionsTable is the read-model table of Sessions.
const SessionsTable = "user_sessions"

// Reasons a session ended.
const (
	SessionEndLogout      = "logout"
	SessionEndRevoked     = "revoked"
	SessionEndDeactivated = "deactivated"
)

func (Sessions) Name() string { return "user_sessions" }

func (Sessions) Tables() []string { return []string{SessionsTable} }

func (Sessions) Schema(d projections.Dialect, table func(string) string) []string {
	t := table(SessionsTable)
	return []string{
		fmt.Sprintf(`CREATE TABLE %[1]s (
    session_id                 TEXT    PRIMARY KEY,
    user_id                    TEXT    NOT NULL,
    started_at                 %[2]s   NOT NULL,
    expires_at                 %[2]s,
    remember_me                BOOLEAN NOT NULL,
    client_ip                  TEXT    NOT NULL,
    user_agent                 TEXT    NOT NULL,
    disclaimer_required        BOOLEAN NOT NULL,
    disclaimer_acknowledged_at %[2]s,
    ended_at                   %[2]s,
    end_reason                 TEXT    NOT NULL
)`, t, d.TimestampType()),
		fmt.Sprintf(`CREATE INDEX %s_user_id ON %s (user_id)`, t, t),
	}
}

// Apply applies the login-<id> events, and the deactivations of the
// user-<id> streams.
func (Sessions) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	cat := ev.Category()
	if cat != "user" && cat != "login" {
		return nil
	}
	e, err := account.Decode(ev.Type, ev.Data)
	if err != nil || e == nil {
		return err
	}
	t := table(SessionsTable)
	d := tx.Dialect()
	at := d.Time(ev.RecordedAt)
	userID := projections.StreamEntity(ev.StreamID)
	if cat == "user" {
		if _, ok := e.(account.UserDeactivated); !ok {
			return nil
		}
		// Every session still open ends; one that ran out ended then.
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET ended_at = ?, end_reason = ?
WHERE user_id = ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, t),
			at, SessionEndDeactivated, userID, at)
		if err != nil {
			return fmt.Errorf("sessions of %s: %w", userID, err)
		}
		return nil
	}
	switch e := e.(type) {
	case account.LoginSucceeded:
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (session_id, user_id, started_at, expires_at, remember_me,
    client_ip, user_agent, disclaimer_required, end_reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, '') ON CONFLICT (session_id) DO NOTHING`, t),
			e.SessionID.String(), userID, at, projections.NullTime(d, e.ExpiresAt), e.RememberMe,
			ev.Metadata.ClientIP, ev.Metadata.UserAgent, e.DisclaimerRequired)
	case account.LoggedOut:
		err = endSession(ctx, tx, t, e.SessionID.String(), SessionEndLogout, at)
	case account.SessionRevoked:
		err = endSession(ctx, tx, t, e.SessionID.String(), SessionEndRevoked, at)
	case account.DisclaimerAcknowledged:
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET disclaimer_acknowledged_at = ?
WHERE session_id = ? AND disclaimer_acknowledged_at IS NULL`, t), at, e.SessionID.String())
	}
	if err != nil {
		return fmt.Errorf("session of %s: %w", userID, err)
	}
	return nil
}

// endSession ends an open session; the first end is the one that counts.
func endSession(ctx context.Context, tx projections.Tx, t, sessionID, reason string, at any) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET ended_at = ?, end_reason = ?
WHERE session_id = ? AND ended_at IS NULL`, t), at, reason, sessionID)
	return err
}

// Session is one login of a user.
type Session struct {
	SessionID                string     `json:"session_id"`
	StartedAt                time.Time  `json:"started_at"`
	ExpiresAt                *time.Time `json:"expires_at,omitempty"`
	RememberMe               bool       `json:"remember_me"`
	ClientIP                 string     `json:"client_ip"`
	UserAgent                string     `json:"user_agent"`
	DisclaimerRequired       bool       `json:"disclaimer_required"`
	DisclaimerAcknowledgedAt *time.Time `json:"disclaimer_acknowledged_at,omitempty"`
	EndedAt                  *time.Time `json:"ended_at,omitempty"`
	EndReason                string     `json:"end_reason,omitempty"` // logout, revoked or deactivated
}

// UserSessions reads a user's sessions, the latest first (never nil).
func UserSessions(ctx context.Context, db projections.Querier, userID string) ([]Session, error) {
	rows, err := db.QueryContext(ctx, `SELECT session_id, started_at, expires_at, remember_me, client_ip, user_agent,
    disclaimer_required, disclaimer_acknowledged_at, ended_at, end_reason
FROM `+SessionsTable+` WHERE user_id = ? ORDER BY started_at DESC, session_id`, userID)
	return projections.Collect(rows, err, []Session{}, func(rows projections.Rows) (Session, error) {
		var s Session
		var started, expires, acknowledged, ended projections.Timestamp
		if err := rows.Scan(&s.SessionID, &started, &expires, &s.RememberMe, &s.ClientIP, &s.UserAgent,
			&s.DisclaimerRequired, &acknowledged, &ended, &s.EndReason); err != nil {
			return s, err
		}
		s.StartedAt, s.ExpiresAt = started.Time, projections.TimePtr(expires)
		s.DisclaimerAcknowledgedAt, s.EndedAt = projections.TimePtr(acknowledged), projections.TimePtr(ended)
		return s, nil
	})
}

// SessionsBefore reads up to limit of a user's sessions that started
// before (beforeStartedAt, beforeSessionID), all of them with a zero
// beforeStartedAt, the latest first: an account's activity, a page at a
// time. It reads SessionID, StartedAt (as stored), EndedAt, EndReason,
// ClientIP and UserAgent only.
func SessionsBefore(ctx context.Context, db projections.Querier, userID string, beforeStartedAt time.Time, beforeSessionID string, limit int) ([]Session, error) {
	var w projections.Where
	w.Add("user_id = ?", userID)
	if !beforeStartedAt.IsZero() {
		at := db.Dialect().Time(beforeStartedAt)
		w.Add("(started_at < ? OR (started_at = ? AND session_id < ?))", at, at, beforeSessionID)
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT session_id, started_at, ended_at, end_reason, client_ip, user_agent
FROM %s%s ORDER BY started_at DESC, session_id DESC LIMIT %d`, SessionsTable, w, limit), w.Args...)
	return projections.Collect(rows, err, []Session{}, func(rows projections.Rows) (Session, error) {
		var (
			s              Session
			started, ended projections.Timestamp
		)
		err := rows.Scan(&s.SessionID, &started, &ended, &s.EndReason, &s.ClientIP, &s.UserAgent)
		s.StartedAt, s.EndedAt = started.Time, projections.TimePtr(ended)
		return s, err
	})
}
