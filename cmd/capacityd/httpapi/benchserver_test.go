package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// What the benchmarks (bulk, views) share: a server over a store whose
// engine has caught up with the log, and the measure of an iteration's
// time and peak heap.

// runToHead runs engine until the benchmark ends and waits until it has
// applied the log as it is now (within is a liveness bound, not a speed
// check). It waits for the last event appended, not HeadPosition: on
// PostgreSQL that is the gap-safe head, which trails while any
// transaction of the cluster is open, so the views could still lack the
// fixture's last events.
func runToHead(b *testing.B, pb projections.Backend, engine *projections.Engine, within time.Duration) {
	b.Helper()
	projtest.RunEngine(b, engine)
	var last int64
	ctx := context.Background()
	if err := projections.NewReadModels(pb).Query(ctx, func(q projections.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return errors.New("no row")
		}
		return rows.Scan(&last)
	}); err != nil {
		b.Fatal(err)
	}
	projtest.WaitFor(b, engine, last, within)
}

// benchServer is the API server over the real commands on store and the
// queries on pb's read models, which wait for engine.
func benchServer(b *testing.B, store commands.Store, pb projections.Backend, engine *projections.Engine,
	logger *slog.Logger) (http.Handler, *commands.Service, *queries.Service) {
	b.Helper()
	accounts, err := commands.New(context.Background(), store, testConfig(), time.Now, logger)
	if err != nil {
		b.Fatal(err)
	}
	q := &queries.Service{ReadModels: projections.NewReadModels(pb), Waiter: engine}
	srv, err := httpapi.New(httpapi.Options{
		Logger: logger, Registry: prometheus.NewRegistry(), MaxBodyBytes: maxBody, Commands: accounts, Queries: q,
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv, accounts, q
}

// measure runs fn once per iteration with the heap sampled, and reports
// the highest heap in use above the heap before it (peak-heap-MB) and
// the milliseconds of an iteration.
func measure(b *testing.B, unit string, fn func()) {
	var peak float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		baseline := heapPeak()()
		b.StartTimer()
		stop := heapPeak()
		fn()
		peak = max(peak, float64(stop())-float64(baseline))
	}
	b.ReportMetric(peak/1e6, "peak-heap-MB")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/"+unit)
}

// heapPeak samples the bytes of live and unswept heap objects every
// millisecond until stop is called, which returns the highest sample.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var (
		peak = read()
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, read())
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, read())
	}
}
