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
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

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
