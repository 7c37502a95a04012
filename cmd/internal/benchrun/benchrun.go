// Package benchrun is `capacityctl bench`: it measures the event store and
// the projection engine on a scratch database (a fresh PostgreSQL database
// on the configured server, dropped afterwards, or a temporary SQLite file),
// next to the database's own ceiling measured in the same run, and prints
// each figure with its ratio to that ceiling and the target it is held to.
// It never writes to the production database.
package benchrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/migrations"
)

// Options says what to measure and how much.
type Options struct {
	// PostgresURL is any database URL of the server to measure; empty means
	// SQLite in a temporary directory.
	PostgresURL string
	// SingleOps is the number of single-event appends per writer count.
	SingleOps int
	// BatchEvents is the number of events appended in batches of 100.
	BatchEvents int
	// RebuildEvents is the size of the log the rebuild replays.
	RebuildEvents int
	// LagDuration is how long the steady load of LagRate appends/s runs.
	LagDuration time.Duration
	// LagRate is the appends per second of that load (default 1,000).
	LagRate int
	// Skip projection measurements (live throughput, lag, rebuild).
	StoreOnly bool
	// AllProjections runs every projection of the product
	// (views.Default) instead of category_stats alone.
	AllProjections bool
	// Nodes is how many engines share the projections (PostgreSQL), as
	// that many capacityd processes would; 0 or 1: one.
	Nodes int
}

// Defaults fills zero options with the sizes used for BENCHMARKS.md.
func (o Options) Defaults() Options {
	if o.SingleOps == 0 {
		o.SingleOps = 20000
	}
	if o.BatchEvents == 0 {
		o.BatchEvents = 200000
	}
	if o.RebuildEvents == 0 {
		o.RebuildEvents = 1000000
	}
	if o.LagDuration == 0 {
		o.LagDuration = 10 * time.Second
	}
	if o.LagRate == 0 {
		o.LagRate = 1000
	}
	return o
}

// scratch is a fresh backend to measure on.
type scratch struct {
	kind    string
	store   eventstore.Store
	pool    *pgxpool.Pool // PostgreSQL only
	sqlite  *sqlite.Store // SQLite only
	cleanup func()
}

func openScratch(ctx context.Context, opts Options) (*scratch, error) {
	if opts.PostgresURL == "" {
		dir, err := os.MkdirTemp("", "capacity-bench-")
		if err != nil {
			return nil, err
		}
		st, err := sqlite.Open(ctx, filepath.Join(dir, "bench.db"))
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		return &scratch{kind: "sqlite", store: st, sqlite: st, cleanup: func() {
			_ = st.Close()
			_ = os.RemoveAll(dir)
		}}, nil
	}
	admin, err := pgx.Connect(ctx, opts.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", opts.PostgresURL, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "capacity_bench_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close(ctx)
		return nil, fmt.Errorf("create scratch database: %w", err)
	}
	drop := func() {
		c := context.Background()
		_, _ = admin.Exec(c, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(c)
	}
	u, err := url.Parse(opts.PostgresURL)
	if err != nil {
		drop()
		return nil, err
	}
	u.Path = "/" + name
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		drop()
		return nil, err
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		drop()
		return nil, err
	}
	if _, err := migrations.ApplyPostgres(ctx, pool); err != nil {
		pool.Close()
		drop()
		return nil, err
	}
	return &scratch{kind: "postgres", store: postgres.New(pool), pool: pool, cleanup: func() {
		pool.Close()
		drop()
	}}, nil
}

func (s *scratch) ceiling(ctx context.Context, conns, rowsPerTx, rows int) (bench.Result, error) {
	if s.pool != nil {
		return bench.PostgresCeiling(ctx, s.pool, conns, rowsPerTx, rows)
	}
	return bench.SQLiteCeiling(ctx, s.sqlite.DB(), conns, rowsPerTx, rows)
}

// line is one printed figure.
type line struct {
	result  bench.Result
	ceiling *bench.Result
	target  string
}

