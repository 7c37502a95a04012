package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

func rebuildTable(name string) string { return name + rebuildSuffix }

// Rebuild replays the whole log into fresh copies of a projection's tables
// (name__rebuild) in large batches while the live projection keeps serving
// and updating the old ones. Then, in one transaction, it takes the
// projection's lock (which waits for the live batch in flight and holds
// the next one back), applies the events appended meanwhile, swaps the
// tables in, records the rebuild's poison events and sets the checkpoint to
// the rebuilt position and the fingerprint of the schema (see prepare).
// Live delivery resumes from there.
//
// One rebuild of a projection runs at a time across every process on the
// database: Rebuild holds the projection's rebuild lock (see locks.go) from
// start to end, and returns a *RebuildRunningError at once when another
// process holds it. Holding it, it first drops the fresh tables a killed
// rebuild left behind. It swaps in only the tables it created itself: the
// token it wrote into projection_rebuilds with them (and on PostgreSQL the
// tables' identities) must still be there in the swap's transaction.
//
// A projection that implements BatchApplier gets each batch in one
// ApplyBatch call; a batch that fails is split until its failing events
// are found (batchapply.go), so that exactly those are recorded as poison.
//
// progress, if not nil, is called after every batch and once after the swap.
func (e *Engine) Rebuild(ctx context.Context, name string, progress func(Progress)) error {
	p, ok := e.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
	}
	return e.rebuildSet(ctx, []Projection{p}, progress)
}

// RebuildAll rebuilds the named projections (every projection when names
// is empty) in one pass over the log: each batch of events is read once
// and applied, in one transaction, to the fresh tables of every one of
// them, each through its own batch code (a poison event of one projection
// is found by splitting that projection's batch alone and does not stop
// the others). Each projection is then swapped in, in a transaction of its
// own, exactly as Rebuild swaps in one.
//
// RebuildAll takes every projection's rebuild lock before it starts. When
// another process holds one of them, it rebuilds none and returns that
// projection's *RebuildRunningError (it matches ErrRebuildRunning): a
// rebuild of all is meant to leave every view rebuilt from the same log,
// and the caller can wait and retry, or rebuild the others by name.
//
// progress, if not nil, is called for each projection after every batch
// and once after its swap (Progress.Projection says which).
func (e *Engine) RebuildAll(ctx context.Context, names []string, progress func(Progress)) error {
	if len(names) == 0 {
		names = e.Names()
	}
	seen := map[string]bool{}
	var ps []Projection
	for _, name := range names {
		p, ok := e.byName[name]
		if !ok {
			return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
		}
		if !seen[name] {
			seen[name] = true
			ps = append(ps, p)
		}
	}
	return e.rebuildSet(ctx, ps, progress)
}

