package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// erasureStore is what ApplyErasures needs of the store.
type erasureStore interface {
	eventstore.Store
	eventstore.Transactor
}

// ApplyErasures rebuilds every projection after the erasures recorded
// before the projections redacted erased people in place (migration 0012,
// erasure_in_place: the log's head when it ran) that the views were not yet
// rebuilt for (PersonErased events after the last position in
// erasure_rebuilds). Projections that ignored PersonErased may have passed
// those; a rebuilt view reads the erased person's fields from the log as
// erased. Every later erasure is applied by the projections themselves
// (projections.Eraser), so after its first round on an upgraded database
// the job finds nothing to do. It returns how many erasures it applied.
//
// Every node runs the job; one at a time does the work. It holds the
// "erasures" lock of the database (projections.Engine.TryLock) for the
// whole round, and a node that finds it taken does nothing this time. The
// round records each projection it rebuilt in erasure_rebuild_progress
// with the erasure it covers, so a node that takes over from one that died
// mid-way rebuilds only the projections still missing.
func ApplyErasures(ctx context.Context, store erasureStore, engine *projections.Engine, now time.Time, logger *slog.Logger) (int, error) {
	unlock, ok, err := engine.TryLock(ctx, "erasures")
	if err != nil {
		return 0, fmt.Errorf("erasure job lock: %w", err)
	}
	if !ok {
		logger.Debug("the erasure job runs on another node")
		return 0, nil
	}
	defer unlock()
	var last, inPlace int64
	err = store.InTx(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.Query(ctx, `SELECT coalesce(max(position), 0), (SELECT coalesce(max(position), 0) FROM erasure_in_place)
FROM erasure_rebuilds`)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			return rows.Scan(&last, &inPlace)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("erasures applied so far: %w", err)
	}
	if last >= inPlace {
		return 0, nil
	}
	evs, err := store.ReadCategory(ctx, "erasure", last, 1000)
	if err != nil {
		return 0, err
	}
	var erased []erasure.PersonErased
	var positions []int64
	for _, ev := range evs {
		if ev.Position > inPlace {
			break // the projections redact it themselves
		}
		d, err := erasure.Decode(ev.Type, ev.Data)
		if err != nil {
			return 0, err
		}
		if e, ok := d.(erasure.PersonErased); ok {
			erased, positions = append(erased, e), append(positions, ev.Position)
		}
	}
	if len(erased) == 0 {
		return 0, nil
	}
	// Read before any rebuild starts, so each rebuild below reads the log
	// after the keys of these erasures were deleted.
	target := positions[len(positions)-1]
	done, err := erasureProgress(ctx, store)
	if err != nil {
		return 0, err
	}
	rebuilt := 0
	for _, name := range engine.Names() {
		if done[name] >= target {
			continue // rebuilt for these erasures by a node that stopped mid-way
		}
		if err := engine.Rebuild(ctx, name, nil); errors.Is(err, projections.ErrRebuildRunning) {
			// An operator's rebuild; it may have read the log before
			// these erasures, so this one still runs, next time.
			logger.Info("erasure job waits for a rebuild that runs", "projection", name, "err", err)
			return 0, nil
		} else if err != nil {
			return 0, fmt.Errorf("rebuild %s after erasure: %w", name, err)
		}
		err := store.InTx(ctx, func(tx eventstore.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO erasure_rebuild_progress (projection, position, rebuilt_at) VALUES (?, ?, ?)
ON CONFLICT (projection) DO UPDATE SET position = excluded.position, rebuilt_at = excluded.rebuilt_at
WHERE erasure_rebuild_progress.position < excluded.position`, name, target, now.UnixMilli())
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("record the rebuild of %s after erasures: %w", name, err)
		}
		rebuilt++
	}
	err = store.InTx(ctx, func(tx eventstore.Tx) error {
		for i, e := range erased {
			if _, err := tx.Exec(ctx, `INSERT INTO erasure_rebuilds (position, erasure_id, rebuilt_at) VALUES (?, ?, ?)
ON CONFLICT (position) DO NOTHING`, positions[i], e.ErasureID, now.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record applied erasures: %w", err)
	}
	logger.Info("views rebuilt after erasures", "erasures", len(erased), "projections", rebuilt,
		"already_rebuilt", len(engine.Names())-rebuilt)
	return len(erased), nil
}

// erasureProgress reads, per projection, the last erasure its views were
// rebuilt after.
func erasureProgress(ctx context.Context, store erasureStore) (map[string]int64, error) {
	done := map[string]int64{}
	err := store.InTx(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.Query(ctx, `SELECT projection, position FROM erasure_rebuild_progress`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var pos int64
			if err := rows.Scan(&name, &pos); err != nil {
				return err
			}
			done[name] = pos
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("erasure job progress: %w", err)
	}
	return done, nil
}
