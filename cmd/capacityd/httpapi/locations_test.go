package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// Provider details over HTTP: the Edit Provider and Care Quality pages.
// Every edit names the version it was made on; the tests check the
// answer, the ETag, the events appended (with their values before and
// after and who made them), and that a refused edit appends nothing.

// locPath is a path under /api/v1/locations/{id}.
func locPath(id string, rest ...string) string {
	p := "/api/v1/locations/" + id
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// ifMatch is the If-Match header pair of a version.
func ifMatch(v int64) []string { return []string{"If-Match", etagOf(v)} }

func etagOf(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// profile is GET /locations/{id}: the profile, checked against its ETag.
func (c *client) profile(id string) location.Profile {
	c.api.t.Helper()
	r := c.get(locPath(id)).want(http.StatusOK)
	var p location.Profile
	r.decode(&p)
	if got := r.header.Get("ETag"); got != etagOf(p.Version) {
		c.api.t.Fatalf("GET %s: ETag %q, want %q", id, got, etagOf(p.Version))
	}
	return p
}

// edited reads a successful edit's answer and checks its ETag.
func (r response) edited() commands.Edited {
	r.t.Helper()
	var e commands.Edited
	r.decode(&e)
	if got := r.header.Get("ETag"); got != etagOf(e.Version) {
		r.t.Fatalf("%s: ETag %q, want %q (%s)", r.req, got, etagOf(e.Version), r.body)
	}
	if e.Position <= 0 || e.Version <= 0 {
		r.t.Fatalf("%s = %s, want a position and a version", r.req, r.body)
	}
	return e
}

// lastEvent is the last event of a location's stream, decoded.
func (a *api) lastEvent(id string) (eventstore.Event, any) {
	a.t.Helper()
	evs := a.stream(location.LocationStream(id))
	if len(evs) == 0 {
		a.t.Fatalf("location %s has no events", id)
	}
	ev := evs[len(evs)-1]
	d, err := location.Decode(ev.Type, ev.Data)
	if err != nil || d == nil {
		a.t.Fatalf("decode %s: %v, %v", ev.Type, d, err)
	}
	return ev, d
}

// storedData is the data of a stream's events of a type as the database
// holds them: personal fields sealed.
func (a *api) storedData(stream, eventType string) []string {
	a.t.Helper()
	var out []string
	err := a.store.InTx(context.Background(), func(tx eventstore.Tx) error {
		out = nil
		rows, err := tx.Query(context.Background(),
			`SELECT CAST(data AS TEXT) FROM events WHERE stream_id = ? AND event_type = ? ORDER BY stream_version`, stream, eventType)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		a.t.Fatalf("read the stored %s events of %s: %v", eventType, stream, err)
	}
	return out
}

// registerGPPractice registers a GP practice as support would.
func (a *api) registerGPPractice(code, name string) {
	a.t.Helper()
	if _, err := a.accounts.RegisterOrganisation(context.Background(), commands.System("test"), location.RegisterOrganisation{
		OrganisationID: code, Name: name, Type: string(location.GP)}); err != nil {
		a.t.Fatal(err)
	}
}

// wantMetadata checks that an event was made by the client's session
// through the command.
func wantMetadata(t *testing.T, ev eventstore.Event, c *client, command string) {
	t.Helper()
	md := ev.Metadata
	if md.SessionID != c.sessionID || md.ActorUserID != c.userID || md.Command != command || md.CorrelationID == "" ||
		md.ClientIP != "127.0.0.1" || md.UserAgent != c.userAgent || md.ActorAccountKind != eventstore.AccountPersonal {
		t.Errorf("%s metadata = %+v, want session %s of user %s, command %s", ev.Type, md, c.sessionID, c.userID, command)
	}
}

// rosehill is orgA's first location as registered: standardA and
// approverA have access to it.
var rosehill = orgA.loc(0)

func rosehillAddress() map[string]any {
	return map[string]any{"name": "Rosehill", "short_name": "", "address_line1": "31 Thornholme Road", "address_line2": "",
		"address_line3": "Sunderland", "address_line4": "", "address_line5": "", "postcode": "SR2 7JX"}
}

func with(body map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(body)+len(kv)/2)
	for k, v := range body {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func managerContact() map[string]any {
	return map[string]any{"role": "Manager", "name": "Rosa Hill", "organisation_name": "Rosehill and Thorndale Care",
		"phones": "0191 496 0123, 07700 900123", "email": "rosa.manager@rosehill.example.org", "address": "31 Thornholme Road",
		"public": true}
}

func TestProviderDetails_ReadingAProfile(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)

		w.run(t, "ShowsTheRegisteredAddressAndWhatTheDirectoryLacks_WithItsVersionAsAStrongETag", func(t *testing.T) {
			count := w.eventCount()
			p := c.profile(rosehill)
			want := location.Address{Name: "Rosehill", Line1: "31 Thornholme Road", Line3: "Sunderland", Postcode: "SR2 7JX"}
			if p.LocationID != rosehill || p.OrganisationID != orgA.ID || p.OrganisationName != orgA.Name || p.Address != want ||
				p.Version != w.version(location.LocationStream(rosehill)) {
				t.Errorf("profile = %+v, want Rosehill as registered at version %d", p, w.version(location.LocationStream(rosehill)))
			}
			if !slices.Equal(p.Needs, []string{"manager_contact", "email"}) || p.Contacts == nil || len(p.Contacts) != 0 {
				t.Errorf("needs %v, contacts %v: want an empty directory that lacks a manager and an email", p.Needs, p.Contacts)
			}
			if p.CQC.Ratings["overall"] != "Unknown rating" || p.CQC.Ratings["well_led"] != "Unknown rating" || p.CQC.Imported {
				t.Errorf("CQC part = %+v, want no import and unknown ratings", p.CQC)
			}
			r := c.do(http.MethodGet, locPath(rosehill), nil, "If-None-Match", etagOf(p.Version))
			if r.status != http.StatusNotModified || len(r.body) != 0 {
				t.Errorf("GET with If-None-Match of the current ETag = %d %s, want 304", r.status, r.body)
			}
			c.do(http.MethodGet, locPath(rosehill), nil, "If-None-Match", etagOf(p.Version-1)).want(http.StatusOK)
			w.unchanged("reading a profile", count)
		})

		w.run(t, "CareQualityShowsUnknownRatingsUntilCQCPublishesSome", func(t *testing.T) {
			r := c.get(locPath(rosehill, "care-quality")).want(http.StatusOK)
			var cq httpapi.CareQuality
			r.decode(&cq)
			for _, k := range []string{"overall", "safe", "effective", "caring", "responsive", "well_led"} {
				if cq.Ratings[k] != "Unknown rating" {
					t.Errorf("rating %s = %q, want Unknown rating", k, cq.Ratings[k])
				}
			}
			if cq.ReportDate != "" || cq.ReportURL != "" || cq.PublicURL != "" || cq.PAMMS != (location.PAMMS{}) {
				t.Errorf("care quality = %+v, want nothing but unknown ratings", cq)
			}
			if r.header.Get("ETag") != etagOf(cq.Version) {
				t.Errorf("ETag %q, version %d", r.header.Get("ETag"), cq.Version)
			}
		})

		w.run(t, "CareQualityShowsCQCsRatingsReportAndPage", func(t *testing.T) {
			thorndale := orgA.Locations[1]
			if _, err := w.accounts.ImportCQC(context.Background(), commands.System("test"), []location.CQCRecord{{
				LocationID: thorndale.LocationID, ProviderID: orgA.ID, Name: thorndale.Name, AddressLine1: thorndale.AddressLine1,
				Town: thorndale.Town, Postcode: thorndale.Postcode, RegistrationStatus: "Registered", ServiceTypes: []string{"Homecare agencies"},
				Specialisms: []string{"Dementia"},
				Ratings: location.CQCRatings{Overall: "Good", Safe: "Requires improvement", Effective: "Good", Responsive: "Outstanding",
					WellLed: "Good", ReportDate: "2024-05-01", ReportLinkID: "abc-123"},
			}}); err != nil {
				t.Fatal(err)
			}
			support := w.loginAs(w.support)
			var cq httpapi.CareQuality
			support.get(locPath(thorndale.LocationID, "care-quality")).want(http.StatusOK).decode(&cq)
			want := map[string]string{"overall": "Good", "safe": "Requires improvement", "effective": "Good", "caring": "Unknown rating",
				"responsive": "Outstanding", "well_led": "Good"}
			if fmt.Sprint(cq.Ratings) != fmt.Sprint(want) || cq.ReportDate != "2024-05-01" ||
				!strings.Contains(cq.PublicURL, thorndale.LocationID) || !strings.Contains(cq.ReportURL, "abc-123") {
				t.Errorf("care quality = %+v, want CQC's ratings, report and page", cq)
			}
			p := support.profile(thorndale.LocationID)
			if !slices.Equal(p.CQC.ServiceTypes, []string{"Homecare agencies"}) || !slices.Equal(p.CQC.Specialisms, []string{"Dementia"}) ||
				!p.CQC.Imported || p.CQC.RegistrationStatus != "Registered" {
				t.Errorf("CQC part of the profile = %+v", p.CQC)
			}
		})

		w.run(t, "AnUnknownLocationIs404_AnotherOrganisationsIs403", func(t *testing.T) {
			c.get(locPath("1-999999999")).wantError(http.StatusNotFound, "not_found")
			c.get(locPath("1-999999999", "care-quality")).wantError(http.StatusNotFound, "not_found")
			c.get(locPath(orgB.loc(0))).wantError(http.StatusForbidden, "forbidden")
			c.get(locPath(orgA.loc(1), "care-quality")).wantError(http.StatusForbidden, "forbidden")
		})
	})
}

func TestProviderDetails_EveryEdit(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)
		stream := location.LocationStream(rosehill)

		w.run(t, "EditAddress_AppendsTheChangedFieldsWithTheirValuesBeforeAndAfter", func(t *testing.T) {
			v := c.profile(rosehill).Version
			body := with(rosehillAddress(), "name", "Rosehill Care at Home", "short_name", "Rosehill", "address_line2", "Ashbrooke",
				"postcode", "sr2 7jy")
			e := c.do(http.MethodPut, locPath(rosehill, "address"), body, ifMatch(v)...).want(http.StatusOK).edited()
			if e.Version != v+1 || !e.Changed || e.ID != "" {
				t.Errorf("edit = %+v, want version %d, changed", e, v+1)
			}
			ev, d := w.lastEvent(rosehill)
			want := location.AddressChanged{LocationID: rosehill, Changes: []location.FieldChange{
				{Field: "name", Before: "Rosehill", After: "Rosehill Care at Home"},
				{Field: "short_name", Before: "", After: "Rosehill"},
				{Field: "address_line2", Before: "", After: "Ashbrooke"},
				{Field: "postcode", Before: "SR2 7JX", After: "SR2 7JY"},
			}}
			if asJSONString(t, d) != asJSONString(t, want) || ev.Position != e.Position || ev.Version != e.Version {
				t.Errorf("event = %s at %d/%d, want %s at %d/%d", asJSONString(t, d), ev.Position, ev.Version, asJSONString(t, want), e.Position, e.Version)
			}
			wantMetadata(t, ev, c, "EditAddress")
			if p := c.profile(rosehill); p.Address.Name != "Rosehill Care at Home" || p.Address.Postcode != "SR2 7JY" || p.Version != e.Version {
				t.Errorf("profile after = %+v", p)
			}
		})

		w.run(t, "EditAddress_TakesTheVersionFromTheBodyToo", func(t *testing.T) {
			v := c.profile(rosehill).Version
			body := with(rosehillAddress(), "expected_version", v)
			e := c.put(locPath(rosehill, "address"), body).want(http.StatusOK).edited()
			if e.Version != v+1 || !e.Changed {
				t.Errorf("edit = %+v", e)
			}
		})

		w.run(t, "ANoChangeSaveAppendsDetailsConfirmedAndMovesTheVersion", func(t *testing.T) {
			v := c.profile(rosehill).Version
			body := with(rosehillAddress(), "address_line1", " 31  Thornholme Road ", "postcode", "sr27jx")
			e := c.do(http.MethodPut, locPath(rosehill, "address"), body, ifMatch(v)...).want(http.StatusOK).edited()
			if e.Version != v+1 || e.Changed {
				t.Errorf("no-change save = %+v, want version %d and changed false", e, v+1)
			}
			ev, d := w.lastEvent(rosehill)
			if d != (location.DetailsConfirmed{LocationID: rosehill, Section: location.SectionAddress}) {
				t.Errorf("event = %#v, want DetailsConfirmed of the address", d)
			}
			wantMetadata(t, ev, c, "EditAddress")
		})

		var contactID string
		w.run(t, "AddContact_Answers201WithItsIdAndSealsItsPersonalFields", func(t *testing.T) {
			v := c.profile(rosehill).Version
			r := c.do(http.MethodPost, locPath(rosehill, "contacts"), managerContact(), ifMatch(v)...).want(http.StatusCreated)
			e := r.edited()
			contactID = e.ID
			if e.ID == "" || e.Version != v+1 || !e.Changed {
				t.Fatalf("add = %+v, want the new contact's id", e)
			}
			if loc := r.header.Get("Location"); loc != locPath(rosehill, "contacts", e.ID) {
				t.Errorf("Location %q", loc)
			}
			ev, d := w.lastEvent(rosehill)
			want := location.ContactAdded{LocationID: rosehill, Contact: location.Contact{ContactID: e.ID, Role: "Manager", Name: "Rosa Hill",
				OrganisationName: "Rosehill and Thorndale Care", Phones: []string{"0191 496 0123", "07700 900123"}, Email: "rosa.manager@rosehill.example.org",
				Address: "31 Thornholme Road", Public: true}}
			if !reflect.DeepEqual(d, want) {
				t.Errorf("event = %+v, want %+v", d, want)
			}
			wantMetadata(t, ev, c, "AddContact")

			stored := w.storedData(stream, location.TypeContactAdded)
			if len(stored) != 1 {
				t.Fatalf("stored ContactAdded events: %d", len(stored))
			}
			for _, personal := range []string{"rosa.manager@rosehill.example.org", "Rosa Hill", "0191 496 0123", "07700 900123", "31 Thornholme Road"} {
				if strings.Contains(stored[0], personal) {
					t.Errorf("%q is stored in plain text: %s", personal, stored[0])
				}
			}
			if !strings.Contains(stored[0], `"$pii"`) || !strings.Contains(stored[0], "Rosehill and Thorndale Care") {
				t.Errorf("stored event %s: want the personal fields sealed and the rest plain", stored[0])
			}
			p := c.profile(rosehill)
			if len(p.Contacts) != 1 || !reflect.DeepEqual(p.Contacts[0], want.Contact) || len(p.Needs) != 0 {
				t.Errorf("profile's contacts %+v, needs %v: want the manager in plain", p.Contacts, p.Needs)
			}
		})

		w.run(t, "UpdateContact_NamesTheChangedFieldsWithTheContactBeforeAndAfter", func(t *testing.T) {
			v := c.profile(rosehill).Version
			body := with(managerContact(), "phones", "0191 496 0999", "public", false, "role", "registered manager")
			e := c.do(http.MethodPut, locPath(rosehill, "contacts", contactID), body, ifMatch(v)...).want(http.StatusOK).edited()
			if e.Version != v+1 || !e.Changed {
				t.Errorf("update = %+v", e)
			}
			ev, d := w.lastEvent(rosehill)
			u, ok := d.(location.ContactUpdated)
			if !ok || !slices.Equal(u.Fields, []string{"role", "phones", "public"}) || u.Before.PhoneList() != "0191 496 0123, 07700 900123" ||
				u.After.PhoneList() != "0191 496 0999" || !u.Before.Public || u.After.Public || u.After.Role != "registered manager" ||
				u.Before.Email != "rosa.manager@rosehill.example.org" || u.After.Email != u.Before.Email || u.ContactID != contactID {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "UpdateContact")
			for _, s := range w.storedData(stream, location.TypeContactUpdated) {
				if strings.Contains(s, "rosa.manager@") || strings.Contains(s, "0191 496 0999") {
					t.Errorf("ContactUpdated stores personal fields in plain text: %s", s)
				}
			}
			// A manager by free text is not the list's Manager.
			if p := c.profile(rosehill); !slices.Equal(p.Needs, []string{"manager_contact"}) {
				t.Errorf("needs = %v", p.Needs)
			}
			v = e.Version
			e = c.do(http.MethodPut, locPath(rosehill, "contacts", contactID), body, ifMatch(v)...).want(http.StatusOK).edited()
			if e.Changed || e.Version != v+1 {
				t.Errorf("saving the contact unchanged = %+v, want a no-change save", e)
			}
			if _, d := w.lastEvent(rosehill); d != (location.DetailsConfirmed{LocationID: rosehill, Section: location.SectionContacts}) {
				t.Errorf("event = %+v", d)
			}
		})

		w.run(t, "RemoveContact_TakesIfMatchOrTheQuery", func(t *testing.T) {
			v := c.profile(rosehill).Version
			second := c.do(http.MethodPost, locPath(rosehill, "contacts"), map[string]any{"role": "Pharmacy", "organisation_name": "Boots",
				"phones": "0191 496 0000"}, ifMatch(v)...).want(http.StatusCreated).edited()

			e := c.do(http.MethodDelete, locPath(rosehill, "contacts", contactID), nil, ifMatch(second.Version)...).want(http.StatusOK).edited()
			ev, d := w.lastEvent(rosehill)
			if rm, ok := d.(location.ContactRemoved); !ok || rm.ContactID != contactID || rm.Before.Email != "rosa.manager@rosehill.example.org" {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "RemoveContact")
			e = c.delete(locPath(rosehill, "contacts", second.ID) + "?expected_version=" + strconv.FormatInt(e.Version, 10)).want(http.StatusOK).edited()
			if p := c.profile(rosehill); len(p.Contacts) != 0 || p.Version != e.Version {
				t.Errorf("contacts after removal: %+v", p.Contacts)
			}
			c.delete(locPath(rosehill, "contacts", second.ID)+"?expected_version="+strconv.FormatInt(e.Version, 10)).
				wantError(http.StatusNotFound, "not_found")
		})

		w.run(t, "LinkAndUnlinkAGPPractice", func(t *testing.T) {
			w.registerGPPractice("A81001", "The Densham Surgery")
			v := c.profile(rosehill).Version
			e := c.do(http.MethodPost, locPath(rosehill, "gp-practices"), map[string]any{"practice_code": " A81001 "}, ifMatch(v)...).
				want(http.StatusCreated).edited()
			ev, d := w.lastEvent(rosehill)
			if d != (location.GPPracticeLinked{LocationID: rosehill, Practice: location.GPLink{PracticeCode: "A81001", Name: "The Densham Surgery"}}) {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "LinkGPPractice")
			if p := c.profile(rosehill); len(p.GPPractices) != 1 || p.GPPractices[0].Name != "The Densham Surgery" {
				t.Errorf("practices = %+v", p.GPPractices)
			}
			// Linking it again is a no-change save.
			again := c.post(locPath(rosehill, "gp-practices"), map[string]any{"practice_code": "A81001", "expected_version": e.Version}).
				want(http.StatusOK).edited()
			if again.Changed || again.Version != e.Version+1 {
				t.Errorf("linking again = %+v", again)
			}
			e = c.do(http.MethodDelete, locPath(rosehill, "gp-practices", "A81001"), nil, ifMatch(again.Version)...).want(http.StatusOK).edited()
			ev, d = w.lastEvent(rosehill)
			if d != (location.GPPracticeUnlinked{LocationID: rosehill, Practice: location.GPLink{PracticeCode: "A81001", Name: "The Densham Surgery"}}) {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "UnlinkGPPractice")
			c.do(http.MethodDelete, locPath(rosehill, "gp-practices", "A81001"), nil, ifMatch(e.Version)...).wantError(http.StatusNotFound, "not_found")
		})

		w.run(t, "EditClassification_SetsTheOwnershipType", func(t *testing.T) {
			v := c.profile(rosehill).Version
			c.do(http.MethodPut, locPath(rosehill, "classification"), map[string]any{"ownership_type": "voluntary / not for profit"}, ifMatch(v)...).
				want(http.StatusOK).edited()
			ev, d := w.lastEvent(rosehill)
			if d != (location.OwnershipTypeChanged{LocationID: rosehill, Before: "", After: "Voluntary / Not for profit"}) {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "EditClassification")
			if p := c.profile(rosehill); p.OwnershipType != "Voluntary / Not for profit" {
				t.Errorf("ownership type = %q", p.OwnershipType)
			}
		})

		w.run(t, "Notes_AreDatedAndSignedAndCanBeEditedAndDeleted", func(t *testing.T) {
			v := c.profile(rosehill).Version
			r := c.do(http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": "Personal care\n\n\n24 hour service"}, ifMatch(v)...).
				want(http.StatusCreated)
			e := r.edited()
			if e.ID == "" || r.header.Get("Location") != locPath(rosehill, "notes", e.ID) {
				t.Fatalf("add note = %s, Location %q", r.body, r.header.Get("Location"))
			}
			ev, d := w.lastEvent(rosehill)
			wantMetadata(t, ev, c, "AddNote")
			added, ok := d.(location.NoteAdded)
			if !ok || added.Note.Text != "Personal care\n\n24 hour service" || added.Note.AddedBy != w.standardA.ID.String() ||
				added.Note.AddedByName != w.standardA.Name || !added.Note.AddedAt.Equal(w.clock.Now()) {
				t.Errorf("event = %+v, want the note signed by %s at %v", d, w.standardA.Name, w.clock.Now())
			}
			for _, s := range w.storedData(stream, location.TypeNoteAdded) {
				if strings.Contains(s, w.standardA.Name) {
					t.Errorf("the author's name is stored in plain text: %s", s)
				}
			}
			p := c.profile(rosehill)
			if len(p.Notes) != 1 || p.Notes[0].AddedByName != w.standardA.Name || !p.Notes[0].AddedAt.Equal(w.clock.Now()) {
				t.Errorf("notes = %+v", p.Notes)
			}

			e = c.do(http.MethodPut, locPath(rosehill, "notes", e.ID), map[string]any{"text": "24 hour service"}, ifMatch(e.Version)...).
				want(http.StatusOK).edited()
			ev, d = w.lastEvent(rosehill)
			if d != (location.NoteEdited{LocationID: rosehill, NoteID: added.Note.NoteID, Before: "Personal care\n\n24 hour service",
				After: "24 hour service", EditedAt: w.clock.Now()}) {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "EditNote")

			e = c.do(http.MethodDelete, locPath(rosehill, "notes", added.Note.NoteID), nil, ifMatch(e.Version)...).want(http.StatusOK).edited()
			ev, d = w.lastEvent(rosehill)
			if d != (location.NoteDeleted{LocationID: rosehill, NoteID: added.Note.NoteID, Before: "24 hour service"}) {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "DeleteNote")
			if p := c.profile(rosehill); len(p.Notes) != 0 || p.Version != e.Version {
				t.Errorf("notes after deletion = %+v", p.Notes)
			}
			c.do(http.MethodPut, locPath(rosehill, "notes", added.Note.NoteID), map[string]any{"text": "again"}, ifMatch(e.Version)...).
				wantError(http.StatusNotFound, "not_found")
		})

		w.run(t, "EditPAMMS_RecordsTheAssessmentOnCareQuality", func(t *testing.T) {
			v := c.profile(rosehill).Version
			body := map[string]any{"report_url": "https://pamms.example.gov.uk/reports/42", "rating": "good", "report_date": "2025-06-30"}
			e := c.do(http.MethodPut, locPath(rosehill, "care-quality", "pamms"), body, ifMatch(v)...).want(http.StatusOK).edited()
			want := location.PAMMS{ReportURL: "https://pamms.example.gov.uk/reports/42", Rating: "Good", ReportDate: "2025-06-30"}
			ev, d := w.lastEvent(rosehill)
			if d != (location.PAMMSChanged{LocationID: rosehill, After: want}) {
				t.Errorf("event = %+v", d)
			}
			wantMetadata(t, ev, c, "EditPAMMS")
			var cq httpapi.CareQuality
			r := c.get(locPath(rosehill, "care-quality")).want(http.StatusOK)
			r.decode(&cq)
			if cq.PAMMS != want || cq.Version != e.Version || r.header.Get("ETag") != etagOf(e.Version) {
				t.Errorf("care quality = %+v (ETag %s), want the PAMMS assessment at version %d", cq, r.header.Get("ETag"), e.Version)
			}
			// Cleared again: the values before are in the event.
			c.do(http.MethodPut, locPath(rosehill, "care-quality", "pamms"), map[string]any{}, ifMatch(e.Version)...).want(http.StatusOK)
			if _, d := w.lastEvent(rosehill); d != (location.PAMMSChanged{LocationID: rosehill, Before: want}) {
				t.Errorf("event = %+v", d)
			}
		})

		w.run(t, "SupportEditsAnyLocation", func(t *testing.T) {
			support := w.loginAs(w.support)
			v := support.profile(orgB.loc(1)).Version
			support.do(http.MethodPut, locPath(orgB.loc(1), "classification"), map[string]any{"ownership_type": "Independent"}, ifMatch(v)...).
				want(http.StatusOK).edited()
			ev, _ := w.lastEvent(orgB.loc(1))
			wantMetadata(t, ev, support, "EditClassification")
		})
	})
}

