package search_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
)

// searchWorld is one backend with the location search and directory
// running, and a helper that appends location and organisation events as
// the commands append them.
type searchWorld struct {
	*projtest.World
	t *testing.T
}

func newSearchWorld(t *testing.T, backend string) *searchWorld {
	t.Helper()
	return &searchWorld{World: projtest.NewWorld(t, backend, search.Projection{}, directory.Projection{}), t: t}
}

// emit appends events to a stream in one append.
func (w *searchWorld) emit(stream string, evs ...projtest.Event) {
	w.t.Helper()
	w.Emit(stream, eventstore.Metadata{}, evs...)
}

// row reads the columns of a table's row as text (booleans as 0 or 1,
// NULL as <null>).
func (w *searchWorld) row(table, keyColumn, key string, cols ...string) map[string]string {
	w.t.Helper()
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = fmt.Sprintf(`COALESCE(CAST(%s AS TEXT), '<null>')`, c)
	}
	out := map[string]string{}
	err := w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(),
			fmt.Sprintf(`SELECT %s FROM %s WHERE %s = ?`, strings.Join(exprs, ", "), table, keyColumn), key)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return fmt.Errorf("no row %s in %s", key, table)
		}
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, c := range cols {
			switch vals[i] {
			case "true":
				vals[i] = "1"
			case "false":
				vals[i] = "0"
			}
			out[c] = vals[i]
		}
		return rows.Err()
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// want checks a row's columns.
func (w *searchWorld) want(what string, got map[string]string, want map[string]string) {
	w.t.Helper()
	for c, v := range want {
		if got[c] != v {
			w.t.Errorf("%s: %s = %q, want %q", what, c, got[c], v)
		}
	}
}

// snapshot reads every row of the tables as text, sorted.
func (w *searchWorld) snapshot(tables []string) map[string][]string {
	w.t.Helper()
	return projtest.DumpTables(w.t, w.ReadModels, tables)
}

// The scenario's ids.
const (
	orgCranberry = "1-100"
	orgBramble   = "1-300"
	gpAcklam     = "A81001"
	gpBerwick    = "B82002"
	locCranberry = "1-200"
	locBrambleA  = "1-400"
	locBrambleB  = "1-401"
)

