package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/queries"
)

// The views over locations, driven over HTTP: the provider search (public,
// or the caller's view when logged in), the home care list, the provider
// dashboard, the GP practice search, and their XLSX downloads.

// viewPath is a view's path with query parameters (name, value pairs).
func viewPath(path string, params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Add(params[i], params[i+1])
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// editAsSystem runs a provider-details command as the system at the location's
// current version, and waits for the views to apply it.
func (w *world) editAsSystem(locationID string, cmd func(ctx context.Context, sys commands.Actor, version int64) (commands.Edited, error)) int64 {
	w.t.Helper()
	ctx := context.Background()
	sys := commands.System("test")
	p, err := w.accounts.LocationProfile(ctx, sys, locationID)
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := cmd(ctx, sys, p.Version)
	if err != nil {
		w.t.Fatalf("edit %s: %v", locationID, err)
	}
	w.sync(res.Position)
	return res.Position
}

func (w *world) addContactAsSystem(locationID string, c location.ContactInput) int64 {
	w.t.Helper()
	return w.editAsSystem(locationID, func(ctx context.Context, sys commands.Actor, v int64) (commands.Edited, error) {
		return w.accounts.AddContact(ctx, sys, location.AddContact{LocationID: locationID, ExpectedVersion: v, Contact: c})
	})
}

// importCQCRecord imports a CQC record for a location of the world.
func (w *world) importCQCRecord(rec location.CQCRecord) {
	w.t.Helper()
	sum, err := w.accounts.ImportCQC(context.Background(), commands.System("test"), []location.CQCRecord{rec})
	if err != nil || sum.Rejected > 0 {
		w.t.Fatalf("import %s: %+v, %v", rec.LocationID, sum, err)
	}
	w.sync(sum.Position)
}

// providerPage is the answer of GET /providers.
func (r response) providerPage() queries.ProviderPage {
	r.t.Helper()
	var p queries.ProviderPage
	r.want(http.StatusOK).decode(&p)
	return p
}

func rowIDs(rows []queries.ProviderRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.LocationID
	}
	return out
}

func TestProviders_ShowPublicContactsUnlessTheCallerHasAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		loc := orgA.loc(0)
		w.addContactAsSystem(loc, location.ContactInput{Role: "Manager", Name: "Rosa Hill", Phones: "0191 555 0100",
			Email: "rosa.hill@rosehill.example.org", Public: true})
		w.addContactAsSystem(loc, location.ContactInput{Role: "Plumber", Name: "Pete Pipes", Phones: "0191 555 0199"})
		path := viewPath("/api/v1/providers", "postcode", "SR2 7JX")

		for _, c := range []struct {
			name   string
			client *client
			all    bool
		}{
			{"anonymous", w.newClient(), false},
			{"another organisation's Approver", w.loginAs(w.approverB), false},
			{"a user of the location", w.loginAs(w.standardA), true},
			{"support", w.loginAs(w.support), true},
		} {
			w.run(t, c.name, func(t *testing.T) {
				p := c.client.get(path).providerPage()
				if !slices.Equal(rowIDs(p.Entries), []string{loc}) {
					t.Fatalf("entries %v, want %s", rowIDs(p.Entries), loc)
				}
				var roles []string
				for _, ct := range p.Entries[0].Contacts {
					roles = append(roles, ct.Role)
				}
				want := []string{"Manager"}
				if c.all {
					want = []string{"Manager", "Plumber"}
				}
				if !slices.Equal(roles, want) || p.Entries[0].AllContacts != c.all {
					t.Errorf("contacts %v (all %v), want %v", roles, p.Entries[0].AllContacts, want)
				}
			})
		}

		w.run(t, "BearerTokenIsTheCallersView", func(t *testing.T) {
			c := w.loginAs(w.standardA)
			var tok struct {
				Token string `json:"token"`
			}
			c.post("/api/v1/me/api-tokens", map[string]string{"name": "views"}).want(http.StatusCreated).decode(&tok)
			w.secrets.add("api token", tok.Token)
			m := w.newClient()
			m.bearer = tok.Token
			if p := m.get(path).providerPage(); len(p.Entries) != 1 || !p.Entries[0].AllContacts {
				t.Errorf("with the user's token: %+v", p.Entries)
			}
		})

		w.run(t, "ABadTokenIs401", func(t *testing.T) {
			m := w.newClient()
			m.bearer = "ctk_not-a-token"
			m.get(path).wantError(http.StatusUnauthorized, "unauthenticated")
			m.get(viewPath("/api/v1/providers.xlsx")).wantError(http.StatusUnauthorized, "unauthenticated")
			c := w.newClient()
			c.do(http.MethodGet, path, nil, "Cookie", "ct_session=expired-or-forged").wantError(http.StatusUnauthorized, "unauthenticated")
		})
	})
}

