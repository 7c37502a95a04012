package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// The access table of provider details: every role of roles_test.go, and
// a generic account that has not acknowledged the disclaimer, against
// every endpoint of the Edit Provider and Care Quality pages. An edit is
// allowed to the users with access to the location and to support; a
// refused one leaves the log untouched.

var (
	disclaimerFirst = outcome{status: http.StatusForbidden, code: "disclaimer_required"}
	cqcRefused      = outcome{status: http.StatusForbidden, code: "cqc_owned"}
)

// roleGenericUnacknowledged is the extra column: a generic account of A's
// first location, logged in, the disclaimer not yet acknowledged.
const roleGenericUnacknowledged = roleCount

var locationRoleNames = [roleCount + 1]string{
	"StandardA", "ApproverA", "ApproverB", "Support", "GenericA", "Deactivated", "Locked", "ExpiredPassword", "Anonymous",
	"GenericBeforeDisclaimer",
}

// locationEndpoint is a row of the table.
type locationEndpoint struct {
	name, method string
	target       func(t *testing.T, w *roleWorld) target
	want         [roleCount + 1]outcome
}

// Columns: StandardA, ApproverA, ApproverB, Support, GenericA, Deactivated,
// Locked, ExpiredPassword, Anonymous, GenericBeforeDisclaimer.
var (
	// readsOfRosehill: the users with access to Rosehill and support.
	readsOfRosehill = [roleCount + 1]outcome{sees, sees, forbidden, sees, sees, unauth, unauth, sees, unauth, sees}
	// editsOfRosehill: the same, once they may change things.
	editsOfRosehill = [roleCount + 1]outcome{changed, changed, forbidden, changed, changed, unauth, unauth, mustChange, unauth, disclaimerFirst}
	// createsAtRosehill: as editsOfRosehill, answered 201.
	createsAtRosehill = [roleCount + 1]outcome{created, created, forbidden, created, created, unauth, unauth, mustChange, unauth, disclaimerFirst}
)

// version is a location's current version, as an edit must name it.
func (w *roleWorld) locationVersion(id string) int64 { return w.version(location.LocationStream(id)) }

