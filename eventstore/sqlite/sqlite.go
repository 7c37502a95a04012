// Package sqlite is the SQLite implementation of eventstore.Store, over
// modernc.org/sqlite (pure Go, no cgo). It is the embedded backend: one file,
// no server.
//
// # Connections and write serialization
//
// The store opens the file twice through database/sql:
//
//   - a writer pool of exactly one connection, used for appends and
//     ForgetSubject. Appends from this process queue in Go
//     (eventstore.CommitQueue with one committer, see commitBatch: those
//     that arrive during a commit are committed together, each under its
//     own savepoint) instead of spinning in SQLite's busy handler, which
//     is both faster and fairer under contention. The append statements are
//     prepared once on this connection;
//   - a reader pool of several connections, used for every read and exposed as
//     DB() for the projection engine's read models and checkpoints.
//
// Both open the file in WAL mode (readers never block the writer, nor the
// writer readers) with synchronous=NORMAL, foreign keys on, a 10 s busy
// timeout, and _txlock=immediate: every read-write transaction starts with
// BEGIN IMMEDIATE and so takes SQLite's write lock up front. A deferred
// transaction that reads and then writes can fail with SQLITE_BUSY the moment
// another connection has committed in between, whatever the busy timeout; an
// immediate one just waits its turn. A transaction begun with
// sql.TxOptions{ReadOnly: true} is a plain deferred BEGIN, which is what a
// consistent multi-statement read on DB() should use.
//
// # Gap safety
//
// SQLite has one writer at a time per file, across connections and
// processes, and an append holds the write lock from BEGIN IMMEDIATE to
// COMMIT. Positions are the AUTOINCREMENT rowid assigned inside that
// transaction, so they are handed out in commit order: a reader never sees a
// position while a lower one can still appear. ReadAll needs no extra
// condition.
//
// recorded_at is stored as fixed-width UTC text
// ("2006-01-02T15:04:05.000000000Z"), so comparing text compares instants. It
// is the wall clock when the append took the write lock.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/migrations"
)

// TimeLayout is how recorded_at and the streams' timestamps are stored: fixed
// width, UTC, so that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// busyTimeout bounds how long a connection waits for another one's write lock.
const busyTimeout = 10 * time.Second

// maxLockWait bounds how long a write transaction waits for its turn in
// all, over repeated busy timeouts (see beginWrite).
const maxLockWait = 2 * time.Minute

// beginWrite begins a read-write transaction (BEGIN IMMEDIATE) on db.
// SQLite's busy handler is not fair: under a steady stream of writers
// (appends, projection batches), one waiter can lose every race for its
// busy timeout and fail with SQLITE_BUSY although the lock was free again
// and again. A BEGIN that failed so did nothing, so it waits its turn
// again, until ctx ends or maxLockWait has passed.
func beginWrite(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	deadline := time.Now().Add(maxLockWait)
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err == nil || !isBusy(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return tx, err
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SQLITE_BUSY")
}

// Store is the SQLite event store.
type Store struct {
	path   string
	writer *sql.DB // one connection: appends and ForgetSubject
	reader *sql.DB // reads; exposed as DB()
	// stmts are the append's statements, prepared once on the writer's
	// connection (see statements).
	stmts map[string]*sql.Stmt
	queue *eventstore.CommitQueue[*appendJob]
	// appended is broadcast after every commit that appended events (see
	// Appended).
	appended eventstore.Signal
}

var _ eventstore.Store = (*Store)(nil)

// Open opens (creating it and its directory if need be) the database file at
// path and applies the pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite event store: empty path")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite event store: path %q must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	params := url.Values{}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous(NORMAL)")
	params.Add("_pragma", "foreign_keys(ON)")
	params.Add("_txlock", "immediate")
	dsn := path + "?" + params.Encode()

	writer, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	reader, err := sql.Open("sqlite", dsn)
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)

	s := &Store{path: path, writer: writer, reader: reader, stmts: map[string]*sql.Stmt{}}
	if _, err := migrations.ApplySQLite(ctx, writer); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := s.hashUnchained(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("chain the events of %s: %w", path, err)
	}
	// Prepared after the migrations, so that the tables exist. A later
	// schema change (a migration applied through DB()) makes SQLite
	// re-prepare them by itself.
	for _, q := range appendQueries() {
		st, err := writer.PrepareContext(ctx, q)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("prepare append statements of %s: %w", path, err)
		}
		s.stmts[q] = st
	}
	// One committer: SQLite commits one write transaction at a time.
	s.queue = eventstore.NewCommitQueue(1, maxBatchEvents, func(j *appendJob) int { return j.events }, s.commitBatch)
	return s, nil
}

