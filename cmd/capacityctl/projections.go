package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/capacitytracker/capacity/projections"
)

func (c *cli) projections(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("projections needs a subcommand: status or rebuild")
	}
	switch args[0] {
	case "status":
		return c.projectionsStatus(ctx, args[1:])
	case "rebuild":
		return c.projectionsRebuild(ctx, args[1:])
	default:
		return usagef("unknown projections subcommand %q: want status or rebuild", args[0])
	}
}

func (c *cli) projectionsStatus(ctx context.Context, args []string) error {
	fs := c.newFlagSet("projections status", "projections status")
	if rest, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("projections status takes no arguments")
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	engine, err := b.NewEngine(c.logger)
	if err != nil {
		return err
	}
	statuses, err := engine.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	// OWNER: the capacityd node that runs the projection (PostgreSQL,
	// where nodes share them out); "-" when none does, and on SQLite.
	fmt.Fprintln(tw, "NAME\tCHECKPOINT\tHEAD\tLAG_EVENTS\tLAG_SECONDS\tPOISON\tLAST_POISON\tOWNER")
	for _, s := range statuses {
		lastErr := s.LastPoison
		if lastErr == "" {
			lastErr = "-"
		}
		owner := s.Owner
		if owner == "" {
			owner = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", s.Name, s.Checkpoint, s.Head, s.LagEvents,
			strconv.FormatFloat(s.LagSeconds, 'f', 1, 64), s.PoisonCount, lastErr, owner)
	}
	return tw.Flush()
}

func (c *cli) projectionsRebuild(ctx context.Context, args []string) error {
	fs := c.newFlagSet("projections rebuild", "projections rebuild NAME... | --all")
	all := fs.Bool("all", false, "rebuild every projection in one pass over the log")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(names) > 0) {
		return usagef("projections rebuild needs projection names or --all, not both")
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	engine, err := b.NewEngine(c.logger)
	if err != nil {
		return err
	}
	if *all {
		// One pass over the log feeding every projection.
		names = engine.Names()
		bar := newProgressBar(c.stderr, fmt.Sprintf("all %d", len(names)), time.Now)
		var swapped []string
		err := engine.RebuildAll(ctx, names, func(p projections.Progress) {
			if p.Swapped {
				swapped = append(swapped, p.Projection)
				return
			}
			bar.update(p.Done, p.Total, p.Rate, p.ETA)
		})
		bar.finish(err)
		for _, name := range swapped {
			fmt.Fprintf(c.stdout, "rebuilt %s\n", name)
		}
		if errors.Is(err, projections.ErrRebuildRunning) {
			return err // it names the projection and who rebuilds it; none was rebuilt
		}
		if err != nil {
			return fmt.Errorf("rebuild --all: %w", err)
		}
		return nil
	}
	for _, name := range names {
		bar := newProgressBar(c.stderr, name, time.Now)
		err := engine.Rebuild(ctx, name, func(p projections.Progress) { bar.update(p.Done, p.Total, p.Rate, p.ETA) })
		bar.finish(err)
		if errors.Is(err, projections.ErrRebuildRunning) {
			return err // it names the projection and who rebuilds it
		}
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", name, err)
		}
		fmt.Fprintf(c.stdout, "rebuilt %s\n", name)
	}
	return nil
}
