package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/benchrun"
)

// runBench is `capacityctl bench`: it measures the event store and the
// projections on a scratch database of the configured backend (a fresh
// database on the PostgreSQL server of DATABASE_URL, dropped afterwards, or a
// temporary SQLite file), never on the live data.
func runBench(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var opts benchrun.Options
	fs.IntVar(&opts.SingleOps, "single", 20000, "single-event appends per writer count")
	fs.IntVar(&opts.BatchEvents, "batched", 200000, "events appended in batches of 100")
	fs.IntVar(&opts.RebuildEvents, "rebuild", 1000000, "events in the log that the rebuild replays")
	fs.DurationVar(&opts.LagDuration, "lag-duration", 10*time.Second, "how long the steady load of -lag-rate appends/s runs")
	fs.IntVar(&opts.LagRate, "lag-rate", 1000, "appends per second of the steady load that measures the projection lag")
	fs.BoolVar(&opts.StoreOnly, "store-only", false, "measure only the event store, not the projections")
	fs.BoolVar(&opts.AllProjections, "all-projections", false, "run every projection of the product, not only category_stats, for the catch-up, lag and rebuild figures")
	fs.IntVar(&opts.Nodes, "nodes", 1, "engines sharing the projections, each with its own pool, as that many capacityd processes on one PostgreSQL database would")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: capacityctl bench [flags]\n\nMeasures appends, reads, live projection lag and rebuild on a scratch database,\nnext to plain INSERTs of the same rows (the ceiling).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if opts.SingleOps < 32 || opts.BatchEvents < 400 || opts.RebuildEvents < 1 || opts.LagDuration <= 0 || opts.LagRate < 1 || opts.Nodes < 1 {
		fmt.Fprintln(c.stderr, "capacityctl bench: -single must be at least 32, -batched at least 400 (4 writers x 100), -rebuild, -lag-duration, -lag-rate and -nodes positive")
		return 2
	}
	opts.PostgresURL = c.g.app.DatabaseURL
	if err := benchrun.Run(ctx, opts, c.stdout); err != nil {
		fmt.Fprintf(c.stderr, "capacityctl bench: %v\n", err)
		return 1
	}
	return 0
}