// DB is a pool of connections to the store's file for the projection engine
// (read models, checkpoints) and for reads. Its read-write transactions begin
// IMMEDIATE; use sql.TxOptions{ReadOnly: true} for a read-only snapshot.
func (s *Store) DB() *sql.DB { return s.reader }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Appended returns a channel closed when the next append of this Store
// commits (Append, AppendMany or InTx; not AppendTx, whose caller commits).
// The projection engine waits on it instead of polling the file: appends of
// other processes on the same file do not close it.
func (s *Store) Appended() <-chan struct{} { return s.appended.C() }

// Close waits for the appends already queued to be committed, then closes
// both connection pools. Appends after Close fail.
func (s *Store) Close() error {
	if s.queue != nil {
		s.queue.Close()
	}
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, s.writer.Close(), s.reader.Close())...)
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(streamID, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := s.appendMany(ctx, []eventstore.AppendRequest{{StreamID: streamID, Expected: expected, Events: events}})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMany implements eventstore.Store: one write transaction for all
// streams.
func (s *Store) AppendMany(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppendMany(reqs); err != nil {
		return nil, err
	}
	return s.appendMany(ctx, reqs)
}

// preparedEvent is an event encoded before the write lock is taken, so that
// the transaction does as little as possible.
type preparedEvent struct {
	data json.RawMessage // compacted; sealed in the transaction if personal
	meta string
}

// appendJob is one caller's Append or AppendMany, encoded and waiting for
// the writer.
type appendJob struct {
	reqs     []eventstore.AppendRequest
	prepared [][]preparedEvent
	idList   string
	events   int
}

func (s *Store) appendMany(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	job, err := prepare(reqs)
	if err != nil {
		return nil, err
	}
	return s.queue.Submit(ctx, job)
}

// maxBatchEvents caps the events of one group commit (eventstore.CommitQueue),
// so that the write lock is not held for long. A single append may exceed it.
const maxBatchEvents = eventstore.MaxEventsPerAppend

// commitBatch runs queued appends in one write transaction and one COMMIT
// (group commit: SQLite commits one write transaction at a time, and the
// commit's writes, the WAL frames of the pages the appends share, are paid
// once for the batch). Each append runs under its own savepoint, so
// that one that fails (a wrong expected version, say) leaves nothing of
// itself and does not fail the others. outcomes[i] is set for every job;
// when the COMMIT fails, every job fails with it.
func (s *Store) commitBatch(jobs []*appendJob, outcomes []eventstore.Outcome) {
	// The transaction serves several callers: none of their contexts may
	// cancel it. A caller that gave up before its job was taken out of the
	// queue is not in jobs (see eventstore.CommitQueue).
	ctx := context.Background()
	fail := func(err error) {
		for i := range outcomes {
			outcomes[i] = eventstore.Outcome{Err: err}
		}
	}
	tx, err := beginWrite(ctx, s.writer) // BEGIN IMMEDIATE (see the package comment)
	if err != nil {
		fail(fmt.Errorf("begin append: %w", err))
		return
	}
	defer func() { _ = tx.Rollback() }()
	st := &statements{tx: tx, cached: s.stmts}
	defer st.close()

	if len(jobs) == 1 {
		// Alone in its transaction: the transaction is the savepoint.
		res, err := appendInTx(ctx, st, jobs[0])
		if err != nil {
			fail(err)
			return
		}
		outcomes[0] = eventstore.Outcome{Results: res}
	} else {
		for i, job := range jobs {
			res, err := st.inSavepoint(ctx, func() ([]eventstore.AppendResult, error) {
				return appendInTx(ctx, st, job)
			})
			var broken *brokenTxError
			if errors.As(err, &broken) {
				// The transaction is gone: what the earlier jobs wrote
				// with it too.
				fail(err)
				return
			}
			outcomes[i] = eventstore.Outcome{Results: res, Err: err}
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("commit append: %w", err))
		return
	}
	for _, o := range outcomes {
		if o.Err == nil {
			s.appended.Broadcast()
			break
		}
	}
}

// brokenTxError means a failed append's savepoint could not be rolled back
// or released: SQLite may have rolled back the whole transaction, so nothing
// else may run in it.
type brokenTxError struct{ err error }

func (e *brokenTxError) Error() string { return e.err.Error() }
func (e *brokenTxError) Unwrap() error { return e.err }

// appendQueries are the statements that appends run, prepared once per
// writer connection.
func appendQueries() []string {
	return []string{lookupOneQuery, lookupManyQuery, versionQuery, upsertStreamQuery, subjectKeyQuery, insertQuery}
}

const (
	lookupOneQuery = `SELECT event_id, stream_id, stream_version, position FROM events WHERE event_id = ?`
	// lookupManyQuery takes the ids as one JSON array, so that its text
	// does not depend on their number.
	lookupManyQuery = `SELECT event_id, stream_id, stream_version, position FROM events
		WHERE event_id IN (SELECT value FROM json_each(?))`
	versionQuery      = `SELECT version, head_hash FROM streams WHERE stream_id = ?`
	upsertStreamQuery = `INSERT INTO streams (stream_id, category, version, created_at, updated_at, head_hash)
		VALUES (?1, ?2, ?3, ?4, ?4, ?5)
		ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,
		    head_hash = excluded.head_hash`
	subjectKeyQuery = `INSERT INTO subject_keys (subject, key, created_at) VALUES (?, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET subject = excluded.subject RETURNING key`
)

// insertColumnsPerRow is the number of parameters of insertQuery after
// the three that every event of one stream shares.
const insertColumnsPerRow = 7

// insertQuery inserts one event. ?1 is the stream id, ?2 its category, ?3
// recorded_at; then the event's version, id, type, data, metadata,
// subjects and hash (eventstore.EventHash).
const insertQuery = `INSERT INTO events (stream_id, category, recorded_at, stream_version, event_id, event_type,
	data, metadata, subjects, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`

// statements hands out the append's statements in one transaction: the
// writer's prepared ones when the query is among them (no parsing per
// append), else prepared in the transaction and closed with it.
type statements struct {
	tx     *sql.Tx
	cached map[string]*sql.Stmt // prepared on the writer pool; nil for a caller's transaction
	inTx   map[string]*sql.Stmt
	spSeq  int
}

func (st *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := st.inTx[query]; ok {
		return s, nil
	}
	var s *sql.Stmt
	if c, ok := st.cached[query]; ok {
		s = st.tx.StmtContext(ctx, c)
	} else {
		var err error
		if s, err = st.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
	}
	if st.inTx == nil {
		st.inTx = map[string]*sql.Stmt{}
	}
	st.inTx[query] = s
	return s, nil
}

func (st *statements) close() {
	for _, s := range st.inTx {
		_ = s.Close()
	}
}

// inSavepoint runs fn under a savepoint: when fn fails, nothing it did is
// left in the transaction. If the savepoint cannot be rolled back or
// released, the error is a *brokenTxError.
func (st *statements) inSavepoint(ctx context.Context, fn func() ([]eventstore.AppendResult, error)) ([]eventstore.AppendResult, error) {
	st.spSeq++
	name := fmt.Sprintf("eventstore_append_%d", st.spSeq)
	if _, err := st.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return nil, &brokenTxError{fmt.Errorf("begin append: %w", err)}
	}
	res, err := fn()
	if err != nil {
		_, undoErr := st.tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO "+name)
		_, relErr := st.tx.ExecContext(context.WithoutCancel(ctx), "RELEASE "+name)
		if undoErr != nil || relErr != nil {
			return nil, &brokenTxError{errors.Join(err, undoErr, relErr)}
		}
		return nil, err
	}
	if _, err := st.tx.ExecContext(ctx, "RELEASE "+name); err != nil {
		return nil, &brokenTxError{fmt.Errorf("end append: %w", err)}
	}
	return res, nil
}

