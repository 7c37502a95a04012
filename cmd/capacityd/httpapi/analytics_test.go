package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/queries"
)

// commissioner registers a user of a CCG for orgC's location (orgC has
// no Approver: support approves) and sets its password: an active user
// of a commissioning organisation.
func (w *world) commissioner(support *client) user {
	w.t.Helper()
	u := user{Email: "cara.commissioner@swlondon.example.nhs.uk", Name: "Cara Commissioner", Password: newPassword()}
	body := registration(u.Name, u.Email, orgC.loc(0))
	body["organisation_type"] = "ccg"
	reg := w.register(body)
	support.decide(reg, orgC.ID, "approve", "").want(http.StatusOK)
	u.ID = reg.UserID
	w.setPasswordByLink(w.linkToken(u.ID), u.Password).want(http.StatusOK)
	return u
}

// submitUpdate posts a daily update with users service users and returns
// its position.
func submitUpdate(c *client, locationID string, users int, ppe dailyupdate.PPE) int64 {
	c.api.t.Helper()
	return c.post(locPath(locationID, "daily-update"), map[string]any{"answers": map[string]any{
		"service_users": users, "confirmed": 1, "suspected": 0, "care_staff": 10, "staff_not_working": 2,
		"ppe": string(ppe), "can_provide_extra_hours": users%2 == 0, "extra_hours_per_week": (1 - users%2) * 7,
		"other_issues": "=HYPERLINK(\"http://example.org\")",
	}}).want(http.StatusCreated).position()
}

// dailyOf reads the totals of a query and returns its days by day.
func dailyOf(c *client, query string, pos int64) map[string]queries.AnalyticsDay {
	c.api.t.Helper()
	var body queries.AnalyticsDaily
	c.getAt("/api/v1/analytics/daily?"+query, pos).want(http.StatusOK).decode(&body)
	out := map[string]queries.AnalyticsDay{}
	for _, d := range body.Days {
		out[d.Day] = d
	}
	return out
}

// complianceOf is the location ids of a compliance answer.
func complianceOf(c *client, query string, pos int64) []string {
	c.api.t.Helper()
	var body queries.Compliance
	c.getAt("/api/v1/analytics/compliance?"+query, pos).want(http.StatusOK).decode(&body)
	var ids []string
	for _, e := range body.Entries {
		ids = append(ids, e.LocationID)
	}
	slices.Sort(ids)
	return ids
}

