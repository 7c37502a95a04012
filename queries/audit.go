package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/audit"
)

// The audit view, from its read model (package projections/audit, which
// holds its SQL): every event of the log with who made it (user, account
// kind, login session, client IP and user agent), the command, the
// entity, each field it changed with the value before and after, and the
// bulk upload it came in; and a generic (or any) account's activity, login
// by login. Here are the checks of who may read what and of the filters,
// the paging and the composition of the pages.
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
var auditProjections = []projections.Projection{audit.Projection{}}

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
type AuditActor = audit.Actor

// AuditChange is a field an event changed. Before and After are the JSON
// values, null when the field was absent.
type AuditChange = audit.Change

// AuditEntry is an event of the audit view. Its ChangeCount is the number
// of fields the event changed; Changes lists them (in an account's
// activity, perhaps not all: see MaxSessionChanges).
type AuditEntry = audit.Entry

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

// inLondon writes the RecordedAtLondon of entries.
func inLondon(entries []AuditEntry) {
	for i := range entries {
		entries[i].RecordedAtLondon = londonTime(entries[i].RecordedAt)
	}
}

// viewerScope is the viewer's part of the view: everything for an
// auditor, their organisations' events for an Approver.
func viewerScope(v Viewer) audit.Scope {
	if v.Auditor {
		return audit.Scope{All: true}
	}
	return audit.Scope{Organisations: v.ApproverOf}
}

// auditQuery is a checked filter: the view's filter of its events (Before
// included) and the page size.
type auditQuery struct {
	audit.Filter
	limit int
}

// prepare checks the filter and the viewer.
func (f AuditFilter) prepare(v Viewer) (auditQuery, error) {
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
	scope := viewerScope(v)
	if org != "" {
		// An Approver may name one of their own organisations only.
		if !v.Auditor && !slices.Contains(v.ApproverOf, org) {
			return auditQuery{}, domain.ErrForbidden
		}
		scope = audit.Scope{Organisations: []string{org}}
	}
	return auditQuery{Filter: audit.Filter{Scope: scope, EntityType: entityType, EntityID: entityID, LocationID: locationID,
		ActorUserID: actor, SessionID: session, EventType: eventType, BulkUploadID: upload, From: f.From, To: f.To,
		Before: f.Before}, limit: limit}, nil
}

// auditEntries reads up to limit events of the filter in position order
// (the newest first if newestFirst), with their London times.
func auditEntries(ctx context.Context, db projections.Querier, f audit.Filter, newestFirst bool, limit int) ([]AuditEntry, error) {
	entries, err := audit.Entries(ctx, db, f, newestFirst, limit)
	inLondon(entries)
	return entries, err
}

// Audit is a page of the events the viewer may read that match the
// filter, newest first. An invalid filter is a *domain.ValidationError.
func (q Service) Audit(ctx context.Context, v Viewer, f AuditFilter) (AuditPage, error) {
	a, err := f.prepare(v)
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
		entries, err := auditEntries(ctx, db, a.Filter, true, limit+1)
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
		changes, err := audit.Changes(ctx, db, chunk, audit.ChangeKey{}, 0)
		if err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		for _, c := range changes {
			e := &entries[index[c.Position]]
			if max == 0 || len(e.Changes) < max {
				e.Changes = append(e.Changes, c.Change)
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
	a, err := f.prepare(v)
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
			changes []audit.ChangeRow
		)
		err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
			f := a.Filter
			f.After = after
			var err error
			events, err = auditEntries(ctx, db, f, false, auditExportBatch)
			if err != nil || len(events) == 0 {
				return err
			}
			changes, err = audit.Changes(ctx, db, positionsOf(events), audit.ChangeKey{}, auditChangeBatch)
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
func (q Service) auditLines(ctx context.Context, events []AuditEntry, changes []audit.ChangeRow, fn func(AuditLine) error) error {
	more := len(changes) == auditChangeBatch
	i := 0
	for k, e := range events {
		n := 0
		for {
			if i == len(changes) && more {
				last := changes[len(changes)-1]
				err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
					var err error
					changes, err = audit.Changes(ctx, db, positionsOf(events[k:]), last.ChangeKey, auditChangeBatch)
					return err
				})
				if err != nil {
					return fmt.Errorf("audit changes: %w", err)
				}
				i, more = 0, len(changes) == auditChangeBatch
			}
			if i == len(changes) || changes[i].Position != e.Position {
				break
			}
			if err := fn(AuditLine{AuditEntry: e, AuditChange: changes[i].Change}); err != nil {
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
	if err := q.wait(ctx, a.MinPosition, audit.Projection{}, accounts.Sessions{}); err != nil {
		return AccountActivity{}, err
	}
	out := AccountActivity{Sessions: []ActivitySession{}}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		if err := audit.CustomPlans(ctx, db); err != nil {
			return err
		}
		if !v.Auditor {
			shared, err := audit.UserVisibleTo(ctx, db, a.UserID, v.ApproverOf)
			if err != nil {
				return err
			}
			if !shared {
				return domain.ErrForbidden
			}
		}
		user, ok, err := audit.User(ctx, db, a.UserID)
		if err != nil {
			return err
		}
		if !ok {
			return domain.ErrNotFound
		}
		out.User = user
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
	ids := make([]string, len(sessions))
	for i, s := range sessions {
		ids[i] = s.SessionID
	}
	// One event more than the cap tells whether there are more.
	entries, err := audit.SessionEntries(ctx, db, ids, viewerScope(v), MaxSessionChanges+1)
	if err != nil {
		return fmt.Errorf("session events: %w", err)
	}
	inLondon(entries)
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