func asJSONString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProviderDetails_ValidationErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)
		w.registerGPPractice("A81001", "The Densham Surgery")
		long := func(n int) string { return strings.Repeat("x", n) }
		v := c.profile(rosehill).Version
		// A contact and a note to update.
		contact := c.do(http.MethodPost, locPath(rosehill, "contacts"), managerContact(), ifMatch(v)...).want(http.StatusCreated).edited()
		note := c.do(http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": "24 hour service"}, ifMatch(contact.Version)...).
			want(http.StatusCreated).edited()

		cases := []struct {
			name, method, path string
			body               map[string]any
			want               []string
		}{
			{"AddressEveryBadFieldAtOnce", http.MethodPut, locPath(rosehill, "address"),
				map[string]any{"name": "R", "short_name": long(51), "address_line2": long(101), "postcode": "QQ1 1AA"},
				[]string{"name:invalid_length", "short_name:too_long", "address_line2:too_long", "address_line1:required", "postcode:invalid_postcode"}},
			{"AddressLinesTooLong", http.MethodPut, locPath(rosehill, "address"),
				with(rosehillAddress(), "address_line1", long(101), "address_line3", long(101), "address_line4", long(101), "address_line5", long(101)),
				[]string{"address_line1:too_long", "address_line3:too_long", "address_line4:too_long", "address_line5:too_long"}},
			{"AddressNameTooLong", http.MethodPut, locPath(rosehill, "address"), with(rosehillAddress(), "name", long(201)), []string{"name:invalid_length"}},
			{"AddressPostcodeWithALetterNoPostcodeHasThere", http.MethodPut, locPath(rosehill, "address"), with(rosehillAddress(), "postcode", "SR2 7JC"),
				[]string{"postcode:invalid_postcode"}},
			{"ContactEveryBadFieldAtOnce", http.MethodPost, locPath(rosehill, "contacts"),
				map[string]any{"role": "M", "name": long(201), "organisation_name": long(201), "address": long(201), "phones": "0191 496 01",
					"email": "rosa@"},
				[]string{"role:invalid_length", "name:too_long", "organisation_name:too_long", "address:too_long", "phones:invalid_phone", "email:invalid_email"}},
			{"ContactWithoutARole", http.MethodPost, locPath(rosehill, "contacts"), with(managerContact(), "role", ""), []string{"role:required"}},
			{"ContactWithNothingToReachAnyoneBy", http.MethodPost, locPath(rosehill, "contacts"), map[string]any{"role": "Plumber", "public": true},
				[]string{"name:required"}},
			{"ContactWithSixPhoneNumbers", http.MethodPost, locPath(rosehill, "contacts"),
				with(managerContact(), "phones", strings.Repeat("0191 496 0123, ", 5)+"07700 900123"), []string{"phones:too_many"}},
			{"ContactWithAPhoneNumberOfAnotherCountry", http.MethodPut, locPath(rosehill, "contacts", contact.ID),
				with(managerContact(), "phones", "+1 202 555 0123"), []string{"phones:invalid_phone"}},
			{"ContactWithAMobileStarting06", http.MethodPut, locPath(rosehill, "contacts", contact.ID),
				with(managerContact(), "phones", "06700 900123"), []string{"phones:invalid_phone"}},
			{"ContactWithAnEmailThatIsNotOne", http.MethodPut, locPath(rosehill, "contacts", contact.ID),
				with(managerContact(), "email", "rosa at rosehill"), []string{"email:invalid_email"}},
			{"GPPracticeWithoutACode", http.MethodPost, locPath(rosehill, "gp-practices"), map[string]any{"practice_code": ""},
				[]string{"practice_code:required"}},
			{"GPPracticeThatDoesNotExist", http.MethodPost, locPath(rosehill, "gp-practices"), map[string]any{"practice_code": "Z99999"},
				[]string{"practice_code:unknown_practice"}},
			{"GPPracticeThatIsACareProvider", http.MethodPost, locPath(rosehill, "gp-practices"), map[string]any{"practice_code": orgB.ID},
				[]string{"practice_code:unknown_practice"}},
			{"OwnershipTypeNotOnTheList", http.MethodPut, locPath(rosehill, "classification"), map[string]any{"ownership_type": "Private equity"},
				[]string{"ownership_type:invalid_choice"}},
			{"EmptyNote", http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": " \n "}, []string{"text:required"}},
			{"NoteTooLong", http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": long(2001)}, []string{"text:too_long"}},
			{"NoteEditedTooLong", http.MethodPut, locPath(rosehill, "notes", note.ID), map[string]any{"text": long(2001)}, []string{"text:too_long"}},
			{"NoteEditedEmpty", http.MethodPut, locPath(rosehill, "notes", note.ID), map[string]any{}, []string{"text:required"}},
			{"PAMMSEveryBadFieldAtOnce", http.MethodPut, locPath(rosehill, "care-quality", "pamms"),
				map[string]any{"report_url": "pamms.example.gov.uk", "rating": "Outstanding", "report_date": "30/06/2025"},
				[]string{"report_url:invalid_url", "rating:invalid_choice", "report_date:invalid_date"}},
			{"PAMMSReportDateInTheFuture", http.MethodPut, locPath(rosehill, "care-quality", "pamms"),
				map[string]any{"report_date": w.clock.Now().AddDate(0, 0, 2).Format("2006-01-02")}, []string{"report_date:in_future"}},
		}
		for _, tc := range cases {
			w.run(t, tc.name, func(t *testing.T) {
				count := w.eventCount()
				e := c.do(tc.method, tc.path, tc.body, ifMatch(note.Version)...).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if got := fieldCodes(e); !slices.Equal(got, tc.want) {
					t.Errorf("fields = %v, want %v", got, tc.want)
				}
				for _, f := range e.Fields {
					if f.Message == "" {
						t.Errorf("field %s has no message", f.Field)
					}
				}
				w.unchanged(tc.name, count)
			})
		}

		w.run(t, "AnUnknownContactOrNoteOrLocationIs404", func(t *testing.T) {
			count := w.eventCount()
			for _, tc := range []struct{ method, path string }{
				{http.MethodPut, locPath(rosehill, "contacts", "6f1c2a4e-1b7d-4c57-9f55-8d1e2c3b4a50")},
				{http.MethodDelete, locPath(rosehill, "contacts", "nope")},
				{http.MethodPut, locPath(rosehill, "notes", "nope")},
				{http.MethodDelete, locPath(rosehill, "notes", "6f1c2a4e-1b7d-4c57-9f55-8d1e2c3b4a50")},
				{http.MethodDelete, locPath(rosehill, "gp-practices", "A81001")},
				{http.MethodPut, locPath("1-999999999", "address")},
				{http.MethodPost, locPath("1-999999999", "notes")},
			} {
				var body any
				switch {
				case strings.Contains(tc.path, "contacts"):
					body = managerContact()
				case strings.Contains(tc.path, "address"):
					body = rosehillAddress()
				case tc.method != http.MethodDelete:
					body = map[string]any{"text": "hello"}
				}
				c.do(tc.method, tc.path, body, ifMatch(note.Version)...).wantError(http.StatusNotFound, "not_found")
			}
			w.unchanged("edits of what does not exist", count)
		})

		w.run(t, "MalformedBodiesAre400And415", func(t *testing.T) {
			count := w.eventCount()
			for _, tc := range []struct {
				name, body, code, inMessage string
			}{
				{"truncated", `{"name":`, "invalid_json", ""},
				{"unknown field", `{"name":"Rosehill","town":"Sunderland"}`, "invalid_json", "town"},
				{"wrong type", `{"name":7}`, "invalid_json", "name"},
				{"two objects", `{} {}`, "invalid_json", "nothing after"},
				{"an array", `[]`, "invalid_json", ""},
				{"empty", ``, "empty_body", ""},
			} {
				e := c.do(http.MethodPut, locPath(rosehill, "address"), rawBody{data: strings.NewReader(tc.body), contentType: "application/json"},
					ifMatch(note.Version)...).wantError(http.StatusBadRequest, tc.code)
				if !strings.Contains(e.Message, tc.inMessage) {
					t.Errorf("%s: message %q, want it to mention %q", tc.name, e.Message, tc.inMessage)
				}
			}
			c.do(http.MethodPost, locPath(rosehill, "contacts"), rawBody{data: strings.NewReader(`{"public":"yes"}`), contentType: "application/json"},
				ifMatch(note.Version)...).wantError(http.StatusBadRequest, "invalid_json")
			c.do(http.MethodPost, locPath(rosehill, "notes"), rawBody{data: strings.NewReader(`text=hello`), contentType: "application/x-www-form-urlencoded"},
				ifMatch(note.Version)...).wantError(http.StatusUnsupportedMediaType, "unsupported_media_type")
			w.unchanged("malformed edits", count)
		})
	})
}

