// Package bench measures the event store against the database's own ceiling
// on the same machine in the same run. It is used by `capacityctl bench` and
// by the go test benchmarks; it writes only to the scratch database or file
// it is given, never to a production store.
package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
)

// Result is one measurement.
type Result struct {
	Name     string
	Events   int64
	Duration time.Duration
	P50, P99 time.Duration // per operation; zero when not measured
}

// Rate is events per second.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Events) / r.Duration.Seconds()
}

func (r Result) String() string {
	s := fmt.Sprintf("%-44s %10.0f events/s  (%d events in %s)", r.Name, r.Rate(), r.Events, r.Duration.Round(time.Millisecond))
	if r.P50 > 0 {
		s += fmt.Sprintf("  p50 %s p99 %s", r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	}
	return s
}

// payload is a realistic small event body (a daily update's answers).
var payload = json.RawMessage(`{"location_id":"1-000000001","people_using_service":42,"confirmed":1,"suspected":2,"staff_delivering_care":30,"staff_not_working":3,"ppe":"more_than_a_week","can_provide_extra_hours":true,"extra_hours_per_week":12,"other_issues":""}`)

var metadata = eventstore.Metadata{
	CorrelationID: "bench", CausationID: "bench", ActorUserID: "user-bench",
	ActorAccountKind: eventstore.AccountPersonal, SessionID: "session-bench",
	ClientIP: "127.0.0.1", UserAgent: "capacityctl bench", Command: "SubmitDailyUpdate",
}

func newEvents(n int) []eventstore.EventData {
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = eventstore.EventData{ID: uuid.New(), Type: "DailyUpdateSubmitted", Data: payload, Metadata: metadata}
	}
	return evs
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
}

// runWriters runs total operations split over writers goroutines; op gets the
// writer index and its own operation count and returns the events it wrote.
func runWriters(ctx context.Context, writers, total int, op func(ctx context.Context, w, i int) (int, error)) (int64, time.Duration, []time.Duration, error) {
	var (
		events  atomic.Int64
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, total)
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	per := total / writers
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				t0 := time.Now()
				n, err := op(ctx, w, i)
				if err != nil {
					errOnce.Do(func() { runErr = err })
					return
				}
				local = append(local, time.Since(t0))
				events.Add(int64(n))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	return events.Load(), time.Since(start), lat, runErr
}

// singleStreamsPerWriter is how many streams each writer of SingleAppends
// rotates over: most appends go to an existing stream, as in production.
const singleStreamsPerWriter = 64

// SingleAppends appends one event at a time with an exact expected version,
// each writer to its own set of streams.
func SingleAppends(ctx context.Context, store eventstore.Store, writers, total int) (Result, error) {
	versions := make([][]int64, writers)
	for w := range versions {
		versions[w] = make([]int64, singleStreamsPerWriter)
	}
	run := uuid.NewString()[:8]
	n, d, lat, err := runWriters(ctx, writers, total, func(ctx context.Context, w, i int) (int, error) {
		k := i % singleStreamsPerWriter
		stream := fmt.Sprintf("bench-%s.%d.%d", run, w, k)
		res, err := store.Append(ctx, stream, eventstore.Exact(versions[w][k]), newEvents(1)...)
		if err != nil {
			return 0, err
		}
		versions[w][k] = res.LastVersion
		return 1, nil
	})
	p50, p99 := percentiles(lat)
	return Result{Name: fmt.Sprintf("append 1 event, %d writers", writers), Events: n, Duration: d, P50: p50, P99: p99}, err
}

// BatchedAppends appends batch events per call from writers concurrent
// writers, each batch to a new stream.
func BatchedAppends(ctx context.Context, store eventstore.Store, writers, batch, total int) (Result, error) {
	run := uuid.NewString()[:8]
	n, d, lat, err := runWriters(ctx, writers, total/batch, func(ctx context.Context, w, i int) (int, error) {
		_, err := store.Append(ctx, fmt.Sprintf("bench-%s.batch.%d.%d", run, w, i), eventstore.NoStream, newEvents(batch)...)
		return batch, err
	})
	p50, p99 := percentiles(lat)
	return Result{Name: fmt.Sprintf("append batches of %d events, %d writers", batch, writers), Events: n, Duration: d, P50: p50, P99: p99}, err
}

// Fill appends total events in batches of 1,000 (for read and rebuild runs).
func Fill(ctx context.Context, store eventstore.Store, total int, progress func(done int)) error {
	run := uuid.NewString()[:8]
	const batch = 1000
	for i := 0; i < total; i += batch {
		n := min(batch, total-i)
		if _, err := store.Append(ctx, fmt.Sprintf("bench-%s.fill.%d", run, i/batch), eventstore.NoStream, newEvents(n)...); err != nil {
			return err
		}
		if progress != nil {
			progress(i + n)
		}
	}
	return nil
}

