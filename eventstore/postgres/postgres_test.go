package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/storetest"
	"github.com/capacitytracker/capacity/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newPool connects to a fresh, empty database dropped when the test ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the database is dropped
	return pool
}

// newStore opens a store over a fresh, migrated database.
func newStore(t *testing.T) *postgres.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewMigratedDatabase(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool)
}

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) }, storetest.Options{
		RawData: func(t *testing.T, store eventstore.Store, id uuid.UUID) []byte {
			t.Helper()
			var data string
			err := store.(*postgres.Store).Pool().QueryRow(context.Background(),
				"SELECT data::text FROM events WHERE event_id = $1", id).Scan(&data)
			if err != nil {
				t.Fatalf("raw data of %s: %v", id, err)
			}
			return []byte(data)
		},
		Exec: func(t *testing.T, store eventstore.Store, query string, args ...any) {
			t.Helper()
			if _, err := store.(*postgres.Store).Pool().Exec(context.Background(), eventstore.DollarPlaceholders(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		},
	})
}

func newEvent(eventType string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: eventType, Data: json.RawMessage(`{}`)}
}

// TestReadAll_HoldsBackEventsBehindAnOpenTransaction: B commits after A took
// a lower position; readers of the global log must not see B until A ends,
// or a reader that moved its checkpoint past B would never see A.
func TestReadAll_HoldsBackEventsBehindAnOpenTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)

	txA, err := store.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = txA.Rollback(ctx) }()
	evA := newEvent("First")
	resA, err := store.AppendTx(ctx, txA, []eventstore.AppendRequest{{StreamID: "gap-a", Expected: eventstore.NoStream, Events: []eventstore.EventData{evA}}})
	if err != nil {
		t.Fatalf("append A in an open transaction: %v", err)
	}
	posA := resA[0].LastPosition()

	evB := newEvent("Second")
	resB, err := store.Append(ctx, "gap-b", eventstore.NoStream, evB)
	if err != nil {
		t.Fatalf("append B while A is open: %v", err)
	}
	posB := resB.LastPosition()
	if posB <= posA {
		t.Fatalf("B got position %d, not after A's %d", posB, posA)
	}

	// B is committed: a stream read sees it, the global log must not yet.
	if evs, err := store.ReadStream(ctx, "gap-b", eventstore.ReadStreamOptions{}); err != nil || len(evs) != 1 {
		t.Fatalf("ReadStream of committed B: %d events, %v", len(evs), err)
	}
	for _, read := range []func() ([]eventstore.Event, error){
		func() ([]eventstore.Event, error) { return store.ReadAll(ctx, 0, 100) },
		func() ([]eventstore.Event, error) { return store.ReadCategory(ctx, "gap", 0, 100) },
	} {
		evs, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 0 {
			t.Fatalf("a global read returned %d events (first at %d) while A at %d is open", len(evs), evs[0].Position, posA)
		}
	}
	head, err := store.HeadPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head >= posA {
		t.Fatalf("head position %d is not before the open transaction's position %d", head, posA)
	}

	if err := txA.Commit(ctx); err != nil {
		t.Fatalf("commit A: %v", err)
	}
	// Other tests' transactions on the same server can hold readers back a
	// little longer; wait for both events.
	var evs []eventstore.Event
	for deadline := time.Now().Add(30 * time.Second); ; {
		if evs, err = store.ReadAll(ctx, 0, 100); err != nil {
			t.Fatal(err)
		}
		if len(evs) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(evs) != 2 || evs[0].ID != evA.ID || evs[1].ID != evB.ID || evs[0].Position != posA || evs[1].Position != posB {
		t.Fatalf("after A committed, ReadAll returned %d events; want A at %d then B at %d", len(evs), posA, posB)
	}
	if head, err := store.HeadPosition(ctx); err != nil || head != posB {
		t.Fatalf("head position %d, %v; want %d", head, err, posB)
	}
}

func TestApplyPostgres_ReapplyingIsANoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	// Every migration file, counted rather than taken from the highest
	// number: the numbers of one backend may skip one the other has.
	all, err := migrations.Load("postgres")
	if err != nil {
		t.Fatal(err)
	}
	latest := len(all)
	if n, err := migrations.ApplyPostgres(ctx, pool); err != nil || n != latest {
		t.Fatalf("first apply: %d, %v; want %d", n, err, latest)
	}
	if n, err := migrations.ApplyPostgres(ctx, pool); err != nil || n != 0 {
		t.Fatalf("second apply: %d, %v; want 0", n, err)
	}
	if n, err := migrations.PendingPostgres(ctx, pool); err != nil || n != 0 {
		t.Fatalf("pending after apply: %d, %v", n, err)
	}
}