func TestProviderDetails_Versions(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)
		other := w.loginAs(w.approverA)
		address := rosehillAddress()

		w.run(t, "AnEditWithoutAVersionIs428", func(t *testing.T) {
			count := w.eventCount()
			for _, tc := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPut, locPath(rosehill, "address"), address},
				{http.MethodPost, locPath(rosehill, "contacts"), managerContact()},
				{http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": "hello"}},
				{http.MethodPut, locPath(rosehill, "classification"), map[string]any{"ownership_type": "NHS"}},
				{http.MethodPut, locPath(rosehill, "care-quality", "pamms"), map[string]any{"rating": "Good"}},
				{http.MethodPost, locPath(rosehill, "gp-practices"), map[string]any{"practice_code": "A81001"}},
				{http.MethodDelete, locPath(rosehill, "notes", "n-1"), nil},
			} {
				e := c.do(tc.method, tc.path, tc.body).wantError(http.StatusPreconditionRequired, "version_required")
				if !strings.Contains(e.Message, "If-Match") || !strings.Contains(e.Message, "expected_version") || !strings.Contains(e.Message, "ETag") {
					t.Errorf("%s %s: message %q, want it to say to send If-Match with the ETag or expected_version", tc.method, tc.path, e.Message)
				}
			}
			w.unchanged("edits without a version", count)
		})

		w.run(t, "IfMatchIsQuotedWeakOrBare_AndMustAgreeWithExpectedVersion", func(t *testing.T) {
			v := c.profile(rosehill).Version
			for i, tag := range []string{etagOf(v), `W/"` + strconv.FormatInt(v+1, 10) + `"`, strconv.FormatInt(v+2, 10)} {
				e := c.do(http.MethodPut, locPath(rosehill, "address"), with(address, "name", fmt.Sprintf("Rosehill %d", i)), "If-Match", tag).
					want(http.StatusOK).edited()
				if e.Version != v+int64(i)+1 {
					t.Errorf("If-Match %s: version %d", tag, e.Version)
				}
			}
			v += 3
			count := w.eventCount()
			e := c.do(http.MethodPut, locPath(rosehill, "address"), with(address, "expected_version", v+1), ifMatch(v)...).
				wantError(http.StatusBadRequest, "version_mismatch")
			if !strings.Contains(e.Message, "If-Match") {
				t.Errorf("message %q", e.Message)
			}
			c.do(http.MethodDelete, locPath(rosehill, "notes", "n-1")+"?expected_version="+strconv.FormatInt(v+1, 10), nil, ifMatch(v)...).
				wantError(http.StatusBadRequest, "version_mismatch")
			for _, bad := range []string{`"seven"`, `*`, `"1", "2"`, `W/7`, `"-1"`, `"+7"`, `"7`, `""`} {
				c.do(http.MethodPut, locPath(rosehill, "address"), address, "If-Match", bad).wantError(http.StatusBadRequest, "invalid_if_match")
			}
			c.put(locPath(rosehill, "address"), with(address, "expected_version", -1)).wantError(http.StatusBadRequest, "invalid_expected_version")
			c.put(locPath(rosehill, "address"), with(address, "expected_version", "7")).wantError(http.StatusBadRequest, "invalid_json")
			c.delete(locPath(rosehill, "notes", "n-1")+"?expected_version=seven").wantError(http.StatusBadRequest, "invalid_expected_version")
			w.unchanged("edits with bad versions", count)
			// Both, agreeing, are fine.
			c.do(http.MethodPut, locPath(rosehill, "address"), with(address, "expected_version", v), ifMatch(v)...).want(http.StatusOK).edited()
		})

		w.run(t, "AStaleVersionIs409WithTheCurrentProfileAndETag_NeverAnOverwrite", func(t *testing.T) {
			seen := c.profile(rosehill)
			// Someone else saves first.
			won := other.do(http.MethodPut, locPath(rosehill, "address"), with(address, "name", "Rosehill House"), ifMatch(seen.Version)...).
				want(http.StatusOK).edited()
			current := c.profile(rosehill)
			count := w.eventCount()

			edits := []struct {
				method, path string
				body         any
			}{
				{http.MethodPut, locPath(rosehill, "address"), with(address, "name", "Rosehill Lodge")},
				{http.MethodPost, locPath(rosehill, "contacts"), managerContact()},
				{http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": "hello"}},
				{http.MethodPut, locPath(rosehill, "classification"), map[string]any{"ownership_type": "NHS"}},
				{http.MethodPut, locPath(rosehill, "care-quality", "pamms"), map[string]any{"rating": "Good"}},
			}
			for _, ed := range edits {
				for _, hdr := range [][]string{ifMatch(seen.Version), nil} {
					body := ed.body
					if hdr == nil {
						body = with(ed.body.(map[string]any), "expected_version", seen.Version)
					}
					r := c.do(ed.method, ed.path, body, hdr...)
					r.wantError(http.StatusConflict, "version_conflict")
					var sb httpapi.StaleVersionBody
					r.decode(&sb)
					if sb.Error.CurrentVersion == nil || *sb.Error.CurrentVersion != won.Version {
						t.Errorf("%s %s: current_version %v, want %d", ed.method, ed.path, sb.Error.CurrentVersion, won.Version)
					}
					if asJSONString(t, sb.Current) != asJSONString(t, current) {
						t.Errorf("%s %s: current =\n%s\nwant\n%s", ed.method, ed.path, asJSONString(t, sb.Current), asJSONString(t, current))
					}
					if got := r.header.Get("ETag"); got != etagOf(won.Version) {
						t.Errorf("%s %s: ETag %q, want %q", ed.method, ed.path, got, etagOf(won.Version))
					}
				}
			}
			c.delete(locPath(rosehill, "notes", "n-1")+"?expected_version="+strconv.FormatInt(seen.Version, 10)).
				wantError(http.StatusConflict, "version_conflict")
			w.unchanged("stale edits", count)
			if p := c.profile(rosehill); p.Address.Name != "Rosehill House" {
				t.Errorf("name = %q, want the first save's", p.Address.Name)
			}
		})

		w.run(t, "AVersionAheadOfTheLocationIs409Too", func(t *testing.T) {
			v := c.profile(rosehill).Version
			count := w.eventCount()
			c.do(http.MethodPut, locPath(rosehill, "address"), address, ifMatch(v+5)...).wantError(http.StatusConflict, "version_conflict")
			w.unchanged("an edit of a future version", count)
		})
	})
}