// csvRows reads a CSV download after checking its headers.
func (r response) csvRows(prefix string) [][]string {
	r.t.Helper()
	r.want(http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != httpapi.CSVContentType {
		r.t.Fatalf("%s: Content-Type %q", r.req, ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="`+prefix+"-") || !strings.HasSuffix(cd, `.csv"`) {
		r.t.Fatalf("%s: Content-Disposition %q", r.req, cd)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		r.t.Fatalf("%s: %v", r.req, err)
	}
	return rows
}

// TestAnalyticsAPI_TotalsPerLocationAndComplianceWithDownloads: the
// updates of today (one superseded) show in England's, a local
// authority's and a CCG's totals with the share of the locations that
// submitted, in the per-location rows and in the list of those that did
// not; the same in the XLSX and CSV downloads; a day later, today starts
// empty and yesterday stays.
func TestAnalyticsAPI_TotalsPerLocationAndComplianceWithDownloads(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		commissioner := w.loginAs(w.commissioner(support))
		today := dailyupdate.Day(w.clock.Now())

		submitUpdate(w.loginAs(w.approverA), orgA.loc(0), 9, dailyupdate.PPEMoreThanWeek)
		submitUpdate(w.loginAs(w.standardA), orgA.loc(0), 20, dailyupdate.PPETwoDaysOrLess) // supersedes
		pos := submitUpdate(w.loginAs(w.approverB), orgB.loc(0), 5, dailyupdate.PPEThreeDaysWeek)

		line := func(d queries.AnalyticsDay) string {
			share := "-"
			if d.ShareSubmitted != nil {
				share = fmt.Sprintf("%.2f", *d.ShareSubmitted)
			}
			return fmt.Sprintf("exp=%d sub=%d share=%s users=%d staff=%d/%d extra=%d/%d ppe=%d/%d/%d", d.LocationsExpected,
				d.LocationsSubmitted, share, d.ServiceUsers, d.CareStaff, d.StaffAbsent, d.LocationsOfferingExtra, d.ExtraHours,
				d.PPEMoreThanWeek, d.PPEThreeDaysToWeek, d.PPETwoDaysOrLess)
		}
		for _, c := range []struct{ query, want string }{
			{"", "exp=5 sub=2 share=0.40 users=25 staff=20/4 extra=1/7 ppe=0/1/1"},
			{"area_type=local_authority&area=Sunderland", "exp=2 sub=1 share=0.50 users=20 staff=10/2 extra=1/7 ppe=0/0/1"},
			{"area_type=local_authority&area=Croydon", "exp=1 sub=1 share=1.00 users=5 staff=10/2 extra=0/0 ppe=0/1/0"},
			{"area_type=ccg&area=NHS+South+West+London+CCG", "exp=2 sub=1 share=0.50 users=5 staff=10/2 extra=0/0 ppe=0/1/0"},
			{"area_type=ccg&area=NHS+Devon+CCG", "exp=1 sub=0 share=0.00 users=0 staff=0/0 extra=0/0 ppe=0/0/0"},
		} {
			for _, reader := range []*client{support, commissioner} {
				if got := line(dailyOf(reader, c.query, pos)[today]); got != c.want {
					t.Errorf("totals of %q today: %s, want %s", c.query, got, c.want)
				}
			}
		}

		var page queries.AnalyticsLocationPage
		commissioner.getAt("/api/v1/analytics/locations?day="+today, pos).want(http.StatusOK).decode(&page)
		var rows []string
		for _, e := range page.Entries {
			rows = append(rows, fmt.Sprintf("%s %s %d %s %d", e.LocationID, e.LocalAuthority, e.ServiceUsers, e.PPE, e.Submissions))
		}
		slices.Sort(rows)
		if want := []string{orgA.loc(0) + " Sunderland 20 two_days_or_less 2", orgB.loc(0) + " Croydon 5 three_days_to_week 1"}; !slices.Equal(rows, want) || page.Total != 2 {
			t.Errorf("per-location rows of today: %q (total %d), want %q", rows, page.Total, want)
		}
		if got, want := complianceOf(commissioner, "days=1", pos), []string{orgC.loc(0), orgA.loc(1), orgB.loc(1)}; !slices.Equal(got, sorted(want)) {
			t.Errorf("not submitted today: %q, want %q", got, sorted(want))
		}

		// The downloads.
		header := []string{"Day", "Area type", "Area", "Locations expected", "Locations submitted", "Share submitted (%)",
			"Service users", "Confirmed COVID-19", "Suspected COVID-19", "Care staff", "Staff absent",
			"Locations offering extra hours", "Extra hours per week", "PPE more than a week", "PPE 3 days to a week", "PPE 2 days or less"}
		f := support.get("/api/v1/analytics/daily.xlsx?area_type=local_authority&area=Sunderland&from=" + today + "&to=" + today).workbook("analytics-daily")
		sheet := sheetCheck(t, f, "Daily totals", header)
		if len(sheet) != 2 || !slices.Equal(sheet[1][:7], []string{today, "local_authority", "Sunderland", "2", "1", "50", "20"}) {
			t.Errorf("daily workbook rows: %q", sheet)
		}
		csvRows := commissioner.get("/api/v1/analytics/daily.csv?to=" + today).csvRows("analytics-daily")
		if len(csvRows) != 31 || !slices.Equal(csvRows[0], header) ||
			!slices.Equal(csvRows[30][:7], []string{today, "england", "", "5", "2", "40", "25"}) {
			t.Errorf("daily CSV: %d rows, last %q", len(csvRows), csvRows[len(csvRows)-1])
		}
		locRows := commissioner.get("/api/v1/analytics/locations.csv?area_type=ccg&area=NHS+Sunderland+CCG&day=" + today).csvRows("analytics-locations")
		otherIssues := headerIndex(t, locRows[0], "Other issues")
		if len(locRows) != 2 || locRows[1][1] != orgA.loc(0) || locRows[1][headerIndex(t, locRows[0], "PPE stock")] != "2 days or less" ||
			locRows[1][otherIssues] != `'=HYPERLINK("http://example.org")` ||
			locRows[1][headerIndex(t, locRows[0], "Can provide extra hours")] != "Yes" {
			t.Errorf("per-location CSV: %q", locRows)
		}
		f = commissioner.get("/api/v1/analytics/locations.xlsx?from=" + today + "&to=" + today).workbook("analytics-locations")
		if sheet := sheetCheck(t, f, "Daily updates", locRows[0]); len(sheet) != 3 {
			t.Errorf("per-location workbook: %q", sheet)
		}
		compRows := support.get("/api/v1/analytics/compliance.csv?area_type=local_authority&area=Sunderland").csvRows("analytics-compliance")
		if len(compRows) != 2 || compRows[1][0] != orgA.loc(1) || compRows[1][len(compRows[1])-1] != "" {
			t.Errorf("compliance CSV: %q", compRows)
		}
		f = support.get("/api/v1/analytics/compliance.xlsx").workbook("analytics-compliance")
		if sheet := sheetCheck(t, f, "Not submitted", compRows[0]); len(sheet) != 4 {
			t.Errorf("compliance workbook: %q", sheet)
		}

		var areas struct {
			AreaType string                  `json:"area_type"`
			Areas    []queries.AnalyticsArea `json:"areas"`
		}
		commissioner.get("/api/v1/analytics/areas?area_type=ccg").want(http.StatusOK).decode(&areas)
		if want := []queries.AnalyticsArea{{Area: "NHS Devon CCG", Locations: 1}, {Area: "NHS South West London CCG", Locations: 2},
			{Area: "NHS Sunderland CCG", Locations: 2}}; !slices.Equal(areas.Areas, want) {
			t.Errorf("CCGs: %+v", areas.Areas)
		}

		// The next day: nothing submitted yet, yesterday unchanged.
		w.clock.Advance(24 * time.Hour)
		reader := w.loginAs(w.support) // the sessions went idle
		tomorrow := dailyupdate.Day(w.clock.Now())
		days := dailyOf(reader, "", 0)
		if got := line(days[tomorrow]); got != "exp=5 sub=0 share=0.00 users=0 staff=0/0 extra=0/0 ppe=0/0/0" {
			t.Errorf("England tomorrow: %s", got)
		}
		if got := line(days[today]); got != "exp=5 sub=2 share=0.40 users=25 staff=20/4 extra=1/7 ppe=0/1/1" {
			t.Errorf("England yesterday: %s", got)
		}
		if got := complianceOf(reader, "", 0); len(got) != 5 {
			t.Errorf("not submitted on the next day: %q", got)
		}
		if got := complianceOf(reader, "days=2", 0); !slices.Equal(got, sorted([]string{orgC.loc(0), orgA.loc(1), orgB.loc(1)})) {
			t.Errorf("not submitted in 2 days: %q", got)
		}
	})
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestAnalyticsAPI_WhoMayReadWhat: anonymous callers get 401 everywhere;
// support and commissioners read every route; Approvers and Standard users
// get 403 on the totals, the per-location rows, the areas and their
// downloads, and see only their own locations in the compliance list.
func TestAnalyticsAPI_WhoMayReadWhat(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		commissioner := w.loginAs(w.commissioner(support))
		approverA, standardA, approverB := w.loginAs(w.approverA), w.loginAs(w.standardA), w.loginAs(w.approverB)
		pos := submitUpdate(approverA, orgA.loc(0), 4, dailyupdate.PPEMoreThanWeek)

		everyArea := []string{"/api/v1/analytics/daily", "/api/v1/analytics/daily.xlsx", "/api/v1/analytics/daily.csv",
			"/api/v1/analytics/locations", "/api/v1/analytics/locations.xlsx", "/api/v1/analytics/locations.csv",
			"/api/v1/analytics/areas?area_type=nhs_region"}
		compliance := []string{"/api/v1/analytics/compliance", "/api/v1/analytics/compliance.xlsx", "/api/v1/analytics/compliance.csv"}
		for _, path := range append(slices.Clone(everyArea), compliance...) {
			w.newClient().get(path).wantError(http.StatusUnauthorized, "unauthenticated")
			support.get(path).want(http.StatusOK)
			commissioner.get(path).want(http.StatusOK)
		}
		for _, path := range everyArea {
			for _, c := range []*client{approverA, standardA, approverB} {
				c.get(path).wantError(http.StatusForbidden, "forbidden")
			}
		}
		for _, path := range compliance {
			for _, c := range []*client{approverA, standardA} {
				c.get(path).want(http.StatusOK)
			}
		}
		all := sorted([]string{orgA.loc(1), orgB.loc(0), orgB.loc(1), orgC.loc(0)})
		for _, c := range []struct {
			who  *client
			want []string
		}{
			{support, all},
			{commissioner, all},
			{approverA, nil},                   // orgA.loc(0) submitted
			{standardA, nil},                   // the same location
			{approverB, []string{orgB.loc(0)}}, // only their own
		} {
			if got := complianceOf(c.who, "", pos); !slices.Equal(got, c.want) {
				t.Errorf("compliance: %q, want %q", got, c.want)
			}
		}
		// The approver's download holds their location alone.
		rows := approverB.get("/api/v1/analytics/compliance.csv").csvRows("analytics-compliance")
		if len(rows) != 2 || rows[1][0] != orgB.loc(0) {
			t.Errorf("approver's compliance CSV: %q", rows)
		}
	})
}

