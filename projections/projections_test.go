package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/migrations"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harness is one backend with a fresh database.
type harness struct {
	store   eventstore.Store
	backend projections.Backend
	db      *sql.DB // reads the read models
	// kill breaks the engine's connections (nil where not possible).
	kill func(t testing.TB)
}

type backendCase struct {
	name string
	open func(t testing.TB) *harness
}

var backends = []backendCase{
	{"postgres", openPostgres},
	{"sqlite", openSQLite},
}

// eachBackend runs the same test against every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, bc.open(t))
		})
	}
}

func openPostgres(t testing.TB) *harness {
	url := pgtest.NewMigratedDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { db.Close() })
	// The engine gets a pool of its own, so that the crash test can kill
	// its connections and nothing else.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "ct_projections"
	enginePool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enginePool.Close)
	return &harness{
		store:   postgres.New(pool),
		backend: projections.NewPostgresBackend(postgres.New(enginePool)),
		db:      db,
		kill: func(t testing.TB) {
			// The engine's batch transactions die mid-flight.
			_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'ct_projections'`)
			if err != nil {
				t.Fatalf("terminate the engine's connections: %v", err)
			}
		},
	}
}

func openSQLite(t testing.TB) *harness {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "capacity.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &harness{
		store:   store,
		backend: projections.NewSQLiteBackend(store.DB(), store),
		db:      store.DB(),
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

var categories = []string{"provider", "location", "user", "update", "contact"}

// appendEvents appends n events to random streams, in appends of 1-5.
func appendEvents(t *testing.T, store eventstore.Store, n int, types ...string) int64 {
	t.Helper()
	if len(types) == 0 {
		types = []string{"SomethingHappened"}
	}
	var last int64
	for n > 0 {
		k := min(n, 1+rand.IntN(5))
		pos, err := tryAppend(store, types[rand.IntN(len(types))], k)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		last = pos
		n -= k
	}
	return last
}

// tryAppend appends k (default 1) events of one type to a random stream.
func tryAppend(store eventstore.Store, typ string, k ...int) (int64, error) {
	n := 1
	if len(k) > 0 {
		n = k[0]
	}
	stream := fmt.Sprintf("%s-%d", categories[rand.IntN(len(categories))], rand.IntN(40))
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = eventstore.EventData{ID: uuid.New(), Type: typ,
			Data: []byte(`{"n":1}`), Metadata: eventstore.Metadata{Command: "test"}}
	}
	res, err := store.Append(context.Background(), stream, eventstore.Any, evs...)
	return res.LastPosition(), err
}

// maxPosition is the last committed position, read without the gap-safe
// limit (which an open transaction of the engine may hold back for a moment).
func maxPosition(t *testing.T, h *harness) int64 {
	t.Helper()
	var pos int64
	if err := h.db.QueryRow(`SELECT coalesce(max(position), 0) FROM events`).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	return pos
}

// readAll returns the whole log, up to maxPosition.
func readAll(t *testing.T, h *harness) []eventstore.Event {
	t.Helper()
	last := maxPosition(t, h)
	for {
		evs := readLog(t, h.store)
		if len(evs) > 0 && evs[len(evs)-1].Position >= last || last == 0 {
			return evs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLog(t *testing.T, store eventstore.Store) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	var from int64
	for {
		evs, err := store.ReadAll(context.Background(), from, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		from = evs[len(evs)-1].Position
	}
}

type stat struct {
	count    int64
	lastAt   time.Time
	position int64
}

// scratchStats is category_stats computed from scratch over ReadAll.
func scratchStats(evs []eventstore.Event) map[string]stat {
	out := map[string]stat{}
	for _, ev := range evs {
		s := out[ev.Category()]
		s.count++
		s.lastAt, s.position = ev.RecordedAt, ev.Position
		out[ev.Category()] = s
	}
	return out
}

func readStats(t *testing.T, db *sql.DB) map[string]stat {
	t.Helper()
	rows, err := db.Query(`SELECT category, event_count, last_event_at, last_position FROM category_stats`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]stat{}
	for rows.Next() {
		var c string
		var s stat
		var at projections.Timestamp
		if err := rows.Scan(&c, &s.count, &at, &s.position); err != nil {
			t.Fatal(err)
		}
		s.lastAt = at.Time
		out[c] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func assertStatsMatchLog(t *testing.T, h *harness) {
	t.Helper()
	want := scratchStats(readAll(t, h))
	got := readStats(t, h.db)
	if len(got) != len(want) {
		t.Errorf("category_stats has %d categories, the log %d: %v vs %v", len(got), len(want), got, want)
	}
	for c, w := range want {
		g := got[c]
		if g.count != w.count || g.position != w.position || !g.lastAt.Equal(w.lastAt) {
			t.Errorf("category %s: read model %+v, from scratch %+v", c, g, w)
		}
	}
}

// run starts the engine and returns a function that stops it and waits.
func run(t *testing.T, e *projections.Engine) (stop func()) {
	t.Helper()
	return projtest.RunEngine(t, e)
}

// catchUp waits until the projections have applied the whole log.
func catchUp(t *testing.T, h *harness, e *projections.Engine, names ...string) {
	t.Helper()
	head := maxPosition(t, h)
	deadline := time.Now().Add(2 * time.Minute) // a hang guard, not a speed check
	for {
		err := e.WaitFor(context.Background(), names, head)
		if err == nil {
			return
		}
		if !errors.Is(err, projections.ErrNotCaughtUp) || time.Now().After(deadline) {
			t.Fatalf("projections never reached %d: %v", head, err)
		}
	}
}

func TestEngine_ReachesHeadAndMatchesLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		appendEvents(t, h.store, 1200)
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		run(t, e)
		appendEvents(t, h.store, 300)
		catchUp(t, h, e)
		assertStatsMatchLog(t, h)

		st, err := e.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].Name != "category_stats" || st[0].Checkpoint != st[0].Head || st[0].LagEvents != 0 || !st[0].Running {
			t.Errorf("status after catching up: %+v", st)
		}
	})
}

func TestEngine_CrashesAndRestartsApplyEveryEventOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, h.store, 2000)
		for i := range 20 {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			appendEvents(t, h.store, 50+rand.IntN(200))
			killed := h.kill != nil && i%3 == 2
			if killed {
				h.kill(t)
			}
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				if !killed {
					t.Fatalf("restart %d: %v", i, err)
				}
				t.Logf("restart %d: run after its connections were killed: %v", i, err)
			}
		}
		run(t, e)
		catchUp(t, h, e)
		assertStatsMatchLog(t, h)
	})
}

// typeCounts counts events per type. It fails on the types in poison, and,
// when flaky, fails the first attempt of every event after writing to its
// table, so a retry that did not undo the attempt would count twice.
type typeCounts struct {
	poison map[string]bool
	flaky  bool

	mu       sync.Mutex
	attempts map[uuid.UUID]int
}

func (p *typeCounts) Name() string     { return "type_counts" }
func (p *typeCounts) Tables() []string { return []string{"type_counts"} }

func (p *typeCounts) Schema(d projections.Dialect, table func(string) string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE %s (event_type TEXT PRIMARY KEY, n BIGINT NOT NULL)`, table("type_counts"))}
}