// prepare encodes the events and lists their ids as a JSON array.
func prepare(reqs []eventstore.AppendRequest) (*appendJob, error) {
	job := &appendJob{reqs: reqs, prepared: make([][]preparedEvent, len(reqs))}
	var ids []string
	for i, r := range reqs {
		job.prepared[i] = make([]preparedEvent, len(r.Events))
		var lastMeta *eventstore.Metadata
		var lastEncoded string
		for j, ev := range r.Events {
			data, err := compact(ev.Data)
			if err != nil {
				return nil, fmt.Errorf("%w: event %d data: %v", eventstore.ErrInvalidEvent, j, err)
			}
			// The events of one append usually share their metadata:
			// encode it once.
			if lastMeta == nil || !reflect.DeepEqual(*lastMeta, ev.Metadata) {
				md, err := json.Marshal(ev.Metadata)
				if err != nil {
					return nil, fmt.Errorf("marshal metadata: %w", err)
				}
				lastMeta, lastEncoded = &r.Events[j].Metadata, string(md)
			}
			job.prepared[i][j] = preparedEvent{data: data, meta: lastEncoded}
			ids = append(ids, ev.ID.String())
			job.events++
		}
	}
	if len(ids) == 1 {
		job.idList = ids[0]
		return job, nil
	}
	idList, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	job.idList = string(idList)
	return job, nil
}