func TestProviders_FilterSortAndPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		anon := w.newClient()
		all := []string{orgA.loc(0), orgA.loc(1), orgB.loc(0), orgB.loc(1), orgC.loc(0)}

		w.run(t, "Filters", func(t *testing.T) {
			for _, c := range []struct {
				params []string
				want   []string
			}{
				{nil, []string{orgB.loc(0), orgB.loc(1), orgC.loc(0), orgA.loc(0), orgA.loc(1)}}, // by name
				{[]string{"local_authority", "sunderland"}, []string{orgA.loc(0), orgA.loc(1)}},
				{[]string{"ccg", "NHS South West London CCG"}, []string{orgB.loc(0), orgB.loc(1)}},
				{[]string{"organisation_id", orgC.ID}, []string{orgC.loc(0)}},
				{[]string{"organisation_type", "care_home", "postcode", "cr8"}, []string{orgB.loc(0)}},
				{[]string{"q", "foxley"}, []string{orgB.loc(0)}},
				{[]string{"q", "sm6 0"}, []string{orgB.loc(1)}},
				{[]string{"rating", "unknown", "q", "sr27jz"}, []string{orgA.loc(1)}},
				{[]string{"q", "rosehill"}, []string{orgA.loc(0), orgA.loc(1)}}, // the organisation's name
				{[]string{"registration_status", "deregistered"}, []string{}},
			} {
				p := anon.get(viewPath("/api/v1/providers", c.params...)).providerPage()
				if got := rowIDs(p.Entries); !slices.Equal(got, c.want) {
					t.Errorf("%v: %v, want %v", c.params, got, c.want)
				}
			}
		})

		w.run(t, "SortAndPage", func(t *testing.T) {
			p := anon.get(viewPath("/api/v1/providers", "sort", "postcode", "dir", "desc", "page_size", "10")).providerPage()
			// SR2 7JZ, SR2 7JX, SM6 0RT, EX31 1PQ, CR8 3EH
			want := []string{orgA.loc(1), orgA.loc(0), orgB.loc(1), orgC.loc(0), orgB.loc(0)}
			if got := rowIDs(p.Entries); !slices.Equal(got, want) || p.Total != 5 || p.Showing != "Showing 1 to 5 of 5 entries" {
				t.Errorf("by postcode, descending: %v (%q), want %v", got, p.Showing, want)
			}
			var ids []string
			for page := 1; page <= 2; page++ {
				p := anon.get(viewPath("/api/v1/providers", "page_size", "10", "page", strconv.Itoa(page))).providerPage()
				ids = append(ids, rowIDs(p.Entries)...)
			}
			slices.Sort(ids)
			slices.Sort(all)
			if !slices.Equal(ids, all) {
				t.Errorf("pages hold %v", ids)
			}
			p = anon.get(viewPath("/api/v1/providers", "page", "2")).providerPage()
			if len(p.Entries) != 0 || p.Showing != "Showing 0 to 0 of 5 entries" {
				t.Errorf("page 2 of 1: %+v", p)
			}
		})

		w.run(t, "BadParametersAre422", func(t *testing.T) {
			for _, c := range []struct {
				params []string
				field  string
			}{
				{[]string{"page_size", "20"}, "page_size"},
				{[]string{"page_size", "ten"}, "page_size"},
				{[]string{"page", "0x1"}, "page"},
				{[]string{"sort", "size"}, "sort"},
				{[]string{"dir", "sideways"}, "dir"},
				{[]string{"nhs_region", "Wales"}, "nhs_region"},
				{[]string{"min_position", "-1"}, "min_position"},
			} {
				for _, path := range []string{"/api/v1/providers", "/api/v1/providers.xlsx"} {
					e := anon.get(viewPath(path, c.params...)).wantError(http.StatusUnprocessableEntity, "validation_failed")
					if got := fieldNames(e); !slices.Equal(got, []string{c.field}) {
						t.Errorf("%s %v: fields %v, want %s", path, c.params, got, c.field)
					}
				}
			}
			c := w.loginAs(w.standardA)
			for _, path := range []string{"/api/v1/home-care", "/api/v1/home-care.xlsx", "/api/v1/dashboard", "/api/v1/dashboard.xlsx"} {
				e := c.get(viewPath(path, "page_size", "20")).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if got := fieldNames(e); !slices.Equal(got, []string{"page_size"}) {
					t.Errorf("%s: fields %v", path, got)
				}
			}
		})

		w.run(t, "ReadYourWrites", func(t *testing.T) {
			pos := w.editAsSystem(orgC.loc(0), func(ctx context.Context, sys commands.Actor, v int64) (commands.Edited, error) {
				return w.accounts.EditClassification(ctx, sys, location.EditClassification{LocationID: orgC.loc(0), ExpectedVersion: v,
					OwnershipType: "Voluntary / Not for profit"})
			})
			p := anon.getAt(viewPath("/api/v1/providers", "ownership_type", "voluntary / not for profit"), pos).providerPage()
			if !slices.Equal(rowIDs(p.Entries), []string{orgC.loc(0)}) {
				t.Errorf("after the edit: %v", rowIDs(p.Entries))
			}
		})
	})
}