func TestApplyPostgres_ConcurrentlyOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	// Every migration file, counted rather than taken from the highest
	// number: the numbers of one backend may skip one the other has.
	all, err := migrations.Load("postgres")
	if err != nil {
		t.Fatal(err)
	}
	latest := len(all)
	var wg sync.WaitGroup
	applied := make([]int, 2)
	errs := make([]error, 2)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = migrations.ApplyPostgres(ctx, pool)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	if applied[0]+applied[1] != latest {
		t.Fatalf("the two runs applied %d and %d migrations, want %d in all", applied[0], applied[1], latest)
	}
	// The schema works.
	if _, err := postgres.New(pool).Append(ctx, "migrated-1", eventstore.NoStream, newEvent("Migrated")); err != nil {
		t.Fatalf("append after concurrent migrations: %v", err)
	}
}

// TestAppendTx_NeverOrdersAStreamBackwards: a transaction that got its id
// before another one committed version 1 of a stream must not append version
// 2 at a lower global position; it must fail as a version conflict instead.
func TestAppendTx_NeverOrdersAStreamBackwards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)

	txB, err := store.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = txB.Rollback(ctx) }()
	// B takes its transaction id first.
	if _, err := store.AppendTx(ctx, txB, []eventstore.AppendRequest{{StreamID: "other-1", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent("Other")}}}); err != nil {
		t.Fatalf("append other-1 in B: %v", err)
	}
	// A, with a higher transaction id, creates s-1 and commits.
	if _, err := store.Append(ctx, "s-1", eventstore.NoStream, newEvent("First")); err != nil {
		t.Fatalf("append s-1 v1: %v", err)
	}
	// B now builds on s-1: it must not see A's version 1.
	_, err = store.AppendTx(ctx, txB, []eventstore.AppendRequest{{StreamID: "s-1", Expected: eventstore.Exact(1), Events: []eventstore.EventData{newEvent("Second")}}})
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("append s-1 v2 in B: got %v, want a version conflict", err)
	}
	_ = txB.Rollback(ctx)

	// Retried in a new transaction it lands after version 1.
	res, err := store.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "other-2", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent("Other")}},
		{StreamID: "s-1", Expected: eventstore.Exact(1), Events: []eventstore.EventData{newEvent("Second")}},
	})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	evs, err := store.ReadStream(ctx, "s-1", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Position != res[1].LastPosition() || evs[0].Position >= evs[1].Position {
		t.Fatalf("stream s-1 positions out of order: %+v", evs)
	}
}

func TestAppendTx_RejectsReadCommittedTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newStore(t)
	tx, err := store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = store.AppendTx(ctx, tx, []eventstore.AppendRequest{{StreamID: "rc-1", Expected: eventstore.Any, Events: []eventstore.EventData{newEvent("X")}}})
	if !errors.Is(err, postgres.ErrNeedsRepeatableRead) {
		t.Fatalf("got %v, want ErrNeedsRepeatableRead", err)
	}
}

func one(stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) []eventstore.AppendRequest {
	return []eventstore.AppendRequest{{StreamID: stream, Expected: expected, Events: events}}
}

// checkChained recomputes every stored event's hash from its stream's
// previous one (eventstore.EventHash), as verification does.
func checkChained(t *testing.T, s *postgres.Store) int {
	t.Helper()
	ctx := context.Background()
	upTo, err := s.MaxPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.ReadStored(ctx, 0, upTo, 100000)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string][]byte{}
	for _, e := range stored {
		if want := eventstore.EventHash(last[e.StreamID], e); !bytes.Equal(e.Hash, want) {
			t.Fatalf("event %d (%s v%d): stored hash %x, recomputed %x", e.Position, e.StreamID, e.Version, e.Hash, want)
		}
		last[e.StreamID] = e.Hash
	}
	return len(stored)
}

