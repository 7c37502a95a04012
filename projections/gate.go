package projections

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// gate lets a projection's subscriber begin batches only while this node
// holds the projection's lease (leases.go). Every node runs a subscriber
// for every projection; on the nodes that do not hold the lease it waits
// here, before its batch transaction begins, and sends nothing to the
// database. The gate counts the batches in flight, so that a node giving
// a projection up lets its last batch commit before it releases the lease.
//
// The gate is not what makes a batch apply once: two nodes that both
// believed they held a lease (one whose connection was lost and not yet
// noticed) still take turns on the batch's transaction-level advisory
// lock and read the checkpoint after it (guardedBeginner).
type gate struct {
	mu       sync.Mutex
	open     bool
	inflight int
	changed  chan struct{} // closed, and replaced, on every change
}

func newGate() *gate { return &gate{changed: make(chan struct{})} }

func (g *gate) broadcastLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gate) isOpen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

func (g *gate) setOpen(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != open {
		g.open = open
		g.broadcastLocked()
	}
}

// enter waits until the gate is open, then counts a batch in flight.
func (g *gate) enter(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.open {
			g.inflight++
			g.mu.Unlock()
			return nil
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflight == 0 {
		g.broadcastLocked()
	}
}

// drain waits until no batch is in flight, or ctx ends. Close the gate
// first.
func (g *gate) drain(ctx context.Context) {
	for {
		g.mu.Lock()
		if g.inflight == 0 {
			g.mu.Unlock()
			return
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// subscribeTries bounds the tries of a subscriber's setup transaction.
const subscribeTries = 5

// gatedBeginner begins a projection's batch transactions once its gate is
// open.
type gatedBeginner struct {
	wsql.Beginner
	gate *gate
}

func (b gatedBeginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (wsql.Tx, error) {
	if opts == nil {
		// The subscriber's one transaction as it subscribes (watermill-sql
		// runs BeforeSubscribingQueries, the idempotent insert of the
		// checkpoint row, in a transaction begun without options; its
		// reads give their isolation level). Not a batch: let it through,
		// or the router would never report running on a node without the
		// lease. A failure here fails the whole router, so a few tries:
		// the pool may hand out connections that just died (their server
		// ended them) and that no batch has used since to find out.
		var tx wsql.Tx
		var err error
		for range subscribeTries {
			if tx, err = b.Beginner.BeginTx(ctx, opts); err == nil || ctx.Err() != nil {
				break
			}
		}
		return tx, err
	}
	if err := b.gate.enter(ctx); err != nil {
		return nil, err
	}
	tx, err := b.Beginner.BeginTx(ctx, opts)
	if err != nil {
		b.gate.leave()
		return nil, err
	}
	return &gatedTx{Tx: tx, gate: b.gate}, nil
}

// gatedTx is a batch transaction counted by its gate until it ends.
type gatedTx struct {
	wsql.Tx
	gate  *gate
	ended atomic.Bool
}

func (t *gatedTx) Commit() error {
	defer t.end()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.end()
	return t.Tx.Rollback()
}

func (t *gatedTx) end() {
	if t.ended.CompareAndSwap(false, true) {
		t.gate.leave()
	}
}
