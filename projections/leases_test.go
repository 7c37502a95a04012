package projections_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/projections"
)

// seenEvents records every event it applies under the event's position as
// the primary key: applying an event twice fails (and would be recorded
// as poison), so a view whose row count equals the log's was applied
// exactly once.
type seenEvents struct{ name string }

func (p seenEvents) Name() string     { return p.name }
func (p seenEvents) Tables() []string { return []string{p.name} }

func (p seenEvents) Schema(d projections.Dialect, table func(string) string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE %s (position BIGINT PRIMARY KEY)`, table(p.name))}
}

func (p seenEvents) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (position) VALUES (?)`, table(p.name)), ev.Position)
	return err
}

var nodeOf = regexp.MustCompile(`\(node ([0-9a-f]+)\)$`)

// TestLeases_EnginesShareTheProjectionsAndTakeOverFromOneThatStopsOrLosesItsLeases:
// three engines over the same seven projections on one PostgreSQL
// database, as three capacityd nodes would be. The projections spread
// across them, each on exactly one; when one engine stops, and when
// another loses its lease session (terminated by the server), the others
// take its projections over, and every event is applied exactly once
// while events are appended all along. One engine at a time runs the
// scheduled jobs.
func TestLeases_EnginesShareTheProjectionsAndTakeOverFromOneThatStopsOrLosesItsLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewMigratedDatabase(t)
	// Each engine has a pool of its own, as a node would.
	pool := func() *pgxpool.Pool {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	main := pool()
	db := stdlib.OpenDBFromPool(main)
	t.Cleanup(func() { db.Close() })
	h := &harness{store: postgres.New(main), db: db}
	var projs []projections.Projection
	for _, c := range "abcdefg" {
		projs = append(projs, seenEvents{name: "seen_" + string(c)})
	}
	const nodes = 3
	engines := make([]*projections.Engine, nodes)
	stops := make([]func(), nodes)
	for i := range engines {
		e, err := projections.NewEngine(projections.NewPostgresBackend(postgres.New(pool())), quietLogger(), projs...)
		if err != nil {
			t.Fatal(err)
		}
		e.SetLeaseInterval(100 * time.Millisecond)
		engines[i] = e
		stops[i] = run(t, e)
	}
	appendEvents(t, h.store, 300)

	// running lists, per projection, the engines (of those in alive) on
	// which it runs.
	running := func(alive []int) map[string][]int {
		out := map[string][]int{}
		for _, i := range alive {
			st, err := engines[i].Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if s.Running {
					out[s.Name] = append(out[s.Name], i)
				}
			}
		}
		return out
	}
	// shared waits until every projection runs on exactly one of the alive
	// engines, each running at most its share (and at least one).
	shared := func(what string, alive []int) map[string][]int {
		t.Helper()
		target := (len(projs) + len(alive) - 1) / len(alive)
		deadline := time.Now().Add(30 * time.Second) // a liveness bound, not a speed check
		start := time.Now()
		for {
			on := running(alive)
			per := map[int]int{}
			ok := len(on) == len(projs)
			for _, engines := range on {
				ok = ok && len(engines) == 1
				per[engines[0]]++
			}
			for _, i := range alive {
				ok = ok && per[i] >= 1 && per[i] <= target
			}
			if ok {
				t.Logf("%s: projections shared as %v after %v", what, per, time.Since(start).Round(time.Millisecond))
				return on
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the projections never spread over engines %v, one each, at most %d per engine: %v", what, alive, target, on)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	jobsOn := func(alive []int) []int {
		var out []int
		for _, i := range alive {
			if engines[i].RunsScheduledJobs() {
				out = append(out, i)
			}
		}
		return out
	}
	waitJobs := func(alive []int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for len(jobsOn(alive)) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the scheduled jobs run on engines %v of %v, want exactly one", jobsOn(alive), alive)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	on := shared("three engines", []int{0, 1, 2})
	waitJobs([]int{0, 1, 2})

	// Events keep coming while the projections move.
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	load.Go(func() {
		for {
			select {
			case <-stopLoad:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := tryAppend(h.store, "SomethingHappened", 3); err != nil {
				t.Errorf("append: %v", err)
				return
			}
		}
	})

	// Engine 0 stops: the other two take its projections over, and the
	// scheduled jobs if it ran them.
	var had []string
	for name, engines := range on {
		if engines[0] == 0 {
			had = append(had, name)
		}
	}
	stops[0]()
	on = shared("engine 0 stopped", []int{1, 2})
	waitJobs([]int{1, 2})
	for _, name := range had {
		if len(on[name]) != 1 {
			t.Errorf("%s, which engine 0 ran, was not taken over: %v", name, on[name])
		}
	}

	// Engine 1's lease session ends under it (as when its connection
	// drops): engine 2 takes its projections; engine 1 reconnects and takes
	// its share back.
	st, err := engines[1].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := ""
	for _, s := range st {
		if s.Running {
			if m := nodeOf.FindStringSubmatch(s.Owner); m != nil {
				node = m[1]
			}
		}
	}
	if node == "" {
		t.Fatalf("engine 1 runs no projection with a named owner: %+v", st)
	}
	session := func() (pid int) {
		t.Helper()
		if err := h.db.QueryRowContext(ctx, `SELECT backend_pid FROM projection_nodes WHERE id = $1`, node).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	old := session()
	if _, err := h.db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for session() == old {
		if time.Now().After(deadline) {
			t.Fatalf("engine 1 never opened a new lease session")
		}
		time.Sleep(20 * time.Millisecond)
	}
	shared("engine 1's lease session terminated", []int{1, 2})
	waitJobs([]int{1, 2})

	close(stopLoad)
	load.Wait()
	for _, e := range engines[1:] {
		catchUp(t, h, e)
	}
	events := len(readAll(t, h))
	for _, p := range projs {
		var n int
		if err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM `+p.Name()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != events {
			t.Errorf("%s applied %d events, the log holds %d", p.Name(), n, events)
		}
	}
	var poison int
	if err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM projection_poison`).Scan(&poison); err != nil {
		t.Fatal(err)
	}
	if poison != 0 {
		t.Errorf("%d events were poison: some were applied twice", poison)
	}
}

// TestLeases_OneSQLiteEngineRunsEverything: on SQLite there is one server
// on the file; it runs every projection and the scheduled jobs.
func TestLeases_OneSQLiteEngineRunsEverything(t *testing.T) {
	t.Parallel()
	h := openSQLite(t)
	e, err := projections.NewEngine(h.backend, quietLogger(), seenEvents{name: "seen_a"}, seenEvents{name: "seen_b"})
	if err != nil {
		t.Fatal(err)
	}
	if e.RunsScheduledJobs() {
		t.Errorf("an engine that is not running runs the scheduled jobs")
	}
	stop := run(t, e)
	appendEvents(t, h.store, 50)
	catchUp(t, h, e)
	st, err := e.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Running || s.Owner != "" {
			t.Errorf("%s: running %v, owner %q; want running, no owner", s.Name, s.Running, s.Owner)
		}
	}
	if !e.RunsScheduledJobs() {
		t.Errorf("the SQLite engine does not run the scheduled jobs")
	}
	stop()
	if e.RunsScheduledJobs() {
		t.Errorf("a stopped engine still runs the scheduled jobs")
	}
}

// TestLeases_GuestRunsOnlyWhatNoNodeRuns: an engine made a guest (as
// capacityctl's are) leaves a running node's projections and the
// scheduled jobs to it, runs a projection no node runs, and takes the
// node's projections once the node has stopped.
func TestLeases_GuestRunsOnlyWhatNoNodeRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := openPostgres(t)
	a, b, c := seenEvents{name: "seen_a"}, seenEvents{name: "seen_b"}, seenEvents{name: "seen_c"}
	node, err := projections.NewEngine(h.backend, quietLogger(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	guest, err := projections.NewEngine(h.backend, quietLogger(), a, b, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*projections.Engine{node, guest} {
		e.SetLeaseInterval(50 * time.Millisecond)
	}
	guest.SetGuest()
	stopNode := run(t, node)
	waitRunning := func(e *projections.Engine, want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second) // a liveness bound
		for {
			st, err := e.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var on []string
			for _, s := range st {
				if s.Running {
					on = append(on, s.Name)
				}
			}
			if slices.Equal(on, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("running %v, want %v", on, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitRunning(node, "seen_a", "seen_b")
	run(t, guest)
	waitRunning(guest, "seen_c")
	appendEvents(t, h.store, 100)
	catchUp(t, h, guest)
	// Rounds go by: the node keeps its projections and the jobs.
	time.Sleep(300 * time.Millisecond)
	waitRunning(node, "seen_a", "seen_b")
	waitRunning(guest, "seen_c")
	if !node.RunsScheduledJobs() || guest.RunsScheduledJobs() {
		t.Errorf("scheduled jobs: node %v, guest %v; want the node only", node.RunsScheduledJobs(), guest.RunsScheduledJobs())
	}

	stopNode()
	waitRunning(guest, "seen_a", "seen_b", "seen_c")
	appendEvents(t, h.store, 100)
	catchUp(t, h, guest)
	events := len(readAll(t, h))
	for _, p := range []projections.Projection{a, b, c} {
		var n int
		if err := h.db.QueryRowContext(ctx, `SELECT count(*) FROM `+p.Name()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != events {
			t.Errorf("%s applied %d events, the log holds %d", p.Name(), n, events)
		}
	}
	if guest.RunsScheduledJobs() {
		t.Errorf("the guest took the scheduled jobs")
	}
}