// applyEveryEventType appends every event type the search applies.
func (w *searchWorld) applyEveryEventType() {
	w.emit(location.OrganisationStream(orgCranberry),
		location.OrganisationRegistered{OrganisationID: orgCranberry, Name: "Cranberry Care Services", Type: location.HomeCare})
	for _, gp := range []struct{ code, name, postcode string }{{gpAcklam, "Acklam Surgery", "TS1 1AA"}, {gpBerwick, "Berwick Practice", "TD15 1AA"}} {
		w.emit(location.OrganisationStream(gp.code),
			location.OrganisationRegistered{OrganisationID: gp.code, Name: gp.name, Type: location.GP, Postcode: gp.postcode})
	}
	w.emit(location.OrganisationStream(gpAcklam),
		location.OrganisationRenamed{OrganisationID: gpAcklam, Before: "Acklam Surgery", After: "Acklam Medical Centre"},
		location.OrganisationPostcodeChanged{OrganisationID: gpAcklam, Before: "TS1 1AA", After: "TS1 2BB"})

	l := location.LocationStream(locCranberry)
	w.emit(l, location.LocationRegistered{LocationID: locCranberry, OrganisationID: orgCranberry, OrganisationName: "Cranberry Care Services",
		Name: "Cranberry Home Care", AddressLine1: "1 High St", Town: "Northampton", Postcode: "NN1 1NN",
		LocalAuthority: "West Northamptonshire", CCG: "NHS Northamptonshire ICB"})
	rec := location.CQCRecord{LocationID: locCranberry, ProviderID: orgCranberry, ProviderName: "Cranberry Care Services Ltd",
		Name: "Cranberry Home Care Agency", AddressLine1: "1 High Street", AddressLine2: "Abington", Town: "Northampton",
		County: "Northamptonshire", Postcode: "NN1 1NN", CQCRegion: "East Midlands", LocalAuthority: "West Northamptonshire",
		CCGName: "NHS Northamptonshire ICB", RegistrationStatus: "Registered",
		Ratings: location.CQCRatings{Overall: location.RatingGood, Safe: location.RatingGood, ReportDate: "2024-05-01", ReportLinkID: "abc-123"},
	}.Normalised()
	w.emit(l, location.CQCLocationImported{LocationID: locCranberry, Record: rec})
	w.emit(l, location.CQCDetailsChanged{LocationID: locCranberry, Changes: []location.FieldChange{
		{Field: "name", Before: rec.Name, After: "Cranberry Home Care Services"},
		{Field: "address_line2", Before: "Abington", After: "Abington Park"},
	}})
	w.emit(l, location.CQCRatingsChanged{LocationID: locCranberry, Before: rec.Ratings, After: location.CQCRatings{
		Overall: location.RatingOutstanding, Safe: location.RatingGood, Effective: location.RatingOutstanding,
		ReportDate: "2025-01-02", ReportLinkID: "def-456"}})
	w.emit(l, location.LocationDormancyChanged{LocationID: locCranberry, Dormant: true, Since: "2025-02-01"})
	// The users save their address: from now on CQC's name and address
	// changes leave it alone; its other fields still apply.
	w.emit(l, location.AddressChanged{LocationID: locCranberry, Changes: []location.FieldChange{
		{Field: "name", Before: "Cranberry Home Care Services", After: "Cranberry HC"},
		{Field: "short_name", Before: "", After: "Cranberry"},
		{Field: "address_line1", Before: "1 High Street", After: "2 Market Square"},
		{Field: "address_line5", Before: "", After: "England"},
		{Field: "postcode", Before: "NN1 1NN", After: "NN1 2AA"},
	}})
	w.emit(l, location.CQCDetailsChanged{LocationID: locCranberry, Changes: []location.FieldChange{
		{Field: "name", Before: "Cranberry Home Care Services", After: "CQC Name After Edit"},
		{Field: "town", Before: "Northampton", After: "Elsewhere"},
		{Field: "postcode", Before: "NN1 1NN", After: "NN9 9ZZ"},
		{Field: "address_line2", Before: "Abington Park", After: "Nowhere"},
		{Field: "local_authority", Before: "West Northamptonshire", After: "North Northamptonshire"},
		{Field: "public_url", Before: rec.PublicURL, After: rec.PublicURL + "?v=2"},
	}})
	manager := location.Contact{ContactID: "c1", Role: location.RoleManager, Name: "Mary Manager", Phones: []string{"01604 000000"},
		Email: "mary@cranberry.example.org", Public: true}
	plumber := location.Contact{ContactID: "c2", Role: "Plumber", Name: "Pete Pipes", Phones: []string{"01604 111111"}}
	nhsMail := location.Contact{ContactID: "c3", Role: location.RoleNHSEmail, Email: "cranberry@nhs.net"}
	w.emit(l, location.ContactAdded{LocationID: locCranberry, Contact: manager},
		location.ContactAdded{LocationID: locCranberry, Contact: plumber},
		location.ContactAdded{LocationID: locCranberry, Contact: nhsMail})
	plumber2 := plumber
	plumber2.Name = "Peter Pipes"
	w.emit(l, location.ContactUpdated{LocationID: locCranberry, ContactID: "c2", Fields: []string{"name"}, Before: plumber, After: plumber2},
		location.ContactRemoved{LocationID: locCranberry, ContactID: "c3", Before: nhsMail})
	w.emit(l, location.GPPracticeLinked{LocationID: locCranberry, Practice: location.GPLink{PracticeCode: gpAcklam, Name: "Acklam Medical Centre", Postcode: "TS1 2BB"}},
		location.GPPracticeLinked{LocationID: locCranberry, Practice: location.GPLink{PracticeCode: gpBerwick, Name: "Berwick Practice"}},
		location.GPPracticeUnlinked{LocationID: locCranberry, Practice: location.GPLink{PracticeCode: gpBerwick, Name: "Berwick Practice"}})
	w.emit(l, location.OwnershipTypeChanged{LocationID: locCranberry, Before: "", After: "Independent"})
	added := time.Date(2020, 11, 26, 10, 0, 0, 0, time.UTC)
	w.emit(l, location.NoteAdded{LocationID: locCranberry, Note: location.Note{NoteID: "n1", Text: "Personal care", AddedAt: added,
		AddedBy: "u1", AddedByName: "Home care Test"}},
		location.NoteAdded{LocationID: locCranberry, Note: location.Note{NoteID: "n2", Text: "24 hour service", AddedAt: added,
			AddedBy: "u1", AddedByName: "Home care Test"}},
		location.NoteEdited{LocationID: locCranberry, NoteID: "n1", Before: "Personal care", After: "Personal care and shopping",
			EditedAt: added.Add(time.Hour)},
		location.NoteDeleted{LocationID: locCranberry, NoteID: "n2", Before: "24 hour service"})
	w.emit(l, location.PAMMSChanged{LocationID: locCranberry, After: location.PAMMS{Rating: "Good",
		ReportURL: "https://pamms.example.org/r/1", ReportDate: "2024-09-30"}})
	w.emit(l, location.DetailsConfirmed{LocationID: locCranberry, Section: location.SectionContacts})

	// Bramble's locations come from CQC alone; the provider is named
	// after its id until CQC's provider name arrives.
	w.emit(location.OrganisationStream(orgBramble),
		location.OrganisationRegistered{OrganisationID: orgBramble, Name: orgBramble, Type: location.Other})
	for _, id := range []string{locBrambleA, locBrambleB} {
		r := location.CQCRecord{LocationID: id, ProviderID: orgBramble, Name: "Bramble " + id, AddressLine1: "3 Lane",
			Town: "Leeds", Postcode: "LS1 4AP", CQCRegion: "Yorkshire & Humberside", RegistrationStatus: "Registered"}.Normalised()
		w.emit(location.LocationStream(id), location.CQCLocationImported{LocationID: id, Record: r},
			location.CQCDetailsChanged{LocationID: id, Changes: []location.FieldChange{{Field: "name", Before: r.Name, After: "Bramble House " + id}}},
			location.LocationDeregistered{LocationID: id, Date: "2025-06-01"})
	}
	w.emit(location.LocationStream(locBrambleB), location.LocationReregistered{LocationID: locBrambleB, RegistrationDate: "2025-07-01"})
	w.emit(location.OrganisationStream(orgBramble),
		location.OrganisationRenamed{OrganisationID: orgBramble, Before: orgBramble, After: "Bramble Care Ltd"})
	w.Sync()
}

