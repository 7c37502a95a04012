package benchrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/projections"
)

// otherNodes starts nodes-1 more engines over the same projections, each
// with a pool of its own as a capacityd process would have, reporting to
// obs: with the first engine they share the projections out through their
// leases (projections/leases.go). PostgreSQL only. stop ends them and
// waits.
func (s *scratch) otherNodes(ctx context.Context, nodes int, logger *slog.Logger, projs []projections.Projection, obs projections.Observer) (stop func() error, err error) {
	if nodes <= 1 {
		return func() error { return nil }, nil
	}
	if s.pool == nil {
		return nil, errors.New("-nodes above 1 needs PostgreSQL (DATABASE_URL)")
	}
	runCtx, cancel := context.WithCancel(ctx)
	var pools []*pgxpool.Pool
	var done []chan error
	stop = func() error {
		cancel()
		var errs []error
		for _, d := range done {
			if err := <-d; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		}
		for _, p := range pools {
			p.Close()
		}
		return errors.Join(errs...)
	}
	for range nodes - 1 {
		pool, err := pgxpool.NewWithConfig(ctx, s.pool.Config())
		if err != nil {
			_ = stop()
			return nil, fmt.Errorf("pool of another node: %w", err)
		}
		pools = append(pools, pool)
		engine, err := projections.NewEngine(projections.NewPostgresBackend(postgres.New(pool)), logger, projs...)
		if err != nil {
			_ = stop()
			return nil, err
		}
		engine.SetObserver(obs)
		d := make(chan error, 1)
		done = append(done, d)
		go func() { d <- engine.Run(runCtx) }()
	}
	return stop, nil
}