func (p *typeCounts) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if p.poison[ev.Type] {
		return fmt.Errorf("cannot handle %s", ev.Type)
	}
	t := table("type_counts")
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (event_type, n) VALUES (?, 1)
		ON CONFLICT (event_type) DO UPDATE SET n = %[1]s.n + 1`, t), ev.Type)
	if err != nil {
		return err
	}
	if p.flaky {
		p.mu.Lock()
		p.attempts[ev.ID]++
		first := p.attempts[ev.ID] == 1
		p.mu.Unlock()
		if first {
			return errors.New("flaky failure after a write")
		}
	}
	return nil
}

func readTypeCounts(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT event_type, n FROM type_counts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

func TestEngine_PoisonEventIsRecordedAndOthersContinue(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		tc := &typeCounts{poison: map[string]bool{"Broken": true}, attempts: map[uuid.UUID]int{}}
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{}, tc)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, h.store, 100, "Fine")
		appendEvents(t, h.store, 1, "Broken")
		appendEvents(t, h.store, 100, "Fine", "AlsoFine")
		appendEvents(t, h.store, 1, "Broken")
		run(t, e)
		catchUp(t, h, e)
		assertStatsMatchLog(t, h)

		evs := readAll(t, h)
		want := map[string]int64{}
		var broken []int64
		for _, ev := range evs {
			if ev.Type == "Broken" {
				broken = append(broken, ev.Position)
				continue
			}
			want[ev.Type]++
		}
		got := readTypeCounts(t, h.db)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("type_counts = %v, want %v", got, want)
		}
		rows, err := h.db.Query(`SELECT position, event_type, error FROM projection_poison WHERE projection = 'type_counts' ORDER BY position`)
		if err != nil {
			t.Fatal(err)
		}
		var poisoned []int64
		for rows.Next() {
			var pos int64
			var typ, msg string
			if err := rows.Scan(&pos, &typ, &msg); err != nil {
				t.Fatal(err)
			}
			if typ != "Broken" || msg == "" {
				t.Errorf("poison record at %d: type %q, error %q", pos, typ, msg)
			}
			poisoned = append(poisoned, pos)
		}
		rows.Close()
		if fmt.Sprint(poisoned) != fmt.Sprint(broken) {
			t.Errorf("poisoned positions %v, want %v", poisoned, broken)
		}
		st, err := e.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			switch s.Name {
			case "type_counts":
				if s.PoisonCount != 2 || s.LastPoison == "" {
					t.Errorf("type_counts status %+v: want 2 poison events", s)
				}
			case "category_stats":
				if s.PoisonCount != 0 {
					t.Errorf("category_stats status %+v: want no poison", s)
				}
			}
		}
	})
}

func TestEngine_FailedAttemptIsUndoneBeforeRetry(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		tc := &typeCounts{flaky: true, attempts: map[uuid.UUID]int{}}
		e, err := projections.NewEngine(h.backend, quietLogger(), tc)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, h.store, 40, "A", "B")
		run(t, e)
		catchUp(t, h, e)
		want := map[string]int64{}
		for _, ev := range readAll(t, h) {
			want[ev.Type]++
		}
		if got := readTypeCounts(t, h.db); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("type_counts = %v, want %v (a failed attempt leaked its writes)", got, want)
		}
		var n int
		if err := h.db.QueryRow(`SELECT count(*) FROM projection_poison`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d poison records, want none (the retry succeeds)", n)
		}
	})
}

func TestEngine_RebuildWhileAppendingSwapsInAndLiveResumes(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		pos := appendEvents(t, h.store, 12000)
		run(t, e)
		for { // let the gap-safe head pass the appends (parallel tests hold it back)
			head, err := h.store.HeadPosition(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if head >= pos {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}

		ctx, stopAppending := context.WithCancel(context.Background())
		appended := make(chan struct{})
		go func() {
			defer close(appended)
			for ctx.Err() == nil {
				if _, err := tryAppend(h.store, "SomethingHappened"); err != nil {
					// SQLite's busy handler polls instead of queueing: under
					// the race detector and parallel tests an append can
					// time out waiting for the write lock. That is the
					// client's retry, not the engine's concern.
					if strings.Contains(err.Error(), "SQLITE_BUSY") {
						t.Logf("append while rebuilding: %v", err)
						continue
					}
					t.Errorf("append while rebuilding: %v", err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		var reports []projections.Progress
		err = e.Rebuild(context.Background(), "category_stats", func(p projections.Progress) { reports = append(reports, p) })
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, h.store, 200)
		stopAppending()
		<-appended
		appendEvents(t, h.store, 50)
		catchUp(t, h, e)
		assertStatsMatchLog(t, h)

		if len(reports) < 2 || !reports[len(reports)-1].Swapped {
			t.Fatalf("progress reports %+v: want batches then the swap", reports)
		}
		last := reports[len(reports)-1]
		if last.Done < 12000 || last.Done != last.Total || last.Rate <= 0 || reports[0].Done == 0 {
			t.Errorf("last progress %+v", last)
		}
		var leftovers int
		if err := h.db.QueryRow(`SELECT count(*) FROM category_stats__rebuild`).Scan(&leftovers); err == nil {
			t.Errorf("category_stats__rebuild still exists after the swap")
		}
	})
}

func TestEngine_WaitForGivesReadYourWrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		pos := appendEvents(t, h.store, 10)
		if err := e.WaitFor(ctx, []string{"nope"}, pos); !errors.Is(err, projections.ErrUnknownProjection) {
			t.Errorf("WaitFor(unknown) = %v, want ErrUnknownProjection", err)
		}
		// Not running: it gives up.
		if err := e.WaitFor(ctx, []string{"category_stats"}, pos); !errors.Is(err, projections.ErrNotCaughtUp) {
			t.Errorf("WaitFor with the engine stopped = %v, want ErrNotCaughtUp", err)
		}
		run(t, e)
		for range 5 {
			pos := appendEvents(t, h.store, 3)
			catchUpTo(t, e, pos)
			got := readStats(t, h.db)
			var total int64
			for _, s := range got {
				total += s.count
			}
			if n := int64(len(readAll(t, h))); total != n {
				t.Errorf("after WaitFor(%d): read model counts %d events, the log has %d", pos, total, n)
			}
		}
	})
}

// catchUpTo calls WaitFor until it succeeds: a loaded test machine may need
// more than one 2 s window; what is tested is that success means caught up.
func catchUpTo(t *testing.T, e *projections.Engine, pos int64) {
	t.Helper()
	for range 30 {
		err := e.WaitFor(context.Background(), []string{"category_stats"}, pos)
		if err == nil {
			return
		}
		if !errors.Is(err, projections.ErrNotCaughtUp) {
			t.Fatal(err)
		}
	}
	t.Fatalf("never caught up to %d", pos)
}

// rebuildEvents is the size of BenchmarkRebuild's log:
// go test -run '^$' -bench BenchmarkRebuild -benchtime 1x ./projections -args -rebuild-events 1000000
var rebuildEvents = flag.Int("rebuild-events", 200_000, "events in BenchmarkRebuild's log")

// BenchmarkRebuild rebuilds category_stats from a log of -rebuild-events
// events (filled before the timer starts); every operation is one whole
// rebuild.
func BenchmarkRebuild(b *testing.B) {
	benchBackends := []struct {
		name string
		open func(b *testing.B) (eventstore.Store, projections.Backend)
	}{
		{"postgres", func(b *testing.B) (eventstore.Store, projections.Backend) {
			ctx := context.Background()
			pool, err := pgxpool.New(ctx, pgtest.NewDatabase(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			if _, err := migrations.ApplyPostgres(ctx, pool); err != nil {
				b.Fatal(err)
			}
			store := postgres.New(pool)
			return store, projections.NewPostgresBackend(store)
		}},
		{"sqlite", func(b *testing.B) (eventstore.Store, projections.Backend) {
			store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "capacity.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			return store, projections.NewSQLiteBackend(store.DB(), store)
		}},
	}
	for _, bb := range benchBackends {
		b.Run("backend="+bb.name, func(b *testing.B) {
			ctx := context.Background()
			store, backend := bb.open(b)
			if err := bench.Fill(ctx, store, *rebuildEvents, nil); err != nil {
				b.Fatal(err)
			}
			// On PostgreSQL the gap-safe head trails any open transaction on
			// the server: append a marker and wait until it is readable.
			marker, err := tryAppend(store, "Marker")
			if err != nil {
				b.Fatal(err)
			}
			events := int64(*rebuildEvents) + 1
			for {
				head, err := store.HeadPosition(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if head >= marker {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			e, err := projections.NewEngine(backend, quietLogger(), categorystats.Projection{})
			if err != nil {
				b.Fatal(err)
			}
			var done int64
			b.ResetTimer()
			for range b.N {
				var last projections.Progress
				if err := e.Rebuild(ctx, "category_stats", func(p projections.Progress) { last = p }); err != nil {
					b.Fatal(err)
				}
				done += last.Done
			}
			b.StopTimer()
			if want := events * int64(b.N); done != want {
				b.Fatalf("rebuilds replayed %d events, want %d", done, want)
			}
			b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// typeStats counts events per type and keeps each type's last position and
// data, through Apply or, in a rebuild, ApplyBatch. It fails on the types in
// poison: ApplyBatch only after writing the rest of its batch, so that a
// fallback that did not undo the batch would count twice.
type typeStats struct {
	poison  map[string]bool
	batches atomic.Int64 // ApplyBatch calls that succeeded
	failed  atomic.Int64 // ApplyBatch calls that failed
}

var _ projections.BatchApplier = (*typeStats)(nil)

func (p *typeStats) Name() string     { return "type_stats" }
func (p *typeStats) Tables() []string { return []string{"type_stats"} }

func (p *typeStats) Schema(d projections.Dialect, table func(string) string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE %s (event_type TEXT PRIMARY KEY, n BIGINT NOT NULL,
		last_position BIGINT NOT NULL, last_data TEXT NOT NULL)`, table("type_stats"))}
}

