// Package postgres is the PostgreSQL implementation of eventstore.Store,
// over pgx/v5 and pgxpool.
//
// # Gap safety
//
// A sequence-numbered log has a classic hole: transaction A takes position 10,
// transaction B takes 11 and commits first; a reader that saw 11 and moved its
// checkpoint past it would never see 10. This store writes
// pg_current_xact_id() with every event and makes the global position
// (transaction id << 20) | n, where n counts the events of that transaction.
// Readers of the global log only read rows with a transaction id below
// pg_snapshot_xmin(pg_current_snapshot()), the oldest transaction still in
// progress: every transaction below it has finished, and every transaction
// still to commit has an id at or above it, so its events land after anything
// a reader has already returned. Ordering by position is ordering by
// (transaction id, insert order), as in watermill-sql's PostgreSQL schema.
//
// Caveat: readers of the global log (ReadAll, ReadCategory, HeadPosition and
// the projections) do not see events past the oldest open write transaction,
// so a long-running write transaction anywhere on the server (transaction ids
// are cluster-wide: other databases count too) delays them until it ends.
// Keep write transactions short. Stream reads are not affected.
//
// A transaction may append at most 1,048,576 (2^20) events, and positions
// stay within int64 for the first 2^43 transaction ids.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
)

// Store is the PostgreSQL event store.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	queue    *eventstore.CommitQueue[*appendJob]
	// See notifier.
	notifyReq    chan struct{}
	notifyPos    atomic.Int64 // highest position committed
	closing      chan struct{}
	notifierDone chan struct{}
}

var _ eventstore.Store = (*Store)(nil)

// New returns a store over an existing pool (migrations already applied).
// Close does not close the pool.
func New(pool *pgxpool.Pool) *Store { return newStore(pool, false) }

func newStore(pool *pgxpool.Pool, owns bool) *Store {
	s := &Store{pool: pool, ownsPool: owns,
		notifyReq: make(chan struct{}, 1), closing: make(chan struct{}), notifierDone: make(chan struct{})}
	s.queue = eventstore.NewCommitQueue(groupCommitters, eventstore.MaxEventsPerAppend,
		func(j *appendJob) int { return j.events }, s.commitBatch)
	go s.notifier()
	return s
}

// Open connects to url and returns a store that owns its pool. It does not
// apply migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return newStore(pool, true), nil
}

