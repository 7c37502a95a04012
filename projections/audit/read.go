package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/projections"
)

// The read side of the view: its readers take a checked Filter (queries
// checks the caller's filter and decides the Scope a viewer may read) and
// return typed rows.

// Actor is who made a change.
type Actor struct {
	UserID   string `json:"user_id"` // "" for the system or an anonymous caller
	Email    string `json:"email"`
	FullName string `json:"full_name"`
	// AccountKind is personal, generic or system ("" when unknown).
	AccountKind string `json:"account_kind"`
}

// Change is a field an event changed. Before and After are the JSON
// values, null when the field was absent.
type Change struct {
	Field  string          `json:"field"` // a dotted path: "address.postcode", "contacts[2].email"
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// Entry is an event of the audit view.
type Entry struct {
	Position      int64     `json:"position"`
	EventID       string    `json:"event_id"`
	StreamID      string    `json:"stream_id"`
	StreamVersion int64     `json:"stream_version"`
	EventType     string    `json:"event_type"`
	RecordedAt    time.Time `json:"recorded_at"` // UTC
	// RecordedAtLondon is the same instant on London's clock, RFC 3339
	// with its offset (+00:00 in winter, +01:00 in summer). The readers
	// leave it empty: the caller writes it.
	RecordedAtLondon string `json:"recorded_at_london"`
	EntityType       string `json:"entity_type"`
	EntityID         string `json:"entity_id"`
	LocationID       string `json:"location_id"`
	Actor            Actor  `json:"actor"`
	SessionID        string `json:"session_id"`
	ClientIP         string `json:"client_ip"`
	UserAgent        string `json:"user_agent"`
	Command          string `json:"command"`
	CorrelationID    string `json:"correlation_id"`
	BulkUploadID     string `json:"bulk_upload_id"`
	Summary          string `json:"summary"`
	// ChangeCount is the number of fields the event changed; Changes lists
	// them (in an account's activity, perhaps not all). The readers of
	// events leave Changes nil: Changes reads them.
	ChangeCount int      `json:"change_count"`
	Changes     []Change `json:"changes"`
}

// Scope is the part of the view a read covers: every event (All), or the
// events of the streams that the Approvers of Organisations may read
// (audit_entity_orgs).
type Scope struct {
	All           bool
	Organisations []string
}

// add adds the scope's condition on the events e to w.
func (s Scope) add(w *projections.Where) {
	if !s.All {
		w.Add(orgScope(len(s.Organisations)), projections.AnyList(s.Organisations)...)
	}
}

// orgScope is the condition of the events that the Approvers of n
// organisations may read.
func orgScope(n int) string {
	return fmt.Sprintf(`e.stream_id IN (SELECT stream_id FROM %s WHERE organisation_id IN (%s))`,
		EntityOrgsTable, projections.Marks(n))
}

// Filter selects events of the view, checked by the caller: every field
// but Scope is optional, and ids compare exactly.
type Filter struct {
	Scope Scope
	// EntityType is a stream category; EntityID (with EntityType) names
	// one entity: the stream EntityType-EntityID.
	EntityType, EntityID string
	// LocationID: the events of a location, its daily updates and its
	// survey answers.
	LocationID   string
	ActorUserID  string
	SessionID    string
	EventType    string
	BulkUploadID string
	// From and To bound the time the event was recorded: From <= t < To.
	// A zero time is no bound.
	From, To time.Time
	// Before and After bound the positions: below Before, above After
	// (0: no bound).
	Before, After int64
}

// where is the filter's conditions on audit_events e, but for its time
// range's positions (conditions) and After.
func (f Filter) where(d projections.Dialect) projections.Where {
	var w projections.Where
	f.Scope.add(&w)
	switch {
	case f.EntityID != "":
		w.Add("e.stream_id = ?", f.EntityType+"-"+f.EntityID)
	case f.EntityType != "":
		w.Add("e.entity_type = ?", f.EntityType)
	}
	for _, c := range []struct{ column, value string }{
		{"location_id", f.LocationID}, {"actor_user_id", f.ActorUserID}, {"session_id", f.SessionID},
		{"event_type", f.EventType}, {"bulk_upload_id", f.BulkUploadID},
	} {
		if c.value != "" {
			w.Add("e."+c.column+" = ?", c.value)
		}
	}
	// The time range is first a range of positions (conditions): the
	// recorded time is then a filter of the rows that range holds, never
	// the index to read, which SQLite's planner may otherwise choose for
	// a short range, reading all its rows to sort them ("+" keeps a term
	// out of SQLite's index choice).
	recordedAt := "e.recorded_at"
	if d == projections.SQLite {
		recordedAt = "+e.recorded_at"
	}
	if !f.From.IsZero() {
		w.Add(recordedAt+" >= ?", d.Time(storedBound(d, f.From)))
	}
	if !f.To.IsZero() {
		w.Add(recordedAt+" < ?", d.Time(storedBound(d, f.To)))
	}
	if f.Before > 0 {
		w.Add("e.position < ?", f.Before)
	}
	return w
}

// conditions are the conditions of the filter's events, with the range of
// positions recorded in the hours of its time range. Positions follow time
// but not exactly (concurrent appends): audit_hours holds the lowest and
// (except for the latest hour) highest position recorded in each hour, so the events of the range are
// between the lowest and highest of its hours, and a time range reads the
// index it needs over its own events rather than over every newer one.
// none reports a range in which nothing was recorded.
func (f Filter) conditions(ctx context.Context, db projections.Querier) (w projections.Where, none bool, err error) {
	d := db.Dialect()
	w = f.where(d)
	if f.From.IsZero() && f.To.IsZero() {
		return f.after(w), false, nil
	}
	var hours projections.Where
	if !f.From.IsZero() {
		hours.Add("hour >= ?", d.Time(f.From.Truncate(time.Hour)))
	}
	if !f.To.IsZero() {
		hours.Add("hour < ?", d.Time(f.To))
	}
	// The latest hour's max_position is not kept up to date (see
	// auditBatch.flushHours): a range that reaches it is open ended.
	rows, err := db.QueryContext(ctx, `SELECT count(*), COALESCE(min(min_position), 0), COALESCE(max(max_position), 0),
		COALESCE(max(CASE WHEN hour = (SELECT max(hour) FROM `+HoursTable+`) THEN 1 ELSE 0 END), 0) FROM `+
		HoursTable+hours.String(), hours.Args...)
	type span struct{ n, lo, hi, latest int64 }
	spans, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (span, error) {
		var s span
		err := rows.Scan(&s.n, &s.lo, &s.hi, &s.latest)
		return s, err
	})
	if err != nil || len(spans) == 0 || spans[0].n == 0 {
		return w, true, err
	}
	if spans[0].latest == 1 {
		w.Add("e.position >= ?", spans[0].lo)
	} else {
		w.Add("e.position >= ? AND e.position <= ?", spans[0].lo, spans[0].hi)
	}
	return f.after(w), false, nil
}