func TestHomeCare_ListsEachRolesLocations(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		for _, c := range []struct {
			name string
			u    user
			want []string
		}{
			{"ApproverA", w.approverA, []string{orgA.loc(0)}},
			{"StandardA", w.standardA, []string{orgA.loc(0)}},
			{"GenericA", w.genericA, []string{orgA.loc(0), orgA.loc(1)}},
			{"ApproverB", w.approverB, []string{orgB.loc(0)}},
			{"Support", w.support, []string{orgB.loc(0), orgB.loc(1), orgC.loc(0), orgA.loc(0), orgA.loc(1)}},
		} {
			w.run(t, c.name, func(t *testing.T) {
				var p queries.HomeCarePage
				w.loginAs(c.u).get("/api/v1/home-care").want(http.StatusOK).decode(&p)
				var ids []string
				for _, e := range p.Entries {
					ids = append(ids, e.LocationID)
				}
				if !slices.Equal(ids, c.want) {
					t.Errorf("home care list %v, want %v", ids, c.want)
				}
			})
		}
		w.run(t, "EntriesLinkToTheLocationsPages", func(t *testing.T) {
			var p queries.HomeCarePage
			w.loginAs(w.genericA).get(viewPath("/api/v1/home-care", "q", "SR2 7JZ")).want(http.StatusOK).decode(&p)
			want := queries.HomeCareEntry{LocationID: orgA.loc(1), Name: "Thorndale", Postcode: "SR2 7JZ", Label: "Thorndale (SR27JZ)",
				OrganisationID: orgA.ID, OrganisationName: orgA.Name, RegistrationStatus: "Registered",
				Links: queries.LocationLinks{Edit: "/api/v1/locations/" + orgA.loc(1), DailyUpdate: "/api/v1/locations/" + orgA.loc(1) + "/daily-update",
					CareQuality: "/api/v1/locations/" + orgA.loc(1) + "/care-quality"}}
			if len(p.Entries) != 1 || p.Entries[0] != want || p.Showing != "Showing 1 to 1 of 1 entries" {
				t.Errorf("home care list = %+v, want %+v", p, want)
			}
		})
		w.run(t, "FiltersOfTheList", func(t *testing.T) {
			c := w.loginAs(w.support)
			var p queries.HomeCarePage
			c.get(viewPath("/api/v1/home-care", "organisation_id", orgB.ID, "page_size", "25")).want(http.StatusOK).decode(&p)
			if p.Total != 2 {
				t.Errorf("parent organisation B: %d entries", p.Total)
			}
			c.get(viewPath("/api/v1/home-care", "ownership_type", "NHS")).want(http.StatusOK).decode(&p)
			if p.Total != 0 || p.Showing != "Showing 0 to 0 of 0 entries" {
				t.Errorf("ownership NHS: %+v", p)
			}
			c.get(viewPath("/api/v1/home-care", "nhs_region", "Bogus")).wantError(http.StatusUnprocessableEntity, "validation_failed")
			// The list's sorts: its columns, either way round.
			var asc, desc queries.HomeCarePage
			c.get(viewPath("/api/v1/home-care", "organisation_id", orgB.ID, "sort", "name")).want(http.StatusOK).decode(&asc)
			c.get(viewPath("/api/v1/home-care", "organisation_id", orgB.ID, "sort", "name", "dir", "desc")).want(http.StatusOK).decode(&desc)
			if len(asc.Entries) != 2 || len(desc.Entries) != 2 || asc.Entries[0].LocationID != desc.Entries[1].LocationID ||
				asc.Entries[1].LocationID != desc.Entries[0].LocationID || asc.Entries[0].Name > asc.Entries[1].Name {
				t.Errorf("by name: %+v, then descending %+v", asc.Entries, desc.Entries)
			}
			c.get(viewPath("/api/v1/home-care", "sort", "postcode")).wantError(http.StatusUnprocessableEntity, "validation_failed")
		})
		w.run(t, "AnonymousIs401", func(t *testing.T) {
			for _, path := range []string{"/api/v1/home-care", "/api/v1/home-care.xlsx", "/api/v1/dashboard", "/api/v1/dashboard.xlsx",
				"/api/v1/locations/" + orgA.loc(0) + "/dashboard", "/api/v1/gp-practices?q=acklam"} {
				w.newClient().get(path).wantError(http.StatusUnauthorized, "unauthenticated")
			}
		})
	})
}

