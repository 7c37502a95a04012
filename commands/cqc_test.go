package commands_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

func newAccounts(t *testing.T, store commands.Store) *commands.Service {
	t.Helper()
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	a, err := commands.New(context.Background(), store, cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// cqcSample is the shared data's twenty CQC location records.
func cqcSample(t *testing.T) []location.CQCRecord {
	t.Helper()
	f, err := os.Open("../domain/location/testdata/cqc-locations-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, bad, err := location.ParseCQCJSON(f)
	if err != nil || len(bad) > 0 || len(recs) != 20 {
		t.Fatalf("ParseCQCJSON: %d records, %v, %v", len(recs), bad, err)
	}
	return recs
}

// streamVersions is the version of every stream of the log.
func streamVersions(t *testing.T, store commands.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for after := ""; ; {
		list, err := store.ListStreams(context.Background(), eventstore.ListStreamsOptions{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			return out
		}
		for _, s := range list {
			out[s.StreamID] = s.Version
		}
		after = list[len(list)-1].StreamID
	}
}

// eventTypes is the types of a stream's events, in order.
func eventTypes(t *testing.T, store commands.Store, stream string) []string {
	t.Helper()
	evs, err := store.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
		if ev.Metadata.Command != "ImportCQC" && strings.HasPrefix(ev.Type, "CQC") {
			t.Errorf("%s: command %q", ev.Type, ev.Metadata.Command)
		}
	}
	return out
}

func wantSummary(t *testing.T, got commands.CQCImportSummary, created, changed, unchanged, rejected int) {
	t.Helper()
	if got.Created != created || got.Changed != changed || got.Unchanged != unchanged || got.Rejected != rejected || len(got.Errors) != rejected {
		t.Fatalf("summary %+v, want %d created, %d changed, %d unchanged, %d rejected", got, created, changed, unchanged, rejected)
	}
}

func TestImportCQC_TheSampleOnceThenOnlyWhatChanged(t *testing.T) {
	eachImportWorld(t, func(t *testing.T, w importWorld) {
		ctx, store, a, sys := w.ctx, w.store, w.a, w.sys
		recs := cqcSample(t)

		sum, err := a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 20, 0, 0, 0)
		if sum.Position == 0 {
			t.Error("no position")
		}
		versions := streamVersions(t, store)
		providers := map[string]bool{}
		for _, r := range recs {
			providers[r.ProviderID] = true
			if got := eventTypes(t, store, location.LocationStream(r.LocationID)); len(got) != 1 || got[0] != location.TypeCQCLocationImported {
				t.Errorf("location %s: %v", r.LocationID, got)
			}
		}
		// Two providers have two locations each in the sample.
		if len(providers) != 18 || len(versions) != 20+18 {
			t.Errorf("%d providers, %d streams", len(providers), len(versions))
		}
		homecare := 0
		for id := range providers {
			evs, err := store.ReadStream(ctx, location.OrganisationStream(id), eventstore.ReadStreamOptions{})
			if err != nil || len(evs) != 1 || evs[0].Type != location.TypeOrganisationRegistered {
				t.Fatalf("organisation %s: %v, %v", id, evs, err)
			}
			d, _ := location.Decode(evs[0].Type, evs[0].Data)
			o := d.(location.OrganisationRegistered)
			if o.OrganisationID != id || o.Name != "" { // the API names no provider
				t.Errorf("organisation %+v", o)
			}
			if o.Type == location.HomeCare {
				homecare++
			}
		}
		if homecare != 6 {
			t.Errorf("%d home care organisations, want 6", homecare)
		}

		// The same data again appends nothing.
		sum, err = a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 0, 20, 0)
		if again := streamVersions(t, store); !maps.Equal(again, versions) {
			t.Fatalf("a second identical import changed the log")
		}

		// A changed rating is one event.
		const rated = "1-112767279"
		changed := make([]location.CQCRecord, len(recs))
		copy(changed, recs)
		for i := range changed {
			if changed[i].LocationID == rated {
				changed[i].Ratings.Overall = location.RatingRequiresImprovement
			}
		}
		sum, err = a.ImportCQC(ctx, sys, changed)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 1, 19, 0)
		after := streamVersions(t, store)
		if total(after)-total(versions) != 1 || after[location.LocationStream(rated)] != 2 {
			t.Errorf("the changed rating appended %d events", total(after)-total(versions))
		}
		types := eventTypes(t, store, location.LocationStream(rated))
		if types[len(types)-1] != location.TypeCQCRatingsChanged {
			t.Errorf("location %s: %v", rated, types)
		}
		sum, err = a.ImportCQC(ctx, sys, changed)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 0, 20, 0)
	})
}