// TestGroupCommit_OneTransactionInQueueOrder: appends committed together
// share one transaction, see each other in queue order, and chain as if
// appended one by one.
func TestGroupCommit_OneTransactionInQueueOrder(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	personal := newEvent("Named")
	personal.Data = json.RawMessage(`{"name": "Ada Lovelace", "n": 1}`)
	personal.Personal = []eventstore.PersonalField{{Path: "name", Subject: "person-1"}}
	outcomes, err := s.CommitTogether(ctx,
		one("g-a", eventstore.NoStream, newEvent("A1"), newEvent("A2")),
		one("g-b", eventstore.NoStream, personal),
		one("g-a", eventstore.Exact(2), newEvent("A3")), // sees the first append
		[]eventstore.AppendRequest{
			{StreamID: "g-c", Expected: eventstore.NoStream, Events: []eventstore.EventData{newEvent("C1")}},
			{StreamID: "g-b", Expected: eventstore.Exact(1), Events: []eventstore.EventData{newEvent("B2")}},
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	var positions []int64
	for i, o := range outcomes {
		if o.Err != nil {
			t.Fatalf("append %d: %v", i, o.Err)
		}
		for _, r := range o.Results {
			positions = append(positions, r.Positions...)
		}
	}
	if got := outcomes[2].Results[0]; got.FirstVersion != 3 || got.LastVersion != 3 {
		t.Fatalf("third append: versions %d..%d, want 3..3", got.FirstVersion, got.LastVersion)
	}
	if got := outcomes[3].Results[1]; got.FirstVersion != 2 {
		t.Fatalf("g-b's second append: version %d, want 2", got.FirstVersion)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] != positions[i-1]+1 || positions[i]>>20 != positions[0]>>20 {
			t.Fatalf("positions %v: want one transaction's consecutive positions in queue order", positions)
		}
	}
	if n := checkChained(t, s); n != 6 {
		t.Fatalf("%d events stored, want 6", n)
	}
	evs, err := s.ReadStream(ctx, "g-b", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 2 || !bytes.Contains(evs[0].Data, []byte("Ada Lovelace")) {
		t.Fatalf("g-b read back: %v, %d events", err, len(evs))
	}
}

// TestGroupCommit_AFailureFailsOnlyItsOwnAppend: a wrong expected version,
// a retried append and good appends in one batch: each gets its own
// outcome, and nothing of the failed one is stored.
func TestGroupCommit_AFailureFailsOnlyItsOwnAppend(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	first := newEvent("Existing")
	orig, err := s.Append(ctx, "h-a", eventstore.NoStream, first)
	if err != nil {
		t.Fatal(err)
	}
	stale := newEvent("Stale")
	outcomes, err := s.CommitTogether(ctx,
		one("h-x", eventstore.NoStream, newEvent("X1")),
		one("h-a", eventstore.Exact(0), stale),          // wrong: h-a is at 1
		one("h-a", eventstore.NoStream, first),          // a retry of the first append
		one("h-a", eventstore.Exact(1), newEvent("A2")), // right
		one("h-x", eventstore.Exact(1), newEvent("X2")), // after the first of this batch
	)
	if err != nil {
		t.Fatal(err)
	}
	var wrong *eventstore.WrongExpectedVersionError
	if !errors.As(outcomes[1].Err, &wrong) || wrong.CurrentVersion != 1 {
		t.Fatalf("stale append: %v, want a wrong expected version at 1", outcomes[1].Err)
	}
	if outcomes[2].Err != nil || outcomes[2].Results[0].Positions[0] != orig.Positions[0] {
		t.Fatalf("retried append: %+v, want the original position %d", outcomes[2], orig.Positions[0])
	}
	for _, i := range []int{0, 3, 4} {
		if outcomes[i].Err != nil {
			t.Fatalf("append %d: %v", i, outcomes[i].Err)
		}
	}
	if v := outcomes[4].Results[0].LastVersion; v != 2 {
		t.Fatalf("h-x's second append: version %d, want 2", v)
	}
	var stored int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM events WHERE event_id = $1", stale.ID).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the failed append left %d events (%v)", stored, err)
	}
	if n := checkChained(t, s); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}
}

// TestGroupCommit_InsertWithoutHashIsChainedByTrigger: the append statements
// compute the hash; a row inserted any other way is still chained by the
// events_chain trigger, to the same bytes, and appends chain on it.
func TestGroupCommit_InsertWithoutHashIsChainedByTrigger(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Append(ctx, "r-a", eventstore.NoStream, newEvent("First")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO events (position, transaction_id, stream_id, category, stream_version,
		event_id, event_type, data, metadata)
		VALUES ((pg_current_xact_id()::text::bigint) << 20, pg_current_xact_id(), 'r-a', 'r', 2, $1, 'ByHand', '{"b": 1, "a": [1, 2]}', '{}')`,
		uuid.New()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "r-a", eventstore.Exact(2), newEvent("Third")); err != nil {
		t.Fatal(err)
	}
	if n := checkChained(t, s); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}