func TestDashboard_FlagsWhatNeedsDoing(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		loc := orgA.loc(0)
		dashboard := func(c *client, pos int64) queries.DashboardEntry {
			t.Helper()
			var e queries.DashboardEntry
			c.getAt("/api/v1/locations/"+loc+"/dashboard", pos).want(http.StatusOK).decode(&e)
			return e
		}

		w.run(t, "ANewLocation", func(t *testing.T) {
			var p queries.DashboardPage
			approverA.get("/api/v1/dashboard").want(http.StatusOK).decode(&p)
			if len(p.Entries) != 1 || p.Entries[0].LocationID != loc {
				t.Fatalf("approver A's dashboard: %+v", p)
			}
			e := p.Entries[0]
			// No contacts, one Approver, Penny's registration waits, no
			// daily update.
			if !slices.Equal(e.Needs, []string{"manager_contact", "email", "approvers", "pending_approvals", "daily_update"}) ||
				e.ActiveApprovers != 1 || !e.FewerThanTwoApprovers || e.PendingApprovals != 1 || !e.DailyUpdateMissingToday ||
				e.LastDailyUpdateAt != nil || e.Ratings.Overall != "Unknown rating" {
				t.Errorf("dashboard = %+v", e)
			}
			var names []string
			for _, u := range e.Users {
				names = append(names, fmt.Sprintf("%s/%v/%v", u.FullName, u.Approver, u.Email != ""))
			}
			// Active users with access; the Approver sees who they are.
			want := []string{"Lock Ed/false/true", "Rosa Hill/true/true", "Rosehill Office/false/true", "Stan Dard/false/true"}
			if !slices.Equal(names, want) {
				t.Errorf("users %v, want %v", names, want)
			}
		})

		w.run(t, "AManagerWithAnEmail", func(t *testing.T) {
			pos := w.addContactAsSystem(loc, location.ContactInput{Role: "manager", Name: "Rosa Hill", Email: "rosa.hill@rosehill.example.org"})
			e := dashboard(approverA, pos)
			if !slices.Equal(e.Needs, []string{"approvers", "pending_approvals", "daily_update"}) || !e.HasManager || !e.HasEmail {
				t.Errorf("after adding the Manager: %+v", e)
			}
		})

		w.run(t, "Scope", func(t *testing.T) {
			standardA := w.loginAs(w.standardA)
			standardA.get("/api/v1/locations/"+orgA.loc(1)+"/dashboard").wantError(http.StatusForbidden, "forbidden")
			w.loginAs(w.approverB).get("/api/v1/locations/"+loc+"/dashboard").wantError(http.StatusForbidden, "forbidden")
			approverA.get("/api/v1/locations/1-000000000/dashboard").wantError(http.StatusNotFound, "not_found")
			// An Approver sees the organisation's other locations.
			approverA.get("/api/v1/locations/" + orgA.loc(1) + "/dashboard").want(http.StatusOK)
			var p queries.DashboardPage
			approverA.get(viewPath("/api/v1/dashboard", "location_id", orgA.loc(0)+","+orgA.loc(1))).want(http.StatusOK).decode(&p)
			if p.Total != 2 {
				t.Errorf("both of A's: %+v", p)
			}
			approverA.get(viewPath("/api/v1/dashboard", "location_id", orgB.loc(0))).wantError(http.StatusForbidden, "forbidden")
			w.loginAs(w.support).get(viewPath("/api/v1/dashboard", "page_size", "25")).want(http.StatusOK).decode(&p)
			if p.Total != 5 {
				t.Errorf("support's dashboard: %d locations", p.Total)
			}
		})
		w.run(t, "ASecondApproverAndNoPendingRequest", func(t *testing.T) {
			approverA.decide(w.pendingA, orgA.ID, "reject", "not ours").want(http.StatusOK)
			r := approverA.put("/api/v1/users/"+w.standardA.ID.String()+"/user-type", map[string]string{"user_type": "approver"}).want(http.StatusOK)
			e := dashboard(approverA, r.position())
			if !slices.Equal(e.Needs, []string{"daily_update"}) || e.ActiveApprovers != 2 || e.FewerThanTwoApprovers || e.PendingApprovals != 0 {
				t.Errorf("with two Approvers: %+v", e)
			}
		})

		w.run(t, "UsersOfTheLocationSeeNamesOnly", func(t *testing.T) {
			e := dashboard(w.loginAs(w.genericA), 0)
			for _, u := range e.Users {
				if u.UserID != "" || u.Email != "" {
					t.Errorf("a generic account sees %+v", u)
				}
			}
			if len(e.Users) != 4 {
				t.Errorf("%d users", len(e.Users))
			}
		})

	})
}

