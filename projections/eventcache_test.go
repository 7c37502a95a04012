package projections

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
)

func plainEvents(positions ...int64) []cachedEvent {
	out := make([]cachedEvent, len(positions))
	for i, p := range positions {
		out[i] = cachedEvent{ev: eventstore.Event{Position: p, Type: fmt.Sprint("E", p)}}
	}
	return out
}

func positionsOf(evs []cachedEvent) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.ev.Position)
	}
	return out
}

func TestEventCache_ServesAPageOnlyWhenWholePagesCoverIt(t *testing.T) {
	c := newEventCache(8)
	c.add(page{after: 0, through: 30, count: 3}, plainEvents(10, 20, 30))
	c.add(page{after: 20, through: 60, count: 3}, plainEvents(30, 50, 60)) // overlaps, another projection's page

	cases := []struct {
		pg   page
		want []int64 // nil: not served
	}{
		{page{after: 0, through: 30, count: 3}, []int64{10, 20, 30}},
		{page{after: 10, through: 50, count: 3}, []int64{20, 30, 50}}, // across both pages
		{page{after: 0, through: 60, count: 5}, []int64{10, 20, 30, 50, 60}},
		{page{after: 50, through: 60, count: 1}, []int64{60}},
		{page{after: 0, through: 70, count: 6}, nil}, // beyond the cached range
		{page{after: 0, through: 30, count: 4}, nil}, // the count disagrees: read the log
	}
	for _, tc := range cases {
		got, ok := c.get(tc.pg)
		if tc.want == nil {
			if ok {
				t.Errorf("get(%+v) = %v, want a miss", tc.pg, positionsOf(got))
			}
			continue
		}
		if !ok || fmt.Sprint(positionsOf(got)) != fmt.Sprint(tc.want) {
			t.Errorf("get(%+v) = %v, %v; want %v", tc.pg, positionsOf(got), ok, tc.want)
		}
	}

	// Over its size the cache drops the page furthest behind.
	c.add(page{after: 60, through: 90, count: 3}, plainEvents(70, 80, 90))
	if _, ok := c.get(page{after: 0, through: 30, count: 3}); ok {
		t.Errorf("the page furthest behind is still cached over the size")
	}
	if got, ok := c.get(page{after: 50, through: 90, count: 4}); !ok || fmt.Sprint(positionsOf(got)) != "[60 70 80 90]" {
		t.Errorf("the newer pages: %v, %v", positionsOf(got), ok)
	}
}

// TestReadPage_PersonalDataIsReadFromTheLogEveryTime checks that a page
// served from the cache still reads its events with personal data from the
// log, so an erasure between two projections' reads reaches the second.
func TestReadPage_PersonalDataIsReadFromTheLogEveryTime(t *testing.T) {
	t.Parallel()
	backends := map[string]func(t *testing.T) (eventstore.Store, *backend){
		"postgres": func(t *testing.T) (eventstore.Store, *backend) {
			pool, err := pgxpool.New(context.Background(), pgtest.NewMigratedDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			store := postgres.New(pool)
			return store, NewPostgresBackend(store).backend()
		},
		"sqlite": func(t *testing.T) (eventstore.Store, *backend) {
			store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "capacity.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			return store, NewSQLiteBackend(store.DB(), store).backend()
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, b := open(t)
			plain := func() eventstore.EventData {
				return eventstore.EventData{ID: uuid.New(), Type: "Plain", Data: []byte(`{"n":1}`), Metadata: eventstore.Metadata{Command: "test"}}
			}
			personal := eventstore.EventData{ID: uuid.New(), Type: "Registered", Data: []byte(`{"email":"ann@example.org"}`),
				Metadata: eventstore.Metadata{Command: "test"}, Personal: []eventstore.PersonalField{{Path: "email", Subject: "ann"}}}
			res, err := store.Append(ctx, "user-ann", eventstore.Any, plain(), plain(), personal, plain())
			if err != nil {
				t.Fatal(err)
			}
			pg := page{after: 0, through: res.LastPosition(), count: 4}
			read := func() []eventstore.Event {
				t.Helper()
				tx, err := b.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				evs, err := b.readPage(ctx, tx, pg)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 4 {
					t.Fatalf("read %d events, want 4", len(evs))
				}
				return evs
			}
			first := read()
			if !strings.Contains(string(first[2].Data), "ann@example.org") {
				t.Fatalf("personal event reads %s before the erasure", first[2].Data)
			}
			cached, ok := b.events.get(pg)
			if !ok {
				t.Fatal("the page is not cached after its read")
			}
			for i, e := range cached {
				if e.personal != (i == 2) || e.personal && (e.ev.Data != nil || e.ev.Type != "") {
					t.Errorf("cached event %d: %+v, want only the personal one a bare position", i, e)
				}
			}
			if err := store.ForgetSubject(ctx, "ann"); err != nil {
				t.Fatal(err)
			}
			second := read()
			if strings.Contains(string(second[2].Data), "ann") || len(second[2].Erased) == 0 {
				t.Errorf("personal event after the erasure reads %s (erased %v), want the field erased", second[2].Data, second[2].Erased)
			}
			for _, i := range []int{0, 1, 3} {
				if second[i].ID != first[i].ID || string(second[i].Data) != string(first[i].Data) || second[i].Position != first[i].Position {
					t.Errorf("event %d from the cache %+v, from the log %+v", i, second[i], first[i])
				}
			}
		})
	}
}

