package benchrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
	"github.com/capacitytracker/capacity/projections/views"
)

// lagObserver turns the engine's commit reports into per-event lag: the time
// from an append's acknowledgement to the commit of the projection batch
// that applied it, in the last of the projections to get there.
type lagObserver struct {
	mu        sync.Mutex
	pending   map[int64]time.Time // position -> acknowledged at
	lags      []time.Duration
	at        map[string]int64 // each projection's checkpoint
	committed int64            // the lowest of them
	caughtUp  chan struct{}
	target    int64
}

func newLagObserver(names []string) *lagObserver {
	o := &lagObserver{pending: map[int64]time.Time{}, at: map[string]int64{}, caughtUp: make(chan struct{}, 1)}
	for _, n := range names {
		o.at[n] = 0
	}
	return o
}

func (o *lagObserver) Committed(name string, position int64, _ int) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.at[name] = max(o.at[name], position)
	lowest := position
	for _, p := range o.at {
		lowest = min(lowest, p)
	}
	o.committed = max(o.committed, lowest)
	for pos, at := range o.pending {
		if pos <= o.committed {
			o.lags = append(o.lags, now.Sub(at))
			delete(o.pending, pos)
		}
	}
	if o.target > 0 && o.committed >= o.target {
		select {
		case o.caughtUp <- struct{}{}:
		default:
		}
	}
}

func (o *lagObserver) Poisoned(string, int64, string, error) {}

func (o *lagObserver) acknowledged(position int64, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if position <= o.committed {
		o.lags = append(o.lags, time.Since(at))
		return
	}
	o.pending[position] = at
}

// waitFor waits until the checkpoint reaches position.
func (o *lagObserver) waitFor(ctx context.Context, position int64) error {
	o.mu.Lock()
	o.target = position
	done := o.committed >= position
	o.mu.Unlock()
	for !done {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.caughtUp:
		case <-time.After(100 * time.Millisecond):
		}
		o.mu.Lock()
		done = o.committed >= position
		o.mu.Unlock()
	}
	return nil
}

func (s *scratch) projectionBackend() projections.Backend {
	if s.pool != nil {
		return projections.NewPostgresBackend(s.store.(*postgres.Store))
	}
	return projections.NewSQLiteBackend(s.sqlite.DB(), s.sqlite)
}

