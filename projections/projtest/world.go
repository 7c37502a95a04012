package projtest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// World is a fresh database of one backend (Open) with an engine running
// the given projections, stopped when the test ends, and the helpers the
// tests of the read side share: Emit and Append write events to the log
// as the commands would, Sync waits until every projection has applied
// them, Clock is a clock the test moves by hand, and Logger collects the
// log into the test's output if the test fails.
type World struct {
	tb         testing.TB
	Store      Store
	Backend    projections.Backend
	Engine     *projections.Engine
	ReadModels projections.ReadModels
	Clock      *Clock
	Logger     *slog.Logger

	mu   sync.Mutex
	last int64
}

// NewWorld opens a fresh database of the backend and runs an engine over
// projs on it until the test ends. The log (warnings and errors) is shown
// with the test's output if it fails.
func NewWorld(tb testing.TB, backend string, projs ...projections.Projection) *World {
	tb.Helper()
	store, pb := Open(tb, backend)
	logger := CaptureLog(tb, slog.LevelWarn)
	e, err := projections.NewEngine(pb, logger, projs...)
	if err != nil {
		tb.Fatal(err)
	}
	RunEngine(tb, e)
	return &World{
		tb: tb, Store: store, Backend: pb, Engine: e,
		ReadModels: projections.NewReadModels(pb),
		Clock:      NewClock(time.Now().UTC().Truncate(time.Second)),
		Logger:     logger,
	}
}

// RunEngine runs e until the test ends; the returned stop ends it sooner
// (once, whichever comes first) and fails the test if Run returned an
// error (it returns nil after a cancellation).
func RunEngine(tb testing.TB, e *projections.Engine) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("projection engine: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// Event is an event of the domain: its type names it in the log.
type Event = interface{ EventType() string }

// Emit appends events to a stream in one append, JSON-encoded, with
// Command "test" unless md names one, and returns the position of the
// last.
func (w *World) Emit(stream string, md eventstore.Metadata, evs ...Event) int64 {
	w.tb.Helper()
	if md.Command == "" {
		md.Command = "test"
	}
	data := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		d, err := eventstore.NewEvent(ev.EventType(), ev, md)
		if err != nil {
			w.tb.Fatal(err)
		}
		data[i] = d
	}
	return w.Append(stream, data...)
}

// Append appends encoded events to a stream in one append and returns
// the position of the last; Sync waits for it.
func (w *World) Append(stream string, data ...eventstore.EventData) int64 {
	w.tb.Helper()
	res, err := w.Store.Append(context.Background(), stream, eventstore.Any, data...)
	if err != nil {
		w.tb.Fatalf("append to %s: %v", stream, err)
	}
	w.Saw(res.LastPosition())
	return res.LastPosition()
}

// Saw records a position appended otherwise (by the commands, say), for
// Sync to wait for.
func (w *World) Saw(pos int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = max(w.last, pos)
}

// Last is the position of the last event appended through the world.
func (w *World) Last() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Sync waits until every projection has applied the world's last append,
// and fails the test if any of them skipped an event as poison.
func (w *World) Sync() {
	w.tb.Helper()
	w.SyncTo(w.Last())
}

// SyncTo is Sync up to the position pos.
func (w *World) SyncTo(pos int64) {
	w.tb.Helper()
	// A liveness bound, not a speed check: 11 projections folding a
	// thousand imports on SQLite under the race detector, on a loaded
	// 2-core machine, took over a minute once.
	WaitFor(w.tb, w.Engine, pos, 2*time.Minute)
	st, err := w.Engine.Status(context.Background())
	if err != nil {
		w.tb.Fatal(err)
	}
	for _, s := range st {
		if s.PoisonCount > 0 {
			w.tb.Fatalf("projection %s skipped %d events: %s", s.Name, s.PoisonCount, s.LastPoison)
		}
	}
}

// WaitFor waits until every projection of e has applied the log up to
// pos, and fails the test if they have not within the liveness bound
// (not a speed check). A busy shared server can hold the gap-safe head
// back for longer than one Engine.WaitFor: only ErrNotCaughtUp is worth
// asking again.
func WaitFor(tb testing.TB, e *projections.Engine, pos int64, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := e.WaitFor(context.Background(), nil, pos)
		if err == nil {
			return
		}
		if !errors.Is(err, projections.ErrNotCaughtUp) || time.Now().After(deadline) {
			tb.Fatalf("projections did not reach position %d: %v", pos, err)
		}
	}
}

// Clock is a clock a test sets by hand, safe for concurrent use; its Now
// is the commands' (or a job's) clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock is a clock at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// CaptureLog is a logger of the records at level and above, shown with
// the test's output if the test fails.
func CaptureLog(tb testing.TB, level slog.Level) *slog.Logger {
	logs := &LogBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() && logs.Len() > 0 {
			tb.Logf("log:\n%s", logs.String())
		}
	})
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
}

// LogBuffer collects a log, safe for concurrent writes.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Len is the length of the log so far.
func (l *LogBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// String is the log so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