func TestGPPractices_FoundByNameOrCode(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		var last int64
		for _, gp := range []struct{ code, name, postcode string }{
			{"A81001", "Acklam Medical Centre", "TS5 8SB"}, {"A81002", "Queenstown Surgery", "TS1 3QA"},
		} {
			d, err := eventstore.NewEvent(location.TypeOrganisationRegistered, location.OrganisationRegistered{
				OrganisationID: gp.code, Name: gp.name, Type: location.GP, Postcode: gp.postcode}, eventstore.Metadata{Command: "test"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := w.store.Append(context.Background(), location.OrganisationStream(gp.code), eventstore.NoStream, d)
			if err != nil {
				t.Fatal(err)
			}
			last = res.LastPosition()
		}
		w.sync(last)
		c := w.loginAs(w.standardA)
		var body struct {
			Practices []queries.GPPractice `json:"practices"`
		}
		c.get("/api/v1/gp-practices?q=acklam").want(http.StatusOK).decode(&body)
		if len(body.Practices) != 1 || body.Practices[0] != (queries.GPPractice{Code: "A81001", Name: "Acklam Medical Centre", Postcode: "TS5 8SB"}) {
			t.Errorf("by name: %+v", body.Practices)
		}
		c.get("/api/v1/gp-practices?q=a81&limit=1").want(http.StatusOK).decode(&body)
		if len(body.Practices) != 1 {
			t.Errorf("by code, limit 1: %+v", body.Practices)
		}
		c.get("/api/v1/gp-practices?q=rosehill").want(http.StatusOK).decode(&body)
		if body.Practices == nil || len(body.Practices) != 0 {
			t.Errorf("a care home is no practice: %+v", body.Practices)
		}
		c.get("/api/v1/gp-practices?q=a").wantError(http.StatusUnprocessableEntity, "validation_failed")
		c.get("/api/v1/gp-practices?q=acklam&limit=x").wantError(http.StatusUnprocessableEntity, "validation_failed")
	})
}

// --- downloads ---------------------------------------------------------------------

// workbook opens a downloaded .xlsx after checking its headers.
func (r response) workbook(prefix string) *excelize.File {
	r.t.Helper()
	r.want(http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		r.t.Fatalf("%s: Content-Type %q", r.req, ct)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		r.t.Fatal(err)
	}
	// The date is the server's today in London; allow for midnight.
	cd := r.header.Get("Content-Disposition")
	ok := false
	for _, d := range []time.Time{time.Now(), time.Now().Add(-time.Minute)} {
		ok = ok || cd == fmt.Sprintf(`attachment; filename="%s-%s.xlsx"`, prefix, d.In(london).Format(time.DateOnly))
	}
	if !ok {
		r.t.Fatalf("%s: Content-Disposition %q", r.req, cd)
	}
	f, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		r.t.Fatalf("%s: open the workbook: %v", r.req, err)
	}
	r.t.Cleanup(func() { _ = f.Close() })
	return f
}

