package projtest_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/migrations"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// BenchmarkWorld measures what a test world costs before its first event:
// a fresh database of the backend with the server's read models ready
// (Open, then an engine's Prepare). postgres_from_scratch is the same
// without the template: an empty database, the migrations, then the
// read models' tables, as every PostgreSQL world was made before.
// The databases are dropped when the benchmark ends, outside the timing.
func BenchmarkWorld(b *testing.B) {
	prepare := func(b *testing.B, pb projections.Backend) {
		e, err := projections.NewEngine(pb, slog.New(slog.DiscardHandler), views.Default()...)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Prepare(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			for b.Loop() {
				_, pb := projtest.Open(b, backend)
				prepare(b, pb)
			}
		})
	}
	b.Run("postgres_from_scratch", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			pool, err := pgxpool.New(ctx, pgtest.NewDatabase(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			if _, err := migrations.ApplyPostgres(ctx, pool); err != nil {
				b.Fatal(err)
			}
			prepare(b, projections.NewPostgresBackend(postgres.New(pool)))
		}
	})
}
