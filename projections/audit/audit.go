// Package audit is the auditors' read model: every event of the log with
// who made it, how and as part of what, and each field it changed with
// the value before and after. It owns its tables' DDL, its fold
// (Projection), its writes and its read SQL (Entries, Changes,
// SessionEntries, User, UserVisibleTo, CustomPlans):
//
//   - audit_events: one row per event of the log, by position;
//   - audit_changes: one row per field an event changed;
//   - audit_entity_orgs: the organisations whose Approvers may read a
//     stream's events;
//   - audit_users: each user's email, name and account kind, for showing
//     actors;
//   - audit_hours: the lowest and highest position recorded in each hour,
//     which turns a time range into a range of positions;
//   - audit_state: each folded stream's snapshot, the fold's own working
//     state (not for reads);
//   - audit_subjects: the streams whose events hold a data subject's
//     personal data, what an erasure folds again.
package audit

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/history"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection is the auditors' view: one row per event of the log, whatever its
// stream, with who did it, through which login and client, as part of
// which command and bulk upload (audit_events), and one row per field it
// changed with the value before and after (audit_changes).
//
// The fields an event changed are the diff of its stream's state before
// and after it, folded with the same code as a replay (domain/history).
// So that no event needs its stream read again, the projection keeps each
// stream's folded aggregate as a snapshot in audit_state. The events of
// streams without a replay (logins, bulk uploads, erasures, ...) list
// their data's fields as changes from nothing.
//
// audit_entity_orgs says which organisations' Approvers may see a
// stream's events: its location's organisation for the streams of a
// location (location-, dailyupdate-, surveyresponse-), the organisation
// itself, and for a user's account and logins every organisation the user
// had or asked for access to and a generic account's home organisation.
// Rows are only ever added: an Approver keeps seeing what happened while
// the user was theirs. audit_users holds each user's email and name, for
// showing actors.
//
// audit_hours maps each hour (UTC) in which events were recorded onto the
// lowest and highest position recorded in it (for the latest hour, the
// lowest only: see flushHours). Positions follow time but
// not exactly (concurrent appends), so a query for a time range reads the
// positions of the range's hours from it, and then scans that range of
// positions in the index it needs, with the exact time as a condition.
//
// Personal fields whose subject was erased read as "[erased]" here as in
// every view (projections.MarkErased); an erasure folds the streams that held the
// person's data again (Erase).
type Projection struct{}

var _ projections.BatchApplier = Projection{}

// The read-model tables of Projection. StateTable is the projection's own
// working state (stream snapshots), not for queries.
const (
	EventsTable     = "audit_events"
	ChangesTable    = "audit_changes"
	EntityOrgsTable = "audit_entity_orgs"
	UsersTable      = "audit_users"
	HoursTable      = "audit_hours"
	StateTable      = "audit_state"
	SubjectsTable   = "audit_subjects"
)

// UploadKey is the metadata Extra key of a bulk upload's id.
const UploadKey = "upload_id"

func (Projection) Name() string { return "audit" }

func (Projection) Tables() []string {
	return []string{EventsTable, ChangesTable, EntityOrgsTable, UsersTable, HoursTable, StateTable,
		SubjectsTable}
}

func (Projection) Schema(d projections.Dialect, table func(string) string) []string {
	e, c, o, u, h, s := table(EventsTable), table(ChangesTable), table(EntityOrgsTable),
		table(UsersTable), table(HoursTable), table(StateTable)
	subjects := table(SubjectsTable)
	// On SQLite, audit_events' position is the table's rowid (INTEGER
	// PRIMARY KEY) and audit_changes is clustered on its primary key
	// (WITHOUT ROWID): each row is one b-tree insert instead of two (the
	// table's and its primary key index's), which is most of a rebuild's
	// writes.
	positionType, changesClustered := "BIGINT ", ""
	if d == projections.SQLite {
		positionType, changesClustered = "INTEGER", " WITHOUT ROWID"
	}
	out := []string{
		fmt.Sprintf(`CREATE TABLE %s (
    position           %s PRIMARY KEY,
    event_id           TEXT    NOT NULL,
    stream_id          TEXT    NOT NULL,
    stream_version     BIGINT  NOT NULL,
    event_type         TEXT    NOT NULL,
    recorded_at        %s      NOT NULL,
    entity_type        TEXT    NOT NULL,
    entity_id          TEXT    NOT NULL,
    location_id        TEXT    NOT NULL,
    actor_user_id      TEXT    NOT NULL,
    actor_account_kind TEXT    NOT NULL,
    session_id         TEXT    NOT NULL,
    client_ip          TEXT    NOT NULL,
    user_agent         TEXT    NOT NULL,
    command            TEXT    NOT NULL,
    correlation_id     TEXT    NOT NULL,
    bulk_upload_id     TEXT    NOT NULL,
    summary            TEXT    NOT NULL,
    change_count       INTEGER NOT NULL
)`, e, positionType, d.TimestampType()),
		fmt.Sprintf(`CREATE TABLE %s (
    position     BIGINT  NOT NULL,
    seq          INTEGER NOT NULL,
    field        TEXT    NOT NULL,
    before_value TEXT,
    after_value  TEXT,
    PRIMARY KEY (position, seq)
)%s`, c, changesClustered),
		fmt.Sprintf(`CREATE TABLE %s (
    stream_id       TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    PRIMARY KEY (organisation_id, stream_id)
)`, o),
		auditQueryIndexes(table)[0],
		fmt.Sprintf(`CREATE TABLE %s (
    user_id   TEXT PRIMARY KEY,
    email     TEXT NOT NULL,
    full_name TEXT NOT NULL,
    kind      TEXT NOT NULL
)`, u),
		fmt.Sprintf(`CREATE TABLE %s (
    hour         %s     PRIMARY KEY,
    min_position BIGINT NOT NULL,
    max_position BIGINT NOT NULL
)`, h, d.TimestampType()),
		fmt.Sprintf(`CREATE TABLE %s (
    stream_id TEXT PRIMARY KEY,
    snapshot  TEXT NOT NULL
)`, s),
		// The streams whose events hold each data subject's personal data:
		// what an erasure folds again.
		fmt.Sprintf(`CREATE TABLE %s (
    subject   TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    PRIMARY KEY (subject, stream_id)
)`, subjects),
	}
	return append(out, auditQueryIndexes(table)[1:]...)
}

