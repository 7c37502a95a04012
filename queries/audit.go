package queries

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
)

// The audit view, from its read model (projections.Audit): every event of
// the log with who made it (user, account kind, login session, client IP
// and user agent), the command, the entity, each field it changed with the
// value before and after, and the bulk upload it came in; and a generic
// (or any) account's activity, login by login.
//
// # Who may read what
//
// Auditors (Viewer.Auditor, a role support grants) read everything. An
// organisation's Approvers read the events of the streams the view gives
// their organisations (audit_entity_orgs: its locations, their daily
// updates and survey answers, the organisation itself, and the accounts
// and logins of its users), and a filter on an organisation they do not
// approve is domain.ErrForbidden, as is the activity of a user who is not
// theirs. Anybody else, support without the auditor role included, gets
// domain.ErrForbidden. The HTTP layer refuses anonymous callers (401).
//
// # Paging
//
// Lists page by keyset on the log position, newest first: a page ends
// with NextBefore, the position to ask "before" next. There is no count of
// the matching events and no OFFSET. A page first reads the positions of
// its events, from the index of its filter alone where it can (each
// filter has an index on (column, position)), however deep the page is,
// then those events' rows; a time range first narrows the positions to
// those recorded in its hours (audit_hours).

// Limits of the audit queries.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 500
	// DefaultActivitySessions and MaxActivitySessions bound the sessions
	// of a page of an account's activity.
	DefaultActivitySessions = 10
	MaxActivitySessions     = 20
	// MaxSessionChanges bounds the changes listed for one session (an
	// event that changed nothing counts one): the session says Truncated
	// when it made more.
	MaxSessionChanges = 1000
	// maxAuditFilterLength bounds a filter's text.
	maxAuditFilterLength = 200
	// auditExportBatch is the events EachAuditChange reads at a time, and
	// auditChangeBatch the changes.
	auditExportBatch = 1000
	auditChangeBatch = 5000
	// auditInChunk bounds the positions of one IN list.
	auditInChunk = 500
)

// AuditEntityTypes are the kinds of entity an event can be about: the
// categories of the log's streams.
func AuditEntityTypes() []string {
	return []string{"location", "organisation", "user", "login", "useremail", "dailyupdate", "survey",
		"surveyresponse", "bulkupload", "erasure"}
}

// auditProjections are the read models of the audit queries.
var auditProjections = []projections.Projection{projections.Audit{}}

// mayAudit reports whether the viewer may read any of the audit view.
func mayAudit(v Viewer) bool { return v.Auditor || len(v.ApproverOf) > 0 }

// AuditFilter selects events of the audit view. Every field is optional;
// ids compare exactly.
type AuditFilter struct {
	// EntityType is one of AuditEntityTypes; EntityID (which needs it)
	// names one entity: EntityType "location" and EntityID "1-123" is the
	// stream location-1-123.
	EntityType, EntityID string
	// LocationID: the events of a location, its daily updates and its
	// survey answers.
	LocationID     string
	ActorUserID    string
	OrganisationID string // the events an Approver of the organisation may read
	SessionID      string
	EventType      string
	BulkUploadID   string
	// From and To bound the time the event was recorded: From <= t < To.
	// A zero time is no bound.
	From, To time.Time
	// Before is a keyset cursor: only events at positions below it (a
	// page's NextBefore). 0 is the newest.
	Before int64
	// Limit is the events of a page: 0 means DefaultAuditLimit; at most
	// MaxAuditLimit.
	Limit       int
	MinPosition int64
}

// AuditActor is who made a change.
type AuditActor struct {
	UserID   string `json:"user_id"` // "" for the system or an anonymous caller
	Email    string `json:"email"`
	FullName string `json:"full_name"`
	// AccountKind is personal, generic or system ("" when unknown).
	AccountKind string `json:"account_kind"`
}

