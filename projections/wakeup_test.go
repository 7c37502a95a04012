package projections_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
)

// liveness bounds how long these tests wait for an event to be applied: a
// hang guard far below the poll interval of the tests that prove the
// wake-up, not a speed check.
const liveness = 30 * time.Second

// appliedWithin waits until the engine's projections have applied every
// event up to pos.
func appliedWithin(t *testing.T, e *projections.Engine, pos int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := e.WaitFor(context.Background(), nil, pos)
		if err == nil {
			return
		}
		if !errors.Is(err, projections.ErrNotCaughtUp) || time.Now().After(deadline) {
			t.Fatalf("event %d not applied after %s: %v", pos, limit, err)
		}
	}
}

// An append wakes the projections: with an hour between polls, each event
// is applied long before the next poll could have found it.
func TestEngine_WakesUpOnAppend(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		e.SetPollInterval(time.Hour)
		run(t, e)
		for range 5 {
			pos := appendEvents(t, h.store, 1+int(time.Now().UnixNano()%3))
			appliedWithin(t, e, pos, liveness)
			// Idle in between, so that the next append finds every
			// subscriber waiting.
			time.Sleep(50 * time.Millisecond)
		}
		assertStatsMatchLog(t, h)
	})
}

// appendUnannounced appends one event through AppendTx, whose caller
// commits: the store cannot tell that events were appended, so no
// notification goes out (as for an append by another process on an SQLite
// file).
func appendUnannounced(t *testing.T, store eventstore.Store) int64 {
	t.Helper()
	ctx := context.Background()
	req := []eventstore.AppendRequest{{StreamID: "provider-unannounced", Expected: eventstore.Any, Events: []eventstore.EventData{{
		ID: uuid.New(), Type: "SomethingHappened", Data: []byte(`{"n":1}`), Metadata: eventstore.Metadata{Command: "test"}}}}}
	var res []eventstore.AppendResult
	switch s := store.(type) {
	case *postgres.Store:
		tx, err := s.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res, err = s.AppendTx(ctx, tx, req); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	case *sqlite.Store:
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res, err = s.AppendTx(ctx, tx, req); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("store %T", store)
	}
	return res[0].LastPosition()
}

// Without a notification, the slow poll still finds the event.
func TestEngine_SlowPollFindsUnannouncedAppend(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		e.SetPollInterval(200 * time.Millisecond)
		run(t, e)
		pos := appendEvents(t, h.store, 3)
		appliedWithin(t, e, pos, liveness)
		for range 3 {
			appliedWithin(t, e, appendUnannounced(t, h.store), liveness)
		}
		assertStatsMatchLog(t, h)
	})
}

// When the LISTEN connection dies, the engine connects again and catches up
// on what it may have missed, without waiting for the (hour-long) poll.
func TestEngine_ListenerReconnects(t *testing.T) {
	t.Parallel()
	h := openPostgres(t)
	e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
	if err != nil {
		t.Fatal(err)
	}
	e.SetPollInterval(time.Hour)
	run(t, e)
	appliedWithin(t, e, appendEvents(t, h.store, 2), liveness)
	for round := range 2 {
		// Wait for the listener to be listening (its last statement read
		// the head after LISTEN), then kill it.
		deadline := time.Now().Add(liveness)
		for {
			var killed int
			err := h.db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = 'capacity_projections_listen'
				AND query LIKE 'SELECT coalesce(max(position)%'`).Scan(&killed)
			if err != nil {
				t.Fatal(err)
			}
			if killed > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no LISTEN connection to kill", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Appended while nobody listens: its notification is lost.
		appliedWithin(t, e, appendEvents(t, h.store, 1), liveness)
	}
	assertStatsMatchLog(t, h)
}
