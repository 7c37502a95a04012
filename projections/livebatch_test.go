package projections_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
)

// slowStats is category_stats taking at least perEvent over each event. It
// has no ApplyBatch: every event of a batch goes through the slow Apply.
type slowStats struct {
	stats    categorystats.Projection
	perEvent time.Duration
}

func (s slowStats) Name() string     { return s.stats.Name() }
func (s slowStats) Tables() []string { return s.stats.Tables() }

func (s slowStats) Schema(d projections.Dialect, table func(string) string) []string {
	return s.stats.Schema(d, table)
}

func (s slowStats) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	time.Sleep(s.perEvent)
	return s.stats.Apply(ctx, tx, table, ev)
}

// batchSizes records how many events each committed batch applied.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) Committed(_ string, _ int64, events int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, events)
}

func (b *batchSizes) Poisoned(string, int64, string, error) {}

func (b *batchSizes) get() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.sizes...)
}

func TestEngine_LiveBatchKeepsToItsTimeBudgetWhateverTheBacklog(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		// Each event takes at least a tenth of the budget (sleeping is a
		// lower bound on any machine), so a batch sized to the budget
		// from the batches before it holds at most 10 events; without the
		// budget one batch takes the whole backlog (up to 500 events on
		// PostgreSQL, 50 on SQLite).
		const perBatch = 10
		const backlog = 120
		appendEvents(t, h.store, backlog)
		e, err := projections.NewEngine(h.backend, quietLogger(), slowStats{perEvent: projections.LiveBatchTime / perBatch})
		if err != nil {
			t.Fatal(err)
		}
		obs := &batchSizes{}
		e.SetObserver(obs)
		run(t, e)
		catchUp(t, h, e)
		assertStatsMatchLog(t, h)

		sizes := obs.get()
		total := 0
		for i, n := range sizes {
			total += n
			switch {
			case i == 0 && n > projections.FirstLiveBatch:
				t.Errorf("first batch applied %d events, want at most %d before any batch was timed", n, projections.FirstLiveBatch)
			case i > 0 && n > perBatch:
				t.Errorf("batch %d applied %d events, want at most %d (the budget over the time of one event)", i, n, perBatch)
			}
		}
		if total != backlog {
			t.Errorf("batches applied %d events in all, want %d: %v", total, backlog, sizes)
		}
	})
}

// commits records each projection's committed batches and poison events.
type commits struct {
	mu       sync.Mutex
	batches  map[string][]committedBatch
	poisoned map[string][]int64
}

type committedBatch struct {
	position int64
	events   int
}

func newCommits() *commits {
	return &commits{batches: map[string][]committedBatch{}, poisoned: map[string][]int64{}}
}

func (c *commits) Committed(name string, position int64, events int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches[name] = append(c.batches[name], committedBatch{position, events})
}

func (c *commits) Poisoned(name string, position int64, _ string, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.poisoned[name] = append(c.poisoned[name], position)
}

// around returns the committed batch of name that applied position, and
// the position of the batch before it.
func (c *commits) around(name string, position int64) (b committedBatch, before int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.batches[name] {
		if b.position >= position {
			return b, before, true
		}
		before = b.position
	}
	return committedBatch{}, 0, false
}

func TestEngine_PoisonEventInTheMiddleOfALiveBatchIsSplitOut(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		poison := map[string]bool{"Broken": true}
		ts := &typeStats{poison: poison}
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{}, ts)
		if err != nil {
			t.Fatal(err)
		}
		obs := newCommits()
		e.SetObserver(obs)
		// A backlog, so that the engine reads it in batches that grow to
		// thousands of events; the bad event is in the middle of one.
		appendBulk(t, h.store, 3000, "Fine", "AlsoFine")
		broken := appendEvents(t, h.store, 1, "Broken")
		pos := appendBulk(t, h.store, 3000, "Fine", "AlsoFine")
		waitForHead(t, h, pos)
		run(t, e)
		catchUp(t, h, e)
		appendBulk(t, h.store, 200, "Fine", "AlsoFine") // and it goes on
		catchUp(t, h, e)

		// Every other event applied exactly once: the counts and last
		// positions equal the log's without the bad event.
		evs := readAll(t, h)
		want := scratchTypeStats(evs, poison)
		if got := readTypeStats(t, h.db); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("type_stats = %v,\nfrom the log without the bad event %v", got, want)
		}
		assertStatsMatchLog(t, h)
		positions, types := readPoison(t, h.db, "type_stats")
		if fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) || fmt.Sprint(types) != "[Broken]" {
			t.Errorf("poison records at %v of types %v, want only the Broken event at %d", positions, types, broken)
		}
		if positions, _ := readPoison(t, h.db, "category_stats"); len(positions) != 0 {
			t.Errorf("category_stats poison records %v, want none", positions)
		}
		st, err := e.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.Checkpoint != s.Head || s.LagEvents != 0 {
				t.Errorf("%s: checkpoint %d, head %d, %d events behind: want it at the head", s.Name, s.Checkpoint, s.Head, s.LagEvents)
			}
			wantPoison := int64(0)
			if s.Name == "type_stats" {
				wantPoison = 1
			}
			if s.PoisonCount != wantPoison || wantPoison == 1 && !strings.Contains(s.LastPoison, "cannot handle Broken") {
				t.Errorf("%s: %d poison events (last: %q), want %d", s.Name, s.PoisonCount, s.LastPoison, wantPoison)
			}
		}
		if got := obs.poisoned["type_stats"]; fmt.Sprint(got) != fmt.Sprint([]int64{broken}) {
			t.Errorf("observer saw poison events %v of type_stats, want [%d]", got, broken)
		}

		// The bad event was inside one batch with events before and after
		// it, applied through ApplyBatch.
		var prev, next int64 // the events either side of the bad one
		for i, ev := range evs {
			if ev.Position == broken {
				prev, next = evs[i-1].Position, evs[i+1].Position
			}
		}
		b, before, ok := obs.around("type_stats", broken)
		switch {
		case !ok:
			t.Errorf("no committed batch of type_stats applied position %d", broken)
		case before >= prev || b.position < next:
			t.Errorf("the batch that applied %d ran from after %d to %d (%d events): want the bad event in its middle", broken, before, b.position, b.events)
		default:
			t.Logf("the batch with the bad event held %d events", b.events)
		}
		if ts.batches.Load() == 0 || ts.failed.Load() == 0 {
			t.Errorf("ApplyBatch succeeded %d times and failed %d times: want live batches through it", ts.batches.Load(), ts.failed.Load())
		}
	})
}
