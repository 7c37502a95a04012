package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/jobs"
	"github.com/capacitytracker/capacity/projections"
)

// scheduled runs a scheduled job as jobs.Daily does, on one node of those
// sharing the database: the one whose engine holds the scheduled jobs'
// lease (projections.Engine.RunsScheduledJobs; on SQLite the one server).
// The other nodes skip their rounds; when that node stops or dies another
// takes the lease, within a few seconds, and runs the rounds from then on.
// The mail dispatcher is not one of these: it claims each message with a
// lease of its own, so every node sends a share.
func scheduled(ctx context.Context, engine *projections.Engine, name string, delay, interval time.Duration, logger *slog.Logger, fn func(ctx context.Context) error) {
	jobs.Daily(ctx, name, delay, interval, logger, func(ctx context.Context) error {
		if !engine.RunsScheduledJobs() {
			logger.Debug("scheduled job skipped: it runs on the node holding the jobs lease", "scheduled", name)
			return nil
		}
		return fn(ctx)
	})
}
