package projections

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/capacitytracker/capacity/eventstore"
)

// Errors of the engine. Check them with errors.Is.
var (
	// ErrNotCaughtUp means WaitFor gave up before the projections reached
	// the position; the HTTP layer answers 503 (or 504).
	ErrNotCaughtUp = errors.New("projections did not catch up in time")
	// ErrUnknownProjection names a projection the engine does not run.
	ErrUnknownProjection = errors.New("unknown projection")
	// ErrRunning means Run was called while the engine was running.
	ErrRunning = errors.New("projection engine already running")
	// ErrRebuildRunning means another rebuild of the projection holds its
	// rebuild lock (see RebuildRunningError).
	ErrRebuildRunning = errors.New("rebuild already running")
	// ErrRebuildSuperseded means a rebuild found, when it was about to swap
	// them in, that the fresh tables were not the ones it filled; it did
	// not swap them in.
	ErrRebuildSuperseded = errors.New("the fresh tables are not the ones this rebuild filled")
)

// Tunables. Live batches are short because on PostgreSQL an open batch
// holds back every gap-safe reader of the log.
const (
	resendInterval = 50 * time.Millisecond
	retryInterval  = time.Second // after a failed SELECT or commit
	ackDeadline    = time.Minute
	closeTimeout   = 30 * time.Second
	maxRetries     = 3
	retryInitial   = 50 * time.Millisecond
	retryMax       = time.Second
	waitForLimit   = 2 * time.Second
	// WaitFor wakes when a batch of this engine commits; it also reads the
	// checkpoints this often, for those moved by another process (a
	// rebuild by capacityctl).
	waitForInterval = 50 * time.Millisecond
	rebuildSuffix   = "__rebuild"
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Engine runs projections: one Watermill handler per projection.
type Engine struct {
	b      *backend
	logger *slog.Logger
	projs  []Projection
	byName map[string]Projection

	observer atomic.Pointer[Observer]
	running  atomic.Bool
	live     map[string]*atomic.Bool // per projection: its handler runs
	// gates open while this node holds a projection's lease (leases.go).
	gates      map[string]*gate
	leaseEvery time.Duration
	jobs       atomic.Bool // this node runs the scheduled jobs
	guest      bool        // SetGuest

	// pollEvery is the engine's slow poll (watchHead); subscribers read
	// on their own every subscriberPolls of it (see poller).
	pollEvery time.Duration
	// committed is broadcast when a batch moves a checkpoint.
	committed eventstore.Signal
	// eagerIndexes makes a rebuild create every index of its fresh tables
	// before it fills them, query indexes too (see QueryIndexer): for the
	// benchmark's comparison.
	eagerIndexes bool
}

// NewEngine checks the projections and returns an engine for them.
func NewEngine(b Backend, logger *slog.Logger, projs ...Projection) (*Engine, error) {
	if b == nil {
		return nil, errors.New("projections: nil backend")
	}
	if logger == nil {
		logger = slog.Default()
	}
	e := &Engine{
		b:      b.backend(),
		logger: logger.With("component", "projections"),
		projs:  projs,
		byName: map[string]Projection{},
		live:   map[string]*atomic.Bool{},
		gates:  map[string]*gate{},

		pollEvery:  slowPoll,
		leaseEvery: leaseInterval,
	}
	tables := map[string]string{}
	for _, p := range projs {
		name := p.Name()
		if !namePattern.MatchString(name) {
			return nil, fmt.Errorf("projection name %q: want lower-case letters, digits and _", name)
		}
		if _, dup := e.byName[name]; dup {
			return nil, fmt.Errorf("projection %s registered twice", name)
		}
		if len(p.Tables()) == 0 {
			return nil, fmt.Errorf("projection %s owns no tables", name)
		}
		for _, t := range p.Tables() {
			if !namePattern.MatchString(t) || len(t)+len(rebuildSuffix) > 63 {
				return nil, fmt.Errorf("projection %s: table name %q: want lower-case letters, digits and _, at most %d characters", name, t, 63-len(rebuildSuffix))
			}
			if owner, dup := tables[t]; dup {
				return nil, fmt.Errorf("table %s owned by both %s and %s", t, owner, name)
			}
			tables[t] = name
		}
		if err := checkQueryIndexes(p); err != nil {
			return nil, err
		}
		e.byName[name] = p
		e.live[name] = &atomic.Bool{}
		e.gates[name] = newGate()
	}
	return e, nil
}

// SetObserver installs the receiver of the engine's measurements. Call it
// before Run.
func (e *Engine) SetObserver(o Observer) { e.observer.Store(&o) }

func (e *Engine) currentObserver() Observer {
	if o := e.observer.Load(); o != nil {
		return *o
	}
	return nil
}

// SetPollInterval sets how often the engine checks the log's head when no
// wake-up comes (one second by default): the safety net for a lost
// notification and for appends of other processes on an SQLite file. Each
// projection also reads the log on its own every 60 intervals. Call it
// before Run.
func (e *Engine) SetPollInterval(d time.Duration) {
	if d > 0 {
		e.pollEvery = d
	}
}

// Names lists the engine's projections in the order they were given.
func (e *Engine) Names() []string {
	names := make([]string, len(e.projs))
	for i, p := range e.projs {
		names[i] = p.Name()
	}
	return names
}

// Running reports whether Run is active.
func (e *Engine) Running() bool { return e.running.Load() }

// Run creates missing read-model tables, recreates those whose schema
// changed (see prepare), and runs the projections until ctx is cancelled.
// Then it stops the router gracefully: batches in flight commit whole
// attempts or roll back, so checkpoints always match the read models. It
// returns nil after a cancellation.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // stopped before it started
	}
	wlogger := quietCancel{watermill.NewSlogLogger(e.logger)}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, wlogger)
	if err != nil {
		return err
	}
	// runCtx ends before the subscribers are closed: their pollers wait on
	// it, and so do the sources of wake-ups.
	runCtx, stop := context.WithCancel(ctx)
	var wake eventstore.Signal
	var announced atomic.Int64
	announce := func(pos int64) {
		for {
			cur := announced.Load()
			if pos <= cur || announced.CompareAndSwap(cur, pos) {
				return
			}
		}
	}
	var sources sync.WaitGroup
	if len(e.projs) > 0 {
		sources.Go(func() { watchHead(runCtx, e.b, e.Names(), e.pollEvery, e.logger, &wake, announce) })
	}
	if e.b.wakeups != nil {
		sources.Go(func() { e.b.wakeups(runCtx, e.logger, &wake, announce) })
	}
	// Which projections this node applies: all on SQLite, its share on
	// PostgreSQL. Released after the router stopped.
	leasing := e.startLeases(runCtx)
	defer leasing.stop()
	var subs []*wsql.Subscriber
	defer func() {
		stop()
		for _, s := range subs {
			_ = s.Close()
		}
		sources.Wait()
	}()
	ackDeadline := ackDeadline
	for _, p := range e.projs {
		name := p.Name()
		size := newLiveBatchSize(e.b.liveBatch, liveBatchTime)
		schema := e.b.schema(e.b.liveBatch)
		schema.size = size
		// The start counts as a wake-up: what was appended before the
		// listener listened may still be behind the gap-safe horizon.
		poll := &poller{wakeups: wake.C, every: subscriberPolls * e.pollEvery, done: runCtx.Done(), announced: &announced,
			quickMax: min(quickMax, e.pollEvery), paceEvery: livePace(e.b.dialect), errors: wsql.NewDefaultBackoffManager(e.pollEvery, retryInterval)}
		poll.woken()
		sub, err := wsql.NewSubscriber(
			guardedBeginner{Beginner: gatedBeginner{Beginner: e.b.db, gate: e.gates[name]}, dialect: e.b.dialect, log: e.b.log, projection: name, observer: e.currentObserver, size: size,
				poll: poll, committed: &e.committed, turn: e.b.turn},
			wsql.SubscriberConfig{
				ConsumerGroup:  name,
				AckDeadline:    &ackDeadline,
				PollInterval:   subscriberPolls * e.pollEvery,
				ResendInterval: resendInterval,
				RetryInterval:  retryInterval,
				BackoffManager: poll,
				SchemaAdapter:  schema,
				OffsetsAdapter: e.b.offsets,
			}, wlogger)
		if err != nil {
			return fmt.Errorf("subscriber for %s: %w", name, err)
		}
		subs = append(subs, sub)
		batch := newBatchApply(p, liveTable)
		poison, err := middleware.PoisonQueueWithFilter(poisonRecorder{b: e.b, a: batch}, "projection_poison", shouldPoison)
		if err != nil {
			return err
		}
		h := router.AddConsumerHandler(name, topic, sub, applyPage(e.b, batch))
		logger := e.logger.With("projection", name)
		h.AddMiddleware(poison, middleware.Retry{
			MaxRetries:          maxRetries,
			InitialInterval:     retryInitial,
			MaxInterval:         retryMax,
			Multiplier:          2,
			RandomizationFactor: 0.2,
			ResetContextOnRetry: true,
			ShouldRetry:         func(p middleware.RetryParams) bool { return shouldPoison(p.Err) },
			OnRetryHook: func(n int, delay time.Duration) {
				logger.Warn("retrying a batch of events", "retry", n, "delay", delay)
			},
		}.Middleware)
	}
	e.logger.Info("projections starting", "count", len(e.projs), "backend", e.b.dialect.String())
	go func() {
		select {
		case <-router.Running():
			for _, f := range e.live {
				f.Store(true)
			}
		case <-ctx.Done():
		}
	}()
	err = router.Run(runCtx)
	for _, f := range e.live {
		f.Store(false)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("projection router: %w", err)
	}
	e.logger.Info("projections stopped")
	return nil
}