func TestEventCache_PrefixReachesTheFirstHole(t *testing.T) {
	c := newEventCache(100)
	c.add(page{after: 0, through: 30, count: 3}, plainEvents(10, 20, 30))
	c.add(page{after: 20, through: 60, count: 3}, plainEvents(30, 50, 60))
	c.add(page{after: 70, through: 90, count: 2}, plainEvents(80, 90)) // after a hole at 61-70
	cases := []struct {
		pg      page
		want    []int64
		through int64
	}{
		{page{after: 10, through: 100, count: 7}, []int64{20, 30, 50, 60}, 60},
		{page{after: 0, through: 50, count: 4}, []int64{10, 20, 30, 50}, 50},
		{page{after: 60, through: 90, count: 3}, nil, 60}, // its start is in the hole
		{page{after: 75, through: 95, count: 2}, []int64{80, 90}, 90},
	}
	for _, tc := range cases {
		got, through := c.prefix(tc.pg)
		if fmt.Sprint(positionsOf(got)) != fmt.Sprint(tc.want) || through != tc.through {
			t.Errorf("prefix(%+v) = %v through %d, want %v through %d", tc.pg, positionsOf(got), through, tc.want, tc.through)
		}
	}
}

// TestReadPage_ReadsOnlyTheTailBeyondTheCache checks that a page whose
// start is cached reads only the rest from the log, caches it, and keeps
// the log's order; and that a cache that disagrees with the page's count
// gives way to the log.
func TestReadPage_ReadsOnlyTheTailBeyondTheCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewMigratedDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.New(pool)
	b := NewPostgresBackend(store).backend()
	var evs []eventstore.EventData
	for range 6 {
		evs = append(evs, eventstore.EventData{ID: uuid.New(), Type: "Plain", Data: []byte(`{"n":1}`), Metadata: eventstore.Metadata{Command: "test"}})
	}
	if _, err := store.Append(ctx, "provider-1", eventstore.Any, evs...); err != nil {
		t.Fatal(err)
	}
	// The gap-safe read waits for other tests' open transactions.
	var log []eventstore.Event
	for deadline := time.Now().Add(time.Minute); len(log) < 6; time.Sleep(10 * time.Millisecond) {
		if log, err = store.ReadAll(ctx, 0, 10); err != nil || time.Now().After(deadline) {
			t.Fatalf("read the log: %d events, %v", len(log), err)
		}
	}
	read := func(pg page) []eventstore.Event {
		t.Helper()
		tx, err := b.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		out, err := b.readPage(ctx, tx, pg)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The first three events are cached under another type: what comes
	// from the cache is told apart from what comes from the log.
	marked := func(evs []eventstore.Event) []cachedEvent {
		var out []cachedEvent
		for _, ev := range evs {
			ev.Type = "FromCache"
			out = append(out, cachedEvent{ev: ev})
		}
		return out
	}
	b.events.add(page{after: 0, through: log[2].Position, count: 3}, marked(log[:3]))
	got := read(page{after: log[0].Position, through: log[5].Position, count: 5})
	var types []string
	for i, ev := range got {
		if ev.Position != log[i+1].Position {
			t.Fatalf("event %d at %d, want %d", i, ev.Position, log[i+1].Position)
		}
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != "[FromCache FromCache Plain Plain Plain]" {
		t.Errorf("types %v, want the first two from the cache and the rest from the log", types)
	}
	if cached, ok := b.events.get(page{after: 0, through: log[5].Position, count: 6}); !ok || len(cached) != 6 {
		t.Errorf("after the read the cache covers %d events of the log (%v), want all 6", len(cached), ok)
	}

	// A cached range that lacks an event of the page: the count disagrees,
	// and the whole page comes from the log.
	b2 := NewPostgresBackend(store).backend()
	b2.events.add(page{after: 0, through: log[2].Position, count: 2}, marked([]eventstore.Event{log[0], log[2]}))
	b = b2
	got = read(page{after: 0, through: log[3].Position, count: 4})
	types = nil
	for _, ev := range got {
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != "[Plain Plain Plain Plain]" {
		t.Errorf("types %v with a cache that lacks an event, want the whole page from the log", types)
	}
}
