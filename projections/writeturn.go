package projections

import (
	"context"
	"sync"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// writeTurn queues the engine's write transactions on SQLite in Go, one at
// a time and first come first served, as the SQLite store queues its
// appends. SQLite has one write lock per file and its busy handler polls
// rather than queues: a waiter sleeps up to 100 ms between tries, so with
// a dozen projections and the appends all waiting in it, the lock stood
// idle between batches while every waiter slept, and one unlucky waiter
// could lose every race. Queued here, at most one of the engine's
// transactions waits in the busy handler, for the store's append in
// flight. nil (PostgreSQL) queues nothing.
type writeTurn chan struct{}

func newWriteTurn() writeTurn { return make(writeTurn, 1) }

// take waits for the turn.
func (w writeTurn) take(ctx context.Context) error {
	if w == nil {
		return nil
	}
	select {
	case w <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// give hands the turn on.
func (w writeTurn) give() {
	if w != nil {
		<-w
	}
}

// turnTx is a transaction that holds the write turn until it ends.
type turnTx struct {
	wsql.Tx
	turn writeTurn
	once sync.Once
}

func (t *turnTx) Commit() error {
	defer t.once.Do(t.turn.give)
	return t.Tx.Commit()
}

func (t *turnTx) Rollback() error {
	defer t.once.Do(t.turn.give)
	return t.Tx.Rollback()
}