func (p *typeStats) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if p.poison[ev.Type] {
		return fmt.Errorf("cannot handle %s", ev.Type)
	}
	return p.upsert(ctx, tx, table, ev.Type, 1, ev)
}

func (p *typeStats) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	counts := map[string]int64{}
	last := map[string]eventstore.Event{}
	var bad error
	for _, ev := range evs {
		if p.poison[ev.Type] {
			bad = fmt.Errorf("cannot handle %s", ev.Type)
			continue
		}
		counts[ev.Type]++
		last[ev.Type] = ev
	}
	for typ, n := range counts {
		if err := p.upsert(ctx, tx, table, typ, n, last[typ]); err != nil {
			return err
		}
	}
	if bad != nil {
		p.failed.Add(1)
		return bad
	}
	p.batches.Add(1)
	return nil
}

func (p *typeStats) upsert(ctx context.Context, tx projections.Tx, table func(string) string, typ string, n int64, last eventstore.Event) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (event_type, n, last_position, last_data) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_type) DO UPDATE SET n = %[1]s.n + excluded.n,
			last_position = excluded.last_position, last_data = excluded.last_data`, table("type_stats")),
		typ, n, last.Position, string(last.Data))
	return err
}

type typeStat struct {
	n        int64
	position int64
	data     string
}

func readTypeStats(t *testing.T, db *sql.DB) map[string]typeStat {
	t.Helper()
	rows, err := db.Query(`SELECT event_type, n, last_position, last_data FROM type_stats`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]typeStat{}
	for rows.Next() {
		var typ string
		var s typeStat
		if err := rows.Scan(&typ, &s.n, &s.position, &s.data); err != nil {
			t.Fatal(err)
		}
		out[typ] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scratchTypeStats is type_stats computed from scratch over ReadAll, which
// decrypts personal fields as the projections must see them.
func scratchTypeStats(evs []eventstore.Event, poison map[string]bool) map[string]typeStat {
	out := map[string]typeStat{}
	for _, ev := range evs {
		if poison[ev.Type] {
			continue
		}
		s := out[ev.Type]
		s.n++
		s.position, s.data = ev.Position, string(ev.Data)
		out[ev.Type] = s
	}
	return out
}

// appendBulk appends n events of the given types in appends of up to 100
// events to random streams of every category.
func appendBulk(t *testing.T, store eventstore.Store, n int, types ...string) int64 {
	t.Helper()
	var last int64
	for n > 0 {
		k := min(n, 1+rand.IntN(100))
		evs := make([]eventstore.EventData, k)
		for i := range evs {
			evs[i] = eventstore.EventData{ID: uuid.New(), Type: types[rand.IntN(len(types))],
				Data: []byte(fmt.Sprintf(`{"n":%d}`, rand.IntN(1000))), Metadata: eventstore.Metadata{Command: "test"}}
		}
		stream := fmt.Sprintf("%s-%d", categories[rand.IntN(len(categories))], rand.IntN(40))
		res, err := store.Append(context.Background(), stream, eventstore.Any, evs...)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		last = res.LastPosition()
		n -= k
	}
	return last
}

// appendPersonal appends an event of type typ whose email field is personal
// data of subject.
func appendPersonal(t *testing.T, store eventstore.Store, typ, subject string) int64 {
	t.Helper()
	res, err := store.Append(context.Background(), "user-"+subject, eventstore.Any, eventstore.EventData{
		ID: uuid.New(), Type: typ, Data: []byte(`{"email":"` + subject + `@example.org","n":1}`),
		Metadata: eventstore.Metadata{Command: "test"},
		Personal: []eventstore.PersonalField{{Path: "email", Subject: subject}},
	})
	if err != nil {
		t.Fatalf("append personal data: %v", err)
	}
	return res.LastPosition()
}

// waitForHead waits until the gap-safe head reaches pos (on PostgreSQL,
// parallel tests' open transactions hold it back for a moment).
func waitForHead(t *testing.T, h *harness, pos int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang guard, not a speed check
	for {
		head, err := h.store.HeadPosition(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if head >= pos {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("head stays at %d, behind %d", head, pos)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPoison(t *testing.T, db *sql.DB, projection string) (positions []int64, types []string) {
	t.Helper()
	// A literal: the test's *sql.DB takes $1 on PostgreSQL and ? on SQLite.
	rows, err := db.Query(fmt.Sprintf(`SELECT position, event_type, error FROM projection_poison
		WHERE projection = '%s' ORDER BY position`, projection))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pos int64
		var typ, msg string
		if err := rows.Scan(&pos, &typ, &msg); err != nil {
			t.Fatal(err)
		}
		if msg == "" {
			t.Errorf("poison record at %d has no error", pos)
		}
		positions, types = append(positions, pos), append(types, typ)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return positions, types
}

func TestRebuild_BatchApplierMatchesLogFromScratch(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		ts := &typeStats{}
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{}, ts)
		if err != nil {
			t.Fatal(err)
		}
		appendPersonal(t, h.store, "Registered", "ann")
		appendBulk(t, h.store, 12000, "A", "B", "C")
		appendPersonal(t, h.store, "Registered", "bob")
		appendPersonal(t, h.store, "Renamed", "ann")
		appendBulk(t, h.store, 13000, "A", "B", "D")
		// Erased personal data reads as null in the rebuild as everywhere.
		if err := h.store.ForgetSubject(context.Background(), "bob"); err != nil {
			t.Fatal(err)
		}
		pos := appendPersonal(t, h.store, "Registered", "cyd")
		waitForHead(t, h, pos)

		for _, name := range []string{"category_stats", "type_stats"} {
			if err := e.Rebuild(context.Background(), name, nil); err != nil {
				t.Fatalf("rebuild %s: %v", name, err)
			}
		}
		assertStatsMatchLog(t, h)
		evs := readAll(t, h)
		want := scratchTypeStats(evs, nil)
		if got := readTypeStats(t, h.db); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("type_stats after rebuild = %v,\nfrom scratch %v", got, want)
		}
		if !strings.Contains(want["Renamed"].data, "ann@example.org") {
			t.Errorf("personal data in the log reads %q, want it decrypted", want["Renamed"].data)
		}
		if ts.batches.Load() < 2 || ts.failed.Load() != 0 {
			t.Errorf("ApplyBatch succeeded %d times and failed %d times, want several batches and no failure",
				ts.batches.Load(), ts.failed.Load())
		}
		if positions, _ := readPoison(t, h.db, "type_stats"); len(positions) != 0 {
			t.Errorf("poison records %v, want none", positions)
		}
	})
}

func TestRebuild_FailingBatchIsSplitAndPoisonsOnlyTheBadEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		poison := map[string]bool{"Broken": true}
		ts := &typeStats{poison: poison}
		e, err := projections.NewEngine(h.backend, quietLogger(), ts)
		if err != nil {
			t.Fatal(err)
		}
		appendBulk(t, h.store, 3000, "Fine", "AlsoFine")
		broken := appendEvents(t, h.store, 1, "Broken")
		pos := appendBulk(t, h.store, 3000, "Fine", "AlsoFine")
		waitForHead(t, h, pos)

		if err := e.Rebuild(context.Background(), "type_stats", nil); err != nil {
			t.Fatal(err)
		}
		want := scratchTypeStats(readAll(t, h), poison)
		if got := readTypeStats(t, h.db); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("type_stats after rebuild = %v,\nfrom scratch without the bad event %v", got, want)
		}
		positions, types := readPoison(t, h.db, "type_stats")
		if fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) || fmt.Sprint(types) != "[Broken]" {
			t.Errorf("poison records at %v of types %v, want only the Broken event at %d", positions, types, broken)
		}
		// The batch, then the half holding the bad event at each halving
		// (a single event goes through Apply).
		if n, most := ts.failed.Load(), int64(bits.Len(6001)); n < 1 || n > most {
			t.Errorf("ApplyBatch failed %d times, want once per halving around the bad event, at most %d", n, most)
		}
		st, err := e.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].PoisonCount != 1 || !strings.Contains(st[0].LastPoison, "cannot handle Broken") {
			t.Errorf("status after rebuild: %+v, want one poison event", st)
		}
	})
}
