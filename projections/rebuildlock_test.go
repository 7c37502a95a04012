package projections_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
)

// TestRebuild_SecondRebuildOfAProjectionIsRefusedWhileOneRuns: while one
// engine rebuilds category_stats, a rebuild of it by another engine on the
// same database (another connection on PostgreSQL, another open lock file
// on SQLite: what another process would have) is refused at once and names
// the one that runs; the first one swaps in a correct view, and once it is
// done the other engine may rebuild.
func TestRebuild_SecondRebuildOfAProjectionIsRefusedWhileOneRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		pos := appendBulk(t, h.store, 2000, "A", "B", "C")
		waitForHead(t, h, pos)
		first, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		second, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
		if err != nil {
			t.Fatal(err)
		}
		var refused error
		tried := false
		err = first.Rebuild(context.Background(), "category_stats", func(p projections.Progress) {
			if !tried && !p.Swapped {
				tried = true
				refused = second.Rebuild(context.Background(), "category_stats", nil)
			}
		})
		if err != nil {
			t.Fatalf("the first rebuild: %v", err)
		}
		var running *projections.RebuildRunningError
		if !errors.Is(refused, projections.ErrRebuildRunning) || !errors.As(refused, &running) {
			t.Fatalf("the second rebuild while the first ran: %v, want ErrRebuildRunning", refused)
		}
		if want := fmt.Sprintf("pid %d on ", os.Getpid()); running.Owner == "" || !strings.Contains(running.Error(), want) {
			t.Errorf("the refusal %q does not name the rebuild that runs (%q)", running.Error(), want)
		}
		assertStatsMatchLog(t, h)
		if err := second.Rebuild(context.Background(), "category_stats", nil); err != nil {
			t.Fatalf("a rebuild after the first one ended: %v", err)
		}
		assertStatsMatchLog(t, h)
		assertNoShadowTables(t, h)
	})
}

// TestRebuild_DoesNotSwapInTablesItDidNotFill: when the record of who made
// the fresh tables names another rebuild by the time of the swap (as it
// would if another process had dropped and recreated them), the rebuild
// fails with ErrRebuildSuperseded and the live view and its checkpoint stay
// as they were. The next rebuild drops the leftovers and succeeds.
// PostgreSQL only: on SQLite nothing else can write while a rebuild's batch
// holds the one write lock, and between batches the test has no hook.
func TestRebuild_DoesNotSwapInTablesItDidNotFill(t *testing.T) {
	t.Parallel()
	h := openPostgres(t)
	e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{})
	if err != nil {
		t.Fatal(err)
	}
	pos := appendBulk(t, h.store, 1000, "A", "B")
	waitForHead(t, h, pos)
	if err := e.Rebuild(context.Background(), "category_stats", nil); err != nil {
		t.Fatal(err)
	}
	before := readStats(t, h.db)
	pos = appendBulk(t, h.store, 2000, "C", "D")
	waitForHead(t, h, pos)
	tampered := false
	err = e.Rebuild(context.Background(), "category_stats", func(p projections.Progress) {
		if !tampered && !p.Swapped {
			tampered = true
			if _, err := h.db.Exec(`UPDATE projection_rebuilds SET token = 'another rebuild', owner = 'someone else' WHERE projection = 'category_stats'`); err != nil {
				t.Errorf("tamper: %v", err)
			}
		}
	})
	if !errors.Is(err, projections.ErrRebuildSuperseded) {
		t.Fatalf("rebuild after its tables' record changed: %v, want ErrRebuildSuperseded", err)
	}
	if after := readStats(t, h.db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the live view changed although the swap was refused:\nbefore %v\nafter  %v", before, after)
	}
	var leftovers int
	if err := h.db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'category_stats__rebuild'`).Scan(&leftovers); err != nil {
		t.Fatal(err)
	}
	if leftovers != 1 {
		t.Errorf("the fresh table that was not its own was dropped by the failed rebuild")
	}
	if err := e.Rebuild(context.Background(), "category_stats", nil); err != nil {
		t.Fatalf("the next rebuild: %v", err)
	}
	assertStatsMatchLog(t, h)
	assertNoShadowTables(t, h)
}

// assertNoShadowTables checks that no fresh table of a rebuild, nor its
// record, is left.
func assertNoShadowTables(t *testing.T, h *harness) {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE '%\_\_rebuild' ESCAPE '\'`
	if h.kill != nil { // PostgreSQL
		q = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%\_\_rebuild' ESCAPE '\'`
	}
	var n, records int
	if err := h.db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := h.db.QueryRow(`SELECT count(*) FROM projection_rebuilds`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if n != 0 || records != 0 {
		t.Errorf("%d fresh tables and %d rebuild records left", n, records)
	}
}
