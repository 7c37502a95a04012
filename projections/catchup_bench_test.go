package projections_test

import (
	"context"
	"flag"
	"testing"

	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/views"
)

// catchUpEvents is the size of BenchmarkCatchUp's log:
// go test -run '^$' -bench BenchmarkCatchUp -benchtime 1x ./projections -args -catch-up-events 100000
var catchUpEvents = flag.Int("catch-up-events", 50_000, "events in BenchmarkCatchUp's log")

// BenchmarkCatchUp starts every projection of the product (Default) behind
// a log of -catch-up-events events of the event store benchmark and
// measures the live path until all of them reach its head: every operation
// is one catch-up, from a fresh database.
func BenchmarkCatchUp(b *testing.B) {
	for _, bc := range backends {
		b.Run("backend="+bc.name, func(b *testing.B) {
			var events int64
			for range b.N {
				b.StopTimer()
				h := bc.open(b)
				ctx := context.Background()
				if err := bench.Fill(ctx, h.store, *catchUpEvents, nil); err != nil {
					b.Fatal(err)
				}
				head, err := h.store.HeadPosition(ctx)
				if err != nil {
					b.Fatal(err)
				}
				e, err := projections.NewEngine(h.backend, quietLogger(), views.Default()...)
				if err != nil {
					b.Fatal(err)
				}
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				b.StartTimer()
				go func() { done <- e.Run(runCtx) }()
				for {
					err := e.WaitFor(ctx, nil, head)
					if err == nil {
						break
					}
				}
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				events += int64(*catchUpEvents)
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
