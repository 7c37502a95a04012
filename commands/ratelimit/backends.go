package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
)

// NewPostgres keeps the counters in the pool's database. Each check is one
// statement on its own (autocommit, READ COMMITTED): concurrent increments
// of one counter queue on its row lock and each sees the one before, where
// inside the commands' REPEATABLE READ transactions they would fail as
// serialization conflicts under exactly the bursts this is for.
func NewPostgres(pool *pgxpool.Pool) *Limiter {
	return &Limiter{db: pgCounters{pool}, clock: time.Now}
}

// NewSQLite keeps the counters in the store's database file, one write
// transaction per check: SQLite runs write transactions one at a time, so
// increments never conflict.
func NewSQLite(store eventstore.Transactor) *Limiter {
	return &Limiter{db: txCounters{store}, clock: time.Now}
}

type pgCounters struct{ pool *pgxpool.Pool }

func (c pgCounters) increment(ctx context.Context, query string, args []any) ([]counted, error) {
	rows, err := c.pool.Query(ctx, eventstore.DollarPlaceholders(query), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (counted, error) {
		var k counted
		err := r.Scan(&k.scope, &k.hits, &k.windowEnd)
		return k, err
	})
}

func (c pgCounters) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.pool.Exec(ctx, eventstore.DollarPlaceholders(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

type txCounters struct{ store eventstore.Transactor }

func (c txCounters) increment(ctx context.Context, query string, args []any) ([]counted, error) {
	var out []counted
	err := c.store.InTx(ctx, func(tx eventstore.Tx) (err error) {
		out = out[:0]
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, rows.Close()) }()
		for rows.Next() {
			var k counted
			if err := rows.Scan(&k.scope, &k.hits, &k.windowEnd); err != nil {
				return fmt.Errorf("scan counter: %w", err)
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

func (c txCounters) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := c.store.InTx(ctx, func(tx eventstore.Tx) error {
		var err error
		n, err = tx.Exec(ctx, query, args...)
		return err
	})
	return n, err
}