// Prepare creates missing read-model tables and recreates those whose
// schema changed (see prepare), without running the projections: Run does
// it first, and the tests' template database is built with it. It returns
// nil when ctx is cancelled before it finishes.
func (e *Engine) Prepare(ctx context.Context) error {
	for _, p := range e.projs {
		// A few tries: a pool may hand out a connection that just died.
		var err error
		for try := range 3 {
			if err = e.prepare(ctx, p, false); err == nil || ctx.Err() != nil {
				break
			}
			e.logger.Warn("preparing projection failed", "projection", p.Name(), "try", try+1, "err", err)
			time.Sleep(100 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// prepare makes a projection's tables match its Schema, and creates its
// checkpoint row. Tables that do not exist yet are created (the projection
// starts from the beginning of the log). Tables created from another schema
// (the fingerprint stored with the checkpoint differs, or is NULL because
// they predate fingerprints) are dropped and created again, and the
// projection replays the log from the start through the live path. It runs
// under the setup lock and the projection's lock, in one transaction, so
// that no batch of another server is in flight while the tables change.
//
// forRebuild leaves tables of another schema in place: Rebuild replaces
// them with fresh ones and stores the fingerprint when it swaps them in,
// and the old ones serve until then.
func (e *Engine) prepare(ctx context.Context, p Projection, forRebuild bool) error {
	name := p.Name()
	fingerprint := e.schemaFingerprint(p)
	return e.b.inTx(ctx, func(tx wsql.Tx) error {
		if err := e.b.lockSetup(ctx, tx); err != nil {
			return err
		}
		// Wait for the batch in flight (another server's, or this
		// process's while it rebuilds) and hold the next one back.
		if _, err := e.b.lockCheckpoint(ctx, tx, name); err != nil {
			return fmt.Errorf("projection %s: lock: %w", name, err)
		}
		v := e.b.view(tx)
		if _, err := v.ExecContext(ctx, insertCheckpoint(e.b.dialect), name, e.b.dialect.Time(time.Now())); err != nil {
			return fmt.Errorf("projection %s: checkpoint: %w", name, err)
		}
		missing := 0
		for _, t := range p.Tables() {
			ok, err := e.b.tableExists(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("projection %s: look up table %s: %w", name, t, err)
			}
			if !ok {
				missing++
			}
		}
		stored, err := e.b.schemaHash(ctx, tx, name)
		if err != nil {
			return fmt.Errorf("projection %s: read schema fingerprint: %w", name, err)
		}
		switch {
		case missing == len(p.Tables()):
			// A new projection (or its tables were dropped): create them.
		case stored.Valid && stored.String == fingerprint:
			if missing == 0 {
				return nil
			}
			return fmt.Errorf("projection %s: some of its tables %v are missing: rebuild it", name, p.Tables())
		case forRebuild:
			return nil
		default:
			e.logger.Info("read model schema changed: rebuilding from the start of the log",
				"projection", name, "previous_schema", stored.String, "schema", fingerprint)
			for _, t := range p.Tables() {
				if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
					return fmt.Errorf("projection %s: drop %s: %w", name, t, err)
				}
			}
		}
		for _, stmt := range p.Schema(e.b.dialect, liveTable) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("projection %s: create schema: %w", name, err)
			}
		}
		if _, err := v.ExecContext(ctx, `UPDATE projection_checkpoints SET position = 0, schema_hash = ?, updated_at = ? WHERE name = ?`,
			fingerprint, e.b.dialect.Time(time.Now()), name); err != nil {
			return err
		}
		if _, err := v.ExecContext(ctx, `DELETE FROM projection_poison WHERE projection = ?`, name); err != nil {
			return err
		}
		e.logger.Info("created read model", "projection", name, "tables", p.Tables())
		return nil
	})
}

// schemaFingerprint identifies the schema of a projection's live tables:
// SHA-256 over its Schema statements, stored with its checkpoint.
func (e *Engine) schemaFingerprint(p Projection) string {
	sum := sha256.Sum256([]byte(strings.Join(p.Schema(e.b.dialect, liveTable), "\x00")))
	return hex.EncodeToString(sum[:16])
}

func (e *Engine) lookup(names []string) error {
	for _, n := range names {
		if _, ok := e.byName[n]; !ok {
			return fmt.Errorf("%w: %s", ErrUnknownProjection, n)
		}
	}
	return nil
}

// checkpoints reads the checkpoint of every projection that has one.
func (e *Engine) checkpoints(ctx context.Context) (map[string]int64, error) {
	rows, err := e.b.view(e.b.db).QueryContext(ctx, `SELECT name, position FROM projection_checkpoints`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, err
		}
		out[name] = pos
	}
	return out, rows.Err()
}

