package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections"
)

// TestCapacityd_ThreeNodesApplyAnErasureOnceUnderLoad: three capacityd
// processes on one PostgreSQL database, contacts being added all along,
// and support erases a contact. As soon as every projection's checkpoint
// reaches the erasure, while the load goes on, no table holds the erased
// person's name or email: each projection redacted the person in place as
// it applied the erasure, once (its checkpoint), on whichever node, and no
// node rebuilt anything. Afterwards every view equals a fresh rebuild and
// nothing was poisoned.
func TestCapacityd_ThreeNodesApplyAnErasureOnceUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newPostgresCluster(t, 100, 20)
	ctl, bin, url, env, pool, store, acc := c.ctl, c.bin, c.url, c.env, c.pool, c.store, c.acc
	locs, err := store.ListStreams(ctx, eventstore.ListStreamsOptions{Category: "location", Limit: 4})
	if err != nil || len(locs) < 4 {
		t.Fatalf("seeded locations: %v %v", locs, err)
	}
	system := commands.System("test")
	locID := func(l eventstore.StreamInfo) string { return strings.TrimPrefix(l.StreamID, "location-") }
	const name, email = "Ernestine Erasable", "ernestine.erasable@rosehill.example.org"
	added, err := acc.AddContact(ctx, system, location.AddContact{LocationID: locID(locs[0]), ExpectedVersion: locs[0].Version,
		Contact: location.ContactInput{Role: "Manager", Name: name, Email: email}})
	if err != nil {
		t.Fatal(err)
	}

	var nodes []*server
	for range 3 {
		nodes = append(nodes, startListening(t, bin, "DATABASE_URL="+url))
	}
	for _, n := range nodes {
		n.WaitHTTP(t, n.base+"/readyz", http.StatusOK, readyTimeout)
	}
	// Erase once the views hold the person.
	waitFor(t, "the views to hold the person", func() bool {
		return count(t, pool, `SELECT min(position) FROM projection_checkpoints`) >= added.Position
	})
	if tables := pgtest.TablesHolding(t, pool, email); len(tables) < 2 {
		t.Fatalf("before the erasure only %v hold the person's email: the search proves nothing", tables)
	}

	// Load: on three other locations, contacts added and removed until the
	// erasure is applied.
	stop := make(chan struct{})
	var load sync.WaitGroup
	for i, l := range locs[1:] {
		load.Go(func() {
			version := l.Version
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				ed, err := acc.AddContact(ctx, system, location.AddContact{LocationID: locID(l), ExpectedVersion: version,
					Contact: location.ContactInput{Role: "Manager", Name: fmt.Sprintf("Load Contact %d-%d", i, n)}})
				if err == nil {
					version = ed.Version
					ed, err = acc.RemoveContact(ctx, system, location.RemoveContact{LocationID: locID(l), ExpectedVersion: version, ContactID: ed.ID})
				}
				if err != nil {
					t.Errorf("load on %s: %v", l.StreamID, err)
					return
				}
				version = ed.Version
			}
		})
	}
	erased, err := acc.ErasePerson(ctx, system, erasure.Request{Kind: erasure.KindContact, LocationID: locID(locs[0]),
		ContactID: added.ID, RequestedBy: "the contact, by email to support", Reason: "right to erasure"})
	if err != nil {
		close(stop)
		t.Fatalf("erase: %v", err)
	}
	waitFor(t, "the views to apply the erasure", func() bool {
		return count(t, pool, `SELECT min(position) FROM projection_checkpoints`) >= erased.Position
	})
	for _, needle := range []string{name, email} {
		if tables := pgtest.TablesHolding(t, pool, needle); len(tables) > 0 {
			t.Errorf("once the views applied the erasure %q is still in %v", needle, tables)
		}
	}
	close(stop)
	load.Wait()
	t.Logf("%d events appended by the load while the erasure was applied",
		count(t, pool, fmt.Sprintf(`SELECT count(*) FROM events WHERE position > %d`, added.Position))-1)
	// Every event, not the gap-safe head: another test's transaction on
	// the server can hold that back for a moment.
	last := count(t, pool, `SELECT max(position) FROM events`)
	waitFor(t, "the views to catch up", func() bool {
		return count(t, pool, `SELECT min(position) FROM projection_checkpoints`) >= last
	})
	for _, n := range nodes {
		stopCleanly(t, n)
	}

	for i, n := range nodes {
		logs := n.Stderr.String()
		if strings.Contains(logs, `msg="rebuild started"`) || strings.Contains(logs, `msg="views rebuilt after erasures"`) {
			t.Errorf("node %d rebuilt views for an erasure the projections apply in place:\n%s", i+1, logs)
		}
		if strings.Contains(logs, `job=erasures`) {
			t.Errorf("node %d: the erasure job failed:\n%s", i+1, logs)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM erasure_rebuilds`); n != 0 {
		t.Errorf("%d erasures recorded as rebuilt for", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM projection_poison`); n != 0 {
		t.Errorf("%d poison events", n)
	}
	for _, needle := range []string{name, email} {
		if tables := pgtest.TablesHolding(t, pool, needle); len(tables) > 0 {
			t.Errorf("after the erasure %q is still in %v", needle, tables)
		}
	}

	// Every view equals a fresh rebuild.
	var tables []string
	for _, p := range projections.Default() {
		tables = append(tables, p.Tables()...)
	}
	live := dumpTables(t, pool, tables)
	if p := proctest.Start(t, t.TempDir(), env, ctl, "projections", "rebuild", "--all"); p.Wait(t, 2*time.Minute) != 0 {
		t.Fatalf("capacityctl projections rebuild --all failed")
	}
	fresh := dumpTables(t, pool, tables)
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
