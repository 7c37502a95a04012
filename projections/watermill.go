package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/capacitytracker/capacity/eventstore"
)

// topic is the only Watermill topic: the whole event log. Each projection
// reads it with its own consumer group.
const topic = "events"

// Message metadata keys of a page: the events after the checkpoint
// position mdAfter, up to and including mdThrough, mdCount of them.
const (
	mdAfter   = "after"
	mdThrough = "through"
	mdCount   = "count"
)

var errNoPublish = errors.New("projections never publish through Watermill: append through eventstore")

// errTxFinished means the subscriber already committed or rolled back the
// batch this message belonged to (it gave up on the message while closing).
var errTxFinished = errors.New("the batch transaction is finished")

// page is what one Watermill message carries: a range of the log, read by
// the subscriber's SELECT below the gap-safe horizon, that the handler
// applies as one batch. The events themselves are read by the handler in
// the same transaction (guardedTx.pageEvents): every position up to
// through is committed, so the range holds the same events whenever it is
// read.
type page struct {
	after, through int64
	count          int
}

func pageMessage(pg page) *message.Message {
	msg := message.NewMessage(fmt.Sprintf("events-%d-%d", pg.after, pg.through), nil)
	msg.Metadata.Set(mdAfter, strconv.FormatInt(pg.after, 10))
	msg.Metadata.Set(mdThrough, strconv.FormatInt(pg.through, 10))
	msg.Metadata.Set(mdCount, strconv.Itoa(pg.count))
	return msg
}

// messagePage is the inverse of pageMessage.
func messagePage(msg *message.Message) (page, error) {
	var pg page
	var err error
	if pg.after, err = strconv.ParseInt(msg.Metadata.Get(mdAfter), 10, 64); err != nil {
		return pg, fmt.Errorf("message %s: after: %w", msg.UUID, err)
	}
	if pg.through, err = strconv.ParseInt(msg.Metadata.Get(mdThrough), 10, 64); err != nil {
		return pg, fmt.Errorf("message %s: through: %w", msg.UUID, err)
	}
	if pg.count, err = strconv.Atoi(msg.Metadata.Get(mdCount)); err != nil {
		return pg, fmt.Errorf("message %s: count: %w", msg.UUID, err)
	}
	if pg.count < 1 || pg.through <= pg.after {
		return pg, fmt.Errorf("message %s: empty page %+v", msg.UUID, pg)
	}
	return pg, nil
}

// eventsSchema is the watermill-sql SchemaAdapter over our events table.
type eventsSchema struct {
	dialect Dialect
	batch   int
	// size, when set, replaces batch: the live batch sized to its time
	// budget.
	size *liveBatchSize
	// selectFrom is "SELECT <columns> FROM events e " read by scan.
	selectFrom string
	// gapSafe is an extra WHERE condition (PostgreSQL) or "".
	gapSafe string
	scan    func(wsql.Scanner) (eventstore.Event, error)
}

var _ wsql.SchemaAdapter = eventsSchema{}

func (s eventsSchema) InsertQuery(wsql.InsertQueryParams) (wsql.Query, error) {
	return wsql.Query{}, errNoPublish
}

// SelectQuery selects the consumer group's next page: one row (none when
// nothing is new) with the checkpoint and the last position and number of
// the up to limit events after it, gap-safe. One message per page instead
// of one per event: the handler applies the page as one batch.
func (s eventsSchema) SelectQuery(p wsql.SelectQueryParams) (wsql.Query, error) {
	next, err := p.OffsetsAdapter.NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: p.Topic, ConsumerGroup: p.ConsumerGroup})
	if err != nil {
		return wsql.Query{}, err
	}
	cond := ""
	if s.gapSafe != "" {
		cond = " AND " + s.gapSafe
	}
	limit := s.batch
	if s.size != nil {
		limit = s.size.limit()
	}
	q := fmt.Sprintf(`WITH checkpoint AS (%s)
		SELECT (SELECT position FROM checkpoint), max(pg.position), count(*)
		FROM (SELECT e.position FROM events e WHERE e.position > (SELECT position FROM checkpoint)%s ORDER BY e.position LIMIT %d) pg
		HAVING count(*) > 0`,
		next.Query, cond, limit)
	return wsql.Query{Query: q, Args: next.Args}, nil
}

func (s eventsSchema) UnmarshalMessage(p wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var pg page
	if err := p.Row.Scan(&pg.after, &pg.through, &pg.count); err != nil {
		return wsql.Row{}, fmt.Errorf("scan page: %w", err)
	}
	msg := pageMessage(pg)
	return wsql.Row{Offset: pg.through, UUID: []byte(msg.UUID), Msg: msg}, nil
}

func (s eventsSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil // the migrations create everything
}

