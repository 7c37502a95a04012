package queries_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/queries"
)

// TestLocationDashboard_AsksToConfirmDetailsNotConfirmedLately: a
// location whose details were neither changed nor confirmed within
// ConfirmDetailsWithin is asked to confirm them, last of its needs.
func TestLocationDashboard_AsksToConfirmDetailsNotConfirmedLately(t *testing.T) {
	eachViewsBackend(t, func(t *testing.T, a *accounts) {
		a.viewsWorld()
		north := sites[0]
		rosa := a.importManager(north.id, "Rosa Hill")
		a.Sync()
		v := queries.Viewer{UserID: rosa.String(), ApproverOf: []string{acorn.id}, Locations: []string{north.id}}
		at := func(now time.Time) queries.DashboardEntry {
			t.Helper()
			e, err := a.q.LocationDashboard(context.Background(), v, north.id, now, 0)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		e := at(time.Now())
		if since := time.Since(e.DetailsUpdatedAt); since < 0 || since > time.Hour {
			t.Fatalf("details updated at %v, want the import just now", e.DetailsUpdatedAt)
		}
		if e.DetailsNotConfirmed || slices.Contains(e.Needs, queries.NeedConfirmDetails) {
			t.Errorf("fresh details: not confirmed %v, needs %v", e.DetailsNotConfirmed, e.Needs)
		}
		if e := at(e.DetailsUpdatedAt.Add(queries.ConfirmDetailsWithin - time.Minute)); e.DetailsNotConfirmed {
			t.Errorf("details a minute short of %v old are asked for", queries.ConfirmDetailsWithin)
		}
		late := at(e.DetailsUpdatedAt.Add(queries.ConfirmDetailsWithin + time.Minute))
		if !late.DetailsNotConfirmed || len(late.Needs) == 0 || late.Needs[len(late.Needs)-1] != queries.NeedConfirmDetails {
			t.Errorf("details older than %v: not confirmed %v, needs %v", queries.ConfirmDetailsWithin, late.DetailsNotConfirmed, late.Needs)
		}
	})
}