// Pool exposes the connection pool to the projection engine and read models.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close waits for the appends already queued to be committed, stops taking
// appends, and closes the pool if the store owns it.
func (s *Store) Close() error {
	s.queue.Close()
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	<-s.notifierDone
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// appendHead is the start of both append statements: the stream's current
// version, checked against the expected one, and the hash of its last event
// (empty for a new stream), which the first new event chains on. $3 is the
// expected version (-1 any, -2 no stream, -3 stream exists, >= 0 exact); a
// mismatch raises CT409 through eventstore_conflict. One index lookup finds
// both.
const appendHead = `WITH RECURSIVE cur AS MATERIALIZED (
	SELECT CASE WHEN $3::bigint = -1
	             OR ($3::bigint = -2 AND c.v = 0)
	             OR ($3::bigint = -3 AND c.v > 0)
	             OR ($3::bigint >= 0 AND $3::bigint = c.v)
	            THEN c.v ELSE eventstore_conflict($1, c.v) END AS v, c.h
	  FROM (SELECT coalesce(l.stream_version, 0) AS v, coalesce(l.hash, ''::bytea) AS h
	          FROM (SELECT) AS one
	          LEFT JOIN LATERAL (SELECT stream_version, hash FROM events WHERE stream_id = $1
	                              ORDER BY stream_version DESC LIMIT 1) l ON true) c
)`

// The append statements compute each event's hash themselves (the same bytes
// as eventstore.EventHash and the events_chain trigger, which they thereby
// skip): a trigger would run PL/pgSQL and look the previous event up once
// more for every row. Each field's bytes are computed once, in a
// materialized step, and framed (length, then bytes) in the next.

// hashText lists the hashed fields of the new events as bytes, from the
// columns of step src (ver, id, typ, data, meta, subj, at).
func hashText(src string) string {
	return `SELECT ` + src + `.*, convert_to($1, 'UTF8') AS b_sid, convert_to(` + src + `.ver::text, 'UTF8') AS b_ver,
	       convert_to(` + src + `.id::text, 'UTF8') AS b_id, convert_to(` + src + `.typ, 'UTF8') AS b_typ,
	       convert_to(` + src + `.data::text, 'UTF8') AS b_data, convert_to(` + src + `.meta::text, 'UTF8') AS b_meta,
	       convert_to(coalesce(array_to_string(` + src + `.subj, ' '), ''), 'UTF8') AS b_subj,
	       convert_to(((extract(epoch FROM ` + src + `.at) * 1000000)::bigint)::text, 'UTF8') AS b_at
	  FROM ` + src
}

// hashFrame is one length-prefixed field of the hash input.
func hashFrame(b string) string { return `int8send(length(` + b + `)::bigint) || ` + b }

// hashRest is the hash input after the previous hash, from hashText's
// columns of step src.
func hashRest(src string) string {
	var parts []string
	for _, c := range []string{"b_sid", "b_ver", "b_id", "b_typ", "b_data", "b_meta", "b_subj", "b_at"} {
		parts = append(parts, hashFrame(src+"."+c))
	}
	return strings.Join(parts, " || ")
}

const appendColumns = `INSERT INTO events (position, transaction_id, stream_id, category, stream_version,
                    event_id, event_type, data, metadata, subjects, recorded_at, hash)
`

// appendSQL appends events to one stream in one statement. $4 is how many
// events this transaction appended before (the low bits of the positions).
// The events chain on each other in order: a recursive step hashes event i
// on the hash of event i-1.
var appendSQL = appendHead + `, t AS MATERIALIZED (
	SELECT u.i, cur.v + u.i AS ver, u.id, u.typ, u.data, u.meta,
	       CASE WHEN u.subj IS NULL THEN NULL ELSE string_to_array(u.subj, ' ') END AS subj, now() AS at
	  FROM cur, unnest($5::uuid[], $6::text[], $7::jsonb[], $8::jsonb[], $9::text[])
	       WITH ORDINALITY AS u(id, typ, data, meta, subj, i)
), b AS MATERIALIZED (` + hashText("t") + `
), f AS MATERIALIZED (
	SELECT b.i, ` + hashRest("b") + ` AS rest FROM b
), chain AS (
	SELECT 0::bigint AS i, cur.h AS h FROM cur
	UNION ALL
	SELECT f.i, sha256(` + hashFrame("chain.h") + ` || f.rest) FROM chain JOIN f ON f.i = chain.i + 1
)
` + appendColumns + `SELECT ((pg_current_xact_id()::text::bigint) << 20) + $4::bigint + t.i - 1, pg_current_xact_id(), $1, $2, t.ver,
       t.id, t.typ, t.data, t.meta, t.subj, t.at, chain.h
  FROM t JOIN chain ON chain.i = t.i
RETURNING position, stream_version`

// appendOneSQL is appendSQL for the common single-event append, with scalar
// parameters: no arrays to build and unnest, and no chain to recurse over.
var appendOneSQL = appendHead + `, t AS MATERIALIZED (
	SELECT cur.v + 1 AS ver, $5::uuid AS id, $6::text AS typ, $7::jsonb AS data, $8::jsonb AS meta,
	       string_to_array($9::text, ' ') AS subj, now() AS at, cur.h AS prev
	  FROM cur
), b AS MATERIALIZED (` + hashText("t") + `
)
` + appendColumns + `SELECT ((pg_current_xact_id()::text::bigint) << 20) + $4::bigint, pg_current_xact_id(), $1, $2, b.ver,
       b.id, b.typ, b.data, b.meta, b.subj, b.at, sha256(` + hashFrame("b.prev") + ` || ` + hashRest("b") + `)
  FROM b
RETURNING position, stream_version`

// appendInTxSQL is appendSQL for a caller's transaction, where earlier
// appends of the same transaction are unknown: the offset is probed.
var appendInTxSQL = strings.Replace(appendSQL, "$4::bigint", `(SELECT coalesce(max(p.position) + 1 - ((pg_current_xact_id()::text::bigint) << 20), 0)
	  FROM events p WHERE p.position >= ((pg_current_xact_id()::text::bigint) << 20)
	   AND p.position < ((pg_current_xact_id()::text::bigint) << 20) + 1048576 AND $4::bigint = 0)`, 1)

// maxEventsPerTx bounds the low 20 bits of a position.
const maxEventsPerTx = 1 << 20

// SQLSTATEs of a failed append: eventstore_conflict's, and a lost race for a
// stream's next version on events_stream_version_key.
const (
	codeWrongVersion    = "CT409"
	codeUniqueViolation = "23505"
)

type preparedAppend struct {
	req      eventstore.AppendRequest
	ids      []string
	types    []string
	data     []string
	meta     []string
	subjects []*string
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

// AppendMany implements eventstore.Store: one implicit transaction (a pgx
// batch) for all streams.
func (s *Store) AppendMany(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppendMany(reqs); err != nil {
		return nil, err
	}
	return s.appendMany(ctx, reqs)
}

func (s *Store) appendMany(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	keys, err := s.subjectKeys(ctx, reqs)
	if err != nil {
		return nil, err
	}
	job := &appendJob{prepared: make([]preparedAppend, len(reqs))}
	for i, r := range reqs {
		p, err := s.prepare(r, keys)
		if err != nil {
			return nil, err
		}
		job.prepared[i] = p
		job.events += len(p.ids)
	}
	return s.queue.Submit(ctx, job)
}

// appendJob is one caller's Append or AppendMany, encoded and waiting in the
// commit queue.
type appendJob struct {
	prepared []preparedAppend
	events   int
}

// Group commit (see eventstore.CommitQueue): concurrent appends wait in a
// queue, and each of groupCommitters goroutines takes everything queued into
// one transaction, sent to the server as one pipeline (BEGIN, the appends,
// COMMIT: one round trip) and committed with one commit record and flush.
// The appends of a batch run in queue order, each seeing those before it,
// so expected versions are checked as if they had run one after another.
//
// When anything in a batch fails (a wrong expected version, a stream that a
// concurrent batch appended to first, a retried append whose events are
// stored already), the transaction is rolled back whole and every append of
// the batch runs again on its own, with its own outcome: one append's
// failure never fails another, and nothing of a failed append remains.
// Conflicts are rare, so this costs little; an append alone in the queue
// runs on its own at once.
const groupCommitters = 4

// groupTimeout bounds one batch's transaction: its callers wait for it even
// when their own contexts end (an error must never hide a written append).
const groupTimeout = time.Minute

// commitBatch is the commit queue's committer function.
func (s *Store) commitBatch(jobs []*appendJob, outcomes []eventstore.Outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	defer func() {
		var last int64
		for _, o := range outcomes {
			for _, r := range o.Results {
				if o.Err == nil {
					last = max(last, r.LastPosition())
				}
			}
		}
		if last > 0 {
			s.notifyAppended(last)
		}
	}()
	if len(jobs) > 1 {
		if err := s.execGroup(ctx, jobs, outcomes); err == nil {
			return
		}
	}
	for i, job := range jobs {
		res, err := s.appendAlone(ctx, job.prepared)
		outcomes[i] = eventstore.Outcome{Results: res, Err: err}
	}
}

// execGroup runs the appends of several jobs in one transaction and one
// round trip. On any error it leaves nothing written and outcomes unset.
func (s *Store) execGroup(ctx context.Context, jobs []*appendJob, outcomes []eventstore.Outcome) error {
	groups := make([][]preparedAppend, len(jobs))
	for i, job := range jobs {
		groups[i] = job.prepared
	}
	results, err := s.pipeline(ctx, groups)
	if err != nil {
		return err
	}
	for i := range jobs {
		outcomes[i] = eventstore.Outcome{Results: results[i]}
	}
	return nil
}

// pipeline runs groups of appends, in order, in one transaction sent to the
// server as one pipeline: BEGIN, the appends, COMMIT, one round trip. The
// results have the shape of groups. On error nothing is written; a failed
// append's error is mapped by mapAppendError.
func (s *Store) pipeline(ctx context.Context, groups [][]preparedAppend) ([][]eventstore.AppendResult, error) {
	batch := &pgx.Batch{}
	// Several statements run under REPEATABLE READ (see BeginTx).
	batch.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ")
	offset := 0 // events appended earlier in this transaction
	for _, g := range groups {
		for _, p := range g {
			query, args := appendStatement(p, offset)
			batch.Queue(query, args...)
			offset += len(p.ids)
		}
	}
	if offset > maxEventsPerTx {
		return nil, fmt.Errorf("%w: %d events in one transaction, at most %d", eventstore.ErrTooManyEvents, offset, maxEventsPerTx)
	}
	batch.Queue("COMMIT")
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	var failed *eventstore.AppendRequest
	results, err := func() ([][]eventstore.AppendResult, error) {
		br := conn.SendBatch(ctx, batch)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
		results := make([][]eventstore.AppendResult, len(groups))
		for i, g := range groups {
			results[i] = make([]eventstore.AppendResult, len(g))
			for k, p := range g {
				rows, err := br.Query()
				if err == nil {
					results[i][k], err = collectAppend(rows, p.req.StreamID)
				}
				if err != nil {
					failed = &p.req
					return nil, err
				}
			}
		}
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
		return results, br.Close()
	}()
	if err != nil {
		// A connection still inside the failed transaction is closed by
		// Release rather than returned to the pool.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	conn.Release()
	switch {
	case failed != nil:
		return nil, s.mapAppendError(ctx, *failed, err)
	case err != nil:
		return nil, fmt.Errorf("append: %w", err)
	}
	return results, nil
}

// appendStatement is the statement and arguments of one stream's append;
// offset is the number of events the transaction appended before it.
func appendStatement(p preparedAppend, offset int) (string, []any) {
	if len(p.ids) == 1 {
		return appendOneSQL, []any{p.req.StreamID, eventstore.Category(p.req.StreamID), int64(p.req.Expected),
			offset, p.ids[0], p.types[0], p.data[0], p.meta[0], p.subjects[0]}
	}
	return appendSQL, []any{p.req.StreamID, eventstore.Category(p.req.StreamID), int64(p.req.Expected),
		offset, p.ids, p.types, p.data, p.meta, p.subjects}
}

// appendAlone runs one caller's appends in their own transaction, trying a
// lost race for a stream's next version again and answering a retried
// append with its original result.
func (s *Store) appendAlone(ctx context.Context, prepared []preparedAppend) ([]eventstore.AppendResult, error) {
	reqs := make([]eventstore.AppendRequest, len(prepared))
	for i, p := range prepared {
		reqs[i] = p.req
	}
	results, err := s.exec(ctx, prepared)
	// An append that expects Any (or StreamExists) and lost a race for the
	// next version number did not conflict with anything the caller expected:
	// try again with the new version.
	for attempt := 0; attempt < maxRaceRetries && isLostRace(err); attempt++ {
		results, err = s.exec(ctx, prepared)
	}
	if err == nil {
		return results, nil
	}
	// A retried append (same event ids) fails on its expected version or on
	// the event id's unique key: answer it with the original result.
	if isRetryCandidate(err) {
		if orig, ok, lookupErr := s.lookupOriginal(ctx, reqs); lookupErr != nil {
			return nil, errors.Join(err, lookupErr)
		} else if ok {
			return orig, nil
		}
	}
	return nil, err
}

const maxRaceRetries = 20

// raceError marks a unique violation on a stream's next version where the
// expected version was not exact, so the append can simply be tried again.
type raceError struct{ err error }

func (e *raceError) Error() string { return e.err.Error() }
func (e *raceError) Unwrap() error { return e.err }

// ErrNeedsRepeatableRead is returned by AppendTx for a transaction that was
// not begun with BeginTx (or at REPEATABLE READ or SERIALIZABLE).
var ErrNeedsRepeatableRead = errors.New("appending in a transaction needs REPEATABLE READ isolation: begin it with Store.BeginTx")

// BeginTx begins a transaction for AppendTx, at REPEATABLE READ.
//
// Why: a transaction's id is assigned at its first write, but under READ
// COMMITTED a later statement sees commits of transactions with higher ids.
// Appending to a stream on top of such a commit would give the stream's next
// version a lower global position than its previous one. Under REPEATABLE
// READ the transaction sees only what committed before its snapshot, which
// was taken before its id was assigned: every event it builds on has a lower
// transaction id, so a lower position. A stream changed since the snapshot
// fails on events_stream_version_key (a version conflict), as it should.
// A single Append is one statement and has the same property under READ
// COMMITTED.
func (s *Store) BeginTx(ctx context.Context) (pgx.Tx, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin append transaction: %w", err)
	}
	return tx, nil
}

// AppendTx appends inside the caller's transaction, begun with BeginTx, so
// that rows of other tables (a secret in its own table, say) commit or roll
// back with the events. The caller commits; a version conflict aborts the
// transaction. Idempotent retry is not available here: a retry is a new
// transaction.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppendMany(reqs); err != nil {
		return nil, err
	}
	var isolation string
	if err := tx.QueryRow(ctx, "SELECT current_setting('transaction_isolation')").Scan(&isolation); err != nil {
		return nil, fmt.Errorf("append in transaction: %w", err)
	}
	if isolation != "repeatable read" && isolation != "serializable" {
		return nil, ErrNeedsRepeatableRead
	}
	keys, err := s.subjectKeys(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.AppendResult, len(reqs))
	for i, r := range reqs {
		p, err := s.prepare(r, keys)
		if err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, appendInTxSQL, r.StreamID, eventstore.Category(r.StreamID), int64(r.Expected),
			0, p.ids, p.types, p.data, p.meta, p.subjects)
		if err == nil {
			out[i], err = collectAppend(rows, r.StreamID)
		}
		if err != nil {
			return nil, s.mapAppendError(ctx, r, err)
		}
	}
	return out, nil
}

