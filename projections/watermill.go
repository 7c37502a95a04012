package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

// topic is the only Watermill topic: the whole event log. Each projection
// reads it with its own consumer group.
const topic = "events"

// Message metadata keys of an event.
const (
	mdStreamID   = "stream_id"
	mdVersion    = "version"
	mdPosition   = "position"
	mdType       = "type"
	mdRecordedAt = "recorded_at"
	mdMetadata   = "metadata"
	mdErased     = "erased"
)

var errNoPublish = errors.New("projections never publish through Watermill: append through eventstore")

// errTxFinished means the subscriber already committed or rolled back the
// batch this message belonged to (it gave up on the message while closing).
var errTxFinished = errors.New("the batch transaction is finished")

// eventMessage turns a stored event into a Watermill message.
func eventMessage(ev eventstore.Event) (*message.Message, error) {
	md, err := json.Marshal(ev.Metadata)
	if err != nil {
		return nil, fmt.Errorf("event %d metadata: %w", ev.Position, err)
	}
	msg := message.NewMessage(ev.ID.String(), message.Payload(ev.Data))
	msg.Metadata.Set(mdStreamID, ev.StreamID)
	msg.Metadata.Set(mdVersion, strconv.FormatInt(ev.Version, 10))
	msg.Metadata.Set(mdPosition, strconv.FormatInt(ev.Position, 10))
	msg.Metadata.Set(mdType, ev.Type)
	msg.Metadata.Set(mdRecordedAt, ev.RecordedAt.UTC().Format(time.RFC3339Nano))
	msg.Metadata.Set(mdMetadata, string(md))
	if len(ev.Erased) > 0 {
		erased, _ := json.Marshal(ev.Erased)
		msg.Metadata.Set(mdErased, string(erased))
	}
	return msg, nil
}

// messageEvent is the inverse of eventMessage.
func messageEvent(msg *message.Message) (eventstore.Event, error) {
	var ev eventstore.Event
	var err error
	if ev.Position, err = strconv.ParseInt(msg.Metadata.Get(mdPosition), 10, 64); err != nil {
		return ev, fmt.Errorf("message %s: position: %w", msg.UUID, err)
	}
	if ev.Version, err = strconv.ParseInt(msg.Metadata.Get(mdVersion), 10, 64); err != nil {
		return ev, fmt.Errorf("message %s: version: %w", msg.UUID, err)
	}
	if ev.ID, err = uuid.Parse(msg.UUID); err != nil {
		return ev, fmt.Errorf("message %s: id: %w", msg.UUID, err)
	}
	if ev.RecordedAt, err = time.Parse(time.RFC3339Nano, msg.Metadata.Get(mdRecordedAt)); err != nil {
		return ev, fmt.Errorf("message %s: recorded_at: %w", msg.UUID, err)
	}
	if err := json.Unmarshal([]byte(msg.Metadata.Get(mdMetadata)), &ev.Metadata); err != nil {
		return ev, fmt.Errorf("message %s: metadata: %w", msg.UUID, err)
	}
	if s := msg.Metadata.Get(mdErased); s != "" {
		if err := json.Unmarshal([]byte(s), &ev.Erased); err != nil {
			return ev, fmt.Errorf("message %s: erased: %w", msg.UUID, err)
		}
	}
	ev.StreamID = msg.Metadata.Get(mdStreamID)
	ev.Type = msg.Metadata.Get(mdType)
	ev.Data = json.RawMessage(msg.Payload)
	return ev, nil
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
	q := fmt.Sprintf("WITH checkpoint AS (%s) %sWHERE e.position > (SELECT position FROM checkpoint)%s ORDER BY e.position LIMIT %d",
		next.Query, s.selectFrom, cond, limit)
	return wsql.Query{Query: q, Args: next.Args}, nil
}

func (s eventsSchema) UnmarshalMessage(p wsql.UnmarshalMessageParams) (wsql.Row, error) {
	ev, err := s.scan(p.Row)
	if err != nil {
		return wsql.Row{}, fmt.Errorf("scan event: %w", err)
	}
	msg, err := eventMessage(ev)
	if err != nil {
		return wsql.Row{}, err
	}
	return wsql.Row{Offset: ev.Position, UUID: []byte(msg.UUID), Payload: msg.Payload, Msg: msg}, nil
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
	projection string
	observer   func() Observer
	size       *liveBatchSize // learns how long the batches take
	poll       *poller        // told when a read begins
	// committed is broadcast after every batch that moved the
	// checkpoint, for WaitFor.
	committed *eventstore.Signal
}