// ReadAll reads the whole log from the start in pages of page events.
func ReadAll(ctx context.Context, store eventstore.Store, page int) (Result, error) {
	start := time.Now()
	var from, n int64
	for {
		evs, err := store.ReadAll(ctx, from, page)
		if err != nil {
			return Result{}, err
		}
		if len(evs) == 0 {
			break
		}
		n += int64(len(evs))
		from = evs[len(evs)-1].Position
	}
	return Result{Name: fmt.Sprintf("ReadAll, pages of %d", page), Events: n, Duration: time.Since(start)}, nil
}

// The ceiling: plain INSERTs of the same row shape into a table with the same
// columns and indexes as events, without any of the store's logic.

const pgCeilingDDL = `DROP TABLE IF EXISTS bench_plain_events;
CREATE TABLE bench_plain_events (LIKE events INCLUDING ALL);
DROP SEQUENCE IF EXISTS bench_plain_position;
CREATE SEQUENCE bench_plain_position`

const pgCeilingInsert = `INSERT INTO bench_plain_events (position, transaction_id, stream_id, category, stream_version,
	event_id, event_type, data, metadata, recorded_at)
	VALUES (nextval('bench_plain_position'), pg_current_xact_id(), $1, 'bench', $2, $3, 'DailyUpdateSubmitted', $4, $5, now())`

// PostgresCeiling measures plain INSERTs through pgx with conns connections
// and rowsPerTx rows per transaction.
func PostgresCeiling(ctx context.Context, pool *pgxpool.Pool, conns, rowsPerTx, totalRows int) (Result, error) {
	if _, err := pool.Exec(ctx, pgCeilingDDL); err != nil {
		return Result{}, fmt.Errorf("create ceiling table: %w", err)
	}
	md, _ := json.Marshal(metadata)
	n, d, lat, err := runWriters(ctx, conns, totalRows/rowsPerTx, func(ctx context.Context, w, i int) (int, error) {
		if rowsPerTx == 1 {
			// The same streams and versions as SingleAppends writes.
			stream := fmt.Sprintf("bench-plain.%d.%d", w, i%singleStreamsPerWriter)
			_, err := pool.Exec(ctx, pgCeilingInsert, stream, i/singleStreamsPerWriter+1, uuid.New(), string(payload), string(md))
			return 1, err
		}
		stream := fmt.Sprintf("bench-plain.%d.%d", w, i)
		b := &pgx.Batch{}
		for r := 0; r < rowsPerTx; r++ {
			b.Queue(pgCeilingInsert, stream, r+1, uuid.New(), string(payload), string(md))
		}
		// A batch outside a transaction runs as one implicit transaction.
		return rowsPerTx, pool.SendBatch(ctx, b).Close()
	})
	p50, p99 := percentiles(lat)
	return Result{Name: fmt.Sprintf("ceiling: plain INSERT, %d conns, %d rows/tx", conns, rowsPerTx), Events: n, Duration: d, P50: p50, P99: p99}, err
}

const sqliteCeilingDDL = `DROP TABLE IF EXISTS bench_plain_events;
CREATE TABLE bench_plain_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT NOT NULL, category TEXT NOT NULL,
    stream_version INTEGER NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL,
    metadata TEXT NOT NULL, subjects TEXT, recorded_at TEXT NOT NULL,
    UNIQUE (stream_id, stream_version), UNIQUE (event_id));
CREATE INDEX bench_plain_events_category ON bench_plain_events (category, position)`

const sqliteCeilingInsert = `INSERT INTO bench_plain_events (stream_id, category, stream_version, event_id, event_type, data, metadata, recorded_at)
	VALUES (?, 'bench', ?, ?, 'DailyUpdateSubmitted', ?, ?, ?)`

// SQLiteCeiling measures plain INSERTs through database/sql on the same file.
func SQLiteCeiling(ctx context.Context, db *sql.DB, conns, rowsPerTx, totalRows int) (Result, error) {
	if _, err := db.ExecContext(ctx, sqliteCeilingDDL); err != nil {
		return Result{}, fmt.Errorf("create ceiling table: %w", err)
	}
	md, _ := json.Marshal(metadata)
	n, d, lat, err := runWriters(ctx, conns, totalRows/rowsPerTx, func(ctx context.Context, w, i int) (int, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer func() { _ = tx.Rollback() }()
		now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
		for r := 0; r < rowsPerTx; r++ {
			stream, version := fmt.Sprintf("bench-plain.%d.%d", w, i), r+1
			if rowsPerTx == 1 {
				stream, version = fmt.Sprintf("bench-plain.%d.%d", w, i%singleStreamsPerWriter), i/singleStreamsPerWriter+1
			}
			if _, err := tx.ExecContext(ctx, sqliteCeilingInsert, stream, version, uuid.NewString(), string(payload), string(md), now); err != nil {
				return 0, err
			}
		}
		return rowsPerTx, tx.Commit()
	})
	p50, p99 := percentiles(lat)
	return Result{Name: fmt.Sprintf("ceiling: plain INSERT, %d conns, %d rows/tx", conns, rowsPerTx), Events: n, Duration: d, P50: p50, P99: p99}, err
}