func (l line) print(w io.Writer) {
	fmt.Fprintf(w, "  %s", l.result)
	if l.ceiling != nil && l.ceiling.Rate() > 0 {
		fmt.Fprintf(w, "  = %.0f%% of ceiling", 100*l.result.Rate()/l.ceiling.Rate())
	}
	if l.target != "" {
		fmt.Fprintf(w, "  [target: %s]", l.target)
	}
	fmt.Fprintln(w)
}

// Run measures one backend and prints the results to w.
func Run(ctx context.Context, opts Options, w io.Writer) error {
	opts = opts.Defaults()
	s, err := openScratch(ctx, opts)
	if err != nil {
		return err
	}
	defer s.cleanup()
	fmt.Fprintf(w, "backend: %s (scratch database)\n", s.kind)

	fmt.Fprintln(w, "ceiling (plain INSERTs, same row shape and indexes):")
	ceilings := map[[2]int]bench.Result{}
	for _, c := range [][2]int{{1, 1}, {32, 1}, {1, 100}, {4, 100}, {32, 100}} {
		rows := opts.SingleOps
		if c[1] > 1 {
			rows = opts.BatchEvents
		}
		r, err := s.ceiling(ctx, c[0], c[1], rows)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		ceilings[c] = r
		line{result: r}.print(w)
	}

	fmt.Fprintln(w, "event store:")
	for _, writers := range []int{1, 8, 32} {
		r, err := bench.SingleAppends(ctx, s.store, writers, opts.SingleOps)
		if err != nil {
			return fmt.Errorf("single appends: %w", err)
		}
		l := line{result: r}
		if writers == 1 || writers == 32 {
			c := ceilings[[2]int{writers, 1}]
			l.ceiling = &c
		}
		if writers == 32 {
			l.target = ">= 80% of ceiling"
		}
		l.print(w)
	}
	if err := interleaved(ctx, s, opts, w); err != nil {
		return err
	}
	for _, writers := range []int{1, 4, 32} {
		r, err := bench.BatchedAppends(ctx, s.store, writers, 100, opts.BatchEvents)
		if err != nil {
			return fmt.Errorf("batched appends: %w", err)
		}
		c := ceilings[[2]int{writers, 100}]
		line{result: r, ceiling: &c, target: ">= 60,000 events/s"}.print(w)
	}

	r, err := bench.ReadAll(ctx, s.store, 5000)
	if err != nil {
		return fmt.Errorf("read all: %w", err)
	}
	line{result: r}.print(w)

	if opts.StoreOnly {
		return nil
	}
	return runProjections(ctx, s, opts, w)
}

// interleaved measures single-event appends at 32 writers and their ceiling
// in alternating rounds and compares the medians, so that a slow moment of
// the machine (a checkpoint, autovacuum, another process) does not fall on
// one side only.
func interleaved(ctx context.Context, s *scratch, opts Options, w io.Writer) error {
	const rounds = 3
	var ours, ceil []bench.Result
	for i := 0; i < rounds; i++ {
		c, err := s.ceiling(ctx, 32, 1, opts.SingleOps)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		r, err := bench.SingleAppends(ctx, s.store, 32, opts.SingleOps)
		if err != nil {
			return fmt.Errorf("single appends: %w", err)
		}
		ceil, ours = append(ceil, c), append(ours, r)
	}
	median := func(rs []bench.Result) bench.Result {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Rate() < rs[j].Rate() })
		return rs[len(rs)/2]
	}
	c, r := median(ceil), median(ours)
	r.Name = fmt.Sprintf("append 1 event, 32 writers (median of %d interleaved)", rounds)
	line{result: r, ceiling: &c, target: ">= 80% of ceiling"}.print(w)
	fmt.Fprintf(w, "    ceiling median %.0f events/s; rounds: ours", c.Rate())
	for _, x := range ours {
		fmt.Fprintf(w, " %.0f", x.Rate())
	}
	fmt.Fprint(w, ", ceiling")
	for _, x := range ceil {
		fmt.Fprintf(w, " %.0f", x.Rate())
	}
	fmt.Fprintln(w)
	return nil
}