// after adds the filter's lower bound of positions to w.
func (f Filter) after(w projections.Where) projections.Where {
	if f.After > 0 {
		w.Add("e.position > ?", f.After)
	}
	return w
}

// storedBound is a bound of a range of recorded times as the database
// compares it: PostgreSQL keeps microseconds, so a bound between two is
// the next (t <= s and s < t, for any s it stores, as for t itself).
func storedBound(d projections.Dialect, t time.Time) time.Time {
	if d != projections.Postgres {
		return t
	}
	if c := t.Truncate(time.Microsecond); !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}

// Entries reads up to limit events of the filter in position order, the
// newest first if newestFirst: first their positions, from the indexes
// alone where the filter allows, then those events' rows. It has
// PostgreSQL plan the transaction's statements for their own values
// (CustomPlans).
func Entries(ctx context.Context, db projections.Querier, f Filter, newestFirst bool, limit int) ([]Entry, error) {
	if err := CustomPlans(ctx, db); err != nil {
		return nil, err
	}
	w, none, err := f.conditions(ctx, db)
	if err != nil || none {
		return nil, err
	}
	dir := "ASC"
	if newestFirst {
		dir = "DESC"
	}
	positions, err := queryPositions(ctx, db, fmt.Sprintf(`SELECT e.position FROM %s e%s ORDER BY e.position %s LIMIT %d`,
		EventsTable, w, dir, limit), w.Args...)
	if err != nil || len(positions) == 0 {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE e.position IN (%s) ORDER BY e.position %s`,
		entryColumns, entryFrom, projections.Marks(len(positions)), dir), anyPositions(positions)...)
	return projections.Collect(rows, err, nil, scanEntry)
}

// CustomPlans has PostgreSQL plan every statement of the transaction for
// its own values. pgx prepares each statement once per connection, and
// after a few runs PostgreSQL may switch to a generic plan, which cannot
// tell a rare event type or a small organisation from a common one: for
// those it walks the log backwards (a hundred milliseconds rather than a
// few).
func CustomPlans(ctx context.Context, db projections.Querier) error {
	if db.Dialect() != projections.Postgres {
		return nil
	}
	rows, err := db.QueryContext(ctx, `SELECT set_config('plan_cache_mode', 'force_custom_plan', true)`)
	_, err = projections.Collect(rows, err, nil, projections.ScanString)
	return err
}

func queryPositions(ctx context.Context, db projections.Querier, query string, args ...any) ([]int64, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (int64, error) {
		var p int64
		err := rows.Scan(&p)
		return p, err
	})
}

func anyPositions(positions []int64) []any {
	out := make([]any, len(positions))
	for i, p := range positions {
		out[i] = p
	}
	return out
}

// entryColumns are the columns scanEntry reads, of audit_events e
// LEFT JOIN audit_users u (entryFrom).
const entryColumns = `e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.recorded_at,
    e.entity_type, e.entity_id, e.location_id, e.actor_user_id,
    COALESCE(NULLIF(e.actor_account_kind, ''), u.kind, '') AS actor_kind, COALESCE(u.email, '') AS actor_email,
    COALESCE(u.full_name, '') AS actor_name, e.session_id, e.client_ip, e.user_agent, e.command, e.correlation_id,
    e.bulk_upload_id, e.summary, e.change_count`

// entryFrom is the events with their actors' names.
var entryFrom = fmt.Sprintf(`%s e LEFT JOIN %s u ON u.user_id = e.actor_user_id`, EventsTable, UsersTable)

func scanEntry(rows projections.Rows) (Entry, error) {
	var (
		e  Entry
		at projections.Timestamp
	)
	err := rows.Scan(&e.Position, &e.EventID, &e.StreamID, &e.StreamVersion, &e.EventType, &at, &e.EntityType,
		&e.EntityID, &e.LocationID, &e.Actor.UserID, &e.Actor.AccountKind, &e.Actor.Email, &e.Actor.FullName,
		&e.SessionID, &e.ClientIP, &e.UserAgent, &e.Command, &e.CorrelationID, &e.BulkUploadID, &e.Summary,
		&e.ChangeCount)
	e.RecordedAt = at.UTC()
	return e, err
}

// ChangeKey is a keyset position in audit_changes: an event's position
// and the change's number in it.
type ChangeKey struct {
	Position int64
	Seq      int
}

// ChangeRow is a row of audit_changes.
type ChangeRow struct {
	ChangeKey
	Change
}

// Changes reads the changes of the events at positions, in (position,
// seq) order, after the key (zero: from the first), at most limit (0:
// all).
func Changes(ctx context.Context, db projections.Querier, positions []int64, after ChangeKey, limit int) ([]ChangeRow, error) {
	var w projections.Where
	w.Add("position IN ("+projections.Marks(len(positions))+")", anyPositions(positions)...)
	if after.Position > 0 {
		w.Add("(position > ? OR (position = ? AND seq > ?))", after.Position, after.Position, after.Seq)
	}
	lim := ""
	if limit > 0 {
		lim = fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT position, seq, field, COALESCE(before_value, ''),
    COALESCE(after_value, '') FROM %s%s ORDER BY position, seq%s`, ChangesTable, w, lim), w.Args...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (ChangeRow, error) {
		var (
			c             ChangeRow
			before, after string
		)
		err := rows.Scan(&c.Position, &c.Seq, &c.Field, &before, &after)
		// A JSON value is never empty: '' is NULL, no value.
		if before != "" {
			c.Before = json.RawMessage(before)
		}
		if after != "" {
			c.After = json.RawMessage(after)
		}
		return c, err
	})
}

