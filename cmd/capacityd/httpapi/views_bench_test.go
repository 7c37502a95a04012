package httpapi_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/seed"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
	"github.com/capacitytracker/capacity/queries"
)

var viewsLocations = flag.Int("views-locations", seed.DefaultLocations,
	"locations seeded by BenchmarkProvidersXLSX and BenchmarkRebuildSearch")

// viewsFixture is a seeded store of one backend with its projections
// caught up, and the server over it.
type viewsFixture struct {
	engine *projections.Engine
	server http.Handler
	events int64
	q      queries.Service
}

// newViewsFixture seeds *viewsLocations locations (capacityctl seed's
// national data set) into a fresh store of the backend, rebuilds the
// location search (the read model of the downloads; bringing up every
// projection of views.Default() takes minutes more at this size),
// runs the engine until it is at the head and starts a server over it.
func newViewsFixture(b *testing.B, backend string) *viewsFixture {
	b.Helper()
	ctx := context.Background()
	store, pb := projtest.Open(b, backend)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	sum, err := seed.Run(ctx, store, seed.Options{Locations: *viewsLocations, GPPractices: seed.DefaultGPPractices, Seed: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d locations (%d events) in %s", backend, sum.Locations, sum.Events, time.Since(start).Round(time.Millisecond))
	engine, err := projections.NewEngine(pb, logger, search.Projection{})
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	if err := engine.Rebuild(ctx, search.Projection{}.Name(), nil); err != nil {
		b.Fatal(err)
	}
	runToHead(b, pb, engine, 5*time.Minute)
	b.Logf("%s: projections caught up in %s", backend, time.Since(start).Round(time.Millisecond))
	srv, _, q := benchServer(b, store, pb, engine, logger)
	return &viewsFixture{engine: engine, server: srv, events: sum.Events, q: *q}
}

// countingWriter is a ResponseWriter that keeps only the size of the body.
type countingWriter struct {
	header http.Header
	status int
	n      int64
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkProvidersXLSX measures the download of every registered
// provider (GET /api/v1/providers.xlsx, as a public caller) through the
// server's handler at 25,000 seeded locations, on each backend. The body
// is counted, not kept. It reports the rows, the MB written, and the
// highest heap in use during a download above the heap before it
// (peak-heap-MB, sampled every millisecond after a GC).
//
//	go test ./cmd/capacityd/httpapi -run '^$' -bench ProvidersXLSX -benchtime 3x
func BenchmarkProvidersXLSX(b *testing.B) {
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			f := newViewsFixture(b, backend)
			page, err := f.q.SearchProviders(context.Background(), nil, queries.ProviderSearch{PageSize: 10})
			if err != nil {
				b.Fatal(err)
			}
			b.Run("Download", func(b *testing.B) {
				var written int64
				measure(b, "download", func() {
					w := &countingWriter{header: http.Header{}}
					f.server.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/providers.xlsx", nil))
					if w.status != http.StatusOK || w.n == 0 {
						b.Fatalf("status %d, %d bytes", w.status, w.n)
					}
					written += w.n
				})
				b.ReportMetric(float64(page.Total), "rows")
				b.ReportMetric(float64(written)/float64(b.N)/1e6, "MB-written")
			})
		})
	}
}

// BenchmarkRebuildSearch measures the rebuild of the location search
// (Engine.Rebuild of "search" over the whole log) at 25,000 seeded
// locations, on each backend, in events replayed per second.
//
//	go test ./cmd/capacityd/httpapi -run '^$' -bench RebuildSearch -benchtime 3x
func BenchmarkRebuildSearch(b *testing.B) {
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			f := newViewsFixture(b, backend)
			name := search.Projection{}.Name()
			b.Run("Rebuild", func(b *testing.B) {
				var done int64
				for b.Loop() {
					var last projections.Progress
					if err := f.engine.Rebuild(context.Background(), name, func(p projections.Progress) { last = p }); err != nil {
						b.Fatal(err)
					}
					done += last.Done
				}
				b.ReportMetric(float64(done)/float64(b.N), "events")
				b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
			})
		})
	}
}
