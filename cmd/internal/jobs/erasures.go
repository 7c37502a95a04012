package jobs

import (
	"context"
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

// ApplyErasures rebuilds every projection after erasures not yet applied
// to the views (PersonErased events after the last position in
// erasure_rebuilds): a rebuilt view reads the erased person's fields from
// the log as erased, so nothing of them remains in any read model. Erasures
// are rare and a rebuild of every view is the one way to reach every copy;
// several erasures share one round of rebuilds. It returns how many
// erasures it applied.
func ApplyErasures(ctx context.Context, store erasureStore, engine *projections.Engine, now time.Time, logger *slog.Logger) (int, error) {
	var last int64
	err := store.InTx(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.Query(ctx, `SELECT coalesce(max(position), 0) FROM erasure_rebuilds`)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			return rows.Scan(&last)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("erasures applied so far: %w", err)
	}
	evs, err := store.ReadCategory(ctx, "erasure", last, 1000)
	if err != nil {
		return 0, err
	}
	var erased []erasure.PersonErased
	var positions []int64
	for _, ev := range evs {
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
	for _, name := range engine.Names() {
		if err := engine.Rebuild(ctx, name, nil); err != nil {
			return 0, fmt.Errorf("rebuild %s after erasure: %w", name, err)
		}
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
	logger.Info("views rebuilt after erasures", "erasures", len(erased), "projections", len(engine.Names()))
	return len(erased), nil
}