func isLostRace(err error) bool {
	var r *raceError
	return errors.As(err, &r)
}

func isRetryCandidate(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, eventstore.ErrWrongExpectedVersion) ||
		(errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation)
}

func (s *Store) prepare(r eventstore.AppendRequest, keys map[string][]byte) (preparedAppend, error) {
	p := preparedAppend{
		req:      r,
		ids:      make([]string, len(r.Events)),
		types:    make([]string, len(r.Events)),
		data:     make([]string, len(r.Events)),
		meta:     make([]string, len(r.Events)),
		subjects: make([]*string, len(r.Events)),
	}
	for i, ev := range r.Events {
		data := ev.Data
		if len(ev.Personal) > 0 {
			sealed, subjects, err := eventstore.SealPersonal(ev.ID, ev.Data, ev.Personal, func(subject string) ([]byte, error) {
				if k, ok := keys[subject]; ok {
					return k, nil
				}
				return nil, fmt.Errorf("no key loaded for subject %s", subject)
			})
			if err != nil {
				return p, err
			}
			data = sealed
			if len(subjects) > 0 {
				joined := strings.Join(subjects, " ")
				p.subjects[i] = &joined
			}
		}
		// The events of one append usually share their metadata: encode
		// it once.
		if i == 0 || !reflect.DeepEqual(r.Events[i-1].Metadata, ev.Metadata) {
			md, err := json.Marshal(ev.Metadata)
			if err != nil {
				return p, fmt.Errorf("marshal metadata: %w", err)
			}
			p.meta[i] = string(md)
		} else {
			p.meta[i] = p.meta[i-1]
		}
		p.ids[i] = ev.ID.String()
		p.types[i] = ev.Type
		p.data[i] = string(data)
	}
	return p, nil
}

