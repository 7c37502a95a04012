package projections_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// slowStats is category_stats taking at least perEvent over each event.
type slowStats struct {
	projections.CategoryStats
	perEvent time.Duration
}

func (s slowStats) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	time.Sleep(s.perEvent)
	return s.CategoryStats.Apply(ctx, tx, table, ev)
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