func TestProviderDetails_CQCOwnedFieldsAre403(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)
		support := w.loginAs(w.support)

		w.run(t, "NamingACQCFieldRefusesTheWholeEdit", func(t *testing.T) {
			v := c.profile(rosehill).Version
			count := w.eventCount()
			for _, tc := range []struct {
				method, path string
				body         map[string]any
				fields       string
			}{
				{http.MethodPut, locPath(rosehill, "classification"), map[string]any{"ownership_type": "NHS", "service_types": []string{"Homecare agencies"}},
					"service_types"},
				{http.MethodPut, locPath(rosehill, "classification"), map[string]any{"specialisms": []string{"Dementia"}}, "specialisms"},
				{http.MethodPut, locPath(rosehill, "address"), with(rosehillAddress(), "public_url", "https://example.org"), "public_url"},
				{http.MethodPut, locPath(rosehill, "address"), with(rosehillAddress(), "Report_URL", "https://example.org", "registration_status", "Registered"),
					"registration_status, report_url"},
				{http.MethodPost, locPath(rosehill, "contacts"), with(managerContact(), "ratings", map[string]string{"overall": "Outstanding"}), "ratings"},
				{http.MethodPost, locPath(rosehill, "notes"), map[string]any{"text": "hello", "report_date": "2020-01-01"}, "report_date"},
				{http.MethodPut, locPath(rosehill, "care-quality", "pamms"), map[string]any{"rating": "Good", "overall": "Outstanding"}, "overall"},
				// Before the strict decoder's 400 for the unknown field.
				{http.MethodPut, locPath(rosehill, "classification"), map[string]any{"well_led": "Good", "bogus": 1}, "well_led"},
			} {
				for _, hdr := range [][]string{ifMatch(v), nil} {
					e := c.do(tc.method, tc.path, tc.body, hdr...).wantError(http.StatusForbidden, "cqc_owned")
					if !strings.Contains(e.Message, tc.fields+" come from CQC") {
						t.Errorf("%s %s: message %q, want it to say %s come from CQC", tc.method, tc.path, e.Message, tc.fields)
					}
				}
			}
			// Support too: CQC's import is the only way in.
			support.do(http.MethodPut, locPath(rosehill, "classification"), map[string]any{"service_types": []string{}}, ifMatch(v)...).
				wantError(http.StatusForbidden, "cqc_owned")
			w.unchanged("edits of CQC's fields", count)
		})

		w.run(t, "MiscDetailsAndCQCRatingsAreCQCsAlone", func(t *testing.T) {
			v := c.profile(rosehill).Version
			count := w.eventCount()
			for _, tc := range []struct {
				method, path string
				body         any
				fields       string
			}{
				{http.MethodPut, locPath(rosehill, "misc"), map[string]any{"report_url": "https://x.example", "public_url": "https://y.example"},
					"public_url, report_url"},
				{http.MethodPatch, locPath(rosehill, "misc"), map[string]any{"public_url": "https://y.example"}, "public_url"},
				{http.MethodPut, locPath(rosehill, "misc"), nil, "report_url, public_url"},
				{http.MethodPut, locPath(rosehill, "care-quality", "cqc"), map[string]any{"overall": "Outstanding", "safe": "Good"}, "overall, safe"},
				{http.MethodPut, locPath(rosehill, "care-quality", "cqc"), map[string]any{"anything": 1}, "ratings, report_date, report_url"},
				{http.MethodPost, locPath(rosehill, "care-quality", "cqc"), rawBody{data: strings.NewReader("{"), contentType: "application/json"},
					"ratings, report_date, report_url"},
			} {
				e := c.do(tc.method, tc.path, tc.body, ifMatch(v)...).wantError(http.StatusForbidden, "cqc_owned")
				if !strings.Contains(e.Message, tc.fields+" come from CQC") {
					t.Errorf("%s %s: message %q, want it to name %s", tc.method, tc.path, e.Message, tc.fields)
				}
			}
			w.unchanged("saves of CQC's sections", count)
		})

		w.run(t, "PAMMSHasItsOwnReportURLAndDate", func(t *testing.T) {
			v := c.profile(rosehill).Version
			c.do(http.MethodPut, locPath(rosehill, "care-quality", "pamms"),
				map[string]any{"report_url": "https://pamms.example.gov.uk/r/1", "report_date": "2025-01-31", "rating": "Poor"}, ifMatch(v)...).
				want(http.StatusOK).edited()
		})
	})
}