// subjectKeys returns the keys of every data subject the requests' events
// name, creating the missing ones: one read, and for new subjects one
// insert, for the whole append, whatever the number of events. The keys
// commit on their own, before the events: a key without events is
// harmless, an event without its key would read as erased.
func (s *Store) subjectKeys(ctx context.Context, reqs []eventstore.AppendRequest) (map[string][]byte, error) {
	var subjects []string
	seen := map[string]bool{}
	for _, r := range reqs {
		for _, ev := range r.Events {
			for _, f := range ev.Personal {
				if !seen[f.Subject] {
					seen[f.Subject] = true
					subjects = append(subjects, f.Subject)
				}
			}
		}
	}
	if len(subjects) == 0 {
		return nil, nil
	}
	// In one order for every append: two appends that insert overlapping
	// keys in different orders wait on each other's rows (deadlock).
	slices.Sort(subjects)
	keys := make(map[string][]byte, len(subjects))
	load := func() error {
		rows, err := s.pool.Query(ctx, `SELECT subject, key FROM subject_keys WHERE subject = ANY($1)`, subjects)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var subject string
			var key []byte
			if err := rows.Scan(&subject, &key); err != nil {
				return err
			}
			keys[subject] = key
		}
		return rows.Err()
	}
	if err := load(); err != nil {
		return nil, fmt.Errorf("subject keys: %w", err)
	}
	var missing []string
	var fresh [][]byte
	for _, subject := range subjects {
		if _, ok := keys[subject]; !ok {
			k, err := eventstore.NewSubjectKey()
			if err != nil {
				return nil, err
			}
			missing, fresh = append(missing, subject), append(fresh, k)
		}
	}
	if len(missing) == 0 {
		return keys, nil
	}
	// Another append may create the same subject's key at the same time:
	// the first wins, and both read it back.
	if _, err := s.pool.Exec(ctx, `INSERT INTO subject_keys (subject, key) SELECT * FROM unnest($1::text[], $2::bytea[])
		ON CONFLICT (subject) DO NOTHING`, missing, fresh); err != nil {
		return nil, fmt.Errorf("create subject keys: %w", err)
	}
	if err := load(); err != nil {
		return nil, fmt.Errorf("subject keys: %w", err)
	}
	for _, subject := range missing {
		if _, ok := keys[subject]; !ok {
			// Forgotten between the insert and the read: the
			// append must not seal under a key that no longer exists.
			return nil, fmt.Errorf("subject key of %s vanished while appending", subject)
		}
	}
	return keys, nil
}

