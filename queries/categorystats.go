// Package queries is the read side: it answers questions from the read
// models that the projections maintain, never from the event log, and
// never writes. A query that must see a client's own write waits, for at
// most two seconds, until the projections it reads have reached the
// position that the write returned (read-your-writes).
package queries

import (
	"context"
	"fmt"

	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
)

// Waiter is the projection engine's read-your-writes wait.
type Waiter interface {
	WaitFor(ctx context.Context, names []string, position int64) error
}

// CategoryStat is one stream category's row of the category_stats view.
type CategoryStat = categorystats.Stat

// CategoryStats reads the per-category event counts.
type CategoryStats struct {
	ReadModels projections.ReadModels
	Waiter     Waiter
}

// List returns every category, by name. With minPosition > 0 it first waits
// until the view has applied the log up to that position, and returns
// projections.ErrNotCaughtUp if it does not within the limit.
func (q CategoryStats) List(ctx context.Context, minPosition int64) ([]CategoryStat, error) {
	if minPosition > 0 {
		if err := q.Waiter.WaitFor(ctx, []string{categorystats.Projection{}.Name()}, minPosition); err != nil {
			return nil, err
		}
	}
	var out []CategoryStat
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = categorystats.List(ctx, db)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list category stats: %w", err)
	}
	return out, nil
}