func total(versions map[string]int64) int64 {
	var n int64
	for _, v := range versions {
		n += v
	}
	return n
}

func TestImportCQC_ALocationSupportRegisteredFirst(t *testing.T) {
	eachImportWorld(t, func(t *testing.T, w importWorld) {
		ctx, store, a, sys := w.ctx, w.store, w.a, w.sys
		recs := cqcSample(t)
		first := recs[9] // 1-112767279 of provider 1-101610514
		if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: first.ProviderID, Name: "Support's Name", Type: "care_home"}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: first.LocationID, OrganisationID: first.ProviderID,
			Name: "Support's Home", Postcode: "SE22 0JR"}); err != nil {
			t.Fatal(err)
		}
		// Another location support put under an organisation CQC
		// does not know: the import refuses to move it.
		if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "acme", Name: "Acme Care", Type: "care_home"}); err != nil {
			t.Fatal(err)
		}
		second := recs[10]
		if _, err := a.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: second.LocationID, OrganisationID: "acme",
			Name: "Acme House", Postcode: "CR8 3EH"}); err != nil {
			t.Fatal(err)
		}
		before := streamVersions(t, store)

		sum, err := a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 18, 1, 0, 1)
		if !strings.HasPrefix(sum.Errors[0], "index 10: location 1-112747080: ") || !strings.Contains(sum.Errors[0], "belongs to organisation acme") {
			t.Errorf("error %q", sum.Errors[0])
		}
		if got := eventTypes(t, store, location.LocationStream(first.LocationID)); strings.Join(got, ",") != "LocationRegistered,CQCLocationImported" {
			t.Errorf("location %s: %v", first.LocationID, got)
		}
		after := streamVersions(t, store)
		// The API has no provider name: support's stays.
		for _, s := range []string{location.OrganisationStream(first.ProviderID), location.LocationStream(second.LocationID), location.OrganisationStream("acme")} {
			if after[s] != before[s] {
				t.Errorf("%s went from version %d to %d", s, before[s], after[s])
			}
		}

		// The imported location is one that accounts can be granted:
		// its organisation is CQC's provider.
		if outcome, _, err := a.ImportManager(ctx, sys, account.ImportManager{LocationID: recs[0].LocationID, FullName: "Mo Manager",
			Email: "mo@mosaic.example"}); err != nil || outcome != commands.ImportRegistered {
			t.Fatalf("ImportManager: %q, %v", outcome, err)
		}
		u, err := a.LoadUser(ctx, userByEmail(t, a, store, "mo@mosaic.example"))
		if err != nil || u.Locations[recs[0].LocationID] != recs[0].ProviderID {
			t.Errorf("the manager's locations %v, %v", u.Locations, err)
		}

		sum, err = a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 0, 19, 1)
	})
}

func TestImportCQC_RejectsBadRecordsAndKeepsGoing(t *testing.T) {
	ctx := context.Background()
	store := backends[1].open(t)
	a := newAccounts(t, store)
	good := cqcSample(t)[0]
	bad := good
	bad.LocationID, bad.Origin = "1-12", "line 7"
	sum, err := a.ImportCQC(ctx, commands.System("test"), []location.CQCRecord{bad, good})
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, 1, 0, 0, 1)
	if !strings.HasPrefix(sum.Errors[0], "line 7: location 1-12: location_id: ") {
		t.Errorf("error %q", sum.Errors[0])
	}
}

func TestImportCQC_SupportOnly(t *testing.T) {
	store := backends[1].open(t)
	a := newAccounts(t, store)
	approver := commands.Actor{User: account.User{ID: uuid.New(), Version: 1, Status: account.Active, Role: account.Approver, Kind: account.Personal}}
	_, err := a.ImportCQC(context.Background(), approver, cqcSample(t))
	if !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an Approver's import: %v", err)
	}
	if n := len(streamVersions(t, store)); n != 0 {
		t.Errorf("%d streams", n)
	}
}