func (s *Store) exec(ctx context.Context, prepared []preparedAppend) ([]eventstore.AppendResult, error) {
	if len(prepared) > 1 {
		results, err := s.pipeline(ctx, [][]preparedAppend{prepared})
		if err != nil {
			return nil, err
		}
		return results[0], nil
	}
	// One statement is its own transaction: no pipeline needed.
	p := prepared[0]
	query, args := appendStatement(p, 0)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.mapAppendError(ctx, p.req, err)
	}
	res, err := collectAppend(rows, p.req.StreamID)
	if err != nil {
		return nil, s.mapAppendError(ctx, p.req, err)
	}
	return []eventstore.AppendResult{res}, nil
}

func collectAppend(rows pgx.Rows, streamID string) (eventstore.AppendResult, error) {
	res := eventstore.AppendResult{StreamID: streamID}
	defer rows.Close()
	for rows.Next() {
		var pos, ver int64
		if err := rows.Scan(&pos, &ver); err != nil {
			return res, err
		}
		if res.FirstVersion == 0 || ver < res.FirstVersion {
			res.FirstVersion = ver
		}
		res.LastVersion = max(res.LastVersion, ver)
		res.Positions = append(res.Positions, pos)
	}
	// Positions and versions rise together; RETURNING order is not promised.
	slices.Sort(res.Positions)
	return res, rows.Err()
}