// sheetCheck checks a download's only sheet: its name, header row (bold),
// the top row frozen, and returns its rows as text.
func sheetCheck(t *testing.T, f *excelize.File, sheet string, header []string) [][]string {
	t.Helper()
	if got := f.GetSheetList(); !slices.Equal(got, []string{sheet}) {
		t.Fatalf("sheets %v, want [%s]", got, sheet)
	}
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], header) {
		t.Fatalf("header %q, want %q", rows[0], header)
	}
	panes, err := f.GetPanes(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if !panes.Freeze || panes.YSplit != 1 || panes.XSplit != 0 || panes.TopLeftCell != "A2" {
		t.Errorf("panes %+v, want the top row frozen", panes)
	}
	style, err := f.GetCellStyle(sheet, "A1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.GetStyle(style)
	if err != nil || s.Font == nil || !s.Font.Bold {
		t.Errorf("header style %+v (%v), want bold", s, err)
	}
	if width, err := f.GetColWidth(sheet, "B"); err != nil || width < 15 {
		t.Errorf("column B is %v wide (%v)", width, err)
	}
	return rows
}

// headerIndex is the index of a header.
func headerIndex(t *testing.T, header []string, name string) int {
	t.Helper()
	i := slices.Index(header, name)
	if i < 0 {
		t.Fatalf("no column %q in %q", name, header)
	}
	return i
}

// cellRef is the reference of a 0-based column and 1-based row.
func cellRef(t *testing.T, col, row int) string {
	t.Helper()
	c, err := excelize.CoordinatesToCellName(col+1, row)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var providerHeader = []string{"Location ID", "Name", "Short name", "Organisation", "Organisation ID", "Organisation type",
	"Ownership type", "Address", "Postcode", "NHS region", "CQC region", "Local authority", "CCG / ICB", "Registration status",
	"Dormant", "CQC overall", "Safe", "Effective", "Caring", "Responsive", "Well-led", "CQC report published",
	"Latest CQC report", "CQC page", "PAMMS rating", "PAMMS report date", "Latest PAMMS report", "Contacts",
	"Contact directory", "Notes", "Linked GP practices", "Last update", "Last daily update"}

// cqcRosehill is CQC's record of A's first location.
var cqcRosehill = location.CQCRecord{LocationID: orgA.loc(0), ProviderID: orgA.ID, ProviderName: orgA.Name, Name: "Rosehill",
	AddressLine1: "31 Thornholme Road", Town: "Sunderland", Postcode: "SR2 7JX", CQCRegion: "North East",
	LocalAuthority: "Sunderland", CCGName: "NHS Sunderland CCG", RegistrationStatus: "Registered",
	Ratings: location.CQCRatings{Overall: location.RatingGood, Safe: location.RatingRequiresImprovement, ReportDate: "2024-05-01",
		ReportLinkID: "0c7e1b1a-2f57-4a43-bb0b-6a3a4a0f0c11"}}

func TestDownloads_AreTypedWorkbooks(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		w.importCQCRecord(cqcRosehill)
		w.addContactAsSystem(orgA.loc(0), location.ContactInput{Role: "Manager", Name: "Rosa Hill", Email: "rosa.hill@rosehill.example.org", Public: true})
		w.addContactAsSystem(orgA.loc(0), location.ContactInput{Role: "Plumber", Name: "Pete Pipes", Phones: "0191 555 0199"})
		anon := w.newClient()

		w.run(t, "Providers", func(t *testing.T) {
			var page queries.ProviderPage
			anon.get(viewPath("/api/v1/providers", "local_authority", "Sunderland", "page_size", "10")).want(http.StatusOK).decode(&page)
			f := anon.get(viewPath("/api/v1/providers.xlsx", "local_authority", "Sunderland", "page_size", "10")).workbook("providers")
			rows := sheetCheck(t, f, "Providers", providerHeader)
			if len(rows) != 3 || rows[1][0] != orgA.loc(0) || rows[2][0] != orgA.loc(1) {
				t.Fatalf("rows %q, want Rosehill then Thorndale", rows)
			}
			h := rows[0]
			get := func(name string, row int) (string, string, excelize.CellType) {
				t.Helper()
				ref := cellRef(t, headerIndex(t, h, name), row)
				shown, err := f.GetCellValue("Providers", ref)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := f.GetCellValue("Providers", ref, excelize.Options{RawCellValue: true})
				if err != nil {
					t.Fatal(err)
				}
				typ, err := f.GetCellType("Providers", ref)
				if err != nil {
					t.Fatal(err)
				}
				return shown, raw, typ
			}
			// Text.
			if shown, _, typ := get("Name", 2); shown != "Rosehill" || typ != excelize.CellTypeInlineString {
				t.Errorf("name %q (type %v)", shown, typ)
			}
			if shown, _, _ := get("CQC overall", 2); shown != "Good" {
				t.Errorf("overall %q", shown)
			}
			if shown, _, _ := get("Safe", 2); shown != "Requires improvement" {
				t.Errorf("safe %q", shown)
			}
			if shown, _, _ := get("CQC overall", 3); shown != "Unknown rating" {
				t.Errorf("Thorndale's overall %q", shown)
			}
			if shown, _, _ := get("Dormant", 2); shown != "No" {
				t.Errorf("dormant %q", shown)
			}
			// Anonymous: the public contacts only.
			if shown, raw, typ := get("Contacts", 2); shown != "1" || raw != "1" || typ != excelize.CellTypeUnset {
				t.Errorf("contacts %q (raw %q, type %v), want the number 1", shown, raw, typ)
			}
			if shown, _, _ := get("Contact directory", 2); shown != "Manager: Rosa Hill, rosa.hill@rosehill.example.org" {
				t.Errorf("contact directory %q", shown)
			}
			// A date: a number with a date format.
			shown, raw, typ := get("CQC report published", 2)
			serial, err := strconv.ParseFloat(raw, 64)
			if shown != "2024-05-01" || err != nil || typ != excelize.CellTypeUnset {
				t.Errorf("report date %q (raw %q, type %v)", shown, raw, typ)
			}
			if d, err := excelize.ExcelDateToTime(serial, false); err != nil || !d.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("report date serial %v is %v", serial, d)
			}
			// A time: London's wall clock, to the second.
			shown, raw, _ = get("Last update", 2)
			serial, err = strconv.ParseFloat(raw, 64)
			if err != nil {
				t.Fatalf("last update %q is not a number", raw)
			}
			london, _ := time.LoadLocation("Europe/London")
			wall := page.Entries[0].LastUpdateAt.In(london)
			if d, err := excelize.ExcelDateToTime(serial, false); err != nil || d.Sub(time.Date(wall.Year(), wall.Month(), wall.Day(),
				wall.Hour(), wall.Minute(), wall.Second(), 0, time.UTC)).Abs() > time.Second {
				t.Errorf("last update serial %v is %v, want %v", serial, d, wall)
			}
			if shown != wall.Format(time.DateTime) {
				t.Errorf("last update shown %q, want %q", shown, wall.Format(time.DateTime))
			}
			// Empty values are blank cells.
			if shown, raw, _ := get("Last daily update", 2); shown != "" || raw != "" {
				t.Errorf("last daily update %q", shown)
			}
			if shown, _, _ := get("Latest CQC report", 2); shown != "https://www.cqc.org.uk/location/"+orgA.loc(0)+"/reports/"+cqcRosehill.Ratings.ReportLinkID {
				t.Errorf("report URL %q", shown)
			}
		})

		w.run(t, "ProvidersForAUserWithAccess", func(t *testing.T) {
			f := w.loginAs(w.standardA).get(viewPath("/api/v1/providers.xlsx", "postcode", "SR2 7JX")).workbook("providers")
			rows := sheetCheck(t, f, "Providers", providerHeader)
			if len(rows) != 2 || rows[1][headerIndex(t, rows[0], "Contacts")] != "2" ||
				!strings.Contains(rows[1][headerIndex(t, rows[0], "Contact directory")], "Plumber: Pete Pipes, 0191 555 0199") {
				t.Errorf("rows %q, want both contacts", rows)
			}
		})

		w.run(t, "HomeCare", func(t *testing.T) {
			f := w.loginAs(w.genericA).get("/api/v1/home-care.xlsx").workbook("home-care")
			rows := sheetCheck(t, f, "Home care", []string{"Location ID", "Provider", "Name", "Postcode", "Parent organisation",
				"Ownership type", "NHS region", "Registration status", "Edit", "Daily update", "Care quality"})
			want := [][]string{
				{orgA.loc(0), "Rosehill (SR27JX)", "Rosehill", "SR2 7JX", orgA.Name, "", "North East and Yorkshire", "Registered",
					"/api/v1/locations/" + orgA.loc(0), "/api/v1/locations/" + orgA.loc(0) + "/daily-update", "/api/v1/locations/" + orgA.loc(0) + "/care-quality"},
				{orgA.loc(1), "Thorndale (SR27JZ)", "Thorndale", "SR2 7JZ", orgA.Name, "", "", "Registered",
					"/api/v1/locations/" + orgA.loc(1), "/api/v1/locations/" + orgA.loc(1) + "/daily-update", "/api/v1/locations/" + orgA.loc(1) + "/care-quality"},
			}
			for i, row := range want {
				// GetRows drops trailing blank cells; pad for the comparison.
				got := append(rows[i+1], make([]string, len(row)-len(rows[i+1]))...)
				if !slices.Equal(got, row) {
					t.Errorf("row %d = %q, want %q", i+2, got, row)
				}
			}
		})

		w.run(t, "Dashboard", func(t *testing.T) {
			f := w.loginAs(w.approverA).get("/api/v1/dashboard.xlsx").workbook("dashboard")
			rows := sheetCheck(t, f, "Dashboard", []string{"Location ID", "Name", "Postcode", "Organisation", "To do", "Manager contact",
				"Contact email", "Active Approvers", "Fewer than 2 Approvers", "Pending approvals", "Last daily update",
				"Daily update missing today", "CQC overall", "Safe", "Effective", "Caring", "Responsive", "Well-led",
				"CQC report published", "Users with access", "Users"})
			if len(rows) != 2 {
				t.Fatalf("rows %q", rows)
			}
			h, r := rows[0], rows[1]
			for name, want := range map[string]string{
				"Location ID": orgA.loc(0), "To do": "Appoint a second Approver\nDecide pending user approvals\nSubmit today's daily update",
				"Manager contact": "Yes", "Contact email": "Yes", "Active Approvers": "1", "Fewer than 2 Approvers": "Yes",
				"Pending approvals": "1", "Daily update missing today": "Yes", "CQC overall": "Good", "Users with access": "4",
				"Users": "Lock Ed\nRosa Hill (Approver)\nRosehill Office\nStan Dard", "CQC report published": "2024-05-01",
			} {
				if got := r[headerIndex(t, h, name)]; got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, name := range []string{"Active Approvers", "Pending approvals", "Users with access"} {
				ref := cellRef(t, headerIndex(t, h, name), 2)
				if typ, err := f.GetCellType("Dashboard", ref); err != nil || typ != excelize.CellTypeUnset {
					t.Errorf("%s is of type %v, want a number", name, typ)
				}
			}
		})
	})
}

