package main

import (
	"context"
	"fmt"
	"io"
	"time"

	// Named so: the package's tests have a func seed.
	seeddata "github.com/capacitytracker/capacity/cmd/internal/seed"
)

const seedUsage = `seed [-locations N] [-seed S] [-gp-practices N]

Fills an empty database with a realistic national data set, for demos and
benchmarks: CQC providers (most with one location, a few national groups with
hundreds) and their locations across England's nine CQC regions, GP practices,
and for each location a year of what its users did to its details (contacts,
notes, address, ownership type, PAMMS, linked GP practices, sections confirmed
unchanged) and of what CQC's imports changed. Every stream is decided by the
domain as the real commands would decide it. The same -seed gives the same data.

The events' recorded_at is the time of the seed (the event store sets it when
it appends): the year of history lives in the domain's own times (the dates of
notes, edits and CQC's reports) and in the number of events, not in recorded_at.

Refuses a database that has any location or organisation.`

func (c *cli) seed(ctx context.Context, args []string) error {
	fs := c.newFlagSet("seed", seedUsage)
	opts := seeddata.Options{}
	fs.IntVar(&opts.Locations, "locations", seeddata.DefaultLocations, "number of CQC locations")
	fs.Uint64Var(&opts.Seed, "seed", 1, "seed of the generator: the same seed gives the same data set")
	fs.IntVar(&opts.GPPractices, "gp-practices", seeddata.DefaultGPPractices, "number of GP practices")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("seed takes no arguments")
	}
	if err := opts.Validate(); err != nil {
		return usagef("seed: %v", err)
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	p := newSeedProgress(c.stderr, opts.Locations)
	sum, err := seeddata.Run(ctx, b.Store, opts, p.update)
	p.finish()
	if err != nil {
		if sum.Events > 0 {
			return fmt.Errorf("seed stopped after %d locations (%d events appended; start again on a fresh database): %w", sum.Locations, sum.Events, err)
		}
		return err
	}
	secs := max(sum.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(c.stdout, "seeded %d locations, %d organisations and %d GP practices: %d events in %s (%.0f locations/s, %.0f events/s)\n",
		sum.Locations, sum.Organisations, sum.GPPractices, sum.Events, sum.Elapsed.Round(time.Millisecond),
		float64(sum.Locations)/secs, float64(sum.Events)/secs)
	return nil
}

// seedProgress shows how far a seed is, on one line redrawn in place on a
// terminal, or a line every few seconds otherwise.
type seedProgress struct {
	w        io.Writer
	tty      bool
	target   int
	last     seeddata.Summary
	lastDraw time.Time
	drawn    bool
}

func newSeedProgress(w io.Writer, target int) *seedProgress {
	return &seedProgress{w: w, tty: isTerminal(w), target: target}
}

func (p *seedProgress) line() string {
	rate := 0.0
	if s := p.last.Elapsed.Seconds(); s > 0 {
		rate = float64(p.last.Locations) / s
	}
	return fmt.Sprintf("seed  %d/%d locations  %d events  %.0f locations/s", p.last.Locations, p.target, p.last.Events, rate)
}

func (p *seedProgress) update(s seeddata.Summary) {
	p.last = s
	interval := plainLineInterval
	if p.tty {
		interval = redrawInterval
	}
	if now := time.Now(); !p.drawn || now.Sub(p.lastDraw) >= interval {
		p.lastDraw, p.drawn = now, true
		if p.tty {
			fmt.Fprintf(p.w, "\r%s\x1b[K", p.line())
		} else {
			fmt.Fprintln(p.w, p.line())
		}
	}
}

func (p *seedProgress) finish() {
	if p.drawn && p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line())
	}
}
