package projections_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// schemaProbe counts events per type. Its schema changes with its fields, as
// it would between two releases: extra adds a column (the position of the
// type's last event), seen adds a table (the event ids seen).
type schemaProbe struct {
	extra bool
	seen  bool
}

func (p *schemaProbe) Name() string { return "schema_probe" }

func (p *schemaProbe) Tables() []string {
	if p.seen {
		return []string{"schema_probe", "schema_probe_seen"}
	}
	return []string{"schema_probe"}
}

func (p *schemaProbe) Schema(d projections.Dialect, table func(string) string) []string {
	cols := "event_type TEXT PRIMARY KEY, n BIGINT NOT NULL"
	if p.extra {
		cols += ", last_position BIGINT NOT NULL"
	}
	out := []string{
		fmt.Sprintf(`CREATE TABLE %s (%s)`, table("schema_probe"), cols),
		fmt.Sprintf(`CREATE INDEX %s_n ON %s (n)`, table("schema_probe"), table("schema_probe")),
	}
	if p.seen {
		out = append(out, fmt.Sprintf(`CREATE TABLE %s (event_id TEXT PRIMARY KEY)`, table("schema_probe_seen")))
	}
	return out
}

func (p *schemaProbe) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	t := table("schema_probe")
	var err error
	if p.extra {
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (event_type, n, last_position) VALUES (?, 1, ?)
			ON CONFLICT (event_type) DO UPDATE SET n = %[1]s.n + 1, last_position = excluded.last_position`, t), ev.Type, ev.Position)
	} else {
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (event_type, n) VALUES (?, 1)
			ON CONFLICT (event_type) DO UPDATE SET n = %[1]s.n + 1`, t), ev.Type)
	}
	if err != nil || !p.seen {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (event_id) VALUES (?)`, table("schema_probe_seen")), ev.ID.String())
	return err
}

// probeRow is a row of schema_probe (last is -1 without the extra column).
type probeRow struct{ n, last int64 }

func readProbe(t *testing.T, h *harness, extra bool) map[string]probeRow {
	t.Helper()
	q := `SELECT event_type, n, -1 FROM schema_probe`
	if extra {
		q = `SELECT event_type, n, last_position FROM schema_probe`
	}
	rows, err := h.db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]probeRow{}
	for rows.Next() {
		var k string
		var r probeRow
		if err := rows.Scan(&k, &r.n, &r.last); err != nil {
			t.Fatal(err)
		}
		out[k] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scratchProbe is schema_probe built from scratch over the log.
func scratchProbe(evs []eventstore.Event, extra bool) map[string]probeRow {
	out := map[string]probeRow{}
	for _, ev := range evs {
		r := out[ev.Type]
		r.n++
		r.last = -1
		if extra {
			r.last = ev.Position
		}
		out[ev.Type] = r
	}
	return out
}

// insertMarker adds a row no event produces: it survives a start only when
// the start leaves the table alone.
func insertMarker(t *testing.T, h *harness, extra bool) {
	t.Helper()
	q := `INSERT INTO schema_probe (event_type, n) VALUES ('marker', -1)`
	if extra {
		q = `INSERT INTO schema_probe (event_type, n, last_position) VALUES ('marker', -1, -1)`
	}
	if _, err := h.db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// insertOldPoison records a poison event that a rebuild from the start must
// clear.
func insertOldPoison(t *testing.T, h *harness) {
	t.Helper()
	if _, err := h.db.Exec(`INSERT INTO projection_poison (projection, position, event_id, event_type, error, failed_at)
		VALUES ('schema_probe', 1, '00000000-0000-0000-0000-000000000001', 'A', 'old failure', '2024-01-01T00:00:00.000000Z')`); err != nil {
		t.Fatal(err)
	}
}

func storedSchemaHash(t *testing.T, h *harness) (string, bool) {
	t.Helper()
	var s *string
	if err := h.db.QueryRow(`SELECT schema_hash FROM projection_checkpoints WHERE name = 'schema_probe'`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return "", false
	}
	return *s, true
}

// logBuffer collects the engine's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const schemaChangedMsg = "read model schema changed: rebuilding from the start of the log"

// rebuiltFromSchema counts the schema-change rebuilds of schema_probe in a log.
func rebuiltFromSchema(logs *logBuffer) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, schemaChangedMsg) && strings.Contains(line, "projection=schema_probe") {
			n++
		}
	}
	return n
}

// startProbe runs an engine with p until it has applied the whole log and
// returns its log and a function that stops it.
func startProbe(t *testing.T, h *harness, p *schemaProbe) (*logBuffer, func()) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := projections.NewEngine(h.backend, logger, p)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, e)
	catchUp(t, h, e)
	assertCheckpointAtHead(t, h, e)
	return logs, stop
}

func assertCheckpointAtHead(t *testing.T, h *harness, e *projections.Engine) {
	t.Helper()
	st, err := e.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if head := maxPosition(t, h); len(st) != 1 || st[0].Checkpoint != head || st[0].Checkpoint != st[0].Head {
		t.Errorf("status %+v, want the checkpoint at the head %d", st, head)
	}
}

func assertProbeMatchesLog(t *testing.T, h *harness, extra bool, marker bool) {
	t.Helper()
	want := scratchProbe(readAll(t, h), extra)
	if marker {
		want["marker"] = probeRow{n: -1, last: -1}
	}
	if got := readProbe(t, h, extra); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schema_probe = %v,\nwant %v", got, want)
	}
}

func TestSchema_ChangeRebuildsFromTheLogOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		appendEvents(t, h.store, 300, "A", "B", "C")
		logs, stop := startProbe(t, h, &schemaProbe{})
		stop()
		assertProbeMatchesLog(t, h, false, false)
		if rebuiltFromSchema(logs) != 0 {
			t.Errorf("a fresh database logged a schema change:\n%s", logs)
		}
		v1, ok := storedSchemaHash(t, h)
		if !ok || len(v1) != 32 {
			t.Fatalf("stored schema hash %q (set: %v), want 32 hex digits", v1, ok)
		}
		insertMarker(t, h, false)
		insertOldPoison(t, h)
		appendEvents(t, h.store, 100, "A", "D")

		// A new release adds a column: the table is created again and
		// filled from the start of the log.
		logs, stop = startProbe(t, h, &schemaProbe{extra: true})
		assertProbeMatchesLog(t, h, true, false)
		if n := rebuiltFromSchema(logs); n != 1 {
			t.Errorf("logged %d schema-change rebuilds, want 1:\n%s", n, logs)
		}
		if positions, _ := readPoison(t, h.db, "schema_probe"); len(positions) != 0 {
			t.Errorf("poison records %v survived the rebuild", positions)
		}
		v2, _ := storedSchemaHash(t, h)
		if v2 == v1 || len(v2) != 32 {
			t.Errorf("stored schema hash %q after the change, was %q", v2, v1)
		}
		insertMarker(t, h, true)
		stop()

		// The same schema again: the table stays as it is.
		appendEvents(t, h.store, 50, "B", "E")
		logs, stop = startProbe(t, h, &schemaProbe{extra: true})
		defer stop()
		assertProbeMatchesLog(t, h, true, true)
		if n := rebuiltFromSchema(logs); n != 0 {
			t.Errorf("an unchanged schema was rebuilt:\n%s", logs)
		}
	})
}

func TestSchema_NullFingerprintRebuildsOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		appendEvents(t, h.store, 200, "A", "B")
		_, stop := startProbe(t, h, &schemaProbe{extra: true})
		stop()
		// A database from before fingerprints: same tables, no hash.
		if _, err := h.db.Exec(`UPDATE projection_checkpoints SET schema_hash = NULL WHERE name = 'schema_probe'`); err != nil {
			t.Fatal(err)
		}
		insertMarker(t, h, true)
		appendEvents(t, h.store, 50, "C")

		logs, stop := startProbe(t, h, &schemaProbe{extra: true})
		assertProbeMatchesLog(t, h, true, false)
		if n := rebuiltFromSchema(logs); n != 1 {
			t.Errorf("logged %d schema-change rebuilds, want 1:\n%s", n, logs)
		}
		if _, ok := storedSchemaHash(t, h); !ok {
			t.Errorf("no schema hash stored after the rebuild")
		}
		insertMarker(t, h, true)
		stop()

		logs, stop = startProbe(t, h, &schemaProbe{extra: true})
		defer stop()
		assertProbeMatchesLog(t, h, true, true)
		if n := rebuiltFromSchema(logs); n != 0 {
			t.Errorf("rebuilt again after the hash was stored:\n%s", logs)
		}
	})
}

func TestSchema_AddedTableRebuildsAndMissingTableFails(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		appendEvents(t, h.store, 100, "A", "B")
		_, stop := startProbe(t, h, &schemaProbe{})
		stop()

		// A new table is a schema change too, not a damaged read model.
		appendEvents(t, h.store, 20, "C")
		logs, stop := startProbe(t, h, &schemaProbe{seen: true})
		stop()
		assertProbeMatchesLog(t, h, false, false)
		if n := rebuiltFromSchema(logs); n != 1 {
			t.Errorf("logged %d schema-change rebuilds, want 1:\n%s", n, logs)
		}
		var seen int
		if err := h.db.QueryRow(`SELECT count(*) FROM schema_probe_seen`).Scan(&seen); err != nil {
			t.Fatal(err)
		}
		if want := len(readAll(t, h)); seen != want {
			t.Errorf("schema_probe_seen has %d rows, want %d", seen, want)
		}

		// With the schema unchanged, a missing table is an error to fix
		// by hand (a rebuild), not a reason to replay on its own.
		if _, err := h.db.Exec(`DROP TABLE schema_probe_seen`); err != nil {
			t.Fatal(err)
		}
		e, err := projections.NewEngine(h.backend, quietLogger(), &schemaProbe{seen: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Run(ctx); err == nil || !strings.Contains(err.Error(), "are missing") {
			t.Errorf("Run with a table missing = %v, want the missing-tables error", err)
		}
	})
}

func TestSchema_RebuildStoresFingerprint(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		pos := appendEvents(t, h.store, 300, "A", "B")
		_, stop := startProbe(t, h, &schemaProbe{})
		stop()
		insertMarker(t, h, false)
		pos = max(pos, appendEvents(t, h.store, 50, "C"))
		waitForHead(t, h, pos)

		// capacityctl projections rebuild after an upgrade: the old table
		// serves until the swap, which brings the new schema and its hash.
		logs := &logBuffer{}
		logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		e, err := projections.NewEngine(h.backend, logger, &schemaProbe{extra: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Rebuild(context.Background(), "schema_probe", nil); err != nil {
			t.Fatal(err)
		}
		assertProbeMatchesLog(t, h, true, false)
		if n := rebuiltFromSchema(logs); n != 0 {
			t.Errorf("the rebuild dropped the live tables first:\n%s", logs)
		}
		insertMarker(t, h, true)

		logs, stop = startProbe(t, h, &schemaProbe{extra: true})
		defer stop()
		assertProbeMatchesLog(t, h, true, true)
		if n := rebuiltFromSchema(logs); n != 0 {
			t.Errorf("a rebuilt projection was rebuilt again at start:\n%s", logs)
		}
	})
}
