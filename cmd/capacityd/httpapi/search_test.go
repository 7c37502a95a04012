package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/queries"
)

// searchPath is GET /locations/search with a query.
func searchPath(params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Add(params[i], params[i+1])
	}
	return "/api/v1/locations/search?" + q.Encode()
}

// locationIDs are the ids of a search's answer, in its order.
func (r response) locationIDs() []string {
	r.t.Helper()
	var body struct {
		Locations []queries.LocationSummary `json:"locations"`
	}
	r.decode(&body)
	if body.Locations == nil {
		r.t.Fatalf("%s = %s, want a list of locations", r.req, r.body)
	}
	out := make([]string, len(body.Locations))
	for i, l := range body.Locations {
		out[i] = l.LocationID
	}
	return out
}

func TestLocationSearch(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)

		w.run(t, "ByPostcodeInAnyCaseAndSpacing", func(t *testing.T) {
			for _, pc := range []string{"SR2 7JX", "sr27jx", "  sr2   7JX "} {
				r := c.get(searchPath("postcode", pc)).want(http.StatusOK)
				if ids := r.locationIDs(); !slices.Equal(ids, []string{orgA.loc(0)}) {
					t.Errorf("search by postcode %q = %v, want %s", pc, ids, orgA.loc(0))
				}
			}
			var body struct {
				Locations []queries.LocationSummary `json:"locations"`
			}
			c.get(searchPath("postcode", "SR2 7JZ")).want(http.StatusOK).decode(&body)
			want := queries.LocationSummary{LocationID: orgA.loc(1), Name: "Thorndale", OrganisationID: orgA.ID, OrganisationName: orgA.Name,
				Postcode: "SR2 7JZ", LocalAuthority: "Sunderland", CCG: "NHS Sunderland CCG"}
			if len(body.Locations) != 1 || body.Locations[0] != want {
				t.Errorf("search by postcode = %+v, want %+v", body.Locations, want)
			}
		})

		w.run(t, "ByLocalAuthorityInAnyCase", func(t *testing.T) {
			for _, la := range []string{"Sunderland", "SUNDERLAND", " sunderland "} {
				if ids := c.get(searchPath("local_authority", la)).want(http.StatusOK).locationIDs(); !slices.Equal(ids, []string{orgA.loc(0), orgA.loc(1)}) {
					t.Errorf("search by local authority %q = %v, want A's locations by name", la, ids)
				}
			}
			if ids := c.get(searchPath("local_authority", "Sutton")).want(http.StatusOK).locationIDs(); !slices.Equal(ids, []string{orgB.loc(1)}) {
				t.Errorf("search by local authority Sutton = %v, want %s", ids, orgB.loc(1))
			}
			// The name must match whole.
			if ids := c.get(searchPath("local_authority", "Sunder")).want(http.StatusOK).locationIDs(); len(ids) != 0 {
				t.Errorf("search by part of a local authority = %v, want none", ids)
			}
		})

		w.run(t, "ByCCGInAnyCase", func(t *testing.T) {
			for _, ccg := range []string{"NHS South West London CCG", "nhs south west london ccg"} {
				if ids := c.get(searchPath("ccg", ccg)).want(http.StatusOK).locationIDs(); !slices.Equal(ids, []string{orgB.loc(0), orgB.loc(1)}) {
					t.Errorf("search by CCG %q = %v, want B's locations by name", ccg, ids)
				}
			}
			if ids := c.get(searchPath("ccg", "NHS Devon CCG")).want(http.StatusOK).locationIDs(); !slices.Equal(ids, []string{orgC.loc(0)}) {
				t.Errorf("search by CCG NHS Devon CCG = %v, want %s", ids, orgC.loc(0))
			}
		})

		w.run(t, "NoMatchIsAnEmptyList", func(t *testing.T) {
			r := c.get(searchPath("postcode", "ZE1 0AA")).want(http.StatusOK)
			if !bytes.Contains(r.body, []byte(`"locations":[]`)) {
				t.Errorf("search without a match = %s, want an empty list", r.body)
			}
		})

		w.run(t, "LimitCapsTheAnswer", func(t *testing.T) {
			if ids := c.get(searchPath("ccg", "NHS South West London CCG", "limit", "1")).want(http.StatusOK).locationIDs(); !slices.Equal(ids, []string{orgB.loc(0)}) {
				t.Errorf("search with limit 1 = %v, want the first by name", ids)
			}
			for _, l := range []string{"0", "-1", "ten"} {
				e := c.get(searchPath("ccg", "NHS South West London CCG", "limit", l)).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if !slices.Equal(fieldNames(e), []string{"limit"}) {
					t.Errorf("limit %q: fields = %v, want limit", l, fieldNames(e))
				}
			}
		})

		w.run(t, "NeedsExactlyOneCriterion", func(t *testing.T) {
			for _, params := range [][]string{
				nil,
				{"local_authority", "  "},
				{"postcode", "SR2 7JX", "ccg", "NHS Sunderland CCG"},
				{"local_authority", "Sunderland", "ccg", "NHS Sunderland CCG"},
				{"postcode", "SR2 7JX", "local_authority", "Sunderland", "ccg", "NHS Sunderland CCG"},
			} {
				e := c.get(searchPath(params...)).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if !slices.Equal(fieldCodes(e), []string{"search:one_criterion"}) {
					t.Errorf("search %v: fields = %v, want search:one_criterion", params, fieldCodes(e))
				}
			}
			e := c.get(searchPath("postcode", "not a postcode")).wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldCodes(e), []string{"postcode:invalid_postcode"}) {
				t.Errorf("search by a bad postcode: fields = %v", fieldCodes(e))
			}
		})

		w.run(t, "NeedsALogin", func(t *testing.T) {
			w.newClient().get(searchPath("postcode", "SR2 7JX")).wantError(http.StatusUnauthorized, "unauthenticated")
			w.newClient().get(searchPath()).wantError(http.StatusUnauthorized, "unauthenticated")
		})
	})
}

