package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/history"
)

const replayUsage = `replay STREAM [--as-of TIME | --version N] [--diff-from POINT] [--timeline]

Folds a stream of the event log (location-, organisation-, user-,
dailyupdate-, survey- or surveyresponse-...) and prints its state as JSON:
at its latest version, at version N, or as of TIME (RFC 3339, the last event
recorded at or before it). --diff-from POINT (a version or a time) prints
the fields that differ between POINT and that state instead; --timeline
prints every event with who made it, through which login, and the fields it
changed. Computed from the events themselves, not from any view.`

func (c *cli) replay(ctx context.Context, args []string) error {
	fs := c.newFlagSet("replay", replayUsage)
	asOf := fs.String("as-of", "", "the state as of this `time` (RFC 3339)")
	version := fs.Int64("version", -1, "the state at this stream `version`")
	diffFrom := fs.String("diff-from", "", "print the diff from this `point` (a version or an RFC 3339 time)")
	timeline := fs.Bool("timeline", false, "print the stream's timeline")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("replay needs one STREAM")
	}
	if *asOf != "" && *version >= 0 {
		return usagef("give --as-of or --version, not both")
	}
	point := history.AtVersion(1 << 62)
	switch {
	case *version >= 0:
		point = history.AtVersion(*version)
	case *asOf != "":
		t, err := time.Parse(time.RFC3339Nano, *asOf)
		if err != nil {
			return usagef("--as-of %q: want an RFC 3339 time like 2026-11-24T09:30:00Z", *asOf)
		}
		point = history.AsOf(t)
	}
	b, a, err := c.openAccounts(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	stream := rest[0]
	evs, err := a.StreamHistory(ctx, commands.System("capacityctl replay"), stream)
	if err != nil {
		return fmt.Errorf("%s: %s", stream, describe(err))
	}
	var out any
	switch {
	case *timeline:
		out, err = history.Timeline(stream, evs)
	case *diffFrom != "":
		var from history.Point
		if n, perr := strconv.ParseInt(*diffFrom, 10, 64); perr == nil && n >= 0 {
			from = history.AtVersion(n)
		} else if t, terr := time.Parse(time.RFC3339Nano, *diffFrom); terr == nil {
			from = history.AsOf(t)
		} else {
			return usagef("--diff-from %q: want a version or an RFC 3339 time", *diffFrom)
		}
		var x, y history.State
		if x, err = history.Replay(stream, evs, from); err == nil {
			if y, err = history.Replay(stream, evs, point); err == nil {
				var changes []history.Change
				changes, err = history.Diff(x.State, y.State)
				out = map[string]any{"from_version": x.Version, "to_version": y.Version, "changes": changes}
			}
		}
	default:
		out, err = history.Replay(stream, evs, point)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