func (s *Store) mapAppendError(ctx context.Context, req eventstore.AppendRequest, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("append to stream %s: %w", req.StreamID, err)
	}
	switch {
	case pgErr.Code == codeWrongVersion:
		current, _ := strconv.ParseInt(pgErr.Detail, 10, 64)
		return &eventstore.WrongExpectedVersionError{StreamID: req.StreamID, Expected: req.Expected, CurrentVersion: current}
	case pgErr.Code == codeUniqueViolation && pgErr.ConstraintName == "events_stream_version_key":
		// A concurrent append took the next version first.
		var current int64
		_ = s.pool.QueryRow(context.WithoutCancel(ctx), "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", req.StreamID).Scan(&current)
		wrong := &eventstore.WrongExpectedVersionError{StreamID: req.StreamID, Expected: req.Expected, CurrentVersion: current}
		if req.Expected == eventstore.Any || (req.Expected == eventstore.StreamExists && current > 0) {
			return &raceError{err: wrong}
		}
		return wrong
	}
	return fmt.Errorf("append to stream %s: %w", req.StreamID, err)
}

// lookupOriginal answers a retried append: ok is true when every event id of
// every request is stored, in that request's stream and order.
func (s *Store) lookupOriginal(ctx context.Context, reqs []eventstore.AppendRequest) ([]eventstore.AppendResult, bool, error) {
	var ids []string
	for _, r := range reqs {
		for _, ev := range r.Events {
			ids = append(ids, ev.ID.String())
		}
	}
	rows, err := s.pool.Query(context.WithoutCancel(ctx),
		"SELECT event_id::text, stream_id, stream_version, position FROM events WHERE event_id = ANY($1::uuid[])", ids)
	if err != nil {
		return nil, false, fmt.Errorf("look up event ids: %w", err)
	}
	defer rows.Close()
	found, err := eventstore.CollectStored(rows)
	if err != nil {
		return nil, false, err
	}
	return eventstore.MatchRetry(reqs, found)
}