func (s eventsSchema) SubscribeIsolationLevel() sql.IsolationLevel {
	if s.dialect == Postgres {
		// Read committed: after waiting for the projection's lock (a
		// rebuild swapping tables), the next statements see the new tables.
		return sql.LevelReadCommitted
	}
	return sql.LevelDefault // SQLite transactions are serializable anyway
}

// checkpointOffsets is the watermill-sql OffsetsAdapter over
// projection_checkpoints: the consumer group is the projection's name.
type checkpointOffsets struct{ dialect Dialect }

var _ wsql.OffsetsAdapter = checkpointOffsets{}

func (a checkpointOffsets) AckMessageQuery(p wsql.AckMessageQueryParams) (wsql.Query, error) {
	// guardedTx.Commit has already moved the checkpoint past everything
	// acked; never move it back.
	if a.dialect == Postgres {
		return wsql.Query{Query: `UPDATE projection_checkpoints SET position = GREATEST(position, $1), updated_at = now() WHERE name = $2`,
			Args: []any{p.LastRow.Offset, p.ConsumerGroup}}, nil
	}
	return wsql.Query{Query: `UPDATE projection_checkpoints SET position = MAX(position, ?), updated_at = ? WHERE name = ?`,
		Args: []any{p.LastRow.Offset, SQLite.Time(time.Now()), p.ConsumerGroup}}, nil
}

func (a checkpointOffsets) ConsumedMessageQuery(wsql.ConsumedMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{}, nil
}

func (a checkpointOffsets) NextOffsetQuery(p wsql.NextOffsetQueryParams) (wsql.Query, error) {
	// The batch transaction already holds the projection's lock, taken by
	// guardedBeginner before this statement (PostgreSQL: an advisory lock;
	// SQLite: BEGIN IMMEDIATE's write lock).
	return wsql.Query{Query: rebind(a.dialect, `SELECT position FROM projection_checkpoints WHERE name = ?`), Args: []any{p.ConsumerGroup}}, nil
}

func (a checkpointOffsets) SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil
}

func (a checkpointOffsets) BeforeSubscribingQueries(p wsql.BeforeSubscribingQueriesParams) ([]wsql.Query, error) {
	return []wsql.Query{{Query: rebind(a.dialect, insertCheckpoint(a.dialect)), Args: []any{p.ConsumerGroup, a.dialect.Time(time.Now())}}}, nil
}

func insertCheckpoint(d Dialect) string {
	return `INSERT INTO projection_checkpoints (name, position, updated_at) VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING`
}

// guardedBeginner hands the subscriber guardedTx transactions.
type guardedBeginner struct {
	wsql.Beginner
	dialect    Dialect
	log        eventstore.SQLLog
	projection string
	observer   func() Observer
	size       *liveBatchSize // learns how long the batches take
	poll       *poller        // told when a read begins
	turn       writeTurn      // taken before BEGIN (SQLite)
	// committed is broadcast after every batch that moved the
	// checkpoint, for WaitFor.
	committed *eventstore.Signal
}

func (g guardedBeginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (wsql.Tx, error) {
	if g.poll != nil {
		g.poll.pace(ctx)
		g.poll.arm()
	}
	if err := g.turn.take(ctx); err != nil {
		return nil, err
	}
	tx, err := g.Beginner.BeginTx(ctx, opts)
	if err != nil {
		g.turn.give()
		return nil, err
	}
	if g.dialect == Postgres {
		// One batch of a projection at a time, across servers, and a
		// rebuild's swap waits for the batch in flight. An advisory lock
		// rather than SELECT ... FOR UPDATE: a row lock would give every
		// idle poll a transaction id, and any open transaction id holds
		// back every gap-safe reader of the log (see eventstore/postgres).
		// Taken in its own statement so that the next statement's snapshot
		// sees what the previous holder committed.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", projectionLockKey(g.projection)); err != nil {
			_ = tx.Rollback()
			g.turn.give()
			return nil, fmt.Errorf("lock projection %s: %w", g.projection, err)
		}
	}
	// The clock starts once the lock is held: waiting for another server's
	// batch or a rebuild's swap says nothing about this batch's events.
	return &guardedTx{inner: tx, ctx: ctx, dialect: g.dialect, log: g.log, projection: g.projection, observer: g.observer(),
		size: g.size, committed: g.committed, poll: g.poll, turn: g.turn, began: time.Now()}, nil
}

// projectionLockKey is the PostgreSQL advisory lock of one projection.
func projectionLockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("capacity-projection:" + name))
	return int64(h.Sum64())
}