// userKeys are the JSON keys of each user of a users list.
func (r response) users() (list []queries.UserSummary, keys [][]string) {
	r.t.Helper()
	var raw struct {
		Users []map[string]json.RawMessage `json:"users"`
	}
	r.decode(&raw)
	r.decode(&struct {
		Users *[]queries.UserSummary `json:"users"`
	}{&list})
	for _, u := range raw.Users {
		k := make([]string, 0, len(u))
		for key := range u {
			k = append(k, key)
		}
		slices.Sort(k)
		keys = append(keys, k)
	}
	return list, keys
}

func names(us []queries.UserSummary) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.FullName
	}
	return out
}

func TestLocationUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA, approverB, support := w.loginAs(w.approverA), w.loginAs(w.approverB), w.loginAs(w.support)
		standardA := w.loginAs(w.standardA)
		path := func(loc string) string { return "/api/v1/locations/" + loc + "/users" }

		// A's first location: approverA, standardA, locked and genericA.
		// Its second: genericA and the deactivated user.
		w.run(t, "TheOrganisationsApproverAndSupportSeeEachUsersDetails", func(t *testing.T) {
			for _, c := range []*client{approverA, support} {
				us, _ := c.get(path(orgA.loc(0))).want(http.StatusOK).users()
				if got := names(us); !slices.Equal(got, []string{"Lock Ed", "Rosa Hill", "Rosehill Office", "Stan Dard"}) {
					t.Fatalf("users of %s = %v", orgA.loc(0), got)
				}
				rosa := us[1]
				if rosa.UserID != w.approverA.ID.String() || rosa.Email != w.approverA.Email || rosa.Role != "approver" ||
					rosa.Status != "active" || rosa.Kind != "personal" || !slices.Equal(rosa.Locations, []string{orgA.loc(0)}) {
					t.Errorf("approverA as listed = %+v", rosa)
				}
				if office := us[2]; office.Email != w.genericA.Email || office.Kind != "generic" ||
					!slices.Equal(office.Locations, []string{orgA.loc(0), orgA.loc(1)}) {
					t.Errorf("genericA as listed = %+v, want both of A's locations", office)
				}
				// The full view includes users who are not active.
				us, _ = c.get(path(orgA.loc(1))).want(http.StatusOK).users()
				i := slices.Index(names(us), w.deactivated.Name)
				if i < 0 || us[i].Status != "deactivated" || us[i].Email != w.deactivated.Email {
					t.Errorf("users of %s = %+v, want the deactivated user with details", orgA.loc(1), us)
				}
			}
		})

		w.run(t, "AUserWithAccessSeesTheNamesAndRolesOfActiveUsersOnly", func(t *testing.T) {
			r := standardA.get(path(orgA.loc(0))).want(http.StatusOK)
			us, keys := r.users()
			if got := names(us); !slices.Equal(got, []string{"Lock Ed", "Rosa Hill", "Rosehill Office", "Stan Dard"}) {
				t.Errorf("users of %s for standardA = %v", orgA.loc(0), got)
			}
			for i, k := range keys {
				if !slices.Equal(k, []string{"full_name", "role"}) {
					t.Errorf("user %d for standardA has %v, want full_name and role only", i, k)
				}
			}
			if bytes.Contains(r.body, []byte("@")) || bytes.Contains(r.body, []byte(w.approverA.ID.String())) {
				t.Errorf("standardA sees details: %s", r.body)
			}
			if us[1].Role != "approver" || us[3].Role != "standard" {
				t.Errorf("roles for standardA = %+v", us)
			}

			// A user approved for A's second location sees its active
			// users, not the deactivated one.
			pos := approverA.decide(w.pendingA, orgA.ID, "approve", "").want(http.StatusOK).position()
			penny := user{ID: w.pendingA.UserID, Email: w.pendingA.Email, Name: "Penny Ending", Password: newPassword()}
			w.setPasswordByLink(w.linkToken(penny.ID), penny.Password).want(http.StatusOK)
			us, _ = w.loginAs(penny).getAt(path(orgA.loc(1)), pos).want(http.StatusOK).users()
			if got := names(us); !slices.Equal(got, []string{"Penny Ending", "Rosehill Office"}) {
				t.Errorf("users of %s for a new user = %v, want the active ones", orgA.loc(1), got)
			}
		})

		w.run(t, "AnybodyElseIsRefused", func(t *testing.T) {
			standardA.get(path(orgA.loc(1))).wantError(http.StatusForbidden, "forbidden")
			approverB.get(path(orgA.loc(0))).wantError(http.StatusForbidden, "forbidden")
			approverA.get(path(orgB.loc(0))).wantError(http.StatusForbidden, "forbidden")
			w.newClient().get(path(orgA.loc(0))).wantError(http.StatusUnauthorized, "unauthenticated")
		})

		w.run(t, "AnUnknownLocationIsNotFound", func(t *testing.T) {
			for _, c := range []*client{approverA, standardA, support} {
				c.get(path("1-999999999")).wantError(http.StatusNotFound, "not_found")
			}
		})
	})
}

