package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/projections/views"
)

// postgresCluster is what the tests of several capacityd nodes on one
// PostgreSQL database start from: the two binaries (built without the race
// detector: several servers under it would only make the tests slower), a
// migrated and seeded database of its own, and the test's own way in to it.
type postgresCluster struct {
	ctl, bin, url string
	env           []string // DATABASE_URL for the processes
	pool          *pgxpool.Pool
	store         *postgres.Store
	acc           *commands.Service
}

// newPostgresCluster builds the binaries and migrates and seeds a new
// database with capacityctl (locations and GP practices).
func newPostgresCluster(t *testing.T, locations, gpPractices int) postgresCluster {
	t.Helper()
	ctx := context.Background()
	c := postgresCluster{
		ctl: proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityctl", false),
		bin: proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityd", false),
		url: pgtest.NewDatabase(t),
	}
	c.env = proctest.Env("DATABASE_URL=" + c.url)
	for _, args := range [][]string{{"migrate"}, {"seed", "-locations", strconv.Itoa(locations), "-gp-practices", strconv.Itoa(gpPractices)}} {
		p := proctest.Start(t, t.TempDir(), c.env, c.ctl, args...)
		if code := p.Wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("capacityctl %v: exit %d", args, code)
		}
	}
	pool, err := pgxpool.New(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c.pool, c.store = pool, postgres.New(pool)
	if c.acc, err = commands.New(ctx, c.store, commands.DefaultConfig(), time.Now, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return c
}

// startNodes starts n capacityd processes on the cluster's database and
// waits until each is ready.
func (c postgresCluster) startNodes(t *testing.T, n int) []*server {
	t.Helper()
	var nodes []*server
	for range n {
		nodes = append(nodes, startListening(t, c.bin, "DATABASE_URL="+c.url))
	}
	for _, n := range nodes {
		n.WaitHTTP(t, n.base+"/readyz", http.StatusOK, readyTimeout)
	}
	return nodes
}

// contactLoad adds a contact to each of the locations and removes it
// again, every interval, until the returned stop is called (which waits
// for the load to end) or the test ends. A refused edit fails the test and ends the load
// of its location.
func (c postgresCluster) contactLoad(t *testing.T, locs []eventstore.StreamInfo, interval time.Duration) (stop func()) {
	t.Helper()
	ctx := context.Background()
	system := commands.System("test")
	done := make(chan struct{})
	var load sync.WaitGroup
	for i, l := range locs {
		load.Go(func() {
			id := strings.TrimPrefix(l.StreamID, "location-")
			version := l.Version
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				case <-time.After(interval):
				}
				ed, err := c.acc.AddContact(ctx, system, location.AddContact{LocationID: id, ExpectedVersion: version,
					Contact: location.ContactInput{Role: "Manager", Name: fmt.Sprintf("Load Contact %d-%d", i, n)}})
				if err == nil {
					version = ed.Version
					ed, err = c.acc.RemoveContact(ctx, system, location.RemoveContact{LocationID: id, ExpectedVersion: version, ContactID: ed.ID})
				}
				if err != nil {
					t.Errorf("load on %s: %v", l.StreamID, err)
					return
				}
				version = ed.Version
			}
		})
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			load.Wait()
		})
	}
	t.Cleanup(stop) // a test that fails first ends its load too
	return stop
}

// waitViewsAt waits until every projection's checkpoint has reached pos.
func (c postgresCluster) waitViewsAt(t *testing.T, what string, pos int64) {
	t.Helper()
	waitFor(t, what, func() bool {
		return count(t, c.pool, `SELECT min(position) FROM projection_checkpoints`) >= pos
	})
}

// waitCaughtUp waits until every projection has applied every event of the
// log: the last event, not the gap-safe head, which another test's
// transaction on the server can hold back for a moment.
func (c postgresCluster) waitCaughtUp(t *testing.T) {
	t.Helper()
	c.waitViewsAt(t, "the views to catch up", count(t, c.pool, `SELECT max(position) FROM events`))
}

// checkNoPoison fails the test for every event a projection skipped.
func (c postgresCluster) checkNoPoison(t *testing.T) {
	t.Helper()
	if n := count(t, c.pool, `SELECT count(*) FROM projection_poison`); n != 0 {
		t.Errorf("%d poison events", n)
	}
}

// checkViewsEqualRebuild checks that every view equals a fresh rebuild
// (capacityctl projections rebuild --all), table by table.
func (c postgresCluster) checkViewsEqualRebuild(t *testing.T) {
	t.Helper()
	var tables []string
	for _, p := range views.Default() {
		tables = append(tables, p.Tables()...)
	}
	live := dumpTables(t, c.pool, tables)
	if p := proctest.Start(t, t.TempDir(), c.env, c.ctl, "projections", "rebuild", "--all"); p.Wait(t, 2*time.Minute) != 0 {
		t.Fatalf("capacityctl projections rebuild --all failed")
	}
	fresh := dumpTables(t, c.pool, tables)
	for _, table := range tables {
		if !slices.Equal(live[table], fresh[table]) {
			t.Errorf("%s: %d live rows, %d in a fresh rebuild: the view differs from its rebuild", table, len(live[table]), len(fresh[table]))
		}
	}
}

// startListening starts capacityd and waits until it listens, on another
// port when the one proctest.FreeAddr found was taken meanwhile (by another
// test's process).
func startListening(t *testing.T, bin string, env ...string) *server {
	t.Helper()
	for try := 1; ; try++ {
		s := startServer(t, bin, env...)
		deadline := time.Now().Add(readyTimeout)
		for !s.Exited() && !strings.Contains(s.Stderr.String(), "capacityd listening") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !s.Exited() || try == 3 || !strings.Contains(s.Stderr.String(), "address already in use") {
			return s
		}
	}
}

// waitFor polls cond for up to three minutes (a liveness bound, not a
// speed check).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, q string) int64 {
	t.Helper()
	var n *int64
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n == nil {
		return 0
	}
	return *n
}

// dumpTables reads every row of the tables as text, sorted.
func dumpTables(t *testing.T, pool *pgxpool.Pool, tables []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := pool.Query(context.Background(), fmt.Sprintf(`SELECT x::text FROM %q x`, table))
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		var list []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			list = append(list, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(list)
		out[table] = list
	}
	return out
}