// TestAnalyticsAPI_InvalidQueriesAre422WithTheirFields: every invalid
// parameter is named, on the JSON routes and on the downloads (answered
// as JSON, since nothing was sent).
func TestAnalyticsAPI_InvalidQueriesAre422WithTheirFields(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		for _, c := range []struct {
			path   string
			fields []string
		}{
			{"/api/v1/analytics/daily?area_type=county&area=Kent", []string{"area_type"}},
			{"/api/v1/analytics/daily.csv?area_type=local_authority", []string{"area"}},
			{"/api/v1/analytics/daily.xlsx?area_type=nhs_region&area=Wessex", []string{"area"}},
			{"/api/v1/analytics/daily?from=2026-02-30", []string{"from"}},
			{"/api/v1/analytics/daily?from=2026-06-02&to=2026-06-01", []string{"from"}},
			{"/api/v1/analytics/daily?from=2025-01-01&to=2026-01-02", []string{"from"}},
			{"/api/v1/analytics/daily?min_position=-1", []string{"min_position"}},
			{"/api/v1/analytics/locations?day=2026-06-01&from=2026-06-01", []string{"day"}},
			{"/api/v1/analytics/locations.csv?day=tomorrow&page_size=7", []string{"page_size", "to", "from"}},
			{"/api/v1/analytics/compliance?days=0", []string{"days"}},
			{"/api/v1/analytics/compliance.xlsx?days=367&area_type=ccg", []string{"area", "days"}},
			{"/api/v1/analytics/compliance?days=week", []string{"days"}},
			{"/api/v1/analytics/areas?area_type=england", []string{"area_type"}},
		} {
			e := support.get(c.path).wantError(http.StatusUnprocessableEntity, "validation_failed")
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(sorted(fields), sorted(c.fields)) {
				t.Errorf("%s: fields %q, want %q", c.path, fields, c.fields)
			}
		}
	})
}