// rebuildSet rebuilds ps in one pass over the log (see Rebuild and
// RebuildAll).
func (e *Engine) rebuildSet(ctx context.Context, ps []Projection, progress func(Progress)) (err error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	label := ps[0].Name()
	if len(ps) > 1 {
		label = fmt.Sprintf("of %d projections", len(ps))
	}
	var rs []*rebuild
	defer func() {
		// In reverse: drop what was not swapped in, then let the lock go.
		for i := len(rs) - 1; i >= 0; i-- {
			rs[i].finish(ctx)
		}
	}()
	for _, p := range ps {
		name := p.Name()
		lock, ok, err := e.b.locks.tryLock(ctx, "rebuild-"+name)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", name, err)
		}
		if !ok {
			return e.rebuildRunning(ctx, name)
		}
		rs = append(rs, &rebuild{e: e, p: p, lock: lock, progress: progress,
			logger: e.logger.With("projection", name), batch: newBatchApply(p, rebuildTable)})
	}
	for _, r := range rs {
		if err := r.begin(ctx); err != nil {
			return err
		}
	}
	head, err := e.b.store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	total, err := e.b.queryInt64(ctx, e.b.db, `SELECT count(*) FROM events WHERE position <= ?`, head)
	if err != nil {
		return fmt.Errorf("rebuild %s: count events: %w", label, err)
	}
	size, maxSize := e.b.rebuildBatch, e.b.rebuildBatch
	for _, r := range rs {
		if r.batch.batch != nil {
			// A batch costs about one transaction, whatever its size.
			maxSize = max(maxSize, batchApplierSize)
			if e.b.dialect == Postgres {
				size = maxSize
			}
		}
	}
	start := time.Now()
	for _, r := range rs {
		r.start, r.total, r.size, r.maxSize = start, total, size, maxSize
		r.logger.Info("rebuild started", "events", total, "projections_in_pass", len(rs))
	}

	// Replay in batches up to the head seen at the start. A short read
	// before it only means an open transaction holds the gap-safe horizon
	// back for a moment. Each batch is read outside the write transaction,
	// by a reader that runs one batch ahead (readBatches): while the
	// projections apply one batch, the next is read and decoded, on
	// another core (and on PostgreSQL by another server process). The
	// write transaction then only applies a batch to every projection's
	// fresh tables: on SQLite the write lock is held for the writes alone,
	// on PostgreSQL the transaction id (which holds back the gap-safe
	// readers of the log) too.
	lead := rs[0] // all of rs are at the same position until the swaps
	var batchSize atomic.Int64
	batchSize.Store(int64(size))
	readCtx, stopReading := context.WithCancel(ctx)
	batches, readerDone := lead.readBatches(readCtx, head, &batchSize, rs)
	defer func() {
		stopReading()
		<-readerDone
	}()
	var notBefore time.Time // SQLite: when the next batch may take the write lock
	for rb := range batches {
		if rb.err != nil {
			return fmt.Errorf("rebuild %s at %d: %w", label, rb.after, rb.err)
		}
		evs := rb.evs
		if err := sleepUntil(ctx, notBefore); err != nil {
			return err
		}
		began, at := time.Now(), lead.position
		err = e.b.inTx(ctx, func(tx wsql.Tx) error {
			v := e.b.preparingView(tx)
			for i, r := range rs {
				actx := ctx
				if rb.prepared[i] != nil {
					actx = WithPrepared(ctx, rb.prepared[i])
				}
				if err := r.apply(actx, v, evs); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rebuild %s at %d: %w", label, at, err)
		}
		if e.b.dialect == SQLite {
			// Hold the one write lock for about sqliteBatchTime, then let
			// waiting appends have it (sqliteYield).
			took := max(time.Since(began), time.Millisecond)
			size = min(maxSize, max(100, int(float64(size)*float64(sqliteBatchTime)/float64(took))))
			batchSize.Store(int64(size))
			for _, r := range rs {
				r.size = size
			}
			notBefore = time.Now().Add(sqliteYield(took))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Each in turn, in a transaction of its own: lock, apply the tail,
	// rename, move the checkpoint. One that fails does not keep the
	// others from being swapped in.
	var errs []error
	for _, r := range rs {
		if err := r.createQueryIndexes(ctx); err != nil {
			errs = append(errs, fmt.Errorf("rebuild %s: %w", r.p.Name(), err))
			continue
		}
		if err := r.swap(ctx); err != nil {
			errs = append(errs, fmt.Errorf("rebuild %s: swap: %w", r.p.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// begin prepares a projection for its rebuild, holding its rebuild lock:
// drops a killed rebuild's fresh tables, creates new ones and records
// them.
func (r *rebuild) begin(ctx context.Context) error {
	e, p, name := r.e, r.p, r.p.Name()
	// Tables of an older schema keep serving until the swap replaces them.
	if err := e.prepare(ctx, p, true); err != nil {
		return err
	}
	r.fingerprint = e.schemaFingerprint(p)
	token := uuid.NewString()
	err := e.b.inTx(ctx, func(tx wsql.Tx) error {
		if err := e.dropShadow(ctx, tx, p, ""); err != nil {
			return err
		}
		for _, stmt := range loadSchema(p, e.b.dialect, e.eagerIndexes) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create rebuild schema: %w", err)
			}
		}
		if _, err := e.b.view(tx).ExecContext(ctx, `INSERT INTO projection_rebuilds (projection, token, owner, started_at) VALUES (?, ?, ?, ?)`,
			name, token, owner(), time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("record the rebuild: %w", err)
		}
		var err error
		r.tableIDs, err = e.b.tableIDs(ctx, tx, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	r.token = token
	if qi, ok := p.(QueryIndexer); ok && !e.eagerIndexes {
		r.deferred = qi.QueryIndexes(e.b.dialect, rebuildTable)
	}
	return nil
}

// finish ends a rebuild that holds its lock: unless it was swapped in, it
// drops the fresh tables it made (a killed process leaves them to the
// next rebuild); then it lets the lock go.
func (r *rebuild) finish(ctx context.Context) {
	defer r.lock.release()
	if r.swapped || r.token == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if cerr := r.e.b.inTx(ctx, func(tx wsql.Tx) error { return r.e.dropShadow(ctx, tx, r.p, r.token) }); cerr != nil {
		r.logger.Warn("could not drop the fresh tables of the failed rebuild", "err", cerr)
	}
}

// swap applies the events after the rebuild's position and swaps the fresh
// tables in, in one transaction that holds the projection's lock.
func (r *rebuild) swap(ctx context.Context) error {
	e, p, name := r.e, r.p, r.p.Name()
	var prev int64
	err := e.b.inTx(ctx, func(tx wsql.Tx) error {
		var err error
		if prev, err = e.b.lockCheckpoint(ctx, tx, name); err != nil {
			return fmt.Errorf("lock checkpoint: %w", err)
		}
		if err := e.checkOwnShadow(ctx, tx, r.lock, p, r.token, r.tableIDs); err != nil {
			return err
		}
		for {
			n, err := r.applyNext(ctx, tx)
			if err != nil {
				return err
			}
			if n < r.size {
				break
			}
		}
		for _, t := range p.Tables() {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return fmt.Errorf("drop %s: %w", t, err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", rebuildTable(t), t)); err != nil {
				return fmt.Errorf("rename %s: %w", rebuildTable(t), err)
			}
			if err := e.b.renameIndexes(ctx, tx, t); err != nil {
				return err
			}
		}
		if err := r.createQueryIndexesLive(ctx, tx); err != nil {
			return err
		}
		v := e.b.view(tx)
		if _, err := v.ExecContext(ctx, `DELETE FROM projection_poison WHERE projection = ?`, name); err != nil {
			return err
		}
		for _, pr := range r.poisoned {
			if err := recordPoison(ctx, v, name, pr.ev.Position, pr.ev.ID.String(), pr.ev.Type, pr.err.Error()); err != nil {
				return fmt.Errorf("record poison: %w", err)
			}
		}
		if _, err := v.ExecContext(ctx, `DELETE FROM projection_rebuilds WHERE projection = ? AND token = ?`, name, r.token); err != nil {
			return err
		}
		// The swapped-in tables have the current schema: a restart must
		// not rebuild them again.
		_, err = v.ExecContext(ctx, `UPDATE projection_checkpoints SET position = ?, schema_hash = ?, updated_at = ? WHERE name = ?`,
			r.position, r.fingerprint, e.b.dialect.Time(time.Now()), name)
		return err
	})
	if err != nil {
		return err
	}
	r.swapped = true
	if o := e.currentObserver(); o != nil {
		for _, pr := range r.poisoned {
			o.Poisoned(name, pr.ev.Position, pr.ev.Type, pr.err)
		}
		o.Committed(name, r.position, int(r.done))
	}
	r.report(true)
	r.logger.Info("rebuild swapped in", "position", r.position, "previous_position", prev,
		"events", r.done, "poisoned", len(r.poisoned), "seconds", time.Since(r.start).Seconds())
	return nil
}

// sqliteBatchTime is how long a SQLite rebuild batch aims to hold the write
// lock.
const sqliteBatchTime = 200 * time.Millisecond

// sqliteBusyRetries is the schedule on which a SQLite connection waiting for
// the write lock tries again (sqliteDefaultBusyCallback, which
// modernc.org/sqlite's busy handler keeps): the total waited before each
// retry and the delay that follows it; after the last, every 100 ms.
var sqliteBusyRetries = [...]struct{ waited, delay time.Duration }{
	{0, 1 * time.Millisecond}, {1 * time.Millisecond, 2 * time.Millisecond},
	{3 * time.Millisecond, 5 * time.Millisecond}, {8 * time.Millisecond, 10 * time.Millisecond},
	{18 * time.Millisecond, 15 * time.Millisecond}, {33 * time.Millisecond, 20 * time.Millisecond},
	{53 * time.Millisecond, 25 * time.Millisecond}, {78 * time.Millisecond, 25 * time.Millisecond},
	{103 * time.Millisecond, 25 * time.Millisecond}, {128 * time.Millisecond, 50 * time.Millisecond},
	{178 * time.Millisecond, 50 * time.Millisecond}, {228 * time.Millisecond, 100 * time.Millisecond},
}

// sqliteYield is how long a SQLite rebuild leaves the write lock free after
// a batch that held it for took, so that every append that began waiting
// during the batch gets it. SQLite's busy handler polls rather than
// queueing: such a writer has waited at most took, so its next retry comes
// within the longest delay of the schedule that follows a total of took or
// less: at most 50 ms after a batch of sqliteBatchTime, 100 ms after one
// of 228 ms or more. A margin of 10 ms covers the scheduler.
func sqliteYield(took time.Duration) time.Duration {
	var gap time.Duration
	for _, r := range sqliteBusyRetries {
		if r.waited <= took {
			gap = max(gap, r.delay)
		}
	}
	return gap + 10*time.Millisecond
}

// batchApplierSize is the most events per rebuild batch of a BatchApplier
// (on SQLite the batch size follows sqliteBatchTime up to it). A batch is
// held in memory: about 10 MB of events.
const batchApplierSize = 10_000

type rebuild struct {
	e           *Engine
	lock        exclusiveLock
	token       string           // of the fresh tables this rebuild made
	tableIDs    map[string]int64 // PostgreSQL: their identities
	fingerprint string
	// deferred are the query indexes left out of the fresh tables, to be
	// created before the swap (see QueryIndexer).
	deferred []string
	swapped  bool
	logger   *slog.Logger
	size     int // events per batch
	maxSize  int
	p        Projection
	batch    batchApply
	position int64
	done     int64
	total    int64
	start    time.Time
	poisoned []poisonedEvent
	progress func(Progress)
}

// applyNext reads the next batch of events in tx, applies it to the fresh
// tables and returns how many it read.
func (r *rebuild) applyNext(ctx context.Context, tx wsql.Tx) (int, error) {
	evs, err := r.read(ctx, tx)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return len(evs), r.apply(ctx, r.e.b.view(tx), evs)
}

// apply applies a batch of events (the ones after r.position) to the fresh
// tables in tx, with the code live delivery uses too (batchapply.go): the
// whole batch in one savepoint, through ApplyBatch when the projection has
// it; a batch that fails is split until its poison events are found, and
// the rest is applied.
func (r *rebuild) apply(ctx context.Context, v txView, evs []eventstore.Event) error {
	poisoned, err := r.batch.apply(ctx, v, evs)
	if err != nil {
		return err
	}
	if len(poisoned) > 0 {
		r.logger.Warn("batch failed, split to find its poison events", "events", len(evs), "poisoned", len(poisoned))
	}
	r.poisoned = append(r.poisoned, poisoned...)
	r.position = evs[len(evs)-1].Position
	r.done += int64(len(evs))
	r.total = max(r.total, r.done)
	r.report(false)
	return nil
}

// readBatch is a batch of events read ahead of a rebuild's writes, or the
// error that ended the reading.
type readBatch struct {
	evs      []eventstore.Event
	prepared []any // by projection of the pass: its Preparer's result, or nil
	after    int64 // the position they were read after
	err      error
}

// readBatches reads the log after r.position up to head, one batch of up
// to size events at a time, each outside any write transaction
// (readAhead), prepares each for those of rs that are Preparers, and hands
// the batches over in order, one ahead of the caller: the channel holds
// one batch while the next is being read and prepared. It
// closes the channel after the batch that reaches head, after an error
// (the last value), or when ctx ends; done is closed when it has stopped
// using the database.
func (r *rebuild) readBatches(ctx context.Context, head int64, size *atomic.Int64, rs []*rebuild) (batches <-chan readBatch, done <-chan struct{}) {
	out := make(chan readBatch, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer close(out)
		after := r.position
		for after < head {
			evs, err := r.readAhead(ctx, after, int(size.Load()))
			if err != nil {
				select {
				case out <- readBatch{after: after, err: err}:
				case <-ctx.Done():
				}
				return
			}
			if len(evs) == 0 {
				if sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) != nil {
					return
				}
				continue
			}
			prepared := make([]any, len(rs))
			for i, pr := range rs {
				if p, ok := pr.p.(Preparer); ok {
					prepared[i] = p.Prepare(r.e.b.dialect, evs)
				}
			}
			select {
			case out <- readBatch{evs: evs, prepared: prepared, after: after}:
			case <-ctx.Done():
				return
			}
			after = evs[len(evs)-1].Position
		}
	}()
	return out, stopped
}

// readAhead reads up to size events after position after, outside any
// write transaction: on PostgreSQL in a read-only transaction, which takes
// no transaction id.
func (r *rebuild) readAhead(ctx context.Context, after int64, size int) ([]eventstore.Event, error) {
	if r.e.b.dialect != Postgres {
		return r.e.b.readEvents(ctx, r.e.b.db, after, size)
	}
	tx, err := r.e.b.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return r.e.b.readEvents(ctx, tx, after, size)
}

// read reads the next batch of up to r.size events after r.position,
// gap-safe, in one query through ex.
func (r *rebuild) read(ctx context.Context, ex wsql.ContextExecutor) ([]eventstore.Event, error) {
	return r.e.b.readEvents(ctx, ex, r.position, r.size)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func (r *rebuild) report(swapped bool) {
	pr := Progress{Projection: r.p.Name(), Done: r.done, Total: r.total, Swapped: swapped}
	if secs := time.Since(r.start).Seconds(); secs > 0 {
		pr.Rate = float64(r.done) / secs
	}
	if pr.Rate > 0 {
		pr.ETA = time.Duration(float64(r.total-r.done) / pr.Rate * float64(time.Second))
	}
	r.progress(pr)
}