func runProjections(ctx context.Context, s *scratch, opts Options, w io.Writer) error {
	// The engine with its smallest real projection measures the engine
	// itself (the Watermill subscriber, the handler, the checkpoint); every
	// projection of the product at once is what a server runs.
	projs, name := []projections.Projection{categorystats.Projection{}}, "category_stats"
	if opts.AllProjections {
		projs = views.Default()
		name = fmt.Sprintf("all %d projections", len(projs))
	}
	if opts.Nodes > 1 {
		name += fmt.Sprintf(", shared by %d nodes", opts.Nodes)
	}
	fmt.Fprintf(w, "projections (%s through Watermill):\n", name)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine, err := projections.NewEngine(s.projectionBackend(), logger, projs...)
	if err != nil {
		return err
	}
	names := make([]string, len(projs))
	for i, p := range projs {
		names[i] = p.Name()
	}
	obs := newLagObserver(names)
	engine.SetObserver(obs)
	logged := countEvents(ctx, s.store)

	// Live delivery: the engine starts behind the whole log written so far
	// and catches up through the Watermill subscriber.
	head, err := s.store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	start := time.Now()
	go func() { runErr <- engine.Run(runCtx) }()
	stopOthers, err := s.otherNodes(runCtx, opts.Nodes, logger, projs, obs)
	if err != nil {
		stop()
		<-runErr
		return err
	}
	stopEngine := func() error {
		othersErr := stopOthers()
		stop()
		if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return othersErr
	}
	if err := obs.waitFor(ctx, head); err != nil {
		_ = stopEngine()
		return err
	}
	line{result: bench.Result{Name: "live projection catch-up", Events: int64(logged), Duration: time.Since(start)}}.print(w)

	// Lag under a steady load of LagRate appends/s.
	lat, err := steadyLoad(ctx, s.store, obs, opts.LagRate, opts.LagDuration)
	if err != nil {
		_ = stopEngine()
		return err
	}
	fmt.Fprintf(w, "  projection lag at %s appends/s for %s: p50 %s  p99 %s  max %s  (%d events)  [target: p99 < 100ms]\n",
		thousands(opts.LagRate), opts.LagDuration, pct(lat, 50), pct(lat, 99), pct(lat, 100), len(lat))

	// Rebuild from RebuildEvents events.
	total := countEvents(ctx, s.store)
	if missing := opts.RebuildEvents - total; missing > 0 {
		fmt.Fprintf(w, "  filling the log to %d events...\n", opts.RebuildEvents)
		if err := bench.Fill(ctx, s.store, missing, nil); err != nil {
			_ = stopEngine()
			return err
		}
	}
	var last projections.Progress
	start = time.Now()
	if err := engine.Rebuild(ctx, "category_stats", func(p projections.Progress) { last = p }); err != nil {
		_ = stopEngine()
		return fmt.Errorf("rebuild: %w", err)
	}
	line{result: bench.Result{Name: "rebuild category_stats", Events: last.Done, Duration: time.Since(start)}, target: ">= 100,000 events/s"}.print(w)
	if opts.AllProjections {
		// What projections rebuild --all did before issue 16: every
		// projection, one after another, each reading the whole log; the
		// rate is the log's events over the whole time. Kept to measure
		// the one pass against it in the same run.
		start = time.Now()
		for _, n := range names {
			if err := engine.Rebuild(ctx, n, func(p projections.Progress) { last = p }); err != nil {
				_ = stopEngine()
				return fmt.Errorf("rebuild %s: %w", n, err)
			}
		}
		line{result: bench.Result{Name: fmt.Sprintf("rebuild all %d projections, one after another", len(names)), Events: last.Done, Duration: time.Since(start)}}.print(w)
		// What projections rebuild --all does: one pass over the log
		// feeding every projection (Engine.RebuildAll).
		start = time.Now()
		if err := engine.RebuildAll(ctx, names, func(p projections.Progress) { last = p }); err != nil {
			_ = stopEngine()
			return fmt.Errorf("rebuild all: %w", err)
		}
		line{result: bench.Result{Name: fmt.Sprintf("rebuild all %d projections", len(names)), Events: last.Done, Duration: time.Since(start)},
			target: ">= 30,000 events/s"}.print(w)
	}
	return stopEngine()
}

func countEvents(ctx context.Context, store eventstore.Store) int {
	var n int
	var from int64
	for {
		evs, err := store.ReadAll(ctx, from, 10000)
		if err != nil || len(evs) == 0 {
			return n
		}
		n += len(evs)
		from = evs[len(evs)-1].Position
	}
}

// steadyLoad appends single events at rate per second for d and returns the
// projection lag of each.
func steadyLoad(ctx context.Context, store eventstore.Store, obs *lagObserver, rate int, d time.Duration) ([]time.Duration, error) {
	obs.mu.Lock()
	obs.lags = nil
	obs.mu.Unlock()
	interval := time.Second / time.Duration(rate)
	jobs := make(chan int, rate)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range jobs {
				ev, _ := eventstore.NewEvent("LagProbe", map[string]int{"i": i}, eventstore.Metadata{Command: "bench"})
				res, err := store.Append(ctx, fmt.Sprintf("lag-%d.%d", w, i), eventstore.NoStream, ev)
				if err != nil {
					errMu.Lock()
					firstErr = err
					errMu.Unlock()
					continue
				}
				obs.acknowledged(res.LastPosition(), time.Now())
			}
		}(w)
	}
	tick := time.NewTicker(interval)
	deadline := time.After(d)
	i := 0
loop:
	for {
		select {
		case <-tick.C:
			select {
			case jobs <- i:
				i++
			default: // the writers are saturated: skip rather than queue
			}
		case <-deadline:
			break loop
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	// Wait for the last events to be applied.
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		obs.mu.Lock()
		n := len(obs.pending)
		obs.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-waitCtx.Done():
			return nil, fmt.Errorf("projection did not apply %d events within 30s", n)
		case <-time.After(10 * time.Millisecond):
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	return append([]time.Duration(nil), obs.lags...), nil
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i].Round(100 * time.Microsecond)
}

// thousands writes n with a comma between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
