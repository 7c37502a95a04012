package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
)

// TestCapacityd_ThreeNodesApplyAnErasureOnceUnderLoad: three capacityd
// processes on one PostgreSQL database, contacts being added all along,
// and support erases a contact. As soon as every projection's checkpoint
// reaches the erasure, while the load goes on, no table holds the erased
// person's name or email: each projection redacted the person in place as
// it applied the erasure, once (its checkpoint), on whichever node, and no
// node rebuilt anything. Afterwards every view equals a fresh rebuild and
// nothing was poisoned.
func TestCapacityd_ThreeNodesApplyAnErasureOnceUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newPostgresCluster(t, 100, 20)
	pool, store, acc := c.pool, c.store, c.acc
	locs, err := store.ListStreams(ctx, eventstore.ListStreamsOptions{Category: "location", Limit: 4})
	if err != nil || len(locs) < 4 {
		t.Fatalf("seeded locations: %v %v", locs, err)
	}
	system := commands.System("test")
	locID := func(l eventstore.StreamInfo) string { return strings.TrimPrefix(l.StreamID, "location-") }
	const name, email = "Ernestine Erasable", "ernestine.erasable@rosehill.example.org"
	added, err := acc.AddContact(ctx, system, location.AddContact{LocationID: locID(locs[0]), ExpectedVersion: locs[0].Version,
		Contact: location.ContactInput{Role: "Manager", Name: name, Email: email}})
	if err != nil {
		t.Fatal(err)
	}

	nodes := c.startNodes(t, 3)
	// Erase once the views hold the person.
	c.waitViewsAt(t, "the views to hold the person", added.Position)
	if tables := pgtest.TablesHolding(t, pool, email); len(tables) < 2 {
		t.Fatalf("before the erasure only %v hold the person's email: the search proves nothing", tables)
	}

	// Load: on three other locations, contacts added and removed until the
	// erasure is applied.
	stopLoad := c.contactLoad(t, locs[1:], 20*time.Millisecond)
	erased, err := acc.ErasePerson(ctx, system, erasure.Request{Kind: erasure.KindContact, LocationID: locID(locs[0]),
		ContactID: added.ID, RequestedBy: "the contact, by email to support", Reason: "right to erasure"})
	if err != nil {
		stopLoad()
		t.Fatalf("erase: %v", err)
	}
	c.waitViewsAt(t, "the views to apply the erasure", erased.Position)
	for _, needle := range []string{name, email} {
		if tables := pgtest.TablesHolding(t, pool, needle); len(tables) > 0 {
			t.Errorf("once the views applied the erasure %q is still in %v", needle, tables)
		}
	}
	stopLoad()
	t.Logf("%d events appended by the load while the erasure was applied",
		count(t, pool, fmt.Sprintf(`SELECT count(*) FROM events WHERE position > %d`, added.Position))-1)
	c.waitCaughtUp(t)
	for _, n := range nodes {
		stopCleanly(t, n)
	}

	for i, n := range nodes {
		logs := n.Stderr.String()
		if strings.Contains(logs, `msg="rebuild started"`) || strings.Contains(logs, `msg="views rebuilt after erasures"`) {
			t.Errorf("node %d rebuilt views for an erasure the projections apply in place:\n%s", i+1, logs)
		}
		if strings.Contains(logs, `job=erasures`) {
			t.Errorf("node %d: the erasure job failed:\n%s", i+1, logs)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM erasure_rebuilds`); n != 0 {
		t.Errorf("%d erasures recorded as rebuilt for", n)
	}
	c.checkNoPoison(t)
	for _, needle := range []string{name, email} {
		if tables := pgtest.TablesHolding(t, pool, needle); len(tables) > 0 {
			t.Errorf("after the erasure %q is still in %v", needle, tables)
		}
	}

	c.checkViewsEqualRebuild(t)
}