// AuditChange is a field an event changed. Before and After are the JSON
// values, null when the field was absent.
type AuditChange struct {
	Field  string          `json:"field"` // a dotted path: "address.postcode", "contacts[2].email"
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// AuditEntry is an event of the audit view.
type AuditEntry struct {
	Position      int64     `json:"position"`
	EventID       string    `json:"event_id"`
	StreamID      string    `json:"stream_id"`
	StreamVersion int64     `json:"stream_version"`
	EventType     string    `json:"event_type"`
	RecordedAt    time.Time `json:"recorded_at"` // UTC
	// RecordedAtLondon is the same instant on London's clock, RFC 3339
	// with its offset (+00:00 in winter, +01:00 in summer).
	RecordedAtLondon string     `json:"recorded_at_london"`
	EntityType       string     `json:"entity_type"`
	EntityID         string     `json:"entity_id"`
	LocationID       string     `json:"location_id"`
	Actor            AuditActor `json:"actor"`
	SessionID        string     `json:"session_id"`
	ClientIP         string     `json:"client_ip"`
	UserAgent        string     `json:"user_agent"`
	Command          string     `json:"command"`
	CorrelationID    string     `json:"correlation_id"`
	BulkUploadID     string     `json:"bulk_upload_id"`
	Summary          string     `json:"summary"`
	// ChangeCount is the number of fields the event changed; Changes lists
	// them (in an account's activity, perhaps not all: see
	// MaxSessionChanges).
	ChangeCount int           `json:"change_count"`
	Changes     []AuditChange `json:"changes"`
}

// AuditPage is a page of the audit view, newest first.
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	// NextBefore is the Before of the next page, 0 when this is the last.
	NextBefore int64 `json:"next_before"`
}

// AuditLine is a line of the audit download: an event and one field it
// changed; an event that changed no field has one line with an empty
// AuditChange. Its AuditEntry has no Changes.
type AuditLine struct {
	AuditEntry
	AuditChange
}

// londonTime is t on London's clock, RFC 3339 with the offset written out
// (+00:00 in winter, never Z).
func londonTime(t time.Time) string {
	return t.In(dailyupdate.London).Format("2006-01-02T15:04:05-07:00")
}

// auditOrgScope is the condition of the events that the Approvers of n
// organisations may read.
func auditOrgScope(n int) string {
	return fmt.Sprintf(`e.stream_id IN (SELECT stream_id FROM %s WHERE organisation_id IN (%s))`,
		projections.AuditEntityOrgsTable, projections.Marks(n))
}

// viewerScope adds the viewer's part of the view to w: everything for an
// auditor, their organisations' events for an Approver.
func viewerScope(v Viewer, w *projections.Where) {
	if !v.Auditor {
		w.Add(auditOrgScope(len(v.ApproverOf)), anys(v.ApproverOf)...)
	}
}

// auditQuery is a checked filter: the conditions of its events (of
// audit_events e, Before included), the time range they were recorded in
// and the page size.
type auditQuery struct {
	projections.Where
	from, to time.Time
	limit    int
}

