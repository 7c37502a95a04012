package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/eventstore/storetest"
	"github.com/capacitytracker/capacity/migrations"
)

func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "data", "events.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) }, storetest.Options{
		RawData: func(t *testing.T, store eventstore.Store, id uuid.UUID) []byte {
			t.Helper()
			var data []byte
			err := store.(*sqlite.Store).DB().QueryRow("SELECT data FROM events WHERE event_id = ?", id.String()).Scan(&data)
			if err != nil {
				t.Fatalf("raw data of %s: %v", id, err)
			}
			return data
		},
		Exec: func(t *testing.T, store eventstore.Store, query string, args ...any) {
			t.Helper()
			if _, err := store.(*sqlite.Store).DB().Exec(query, args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		},
	})
}

func TestOpen_AppliesMigrationsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	n, err := migrations.ApplySQLite(ctx, s.DB())
	if err != nil {
		t.Fatalf("apply migrations again: %v", err)
	}
	if n != 0 {
		t.Fatalf("re-applying migrations applied %d, want 0", n)
	}
	pending, err := migrations.PendingSQLite(ctx, s.DB())
	if err != nil || pending != 0 {
		t.Fatalf("pending migrations: %d, %v", pending, err)
	}
	// Reopening the file keeps its events and applies nothing.
	if _, err := s.Append(ctx, "reopen-1", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "Opened", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.Open(ctx, s.Path())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close()
	evs, err := again.ReadStream(ctx, "reopen-1", eventstore.ReadStreamOptions{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("reopened store reads %d events, %v", len(evs), err)
	}
}

func TestOpen_ConcurrentlyOnOneFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	const openers = 4
	stores := make([]*sqlite.Store, openers)
	errs := make([]error, openers)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlite.Open(ctx, path)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	// Both handles write to the same log without conflicts or lost events.
	var appends sync.WaitGroup
	for i, s := range stores {
		appends.Add(1)
		go func() {
			defer appends.Done()
			for j := 0; j < 20; j++ {
				if _, err := s.Append(ctx, "shared-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "Shared", Data: []byte(`{}`)}); err != nil {
					t.Errorf("store %d append %d: %v", i, j, err)
					return
				}
			}
		}()
	}
	appends.Wait()
	evs, err := stores[0].ReadStream(ctx, "shared-1", eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != openers*20 {
		t.Fatalf("%d events, want %d", len(evs), openers*20)
	}
	for i, ev := range evs {
		if ev.Version != int64(i+1) || (i > 0 && ev.Position <= evs[i-1].Position) {
			t.Fatalf("event %d has version %d at position %d", i, ev.Version, ev.Position)
		}
	}
	var count int
	if err := stores[1].DB().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&count); err != nil {
		t.Fatal(err)
	}
	// Counted, not the highest number: SQLite's numbers skip some of
	// PostgreSQL's.
	all, _ := migrations.Load("sqlite")
	if latest := len(all); count != latest {
		t.Fatalf("schema_migrations has %d rows, want %d", count, latest)
	}
}

func TestAppendTx_CommitsAndRollsBackWithTheCallersRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.DB().Exec("CREATE TABLE secrets (id TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	event := func() []eventstore.AppendRequest {
		return []eventstore.AppendRequest{{StreamID: "tx-1", Expected: eventstore.Any,
			Events: []eventstore.EventData{{ID: uuid.New(), Type: "Tx", Data: []byte(`{}`)}}}}
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := s.DB().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Rolled back: neither the row nor the event.
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO secrets VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendTx(ctx, tx, event()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if count("SELECT count(*) FROM secrets")+count("SELECT count(*) FROM events") != 0 {
		t.Fatal("a rolled-back transaction left rows behind")
	}

	// A failed append inside the transaction leaves nothing of itself; the
	// rest commits.
	tx, err = s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO secrets VALUES ('b')"); err != nil {
		t.Fatal(err)
	}
	bad := append(event(), eventstore.AppendRequest{StreamID: "tx-2", Expected: eventstore.Exact(9),
		Events: []eventstore.EventData{{ID: uuid.New(), Type: "Tx", Data: []byte(`{}`)}}})
	if _, err := s.AppendTx(ctx, tx, bad); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("got %v, want ErrWrongExpectedVersion", err)
	}
	res, err := s.AppendTx(ctx, tx, event())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if res[0].FirstVersion != 1 || count("SELECT count(*) FROM secrets") != 1 || count("SELECT count(*) FROM events") != 1 {
		t.Fatalf("after commit: result %+v, %d secrets, %d events", res[0], count("SELECT count(*) FROM secrets"), count("SELECT count(*) FROM events"))
	}
}