// schemaHash reads the schema fingerprint stored with a projection's
// checkpoint (NULL when its tables predate fingerprints).
func (b *backend) schemaHash(ctx context.Context, tx wsql.Tx, name string) (sql.NullString, error) {
	var h sql.NullString
	rows, err := b.view(tx).QueryContext(ctx, `SELECT schema_hash FROM projection_checkpoints WHERE name = ?`, name)
	if err != nil {
		return h, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&h); err != nil {
			return h, err
		}
	}
	return h, rows.Err()
}

// WaitFor waits until the named projections (all when names is empty) have
// applied every event up to position, for at most two seconds; then it
// returns ErrNotCaughtUp. It gives read-your-writes to a client that sends
// the position its append returned.
func (e *Engine) WaitFor(ctx context.Context, names []string, position int64) error {
	if len(names) == 0 {
		names = e.Names()
	}
	if err := e.lookup(names); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, waitForLimit)
	defer cancel()
	tick := time.NewTicker(waitForInterval)
	defer tick.Stop()
	for {
		// Taken before the read: a commit after it ends the wait.
		committed := e.committed.C()
		cps, err := e.checkpoints(ctx)
		if err == nil {
			behind := ""
			for _, n := range names {
				if cps[n] < position {
					behind = n
					break
				}
			}
			if behind == "" {
				return nil
			}
			err = fmt.Errorf("%w: %s is at %d, want %d", ErrNotCaughtUp, behind, cps[behind], position)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				if errors.Is(err, ErrNotCaughtUp) {
					return err
				}
				return fmt.Errorf("%w: %v", ErrNotCaughtUp, err)
			}
			return ctx.Err()
		case <-committed:
		case <-tick.C:
		}
	}
}

