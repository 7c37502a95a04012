package projections_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
)

var (
	erasureBenchEvents  = flag.Int("erasure-events", 1_000_000, "events of BenchmarkErasure's log")
	erasureBenchBackend = flag.String("erasure-backend", "", "BenchmarkErasure's backend: postgres or sqlite (empty: both)")
)

// BenchmarkErasure measures how long an erasure takes to reach every view
// on a log of -erasure-events events: from ErasePerson's return (what the
// API's response waits for) until every projection's checkpoint has
// reached the erasure, when nothing of the person remains in any view
// (checked after the clock stops). For comparison it also times, in the
// same run, what an erasure used to cost: a rebuild of every projection
// (it builds the views of the log that way anyway).
//
// The log is the person's events (a registered and approved user who
// wrote a note, a location's contact, updated) among filler events of
// streams no view but the audit and the category counts reads, appended
// 10,000 to a transaction (AppendMany):
//
//	go test ./projections -run '^$' -bench Erasure -benchtime 1x -timeout 2h -erasure-events 1000000 -erasure-backend postgres -v
func BenchmarkErasure(b *testing.B) {
	for _, backend := range projtest.Backends() {
		if *erasureBenchBackend != "" && *erasureBenchBackend != backend {
			continue
		}
		b.Run(backend, func(b *testing.B) {
			for range b.N {
				benchmarkErasure(b, backend, *erasureBenchEvents)
			}
		})
	}
}

func benchmarkErasure(b *testing.B, backend string, events int) {
	b.StopTimer()
	ctx := context.Background()
	store, pb := projtest.Open(b, backend)
	acc := newCommands(b, store, nil)
	system := commands.System("erasure-bench")
	person := newErasurePerson(b, acc, system)

	// The filler, 10,000 events a transaction.
	start := time.Now()
	const perStream, streams = 1000, 10
	for n := 0; n < events; {
		reqs := make([]eventstore.AppendRequest, 0, streams)
		for range streams {
			if n >= events {
				break
			}
			evs := make([]eventstore.EventData, 0, perStream)
			for range min(perStream, events-n) {
				ev, err := eventstore.NewEvent("BenchmarkFiller", map[string]any{"n": n, "text": "filler event of the erasure benchmark"},
					eventstore.Metadata{ActorAccountKind: eventstore.AccountSystem, Command: "Filler"})
				if err != nil {
					b.Fatal(err)
				}
				evs = append(evs, ev)
				n++
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: "filler-" + uuid.NewString(), Expected: eventstore.NoStream, Events: evs})
		}
		if _, err := store.AppendMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d filler events appended in %s", backend, events, time.Since(start).Round(time.Millisecond))

	// The old cost of an erasure: every projection rebuilt from the log.
	projs := views.Default()
	e, err := projections.NewEngine(pb, quietLogger(), projs...)
	if err != nil {
		b.Fatal(err)
	}
	rm := projections.NewReadModels(pb)
	last := lastPosition(b, rm)
	start = time.Now()
	for _, p := range projs {
		t0 := time.Now()
		if err := e.Rebuild(ctx, p.Name(), nil); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: rebuild %s: %s", backend, p.Name(), time.Since(t0).Round(time.Millisecond))
	}
	rebuildAll := time.Since(start)
	b.Logf("%s: every projection rebuilt from %d events in %s", backend, eventCount(b, rm), rebuildAll.Round(time.Millisecond))
	projtest.RunEngine(b, e)
	waitAll(b, e, last)
	for _, needle := range erasureNeedles {
		if len(columnsHolding(b, rm, projs, needle)) == 0 {
			b.Fatalf("before the erasure no view holds %q", needle)
		}
	}

	if _, err := acc.Deactivate(ctx, system, person.reg.UserID, "left"); err != nil {
		b.Fatal(err)
	}
	waitAll(b, e, lastPosition(b, rm))
	b.StartTimer()
	start = time.Now()
	var pos int64
	for _, req := range []erasure.Request{
		{Kind: erasure.KindContact, LocationID: person.rec.LocationID, ContactID: person.contactID, RequestedBy: "the contact",
			Reason: "right to erasure"},
		{Kind: erasure.KindUser, UserID: person.reg.UserID.String(), RequestedBy: "the user", Reason: "right to erasure"},
	} {
		out, err := acc.ErasePerson(ctx, system, req)
		if err != nil {
			b.Fatal(err)
		}
		pos = max(pos, out.Position)
	}
	responded := time.Now()
	reached := reachTimes(b, rm, pos)
	applied := time.Since(responded)
	b.StopTimer()
	waitAll(b, e, pos)
	b.Logf("%s: two erasures answered in %s, in every view %s later", backend, responded.Sub(start).Round(time.Microsecond),
		applied.Round(time.Microsecond))
	for _, p := range projs {
		b.Logf("%s: %s reached the erasure %s after the response", backend, p.Name(), reached[p.Name()].Sub(responded).Round(time.Microsecond))
	}
	for _, needle := range erasureNeedles {
		if found := columnsHolding(b, rm, projs, needle); len(found) > 0 {
			b.Fatalf("after the erasure %q is still in %v", needle, found)
		}
	}
	b.ReportMetric(float64(applied.Microseconds())/1000, "ms-to-every-view")
	b.ReportMetric(rebuildAll.Seconds(), "s-rebuild-all")
	b.ReportMetric(rebuildAll.Seconds()/applied.Seconds(), "rebuild/in-place")
}

// reachTimes polls the checkpoints until every projection's has reached
// pos, and returns when each was first seen there.
func reachTimes(tb testing.TB, rm projections.ReadModels, pos int64) map[string]time.Time {
	tb.Helper()
	seen := map[string]time.Time{}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(2 * time.Millisecond) {
		behind := 0
		err := rm.Query(context.Background(), func(q projections.Querier) error {
			rows, err := q.QueryContext(context.Background(), `SELECT name, position FROM projection_checkpoints`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var name string
				var at int64
				if err := rows.Scan(&name, &at); err != nil {
					return err
				}
				if _, ok := seen[name]; !ok && at >= pos {
					seen[name] = time.Now()
				} else if !ok {
					behind++
				}
			}
			return rows.Err()
		})
		if err != nil {
			tb.Fatal(err)
		}
		if behind == 0 && len(seen) > 0 {
			return seen
		}
		if time.Now().After(deadline) {
			tb.Fatalf("projections did not reach %d", pos)
		}
	}
}

// eventCount is the number of events in the log.
func eventCount(tb testing.TB, rm projections.ReadModels) int64 {
	tb.Helper()
	var n int64
	if err := rm.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), `SELECT count(*) FROM events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		rows.Next()
		return rows.Scan(&n)
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}
