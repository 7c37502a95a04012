package projections_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// eventRows writes one row per event with insertRows' plain inserts, the
// way the audit view writes its events and changes: COPY on PostgreSQL. An
// event of type Broken gives a row that breaks a NOT NULL constraint, so
// the whole COPY (or INSERT) of its batch fails in the database.
type eventRows struct {
	copied    atomic.Int64 // batches written where COPY was possible
	notCopied atomic.Int64 // batches of CopyMinRows or more where it was not
}

func (p *eventRows) Name() string     { return "event_rows" }
func (p *eventRows) Tables() []string { return []string{"event_rows"} }

func (p *eventRows) Schema(d projections.Dialect, table func(string) string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE %s (
    position    BIGINT  PRIMARY KEY,
    event_type  TEXT    NOT NULL,
    recorded_at %s      NOT NULL,
    seq         INTEGER NOT NULL,
    note        TEXT
)`, table("event_rows"), d.TimestampType())}
}

func (p *eventRows) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	return p.ApplyBatch(ctx, tx, table, []eventstore.Event{ev})
}

func (p *eventRows) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	rows := make([][]any, len(evs))
	for i, ev := range evs {
		var typ any = ev.Type
		if ev.Type == "Broken" {
			typ = nil
		}
		rows[i] = []any{ev.Position, typ, tx.Dialect().Time(ev.RecordedAt), len(ev.Data), eventNote(ev.Position)}
	}
	if len(evs) >= projections.CopyMinRows {
		if projections.CanCopy(tx) {
			p.copied.Add(1)
		} else {
			p.notCopied.Add(1)
		}
	}
	return projections.InsertRows(ctx, tx, table("event_rows"),
		[]string{"position", "event_type", "recorded_at", "seq", "note"}, rows)
}

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
	seq  int
	note any
}

func readEventRows(t *testing.T, db *sql.DB) map[int64]eventRow {
	t.Helper()
	rows, err := db.Query(`SELECT position, event_type, recorded_at, seq, note FROM event_rows`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]eventRow{}
	for rows.Next() {
		var pos int64
		var r eventRow
		var at projections.Timestamp
		var note sql.NullString
		if err := rows.Scan(&pos, &r.typ, &at, &r.seq, &note); err != nil {
			t.Fatal(err)
		}
		r.at = at.Time.Truncate(time.Microsecond) // PostgreSQL's precision
		if note.Valid {
			r.note = note.String
		}
		out[pos] = r
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
		want := eventRow{typ: ev.Type, at: ev.RecordedAt.UTC().Truncate(time.Microsecond), seq: len(ev.Data), note: eventNote(ev.Position)}
		if !ok || r.typ != want.typ || !r.at.Equal(want.at) || r.seq != want.seq || r.note != want.note {
			t.Fatalf("%s: row of event %d = %+v (present %v), want %+v", when, ev.Position, r, ok, want)
		}
	}
	if len(got) != n {
		t.Errorf("%s: %d rows, want %d", when, len(got), n)
	}
}

// Plain inserts go through COPY on PostgreSQL, live and in a rebuild, with
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
		checkCopies := func(when string) {
			t.Helper()
			copied, notCopied := p.copied.Swap(0), p.notCopied.Swap(0)
			if strings.HasPrefix(t.Name(), "TestEngine_PlainInsertsCopyOnPostgresAndFailedCopySplits/postgres") {
				if copied == 0 || notCopied != 0 {
					t.Errorf("%s: %d batches could COPY and %d could not, want every one to", when, copied, notCopied)
				}
			} else if copied != 0 || notCopied == 0 {
				t.Errorf("%s: %d batches could COPY and %d could not, want none to", when, copied, notCopied)
			}
		}
		checkCopies("live")
		if positions, _ := readPoison(t, h.db, "event_rows"); fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) {
			t.Errorf("live: poison records at %v, want only the Broken event at %d", positions, broken)
		}

		if err := e.Rebuild(context.Background(), "event_rows", nil); err != nil {
			t.Fatal(err)
		}
		assertEventRows(t, h, "rebuild")
		checkCopies("rebuild")
		if positions, _ := readPoison(t, h.db, "event_rows"); fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) {
			t.Errorf("rebuild: poison records at %v, want only the Broken event at %d", positions, broken)
		}
	})
}
