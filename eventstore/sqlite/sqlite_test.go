package sqlite_test

import (
	"context"
	"errors"
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
	latest, _ := migrations.Latest("sqlite")
	if count != latest {
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
