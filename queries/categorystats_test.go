package queries_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/queries"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backendCase names a database the tests run on.
type backendCase struct{ name string }

// open opens a fresh, migrated database of the backend.
func (b backendCase) open(t *testing.T) (eventstore.Store, projections.Backend) {
	return projtest.Open(t, b.name)
}

var backends = []backendCase{{projtest.Postgres}, {projtest.SQLite}}

func appendN(t *testing.T, store eventstore.Store, stream string, n int) int64 {
	t.Helper()
	var last int64
	for i := 0; i < n; i++ {
		ev, err := eventstore.NewEvent("Counted", map[string]int{"i": i}, eventstore.Metadata{Command: "test"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := store.Append(context.Background(), stream, eventstore.Any, ev)
		if err != nil {
			t.Fatal(err)
		}
		last = res.LastPosition()
	}
	return last
}

// listCaughtUp lists with min_position. The wait is bounded (2 s); on a
// PostgreSQL server shared with other tests, a long write transaction in
// another database can hold every gap-safe reader back for longer, and the
// only allowed answer then is ErrNotCaughtUp (HTTP 503), never a stale read:
// so retry on that error alone, for a bounded time.
func listCaughtUp(t *testing.T, q queries.CategoryStats, pos int64) ([]queries.CategoryStat, error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := q.List(context.Background(), pos)
		if !errors.Is(err, projections.ErrNotCaughtUp) || time.Now().After(deadline) {
			return got, err
		}
		t.Logf("not caught up within the wait limit, asking again: %v", err)
	}
}

func TestCategoryStats_MinPositionReadsYourWrites(t *testing.T) {
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, backend := bc.open(t)
			engine, err := projections.NewEngine(backend, slog.New(slog.NewTextHandler(io.Discard, nil)), views.Default()...)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- engine.Run(runCtx) }()
			t.Cleanup(func() { stop(); <-done })

			q := queries.CategoryStats{ReadModels: projections.NewReadModels(backend), Waiter: engine}
			appendN(t, store, "provider-1", 3)
			appendN(t, store, "user-1", 2)
			for round := 1; round <= 5; round++ {
				pos := appendN(t, store, "provider-2", 1)
				got, err := listCaughtUp(t, q, pos)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				counts := map[string]int64{}
				for _, s := range got {
					counts[s.Category] = s.EventCount
					if s.Category == "provider" && s.LastPosition != pos {
						t.Fatalf("round %d: provider last position %d, want %d (the write just made)", round, s.LastPosition, pos)
					}
				}
				if counts["provider"] != int64(3+round) || counts["user"] != 2 {
					t.Fatalf("round %d: counts %v, want provider=%d user=2", round, counts, 3+round)
				}
			}
		})
	}
}

func TestCategoryStats_MinPositionBeyondTheViewFailsWithNotCaughtUp(t *testing.T) {
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			store, backend := bc.open(t)
			engine, err := projections.NewEngine(backend, slog.New(slog.NewTextHandler(io.Discard, nil)), views.Default()...)
			if err != nil {
				t.Fatal(err)
			}
			// The engine is not running: the view never reaches the write.
			pos := appendN(t, store, "provider-1", 1)
			q := queries.CategoryStats{ReadModels: projections.NewReadModels(backend), Waiter: engine}
			if _, err := q.List(context.Background(), pos); !errors.Is(err, projections.ErrNotCaughtUp) {
				t.Fatalf("got %v, want ErrNotCaughtUp", err)
			}
		})
	}
}
