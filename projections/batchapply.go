package projections

import (
	"context"
	"errors"
	"fmt"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/capacitytracker/capacity/eventstore"
)

// batchApply applies batches of events to one projection's tables: the
// code that a rebuild and live delivery share. A batch is applied whole,
// through ApplyBatch when the projection has it (else Apply for each
// event, all through the one transaction); a batch that fails is split in
// halves, each applied whole again, until every event that fails alone is
// found (bisect). Those are the poison events; all the others are applied,
// in log order.
type batchApply struct {
	p      Projection
	batch  BatchApplier // p, when it implements BatchApplier
	tables func(string) string
}

func newBatchApply(p Projection, tables func(string) string) batchApply {
	a := batchApply{p: p, tables: tables}
	if ba, ok := p.(BatchApplier); ok {
		a.batch = ba
	}
	return a
}

// poisonedEvent is an event that failed alone, with its error.
type poisonedEvent struct {
	ev  eventstore.Event
	err error
}

// whole applies evs through tx in one go, without a savepoint of its own:
// the caller undoes the writes of a failed batch. A single event goes
// through Apply, so that its error is Apply's.
func (a batchApply) whole(ctx context.Context, tx Tx, evs []eventstore.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if a.batch != nil && len(evs) > 1 {
		if err := a.batch.ApplyBatch(ctx, tx, a.tables, evs); err != nil {
			return fmt.Errorf("%s: apply batch of %d events at %d-%d: %w",
				a.p.Name(), len(evs), evs[0].Position, evs[len(evs)-1].Position, err)
		}
		return nil
	}
	for _, ev := range evs {
		if err := a.p.Apply(ctx, tx, a.tables, ev); err != nil {
			return fmt.Errorf("%s: apply %s at %d: %w", a.p.Name(), ev.Type, ev.Position, err)
		}
	}
	return nil
}

// apply applies evs whole in a savepoint and, when that fails, splits them
// (see split). It returns the poison events; an error means the
// transaction cannot go on (a savepoint could not be undone, ctx ended).
func (a batchApply) apply(ctx context.Context, tx Tx, evs []eventstore.Event) ([]poisonedEvent, error) {
	err := inSavepoint(ctx, tx, func() error { return a.whole(ctx, tx, evs) })
	if err == nil {
		return nil, nil
	}
	if fatalApplyError(ctx, err) {
		return nil, err
	}
	return a.split(ctx, tx, evs)
}

// split applies evs, which failed whole: a single event is tried once
// more alone and then is poison; more are halved, each half applied
// whole in a savepoint, and a half that fails is split again. With one
// poison event among n, that is about 2n event applications and 2 log2(n)
// savepoints.
func (a batchApply) split(ctx context.Context, tx Tx, evs []eventstore.Event) ([]poisonedEvent, error) {
	if len(evs) == 1 {
		// Once more alone before it counts as poison: the failure of a
		// batch, or of this event's first try alone, may have been
		// passing.
		err := inSavepoint(ctx, tx, func() error { return a.whole(ctx, tx, evs) })
		if err == nil {
			return nil, nil
		}
		if fatalApplyError(ctx, err) {
			return nil, err
		}
		return []poisonedEvent{{ev: evs[0], err: err}}, nil
	}
	var poisoned []poisonedEvent
	mid := len(evs) / 2
	for _, half := range [][]eventstore.Event{evs[:mid], evs[mid:]} {
		err := inSavepoint(ctx, tx, func() error { return a.whole(ctx, tx, half) })
		if err == nil {
			continue
		}
		if fatalApplyError(ctx, err) {
			return nil, err
		}
		p, err := a.split(ctx, tx, half)
		if err != nil {
			return nil, err
		}
		poisoned = append(poisoned, p...)
	}
	return poisoned, nil
}

// fatalApplyError reports whether err ends the batch's transaction rather
// than marking events as poison.
func fatalApplyError(ctx context.Context, err error) bool {
	return errors.Is(err, errSavepointBroken) || ctx.Err() != nil || !shouldPoison(err)
}

// execer runs a statement: a transaction, or the Tx a projection sees.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error)
}

// inSavepoint runs fn between SAVEPOINT and RELEASE, rolling back to the
// savepoint when fn fails. It may run inside a live batch's attempt, which
// has a savepoint of its own (projection_attempt).
func inSavepoint(ctx context.Context, ex execer, fn func() error) error {
	if _, err := ex.ExecContext(ctx, "SAVEPOINT projection_batch"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		bg := context.WithoutCancel(ctx)
		if _, rbErr := ex.ExecContext(bg, "ROLLBACK TO SAVEPOINT projection_batch"); rbErr != nil {
			return errors.Join(err, errSavepointBroken, rbErr)
		}
		if _, rbErr := ex.ExecContext(bg, "RELEASE SAVEPOINT projection_batch"); rbErr != nil {
			return errors.Join(err, errSavepointBroken, rbErr)
		}
		return err
	}
	if _, err := ex.ExecContext(ctx, "RELEASE SAVEPOINT projection_batch"); err != nil {
		return errors.Join(fmt.Errorf("release savepoint: %w", err), errSavepointBroken)
	}
	return nil
}

// readEvents reads, in one query through ex, up to limit events after
// position after, gap-safe (see eventstore/postgres).
func (b *backend) readEvents(ctx context.Context, ex wsql.ContextExecutor, after int64, limit int) ([]eventstore.Event, error) {
	if b.dialect == Postgres {
		// The planner counts the personal-data key lookup (a subquery
		// that runs only for events with personal fields) for every row,
		// so a large batch crosses jit_above_cost, and compiling the query
		// takes longer than running it. ex is a transaction.
		if _, err := ex.ExecContext(ctx, "SET LOCAL jit = off"); err != nil {
			return nil, fmt.Errorf("read events after %d: %w", after, err)
		}
	}
	s := b.schema(limit)
	q := s.selectFrom + "WHERE e.position > ?"
	if s.gapSafe != "" {
		q += " AND " + s.gapSafe
	}
	q += " ORDER BY e.position LIMIT ?"
	rows, err := b.view(ex).QueryContext(ctx, q, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	defer rows.Close()
	out := make([]eventstore.Event, 0, limit)
	for rows.Next() {
		ev, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read events after %d: %w", after, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}
