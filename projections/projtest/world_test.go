package projtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
	"github.com/capacitytracker/capacity/projections/projtest"
)

type counted struct{ N int }

func (counted) EventType() string { return "Counted" }

// TestWorld_SyncWaitsForEveryEmittedEvent: after Sync, the running
// projection has applied every event the world emitted, up to Last.
func TestWorld_SyncWaitsForEveryEmittedEvent(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := projtest.NewWorld(t, backend, categorystats.Projection{})
			w.Emit("provider-1", eventstore.Metadata{}, counted{1}, counted{2}, counted{3})
			last := w.Emit("location-2", eventstore.Metadata{Command: "other"}, counted{4})
			if w.Last() != last {
				t.Fatalf("Last() = %d, want the last append's position %d", w.Last(), last)
			}
			w.Sync()
			got := map[string][2]int64{}
			err := w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
				rows, err := q.QueryContext(context.Background(), `SELECT category, event_count, last_position FROM `+categorystats.Table)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var c string
					var n, pos int64
					if err := rows.Scan(&c, &n, &pos); err != nil {
						return err
					}
					got[c] = [2]int64{n, pos}
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got["provider"][0] != 3 || got["location"] != [2]int64{1, last} {
				t.Errorf("category_stats = %v, want provider with 3 events and location with 1 at %d", got, last)
			}
		})
	}
}

func TestClock_MovesOnlyByHand(t *testing.T) {
	start := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	c := projtest.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now() = %v, want %v", c.Now(), start)
	}
	c.Advance(90 * time.Minute)
	if want := start.Add(90 * time.Minute); !c.Now().Equal(want) {
		t.Fatalf("after Advance: %v, want %v", c.Now(), want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("after Set: %v, want %v", c.Now(), start)
	}
}