// QueryIndexes implements QueryIndexer: every secondary index. Apply,
// ApplyBatch and Erase read audit_state and audit_subjects by primary key,
// and write or delete audit_events and audit_changes by position (their
// primary key) and the other tables by ON CONFLICT on their primary keys.
func (Projection) QueryIndexes(_ projections.Dialect, table func(string) string) []string {
	return auditQueryIndexes(table)
}

// auditQueryIndexes are the audit's secondary indexes: audit_entity_orgs'
// first, then audit_events'.
func auditQueryIndexes(table func(string) string) []string {
	e, o := table(EventsTable), table(EntityOrgsTable)
	out := []string{fmt.Sprintf(`CREATE INDEX %s_stream ON %s (stream_id)`, o, o)}
	for _, col := range []string{"stream_id", "location_id", "actor_user_id", "session_id", "event_type", "entity_type",
		"bulk_upload_id", "recorded_at"} {
		out = append(out, fmt.Sprintf(`CREATE INDEX %s_%s ON %s (%s, position)`, e, col, e, col))
	}
	return out
}

// Apply applies one event: a batch of one.
func (a Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	return a.ApplyBatch(ctx, tx, table, []eventstore.Event{ev})
}

// ApplyBatch implements BatchApplier: it reads the snapshots of the
// batch's streams once, folds every event in memory and writes the rows
// many to a statement.
func (a Projection) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	return projections.ApplyAroundErasures(evs, true, func(evs []eventstore.Event) error {
		b := newAuditBatch(tx, table)
		b.prepared, _ = projections.Prepared(ctx).(preparedRows)
		if err := b.prefetch(ctx, evs); err != nil {
			return err
		}
		for i := range evs {
			if err := b.apply(evs[i]); err != nil {
				return fmt.Errorf("audit of %s version %d: %w", evs[i].StreamID, evs[i].Version, err)
			}
		}
		return b.write(ctx)
	}, func(ev eventstore.Event, e erasure.PersonErased) error { return a.Erase(ctx, tx, table, ev, e) })
}

func newAuditBatch(tx projections.Tx, table func(string) string) *auditBatch {
	return &auditBatch{tx: tx, d: tx.Dialect(), table: table, folders: map[string]*auditStream{}, orgs: map[[2]string]bool{},
		users: map[string][]any{}, hours: map[int64][2]int64{}, subjects: map[[2]string]bool{}}
}

// Personal implements Eraser. The rows of a stream's events and its
// snapshot hold the personal data of the subjects its events sealed
// (personalSubjects), and audit_subjects lists those streams by subject.
// A change names its event by position, and the event's row
// (audit_events) its stream. (An event's summary lists the fields it
// changed, never their values; a refold writes it again too.)
func (Projection) Personal() []projections.PersonalColumns {
	return []projections.PersonalColumns{
		{Table: ChangesTable, Subjects: []string{"position"}, Columns: []string{"before_value", "after_value"}},
		{Table: StateTable, Subjects: []string{"stream_id"}, Columns: []string{"snapshot"}},
		{Table: UsersTable, Subjects: []string{"user_id"}, Columns: []string{"email", "full_name"}},
	}
}