// systemEdit runs an edit's command as the system, to prepare a target.
func systemEdit(t *testing.T, edit func(ctx context.Context, sys commands.Actor) (commands.Edited, error)) commands.Edited {
	t.Helper()
	res, err := edit(context.Background(), commands.System("test"))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// freshContact adds a contact to a location and returns its id.
func (w *roleWorld) freshContact(t *testing.T, locID string) string {
	t.Helper()
	res := systemEdit(t, func(ctx context.Context, sys commands.Actor) (commands.Edited, error) {
		return w.accounts.AddContact(ctx, sys, location.AddContact{LocationID: locID, ExpectedVersion: w.locationVersion(locID),
			Contact: location.ContactInput{Role: "Pharmacy", OrganisationName: "Boots", Phones: "0191 496 0000"}})
	})
	return res.ID
}

// freshNote adds a note to a location and returns its id.
func (w *roleWorld) freshNote(t *testing.T, locID string) string {
	t.Helper()
	res := systemEdit(t, func(ctx context.Context, sys commands.Actor) (commands.Edited, error) {
		return w.accounts.AddNote(ctx, sys, location.AddNote{LocationID: locID, ExpectedVersion: w.locationVersion(locID), Text: "24 hour service"})
	})
	return res.ID
}

// freshPractice registers a GP practice; linked, it is linked to the
// location too.
func (w *roleWorld) freshPractice(t *testing.T, locID string, linked bool) string {
	t.Helper()
	code := w.id("P")
	w.registerGPPractice(code, "Practice "+code)
	if linked {
		systemEdit(t, func(ctx context.Context, sys commands.Actor) (commands.Edited, error) {
			return w.accounts.LinkGPPractice(ctx, sys, location.LinkGPPractice{LocationID: locID, ExpectedVersion: w.locationVersion(locID),
				PracticeCode: code})
		})
	}
	return code
}

// atVersion adds the location's current version to a body.
func (w *roleWorld) atVersion(locID string, body map[string]any) map[string]any {
	return with(body, "expected_version", w.locationVersion(locID))
}

// deleteAt is the path of a DELETE at the location's current version.
func (w *roleWorld) deleteAt(locID, path string) string {
	return path + "?expected_version=" + strconv.FormatInt(w.locationVersion(locID), 10)
}

func locationEndpoints() []locationEndpoint {
	thorndale := orgA.loc(1)
	return []locationEndpoint{
		{"ReadRosehillsProfile", http.MethodGet, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill), marker: `"location_id":"` + rosehill + `"`}
		}, readsOfRosehill},
		{"ReadRosehillsCareQuality", http.MethodGet, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "care-quality"), marker: "Unknown rating"}
		}, readsOfRosehill},
		{"EditRosehillsAddress", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "address"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, with(rosehillAddress(), "name", w.id("Rosehill ")))}
		}, editsOfRosehill},
		{"AddAContactToRosehill", http.MethodPost, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "contacts"), stream: location.LocationStream(rosehill), body: w.atVersion(rosehill, managerContact())}
		}, createsAtRosehill},
		{"UpdateAContactOfRosehill", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			id := w.freshContact(t, rosehill)
			return target{path: locPath(rosehill, "contacts", id), stream: location.LocationStream(rosehill), body: w.atVersion(rosehill, managerContact())}
		}, editsOfRosehill},
		{"RemoveAContactOfRosehill", http.MethodDelete, func(t *testing.T, w *roleWorld) target {
			id := w.freshContact(t, rosehill)
			return target{path: w.deleteAt(rosehill, locPath(rosehill, "contacts", id)), stream: location.LocationStream(rosehill)}
		}, editsOfRosehill},
		{"LinkAGPPracticeToRosehill", http.MethodPost, func(t *testing.T, w *roleWorld) target {
			code := w.freshPractice(t, rosehill, false)
			return target{path: locPath(rosehill, "gp-practices"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"practice_code": code})}
		}, createsAtRosehill},
		{"UnlinkAGPPracticeFromRosehill", http.MethodDelete, func(t *testing.T, w *roleWorld) target {
			code := w.freshPractice(t, rosehill, true)
			return target{path: w.deleteAt(rosehill, locPath(rosehill, "gp-practices", code)), stream: location.LocationStream(rosehill)}
		}, editsOfRosehill},
		{"EditRosehillsClassification", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			types := location.OwnershipTypes()
			return target{path: locPath(rosehill, "classification"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"ownership_type": types[w.n%len(types)]})}
		}, editsOfRosehill},
		{"AddANoteToRosehill", http.MethodPost, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "notes"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"text": w.id("Note ")})}
		}, createsAtRosehill},
		{"EditANoteOfRosehill", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			id := w.freshNote(t, rosehill)
			return target{path: locPath(rosehill, "notes", id), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"text": w.id("Edited ")})}
		}, editsOfRosehill},
		{"DeleteANoteOfRosehill", http.MethodDelete, func(t *testing.T, w *roleWorld) target {
			id := w.freshNote(t, rosehill)
			return target{path: w.deleteAt(rosehill, locPath(rosehill, "notes", id)), stream: location.LocationStream(rosehill)}
		}, editsOfRosehill},
		{"EditRosehillsPAMMS", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			ratings := location.PAMMSRatings()
			return target{path: locPath(rosehill, "care-quality", "pamms"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"rating": ratings[w.n%len(ratings)], "report_url": "https://pamms.example.gov.uk/r/" + w.id("")})}
		}, editsOfRosehill},

		// Thorndale, A's second location: StandardA and ApproverA have no
		// access to it; the generic account of A's both locations has.
		{"EditThorndalesAddress", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(thorndale, "address"), stream: location.LocationStream(thorndale),
				body: w.atVersion(thorndale, map[string]any{"name": w.id("Thorndale "), "address_line1": "8 Thornhill Park", "postcode": "SR2 7JZ"})}
		}, [roleCount + 1]outcome{forbidden, forbidden, forbidden, changed, changed, unauth, unauth, mustChange, unauth, disclaimerFirst}},
		{"ReadThorndalesProfile", http.MethodGet, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(thorndale), marker: `"location_id":"` + thorndale + `"`}
		}, [roleCount + 1]outcome{forbidden, forbidden, forbidden, sees, sees, unauth, unauth, forbidden, unauth, forbidden}},

		// A location nobody registered is 404 to everyone logged in.
		{"EditAnUnknownLocation", http.MethodPost, func(t *testing.T, w *roleWorld) target {
			id := w.id("1-7")
			return target{path: locPath(id, "notes"), stream: location.LocationStream(id), body: map[string]any{"text": "hello", "expected_version": 1}}
		}, [roleCount + 1]outcome{notFound, notFound, notFound, notFound, notFound, unauth, unauth, notFound, unauth, notFound}},

		// The COVID-19 Update (Daily) page.
		{"ReadRosehillsDailyUpdate", http.MethodGet, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "daily-update"), marker: `"location_id":"` + rosehill + `"`}
		}, readsOfRosehill},
		{"SubmitRosehillsDailyUpdate", http.MethodPost, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "daily-update"), stream: dailyupdate.Stream(rosehill), body: dailyUpdateBody()}
		}, createsAtRosehill},
		{"SubmitUnknownLocationsDailyUpdate", http.MethodPost, func(t *testing.T, w *roleWorld) target {
			id := w.id("1-7")
			return target{path: locPath(id, "daily-update"), stream: dailyupdate.Stream(id), body: dailyUpdateBody()}
		}, [roleCount + 1]outcome{notFound, notFound, notFound, notFound, notFound, unauth, unauth, notFound, unauth, notFound}},

		// CQC's fields: refused to everyone, support included.
		{"SaveRosehillsMiscDetails", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "misc"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"public_url": "https://example.org"})}
		}, [roleCount + 1]outcome{cqcRefused, cqcRefused, cqcRefused, cqcRefused, cqcRefused, unauth, unauth, cqcRefused, unauth, cqcRefused}},
		{"SaveRosehillsServiceTypes", http.MethodPut, func(t *testing.T, w *roleWorld) target {
			return target{path: locPath(rosehill, "classification"), stream: location.LocationStream(rosehill),
				body: w.atVersion(rosehill, map[string]any{"ownership_type": "NHS", "service_types": []string{"Homecare agencies"}})}
		}, [roleCount + 1]outcome{cqcRefused, cqcRefused, cqcRefused, cqcRefused, cqcRefused, unauth, unauth, cqcRefused, unauth, cqcRefused}},
	}
}

