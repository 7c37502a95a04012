package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
)

const verifyUsage = `verify [--json]

Walks the whole event log, recomputes every event's hash (a chain per
stream over each event as stored) and every signed checkpoint of the global
log, and reports the first event or checkpoint where anything differs: an
edited, deleted, inserted or moved event, or a forged checkpoint. Exit code
1 when the log was tampered with. Read-only.`

const checkpointUsage = `checkpoint

Signs a checkpoint of the event log now (capacityd signs one every
--checkpoint-interval): everything appended since the last one is covered.`

// errTampered is verify's failure: the report says where.
var errTampered = errors.New("the event log was tampered with")

func (c *cli) verify(ctx context.Context, args []string) error {
	fs := c.newFlagSet("verify", verifyUsage)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("verify takes no arguments")
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	key, err := b.ChainKey(ctx)
	if err != nil {
		return err
	}
	cs := b.ChainStore()
	total, err := cs.CountEvents(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	bar := newProgressBar(c.stderr, "verify", time.Now)
	rep, err := eventstore.Verify(ctx, cs, key, func(events, position int64) {
		bar.update(events, max(total, events), 0, 0)
	})
	bar.finish(err)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rate := float64(rep.Events) / max(elapsed.Seconds(), 1e-9)
		fmt.Fprintf(c.stdout, "%d events in %d streams, %d checkpoints, walked in %s (%.0f events/s)\n",
			rep.Events, rep.Streams, rep.Checkpoints, elapsed.Round(time.Millisecond), rate)
		if rep.Tampering != nil {
			fmt.Fprintf(c.stdout, "TAMPERED: %s\n", rep.Tampering)
		} else {
			fmt.Fprintln(c.stdout, "OK: every hash and checkpoint matches")
		}
	}
	if rep.Tampering != nil {
		return fmt.Errorf("%w: %s", errTampered, rep.Tampering)
	}
	return nil
}

func (c *cli) checkpoint(ctx context.Context, args []string) error {
	fs := c.newFlagSet("checkpoint", checkpointUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{msg: err.Error()}
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	key, err := b.ChainKey(ctx)
	if err != nil {
		return err
	}
	cp, ok, err := eventstore.Checkpoint(ctx, b.ChainStore(), key, time.Now())
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintln(c.stdout, "nothing appended since the last checkpoint")
		return nil
	}
	fmt.Fprintf(c.stdout, "checkpoint %d signed: %d events up to position %d\n", cp.Seq, cp.Events, cp.Position)
	return nil
}