func TestDownloads_StreamManyRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		// More rows than the query reads at a time.
		const n = 600
		var reqs []eventstore.AppendRequest
		for i := range n {
			id := fmt.Sprintf("1-3%08d", i)
			rec := location.CQCRecord{LocationID: id, ProviderID: orgC.ID, Name: fmt.Sprintf("Bulk Site %04d", i), Postcode: "EX31 1PQ",
				RegistrationStatus: "Registered", Ratings: location.CQCRatings{Overall: location.RatingGood, ReportDate: "2023-02-03"}}.Normalised()
			d, err := eventstore.NewEvent(location.TypeCQCLocationImported, location.CQCLocationImported{LocationID: id, Record: rec},
				eventstore.Metadata{Command: "test"})
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: location.LocationStream(id), Expected: eventstore.NoStream,
				Events: []eventstore.EventData{d}})
		}
		var last int64
		for chunk := range slices.Chunk(reqs, 500) {
			res, err := w.store.AppendMany(context.Background(), chunk)
			if err != nil {
				t.Fatal(err)
			}
			last = res[len(res)-1].LastPosition()
		}
		w.sync(last)
		f := w.newClient().get(viewPath("/api/v1/providers.xlsx", "q", "bulk site", "sort", "name", "dir", "desc")).workbook("providers")
		rows := sheetCheck(t, f, "Providers", providerHeader)
		if len(rows) != n+1 {
			t.Fatalf("%d rows, want %d and the header", len(rows), n)
		}
		for i, row := range rows[1:] {
			if want := fmt.Sprintf("Bulk Site %04d", n-1-i); row[1] != want {
				t.Fatalf("row %d is %q, want %q", i+2, row[1], want)
			}
		}
	})
}