func TestLocationSearch_AppliesEveryEventTypeAndEqualsItsRebuild(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newSearchWorld(t, backend)
			w.applyEveryEventType()

			got := w.row(search.Table, "location_id", locCranberry,
				"name", "short_name", "organisation_id", "organisation_name", "organisation_type", "ownership_type",
				"address_line1", "address_line2", "address_line3", "address_line4", "address_line5", "postcode", "postcode_compact",
				"nhs_region", "cqc_region", "local_authority", "ccg", "registration_status", "dormant",
				"rating_overall", "rating_safe", "rating_effective", "rating_caring", "rating_rank", "report_date", "report_url", "public_url",
				"pamms_rating", "pamms_report_url", "pamms_report_date", "has_manager", "has_email", "address_edited",
				"version", "last_daily_update_at", "name_key", "short_name_key", "organisation_key", "local_authority_key",
				"contacts", "public_contacts", "notes", "gp_practices")
			w.want("cranberry", got, map[string]string{
				// The users' address, not CQC's later changes.
				"name": "Cranberry HC", "short_name": "Cranberry", "address_line1": "2 Market Square",
				"address_line2": "Abington Park", "address_line3": "Northampton", "address_line4": "Northamptonshire",
				"address_line5": "England", "postcode": "NN1 2AA", "postcode_compact": "NN12AA",
				"organisation_id": orgCranberry, "organisation_name": "Cranberry Care Services Ltd", "organisation_type": "home_care",
				"ownership_type": "Independent", "nhs_region": "Midlands", "cqc_region": "East Midlands",
				"local_authority": "North Northamptonshire", "ccg": "NHS Northamptonshire ICB", "registration_status": "Registered",
				"dormant": "1", "rating_overall": "Outstanding", "rating_safe": "Good", "rating_effective": "Outstanding",
				"rating_caring": "", "rating_rank": "1", "report_date": "2025-01-02",
				"report_url":   "https://www.cqc.org.uk/location/1-200/reports/def-456",
				"public_url":   "https://www.cqc.org.uk/location/1-200?v=2",
				"pamms_rating": "Good", "pamms_report_url": "https://pamms.example.org/r/1", "pamms_report_date": "2024-09-30",
				"has_manager": "1", "has_email": "1", "address_edited": "1", "version": "22", "last_daily_update_at": "<null>",
				"name_key": "cranberry hc", "short_name_key": "cranberry", "organisation_key": "cranberry care services ltd",
				"local_authority_key": "north northamptonshire",
			})
			var contacts, public []location.Contact
			var notes []location.Note
			var gps []location.GPLink
			for _, f := range []struct {
				col string
				dst any
			}{{"contacts", &contacts}, {"public_contacts", &public}, {"notes", &notes}, {"gp_practices", &gps}} {
				if err := json.Unmarshal([]byte(got[f.col]), f.dst); err != nil {
					t.Fatalf("%s: %v", f.col, err)
				}
			}
			if len(contacts) != 2 || contacts[0].ContactID != "c1" || contacts[1].Name != "Peter Pipes" {
				t.Errorf("contacts = %+v, want the manager and the updated plumber", contacts)
			}
			if len(public) != 1 || public[0].ContactID != "c1" {
				t.Errorf("public contacts = %+v, want the manager only", public)
			}
			if len(notes) != 1 || notes[0].Text != "Personal care and shopping" || notes[0].AddedByName != "Home care Test" || notes[0].EditedAt.IsZero() {
				t.Errorf("notes = %+v, want the edited first note", notes)
			}
			if len(gps) != 1 || gps[0].PracticeCode != gpAcklam {
				t.Errorf("GP practices = %+v, want Acklam only", gps)
			}

			// last_update_at is the time of the stream's latest event.
			evs, err := w.Store.ReadStream(context.Background(), location.LocationStream(locCranberry), eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var last projections.Timestamp
			err = w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
				rows, err := q.QueryContext(context.Background(), `SELECT last_update_at FROM search_locations WHERE location_id = ?`, locCranberry)
				if err != nil {
					return err
				}
				defer rows.Close()
				rows.Next()
				return rows.Scan(&last)
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := evs[len(evs)-1].RecordedAt; !last.Equal(want.Truncate(time.Microsecond)) && !last.Equal(want) {
				t.Errorf("last_update_at = %v, want %v", last.Time, want)
			}
			if int64(len(evs)) != 22 {
				t.Errorf("the stream has %d events; the test expects 22", len(evs))
			}

			for id, want := range map[string]map[string]string{
				locBrambleA: {"registration_status": "Deregistered", "organisation_name": "Bramble Care Ltd", "organisation_type": "other",
					"name": "Bramble House 1-400", "nhs_region": "North East and Yorkshire", "rating_rank": "6", "address_edited": "0"},
				locBrambleB: {"registration_status": "Registered", "organisation_name": "Bramble Care Ltd", "organisation_key": "bramble care ltd"},
			} {
				w.want(id, w.row(search.Table, "location_id", id, "registration_status", "organisation_name",
					"organisation_type", "organisation_key", "name", "nhs_region", "rating_rank", "address_edited"), want)
			}
			w.want("acklam", w.row(search.OrganisationsTable, "organisation_id", gpAcklam, "name", "name_key", "type", "postcode"),
				map[string]string{"name": "Acklam Medical Centre", "name_key": "acklam medical centre", "type": "gp", "postcode": "TS1 2BB"})

			// The directory follows the users' address too.
			w.want("directory", w.row(directory.LocationsTable, "location_id", locCranberry,
				"name", "address_line1", "town", "postcode", "postcode_compact", "address_edited", "local_authority"),
				map[string]string{"name": "Cranberry HC", "address_line1": "2 Market Square", "town": "Northampton",
					"postcode": "NN1 2AA", "postcode_compact": "NN12AA", "address_edited": "1", "local_authority": "North Northamptonshire"})
			w.want("directory", w.row(directory.LocationsTable, "location_id", locBrambleA, "name", "address_edited"),
				map[string]string{"name": "Bramble House 1-400", "address_edited": "0"})
			w.want("directory", w.row(directory.OrganisationsTable, "organisation_id", gpAcklam, "postcode"),
				map[string]string{"postcode": "TS1 2BB"})

			// A rebuild (ApplyBatch, many events at once) gives the same
			// rows as live delivery (here its pages of the few events each step
			// appended).
			for _, p := range []projections.Projection{search.Projection{}, directory.Projection{}} {
				live := w.snapshot(p.Tables())
				if err := w.Engine.Rebuild(context.Background(), p.Name(), nil); err != nil {
					t.Fatalf("rebuild %s: %v", p.Name(), err)
				}
				w.Sync()
				rebuilt := w.snapshot(p.Tables())
				for _, table := range p.Tables() {
					if len(live[table]) == 0 {
						t.Errorf("%s is empty", table)
					}
					if !slices.Equal(live[table], rebuilt[table]) {
						t.Errorf("%s after a rebuild:\n%s\nlive:\n%s", table, strings.Join(rebuilt[table], "\n"), strings.Join(live[table], "\n"))
					}
				}
			}
		})
	}
}