// Concurrent appends are committed together (group commit); each is still
// checked on its own: of many racing to create one stream, exactly one wins
// and the losers fail alone, without failing the appends to other streams
// committed in the same transaction.
func TestAppend_GroupCommitFailsOnlyTheFailingAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const racers = 32
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		won, lost   int
		otherErrors []error
	)
	for i := 0; i < racers; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, "race-1", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "Raced", Data: []byte(`{}`)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, eventstore.ErrWrongExpectedVersion):
				lost++
			default:
				otherErrors = append(otherErrors, err)
			}
		}()
		go func() {
			defer wg.Done()
			evs := []eventstore.EventData{
				{ID: uuid.New(), Type: "Own", Data: []byte(`{"n": 1}`)},
				{ID: uuid.New(), Type: "Own", Data: []byte(`{"n": 2}`)},
			}
			res, err := s.Append(ctx, "own-"+uuid.NewString(), eventstore.NoStream, evs...)
			if err != nil || res.FirstVersion != 1 || res.LastVersion != 2 || res.Positions[1] <= res.Positions[0] {
				mu.Lock()
				otherErrors = append(otherErrors, fmt.Errorf("own stream: %+v, %v", res, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 || lost != racers-1 || len(otherErrors) > 0 {
		t.Fatalf("%d won, %d lost, other errors: %v", won, lost, otherErrors)
	}
	evs, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1+2*racers {
		t.Fatalf("%d events stored, want %d", len(evs), 1+2*racers)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Position <= evs[i-1].Position {
			t.Fatalf("positions out of order at %d", i)
		}
	}
}

// A caller that gives up gets its context's error; the store then either
// wrote nothing of the append or, if it was already being committed, the
// caller waited for it and was told. Either way a retry settles it.
func TestAppend_CanceledContext(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := eventstore.EventData{ID: uuid.New(), Type: "Canceled", Data: []byte(`{}`)}
	if _, err := s.Append(ctx, "cancel-1", eventstore.NoStream, ev); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	res, err := s.Append(context.Background(), "cancel-1", eventstore.NoStream, ev)
	if err != nil || res.FirstVersion != 1 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
}

func TestAppend_AfterCloseFails(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "closed-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "Late", Data: []byte(`{}`)}); err == nil {
		t.Fatal("append after Close succeeded")
	}
}

// TestOpen_ChainsEventsStoredBeforeTheChain: events without a hash (stored
// before migration 0006) are hashed, in stream order, when the file opens,
// and the log then verifies.
func TestOpen_ChainsEventsStoredBeforeTheChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{"old-a", "old-b", "old-a"} {
		if _, err := s.Append(ctx, stream, eventstore.Any, oldEvent("Old"), oldEvent("Old")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().Exec(`UPDATE events SET hash = NULL`); err != nil {
		t.Fatal(err)
	}
	if rep, err := eventstore.Verify(ctx, s, []byte("k"), nil); err != nil || rep.Tampering == nil {
		t.Fatalf("unhashed events verified: %+v %v", rep, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := eventstore.Verify(ctx, s, []byte("k"), nil)
	if err != nil || rep.Tampering != nil || rep.Events != 6 {
		t.Fatalf("after reopening: %+v %v", rep, err)
	}
	// Appends continue each stream's chain from its head.
	if _, err := s.Append(ctx, "old-a", eventstore.Exact(4), oldEvent("New")); err != nil {
		t.Fatal(err)
	}
	if rep, err := eventstore.Verify(ctx, s, []byte("k"), nil); err != nil || rep.Tampering != nil || rep.Events != 7 {
		t.Fatalf("after a new append: %+v %v", rep, err)
	}
}

func oldEvent(eventType string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: eventType, Data: []byte(`{"at": "` + eventType + `"}`)}
}
