// Package projtest opens fresh, migrated databases of both backends for
// tests: an event store (with its transactions) and the projection backend
// over it. PostgreSQL databases come from eventstore/pgtest, so the test
// binary's TestMain must call pgtest.Main. It is for tests only.
package projtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/migrations"
	"github.com/capacitytracker/capacity/projections"
)

// The backends' names.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Backends lists every backend, for tests that run on each.
func Backends() []string { return []string{Postgres, SQLite} }

// Store is an event store with transactions (what the commands need).
type Store interface {
	eventstore.Store
	eventstore.Transactor
}

// Open opens a fresh, migrated database of the backend, closed when the
// test ends.
func Open(tb testing.TB, backend string) (Store, projections.Backend) {
	tb.Helper()
	ctx := context.Background()
	switch backend {
	case Postgres:
		pool, err := pgxpool.New(ctx, pgtest.NewDatabase(tb))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(pool.Close)
		if _, err := migrations.ApplyPostgres(ctx, pool); err != nil {
			tb.Fatal(err)
		}
		store := postgres.New(pool)
		return store, projections.NewPostgresBackend(store)
	case SQLite:
		store, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "capacity.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = store.Close() })
		return store, projections.NewSQLiteBackend(store.DB(), store)
	}
	tb.Fatalf("unknown backend %q", backend)
	return nil, nil
}