// Erase implements Eraser: the streams whose events hold the erased
// person's data (audit_subjects: their account's stream, and the location
// streams of their notes; a contact's location stream) are folded again
// from the log up to the erasure, where their personal fields now read as
// erased, and their rows (events, changes, snapshot, the user's name)
// written again in place of the old ones: exactly the rows a rebuild
// writes for them. The work is the length of those streams, whatever the
// length of the log.
func (Projection) Erase(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event, e erasure.PersonErased) error {
	if e.Subject == "" {
		return nil
	}
	var streams []string
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT stream_id FROM %s WHERE subject = ?`, table(SubjectsTable)), e.Subject)
	if err != nil {
		return fmt.Errorf("streams of %s: %w", e.Subject, err)
	}
	if err := projections.ScanAll(rows, func() error {
		var id string
		err := rows.Scan(&id)
		streams = append(streams, id)
		return err
	}); err != nil {
		return fmt.Errorf("streams of %s: %w", e.Subject, err)
	}
	slices.Sort(streams)
	for _, id := range slices.Compact(streams) {
		if err := refoldAuditStream(ctx, tx, table, id, ev.Position); err != nil {
			return fmt.Errorf("audit of %s: %w", id, err)
		}
	}
	return nil
}

// personalSubjects are the data subjects whose personal data an event of a
// folded stream holds, as the commands seal it: a user's own for the
// events that create their account (account.PersonalData), a contact's
// for the contact events (location.ContactSubject) and a note's author's
// for NoteAdded. data is the event's data (an erased field reads
// "[erased]"; the ids stay).
func personalSubjects(category, streamID, eventType string, data []byte) []string {
	switch category {
	case "user":
		d, err := account.Decode(eventType, data)
		if _, personal := d.(account.PersonalData); err == nil && personal {
			if id, err := uuid.Parse(projections.StreamEntity(streamID)); err == nil {
				return []string{account.Subject(id)}
			}
		}
	case "location":
		// Decoded only when it may be one of those (versioned names
		// included: ContactAdded.v2).
		if !strings.HasPrefix(eventType, "Contact") && !strings.HasPrefix(eventType, location.TypeNoteAdded) {
			return nil
		}
		d, err := location.Decode(eventType, data)
		if err != nil {
			return nil
		}
		switch e := d.(type) {
		case location.ContactAdded:
			return []string{location.ContactSubject(e.Contact.ContactID)}
		case location.ContactUpdated:
			return []string{location.ContactSubject(e.ContactID)}
		case location.ContactRemoved:
			return []string{location.ContactSubject(e.ContactID)}
		case location.NoteAdded:
			if id, err := uuid.Parse(e.Note.AddedBy); err == nil {
				return []string{account.Subject(id)}
			}
		}
	}
	return nil
}

// refoldAuditStream writes a stream's audit rows again from its events up
// to position upTo, read from the log again. audit_hours is left alone:
// the events keep their positions and times.
func refoldAuditStream(ctx context.Context, tx projections.Tx, table func(string) string, streamID string, upTo int64) error {
	evs, err := projections.ReadStreamUpTo(ctx, tx, streamID, upTo)
	if err != nil || len(evs) == 0 {
		return err
	}
	// The rows go by their positions, each a primary key lookup, whatever
	// the planner knows of the tables (a rebuilt one has no statistics yet).
	positions := make([]any, len(evs))
	for i, ev := range evs {
		positions[i] = ev.Position
	}
	for chunk := range slices.Chunk(positions, projections.PrefetchChunk) {
		for _, t := range []string{ChangesTable, EventsTable} {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE position IN (%s)`, table(t), projections.Marks(len(chunk))),
				chunk...); err != nil {
				return err
			}
		}
	}
	b := newAuditBatch(tx, table)
	for i := range evs {
		if err := b.apply(evs[i]); err != nil {
			return fmt.Errorf("version %d: %w", evs[i].Version, err)
		}
	}
	clear(b.hours)
	return b.write(ctx)
}

// auditStream is a stream's fold during a batch.
type auditStream struct {
	folder *history.Folder
	dirty  bool // folded further than its stored snapshot
}

type auditBatch struct {
	tx      projections.Tx
	d       projections.Dialect
	table   func(string) string
	folders map[string]*auditStream // by stream id; nil: no snapshot stored
	events  [][]any
	changes [][]any
	orgs    map[[2]string]bool // (stream id, organisation id)
	users   map[string][]any   // audit_users rows by user id
	// subjects are (subject, stream id): the streams whose events hold a
	// subject's personal data.
	subjects map[[2]string]bool
	hours    map[int64][2]int64 // the batch's positions by hour (Unix seconds)
	// prepared is Prepare's rows for the batch, when the engine ran it.
	prepared preparedRows
}

// foldsCategory reports whether a stream category has a replay.
func foldsCategory(c string) bool { return slices.Contains(history.Categories(), c) }

// locationOf is the location a stream belongs to, or "".
func locationOf(streamID string) string {
	switch eventstore.Category(streamID) {
	case "location", "dailyupdate":
		return projections.StreamEntity(streamID)
	case "surveyresponse":
		loc, _ := survey.ResponseLocation(streamID)
		return loc
	}
	return ""
}