// selectEvents is the column list read by every query; keys carries the
// subject keys the event's personal fields need (missing = erased).
const selectEvents = `SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.event_type,
	e.data, e.metadata, e.recorded_at,
	CASE WHEN e.subjects IS NULL THEN NULL ELSE
		(SELECT jsonb_object_agg(k.subject, encode(k.key, 'hex')) FROM subject_keys k WHERE k.subject = ANY(e.subjects))
	END
	FROM events e `

// belowXmin keeps global reads gap-safe (see the package comment).
const belowXmin = `e.position < ((pg_snapshot_xmin(pg_current_snapshot())::text::bigint) << 20)`

// EventColumns is the SELECT list of the events table (alias e) that
// ScanEvent reads, for the projection engine's Watermill schema adapter.
const EventColumns = selectEvents

// GapSafeCondition is the WHERE condition that keeps global reads gap-safe.
const GapSafeCondition = belowXmin

// Scanner is satisfied by pgx.Row, pgx.Rows and database/sql rows.
type Scanner = eventstore.Scanner

var _ eventstore.SQLLog = (*Store)(nil)

// EventColumns implements eventstore.SQLLog.
func (*Store) EventColumns() string { return EventColumns }

// GapSafeCondition implements eventstore.SQLLog: an open transaction may
// still commit a position below a committed one.
func (*Store) GapSafeCondition() string { return GapSafeCondition }

// ScanEvent implements eventstore.SQLLog.
func (*Store) ScanEvent(row eventstore.Scanner) (eventstore.Event, error) { return ScanEvent(row) }

// NotifyChannel is the channel that each append's commit notifies.
func (*Store) NotifyChannel() string { return AppendedChannel }

