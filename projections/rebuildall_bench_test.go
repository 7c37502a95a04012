package projections_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/views"
)

// rebuildAllEvents is the size of BenchmarkRebuildAll's log:
// go test -run '^$' -bench BenchmarkRebuildAll -benchtime 1x ./projections -args -rebuild-all-events 50000
var rebuildAllEvents = flag.Int("rebuild-all-events", 20_000, "events in BenchmarkRebuildAll's log")

// BenchmarkRebuildAll fills a database with -rebuild-all-events events of
// the event store benchmark, then rebuilds every projection of the product
// (Default) in one pass (RebuildAll, what `projections rebuild --all`
// runs), twice per operation over the same log: with the query indexes
// created after the load (deferred, the default) and with every index
// created before it (eager), in alternating order, so that the two rates
// (events/s-deferred, events/s-eager) come from the same run and load.
func BenchmarkRebuildAll(b *testing.B) {
	for _, bc := range backends {
		b.Run("backend="+bc.name, func(b *testing.B) {
			b.StopTimer()
			h := bc.open(b)
			ctx := context.Background()
			if err := bench.Fill(ctx, h.store, *rebuildAllEvents, nil); err != nil {
				b.Fatal(err)
			}
			// A rebuild replays the log up to its gap-safe head: on
			// PostgreSQL a transaction open anywhere on the server holds it
			// back for a moment.
			var last int64
			if err := h.db.QueryRow(`SELECT max(position) FROM events`).Scan(&last); err != nil {
				b.Fatal(err)
			}
			for {
				head, err := h.store.HeadPosition(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if head >= last {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			e, err := projections.NewEngine(h.backend, quietLogger(), views.Default()...)
			if err != nil {
				b.Fatal(err)
			}
			// Warm up: the first rebuild also creates the live tables.
			if err := e.RebuildAll(ctx, nil, nil); err != nil {
				b.Fatal(err)
			}
			var took [2]time.Duration // deferred, eager
			var events [2]int64
			for i := range b.N {
				for j := range 2 {
					eager := (i+j)%2 == 1
					e.SetEagerIndexes(eager)
					k := 0
					if eager {
						k = 1
					}
					var done int64
					start := time.Now()
					b.StartTimer()
					err := e.RebuildAll(ctx, nil, func(p projections.Progress) {
						if p.Swapped && p.Projection == "audit" {
							done = p.Done
						}
					})
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					took[k] += time.Since(start)
					events[k] += done
				}
			}
			b.ReportMetric(float64(events[0])/took[0].Seconds(), "events/s-deferred")
			b.ReportMetric(float64(events[1])/took[1].Seconds(), "events/s-eager")
		})
	}
}