// Status reports every projection's checkpoint, lag and poison events.
func (e *Engine) Status(ctx context.Context) ([]Status, error) {
	head, err := e.b.store.HeadPosition(ctx)
	if err != nil {
		return nil, err
	}
	cps, err := e.checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	owners, err := e.leaseOwners(ctx)
	if err != nil {
		return nil, err
	}
	v := e.b.view(e.b.db)
	out := make([]Status, 0, len(e.projs))
	for _, p := range e.projs {
		st := Status{Name: p.Name(), Checkpoint: cps[p.Name()], Head: head, Owner: owners[p.Name()],
			Running: e.live[p.Name()].Load() && e.gates[p.Name()].isOpen()}
		if st.Checkpoint < head {
			if st.LagEvents, err = e.b.queryInt64(ctx, e.b.db, `SELECT count(*) FROM events WHERE position > ? AND position <= ?`, st.Checkpoint, head); err != nil {
				return nil, fmt.Errorf("lag of %s: %w", p.Name(), err)
			}
			next, err := e.b.store.ReadAll(ctx, st.Checkpoint, 1)
			if err != nil {
				return nil, fmt.Errorf("lag of %s: %w", p.Name(), err)
			}
			if len(next) == 1 {
				st.LagSeconds = max(0, time.Since(next[0].RecordedAt).Seconds())
			}
		}
		if st.PoisonCount, err = e.b.queryInt64(ctx, e.b.db, `SELECT count(*) FROM projection_poison WHERE projection = ?`, p.Name()); err != nil {
			return nil, fmt.Errorf("poison of %s: %w", p.Name(), err)
		}
		if st.PoisonCount > 0 {
			rows, err := v.QueryContext(ctx, `SELECT error FROM projection_poison WHERE projection = ? ORDER BY failed_at DESC, position DESC LIMIT 1`, p.Name())
			if err != nil {
				return nil, fmt.Errorf("poison of %s: %w", p.Name(), err)
			}
			if rows.Next() {
				err = rows.Scan(&st.LastPoison)
			}
			rows.Close()
			if err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// quietCancel logs Watermill's errors that are only the engine's own
// cancellation (its subscribers report "context canceled" while it stops)
// at debug level, so that a normal shutdown logs no errors.
type quietCancel struct{ watermill.LoggerAdapter }

func (q quietCancel) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) {
		q.LoggerAdapter.Debug(msg+": "+err.Error(), fields)
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q quietCancel) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietCancel{q.LoggerAdapter.With(fields)}
}
