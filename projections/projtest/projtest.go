// Package projtest opens fresh, migrated databases of both backends for
// tests: an event store (with its transactions) and the projection backend
// over it. PostgreSQL databases come from eventstore/pgtest, so the test
// binary's TestMain must call pgtest.Main. It is for tests only.
package projtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/views"
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
// test ends. On PostgreSQL it is a copy of a template database that also
// has the tables of the server's projections (views.Default), with
// their checkpoints at 0 and their schema fingerprints, as an engine's
// first Run leaves them: an engine over it starts at once, and one over
// fewer projections ignores the others' empty tables.
func Open(tb testing.TB, backend string) (Store, projections.Backend) {
	tb.Helper()
	ctx := context.Background()
	switch backend {
	case Postgres:
		tpl, err := template()
		if err != nil {
			tb.Fatal(err)
		}
		pool, err := pgxpool.New(ctx, pgtest.NewDatabaseFrom(tb, tpl))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(pool.Close)
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

// template is the PostgreSQL template of Open's databases: migrated, with
// the server's projections prepared. Its key hashes everything the build
// depends on, the migrations and the projections' schemas, so a change to
// either makes a new template.
func template() (pgtest.Template, error) {
	migrated, err := pgtest.MigratedTemplate()
	if err != nil {
		return pgtest.Template{}, err
	}
	h := sha256.New()
	// Bump when the way the template is built changes.
	fmt.Fprintf(h, "projtest prepared 1\x00%s\x00", migrated.Key)
	for _, p := range views.Default() {
		fmt.Fprintf(h, "projection %s\x00%s\x00", p.Name(), strings.Join(p.Schema(projections.Postgres, Identity), "\x00"))
	}
	build := func(ctx context.Context, url string) error {
		if err := migrated.Build(ctx, url); err != nil {
			return err
		}
		return prepare(ctx, url)
	}
	return pgtest.Template{Key: hex.EncodeToString(h.Sum(nil))[:24], Build: build}, nil
}

// prepare creates the server's projections' tables in the database at
// url, as an engine's first Run does, then closes its connections.
func prepare(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	e, err := projections.NewEngine(projections.NewPostgresBackend(postgres.New(pool)), slog.New(slog.DiscardHandler), views.Default()...)
	if err != nil {
		return err
	}
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	return ctx.Err()
}
