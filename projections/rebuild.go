package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/capacitytracker/capacity/eventstore"
)

func rebuildTable(name string) string { return name + rebuildSuffix }

// Rebuild replays the whole log into fresh copies of a projection's tables
// (name__rebuild) in large batches while the live projection keeps serving
// and updating the old ones. Then, in one transaction, it takes the
// checkpoint row lock (which waits for the live batch in flight and holds
// the next one back), applies the events appended meanwhile, swaps the
// tables in, records the rebuild's poison events and sets the checkpoint to
// the rebuilt position. Live delivery resumes from there.
//
// progress, if not nil, is called after every batch and once after the swap.
func (e *Engine) Rebuild(ctx context.Context, name string, progress func(Progress)) error {
	p, ok := e.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	e.rebuildMu.Lock()
	defer e.rebuildMu.Unlock()
	if progress == nil {
		progress = func(Progress) {}
	}
	if err := e.prepare(ctx, p); err != nil {
		return err
	}
	logger := e.logger.With("projection", name)
	err := e.b.inTx(ctx, func(tx wsql.Tx) error {
		for _, t := range p.Tables() {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+rebuildTable(t)); err != nil {
				return err
			}
		}
		for _, stmt := range p.Schema(e.b.dialect, rebuildTable) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create rebuild schema: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	head, err := e.b.store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	total, err := e.b.queryInt64(ctx, e.b.db, `SELECT count(*) FROM events WHERE position <= ?`, head)
	if err != nil {
		return fmt.Errorf("rebuild %s: count events: %w", name, err)
	}
	r := rebuild{e: e, p: p, start: time.Now(), total: total, progress: progress}
	logger.Info("rebuild started", "events", total)

	// Replay in batches, one transaction each, up to the head seen at the
	// start. A short read before it only means an open transaction holds
	// the gap-safe horizon back for a moment.
	for r.position < head {
		var n int
		err := e.b.inTx(ctx, func(tx wsql.Tx) error {
			var err error
			n, err = r.applyNext(ctx, tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("rebuild %s at %d: %w", name, r.position, err)
		}
		pause := time.Duration(0)
		switch {
		case n == 0:
			pause = 20 * time.Millisecond
		case e.b.dialect == SQLite:
			// Let waiting appends take the write lock: SQLite's busy
			// handler polls, it does not queue.
			pause = 50 * time.Millisecond
		}
		if pause > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
	}

	// Swap: lock, apply the tail, rename, move the checkpoint.
	var prev int64
	err = e.b.inTx(ctx, func(tx wsql.Tx) error {
		var err error
		if prev, err = e.b.lockCheckpoint(ctx, tx, name); err != nil {
			return fmt.Errorf("lock checkpoint: %w", err)
		}
		for {
			n, err := r.applyNext(ctx, tx)
			if err != nil {
				return err
			}
			if n < e.b.rebuildBatch {
				break
			}
		}
		for _, t := range p.Tables() {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return fmt.Errorf("drop %s: %w", t, err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", rebuildTable(t), t)); err != nil {
				return fmt.Errorf("rename %s: %w", rebuildTable(t), err)
			}
			if err := e.b.renameIndexes(ctx, tx, t); err != nil {
				return err
			}
		}
		v := e.b.view(tx)
		if _, err := v.ExecContext(ctx, `DELETE FROM projection_poison WHERE projection = ?`, name); err != nil {
			return err
		}
		for _, pr := range r.poisoned {
			if err := recordPoison(ctx, v, name, pr.ev.Position, pr.ev.ID.String(), pr.ev.Type, pr.err.Error()); err != nil {
				return fmt.Errorf("record poison: %w", err)
			}
		}
		_, err = v.ExecContext(ctx, `UPDATE projection_checkpoints SET position = ?, updated_at = ? WHERE name = ?`,
			r.position, e.b.dialect.Time(time.Now()), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", name, err)
	}
	if o := e.currentObserver(); o != nil {
		for _, pr := range r.poisoned {
			o.Poisoned(name, pr.ev.Position, pr.ev.Type, pr.err)
		}
		o.Committed(name, r.position, int(r.done))
	}
	r.report(true)
	logger.Info("rebuild swapped in", "position", r.position, "previous_position", prev,
		"events", r.done, "poisoned", len(r.poisoned), "seconds", time.Since(r.start).Seconds())
	return nil
}

type rebuild struct {
	e        *Engine
	p        Projection
	position int64
	done     int64
	total    int64
	start    time.Time
	poisoned []rebuildPoison
	progress func(Progress)
}

type rebuildPoison struct {
	ev  eventstore.Event
	err error
}

// applyNext applies the next batch of events to the fresh tables in tx and
// returns how many it read.
func (r *rebuild) applyNext(ctx context.Context, tx wsql.Tx) (int, error) {
	evs, err := r.e.b.readEvents(ctx, tx, r.position, r.e.b.rebuildBatch)
	if err != nil {
		return 0, err
	}
	if len(evs) == 0 {
		return 0, nil
	}
	view := r.e.b.view(tx)
	apply := func(ev eventstore.Event) error {
		if err := r.p.Apply(ctx, view, rebuildTable, ev); err != nil {
			return fmt.Errorf("%s: apply %s at %d: %w", r.p.Name(), ev.Type, ev.Position, err)
		}
		return nil
	}
	// Fast path: the whole batch in one savepoint. When an event fails,
	// undo the batch and apply it again event by event, each in its own
	// savepoint, recording the failures as poison.
	err = inSavepoint(ctx, tx, func() error {
		for _, ev := range evs {
			if err := apply(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errSavepointBroken) || ctx.Err() != nil {
			return 0, err
		}
		for _, ev := range evs {
			if err := inSavepoint(ctx, tx, func() error { return apply(ev) }); err != nil {
				if errors.Is(err, errSavepointBroken) || ctx.Err() != nil {
					return 0, err
				}
				r.poisoned = append(r.poisoned, rebuildPoison{ev: ev, err: err})
			}
		}
	}
	r.position = evs[len(evs)-1].Position
	r.done += int64(len(evs))
	r.total = max(r.total, r.done)
	r.report(false)
	return len(evs), nil
}

func (r *rebuild) report(swapped bool) {
	pr := Progress{Projection: r.p.Name(), Done: r.done, Total: r.total, Swapped: swapped}
	if secs := time.Since(r.start).Seconds(); secs > 0 {
		pr.Rate = float64(r.done) / secs
	}
	if pr.Rate > 0 {
		pr.ETA = time.Duration(float64(r.total-r.done) / pr.Rate * float64(time.Second))
	}
	r.progress(pr)
}