func (g guardedBeginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (wsql.Tx, error) {
	if g.poll != nil {
		g.poll.arm()
	}
	tx, err := g.Beginner.BeginTx(ctx, opts)
	if err != nil {
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
			return nil, fmt.Errorf("lock projection %s: %w", g.projection, err)
		}
	}
	// The clock starts once the lock is held: waiting for another server's
	// batch or a rebuild's swap says nothing about this batch's events.
	return &guardedTx{inner: tx, ctx: ctx, dialect: g.dialect, projection: g.projection, observer: g.observer(),
		size: g.size, committed: g.committed, poll: g.poll, began: time.Now()}, nil
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
	projection string
	observer   Observer
	size       *liveBatchSize
	committed  *eventstore.Signal
	poll       *poller
	began      time.Time

	done      bool  // committed or rolled back
	broken    bool  // a savepoint could not be rolled back: never commit
	savepoint bool  // projection_attempt is established
	applied   int64 // highest position applied or poisoned
	events    int
	poisoned  []poisonRecord
}

type poisonRecord struct {
	position  int64
	eventType string
	err       error
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
	return t.inner.Rollback()
}

// attempt runs fn in a savepoint; on success the event at position counts
// as handled.
func (t *guardedTx) attempt(ctx context.Context, position int64, fn func(Tx) error) error {
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
	if err := fn(txView{ex: t.inner, dialect: t.dialect}); err != nil {
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
	t.events++
	return nil
}

var errSavepointBroken = errors.New("savepoint could not be rolled back")

// inSavepoint runs fn between SAVEPOINT and RELEASE, rolling back to the
// savepoint when fn fails.
func inSavepoint(ctx context.Context, ex wsql.ContextExecutor, fn func() error) error {
	if _, err := ex.ExecContext(ctx, "SAVEPOINT projection_attempt"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		bg := context.WithoutCancel(ctx)
		if _, rbErr := ex.ExecContext(bg, "ROLLBACK TO SAVEPOINT projection_attempt"); rbErr != nil {
			return errors.Join(err, errSavepointBroken, rbErr)
		}
		if _, rbErr := ex.ExecContext(bg, "RELEASE SAVEPOINT projection_attempt"); rbErr != nil {
			return errors.Join(err, errSavepointBroken, rbErr)
		}
		return err
	}
	if _, err := ex.ExecContext(ctx, "RELEASE SAVEPOINT projection_attempt"); err != nil {
		return errors.Join(fmt.Errorf("release savepoint: %w", err), errSavepointBroken)
	}
	return nil
}

// txView is the Tx a projection sees: ? placeholders on every backend.
type txView struct {
	ex      wsql.ContextExecutor
	dialect Dialect
}

func (v txView) Dialect() Dialect { return v.dialect }

func (v txView) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
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

// applyMessage is the handler of a projection.
func applyMessage(p Projection) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ctx := msg.Context()
		gt, err := guardedFromContext(ctx)
		if err != nil {
			return err
		}
		ev, err := messageEvent(msg)
		if err != nil {
			return err
		}
		return gt.attempt(ctx, ev.Position, func(tx Tx) error {
			if err := p.Apply(ctx, tx, liveTable, ev); err != nil {
				return fmt.Errorf("%s: apply %s at %d: %w", p.Name(), ev.Type, ev.Position, err)
			}
			return nil
		})
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

// poisonRecorder is the publisher of the PoisonQueue middleware: it records
// the message in projection_poison in the batch's transaction, so the
// record, the skip and the checkpoint commit together.
type poisonRecorder struct{}

var _ message.Publisher = poisonRecorder{}

func (poisonRecorder) Publish(_ string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		ctx := msg.Context()
		if err := ctx.Err(); err != nil {
			return err // shutting down: redeliver rather than skip
		}
		gt, err := guardedFromContext(ctx)
		if err != nil {
			return err
		}
		reason := msg.Metadata.Get(middleware.ReasonForPoisonedKey)
		position, err := strconv.ParseInt(msg.Metadata.Get(mdPosition), 10, 64)
		if err != nil {
			return fmt.Errorf("poison message %s without position: %w", msg.UUID, err)
		}
		eventType := msg.Metadata.Get(mdType)
		err = gt.attempt(ctx, position, func(tx Tx) error {
			if err := recordPoison(ctx, tx, gt.projection, position, msg.UUID, eventType, reason); err != nil {
				return err
			}
			// under gt.mu, read by Commit
			gt.poisoned = append(gt.poisoned, poisonRecord{position: position, eventType: eventType, err: errors.New(reason)})
			return nil
		})
		if err != nil {
			return fmt.Errorf("record poison event %d: %w", position, err)
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