// libreOffice is the LibreOffice command on PATH, "" when there is none.
func libreOffice() string {
	for _, name := range []string{"libreoffice", "soffice"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestDownloads_LibreOfficeReadsThem converts a download to CSV with
// LibreOffice, a spreadsheet program other than the library that wrote it,
// and compares the CSV with the same search's JSON. Without LibreOffice on
// PATH it only says so (CI fails on skipped tests): install it with
// apt-get install -y --no-install-recommends libreoffice-calc-nogui.
func TestDownloads_LibreOfficeReadsThem(t *testing.T) {
	soffice := libreOffice()
	if soffice == "" {
		t.Log("LibreOffice is not installed (no libreoffice or soffice on PATH): the conversion is not checked. " +
			"Install it with: apt-get install -y --no-install-recommends libreoffice-calc-nogui")
		return
	}
	eachBackend(t, func(t *testing.T, w *world) {
		w.importCQCRecord(cqcRosehill)
		w.addContactAsSystem(orgA.loc(0), location.ContactInput{Role: "Manager", Name: "Rosa Hill", Phones: "0191 555 0100", Public: true})
		c := w.newClient()
		var page queries.ProviderPage
		c.get(viewPath("/api/v1/providers", "page_size", "100")).want(http.StatusOK).decode(&page)
		r := c.get(viewPath("/api/v1/providers.xlsx", "page_size", "100")).want(http.StatusOK)

		dir := t.TempDir()
		in := filepath.Join(dir, "providers.xlsx")
		if err := os.WriteFile(in, r.body, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// A profile of its own, so that parallel conversions do not wait
		// for each other's lock.
		cmd := exec.CommandContext(ctx, soffice, "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
			"--headless", "--norestore", "--convert-to", "csv", "--outdir", dir, in)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		data, err := os.ReadFile(filepath.Join(dir, "providers.csv"))
		if err != nil {
			t.Fatalf("no CSV: %v", err)
		}
		records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("read the CSV: %v\n%s", err, data)
		}
		if len(records) != len(page.Entries)+1 || !slices.Equal(records[0], providerHeader) {
			t.Fatalf("CSV has %d rows with header %q; want %d and %q", len(records), records[0], len(page.Entries)+1, providerHeader)
		}
		h := records[0]
		london, _ := time.LoadLocation("Europe/London")
		for i, p := range page.Entries {
			row := records[i+1]
			want := map[string]string{
				"Location ID": p.LocationID, "Name": p.Name, "Organisation": p.OrganisationName, "Postcode": p.Postcode,
				"Local authority": p.LocalAuthority, "CQC overall": p.Ratings.Overall, "CQC report published": p.ReportDate,
				"Contacts": strconv.Itoa(len(p.Contacts)), "Dormant": "No",
				"Last update": p.LastUpdateAt.In(london).Format(time.DateTime),
			}
			for name, v := range want {
				if got := row[headerIndex(t, h, name)]; got != v {
					t.Errorf("row %d (%s): %s = %q, want %q", i+2, p.LocationID, name, got, v)
				}
			}
		}
	})
}

// CQC's API records carry no provider name: a provider first imported from
// them has no name until the care directory CSV names it, and no view shows
// its id in the name's place.
func TestProviders_AProviderWithoutANameIsNotNamedAfterItsID(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		const provider, loc = "1-555000111", "1-555000222"
		rec := location.CQCRecord{LocationID: loc, ProviderID: provider, Name: "Nameless Provider Home Care",
			AddressLine1: "1 Quay Street", Town: "Sunderland", Postcode: "SR1 1AA", RegistrationStatus: "Registered",
			ServiceTypes: []string{"Homecare agencies"}}
		w.importCQCRecord(rec)
		support := w.loginAs(w.support)
		names := func() (providers, profile string) {
			p := support.get(viewPath("/api/v1/providers", "postcode", "SR1 1AA")).providerPage()
			if len(p.Entries) != 1 {
				t.Fatalf("providers at SR1 1AA: %v", rowIDs(p.Entries))
			}
			var prof struct {
				OrganisationName string `json:"organisation_name"`
			}
			support.get(locPath(loc)).want(http.StatusOK).decode(&prof)
			return p.Entries[0].OrganisationName, prof.OrganisationName
		}
		if a, b := names(); a != "" || b != "" {
			t.Errorf("organisation name before CQC names it: /providers %q, the location %q; want none", a, b)
		}
		rec.ProviderName = "Quayside Care Ltd"
		w.importCQCRecord(rec)
		if a, b := names(); a != rec.ProviderName || b != rec.ProviderName {
			t.Errorf("organisation name after the directory's import: /providers %q, the location %q; want %q", a, b, rec.ProviderName)
		}
	})
}