// guardedTx is the subscriber's batch transaction. Handler attempts and the
// subscriber's own statements, commit and rollback are serialized by mu, so
// a commit never contains half an attempt; every attempt runs in a
// savepoint; and the commit first moves the checkpoint to the highest event
// whose attempt succeeded (or that was recorded as poison), whatever the
// subscriber acked. Without this, a subscriber that gives up on a message
// while closing would commit that message's writes without its checkpoint.
type guardedTx struct {
	mu         sync.Mutex
	inner      wsql.Tx
	ctx        context.Context
	dialect    Dialect
	log        eventstore.SQLLog
	projection string
	observer   Observer
	size       *liveBatchSize
	committed  *eventstore.Signal
	poll       *poller
	turn       writeTurn // held until the transaction ends
	began      time.Time

	done      bool  // committed or rolled back
	broken    bool  // a savepoint could not be rolled back: never commit
	savepoint bool  // projection_attempt is established
	applied   int64 // highest position applied or poisoned
	events    int
	poisoned  []poisonRecord

	// The events of the page being applied, read once for its attempts.
	page    page
	pageEvs []eventstore.Event
}

type poisonRecord struct {
	position  int64
	eventType string
	err       error
}

// pageEvents reads the events of pg in the transaction, once for all the
// attempts at the page.
func (t *guardedTx) pageEvents(ctx context.Context, b *backend, pg page) ([]eventstore.Event, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.broken {
		return nil, errTxFinished
	}
	if t.page == pg && t.pageEvs != nil {
		return t.pageEvs, nil
	}
	evs, err := b.readPage(ctx, t.inner, pg)
	if err != nil {
		return nil, err
	}
	if len(evs) != pg.count || evs[len(evs)-1].Position != pg.through {
		return nil, fmt.Errorf("page %d-%d of %d events read back %d events", pg.after, pg.through, pg.count, len(evs))
	}
	t.page, t.pageEvs = pg, evs
	return evs, nil
}

func (t *guardedTx) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil, sql.ErrTxDone
	}
	return t.inner.ExecContext(ctx, query, args...)
}

func (t *guardedTx) QueryContext(ctx context.Context, query string, args ...any) (wsql.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil, sql.ErrTxDone
	}
	return t.inner.QueryContext(ctx, query, args...)
}

func (t *guardedTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	defer t.turn.give()
	if t.broken {
		_ = t.inner.Rollback()
		return errors.New("projection batch rolled back: a failed attempt could not be undone")
	}
	if t.applied > 0 {
		q := rebind(t.dialect, `UPDATE projection_checkpoints SET position = ?, updated_at = ? WHERE name = ? AND position < ?`)
		if _, err := t.inner.ExecContext(t.ctx, q, t.applied, t.dialect.Time(time.Now()), t.projection, t.applied); err != nil {
			_ = t.inner.Rollback()
			return fmt.Errorf("advance checkpoint of %s: %w", t.projection, err)
		}
	}
	if err := t.inner.Commit(); err != nil {
		return err
	}
	if t.size != nil {
		t.size.record(t.events, time.Since(t.began))
	}
	if t.applied > 0 {
		if t.poll != nil {
			t.poll.reached(t.applied)
		}
		if t.committed != nil {
			t.committed.Broadcast()
		}
	}
	if t.observer != nil && t.applied > 0 {
		for _, p := range t.poisoned {
			t.observer.Poisoned(t.projection, p.position, p.eventType, p.err)
		}
		t.observer.Committed(t.projection, t.applied, t.events)
	}
	return nil
}

func (t *guardedTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	defer t.turn.give()
	return t.inner.Rollback()
}

// attempt runs fn in a savepoint; on success the events up to position
// (events of them) count as handled.
func (t *guardedTx) attempt(ctx context.Context, position int64, events int, fn func(Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.broken {
		return errTxFinished
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One savepoint marks the state after the last successful attempt: a
	// failed attempt rolls back to it (it stays established), a successful
	// one moves it forward with RELEASE and SAVEPOINT in one round trip.
	if !t.savepoint {
		if _, err := t.inner.ExecContext(ctx, "SAVEPOINT projection_attempt"); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		t.savepoint = true
	}
	if err := fn(txView{ex: t.inner, dialect: t.dialect, log: t.log}); err != nil {
		if _, rbErr := t.inner.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT projection_attempt"); rbErr != nil {
			t.broken = true
			return errors.Join(err, errSavepointBroken, rbErr)
		}
		return err
	}
	if _, err := t.inner.ExecContext(ctx, "RELEASE SAVEPOINT projection_attempt; SAVEPOINT projection_attempt"); err != nil {
		// The attempt's writes are in the transaction, but whether the
		// savepoint moved is unknown: a later failure could not be undone.
		t.broken = true
		return errors.Join(fmt.Errorf("move savepoint: %w", err), errSavepointBroken)
	}
	if position > t.applied {
		t.applied = position
	}
	t.events += events
	return nil
}

var errSavepointBroken = errors.New("savepoint could not be rolled back")

// txView is the Tx a projection sees: ? placeholders on every backend.
type txView struct {
	ex      wsql.ContextExecutor
	dialect Dialect
	log     eventstore.SQLLog
	// stmts, when set, prepares the long statements (preparingView).
	stmts *stmtCache
}

func (v txView) events() eventstore.SQLLog { return v.log }

// NewTx is a projection's view of a transaction of the store's database,
// for tools and tests that write a projection's tables without the engine
// (projtest.Direct): placeholders are ?, as for the engine's.
func NewTx(ex wsql.ContextExecutor, dialect Dialect, log eventstore.SQLLog) Tx {
	return txView{ex: ex, dialect: dialect, log: log}
}

func (v txView) Dialect() Dialect { return v.dialect }

func (v txView) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	if v.stmts != nil && len(query) >= preparedMinLen {
		return v.stmts.exec(ctx, query, args)
	}
	return v.ex.ExecContext(ctx, rebind(v.dialect, query), args...)
}

