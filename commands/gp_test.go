package commands_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// gpRows are three practices, a row with a bad postcode, and a row naming
// an organisation that is a care home.
func gpRows() []commands.GPPracticeRow {
	return []commands.GPPracticeRow{
		{Code: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU", Line: 2},
		{Code: "a81002", Name: "Queens Park Medical Centre", Postcode: "ts18 2aw", Line: 3},
		{Code: "A81004", Name: "Acklam Medical Centre", Postcode: "TS5 8SB", Line: 4},
		{Code: "A81005", Name: "Springwood Surgery", Postcode: "TS14", Line: 5},
		{Code: "C99001", Name: "Queens Park Surgery", Postcode: "TS18 2AW", Line: 6},
	}
}

// organisationEvents decodes an organisation stream.
func organisationEvents(t *testing.T, store commands.Store, id string) []any {
	t.Helper()
	evs, err := store.ReadStream(context.Background(), location.OrganisationStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, ev := range evs {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Metadata.Command != "ImportGPPractices" && ev.Metadata.Command != "RegisterOrganisation" {
			t.Errorf("%s: command %q", ev.Type, ev.Metadata.Command)
		}
		out = append(out, d)
	}
	return out
}

func TestImportGPPractices_OnceThenOnlyWhatChanged(t *testing.T) {
	eachImportWorld(t, func(t *testing.T, w importWorld) {
		ctx, store, a, sys := w.ctx, w.store, w.a, w.sys
		if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "C99001", Name: "Queens Park Care Home", Type: "care_home"}); err != nil {
			t.Fatal(err)
		}

		sum, err := a.ImportGPPractices(ctx, sys, gpRows())
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 3, 0, 0, 2)
		if !strings.HasPrefix(sum.Errors[0], "line 5: postcode: ") || !strings.HasPrefix(sum.Errors[1], "line 6: organisation C99001 exists and is of type Care Home") {
			t.Errorf("errors %q", sum.Errors)
		}
		if sum.Position == 0 {
			t.Error("no position")
		}
		got := organisationEvents(t, store, "A81002")
		want := []any{location.OrganisationRegistered{OrganisationID: "A81002", Name: "Queens Park Medical Centre", Type: location.GP, Postcode: "TS18 2AW"}}
		if !slices.EqualFunc(got, want, func(a, b any) bool { return a == b }) {
			t.Errorf("A81002: %+v", got)
		}
		if n := len(organisationEvents(t, store, "C99001")); n != 1 {
			t.Errorf("the care home has %d events", n)
		}
		versions := streamVersions(t, store)
		if len(versions) != 4 {
			t.Errorf("%d streams: %v", len(versions), versions)
		}

		// The same rows again append nothing.
		sum, err = a.ImportGPPractices(ctx, sys, gpRows())
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 0, 3, 2)
		if sum.Position != 0 {
			t.Errorf("position %d after an import that appended nothing", sum.Position)
		}
		if again := streamVersions(t, store); !maps.Equal(again, versions) {
			t.Fatalf("a second identical import changed the log")
		}

		// A renamed practice, a moved one, and the bad postcode
		// corrected.
		rows := gpRows()
		rows[0].Name = "Densham Surgery"
		rows[2].Postcode = "TS5 8SD"
		rows[3].Postcode = "TS14 7DJ"
		sum, err = a.ImportGPPractices(ctx, sys, rows)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 1, 2, 1, 1)
		got = organisationEvents(t, store, "A81001")
		if len(got) != 2 || got[1] != (location.OrganisationRenamed{OrganisationID: "A81001", Before: "The Densham Surgery", After: "Densham Surgery"}) {
			t.Errorf("A81001: %+v", got)
		}
		got = organisationEvents(t, store, "A81004")
		if len(got) != 2 || got[1] != (location.OrganisationPostcodeChanged{OrganisationID: "A81004", Before: "TS5 8SB", After: "TS5 8SD"}) {
			t.Errorf("A81004: %+v", got)
		}
		sum, err = a.ImportGPPractices(ctx, sys, rows)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 0, 4, 1)
	})
}

func TestImportGPPractices_RowsWithoutLinesAreNumbered(t *testing.T) {
	store := backends[1].open(t)
	a := newAccounts(t, store)
	sum, err := a.ImportGPPractices(context.Background(), commands.System("test"), []commands.GPPracticeRow{
		{Code: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU"}, {Code: "A8", Name: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, 1, 0, 0, 1)
	if want := "row 2: code: "; !strings.HasPrefix(sum.Errors[0], want) || !strings.Contains(sum.Errors[0], "; name: ") {
		t.Errorf("error %q, want %q...", sum.Errors[0], want)
	}
}

func TestImportGPPractices_SupportOnly(t *testing.T) {
	store := backends[1].open(t)
	a := newAccounts(t, store)
	approver := commands.Actor{User: account.User{ID: uuid.New(), Version: 1, Status: account.Active, Role: account.Approver, Kind: account.Personal}}
	if _, err := a.ImportGPPractices(context.Background(), approver, gpRows()); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an Approver's import: %v", err)
	}
	if n := len(streamVersions(t, store)); n != 0 {
		t.Errorf("%d streams", n)
	}
}

func TestImportGPPractices_StopsWhenTheContextEnds(t *testing.T) {
	store := backends[1].open(t)
	a := newAccounts(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := a.ImportGPPractices(ctx, commands.System("test"), gpRows())
	if !errors.Is(err, context.Canceled) || sum.Created != 0 {
		t.Fatalf("%+v, %v", sum, err)
	}
}
