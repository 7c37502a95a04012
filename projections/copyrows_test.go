package projections_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// eventRows writes ten rows per event (seq 1-10) with insertRows' plain
// inserts, the way the audit view writes its events' changes: COPY on
// PostgreSQL for a batch of CopyMinRows rows or more. An
// event of type Broken gives a row that breaks a NOT NULL constraint, so
// the whole COPY (or INSERT) of its batch fails in the database.
type eventRows struct {
	copied    atomic.Int64 // batches written where COPY was possible
	notCopied atomic.Int64 // batches of CopyMinRows or more where it was not
	// failedCopies counts the batches with a Broken event written where
	// COPY was possible: the COPY's own failure.
	failedCopies atomic.Int64
}

func (p *eventRows) Name() string     { return "event_rows" }
func (p *eventRows) Tables() []string { return []string{"event_rows"} }

func (p *eventRows) Schema(d projections.Dialect, table func(string) string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE %s (
    position    BIGINT  NOT NULL,
    seq         INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    recorded_at %s      NOT NULL,
    size        INTEGER NOT NULL,
    note        TEXT,
    PRIMARY KEY (position, seq)
)`, table("event_rows"), d.TimestampType())}
}

func (p *eventRows) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	return p.ApplyBatch(ctx, tx, table, []eventstore.Event{ev})
}

func (p *eventRows) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	rows := make([][]any, 0, eventRowsEach*len(evs))
	for _, ev := range evs {
		var typ any = ev.Type
		if ev.Type == "Broken" {
			typ = nil
		}
		for seq := 1; seq <= eventRowsEach; seq++ {
			rows = append(rows, []any{ev.Position, seq, typ, tx.Dialect().Time(ev.RecordedAt), len(ev.Data), eventNote(ev.Position)})
		}
	}
	if len(rows) >= projections.CopyMinRows {
		if projections.CanCopy(tx) {
			p.copied.Add(1)
			if slices.ContainsFunc(evs, func(ev eventstore.Event) bool { return ev.Type == "Broken" }) {
				p.failedCopies.Add(1)
			}
		} else {
			p.notCopied.Add(1)
		}
	}
	return projections.InsertRows(ctx, tx, table("event_rows"),
		[]string{"position", "seq", "event_type", "recorded_at", "size", "note"}, "", rows)
}

const eventRowsEach = 10

// eventNote is NULL for every third event, and otherwise text that needs
// escaping in every format: quotes, a backslash, a tab, a newline, a
// non-ASCII letter.
func eventNote(position int64) any {
	if position%3 == 0 {
		return nil
	}
	return fmt.Sprintf("it's \"%d\"\t\\ é\n", position)
}

type eventRow struct {
	typ  string
	at   time.Time
	size int
	note any
}

// readEventRows reads event_rows by position: each position's rows must
// be the same but for seq, and seq 1-10.
func readEventRows(t *testing.T, db *sql.DB) map[int64]eventRow {
	t.Helper()
	rows, err := db.Query(`SELECT position, seq, event_type, recorded_at, size, note FROM event_rows`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]eventRow{}
	seqs := map[int64]int{}
	for rows.Next() {
		var pos int64
		var seq int
		var r eventRow
		var at projections.Timestamp
		var note sql.NullString
		if err := rows.Scan(&pos, &seq, &r.typ, &at, &r.size, &note); err != nil {
			t.Fatal(err)
		}
		r.at = at.Time.Truncate(time.Microsecond) // PostgreSQL's precision
		if note.Valid {
			r.note = note.String
		}
		if prev, ok := out[pos]; ok && prev != r {
			t.Fatalf("event %d's rows differ: %+v and %+v", pos, prev, r)
		}
		out[pos] = r
		seqs[pos] += seq
	}
	for pos, sum := range seqs {
		if sum != eventRowsEach*(eventRowsEach+1)/2 {
			t.Fatalf("event %d's rows have seq adding up to %d, want 1-%d", pos, sum, eventRowsEach)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertEventRows checks that event_rows holds a row for every event of
// the log but the Broken ones, with the values written.
func assertEventRows(t *testing.T, h *harness, when string) {
	t.Helper()
	got := readEventRows(t, h.db)
	n := 0
	for _, ev := range readAll(t, h) {
		r, ok := got[ev.Position]
		if ev.Type == "Broken" {
			if ok {
				t.Errorf("%s: the Broken event at %d has a row", when, ev.Position)
			}
			continue
		}
		n++
		want := eventRow{typ: ev.Type, at: ev.RecordedAt.UTC().Truncate(time.Microsecond), size: len(ev.Data), note: eventNote(ev.Position)}
		if !ok || r.typ != want.typ || !r.at.Equal(want.at) || r.size != want.size || r.note != want.note {
			t.Fatalf("%s: row of event %d = %+v (present %v), want %+v", when, ev.Position, r, ok, want)
		}
	}
	if len(got) != n {
		t.Errorf("%s: %d rows, want %d", when, len(got), n)
	}
}

// isPostgres reports whether t is eachBackend's run on PostgreSQL.
func isPostgres(t *testing.T) bool { return strings.HasSuffix(t.Name(), "/postgres") }

// Large plain inserts go through COPY on PostgreSQL, live and in a rebuild, with
// the same rows as the INSERTs on SQLite; a batch whose COPY fails in the
// database is undone and split like any failing batch, so only the bad
// event is poison.
func TestEngine_PlainInsertsCopyOnPostgresAndFailedCopySplits(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		p := &eventRows{}
		e, err := projections.NewEngine(h.backend, quietLogger(), p)
		if err != nil {
			t.Fatal(err)
		}
		appendBulk(t, h.store, 600, "Fine", "AlsoFine")
		broken := appendEvents(t, h.store, 1, "Broken")
		pos := appendBulk(t, h.store, 600, "Fine")
		waitForHead(t, h, pos)
		stop := run(t, e)
		catchUp(t, h, e)
		assertEventRows(t, h, "live")
		stop()
		// A live batch of CopyMinRows rows depends on how far behind the
		// engine falls; a rebuild's batches are that large (1,000 events
		// on SQLite, 5,000 on PostgreSQL).
		checkCopies := func(when string, large bool) {
			t.Helper()
			copied, notCopied := p.copied.Swap(0), p.notCopied.Swap(0)
			if isPostgres(t) {
				if notCopied != 0 || large && copied == 0 {
					t.Errorf("%s: %d large batches could COPY and %d could not, want every one to", when, copied, notCopied)
				}
			} else if copied != 0 || large && notCopied == 0 {
				t.Errorf("%s: %d large batches could COPY and %d could not, want none to", when, copied, notCopied)
			}
		}
		checkCopies("live", false)
		if positions, _ := readPoison(t, h.db, "event_rows"); fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) {
			t.Errorf("live: poison records at %v, want only the Broken event at %d", positions, broken)
		}

		if err := e.Rebuild(context.Background(), "event_rows", nil); err != nil {
			t.Fatal(err)
		}
		assertEventRows(t, h, "rebuild")
		// The rebuild's one batch holds the Broken event: on PostgreSQL
		// its COPY failed before the batch was split.
		if failed := p.failedCopies.Load(); (failed > 0) != isPostgres(t) {
			t.Errorf("%d batches with the Broken event were copied", failed)
		}
		checkCopies("rebuild", true)
		if positions, _ := readPoison(t, h.db, "event_rows"); fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) {
			t.Errorf("rebuild: poison records at %v, want only the Broken event at %d", positions, broken)
		}
	})
}
