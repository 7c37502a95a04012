package bench_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
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
	r, err := bench.BatchedAppends(context.Background(), store, 100, n)
	b.StopTimer()
	report(b, r, err)
	c, err := bench.PostgresCeiling(context.Background(), pool, 1, 100, n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.Rate()/c.Rate(), "ratio-to-ceiling")
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
