package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/cmd/internal/jobs"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
)

// rebuildLog records which projections an engine started to rebuild, in
// order, and calls onStart with how many it has seen.
type rebuildLog struct {
	mu      *sync.Mutex
	started *[]string
	attrs   []slog.Attr
	onStart func(n int)
}

func newRebuildLog(onStart func(n int)) rebuildLog {
	return rebuildLog{mu: &sync.Mutex{}, started: &[]string{}, onStart: onStart}
}

func (h rebuildLog) Enabled(context.Context, slog.Level) bool { return true }

func (h rebuildLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "rebuild started" {
		return nil
	}
	name := ""
	for _, a := range h.attrs {
		if a.Key == "projection" {
			name = a.Value.String()
		}
	}
	h.mu.Lock()
	*h.started = append(*h.started, name)
	n := len(*h.started)
	h.mu.Unlock()
	if h.onStart != nil {
		h.onStart(n)
	}
	return nil
}

func (h rebuildLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clip(h.attrs), as...)
	return h
}

func (h rebuildLog) WithGroup(string) slog.Handler { return h }

func (h rebuildLog) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.started)
}

func countRows(t *testing.T, store projtest.Store, table string) int64 {
	t.Helper()
	var n int64
	err := store.InTx(context.Background(), func(tx eventstore.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT count(*) FROM `+table)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			return rows.Scan(&n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// setInPlace records the log's head when the projections started to
// redact erasures in place (migration 0012) as position: a test's erasures
// at or below it were recorded "before the upgrade".
func setInPlace(t *testing.T, store projtest.Store, position int64) {
	t.Helper()
	err := store.InTx(context.Background(), func(tx eventstore.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE erasure_in_place SET position = ?`, position)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// appendErasure appends the erasure of an unknown user and waits until
// the log's (gap-safe) head reaches it.
func appendErasure(t *testing.T, store projtest.Store) int64 {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	ev, err := eventstore.NewEvent(erasure.TypePersonErased, erasure.PersonErased{ErasureID: id, Kind: "user",
		Subject: "user-" + uuid.NewString(), UserID: uuid.NewString(), RequestedBy: "the user, by letter",
		Reason: "right to erasure", ErasedAt: time.Now().UTC()}, eventstore.Metadata{ActorAccountKind: eventstore.AccountSystem})
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Append(ctx, erasure.Stream(id), eventstore.NoStream, ev)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		head, err := store.HeadPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head >= res.LastPosition() || time.Now().After(deadline) {
			break
		}
	}
	return res.LastPosition()
}

// TestApplyErasures_LeavesErasuresAfterTheUpgradeToTheProjections: an
// erasure recorded once the projections redact in place (after migration
// 0012) rebuilds nothing: the job finds nothing to do.
func TestApplyErasures_LeavesErasuresAfterTheUpgradeToTheProjections(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, pb := projtest.Open(t, backend)
			log := newRebuildLog(nil)
			node, err := projections.NewEngine(pb, slog.New(log), views.Default()...)
			if err != nil {
				t.Fatal(err)
			}
			appendErasure(t, store)
			if n, err := jobs.ApplyErasures(ctx, store, node, time.Now(), slog.New(slog.DiscardHandler)); err != nil || n != 0 {
				t.Fatalf("the erasure job after the upgrade: %d, %v; want nothing to do", n, err)
			}
			if got := log.names(); len(got) != 0 || countRows(t, store, "erasure_rebuilds") != 0 {
				t.Fatalf("the erasure job rebuilt %v for an erasure the projections apply themselves", got)
			}
		})
	}
}

// TestApplyErasures_OneNodeAtATimeAndResumesWhereADeadNodeStopped: an
// erasure recorded before the upgrade (which projections may have passed
// without redacting it) still has every view rebuilt, once. Every
// node runs the erasure job; while one holds the job, another does nothing;
// a node that stops in the middle of its round (here: its context ends as
// it starts the third rebuild) leaves the projections it rebuilt recorded,
// and the node that runs the job next rebuilds only the others.
func TestApplyErasures_OneNodeAtATimeAndResumesWhereADeadNodeStopped(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, pb := projtest.Open(t, backend)
			quiet := slog.New(slog.DiscardHandler)
			dying, stop := context.WithCancel(ctx)
			defer stop()
			log1 := newRebuildLog(func(n int) {
				if n == 3 {
					stop()
				}
			})
			log2 := newRebuildLog(nil)
			node1, err := projections.NewEngine(pb, slog.New(log1), views.Default()...)
			if err != nil {
				t.Fatal(err)
			}
			node2, err := projections.NewEngine(pb, slog.New(log2), views.Default()...)
			if err != nil {
				t.Fatal(err)
			}
			setInPlace(t, store, appendErasure(t, store))

			// Node 2 holds the job: node 1 does nothing.
			unlock, ok, err := node2.TryLock(ctx, "erasures")
			if err != nil || !ok {
				t.Fatalf("take the erasure job's lock: %v %v", ok, err)
			}
			if n, err := jobs.ApplyErasures(ctx, store, node1, time.Now(), quiet); err != nil || n != 0 {
				t.Fatalf("the erasure job while another node runs it: %d, %v; want 0 and no error", n, err)
			}
			if got := log1.names(); len(got) != 0 || countRows(t, store, "erasure_rebuilds") != 0 {
				t.Fatalf("the erasure job ran while another node held it: rebuilt %v", got)
			}
			unlock()

			// Node 1 stops as it starts its third rebuild.
			if _, err := jobs.ApplyErasures(dying, store, node1, time.Now(), quiet); !errors.Is(err, context.Canceled) {
				t.Fatalf("the erasure job of the node that stopped: %v, want it cancelled", err)
			}
			names := node1.Names()
			if got := log1.names(); !slices.Equal(got, names[:3]) {
				t.Fatalf("the node that stopped rebuilt %v, want %v", got, names[:3])
			}
			if n := countRows(t, store, "erasure_rebuild_progress"); n != 2 {
				t.Fatalf("%d projections recorded as rebuilt, want the 2 the stopped node finished", n)
			}

			// Node 2 takes over: it rebuilds only the rest.
			if n, err := jobs.ApplyErasures(ctx, store, node2, time.Now(), quiet); err != nil || n != 1 {
				t.Fatalf("the erasure job taken over: %d, %v; want 1 erasure applied", n, err)
			}
			if got := log2.names(); !slices.Equal(got, names[2:]) {
				t.Errorf("the node that took over rebuilt %v, want only %v", got, names[2:])
			}
			if n := countRows(t, store, "erasure_rebuilds"); n != 1 {
				t.Errorf("%d erasures recorded as applied, want 1", n)
			}
			// And it is done: the next round rebuilds nothing.
			if n, err := jobs.ApplyErasures(ctx, store, node1, time.Now(), quiet); err != nil || n != 0 {
				t.Errorf("the next round: %d, %v; want nothing to do", n, err)
			}
			if got := log1.names(); len(got) != 3 {
				t.Errorf("the next round rebuilt %v", got[3:])
			}
		})
	}
}