// TestAnalyticsAPI_TodayIsLondonsAcrossTheMarchClockChange moves the
// server's clock to the next last Saturday of March, 23:30 UTC (still
// Saturday in London), then a day on, 23:30 UTC on Sunday (Monday 00:30
// in London, BST): each update counts on London's day, the Sunday has
// none, and "today" for the compliance list is Monday.
func TestAnalyticsAPI_TodayIsLondonsAcrossTheMarchClockChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		lastSundayOfMarch := func(year int) time.Time {
			d := time.Date(year, time.March, 31, 0, 0, 0, 0, time.UTC)
			for d.Weekday() != time.Sunday {
				d = d.AddDate(0, 0, -1)
			}
			return d
		}
		change := lastSundayOfMarch(w.clock.Now().Year())
		if !change.After(w.clock.Now()) {
			change = lastSundayOfMarch(w.clock.Now().Year() + 1)
		}
		saturday, sunday, monday := change.AddDate(0, 0, -1), change, change.AddDate(0, 0, 1)
		w.clock.Set(saturday.Add(23*time.Hour + 30*time.Minute))
		submitUpdate(w.loginAs(w.approverA), orgA.loc(0), 6, dailyupdate.PPEMoreThanWeek)
		w.clock.Set(sunday.Add(23*time.Hour + 30*time.Minute))
		pos := submitUpdate(w.loginAs(w.approverA), orgA.loc(0), 8, dailyupdate.PPEMoreThanWeek)

		support := w.loginAs(w.support)
		day := func(t time.Time) string { return t.Format(time.DateOnly) }
		var page queries.AnalyticsLocationPage
		support.getAt("/api/v1/analytics/locations?from="+day(saturday)+"&to="+day(monday), pos).want(http.StatusOK).decode(&page)
		var got []string
		for _, e := range page.Entries {
			got = append(got, fmt.Sprintf("%s %d", e.Day, e.ServiceUsers))
		}
		if want := []string{day(saturday) + " 6", day(monday) + " 8"}; !slices.Equal(got, want) {
			t.Errorf("updates: %q, want %q", got, want)
		}
		days := dailyOf(support, "from="+day(saturday)+"&to="+day(monday), pos)
		if days[day(sunday)].LocationsSubmitted != 0 || days[day(sunday)].LocationsExpected != 5 || days[day(monday)].LocationsSubmitted != 1 {
			t.Errorf("Sunday %+v, Monday %+v", days[day(sunday)], days[day(monday)])
		}
		var comp queries.Compliance
		support.get("/api/v1/analytics/compliance").want(http.StatusOK).decode(&comp)
		if comp.Today != day(monday) || comp.Total != 4 {
			t.Errorf("compliance today %s, %d locations, want %s and 4", comp.Today, comp.Total, day(monday))
		}
	})
}