// compact returns data without insignificant white space. Data without any
// white space (what json.Marshal produces) is returned as it is: the callers
// have checked that it is valid JSON (eventstore.ValidateAppend).
func compact(data json.RawMessage) (json.RawMessage, error) {
	if !bytes.ContainsAny(data, " \t\r\n") {
		return data, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// AppendTx appends inside the caller's transaction, so that rows of other
// tables commit or roll back with the events. tx must be a read-write
// transaction on DB() (it then holds the write lock from its BEGIN
// IMMEDIATE); the caller commits. A failed append leaves nothing of itself
// in tx (it runs under a savepoint). A retry of an earlier append is
// answered with the original result, as by AppendMany.
func (s *Store) AppendTx(ctx context.Context, tx *sql.Tx, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppendMany(reqs); err != nil {
		return nil, err
	}
	job, err := prepare(reqs)
	if err != nil {
		return nil, err
	}
	st := &statements{tx: tx}
	defer st.close()
	res, err := st.inSavepoint(ctx, func() ([]eventstore.AppendResult, error) {
		return appendInTx(ctx, st, job)
	})
	var broken *brokenTxError
	if errors.As(err, &broken) {
		return nil, broken.err
	}
	return res, err
}

func appendInTx(ctx context.Context, st *statements, job *appendJob) ([]eventstore.AppendResult, error) {
	reqs, prepared := job.reqs, job.prepared
	// A retry of an earlier append (same event ids) is answered with the
	// original result; checking first, under the write lock, is one indexed
	// lookup and keeps the rest of the transaction simple.
	orig, retried, err := lookupOriginal(ctx, st, job)
	if err != nil {
		return nil, err
	}
	if retried {
		return orig, nil
	}

	now := time.Now().UTC().Format(TimeLayout)
	keys := map[string][]byte{}
	keyFor := func(subject string) ([]byte, error) {
		if k, ok := keys[subject]; ok {
			return k, nil
		}
		k, err := subjectKey(ctx, st, subject, now)
		if err != nil {
			return nil, err
		}
		keys[subject] = k
		return k, nil
	}

	versionStmt, err := st.get(ctx, versionQuery)
	if err != nil {
		return nil, fmt.Errorf("prepare append: %w", err)
	}
	upsertStream, err := st.get(ctx, upsertStreamQuery)
	if err != nil {
		return nil, fmt.Errorf("prepare append: %w", err)
	}
	results := make([]eventstore.AppendResult, len(reqs))
	for i, r := range reqs {
		var (
			current int64
			head    []byte // the hash of the stream's last event
		)
		err := versionStmt.QueryRowContext(ctx, r.StreamID).Scan(&current, &head)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("append to stream %s: read version: %w", r.StreamID, err)
		}
		if !r.Expected.Matches(current) {
			return nil, &eventstore.WrongExpectedVersionError{StreamID: r.StreamID, Expected: r.Expected, CurrentVersion: current}
		}
		category := eventstore.Category(r.StreamID)
		res := eventstore.AppendResult{StreamID: r.StreamID, FirstVersion: current + 1,
			LastVersion: current + int64(len(r.Events)), Positions: make([]int64, len(r.Events))}
		// rows holds the parameters of the events not inserted yet.
		rows := make([]any, 0, len(r.Events)*insertColumnsPerRow)
		for j, ev := range r.Events {
			data := prepared[i][j].data
			var subjects any // NULL unless the event has sealed fields
			subjectsText := ""
			if len(ev.Personal) > 0 {
				sealed, used, err := eventstore.SealPersonal(ev.ID, data, ev.Personal, keyFor)
				if err != nil {
					return nil, fmt.Errorf("append to stream %s: %w", r.StreamID, err)
				}
				data = sealed
				if len(used) > 0 {
					list, err := json.Marshal(used)
					if err != nil {
						return nil, err
					}
					subjects, subjectsText = string(list), string(list)
				}
			}
			version, id := current+int64(j)+1, ev.ID.String()
			head = eventstore.EventHash(head, eventstore.RawEvent{StreamID: r.StreamID, Version: version, EventID: id,
				Type: ev.Type, Data: string(data), Metadata: prepared[i][j].meta, Subjects: subjectsText, RecordedAt: now})
			rows = append(rows, version, id, ev.Type, string(data), prepared[i][j].meta, subjects, head)
		}
		if err := insertEvents(ctx, st, r.StreamID, category, now, rows, &res); err != nil {
			return nil, fmt.Errorf("append to stream %s: %w", r.StreamID, err)
		}
		if _, err := upsertStream.ExecContext(ctx, r.StreamID, category, res.LastVersion, now, head); err != nil {
			return nil, fmt.Errorf("append to stream %s: update stream: %w", r.StreamID, err)
		}
		results[i] = res
	}
	return results, nil
}

// insertEvents inserts one stream's events, given as insertColumnsPerRow
// parameters each, with the prepared one-row INSERT, and fills
// res.Positions. (Multi-row INSERT ... RETURNING measured slower with
// modernc.org/sqlite: its rows are buffered and bound one by one anyway.)
func insertEvents(ctx context.Context, st *statements, streamID, category, now string, rows []any, res *eventstore.AppendResult) error {
	stmt, err := st.get(ctx, insertQuery)
	if err != nil {
		return err
	}
	args := make([]any, 3+insertColumnsPerRow)
	args[0], args[1], args[2] = streamID, category, now
	for j := range res.Positions {
		copy(args[3:], rows[j*insertColumnsPerRow:(j+1)*insertColumnsPerRow])
		out, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		if res.Positions[j], err = out.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}

// subjectKey returns a subject's key, creating it on first use, in the
// append's transaction.
func subjectKey(ctx context.Context, st *statements, subject, now string) ([]byte, error) {
	fresh, err := eventstore.NewSubjectKey()
	if err != nil {
		return nil, err
	}
	stmt, err := st.get(ctx, subjectKeyQuery)
	if err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	var key []byte
	if err := stmt.QueryRowContext(ctx, subject, fresh, now).Scan(&key); err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	return key, nil
}

// lookupOriginal answers a retried append: retried is true when every event
// id of every request is stored, in that request's stream and order. When
// only some are stored, or in another stream, it returns ErrDuplicateEventID.
func lookupOriginal(ctx context.Context, st *statements, job *appendJob) ([]eventstore.AppendResult, bool, error) {
	query := lookupManyQuery
	if job.events == 1 {
		query = lookupOneQuery // idList is then the one id
	}
	stmt, err := st.get(ctx, query)
	if err != nil {
		return nil, false, fmt.Errorf("look up event ids: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, job.idList)
	if err != nil {
		return nil, false, fmt.Errorf("look up event ids: %w", err)
	}
	defer rows.Close()
	found, err := eventstore.CollectStored(rows)
	if err != nil {
		return nil, false, err
	}
	return eventstore.MatchRetry(job.reqs, found)
}

// EventColumns is the SELECT list of the events table (alias e) that
// ScanEvent reads, for the projection engine. The last column carries the
// keys of the event's data subjects (subject -> hex key; a missing subject
// was forgotten), read in the same statement so that it is consistent with
// the row.
const EventColumns = `SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.event_type,
	e.data, e.metadata, e.recorded_at,
	CASE WHEN e.subjects IS NULL THEN NULL ELSE
		(SELECT json_group_object(k.subject, hex(k.key)) FROM subject_keys k
			WHERE k.subject IN (SELECT value FROM json_each(e.subjects)))
	END
	FROM events e `

// Scanner is satisfied by *sql.Row and *sql.Rows.
type Scanner = eventstore.Scanner

var _ eventstore.SQLLog = (*Store)(nil)

// EventColumns implements eventstore.SQLLog.
func (*Store) EventColumns() string { return EventColumns }

// GapSafeCondition implements eventstore.SQLLog: none, the one writer
// commits positions in order.
func (*Store) GapSafeCondition() string { return "" }

// ScanEvent implements eventstore.SQLLog.
func (*Store) ScanEvent(row eventstore.Scanner) (eventstore.Event, error) { return ScanEvent(row) }

// ScanEvent reads one row selected with EventColumns and decrypts it.
func ScanEvent(row Scanner) (eventstore.Event, error) {
	var ev eventstore.Event
	var id, data, meta, recorded string
	var keys sql.NullString
	if err := row.Scan(&ev.Position, &ev.StreamID, &ev.Version, &id, &ev.Type, &data, &meta, &recorded, &keys); err != nil {
		return ev, err
	}
	var err error
	if ev.ID, err = uuid.Parse(id); err != nil {
		return ev, fmt.Errorf("event %d id: %w", ev.Position, err)
	}
	if ev.RecordedAt, err = time.Parse(TimeLayout, recorded); err != nil {
		return ev, fmt.Errorf("event %d recorded_at: %w", ev.Position, err)
	}
	if err := json.Unmarshal([]byte(meta), &ev.Metadata); err != nil {
		return ev, fmt.Errorf("event %d metadata: %w", ev.Position, err)
	}
	ev.Data = json.RawMessage(data)
	var keysJSON []byte
	if keys.Valid {
		keysJSON = []byte(keys.String)
	}
	if err := eventstore.OpenStored(&ev, keysJSON); err != nil {
		return ev, err
	}
	return ev, nil
}

func (s *Store) query(ctx context.Context, query string, args ...any) ([]eventstore.Event, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventstore.Event
	for rows.Next() {
		ev, err := ScanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, streamID string, opts eventstore.ReadStreamOptions) ([]eventstore.Event, error) {
	if err := eventstore.ValidateStreamID(streamID); err != nil {
		return nil, err
	}
	asOf := ""
	if !opts.AsOf.IsZero() {
		asOf = opts.AsOf.UTC().Format(TimeLayout)
	}
	evs, err := s.query(ctx, EventColumns+`WHERE e.stream_id = ?1 AND e.stream_version >= ?2
		AND (?3 = 0 OR e.stream_version <= ?3) AND (?4 = '' OR e.recorded_at <= ?4)
		ORDER BY e.stream_version`, streamID, opts.FromVersion, opts.ToVersion, asOf)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	return evs, nil
}

// ReadStreams implements eventstore.Store: one query for every stream, the
// ids passed as one JSON array.
func (s *Store) ReadStreams(ctx context.Context, streamIDs []string) (map[string][]eventstore.Event, error) {
	ids, err := eventstore.ValidateReadStreams(streamIDs)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return map[string][]eventstore.Event{}, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	evs, err := s.query(ctx, EventColumns+`WHERE e.stream_id IN (SELECT value FROM json_each(?1))
		ORDER BY e.stream_id, e.stream_version`, string(list))
	if err != nil {
		return nil, fmt.Errorf("read %d streams: %w", len(ids), err)
	}
	return eventstore.GroupByStream(evs), nil
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > 10000 {
		return 10000
	}
	return limit
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventstore.Event, error) {
	evs, err := s.query(ctx, EventColumns+`WHERE e.position > ? ORDER BY e.position LIMIT ?`, from, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read all from %d: %w", from, err)
	}
	return evs, nil
}

// ReadCategory implements eventstore.Store.
func (s *Store) ReadCategory(ctx context.Context, category string, from int64, limit int) ([]eventstore.Event, error) {
	evs, err := s.query(ctx, EventColumns+`WHERE e.category = ? AND e.position > ? ORDER BY e.position LIMIT ?`,
		category, from, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read category %s from %d: %w", category, from, err)
	}
	return evs, nil
}

// HeadPosition implements eventstore.Store.
func (s *Store) HeadPosition(ctx context.Context) (int64, error) {
	var head int64
	if err := s.reader.QueryRowContext(ctx, "SELECT coalesce(max(position), 0) FROM events").Scan(&head); err != nil {
		return 0, fmt.Errorf("head position: %w", err)
	}
	return head, nil
}

// ListStreams implements eventstore.Store.
func (s *Store) ListStreams(ctx context.Context, opts eventstore.ListStreamsOptions) ([]eventstore.StreamInfo, error) {
	limit := opts.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT stream_id, category, version, created_at, updated_at FROM streams
		WHERE (?1 = '' OR category = ?1) AND stream_id > ?2 ORDER BY stream_id LIMIT ?3`, opts.Category, opts.After, limit)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	defer rows.Close()
	var out []eventstore.StreamInfo
	for rows.Next() {
		var si eventstore.StreamInfo
		var created, updated string
		if err := rows.Scan(&si.StreamID, &si.Category, &si.Version, &created, &updated); err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		if si.CreatedAt, err = time.Parse(TimeLayout, created); err != nil {
			return nil, fmt.Errorf("list streams: stream %s created_at: %w", si.StreamID, err)
		}
		if si.UpdatedAt, err = time.Parse(TimeLayout, updated); err != nil {
			return nil, fmt.Errorf("list streams: stream %s updated_at: %w", si.StreamID, err)
		}
		out = append(out, si)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return out, nil
}

// forgetSubjectQuery deletes a data subject's key.
const forgetSubjectQuery = "DELETE FROM subject_keys WHERE subject = ?"

// ForgetSubject implements eventstore.Store.
func (s *Store) ForgetSubject(ctx context.Context, subject string) error {
	if _, err := s.writer.ExecContext(ctx, forgetSubjectQuery, subject); err != nil {
		return fmt.Errorf("forget subject %s: %w", subject, err)
	}
	return nil
}