func TestLocationSearch_IgnoresEventsOfUnknownLocationsAndCountsUnknownTypesAsUpdates(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newSearchWorld(t, backend)
			// A details event of a location never registered names no row.
			w.emit(location.LocationStream("1-999"), location.OwnershipTypeChanged{LocationID: "1-999", After: "NHS"})
			w.emit(location.LocationStream(locCranberry), location.LocationRegistered{LocationID: locCranberry,
				OrganisationID: orgCranberry, Name: "Cranberry Home Care", Postcode: "NN1 1NN"})
			// An event type of a later release is an update of the
			// location all the same.
			d, err := eventstore.NewEvent("DailyUpdateSubmitted", map[string]any{"location_id": locCranberry}, eventstore.Metadata{Command: "test"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := w.Store.Append(context.Background(), location.LocationStream(locCranberry), eventstore.Any, d)
			if err != nil {
				t.Fatal(err)
			}
			w.Saw(res.LastPosition())
			w.Sync()
			n := 0
			err = w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
				rows, err := q.QueryContext(context.Background(), `SELECT count(*) FROM search_locations`)
				if err != nil {
					return err
				}
				defer rows.Close()
				rows.Next()
				return rows.Scan(&n)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d rows, want only the registered location's", n)
			}
			w.want("cranberry", w.row(search.Table, "location_id", locCranberry,
				"version", "registration_status", "organisation_name", "has_manager", "contacts", "public_contacts"),
				map[string]string{"version": "2", "registration_status": "Registered", "organisation_name": "",
					"has_manager": "0", "contacts": "[]", "public_contacts": "[]"})
		})
	}
}