// SessionEntries reads, of each session, its first limit events (by
// position) that the scope covers, all of them in position order: one
// statement that takes, for each session, its first events from the
// (session_id, position) index.
func SessionEntries(ctx context.Context, db projections.Querier, sessionIDs []string, s Scope, limit int) ([]Entry, error) {
	if len(sessionIDs) == 0 {
		return nil, nil
	}
	var (
		parts []string
		args  []any
	)
	for i, id := range sessionIDs {
		w := projections.Where{}
		w.Add("e.session_id = ?", id)
		s.add(&w)
		parts = append(parts, fmt.Sprintf(`SELECT * FROM (SELECT %s FROM %s%s ORDER BY e.position LIMIT %d) s%d`,
			entryColumns, entryFrom, w, limit, i))
		args = append(args, w.Args...)
	}
	rows, err := db.QueryContext(ctx, strings.Join(parts, "\nUNION ALL\n"), args...)
	entries, err := projections.Collect(rows, err, nil, scanEntry)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Position, b.Position) })
	return entries, nil
}

// UserVisibleTo reports whether the Approvers of any of the organisations
// may read the events of the user's account.
func UserVisibleTo(ctx context.Context, db projections.Querier, userID string, organisations []string) (bool, error) {
	args := append([]any{"user-" + userID}, projections.AnyList(organisations)...)
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id FROM %s
WHERE stream_id = ? AND organisation_id IN (%s) LIMIT 1`, EntityOrgsTable,
		projections.Marks(len(organisations))), args...)
	shared, err := projections.Collect(rows, err, nil, projections.ScanString)
	return len(shared) > 0, err
}

// User reads a user as an actor: their email, name and account kind. ok
// is false for a user the view does not know.
func User(ctx context.Context, db projections.Querier, userID string) (u Actor, ok bool, err error) {
	rows, err := db.QueryContext(ctx, `SELECT user_id, email, full_name, kind FROM `+UsersTable+
		` WHERE user_id = ?`, userID)
	users, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (Actor, error) {
		var u Actor
		err := rows.Scan(&u.UserID, &u.Email, &u.FullName, &u.AccountKind)
		return u, err
	})
	if err != nil || len(users) == 0 {
		return Actor{}, false, err
	}
	return users[0], true, nil
}