// prefetch reads the snapshots of the batch's folded streams, and of the
// locations whose daily updates and survey answers start in the batch.
func (b *auditBatch) prefetch(ctx context.Context, evs []eventstore.Event) error {
	var ids []string
	want := func(id string) {
		if _, ok := b.folders[id]; !ok {
			b.folders[id] = nil
			ids = append(ids, id)
		}
	}
	for _, ev := range evs {
		c := ev.Category()
		if !foldsCategory(c) {
			continue
		}
		want(ev.StreamID)
		if loc := locationOf(ev.StreamID); loc != "" && c != "location" && ev.Version == 1 {
			want(location.LocationStream(loc))
		}
	}
	for chunk := range slices.Chunk(ids, projections.PrefetchChunk) {
		rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT stream_id, snapshot FROM %s WHERE stream_id IN (%s)`,
			b.table(StateTable), projections.Marks(len(chunk))), projections.AnyList(chunk)...)
		if err != nil {
			return fmt.Errorf("audit snapshots: %w", err)
		}
		var id, snap string
		if err := projections.ScanAll(rows, func() error {
			if err := rows.Scan(&id, &snap); err != nil {
				return err
			}
			f, err := history.ResumeFolder(eventstore.Category(id), []byte(snap))
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			b.folders[id] = &auditStream{folder: f}
			return nil
		}); err != nil {
			return fmt.Errorf("audit snapshots: %w", err)
		}
	}
	return nil
}

// stream is the fold of a stream, new when none was stored.
func (b *auditBatch) stream(id string) (*auditStream, error) {
	if s := b.folders[id]; s != nil {
		return s, nil
	}
	f, err := history.NewFolder(eventstore.Category(id))
	if err != nil {
		return nil, err
	}
	s := &auditStream{folder: f}
	b.folders[id] = s
	return s, nil
}

func (b *auditBatch) apply(ev eventstore.Event) error {
	hour := ev.RecordedAt.Truncate(time.Hour).Unix()
	if r, ok := b.hours[hour]; ok {
		b.hours[hour] = [2]int64{min(r[0], ev.Position), max(r[1], ev.Position)}
	} else {
		b.hours[hour] = [2]int64{ev.Position, ev.Position}
	}
	cat := ev.Category()
	if !foldsCategory(cat) {
		// No replay: the event's own fields, from nothing; prepared
		// already when the batch came with Prepare's rows.
		p, ok := b.prepared[ev.Position]
		if !ok || p.id != ev.ID {
			p = prepareUnfolded(b.d, ev)
		}
		if p.err != nil {
			return p.err
		}
		b.events = append(b.events, p.event)
		b.changes = append(b.changes, p.changes...)
		return nil
	}
	data := projections.MarkErased(ev)
	s, err := b.stream(ev.StreamID)
	if err != nil {
		return err
	}
	orgBefore := locationOrganisation(s)
	changes, err := s.folder.Apply(ev.Type, data)
	if err != nil {
		return err
	}
	s.dirty = true
	b.scope(ev, s, orgBefore)
	for _, subject := range personalSubjects(cat, ev.StreamID, ev.Type, data) {
		b.subjects[[2]string{subject, ev.StreamID}] = true
	}
	b.events = append(b.events, eventRow(b.d, ev, changes))
	rows, err := changeRows(ev, changes, nil)
	if err != nil {
		return err
	}
	b.changes = append(b.changes, rows...)
	return nil
}

// preparedEvent is the audit rows of an event of a stream without a
// replay, which need nothing but the event: its audit_events row and its
// audit_changes rows, or the error that fails it.
type preparedEvent struct {
	id      uuid.UUID
	event   []any
	changes [][]any
	err     error
}

// preparedRows is Prepare's result: the rows of a batch's events of
// streams without a replay, by position.
type preparedRows map[int64]preparedEvent

var _ projections.Preparer = Projection{}

// Prepare implements Preparer: the rows of the events of streams without a
// replay (their data's fields from nothing), which need no state. The
// folds of the other streams start from their snapshots, in ApplyBatch.
func (Projection) Prepare(d projections.Dialect, evs []eventstore.Event) any {
	out := preparedRows{}
	for _, ev := range evs {
		if !foldsCategory(ev.Category()) {
			out[ev.Position] = prepareUnfolded(d, ev)
		}
	}
	return out
}

// prepareUnfolded is the rows of an event of a stream without a replay.
func prepareUnfolded(d projections.Dialect, ev eventstore.Event) preparedEvent {
	p := preparedEvent{id: ev.ID}
	changes, values, err := changesFromNothing(projections.MarkErased(ev))
	if err != nil {
		p.err = err
		return p
	}
	p.event = eventRow(d, ev, changes)
	p.changes, p.err = changeRows(ev, changes, values)
	return p
}

// eventRow is an event's audit_events row, with changes its changes.
func eventRow(d projections.Dialect, ev eventstore.Event, changes []history.Change) []any {
	md := ev.Metadata
	he := history.Event{Type: ev.Type, ActorUserID: md.ActorUserID, ActorAccountKind: string(md.ActorAccountKind),
		Command: md.Command}
	return []any{ev.Position, ev.ID.String(), ev.StreamID, ev.Version, ev.Type, d.Time(ev.RecordedAt),
		ev.Category(), projections.StreamEntity(ev.StreamID), locationOf(ev.StreamID), md.ActorUserID, string(md.ActorAccountKind),
		md.SessionID, md.ClientIP, md.UserAgent, md.Command, md.CorrelationID, md.Extra[UploadKey],
		history.Summary(he, changes), len(changes)}
}

// changeRows is an event's audit_changes rows; values, when not nil, are
// the changes' after_values already.
func changeRows(ev eventstore.Event, changes []history.Change, values []any) ([][]any, error) {
	rows := make([][]any, 0, len(changes))
	for i, c := range changes {
		before, err := jsonValue(c.Before)
		if err != nil {
			return nil, err
		}
		var after any
		if values != nil {
			after = values[i]
		} else if after, err = jsonValue(c.After); err != nil {
			return nil, err
		}
		rows = append(rows, []any{ev.Position, i + 1, c.Field, before, after})
	}
	return rows, nil
}

// jsonValue is a change's value as JSON text, or NULL for none.
func jsonValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	data, err := leafJSON(v)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// leafJSON is json.Marshal(v) as a string, without the encoder for the
// common plain strings, booleans and numbers (most of a change's values).
func leafJSON(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		if plainJSONString(x) {
			return `"` + x + `"`, nil
		}
	case float64:
		// encoding/json writes a float64 with strconv's 'f' format unless
		// it is 0 < |x| < 1e-6 or |x| >= 1e21 ('e', with its own clean-up),
		// and fails on NaN and infinities: those go to the encoder.
		if a := math.Abs(x); x == 0 || a >= 1e-6 && a < 1e21 {
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	}
	data, err := json.Marshal(v)
	return string(data), err
}

// plainJSONString reports whether json.Marshal writes s between quotes as
// it is: printable ASCII, none of the characters it escapes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// changesFromNothing is the changes of an event of a stream without a
// replay: its data's fields from nothing, exactly as
// history.Diff(map[string]any{}, data) lists them (data other than an
// object as the field "data"), with each change's after_value (its JSON
// text, or NULL). It reads the data once with scanLeaves, without decoding
// it into maps; data scanLeaves leaves to it (not JSON, a key twice in an
// object, a path two ways, a number out of range, deep nesting) goes to
// changesFromNothingSlow, which gives its error or its changes.
func changesFromNothing(data []byte) ([]history.Change, []any, error) {
	if changes, values, ok := scanLeaves(data); ok {
		return changes, values, nil
	}
	return changesFromNothingSlow(data)
}

// changesFromNothingSlow is changesFromNothing by decoding the data into
// maps and walking them: the reference scanLeaves must equal, and the way
// for the data it does not take.
func changesFromNothingSlow(data []byte) ([]history.Change, []any, error) {
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	if _, ok := root.(map[string]any); !ok {
		root = map[string]any{"data": root}
	}
	type leaf struct {
		value any
		json  any // after_value
	}
	leaves := map[string]leaf{}
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 && path != "" {
				leaves[path] = leaf{value: x, json: "{}"}
			}
			for k, c := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if err := walk(p, c); err != nil {
					return err
				}
			}
		case []any:
			if len(x) == 0 {
				leaves[path] = leaf{value: x, json: "[]"}
			}
			for i, c := range x {
				if err := walk(path+"["+strconv.Itoa(i)+"]", c); err != nil {
					return err
				}
			}
		case nil:
			leaves[path] = leaf{}
		default:
			j, err := leafJSON(x)
			if err != nil {
				return err
			}
			leaves[path] = leaf{value: x, json: j}
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return nil, nil, err
	}
	keys := slices.Sorted(maps.Keys(leaves))
	changes := make([]history.Change, 0, len(keys))
	values := make([]any, 0, len(keys))
	for _, k := range keys {
		// (Diff leaves out an empty list or object only where it replaces
		// entries of the state before, and there is none here.)
		l := leaves[k]
		changes = append(changes, history.Change{Field: k, After: l.value})
		values = append(values, l.json)
	}
	return changes, values, nil
}

// scanLeaves is changesFromNothing (same changes, values and After) for
// JSON that has no key twice in an object, no path reached two ways (as
// {"a":{"b":1},"a.b":2}) and numbers in float64's range, from one pass
// over the bytes: plain strings and short integers are their own JSON
// text, the rest goes through leafJSON as before. ok is false, with
// nothing else, for any other data, valid or not.
func scanLeaves(data []byte) (changes []history.Change, values []any, ok bool) {
	p := leafScanPool.Get().(*leafScan)
	defer p.release()
	p.data = data
	p.ws()
	if p.i < len(data) && data[p.i] != '{' {
		p.path = append(p.path, "data"...)
	}
	if !p.value() {
		return nil, nil, false
	}
	if p.ws(); p.i != len(data) || len(p.buf) > math.MaxInt32 {
		return nil, nil, false
	}
	s := string(p.buf)
	order := p.order
	for i, l := range p.leaves {
		path := s[l.path0:l.path1]
		order = append(order, leafOrder{pathPrefix(path), path, i})
	}
	p.order = order
	if len(order) <= 16 {
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && order[j].compare(order[j-1]) < 0; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
	} else {
		slices.SortFunc(order, leafOrder.compare)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1].path == order[i].path {
			return nil, nil, false // a path two ways: which one wins is the map's order
		}
	}
	changes = make([]history.Change, len(order))
	values = make([]any, len(order))
	for i, o := range order {
		c, l := &changes[i], &p.leaves[o.leaf]
		c.Field = o.path
		switch l.kind {
		case leafNull:
		case leafTrue:
			c.After, values[i] = true, "true"
		case leafFalse:
			c.After, values[i] = false, "false"
		case leafNumber:
			c.After, values[i] = l.f, s[l.text0:l.text1]
		case leafString:
			c.After, values[i] = s[l.str0:l.str1], s[l.text0:l.text1]
		case leafEmptyObject:
			c.After, values[i] = map[string]any{}, "{}"
		case leafEmptyList:
			c.After, values[i] = []any{}, "[]"
		}
	}
	return changes, values, true
}

// leafScan is scanLeaves' state, reused through leafScanPool.
type leafScan struct {
	data   []byte
	i      int           // the next byte of data
	depth  int           // of objects and lists
	path   []byte        // the path of the value at i
	keys   [][]byte      // the keys of the objects being read, innermost last
	keyBuf []byte        // the keys that needed unquoting
	buf    []byte        // the leaves' paths and texts, one string at the end
	leaves []scannedLeaf // in the data's order
	order  []leafOrder   // the leaves by path
}

// leafOrder is a leaf's path and index, for sorting.
type leafOrder struct {
	prefix uint64 // pathPrefix(path)
	path   string
	leaf   int
}

// compare orders by path, in byte order.
func (a leafOrder) compare(b leafOrder) int {
	if a.prefix != b.prefix {
		return cmp.Compare(a.prefix, b.prefix)
	}
	return strings.Compare(a.path, b.path)
}

// pathPrefix is the first 8 bytes of path, big-endian, padded with zeros:
// of two paths, the one first in byte order has no larger prefix.
func pathPrefix(path string) uint64 {
	var b [8]byte
	copy(b[:], path)
	return binary.BigEndian.Uint64(b[:])
}

// scannedLeaf is a leaf of the data: its path and its texts as offsets in
// leafScan.buf.
type scannedLeaf struct {
	kind         leafKind
	path0, path1 int32
	text0, text1 int32   // after_value: a number's or string's JSON text
	str0, str1   int32   // a string's value
	f            float64 // a number's value
}

type leafKind uint8

const (
	leafNull leafKind = iota
	leafTrue
	leafFalse
	leafNumber
	leafString
	leafEmptyObject
	leafEmptyList
)

// maxLeafScanDepth is the nesting scanLeaves reads; deeper data goes to
// the slow way (encoding/json's own limit is 10,000).
const maxLeafScanDepth = 1000

var leafScanPool = sync.Pool{New: func() any { return new(leafScan) }}

func (p *leafScan) release() {
	if cap(p.buf) > 1<<16 || cap(p.keyBuf) > 1<<16 || cap(p.leaves) > 1<<12 || cap(p.keys) > 1<<12 || cap(p.order) > 1<<12 {
		return // no large buffers kept for the next small event
	}
	clear(p.keys[:cap(p.keys)]) // no data kept alive either
	clear(p.order)
	*p = leafScan{path: p.path[:0], keys: p.keys[:0], keyBuf: p.keyBuf[:0], buf: p.buf[:0], leaves: p.leaves[:0], order: p.order[:0]}
	leafScanPool.Put(p)
}

// ws skips JSON whitespace.
func (p *leafScan) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// leaf adds a leaf at the current path.
func (p *leafScan) leaf(l scannedLeaf) {
	l.path0 = int32(len(p.buf))
	p.buf = append(p.buf, p.path...)
	l.path1 = int32(len(p.buf))
	p.leaves = append(p.leaves, l)
}

// value reads the value at i (after whitespace), whose path is p.path.
func (p *leafScan) value() bool {
	if p.i >= len(p.data) {
		return false
	}
	switch c := p.data[p.i]; c {
	case '{':
		return p.object()
	case '[':
		return p.list()
	case '"':
		return p.stringLeaf()
	case 't':
		return p.literal("true", leafTrue)
	case 'f':
		return p.literal("false", leafFalse)
	case 'n':
		return p.literal("null", leafNull)
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return p.number()
		}
		return false
	}
}

func (p *leafScan) literal(word string, kind leafKind) bool {
	if string(p.data[p.i:min(p.i+len(word), len(p.data))]) != word {
		return false
	}
	p.i += len(word)
	p.leaf(scannedLeaf{kind: kind})
	return true
}

func (p *leafScan) object() bool {
	p.i++ // {
	if p.ws(); p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		if len(p.path) > 0 { // (the walk's root, or a key "" below it, has none)
			p.leaf(scannedLeaf{kind: leafEmptyObject})
		}
		return true
	}
	if p.depth++; p.depth > maxLeafScanDepth {
		return false
	}
	path0, keys0 := len(p.path), len(p.keys)
	var seen map[string]bool // the keys, for an object of many
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return false
		}
		key, ok := p.key()
		if !ok {
			return false
		}
		// encoding/json keeps the last value of a key, in place of all of
		// the first one's subtree: that is for the slow way.
		if keys := p.keys[keys0:]; len(keys) < 16 {
			for _, k := range keys {
				if string(k) == string(key) {
					return false
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]bool, 2*len(keys))
				for _, k := range keys {
					seen[string(k)] = true
				}
			}
			if seen[string(key)] {
				return false
			}
			seen[string(key)] = true
		}
		p.keys = append(p.keys, key)
		if p.ws(); p.i >= len(p.data) || p.data[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		if path0 > 0 {
			p.path = append(p.path, '.')
		}
		p.path = append(p.path, key...)
		if !p.value() {
			return false
		}
		p.path = p.path[:path0]
		if p.ws(); p.i >= len(p.data) {
			return false
		}
		switch p.data[p.i] {
		case ',':
			p.i++
			p.ws()
		case '}':
			p.i++
			clear(p.keys[keys0:])
			p.keys = p.keys[:keys0]
			p.depth--
			return true
		default:
			return false
		}
	}
}

func (p *leafScan) list() bool {
	p.i++ // [
	if p.ws(); p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		p.leaf(scannedLeaf{kind: leafEmptyList})
		return true
	}
	if p.depth++; p.depth > maxLeafScanDepth {
		return false
	}
	path0 := len(p.path)
	for n := 0; ; n++ {
		p.path = append(p.path, '[')
		p.path = strconv.AppendInt(p.path, int64(n), 10)
		p.path = append(p.path, ']')
		if !p.value() {
			return false
		}
		p.path = p.path[:path0]
		if p.ws(); p.i >= len(p.data) {
			return false
		}
		switch p.data[p.i] {
		case ',':
			p.i++
			p.ws()
		case ']':
			p.i++
			p.depth--
			return true
		default:
			return false
		}
	}
}

// Classes of a byte in a JSON string, for scanString.
const (
	strPlain   = iota // written as it is by json.Marshal
	strQuote          // the end
	strEscape         // a backslash
	strControl        // not allowed in JSON
	strASCII          // other ASCII not plainJSONString: <, >, & and DEL
	strHigh           // part of a UTF-8 sequence, or not UTF-8
)

var strClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < 0x20:
			t[c] = strControl
		case c == '"':
			t[c] = strQuote
		case c == '\\':
			t[c] = strEscape
		case c == '<', c == '>', c == '&', c == 0x7f:
			t[c] = strASCII
		case c >= 0x80:
			t[c] = strHigh
		}
	}
	return t
}()

// scanString reads the string at i, the quote: raw is what is between the
// quotes, plain if it is its own value and json.Marshal writes it as it
// is, and verbatim if it is its own value (no escapes, valid UTF-8) but
// may need escaping in JSON. Otherwise the string needs unquoting, and
// appendUnquoted checks its escapes.
func (p *leafScan) scanString() (raw []byte, plain, verbatim, ok bool) {
	start := p.i + 1
	plain, escaped, high := true, false, false
	for i := start; i < len(p.data); i++ {
		switch strClass[p.data[i]] {
		case strPlain:
		case strQuote:
			p.i = i + 1
			raw = p.data[start:i]
			return raw, plain, !escaped && (!high || utf8.Valid(raw)), true
		case strEscape:
			plain, escaped = false, true
			i++ // the escaped byte, so that \" is not the end
		case strControl:
			return nil, false, false, false
		case strASCII:
			plain = false
		case strHigh:
			plain, high = false, true
		}
	}
	return nil, false, false, false
}

// appendUnquoted appends the value of the JSON string whose text between
// the quotes is raw (from scanString) as encoding/json decodes it: its
// escapes, a UTF-16 surrogate pair as one rune, and U+FFFD for a lone
// surrogate and for bytes that are not UTF-8 (encoding/json's unquote).
// ok is false for an escape JSON does not have.
func appendUnquoted(dst, raw []byte) (_ []byte, ok bool) {
	for r := 0; r < len(raw); {
		switch c := raw[r]; {
		case c == '\\':
			if r+1 >= len(raw) {
				return dst, false
			}
			switch e := raw[r+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(raw[r:])
				if rr < 0 {
					return dst, false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if pair := utf16.DecodeRune(rr, getu4(raw[r:])); pair != unicode.ReplacementChar {
						rr = pair
						r += 6
					} else {
						rr = unicode.ReplacementChar
					}
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default:
				return dst, false
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst, true
}

// getu4 is the rune of the escape \uXXXX that s starts with, or -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// key reads the object key at i: its value, in data or in keyBuf.
func (p *leafScan) key() ([]byte, bool) {
	raw, _, verbatim, ok := p.scanString()
	if !ok || verbatim {
		return raw, ok
	}
	k0 := len(p.keyBuf)
	p.keyBuf, ok = appendUnquoted(p.keyBuf, raw)
	return p.keyBuf[k0:len(p.keyBuf):len(p.keyBuf)], ok
}

func (p *leafScan) stringLeaf() bool {
	start := p.i
	raw, plain, verbatim, ok := p.scanString()
	if !ok {
		return false
	}
	l := scannedLeaf{kind: leafString}
	if plain {
		l.text0 = int32(len(p.buf))
		p.buf = append(p.buf, p.data[start:p.i]...)
		l.text1 = int32(len(p.buf))
		l.str0, l.str1 = l.text0+1, l.text1-1
		p.leaf(l)
		return true
	}
	l.str0 = int32(len(p.buf))
	if verbatim {
		p.buf = append(p.buf, raw...)
	} else if p.buf, ok = appendUnquoted(p.buf, raw); !ok {
		return false
	}
	l.str1 = int32(len(p.buf))
	text, err := leafJSON(string(p.buf[l.str0:l.str1]))
	if err != nil {
		return false
	}
	l.text0 = int32(len(p.buf))
	p.buf = append(p.buf, text...)
	l.text1 = int32(len(p.buf))
	p.leaf(l)
	return true
}

// number reads the number at i: JSON's grammar, then strconv.ParseFloat
// as encoding/json decodes it into any (out of range is an error there).
func (p *leafScan) number() bool {
	d := p.data
	start, i := p.i, p.i
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for ; i < len(d) && '0' <= d[i] && d[i] <= '9'; i++ {
			n++
		}
		return n
	}
	var intDigits int
	switch {
	case i < len(d) && d[i] == '0':
		i++
		intDigits = 1
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		intDigits = digits()
	default:
		return false
	}
	integer := true
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
		integer = false
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
		integer = false
	}
	p.i = i
	lit := d[start:i]
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return false
	}
	l := scannedLeaf{kind: leafNumber, f: f, text0: int32(len(p.buf))}
	switch a := math.Abs(f); {
	case integer && intDigits <= 15:
		// An integer below 10^15 is exact in a float64 and its shortest
		// form is its digits: json.Marshal writes it as it is (-0 too).
		p.buf = append(p.buf, lit...)
	case f == 0 || a >= 1e-6 && a < 1e21: // as leafJSON
		p.buf = strconv.AppendFloat(p.buf, f, 'f', -1, 64)
	default:
		text, err := leafJSON(f)
		if err != nil {
			return false
		}
		p.buf = append(p.buf, text...)
	}
	l.text1 = int32(len(p.buf))
	p.leaf(l)
	return true
}

// scope records the organisations whose Approvers see the stream, and a
// user's name for showing them as an actor.
func (b *auditBatch) scope(ev eventstore.Event, s *auditStream, orgBefore string) {
	switch agg := s.folder.Aggregate().(type) {
	case *location.Location:
		if agg.OrganisationID != "" && agg.OrganisationID != orgBefore {
			b.orgs[[2]string{ev.StreamID, agg.OrganisationID}] = true
		}
	case *location.Organisation:
		if ev.Version == 1 {
			b.orgs[[2]string{ev.StreamID, projections.StreamEntity(ev.StreamID)}] = true
		}
	case *account.User:
		login := "login-" + projections.StreamEntity(ev.StreamID)
		for _, o := range userOrganisations(agg) {
			b.orgs[[2]string{ev.StreamID, o}] = true
			b.orgs[[2]string{login, o}] = true
		}
		b.users[projections.StreamEntity(ev.StreamID)] = []any{projections.StreamEntity(ev.StreamID), agg.Email, agg.FullName, string(agg.Kind)}
	default:
		// A location's daily updates and survey answers: its organisation.
		if ev.Version != 1 {
			return
		}
		if o := locationOrganisation(b.folders[location.LocationStream(locationOf(ev.StreamID))]); o != "" {
			b.orgs[[2]string{ev.StreamID, o}] = true
		}
	}
}

// locationOrganisation is the organisation of a location stream's fold,
// or "".
func locationOrganisation(s *auditStream) string {
	if s == nil {
		return ""
	}
	if l, ok := s.folder.Aggregate().(*location.Location); ok {
		return l.OrganisationID
	}
	return ""
}

// userOrganisations lists the organisations a user has access to, asked
// for, or (a generic account) belongs to.
func userOrganisations(u *account.User) []string {
	set := map[string]bool{}
	if u.HomeOrganisation != "" {
		set[u.HomeOrganisation] = true
	}
	for _, o := range u.Locations {
		set[o] = true
	}
	for _, r := range u.Requests {
		for o := range r.Parts {
			set[o] = true
		}
	}
	out := make([]string, 0, len(set))
	for o := range set {
		if o != "" {
			out = append(out, o)
		}
	}
	sort.Strings(out)
	return out
}

var (
	auditEventColumns = []string{"position", "event_id", "stream_id", "stream_version", "event_type", "recorded_at",
		"entity_type", "entity_id", "location_id", "actor_user_id", "actor_account_kind", "session_id", "client_ip",
		"user_agent", "command", "correlation_id", "bulk_upload_id", "summary", "change_count"}
	auditChangeColumns = []string{"position", "seq", "field", "before_value", "after_value"}
)

func (b *auditBatch) write(ctx context.Context) error {
	if err := projections.InsertRows(ctx, b.tx, b.table(EventsTable), auditEventColumns, "", b.events); err != nil {
		return err
	}
	if err := projections.InsertRows(ctx, b.tx, b.table(ChangesTable), auditChangeColumns, "", b.changes); err != nil {
		return err
	}
	orgs := make([][]any, 0, len(b.orgs))
	for k := range b.orgs {
		orgs = append(orgs, []any{k[0], k[1]})
	}
	sortRows(orgs)
	if err := projections.InsertRows(ctx, b.tx, b.table(EntityOrgsTable), []string{"stream_id", "organisation_id"},
		"ON CONFLICT (organisation_id, stream_id) DO NOTHING", orgs); err != nil {
		return err
	}
	users := make([][]any, 0, len(b.users))
	for _, u := range b.users {
		users = append(users, u)
	}
	sortRows(users)
	userCols := []string{"user_id", "email", "full_name", "kind"}
	if err := projections.InsertRows(ctx, b.tx, b.table(UsersTable), userCols,
		"ON CONFLICT (user_id) DO UPDATE SET "+projections.ReplaceAll(userCols, 1), users); err != nil {
		return err
	}
	subjects := make([][]any, 0, len(b.subjects))
	for k := range b.subjects {
		subjects = append(subjects, []any{k[0], k[1]})
	}
	sortRows(subjects)
	if err := projections.InsertRows(ctx, b.tx, b.table(SubjectsTable), []string{"subject", "stream_id"},
		"ON CONFLICT (subject, stream_id) DO NOTHING", subjects); err != nil {
		return err
	}
	if err := b.flushHours(ctx); err != nil {
		return err
	}
	var snaps [][]any
	for id, s := range b.folders {
		if s == nil || !s.dirty {
			continue
		}
		data, err := s.folder.Snapshot()
		if err != nil {
			return fmt.Errorf("snapshot of %s: %w", id, err)
		}
		snaps = append(snaps, []any{id, string(data)})
	}
	sortRows(snaps)
	return projections.InsertRows(ctx, b.tx, b.table(StateTable), []string{"stream_id", "snapshot"},
		"ON CONFLICT (stream_id) DO UPDATE SET snapshot = excluded.snapshot", snaps)
}

// sortRows orders rows by their first two (string) columns, so that a
// batch writes in the same order however Go's maps iterate.
func sortRows(rows [][]any) {
	key := func(r []any) string {
		k := r[0].(string)
		if len(r) > 1 {
			if s, ok := r[1].(string); ok {
				k += "\x00" + s
			}
		}
		return k
	}
	sort.Slice(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
}

// flushHours records the batch's positions by hour in audit_hours without
// rewriting the latest hour's row for every event: live delivery applies one
// event per batch, and updating one row per event left thousands of dead
// versions of it for each upsert to step over (the whole view fell to about
// 100 events/s on PostgreSQL). The latest hour's max_position is therefore
// left as it was first written, and queries treat the latest hour as open
// ended (Filter.conditions). When a newer hour starts, the
// previous latest one is closed at the position before the new hour's first:
// events are applied in position order, so every event of it applied so far
// lies below that. An hour other than the latest (an event recorded late, or
// an hour followed by another in the same batch) keeps its exact range.
func (b *auditBatch) flushHours(ctx context.Context) error {
	d := b.tx.Dialect()
	least, greatest := "LEAST", "GREATEST"
	if d == projections.SQLite {
		least, greatest = "MIN", "MAX"
	}
	ht := b.table(HoursTable)
	hours := slices.Sorted(maps.Keys(b.hours))
	for i, h := range hours {
		r, hour := b.hours[h], d.Time(time.Unix(h, 0))
		if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %[1]s SET max_position = %[2]s(max_position, ?)
			WHERE hour = (SELECT max(hour) FROM %[1]s) AND hour < ?`, ht, greatest), r[0]-1, hour); err != nil {
			return fmt.Errorf("close the latest hour: %w", err)
		}
		query := fmt.Sprintf(`INSERT INTO %[3]s (hour, min_position, max_position) VALUES (?, ?, ?)
			ON CONFLICT (hour) DO UPDATE SET min_position = %[1]s(%[3]s.min_position, excluded.min_position),
			max_position = %[2]s(%[3]s.max_position, ?)`, least, greatest, ht)
		inserted := r[1]
		if i == len(hours)-1 {
			// The batch's newest hour is left alone while it is the latest,
			// and a new latest hour is written with its first position as
			// its highest: the same row whether its events came one batch
			// at a time (live) or together (a rebuild).
			query += fmt.Sprintf(` WHERE %[1]s.hour < (SELECT max(hour) FROM %[1]s) OR excluded.min_position < %[1]s.min_position`, ht)
			inserted = r[0]
		}
		if _, err := b.tx.ExecContext(ctx, query, hour, r[0], inserted, r[1]); err != nil {
			return fmt.Errorf("record the hour's positions: %w", err)
		}
	}
	return nil
}