// prepare checks the filter and the viewer.
func (f AuditFilter) prepare(v Viewer, d projections.Dialect) (auditQuery, error) {
	var w projections.Where
	if !mayAudit(v) {
		return auditQuery{}, domain.ErrForbidden
	}
	var verr domain.ValidationError
	text := func(field, s string) string {
		s = strings.TrimSpace(s)
		if len(s) > maxAuditFilterLength {
			verr.Add(field, "too_long", fmt.Sprintf("At most %d characters", maxAuditFilterLength))
		}
		return s
	}
	entityType, entityID := strings.ToLower(text("entity_type", f.EntityType)), text("entity_id", f.EntityID)
	locationID, actor := text("location_id", f.LocationID), text("actor", f.ActorUserID)
	org, session := text("organisation", f.OrganisationID), text("session", f.SessionID)
	eventType, upload := text("event_type", f.EventType), text("bulk_upload_id", f.BulkUploadID)
	if entityType != "" && !slices.Contains(AuditEntityTypes(), entityType) {
		verr.Add("entity_type", "invalid_choice", "entity_type is one of: "+strings.Join(AuditEntityTypes(), ", "))
	}
	if entityID != "" && entityType == "" {
		verr.Add("entity_type", "required", "Name the entity_type of entity_id")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		verr.Add("from", "after_to", "from must be before to")
	}
	if f.Before < 0 {
		verr.Add("before", "out_of_range", "before is a position from a page's next_before")
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultAuditLimit
	}
	if limit < 1 || limit > MaxAuditLimit {
		verr.Add("limit", "out_of_range", fmt.Sprintf("limit is from 1 to %d", MaxAuditLimit))
	}
	if err := verr.Err(); err != nil {
		return auditQuery{}, err
	}
	switch {
	case org != "":
		// An Approver may name one of their own organisations only.
		if !v.Auditor && !slices.Contains(v.ApproverOf, org) {
			return auditQuery{}, domain.ErrForbidden
		}
		w.Add(auditOrgScope(1), org)
	default:
		viewerScope(v, &w)
	}
	switch {
	case entityID != "":
		w.Add("e.stream_id = ?", entityType+"-"+entityID)
	case entityType != "":
		w.Add("e.entity_type = ?", entityType)
	}
	for _, c := range []struct{ column, value string }{
		{"location_id", locationID}, {"actor_user_id", actor}, {"session_id", session},
		{"event_type", eventType}, {"bulk_upload_id", upload},
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
	return auditQuery{Where: w, from: f.From, to: f.To, limit: limit}, nil
}

// conditions are the conditions of the query's events, with the range of
// positions recorded in the hours of its time range. Positions follow time
// but not exactly (concurrent appends): audit_hours holds the lowest and
// (except for the latest hour) highest position recorded in each hour, so the events of the range are
// between the lowest and highest of its hours, and a time range reads the
// index it needs over its own events rather than over every newer one.
// none reports a range in which nothing was recorded.
func (a auditQuery) conditions(ctx context.Context, db projections.Querier) (w projections.Where, none bool, err error) {
	w = a.Clone()
	if a.from.IsZero() && a.to.IsZero() {
		return w, false, nil
	}
	d := db.Dialect()
	var hours projections.Where
	if !a.from.IsZero() {
		hours.Add("hour >= ?", d.Time(a.from.Truncate(time.Hour)))
	}
	if !a.to.IsZero() {
		hours.Add("hour < ?", d.Time(a.to))
	}
	// The latest hour's max_position is not kept up to date (see
	// projections.auditBatch.flushHours): a range that reaches it is open
	// ended.
	rows, err := db.QueryContext(ctx, `SELECT count(*), COALESCE(min(min_position), 0), COALESCE(max(max_position), 0),
		COALESCE(max(CASE WHEN hour = (SELECT max(hour) FROM `+projections.AuditHoursTable+`) THEN 1 ELSE 0 END), 0) FROM `+
		projections.AuditHoursTable+hours.String(), hours.Args...)
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
	return w, false, nil
}

// read reads up to limit events of the query in position order (dir ASC
// or DESC), after the extra conditions: first their positions, from the
// indexes alone where the filters allow, then those events' rows.
func (a auditQuery) read(ctx context.Context, db projections.Querier, dir string, limit int, extra ...func(*projections.Where)) ([]AuditEntry, error) {
	if err := customPlans(ctx, db); err != nil {
		return nil, err
	}
	w, none, err := a.conditions(ctx, db)
	if err != nil || none {
		return nil, err
	}
	for _, x := range extra {
		x(&w)
	}
	positions, err := queryPositions(ctx, db, fmt.Sprintf(`SELECT e.position FROM %s e%s ORDER BY e.position %s LIMIT %d`,
		projections.AuditEventsTable, w, dir, limit), w.Args...)
	if err != nil || len(positions) == 0 {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE e.position IN (%s) ORDER BY e.position %s`,
		auditColumns, auditFrom, projections.Marks(len(positions)), dir), anys(positions)...)
	return projections.Collect(rows, err, nil, scanAuditEntry)
}

// customPlans has PostgreSQL plan every statement of the transaction for
// its own values. pgx prepares each statement once per connection, and
// after a few runs PostgreSQL may switch to a generic plan, which cannot
// tell a rare event type or a small organisation from a common one: for
// those it walks the log backwards (a hundred milliseconds rather than a
// few).
func customPlans(ctx context.Context, db projections.Querier) error {
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

// auditColumns are the columns scanAuditEntry reads, of audit_events e
// LEFT JOIN audit_users u (auditFrom).
const auditColumns = `e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.recorded_at,
    e.entity_type, e.entity_id, e.location_id, e.actor_user_id,
    COALESCE(NULLIF(e.actor_account_kind, ''), u.kind, '') AS actor_kind, COALESCE(u.email, '') AS actor_email,
    COALESCE(u.full_name, '') AS actor_name, e.session_id, e.client_ip, e.user_agent, e.command, e.correlation_id,
    e.bulk_upload_id, e.summary, e.change_count`

// auditFrom is the events with their actors' names.
var auditFrom = fmt.Sprintf(`%s e LEFT JOIN %s u ON u.user_id = e.actor_user_id`,
	projections.AuditEventsTable, projections.AuditUsersTable)

func scanAuditEntry(rows projections.Rows) (AuditEntry, error) {
	var (
		e  AuditEntry
		at projections.Timestamp
	)
	err := rows.Scan(&e.Position, &e.EventID, &e.StreamID, &e.StreamVersion, &e.EventType, &at, &e.EntityType,
		&e.EntityID, &e.LocationID, &e.Actor.UserID, &e.Actor.AccountKind, &e.Actor.Email, &e.Actor.FullName,
		&e.SessionID, &e.ClientIP, &e.UserAgent, &e.Command, &e.CorrelationID, &e.BulkUploadID, &e.Summary,
		&e.ChangeCount)
	e.RecordedAt = at.UTC()
	e.RecordedAtLondon = londonTime(at.Time)
	return e, err
}

// Audit is a page of the events the viewer may read that match the
// filter, newest first. An invalid filter is a *domain.ValidationError.
func (q Service) Audit(ctx context.Context, v Viewer, f AuditFilter) (AuditPage, error) {
	a, err := f.prepare(v, q.ReadModels.Dialect())
	if err != nil {
		return AuditPage{}, err
	}
	if err := q.wait(ctx, f.MinPosition, auditProjections...); err != nil {
		return AuditPage{}, err
	}
	out := AuditPage{Entries: []AuditEntry{}}
	limit := a.limit
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		// One more than the page tells whether another follows.
		entries, err := a.read(ctx, db, "DESC", limit+1)
		if err != nil {
			return err
		}
		out.Entries = append(out.Entries, entries...)
		if len(out.Entries) > limit {
			out.Entries = out.Entries[:limit]
			out.NextBefore = out.Entries[limit-1].Position
		}
		return addAuditChanges(ctx, db, out.Entries, 0)
	})
	if err != nil {
		return AuditPage{}, fmt.Errorf("audit: %w", err)
	}
	return out, nil
}

// auditChangeRow is a row of audit_changes.
type auditChangeRow struct {
	position int64
	seq      int
	AuditChange
}

// changeKey is a keyset position in audit_changes.
type changeKey struct {
	position int64
	seq      int
}

// readAuditChanges reads the changes of the events at positions, in
// (position, seq) order, after the key (zero: from the first), at most
// limit (0: all).
func readAuditChanges(ctx context.Context, db projections.Querier, positions []int64, after changeKey, limit int) ([]auditChangeRow, error) {
	var w projections.Where
	w.Add("position IN ("+projections.Marks(len(positions))+")", anys(positions)...)
	if after.position > 0 {
		w.Add("(position > ? OR (position = ? AND seq > ?))", after.position, after.position, after.seq)
	}
	lim := ""
	if limit > 0 {
		lim = fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT position, seq, field, COALESCE(before_value, ''),
    COALESCE(after_value, '') FROM %s%s ORDER BY position, seq%s`, projections.AuditChangesTable, w, lim), w.Args...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (auditChangeRow, error) {
		var (
			c             auditChangeRow
			before, after string
		)
		err := rows.Scan(&c.position, &c.seq, &c.Field, &before, &after)
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

// addAuditChanges fills in the Changes of entries, at most max of each
// (0: all), a chunk of positions at a time.
func addAuditChanges(ctx context.Context, db projections.Querier, entries []AuditEntry, max int) error {
	index := make(map[int64]int, len(entries))
	positions := make([]int64, len(entries))
	for i := range entries {
		entries[i].Changes = []AuditChange{}
		index[entries[i].Position] = i
		positions[i] = entries[i].Position
	}
	for chunk := range slices.Chunk(positions, auditInChunk) {
		changes, err := readAuditChanges(ctx, db, chunk, changeKey{}, 0)
		if err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		for _, c := range changes {
			e := &entries[index[c.position]]
			if max == 0 || len(e.Changes) < max {
				e.Changes = append(e.Changes, c.AuditChange)
			}
		}
	}
	return nil
}

// EachAuditChange calls fn with every change of the events the viewer may
// read that match the filter (one AuditLine per changed field, one for an
// event that changed none), oldest first. It reads auditExportBatch events
// at a time and their changes auditChangeBatch at a time, each batch in its
// own short transaction, continuing after the last position read: memory
// stays bounded however many match, and no transaction stays open while fn
// writes. Before bounds the positions as in Audit; the limit is checked but
// not applied. An error of fn stops it and is returned.
func (q Service) EachAuditChange(ctx context.Context, v Viewer, f AuditFilter, fn func(AuditLine) error) error {
	a, err := f.prepare(v, q.ReadModels.Dialect())
	if err != nil {
		return err
	}
	if err := q.wait(ctx, f.MinPosition, auditProjections...); err != nil {
		return err
	}
	var after int64
	for {
		var (
			events  []AuditEntry
			changes []auditChangeRow
		)
		err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
			var err error
			events, err = a.read(ctx, db, "ASC", auditExportBatch, func(w *projections.Where) {
				if after > 0 {
					w.Add("e.position > ?", after)
				}
			})
			if err != nil || len(events) == 0 {
				return err
			}
			changes, err = readAuditChanges(ctx, db, positionsOf(events), changeKey{}, auditChangeBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if err := q.auditLines(ctx, events, changes, fn); err != nil {
			return err
		}
		if len(events) < auditExportBatch {
			return nil
		}
		after = events[len(events)-1].Position
	}
}

func positionsOf(entries []AuditEntry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.Position
	}
	return out
}

// auditLines calls fn with the lines of events, whose changes start with
// changes (a first batch, in order): it reads the next batches as it
// needs them.
func (q Service) auditLines(ctx context.Context, events []AuditEntry, changes []auditChangeRow, fn func(AuditLine) error) error {
	more := len(changes) == auditChangeBatch
	i := 0
	for k, e := range events {
		n := 0
		for {
			if i == len(changes) && more {
				last := changes[len(changes)-1]
				err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
					var err error
					changes, err = readAuditChanges(ctx, db, positionsOf(events[k:]),
						changeKey{last.position, last.seq}, auditChangeBatch)
					return err
				})
				if err != nil {
					return fmt.Errorf("audit changes: %w", err)
				}
				i, more = 0, len(changes) == auditChangeBatch
			}
			if i == len(changes) || changes[i].position != e.Position {
				break
			}
			if err := fn(AuditLine{AuditEntry: e, AuditChange: changes[i].AuditChange}); err != nil {
				return err
			}
			i++
			n++
		}
		if n == 0 {
			if err := fn(AuditLine{AuditEntry: e}); err != nil {
				return err
			}
		}
	}
	return nil
}

// --- an account's activity ------------------------------------------------------

// ActivityQuery asks for an account's activity: its logins, the latest
// first, each with the changes made in it.
type ActivityQuery struct {
	UserID string
	// Before is the NextBefore of the previous page; "" is the latest.
	Before string
	// Limit is the sessions of a page: 0 means DefaultActivitySessions; at
	// most MaxActivitySessions.
	Limit       int
	MinPosition int64
}

// ActivitySession is one login of an account and what was changed in it.
type ActivitySession struct {
	SessionID       string       `json:"session_id"`
	StartedAt       time.Time    `json:"started_at"`
	StartedAtLondon string       `json:"started_at_london"`
	EndedAt         *time.Time   `json:"ended_at,omitempty"`
	EndReason       string       `json:"end_reason,omitempty"` // logout, revoked or deactivated
	ClientIP        string       `json:"client_ip"`
	UserAgent       string       `json:"user_agent"`
	Entries         []AuditEntry `json:"entries"` // oldest first
	// Truncated: the session made more than MaxSessionChanges changes, and
	// Entries lists the first of them.
	Truncated bool `json:"truncated"`
}

// AccountActivity is a page of an account's sessions.
type AccountActivity struct {
	User     AuditActor        `json:"user"`
	Sessions []ActivitySession `json:"sessions"`
	// NextBefore is the Before of the next page, "" when this is the last.
	NextBefore string `json:"next_before"`
}

// activityCursor is a session's place in the newest-first order.
type activityCursor struct {
	startedAt time.Time
	sessionID string
}

func (c activityCursor) String() string {
	return c.startedAt.UTC().Format(time.RFC3339Nano) + "_" + c.sessionID
}

func parseActivityCursor(s string) (activityCursor, bool) {
	at, id, ok := strings.Cut(s, "_")
	t, err := time.Parse(time.RFC3339Nano, at)
	return activityCursor{t, id}, ok && err == nil && id != ""
}

// AccountActivity lists an account's sessions, the latest first, each with
// the events made in it (oldest first, with their changes, up to
// MaxSessionChanges). Auditors read every account's (an unknown user is
// domain.ErrNotFound); an Approver reads those of the users of their
// organisations, with the events they may read; anybody else gets
// domain.ErrForbidden.
func (q Service) AccountActivity(ctx context.Context, v Viewer, a ActivityQuery) (AccountActivity, error) {
	if !mayAudit(v) {
		return AccountActivity{}, domain.ErrForbidden
	}
	var verr domain.ValidationError
	var before activityCursor
	if a.Before != "" {
		var ok bool
		if before, ok = parseActivityCursor(a.Before); !ok {
			verr.Add("before", "invalid_cursor", "before is a page's next_before")
		}
	}
	limit := a.Limit
	if limit == 0 {
		limit = DefaultActivitySessions
	}
	if limit < 1 || limit > MaxActivitySessions {
		verr.Add("limit", "out_of_range", fmt.Sprintf("limit is from 1 to %d", MaxActivitySessions))
	}
	if err := verr.Err(); err != nil {
		return AccountActivity{}, err
	}
	if err := q.wait(ctx, a.MinPosition, projections.Audit{}, accounts.Sessions{}); err != nil {
		return AccountActivity{}, err
	}
	out := AccountActivity{Sessions: []ActivitySession{}}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		if err := customPlans(ctx, db); err != nil {
			return err
		}
		if !v.Auditor {
			args := append([]any{"user-" + a.UserID}, anys(v.ApproverOf)...)
			rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id FROM %s
WHERE stream_id = ? AND organisation_id IN (%s) LIMIT 1`, projections.AuditEntityOrgsTable,
				projections.Marks(len(v.ApproverOf))), args...)
			shared, err := projections.Collect(rows, err, nil, projections.ScanString)
			if err != nil {
				return err
			}
			if len(shared) == 0 {
				return domain.ErrForbidden
			}
		}
		rows, err := db.QueryContext(ctx, `SELECT user_id, email, full_name, kind FROM `+projections.AuditUsersTable+
			` WHERE user_id = ?`, a.UserID)
		users, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (AuditActor, error) {
			var u AuditActor
			err := rows.Scan(&u.UserID, &u.Email, &u.FullName, &u.AccountKind)
			return u, err
		})
		if err != nil {
			return err
		}
		if len(users) == 0 {
			return domain.ErrNotFound
		}
		out.User = users[0]
		if out.Sessions, err = activitySessions(ctx, db, a.UserID, before, limit); err != nil {
			return err
		}
		if len(out.Sessions) > limit {
			out.Sessions = out.Sessions[:limit]
			last := out.Sessions[limit-1]
			out.NextBefore = activityCursor{last.StartedAt, last.SessionID}.String()
		}
		return sessionEntries(ctx, db, v, out.Sessions)
	})
	if err != nil {
		return AccountActivity{}, fmt.Errorf("activity of %s: %w", a.UserID, err)
	}
	return out, nil
}

// activitySessions reads up to limit+1 of a user's sessions before the
// cursor, the latest first.
func activitySessions(ctx context.Context, db projections.Querier, userID string, before activityCursor, limit int) ([]ActivitySession, error) {
	found, err := accounts.SessionsBefore(ctx, db, userID, before.startedAt, before.sessionID, limit+1)
	out := make([]ActivitySession, len(found))
	for i, s := range found {
		out[i] = ActivitySession{SessionID: s.SessionID, StartedAt: s.StartedAt.UTC(), StartedAtLondon: londonTime(s.StartedAt),
			EndedAt: s.EndedAt, EndReason: s.EndReason, ClientIP: s.ClientIP, UserAgent: s.UserAgent, Entries: []AuditEntry{}}
	}
	return out, err
}

// sessionEntries fills in the events of each session that the viewer may
// read, up to MaxSessionChanges changes each: one statement that takes,
// for each session, its first events from the (session_id, position)
// index.
func sessionEntries(ctx context.Context, db projections.Querier, v Viewer, sessions []ActivitySession) error {
	if len(sessions) == 0 {
		return nil
	}
	var (
		parts []string
		args  []any
	)
	for i, s := range sessions {
		w := projections.Where{}
		w.Add("e.session_id = ?", s.SessionID)
		viewerScope(v, &w)
		// One event more than the cap tells whether there are more.
		parts = append(parts, fmt.Sprintf(`SELECT * FROM (SELECT %s FROM %s%s ORDER BY e.position LIMIT %d) s%d`,
			auditColumns, auditFrom, w, MaxSessionChanges+1, i))
		args = append(args, w.Args...)
	}
	rows, err := db.QueryContext(ctx, strings.Join(parts, "\nUNION ALL\n"), args...)
	entries, err := projections.Collect(rows, err, nil, scanAuditEntry)
	if err != nil {
		return fmt.Errorf("session events: %w", err)
	}
	slices.SortFunc(entries, func(a, b AuditEntry) int { return cmp.Compare(a.Position, b.Position) })
	index := make(map[string]int, len(sessions))
	for i, s := range sessions {
		index[s.SessionID] = i
	}
	// Each session's events, while their changes fit in the cap.
	budget := make([]int, len(sessions))
	var listed []AuditEntry
	for _, e := range entries {
		i := index[e.SessionID]
		s := &sessions[i]
		if s.Truncated {
			continue
		}
		lines := max(e.ChangeCount, 1)
		if budget[i]+lines > MaxSessionChanges {
			s.Truncated = true
			if len(s.Entries) > 0 {
				continue
			}
			// A first event with more changes than the cap: its first ones.
		}
		budget[i] += lines
		s.Entries = append(s.Entries, e)
		listed = append(listed, e)
	}
	if err := addAuditChanges(ctx, db, listed, MaxSessionChanges); err != nil {
		return err
	}
	changes := make(map[int64][]AuditChange, len(listed))
	for _, e := range listed {
		changes[e.Position] = e.Changes
	}
	for i := range sessions {
		for j := range sessions[i].Entries {
			sessions[i].Entries[j].Changes = changes[sessions[i].Entries[j].Position]
		}
	}
	return nil
}