// ScanEvent reads one row selected with EventColumns and decrypts it.
func ScanEvent(row Scanner) (eventstore.Event, error) {
	var ev eventstore.Event
	var data, meta []byte
	var keys []byte
	var id uuid.UUID
	if err := row.Scan(&ev.Position, &ev.StreamID, &ev.Version, &id, &ev.Type, &data, &meta, &ev.RecordedAt, &keys); err != nil {
		return ev, err
	}
	ev.ID = id
	ev.RecordedAt = ev.RecordedAt.UTC()
	if err := json.Unmarshal(meta, &ev.Metadata); err != nil {
		return ev, fmt.Errorf("event %d metadata: %w", ev.Position, err)
	}
	ev.Data = data
	if err := eventstore.OpenStored(&ev, keys); err != nil {
		return ev, err
	}
	return ev, nil
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]eventstore.Event, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
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
	var asOf *time.Time
	if !opts.AsOf.IsZero() {
		t := opts.AsOf.UTC()
		asOf = &t
	}
	evs, err := s.query(ctx, selectEvents+`WHERE e.stream_id = $1 AND e.stream_version >= $2
		AND ($3 = 0 OR e.stream_version <= $3) AND ($4::timestamptz IS NULL OR e.recorded_at <= $4)
		ORDER BY e.stream_version`, streamID, opts.FromVersion, opts.ToVersion, asOf)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", streamID, err)
	}
	return evs, nil
}

// ReadStreams implements eventstore.Store: one query for every stream.
func (s *Store) ReadStreams(ctx context.Context, streamIDs []string) (map[string][]eventstore.Event, error) {
	ids, err := eventstore.ValidateReadStreams(streamIDs)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return map[string][]eventstore.Event{}, nil
	}
	evs, err := s.query(ctx, selectEvents+`WHERE e.stream_id = ANY($1::text[]) ORDER BY e.stream_id, e.stream_version`, ids)
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
	evs, err := s.query(ctx, selectEvents+`WHERE e.position > $1 AND `+belowXmin+` ORDER BY e.position LIMIT $2`, from, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read all from %d: %w", from, err)
	}
	return evs, nil
}

// ReadCategory implements eventstore.Store.
func (s *Store) ReadCategory(ctx context.Context, category string, from int64, limit int) ([]eventstore.Event, error) {
	evs, err := s.query(ctx, selectEvents+`WHERE e.category = $1 AND e.position > $2 AND `+belowXmin+` ORDER BY e.position LIMIT $3`,
		category, from, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read category %s from %d: %w", category, from, err)
	}
	return evs, nil
}

// HeadPosition implements eventstore.Store.
func (s *Store) HeadPosition(ctx context.Context) (int64, error) {
	var head int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(e.position), 0) FROM events e WHERE `+belowXmin).Scan(&head)
	if err != nil {
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
	rows, err := s.pool.Query(ctx, `SELECT h.stream_id, h.category, last.stream_version, h.recorded_at, last.recorded_at
		FROM events h
		CROSS JOIN LATERAL (SELECT stream_version, recorded_at FROM events e
			WHERE e.stream_id = h.stream_id ORDER BY stream_version DESC LIMIT 1) last
		WHERE h.stream_version = 1 AND ($1 = '' OR h.category = $1) AND h.stream_id > $2
		ORDER BY h.stream_id LIMIT $3`, opts.Category, opts.After, limit)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.StreamInfo, error) {
		var si eventstore.StreamInfo
		err := r.Scan(&si.StreamID, &si.Category, &si.Version, &si.CreatedAt, &si.UpdatedAt)
		si.CreatedAt, si.UpdatedAt = si.CreatedAt.UTC(), si.UpdatedAt.UTC()
		return si, err
	})
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return out, nil
}

// forgetSubjectQuery deletes a data subject's key.
const forgetSubjectQuery = "DELETE FROM subject_keys WHERE subject = $1"

// ForgetSubject implements eventstore.Store.
func (s *Store) ForgetSubject(ctx context.Context, subject string) error {
	if _, err := s.pool.Exec(ctx, forgetSubjectQuery, subject); err != nil {
		return fmt.Errorf("forget subject %s: %w", subject, err)
	}
	return nil
}
