package bench_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newPostgres(b *testing.B) (*postgres.Store, *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := migrations.ApplyPostgres(ctx, pool); err != nil {
		b.Fatal(err)
	}
	return postgres.New(pool), pool
}

// newSQLite opens a store on a real file, as in production (WAL,
// synchronous=NORMAL), in the benchmark's own temporary directory.
func newSQLite(b *testing.B) *sqlite.Store {
	b.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := store.Close(); err != nil {
			b.Errorf("close store: %v", err)
		}
	})
	return store
}

func report(b *testing.B, r bench.Result, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.Rate(), "events/s")
	if r.P99 > 0 {
		b.ReportMetric(float64(r.P50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(r.P99.Microseconds()), "p99-µs")
	}
}

func BenchmarkPostgresSingleAppend(b *testing.B) {
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmtWriters(writers), func(b *testing.B) {
			store, pool := newPostgres(b)
			n := max(b.N, writers)
			b.ResetTimer()
			r, err := bench.SingleAppends(context.Background(), store, writers, n)
			b.StopTimer()
			report(b, r, err)
			c, err := bench.PostgresCeiling(context.Background(), pool, writers, 1, n)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.Rate()/c.Rate(), "ratio-to-ceiling")
		})
	}
}

func BenchmarkPostgresBatchedAppend(b *testing.B) {
	store, pool := newPostgres(b)
	n := max(b.N, 100) * 100
	b.ResetTimer()
	r, err := bench.BatchedAppends(context.Background(), store, 1, 100, n)
	b.StopTimer()
	report(b, r, err)
	c, err := bench.PostgresCeiling(context.Background(), pool, 1, 100, n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.Rate()/c.Rate(), "ratio-to-ceiling")
}

func BenchmarkSQLiteSingleAppend(b *testing.B) {
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmtWriters(writers), func(b *testing.B) {
			store := newSQLite(b)
			n := max(b.N, writers)
			b.ResetTimer()
			r, err := bench.SingleAppends(context.Background(), store, writers, n)
			b.StopTimer()
			report(b, r, err)
			c, err := bench.SQLiteCeiling(context.Background(), store.DB(), writers, 1, n)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.Rate()/c.Rate(), "ratio-to-ceiling")
		})
	}
}

func BenchmarkSQLiteBatchedAppend(b *testing.B) {
	store := newSQLite(b)
	n := max(b.N, 100) * 100
	b.ResetTimer()
	r, err := bench.BatchedAppends(context.Background(), store, 1, 100, n)
	b.StopTimer()
	report(b, r, err)
	c, err := bench.SQLiteCeiling(context.Background(), store.DB(), 1, 100, n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.Rate()/c.Rate(), "ratio-to-ceiling")
}

// BenchmarkReadAll reads the whole log from the start in pages of 5,000.
// One operation is ten events, so that -benchtime 5000x reads 50,000 events
// in ten pages; the log is filled before the timer starts.
func BenchmarkReadAll(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) eventstore.Store
	}{
		{"postgres", func(b *testing.B) eventstore.Store { s, _ := newPostgres(b); return s }},
		{"sqlite", func(b *testing.B) eventstore.Store { return newSQLite(b) }},
	}
	for _, be := range backends {
		b.Run("backend="+be.name, func(b *testing.B) {
			ctx := context.Background()
			store := be.open(b)
			events := max(b.N, 1000) * 10
			if err := bench.Fill(ctx, store, events, nil); err != nil {
				b.Fatal(err)
			}
			waitForHead(b, store)
			events++ // waitForHead's marker
			b.ResetTimer()
			r, err := bench.ReadAll(ctx, store, 5000)
			b.StopTimer()
			report(b, r, err)
			if r.Events != int64(events) {
				b.Fatalf("read %d events, want %d", r.Events, events)
			}
		})
	}
}

// waitForHead appends a marker event and waits until ReadAll can return it:
// on PostgreSQL the global log holds back events while any transaction on
// the server (another test's, say) is older than them.
func waitForHead(b *testing.B, store eventstore.Store) {
	b.Helper()
	ctx := context.Background()
	res, err := store.Append(ctx, "benchmark-marker", eventstore.NoStream,
		eventstore.EventData{ID: uuid.New(), Type: "Marker", Data: []byte(`{}`)})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		head, err := store.HeadPosition(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if head >= res.LastPosition() {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("head position stays at %d, behind the marker at %d", head, res.LastPosition())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fmtWriters(n int) string {
	return "writers=" + itoa(n)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