// addUnacknowledgedGeneric logs in a new generic account of Rosehill
// without acknowledging the disclaimer.
func (w *roleWorld) addUnacknowledgedGeneric(t *testing.T) {
	t.Helper()
	email := w.email("rosehill.night")
	gen, err := w.accounts.CreateGenericAccount(context.Background(), commands.System("test"), account.CreateGeneric{
		Email: email, DisplayName: "Rosehill Night Shift", OrganisationID: orgA.ID, LocationIDs: []string{rosehill}})
	if err != nil {
		t.Fatal(err)
	}
	w.secrets.add("initial password", gen.InitialPassword)
	c := w.newClient()
	var lb loginBody
	c.login(email, gen.InitialPassword, false).want(http.StatusCreated).decode(&lb)
	if !lb.DisclaimerRequired {
		t.Fatalf("login = %+v, want the disclaimer", lb)
	}
	w.clients[roleGenericUnacknowledged] = c
}

func TestRoles_ProviderDetails_OnlyUsersWithAccessAndSupportEdit(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		for _, expired := range []bool{false, true} {
			name := backend + "/current"
			if expired {
				name = backend + "/a_year_later"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := newRoleWorld(t, backend, expired)
				if !expired {
					w.addUnacknowledgedGeneric(t)
				}
				for _, ep := range locationEndpoints() {
					for role := range roleCount + 1 {
						c, ok := w.clients[role]
						if !ok {
							continue
						}
						w.run(t, ep.name+"/"+locationRoleNames[role], func(t *testing.T) {
							checkLocationCell(t, w, ep, role, c)
						})
					}
				}
			})
		}
	}
}

func checkLocationCell(t *testing.T, w *roleWorld, ep locationEndpoint, role int, c *client) {
	tg := ep.target(t, w)
	want := ep.want[role]
	count := w.eventCount()
	var version int64
	if tg.stream != "" {
		version = w.version(tg.stream)
	}

	r := c.do(ep.method, tg.path, tg.body)
	if want.refused() {
		r.wantError(want.status, want.code)
	} else {
		r.want(want.status)
	}

	switch {
	case tg.stream == "":
		w.unchanged(ep.name+" (a read)", count)
		if shows := bytes.Contains(r.body, []byte(tg.marker)); r.status < 300 && shows != want.sees {
			t.Errorf("%s as %s shows %q: %v, want %v (%s)", ep.name, locationRoleNames[role], tg.marker, shows, want.sees, r.body)
		}
	case want.refused():
		w.unchanged(ep.name+" refused", count)
		if v := w.version(tg.stream); v != version {
			t.Errorf("refused %s moved %s from version %d to %d", ep.name, tg.stream, version, v)
		}
	default:
		if v := w.version(tg.stream); v != version+1 {
			t.Errorf("allowed %s moved %s from version %d to %d, want one event", ep.name, tg.stream, version, v)
		}
		evs := w.stream(tg.stream)
		if md := evs[len(evs)-1].Metadata; md.SessionID != c.sessionID || md.ActorUserID != c.userID {
			t.Errorf("%s as %s: metadata %+v, want the caller's session %s", ep.name, locationRoleNames[role], md, c.sessionID)
		}
	}
}