func TestAPIToken_IsRefusedFrom365DaysAfterItsCreation(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.approverA)
		var created struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		at := w.clock.Now()
		c.post("/api/v1/me/api-tokens", map[string]string{"name": "Nightly search"}).want(http.StatusCreated).decode(&created)
		w.secrets.add("API token", created.Token)
		if !created.ExpiresAt.Equal(at.Add(365 * 24 * time.Hour)) {
			t.Fatalf("token expires at %s, want 365 days after %s", created.ExpiresAt, at)
		}
		bot := w.newClient()
		bot.bearer = created.Token
		search := searchPath("local_authority", "Sunderland")

		w.run(t, "ValidUntilItsLastMinute", func(t *testing.T) {
			bot.get(search).want(http.StatusOK)
			w.clock.Advance(365*24*time.Hour - time.Minute)
			bot.get(search).want(http.StatusOK)
			bot.get("/api/v1/locations/" + orgA.loc(0) + "/users").want(http.StatusOK)
		})

		w.run(t, "RefusedOnceExpired", func(t *testing.T) {
			w.clock.Advance(time.Minute)
			bot.get(search).wantError(http.StatusUnauthorized, "unauthenticated")
			bot.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			w.clock.Advance(24 * time.Hour)
			bot.get(search).wantError(http.StatusUnauthorized, "unauthenticated")
		})
	})
}
