package projtest

import (
	"context"
	"database/sql"
	"testing"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Direct writes projections' tables straight through their Apply and
// ApplyBatch, in transactions of the store's database, with no engine and
// no event log: for tests and benchmarks that hand a projection events they
// make up, at a scale the commands could not reach.
type Direct struct {
	tb      testing.TB
	Dialect projections.Dialect
	db      wsql.Beginner
	log     eventstore.SQLLog
}

// OpenDirect creates the projections' tables (their Schema, under their
// own names) in the store's database, replacing any there.
func OpenDirect(tb testing.TB, store eventstore.Store, projs ...projections.Projection) *Direct {
	tb.Helper()
	d := &Direct{tb: tb}
	log, ok := store.(eventstore.SQLLog)
	if !ok {
		tb.Fatalf("store %T cannot be queried by SQL", store)
	}
	d.log = log
	switch s := store.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		d.Dialect, d.db = projections.Postgres, wsql.BeginnerFromPgx(s.Pool())
	case interface{ DB() *sql.DB }:
		d.Dialect, d.db = projections.SQLite, wsql.BeginnerFromStdSQL(s.DB())
	default:
		tb.Fatalf("unknown store %T", store)
	}
	d.InTx(func(tx projections.Tx) error {
		for _, p := range projs {
			// Open's databases have the server's tables already (empty):
			// start from the Schema all the same.
			for _, t := range p.Tables() {
				if _, err := tx.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+t); err != nil {
					return err
				}
			}
			for _, stmt := range p.Schema(d.Dialect, Identity) {
				if _, err := tx.ExecContext(context.Background(), stmt); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return d
}

// Identity is the table-name mapping of a projection's own tables.
func Identity(table string) string { return table }

// InTx runs fn in a transaction and commits it; an error fails the test.
func (d *Direct) InTx(fn func(tx projections.Tx) error) {
	d.tb.Helper()
	ctx := context.Background()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		d.tb.Fatal(err)
	}
	if err := fn(projections.NewTx(tx, d.Dialect, d.log)); err != nil {
		_ = tx.Rollback()
		d.tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		d.tb.Fatal(err)
	}
}