func (v txView) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := v.ex.QueryContext(ctx, rebind(v.dialect, query), args...)
	if err != nil {
		return nil, err
	}
	r, ok := rows.(Rows)
	if !ok {
		_ = rows.Close()
		return nil, fmt.Errorf("rows of type %T do not report errors", rows)
	}
	return r, nil
}

// applyPage is the handler of a projection: it applies the message's page
// of events as one batch (batchApply.whole) in one attempt. A page that
// fails is retried whole by the Retry middleware, then goes to the
// PoisonQueue middleware, whose poisonRecorder splits it.
func applyPage(b *backend, a batchApply) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ctx := msg.Context()
		gt, err := guardedFromContext(ctx)
		if err != nil {
			return err
		}
		pg, err := messagePage(msg)
		if err != nil {
			return err
		}
		evs, err := gt.pageEvents(ctx, b, pg)
		if err != nil {
			return err
		}
		return gt.attempt(ctx, pg.through, len(evs), func(tx Tx) error { return a.whole(ctx, tx, evs) })
	}
}

func guardedFromContext(ctx context.Context) (*guardedTx, error) {
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return nil, errors.New("message carries no transaction")
	}
	gt, ok := tx.(*guardedTx)
	if !ok {
		return nil, fmt.Errorf("message carries a %T, not the engine's transaction", tx)
	}
	return gt, nil
}

func liveTable(name string) string { return name }

// poisonRecorder is the publisher of the PoisonQueue middleware: it gets
// a page that failed whole after its retries, splits it until its poison
// events are found (batchApply.split), applies the others and records the
// poison events in projection_poison, all in one attempt in the batch's
// transaction, so that the records, the applied events and the checkpoint
// commit together. One bad event costs its page a few more savepoints and
// never holds back the events around it.
type poisonRecorder struct {
	b *backend
	a batchApply
}

var _ message.Publisher = poisonRecorder{}

func (r poisonRecorder) Publish(_ string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		ctx := msg.Context()
		if err := ctx.Err(); err != nil {
			return err // shutting down: redeliver rather than skip
		}
		gt, err := guardedFromContext(ctx)
		if err != nil {
			return err
		}
		pg, err := messagePage(msg)
		if err != nil {
			return err
		}
		evs, err := gt.pageEvents(ctx, r.b, pg)
		if err != nil {
			return err
		}
		// The page's error (the middleware's reason_poisoned) is not what is
		// recorded: each poison event's own, when it is applied alone, is.
		err = gt.attempt(ctx, pg.through, len(evs), func(tx Tx) error {
			poisoned, err := r.a.split(ctx, tx, evs)
			if err != nil {
				return err
			}
			for _, p := range poisoned {
				if err := recordPoison(ctx, tx, gt.projection, p.ev.Position, p.ev.ID.String(), p.ev.Type, p.err.Error()); err != nil {
					return fmt.Errorf("record poison event %d: %w", p.ev.Position, err)
				}
			}
			// under gt.mu, read by Commit
			for _, p := range poisoned {
				gt.poisoned = append(gt.poisoned, poisonRecord{position: p.ev.Position, eventType: p.ev.Type, err: p.err})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("split page %d-%d: %w", pg.after, pg.through, err)
		}
	}
	return nil
}

func (poisonRecorder) Close() error { return nil }

func recordPoison(ctx context.Context, tx Tx, projection string, position int64, eventID, eventType, reason string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO projection_poison (projection, position, event_id, event_type, error, failed_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (projection, position) DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at`,
		projection, position, eventID, eventType, reason, tx.Dialect().Time(time.Now()))
	return err
}

// shouldPoison keeps shutdown errors out of the poison table: those
// messages are redelivered instead.
func shouldPoison(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, errTxFinished) && !errors.Is(err, errSavepointBroken) && !errors.Is(err, sql.ErrTxDone)
}