// sendRaw is client.do for goroutines: it reports failures as an error
// instead of failing the test from another goroutine.
func (c *client) sendRaw(method, path string, body any, header ...string) (int, http.Header, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequest(method, c.api.url+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(httpapi.CSRFHeader, c.csrf)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func TestProviderDetails_ConcurrentEditsOfOneVersion_OneWinsTheOtherGets409(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		editors := []*client{w.loginAs(w.standardA), w.loginAs(w.approverA)}
		stream := location.LocationStream(rosehill)
		for round := range 4 {
			v := editors[0].profile(rosehill).Version
			if v2 := editors[1].profile(rosehill).Version; v2 != v {
				t.Fatalf("the editors see versions %d and %d", v, v2)
			}
			type answer struct {
				status int
				header http.Header
				body   []byte
				err    error
				name   string
			}
			answers := make([]answer, len(editors))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, c := range editors {
				name := fmt.Sprintf("Rosehill %d-%d", round, i)
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					s, h, b, err := c.sendRaw(http.MethodPut, locPath(rosehill, "address"), with(rosehillAddress(), "name", name), ifMatch(v)...)
					answers[i] = answer{s, h, b, err, name}
				}()
			}
			close(start)
			wg.Wait()

			var won, lost *answer
			for i := range answers {
				a := &answers[i]
				if a.err != nil {
					t.Fatalf("round %d: %v", round, a.err)
				}
				switch a.status {
				case http.StatusOK:
					won = a
				case http.StatusConflict:
					lost = a
				}
			}
			if won == nil || lost == nil {
				t.Fatalf("round %d: answers %d %s and %d %s, want one 200 and one 409", round,
					answers[0].status, answers[0].body, answers[1].status, answers[1].body)
			}
			var e commands.Edited
			if err := json.Unmarshal(won.body, &e); err != nil || e.Version != v+1 || won.header.Get("ETag") != etagOf(v+1) {
				t.Errorf("round %d: winner's answer %s (ETag %s)", round, won.body, won.header.Get("ETag"))
			}
			var sb httpapi.StaleVersionBody
			if err := json.Unmarshal(lost.body, &sb); err != nil {
				t.Fatal(err)
			}
			if sb.Error.Code != "version_conflict" || sb.Current.Version != v+1 || sb.Current.Address.Name != won.name ||
				lost.header.Get("ETag") != etagOf(v+1) {
				t.Errorf("round %d: loser's answer %s (ETag %s), want the winner's %q at version %d", round, lost.body, lost.header.Get("ETag"),
					won.name, v+1)
			}
			if got := w.version(stream); got != v+1 {
				t.Errorf("round %d: the location went from version %d to %d, want one edit", round, v, got)
			}
			if p := editors[0].profile(rosehill); p.Address.Name != won.name {
				t.Errorf("round %d: name %q, want the winner's %q", round, p.Address.Name, won.name)
			}
		}
	})
}
