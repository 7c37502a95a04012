package main

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/views"
)

// TestCapacityd_ThreeNodesShareTheProjectionsAndTakeOverFromAKilledOne:
// three capacityd processes on one PostgreSQL database share out the
// projections (each on one node, every node with some); contacts are
// added and removed all along, and the node with the most projections is
// killed with SIGKILL. The other two take its projections over (the time
// it took is logged: BENCHMARKS.md), every projection ends up running on
// exactly one live node (by the nodes' own metrics and by the leases),
// the scheduled jobs run on one of them, nothing was poisoned, and every
// view equals a fresh rebuild: no event was lost or applied twice.
func TestCapacityd_ThreeNodesShareTheProjectionsAndTakeOverFromAKilledOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newPostgresCluster(t, 30, 5)
	ctl, env, store := c.ctl, c.env, c.store
	// An engine that is not run: its Status reads who holds each lease.
	observer, err := projections.NewEngine(projections.NewPostgresBackend(store), slog.New(slog.DiscardHandler), views.Default()...)
	if err != nil {
		t.Fatal(err)
	}
	names := observer.Names()

	nodes := c.startNodes(t, 3)
	pids := map[int]int{} // process id -> index in nodes
	for i, n := range nodes {
		pids[n.Cmd.Process.Pid] = i
	}
	// owners maps each projection to the index of the node holding its
	// lease (-1: none, or a process not among nodes).
	owners := func() map[string]int {
		t.Helper()
		st, err := observer.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, s := range st {
			out[s.Name] = -1
			if m := ownerPid.FindStringSubmatch(s.Owner); m != nil {
				pid, _ := strconv.Atoi(m[1])
				if i, ok := pids[pid]; ok {
					out[s.Name] = i
				}
			}
		}
		return out
	}
	// sharedBy waits until every projection's lease is held by one of the
	// live nodes, each holding at least one and at most its share.
	sharedBy := func(what string, live []int, since time.Time) map[string]int {
		t.Helper()
		target := (len(names) + len(live) - 1) / len(live)
		deadline := time.Now().Add(time.Minute) // a liveness bound, not a speed check
		for {
			own := owners()
			per := map[int]int{}
			ok := true
			for _, i := range own {
				ok = ok && slices.Contains(live, i)
				per[i]++
			}
			for _, i := range live {
				ok = ok && per[i] >= 1 && per[i] <= target
			}
			if ok {
				t.Logf("%s: projections shared as %v (node: projections) after %v", what, per, time.Since(since).Round(10*time.Millisecond))
				return own
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the projections never spread over nodes %v (at most %d each): %v", what, live, target, own)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := sharedBy("three nodes started", []int{0, 1, 2}, time.Now())

	// Load: on three locations, contacts added and removed until the end.
	locs, err := store.ListStreams(ctx, eventstore.ListStreamsOptions{Category: "location", Limit: 3})
	if err != nil || len(locs) < 3 {
		t.Fatalf("seeded locations: %v %v", locs, err)
	}
	stopLoad := c.contactLoad(t, locs, 10*time.Millisecond)
	time.Sleep(2 * time.Second)

	// Kill the node with the most projections, mid-load.
	victim, most := 0, 0
	for i := range nodes {
		n := 0
		for _, owner := range before {
			if owner == i {
				n++
			}
		}
		if n > most {
			victim, most = i, n
		}
	}
	var survivors []int
	for i := range nodes {
		if i != victim {
			survivors = append(survivors, i)
		}
	}
	killed := time.Now()
	nodes[victim].Signal(t, syscall.SIGKILL)
	after := sharedBy(fmt.Sprintf("node %d (%d projections) killed", victim, most), survivors, killed)
	takeover := time.Since(killed)
	for name, owner := range before {
		if owner == victim {
			t.Logf("%s: taken over by node %d", name, after[name])
		}
	}
	t.Logf("takeover of the killed node's %d projections: %v after SIGKILL", most, takeover.Round(10*time.Millisecond))

	time.Sleep(time.Second) // more load on the survivors
	stopLoad()
	t.Logf("%d events in the log", count(t, c.pool, `SELECT count(*) FROM events`))
	c.waitCaughtUp(t)

	// Every projection runs on exactly one live node, by the nodes' own
	// account (the gates of their subscribers), as the leases say.
	running := map[string][]int{}
	for _, i := range survivors {
		_, _, body := get(t, nodes[i].base+"/metrics")
		for _, m := range runningMetric.FindAllStringSubmatch(body, -1) {
			if m[2] == "1" {
				running[m[1]] = append(running[m[1]], i)
			}
		}
	}
	final := owners()
	for _, name := range names {
		if on := running[name]; len(on) != 1 || on[0] != final[name] {
			t.Errorf("%s runs on nodes %v by their metrics, its lease is held by node %d; want exactly that one", name, on, final[name])
		}
	}
	// And as the operator sees it.
	status := proctest.Start(t, t.TempDir(), env, ctl, "projections", "status")
	if code := status.Wait(t, time.Minute); code != 0 {
		t.Fatalf("capacityctl projections status: exit %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(status.Stdout.String()), "\n")[1:] {
		name := strings.Fields(line)[0]
		if want := fmt.Sprintf("capacityd pid %d ", nodes[final[name]].Cmd.Process.Pid); !strings.Contains(line, want) {
			t.Errorf("capacityctl projections status does not name %q as the owner of %s:\n%s", want, name, line)
		}
	}

	// The scheduled jobs ran on one node at a time: taken once at the
	// start, and again by a survivor if the killed node held them (read
	// before the survivors stop: the first to stop hands them over).
	var jobsTaken []int
	for i, n := range nodes {
		for range strings.Count(n.Stderr.String(), `msg="scheduled jobs lease taken`) {
			jobsTaken = append(jobsTaken, i)
		}
	}
	if want := 1 + boolInt(slices.Contains(jobsTaken, victim)); len(jobsTaken) != want {
		t.Errorf("the scheduled jobs' lease was taken by nodes %v, want %d takes", jobsTaken, want)
	}
	for _, i := range survivors {
		stopCleanly(t, nodes[i])
	}
	c.checkNoPoison(t)

	c.checkViewsEqualRebuild(t)
}

var (
	ownerPid      = regexp.MustCompile(`^capacityd pid (\d+) `)
	runningMetric = regexp.MustCompile(`(?m)^capacity_projection_running\{projection="([a-z_0-9]+)"\} ([01])$`)
)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
