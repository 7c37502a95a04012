package location_test

import (
	"testing"

	"github.com/capacitytracker/capacity/domain/location"
)

func TestDirectoryApply_DecidesEachField(t *testing.T) {
	registered := location.LocationRegistered{LocationID: "1-200000001", OrganisationID: "1-100000001",
		OrganisationName: "Support's Provider", Name: "Support's Home", AddressLine1: "1 Low Road", Town: "Leeds",
		Postcode: "LS1 4AP", LocalAuthority: "Leeds", CCG: "NHS Leeds CCG"}
	fromSupport := location.Directory{LocationID: "1-200000001", OrganisationID: "1-100000001",
		OrganisationName: "Support's Provider", Address: location.Address{Name: "Support's Home", Line1: "1 Low Road",
			Line3: "Leeds", Postcode: "LS1 4AP"}, LocalAuthority: "Leeds", CCG: "NHS Leeds CCG"}
	imported := location.CQCLocationImported{LocationID: "1-200000001", Record: location.CQCRecord{LocationID: "1-200000001",
		ProviderID: "1-100000001", Name: "CQC's Home", AddressLine2: "Annexe", County: "West Yorkshire", Postcode: "LS2 7UE",
		CQCRegion: "Yorkshire & Humberside", NHSRegion: "North East and Yorkshire", RegistrationStatus: location.StatusRegistered}}
	// CQC's known values replace support's; what CQC does not know
	// (provider name, first line, town, areas) keeps support's; the
	// second line, county and regions are CQC's whatever they are.
	fromCQC := fromSupport
	fromCQC.Name, fromCQC.Line2, fromCQC.Line4, fromCQC.Postcode = "CQC's Home", "Annexe", "West Yorkshire", "LS2 7UE"
	fromCQC.CQCRegion, fromCQC.NHSRegion, fromCQC.RegistrationStatus = "Yorkshire & Humberside", "North East and Yorkshire", location.StatusRegistered
	edit := location.AddressChanged{LocationID: "1-200000001", Changes: []location.FieldChange{
		{Field: "name", Before: "CQC's Home", After: "Our Home"}, {Field: "short_name", Before: "", After: "Ours"}}}
	edited := fromCQC
	edited.Name, edited.ShortName, edited.AddressEdited = "Our Home", "Ours", true
	cqcChange := location.CQCDetailsChanged{LocationID: "1-200000001", Changes: []location.FieldChange{
		{Field: "name", Before: "CQC's Home", After: "CQC's New Name"}, {Field: "address_line2", Before: "Annexe", After: ""},
		{Field: "postcode", Before: "LS2 7UE", After: "LS1 1AA"}, {Field: "local_authority", Before: "", After: "Kirklees"},
		{Field: "ccg_name", Before: "", After: ""}, {Field: "provider_name", Before: "", After: "CQC's Provider"},
		{Field: "cqc_region", Before: "Yorkshire & Humberside", After: ""}, {Field: "number_of_beds", Before: 0, After: 12},
	}}
	// After the users' edit, CQC's name and address no longer apply; its
	// areas and provider name still do.
	afterEdit := edited
	afterEdit.LocalAuthority, afterEdit.OrganisationName, afterEdit.CQCRegion = "Kirklees", "CQC's Provider", ""
	// Without the edit, CQC's changes apply by the same rules.
	notEdited := fromCQC
	notEdited.Name, notEdited.Line2, notEdited.Postcode = "CQC's New Name", "", "LS1 1AA"
	notEdited.LocalAuthority, notEdited.OrganisationName, notEdited.CQCRegion = "Kirklees", "CQC's Provider", ""
	deregistered := afterEdit
	deregistered.RegistrationStatus = location.StatusDeregistered

	for _, tc := range []struct {
		name string
		evs  []any
		want location.Directory
	}{
		{"support's registration", []any{registered}, fromSupport},
		{"CQC's first import on top of it", []any{registered, imported}, fromCQC},
		{"the users' edit starts from the current address", []any{registered, imported, edit}, edited},
		{"CQC's changes after the edit", []any{registered, imported, edit, cqcChange}, afterEdit},
		{"CQC's changes without an edit", []any{registered, imported, cqcChange}, notEdited},
		{"deregistration", []any{registered, imported, edit, cqcChange, location.LocationDeregistered{LocationID: "1-200000001"}}, deregistered},
		{"registration again", []any{registered, imported, edit, cqcChange, location.LocationDeregistered{},
			location.LocationReregistered{}}, func() location.Directory {
			d := deregistered
			d.RegistrationStatus = location.StatusRegistered
			return d
		}()},
		{"events of other fields change nothing", []any{registered, location.NoteAdded{}, location.CQCRatingsChanged{},
			location.LocationDormancyChanged{Dormant: true}, location.DetailsConfirmed{}}, fromSupport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d location.Directory
			for _, ev := range tc.evs {
				before := d
				next := d.Apply(ev)
				if d != before {
					t.Fatalf("Apply(%T) changed its receiver", ev)
				}
				d = next
			}
			if d != tc.want {
				t.Errorf("directory =\n%+v\nwant\n%+v", d, tc.want)
			}
			// The location's state folds the same entry.
			var l location.Location
			for _, ev := range tc.evs {
				l = location.EvolveLocation(l, ev)
			}
			if l.Directory != tc.want {
				t.Errorf("EvolveLocation's directory =\n%+v\nwant\n%+v", l.Directory, tc.want)
			}
		})
	}
}

func TestDirectoryStatus_IsRegisteredUntilCQCSays(t *testing.T) {
	for _, tc := range []struct{ status, want string }{
		{"", location.StatusRegistered}, {location.StatusDeregistered, location.StatusDeregistered}, {"Pending", "Pending"},
	} {
		if got := (location.Directory{RegistrationStatus: tc.status}).Status(); got != tc.want {
			t.Errorf("Status() of %q = %q, want %q", tc.status, got, tc.want)
		}
	}
}

func TestStartsLocation_OnlyRegistrationAndCQCsFirstImport(t *testing.T) {
	for _, tc := range []struct {
		ev   any
		want bool
	}{
		{location.LocationRegistered{}, true}, {location.CQCLocationImported{}, true}, {location.CQCDetailsChanged{}, false},
		{location.AddressChanged{}, false}, {location.LocationDeregistered{}, false}, {location.OrganisationRegistered{}, false},
	} {
		if got := location.StartsLocation(tc.ev); got != tc.want {
			t.Errorf("StartsLocation(%T) = %v, want %v", tc.ev, got, tc.want)
		}
	}
}
