package analytics_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// The engine's steps the view's tests take (the rows' helpers are
// projtest's and analyticstest's).

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

// run starts the engine and returns a function that stops it and waits.
func run(t *testing.T, e *projections.Engine) (stop func()) {
	t.Helper()
	return projtest.RunEngine(t, e)
}

// waitAll waits until every projection has applied the log up to pos (a
// liveness bound, not a speed check).
func waitAll(tb testing.TB, e *projections.Engine, pos int64) {
	tb.Helper()
	projtest.WaitFor(tb, e, pos, 10*time.Minute)
}
