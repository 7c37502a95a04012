package projections_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
)

// TestRebuildAll_GivesEachViewWhatItsOwnRebuildGives: a rebuild of all
// projections in one pass over the log (what `projections rebuild --all`
// runs) leaves every view, its poison records and its checkpoint exactly as
// a Rebuild of that projection alone does, also when one projection has a
// poison event (its batch is split; the other is not disturbed) and the
// log holds erased personal data.
func TestRebuildAll_GivesEachViewWhatItsOwnRebuildGives(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		poison := map[string]bool{"Broken": true}
		ts := &typeStats{poison: poison}
		e, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{}, ts)
		if err != nil {
			t.Fatal(err)
		}
		appendPersonal(t, h.store, "Registered", "ann")
		appendBulk(t, h.store, 6000, "A", "B")
		broken := appendEvents(t, h.store, 1, "Broken")
		appendPersonal(t, h.store, "Registered", "bob")
		appendBulk(t, h.store, 6000, "C", "A")
		if err := h.store.ForgetSubject(context.Background(), "bob"); err != nil {
			t.Fatal(err)
		}
		pos := appendPersonal(t, h.store, "Renamed", "ann")
		waitForHead(t, h, pos)

		type views struct{ stats, types, poison, checkpoints string }
		read := func() views {
			positions, types := readPoison(t, h.db, "type_stats")
			others, _ := readPoison(t, h.db, "category_stats")
			rows, err := h.db.Query(`SELECT name, position FROM projection_checkpoints ORDER BY name`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var cps []string
			for rows.Next() {
				var name string
				var p int64
				if err := rows.Scan(&name, &p); err != nil {
					t.Fatal(err)
				}
				cps = append(cps, fmt.Sprintf("%s@%d", name, p))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return views{fmt.Sprint(readStats(t, h.db)), fmt.Sprint(readTypeStats(t, h.db)),
				fmt.Sprint(positions, types, others), fmt.Sprint(cps)}
		}

		for _, name := range e.Names() {
			if err := e.Rebuild(context.Background(), name, nil); err != nil {
				t.Fatalf("rebuild %s: %v", name, err)
			}
		}
		single := read()
		var swapped []string
		if err := e.RebuildAll(context.Background(), nil, func(p projections.Progress) {
			if p.Swapped {
				swapped = append(swapped, p.Projection)
			}
		}); err != nil {
			t.Fatalf("rebuild all: %v", err)
		}
		all := read()
		if all != single {
			t.Errorf("after rebuild all:\n%+v\nafter a rebuild of each:\n%+v", all, single)
		}
		if fmt.Sprint(swapped) != fmt.Sprint(e.Names()) {
			t.Errorf("rebuild all reported %v swapped in, want %v", swapped, e.Names())
		}
		assertStatsMatchLog(t, h)
		if want := scratchTypeStats(readAll(t, h), poison); fmt.Sprint(readTypeStats(t, h.db)) != fmt.Sprint(want) {
			t.Errorf("type_stats after rebuild all = %v,\nfrom scratch %v", readTypeStats(t, h.db), want)
		}
		if positions, _ := readPoison(t, h.db, "type_stats"); fmt.Sprint(positions) != fmt.Sprint([]int64{broken}) {
			t.Errorf("type_stats poison %v, want only %d", positions, broken)
		}
		assertNoShadowTables(t, h)
	})
}

// TestRebuildAll_RefusedWhenOneProjectionsRebuildRuns: while another
// engine rebuilds type_stats, a rebuild of all is refused at once with
// the RebuildRunningError of type_stats and rebuilds none (category_stats
// neither: a rebuild of all leaves every view rebuilt from the same log or
// none); it leaves no lock held, so category_stats can be rebuilt alone
// meanwhile, and once the other rebuild is done the rebuild of all runs.
func TestRebuildAll_RefusedWhenOneProjectionsRebuildRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		pos := appendBulk(t, h.store, 2000, "A", "B", "C")
		waitForHead(t, h, pos)
		first, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{}, &typeStats{})
		if err != nil {
			t.Fatal(err)
		}
		second, err := projections.NewEngine(h.backend, quietLogger(), categorystats.Projection{}, &typeStats{})
		if err != nil {
			t.Fatal(err)
		}
		var refused error
		var statsRebuilt bool
		tried := false
		err = first.Rebuild(context.Background(), "type_stats", func(p projections.Progress) {
			if !tried && !p.Swapped {
				tried = true
				refused = second.RebuildAll(context.Background(), nil, func(p projections.Progress) {
					if p.Swapped {
						statsRebuilt = true
					}
				})
			}
		})
		if err != nil {
			t.Fatalf("the rebuild of type_stats: %v", err)
		}
		var running *projections.RebuildRunningError
		if !errors.As(refused, &running) || !errors.Is(refused, projections.ErrRebuildRunning) || running.Projection != "type_stats" {
			t.Fatalf("rebuild all while type_stats is rebuilt: %v, want the RebuildRunningError of type_stats", refused)
		}
		if statsRebuilt {
			t.Errorf("the refused rebuild of all swapped in a view")
		}
		// The refusal let category_stats's rebuild lock go.
		if err := second.Rebuild(context.Background(), "category_stats", nil); err != nil {
			t.Fatalf("rebuild category_stats after the refusal: %v", err)
		}
		if err := second.RebuildAll(context.Background(), nil, nil); err != nil {
			t.Fatalf("rebuild all after the other rebuild ended: %v", err)
		}
		assertStatsMatchLog(t, h)
		if want := scratchTypeStats(readAll(t, h), nil); fmt.Sprint(readTypeStats(t, h.db)) != fmt.Sprint(want) {
			t.Errorf("type_stats after rebuild all = %v,\nfrom scratch %v", readTypeStats(t, h.db), want)
		}
		assertNoShadowTables(t, h)
	})
}

// TestRebuildAll_CancelledMidwayReturnsAndKeepsTheLiveTables: a rebuild of
// all whose context ends after its first batch returns the context's error
// at once (its reader, a batch ahead, stops too), drops its fresh tables,
// leaves the live ones serving as they were, and lets the next rebuild run.
func TestRebuildAll_CancelledMidwayReturnsAndKeepsTheLiveTables(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		e, err := projections.NewEngine(h.backend, quietLogger(), views.Default()...)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, h.store, 12000) // more than one batch on either backend
		stop := run(t, e)
		catchUp(t, h, e)
		stop()
		before := projtest.DumpTables(t, projections.NewReadModels(h.backend), []string{"category_stats", "audit_events"})

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		batches := 0
		err = e.RebuildAll(ctx, nil, func(p projections.Progress) {
			if !p.Swapped && p.Projection == "audit" {
				batches++
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled rebuild = %v, want context.Canceled", err)
		}
		if batches != 1 {
			t.Errorf("the rebuild applied %d batches after it was cancelled at the first, want none", batches-1)
		}
		for _, table := range []string{"category_stats__rebuild", "audit_events__rebuild"} {
			var n int
			if err := h.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err == nil {
				t.Errorf("%s still exists after the cancelled rebuild", table)
			}
		}
		after := projtest.DumpTables(t, projections.NewReadModels(h.backend), []string{"category_stats", "audit_events"})
		for _, table := range []string{"category_stats", "audit_events"} {
			projtest.DiffRows(t, table+" after a cancelled rebuild", before[table], after[table])
		}
		if err := e.RebuildAll(context.Background(), nil, nil); err != nil {
			t.Fatalf("rebuild after the cancelled one: %v", err)
		}
	})
}
