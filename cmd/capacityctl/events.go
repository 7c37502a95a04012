package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
)

func (c *cli) events(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("events needs a subcommand: tail or stream")
	}
	switch args[0] {
	case "tail":
		return c.eventsTail(ctx, args[1:])
	case "stream":
		return c.eventsStream(ctx, args[1:])
	default:
		return usagef("unknown events subcommand %q: want tail or stream", args[0])
	}
}

// actor names who caused an event: the acting user, else the kind of
// account (system), else "-".
func actor(md eventstore.Metadata) string {
	switch {
	case md.ActorUserID != "":
		return md.ActorUserID
	case md.ActorAccountKind != "":
		return string(md.ActorAccountKind)
	default:
		return "-"
	}
}

const tailBatch = 1000

// eventsTail follows the global log with ReadAll, which only returns events
// below every still-open write, so the printed order is final.
func (c *cli) eventsTail(ctx context.Context, args []string) error {
	fs := c.newFlagSet("events tail", "events tail [--from N] [--poll D]")
	from := fs.Int64("from", -1, "print events after global `position` N (0 = the whole log); default: only new events")
	poll := fs.Duration("poll", 500*time.Millisecond, "how often to look for new events")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("events tail takes no arguments")
	}
	if *poll <= 0 {
		return usagef("--poll must be positive")
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()

	pos := *from
	if pos < 0 {
		if pos, err = b.Store.HeadPosition(ctx); err != nil {
			return err
		}
	}
	c.logger.Info("tailing the event log", "after", pos)
	ticker := time.NewTicker(*poll)
	defer ticker.Stop()
	for {
		evs, err := b.Store.ReadAll(ctx, pos, tailBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, ev := range evs {
			fmt.Fprintf(c.stdout, "%d\t%s\t%d\t%s\t%s\t%s\n", ev.Position, ev.StreamID, ev.Version, ev.Type,
				ev.RecordedAt.UTC().Format(time.RFC3339Nano), actor(ev.Metadata))
			pos = ev.Position
		}
		if len(evs) == tailBatch {
			continue // more are waiting: read on without sleeping
		}
		select {
		case <-ctx.Done():
			return nil // Ctrl-C is the normal way to stop tailing
		case <-ticker.C:
		}
	}
}

// jsonEvent is the --json form of an event.
type jsonEvent struct {
	Position   int64               `json:"position"`
	StreamID   string              `json:"stream_id"`
	Version    int64               `json:"version"`
	ID         string              `json:"id"`
	Type       string              `json:"type"`
	RecordedAt time.Time           `json:"recorded_at"`
	Data       json.RawMessage     `json:"data"`
	Metadata   eventstore.Metadata `json:"metadata"`
	Erased     []string            `json:"erased,omitempty"`
}

func (c *cli) eventsStream(ctx context.Context, args []string) error {
	fs := c.newFlagSet("events stream", "events stream ID [--as-of RFC3339] [--json]")
	asOf := fs.String("as-of", "", "only events recorded at or before this RFC 3339 `time`")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("events stream needs exactly one stream ID")
	}
	streamID := rest[0]
	if err := eventstore.ValidateStreamID(streamID); err != nil {
		return usageError{msg: err.Error()}
	}
	var opts eventstore.ReadStreamOptions
	if *asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, *asOf)
		if err != nil {
			return usagef("--as-of %q is not an RFC 3339 time (like 2026-03-01T09:00:00Z)", *asOf)
		}
		opts.AsOf = t
	}
	b, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	evs, err := b.Store.ReadStream(ctx, streamID, opts)
	if err != nil {
		return err
	}

	if *asJSON {
		out := make([]jsonEvent, len(evs))
		for i, ev := range evs {
			data := ev.Data
			if len(data) == 0 {
				data = json.RawMessage("null")
			}
			out[i] = jsonEvent{Position: ev.Position, StreamID: ev.StreamID, Version: ev.Version, ID: ev.ID.String(),
				Type: ev.Type, RecordedAt: ev.RecordedAt.UTC(), Data: data, Metadata: ev.Metadata, Erased: ev.Erased}
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(evs) == 0 {
		fmt.Fprintf(c.stderr, "stream %s has no events", streamID)
		if *asOf != "" {
			fmt.Fprintf(c.stderr, " recorded at or before %s", *asOf)
		}
		fmt.Fprintln(c.stderr)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tPOSITION\tTYPE\tRECORDED_AT\tACTOR\tDATA")
	for _, ev := range evs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", ev.Version, ev.Position, ev.Type,
			ev.RecordedAt.UTC().Format(time.RFC3339Nano), actor(ev.Metadata), compact(ev.Data))
	}
	return tw.Flush()
}

// compact prints event data on one line, whatever its stored spacing.
func compact(data json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return string(data)
	}
	return buf.String()
}
