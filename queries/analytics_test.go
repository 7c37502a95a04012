package queries_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/analytics"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// --- the fixture: the analytics view filled through its own ApplyBatch ----------------

// analyticsView is a fresh database with the analytics tables, filled by
// handing the projection made-up events (with the positions and
// recorded-at times a test needs) through ApplyBatch, as a rebuild does.
// No engine runs: the queries read the tables as they are.
type analyticsView struct {
	*projtest.Direct
	tb       testing.TB
	q        queries.Service
	position int64
	versions map[string]int64
	pending  []eventstore.Event
}

func newAnalyticsView(tb testing.TB, bc backendCase) *analyticsView {
	tb.Helper()
	store, backend := projtest.Open(tb, bc.name)
	return openAnalyticsView(tb, store, backend)
}

func openAnalyticsView(tb testing.TB, store eventstore.Store, backend projections.Backend) *analyticsView {
	tb.Helper()
	return &analyticsView{Direct: projtest.OpenDirect(tb, store, analytics.Projection{}), tb: tb, versions: map[string]int64{},
		q: queries.Service{ReadModels: projections.NewReadModels(backend)}}
}

// add queues an event of a stream, recorded at `at`.
func (v *analyticsView) add(stream string, at time.Time, ev interface{ EventType() string }) {
	v.tb.Helper()
	d, err := eventstore.NewEvent(ev.EventType(), ev, eventstore.Metadata{Command: "test"})
	if err != nil {
		v.tb.Fatal(err)
	}
	v.position++
	v.versions[stream]++
	v.pending = append(v.pending, eventstore.Event{Position: v.position, StreamID: stream, Version: v.versions[stream],
		ID: uuid.New(), Type: d.Type, Data: d.Data, RecordedAt: at.UTC()})
	if len(v.pending) >= 10_000 {
		v.flush()
	}
}

// flush applies the queued events in one ApplyBatch.
func (v *analyticsView) flush() {
	v.tb.Helper()
	if len(v.pending) == 0 {
		return
	}
	v.InTx(func(tx projections.Tx) error {
		return analytics.Projection{}.ApplyBatch(context.Background(), tx, func(s string) string { return s }, v.pending)
	})
	v.pending = v.pending[:0]
}

// register imports a registered location of CQC's on day (London's
// morning).
func (v *analyticsView) register(id, provider, cqcRegion, la, ccg, day string) {
	rec := location.CQCRecord{LocationID: id, ProviderID: provider, ProviderName: "Provider " + provider, Name: "Site " + id,
		AddressLine1: "1 High Street", Town: "Town", Postcode: "NN1 1NN", CQCRegion: cqcRegion, LocalAuthority: la,
		CCGName: ccg, RegistrationStatus: location.StatusRegistered}.Normalised()
	v.add(location.LocationStream(id), morning(day), location.CQCLocationImported{LocationID: id, Record: rec})
}

func (v *analyticsView) deregister(id, day string) {
	v.add(location.LocationStream(id), morning(day), location.LocationDeregistered{LocationID: id})
}

// submit is a daily update of the location for day, made that morning.
func (v *analyticsView) submit(id, day string, a dailyupdate.Answers) {
	v.add(dailyupdate.Stream(id), morning(day), dailyupdate.DailyUpdateSubmitted{LocationID: id, Day: day,
		SubmittedAt: morning(day), Answers: a})
}

// morning is 09:00 in London on day.
func morning(day string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" 09:00", dailyupdate.London)
	if err != nil {
		panic(err)
	}
	return t
}

// answersOf are valid answers with users service users.
func answersOf(users int, ppe dailyupdate.PPE, extraHours int) dailyupdate.Answers {
	return dailyupdate.Answers{ServiceUsers: users, Confirmed: users / 10, Suspected: users / 5, CareStaff: users + 2,
		StaffNotWorking: users / 20, PPE: ppe, CanProvideExtra: extraHours > 0, ExtraHoursPerWeek: extraHours}
}

var (
	support      = queries.Viewer{UserID: "support", Support: true}
	commissioner = queries.Viewer{UserID: "ccg-user", Commissioner: true}
)

// --- totals -------------------------------------------------------------------------

// analyticsWorld is London's three locations and one in the North East,
// over 5-9 June 2030:
//
//   - 1-1 (Croydon, CCG SWL) registered 1 June, submits every day.
//   - 1-2 (Croydon, CCG SWL) registered 6 June, submits on 6 June twice.
//   - 1-3 (Sutton, CCG SWL) registered 1 June, deregistered 7 June,
//     submits on 5 June.
//   - 1-4 (Sunderland, CCG Sunderland, North East) registered 1 June,
//     submits on 5 and 8 June.
func analyticsWorld(v *analyticsView) {
	v.register("1-1", "1-91", "London", "Croydon", "NHS SWL CCG", "2030-06-01")
	v.register("1-3", "1-92", "London", "Sutton", "NHS SWL CCG", "2030-06-01")
	v.register("1-4", "1-93", "North East", "Sunderland", "NHS Sunderland CCG", "2030-06-01")
	for d := 5; d <= 9; d++ {
		v.submit("1-1", fmt.Sprintf("2030-06-%02d", d), answersOf(10*d, dailyupdate.PPEMoreThanWeek, 0))
	}
	v.submit("1-3", "2030-06-05", answersOf(20, dailyupdate.PPETwoDaysOrLess, 5))
	v.submit("1-4", "2030-06-05", answersOf(40, dailyupdate.PPEThreeDaysWeek, 0))
	v.register("1-2", "1-91", "London", "Croydon", "NHS SWL CCG", "2030-06-06")
	v.submit("1-2", "2030-06-06", answersOf(99, dailyupdate.PPETwoDaysOrLess, 0))
	v.submit("1-2", "2030-06-06", answersOf(30, dailyupdate.PPEMoreThanWeek, 8)) // supersedes
	v.deregister("1-3", "2030-06-07")
	v.submit("1-4", "2030-06-08", answersOf(41, dailyupdate.PPEThreeDaysWeek, 0))
	v.flush()
}

func eachAnalyticsBackend(t *testing.T, fn func(t *testing.T, v *analyticsView)) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			v := newAnalyticsView(t, bc)
			analyticsWorld(v)
			fn(t, v)
		})
	}
}

// dayLine is the figures of a day that the tests compare.
func dayLine(d queries.AnalyticsDay) string {
	share := "-"
	if d.ShareSubmitted != nil {
		share = fmt.Sprintf("%.2f", *d.ShareSubmitted)
	}
	return fmt.Sprintf("%s exp=%d sub=%d share=%s users=%d extra=%d/%d ppe=%d/%d/%d", d.Day, d.LocationsExpected,
		d.LocationsSubmitted, share, d.ServiceUsers, d.LocationsOfferingExtra, d.ExtraHours, d.PPEMoreThanWeek,
		d.PPEThreeDaysToWeek, d.PPETwoDaysOrLess)
}

func TestAnalyticsDaily_TotalsAndShareSubmittedPerArea(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		for _, c := range []struct {
			name           string
			areaType, area string
			want           []string
		}{
			{"London", "nhs_region", "london", []string{
				"2030-06-04 exp=2 sub=0 share=0.00 users=0 extra=0/0 ppe=0/0/0",
				"2030-06-05 exp=2 sub=2 share=1.00 users=70 extra=1/5 ppe=1/0/1",
				// 1-2 is registered: its second update counts, not its first.
				"2030-06-06 exp=3 sub=2 share=0.67 users=90 extra=1/8 ppe=2/0/0",
				// 1-3 was deregistered on the 7th: the day still counts.
				"2030-06-07 exp=3 sub=1 share=0.33 users=70 extra=0/0 ppe=1/0/0",
				"2030-06-08 exp=2 sub=1 share=0.50 users=80 extra=0/0 ppe=1/0/0",
			}},
			{"Croydon", "local_authority", "Croydon", []string{
				"2030-06-04 exp=1 sub=0 share=0.00 users=0 extra=0/0 ppe=0/0/0",
				"2030-06-05 exp=1 sub=1 share=1.00 users=50 extra=0/0 ppe=1/0/0",
				"2030-06-06 exp=2 sub=2 share=1.00 users=90 extra=1/8 ppe=2/0/0",
				"2030-06-07 exp=2 sub=1 share=0.50 users=70 extra=0/0 ppe=1/0/0",
				"2030-06-08 exp=2 sub=1 share=0.50 users=80 extra=0/0 ppe=1/0/0",
			}},
			{"CCG", "ccg", "NHS Sunderland CCG", []string{
				"2030-06-04 exp=1 sub=0 share=0.00 users=0 extra=0/0 ppe=0/0/0",
				"2030-06-05 exp=1 sub=1 share=1.00 users=40 extra=0/0 ppe=0/1/0",
				"2030-06-06 exp=1 sub=0 share=0.00 users=0 extra=0/0 ppe=0/0/0",
				"2030-06-07 exp=1 sub=0 share=0.00 users=0 extra=0/0 ppe=0/0/0",
				"2030-06-08 exp=1 sub=1 share=1.00 users=41 extra=0/0 ppe=0/1/0",
			}},
			{"England", "", "", []string{
				"2030-06-04 exp=3 sub=0 share=0.00 users=0 extra=0/0 ppe=0/0/0",
				"2030-06-05 exp=3 sub=3 share=1.00 users=110 extra=1/5 ppe=1/1/1",
				"2030-06-06 exp=4 sub=2 share=0.50 users=90 extra=1/8 ppe=2/0/0",
				"2030-06-07 exp=4 sub=1 share=0.25 users=70 extra=0/0 ppe=1/0/0",
				"2030-06-08 exp=3 sub=2 share=0.67 users=121 extra=0/0 ppe=1/1/0",
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, viewer := range []queries.Viewer{support, commissioner} {
					got, err := v.q.AnalyticsDaily(ctx, viewer, queries.AnalyticsDailyQuery{From: "2030-06-04", To: "2030-06-08",
						AreaType: c.areaType, Area: c.area})
					if err != nil {
						t.Fatal(err)
					}
					var lines []string
					for _, d := range got.Days {
						lines = append(lines, dayLine(d))
					}
					if !slices.Equal(lines, c.want) {
						t.Errorf("days:\n got %q\nwant %q", lines, c.want)
					}
				}
			})
		}

		// Before any location was known no location is expected: no share.
		got, err := v.q.AnalyticsDaily(ctx, support, queries.AnalyticsDailyQuery{From: "2030-05-31", To: "2030-06-01"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Days[0].ShareSubmitted != nil || got.Days[0].LocationsExpected != 0 || got.Days[1].LocationsExpected != 3 {
			t.Errorf("days before and on the first registration: %q, %q", dayLine(got.Days[0]), dayLine(got.Days[1]))
		}
		// The default range: the 30 days up to today.
		got, err = v.q.AnalyticsDaily(ctx, support, queries.AnalyticsDailyQuery{Today: "2030-06-09"})
		if err != nil {
			t.Fatal(err)
		}
		if got.From != "2030-05-11" || got.To != "2030-06-09" || len(got.Days) != 30 || got.AreaType != "england" {
			t.Errorf("default range: %s to %s, %d days of %s", got.From, got.To, len(got.Days), got.AreaType)
		}
	})
}

// TestAnalyticsDaily_DaysAcrossTheClockChangesAreCalendarDays: a range
// over a clock change has one entry per calendar day (the 23 and 25 hour
// days included), and 366 days is the longest range.
func TestAnalyticsDaily_DaysAcrossTheClockChangesAreCalendarDays(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		for _, r := range []struct{ from, to string }{{"2031-03-29", "2031-03-31"}, {"2031-10-25", "2031-10-27"}} {
			got, err := v.q.AnalyticsDaily(ctx, support, queries.AnalyticsDailyQuery{From: r.from, To: r.to})
			if err != nil {
				t.Fatal(err)
			}
			var days []string
			for _, d := range got.Days {
				days = append(days, d.Day)
			}
			from, _ := time.Parse(time.DateOnly, r.from)
			want := []string{r.from, from.AddDate(0, 0, 1).Format(time.DateOnly), r.to}
			if !slices.Equal(days, want) {
				t.Errorf("days %s to %s: %q", r.from, r.to, days)
			}
		}
		got, err := v.q.AnalyticsDaily(ctx, support, queries.AnalyticsDailyQuery{From: "2030-01-01", To: "2031-01-01"})
		if err != nil || len(got.Days) != 366 {
			t.Errorf("366 days: %d days, %v", len(got.Days), err)
		}
	})
}

// invalidFieldsOf is the fields of a *domain.ValidationError.
func invalidFieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a validation error", err)
	}
	var fields []string
	for _, f := range verr.Fields {
		fields = append(fields, f.Field+":"+f.Code)
	}
	return fields
}

func TestAnalyticsDaily_InvalidQueriesNameTheirFields(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		for _, c := range []struct {
			name string
			q    queries.AnalyticsDailyQuery
			want []string
		}{
			{"unknown area type", queries.AnalyticsDailyQuery{AreaType: "county", Area: "Kent"}, []string{"area_type:invalid_choice"}},
			{"area missing", queries.AnalyticsDailyQuery{AreaType: "ccg"}, []string{"area:required"}},
			{"not an NHS region", queries.AnalyticsDailyQuery{AreaType: "nhs_region", Area: "Wessex"}, []string{"area:invalid_choice"}},
			{"England with an area", queries.AnalyticsDailyQuery{AreaType: "england", Area: "London"}, []string{"area:not_allowed"}},
			{"bad dates", queries.AnalyticsDailyQuery{From: "2030-13-01", To: "yesterday"}, []string{"to:invalid_date", "from:invalid_date"}},
			{"from after to", queries.AnalyticsDailyQuery{From: "2030-06-02", To: "2030-06-01"}, []string{"from:after_to"}},
			{"more than 366 days", queries.AnalyticsDailyQuery{From: "2030-01-01", To: "2031-01-02"}, []string{"from:range_too_long"}},
		} {
			_, err := v.q.AnalyticsDaily(ctx, support, c.q)
			if got := invalidFieldsOf(t, err); !slices.Equal(got, c.want) {
				t.Errorf("%s: fields %q, want %q", c.name, got, c.want)
			}
		}
	})
}

// TestAnalytics_EveryAreaForSupportAndCommissionersOnly: the totals, the
// per-location rows and the list of areas are refused to any other user
// (an Approver of an organisation included); compliance shows them only
// their own locations.
func TestAnalytics_EveryAreaForSupportAndCommissionersOnly(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		provider := queries.Viewer{UserID: "manager", ApproverOf: []string{"1-91"}, Locations: []string{"1-1", "1-2"}}
		if _, err := v.q.AnalyticsDaily(ctx, provider, queries.AnalyticsDailyQuery{}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("totals for a provider: %v", err)
		}
		if _, err := v.q.AnalyticsLocations(ctx, provider, queries.AnalyticsLocationsQuery{}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("per-location rows for a provider: %v", err)
		}
		if err := v.q.EachAnalyticsLocation(ctx, provider, queries.AnalyticsLocationsQuery{}, func(queries.AnalyticsLocationDay) error {
			return nil
		}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("per-location download for a provider: %v", err)
		}
		if _, err := v.q.AnalyticsAreas(ctx, provider, "ccg", 0); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("areas for a provider: %v", err)
		}
		areas, err := v.q.AnalyticsAreas(ctx, commissioner, "local_authority", 0)
		if err != nil {
			t.Fatal(err)
		}
		// Sutton's only location is deregistered.
		if want := []queries.AnalyticsArea{{Area: "Croydon", Locations: 2}, {Area: "Sunderland", Locations: 1}}; !slices.Equal(areas, want) {
			t.Errorf("local authorities: %v, want %v", areas, want)
		}
		for _, c := range []struct {
			viewer queries.Viewer
			want   []string
		}{
			{support, []string{"1-2", "1-4"}},
			{commissioner, []string{"1-2", "1-4"}},
			{provider, []string{"1-2"}},
			{queries.Viewer{UserID: "nobody"}, nil},
		} {
			got, err := v.q.Compliance(ctx, c.viewer, queries.ComplianceQuery{Today: "2030-06-09"})
			if err != nil {
				t.Fatal(err)
			}
			if ids := complianceIDs(got.Entries); !slices.Equal(ids, c.want) || got.Total != len(c.want) {
				t.Errorf("compliance for %s: %q (total %d), want %q", c.viewer.UserID, ids, got.Total, c.want)
			}
		}
	})
}

func complianceIDs(entries []queries.ComplianceEntry) []string {
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.LocationID)
	}
	return ids
}

// TestCompliance_RegisteredLocationsWithoutAnUpdateInTheWindow: "not
// today" and "not in the last N days", with the last day each submitted,
// in an area; deregistered locations are not expected.
func TestCompliance_RegisteredLocationsWithoutAnUpdateInTheWindow(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		v.register("1-5", "1-94", "London", "Croydon", "NHS SWL CCG", "2030-06-09") // never submitted
		v.flush()
		for _, c := range []struct {
			name string
			q    queries.ComplianceQuery
			want []string // id:last day
		}{
			{"not today", queries.ComplianceQuery{Today: "2030-06-09"}, []string{"1-2:2030-06-06", "1-4:2030-06-08", "1-5:-"}},
			{"not in 2 days", queries.ComplianceQuery{Today: "2030-06-09", Days: 2}, []string{"1-2:2030-06-06", "1-5:-"}},
			{"not in 4 days", queries.ComplianceQuery{Today: "2030-06-09", Days: 4}, []string{"1-5:-"}},
			{"not in 2 days in London", queries.ComplianceQuery{Today: "2030-06-09", Days: 2, AreaType: "nhs_region", Area: "London"},
				[]string{"1-2:2030-06-06", "1-5:-"}},
			{"not today in Sunderland CCG", queries.ComplianceQuery{Today: "2030-06-09", AreaType: "ccg", Area: "NHS Sunderland CCG"},
				[]string{"1-4:2030-06-08"}},
			{"the next day", queries.ComplianceQuery{Today: "2030-06-10"}, []string{"1-1:2030-06-09", "1-2:2030-06-06", "1-4:2030-06-08", "1-5:-"}},
		} {
			got, err := v.q.Compliance(ctx, support, c.q)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, e := range got.Entries {
				last := "-"
				if e.LastSubmittedDay != nil {
					last = *e.LastSubmittedDay
				}
				lines = append(lines, e.LocationID+":"+last)
			}
			if !slices.Equal(lines, c.want) {
				t.Errorf("%s: %q, want %q", c.name, lines, c.want)
			}
		}
		got, err := v.q.Compliance(ctx, support, queries.ComplianceQuery{Today: "2030-06-09", Days: 7})
		if err != nil || got.Since != "2030-06-03" || got.Days != 7 {
			t.Errorf("window of 7 days: since %s, %d days, %v", got.Since, got.Days, err)
		}
		for _, c := range []struct {
			q    queries.ComplianceQuery
			want []string
		}{
			{queries.ComplianceQuery{Days: -1}, []string{"days:out_of_range"}},
			{queries.ComplianceQuery{Days: 367}, []string{"days:out_of_range"}},
			{queries.ComplianceQuery{AreaType: "local_authority"}, []string{"area:required"}},
			{queries.ComplianceQuery{PageSize: 7}, []string{"page_size:invalid_choice"}},
		} {
			_, err := v.q.Compliance(ctx, support, c.q)
			if got := invalidFieldsOf(t, err); !slices.Equal(got, c.want) {
				t.Errorf("%+v: fields %q, want %q", c.q, got, c.want)
			}
		}
	})
}

// TestAnalyticsLocations_PagesAndDownloadWalkByDayThenLocation: the
// per-location rows page in (day, location) order with their total, and
// the download walks more rows than one batch in the same order.
func TestAnalyticsLocations_PagesAndDownloadWalkByDayThenLocation(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		page, err := v.q.AnalyticsLocations(ctx, commissioner, queries.AnalyticsLocationsQuery{From: "2030-06-05", To: "2030-06-06",
			AreaType: "nhs_region", Area: "London"})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range page.Entries {
			lines = append(lines, fmt.Sprintf("%s %s %s %s %d %s %d", e.Day, e.LocationID, e.Name, e.LocalAuthority,
				e.ServiceUsers, e.PPE, e.Submissions))
		}
		want := []string{
			"2030-06-05 1-1 Site 1-1 Croydon 50 more_than_week 1",
			"2030-06-05 1-3 Site 1-3 Sutton 20 two_days_or_less 1",
			"2030-06-06 1-1 Site 1-1 Croydon 60 more_than_week 1",
			"2030-06-06 1-2 Site 1-2 Croydon 30 more_than_week 2",
		}
		if !slices.Equal(lines, want) || page.Total != 4 {
			t.Errorf("page:\n got %q (total %d)\nwant %q", lines, page.Total, want)
		}

		// 30 more locations over 20 days: 600 rows, more than a batch.
		for i := range 30 {
			id := fmt.Sprintf("1-%d", 100+i)
			v.register(id, "1-99", "South West", "Devon", "NHS Devon CCG", "2030-07-01")
			for d := 1; d <= 20; d++ {
				v.submit(id, fmt.Sprintf("2030-07-%02d", d), answersOf(i, dailyupdate.PPEMoreThanWeek, 0))
			}
		}
		v.flush()
		q := queries.AnalyticsLocationsQuery{From: "2030-07-01", To: "2030-07-20", AreaType: "local_authority", Area: "Devon",
			PageSize: 100, Page: 4}
		page, err = v.q.AnalyticsLocations(ctx, support, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 600 || len(page.Entries) != 100 || page.Entries[0].Day != "2030-07-11" || page.Entries[0].LocationID != "1-100" {
			t.Errorf("page 4: total %d, %d entries, first %s %s", page.Total, len(page.Entries), page.Entries[0].Day, page.Entries[0].LocationID)
		}
		var walked []string
		if err := v.q.EachAnalyticsLocation(ctx, support, q, func(e queries.AnalyticsLocationDay) error {
			walked = append(walked, e.Day+" "+e.LocationID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if distinct := len(slices.Compact(slices.Clone(walked))); len(walked) != 600 || distinct != 600 || !slices.IsSorted(walked) {
			t.Errorf("download walked %d rows (%d distinct), sorted %v", len(walked), distinct, slices.IsSorted(walked))
		}
		page, err = v.q.AnalyticsLocations(ctx, support, queries.AnalyticsLocationsQuery{From: "2030-07-03", To: "2030-07-03"})
		if err != nil || page.Total != 30 {
			t.Errorf("one day of England: total %d, %v", page.Total, err)
		}
	})
}

// TestEachCompliance_WalksMoreRowsThanABatchByName: the compliance
// download walks every location that has not submitted, by name.
func TestEachCompliance_WalksMoreRowsThanABatchByName(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		for i := range 620 {
			v.register(fmt.Sprintf("1-%d", 1000+i), "1-99", "South West", "Devon", "NHS Devon CCG", "2030-06-01")
		}
		v.flush()
		var ids []string
		if err := v.q.EachCompliance(context.Background(), commissioner, queries.ComplianceQuery{Today: "2030-06-09",
			AreaType: "ccg", Area: "NHS Devon CCG"}, func(e queries.ComplianceEntry) error {
			ids = append(ids, e.LocationID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Names are "Site 1-1000" to "Site 1-1619": name order is id order.
		if len(ids) != 620 || !slices.IsSorted(ids) || ids[0] != "1-1000" || ids[619] != "1-1619" {
			t.Errorf("walked %d locations, first %v", len(ids), ids[:min(3, len(ids))])
		}
	})
}

func TestLatestDailyUpdate_TheLastDaysEffectiveAnswersForThoseWithAccess(t *testing.T) {
	eachAnalyticsBackend(t, func(t *testing.T, v *analyticsView) {
		ctx := context.Background()
		provider := queries.Viewer{UserID: "manager", Locations: []string{"1-1", "1-2"}}
		for _, c := range []struct {
			viewer   queries.Viewer
			location string
			want     string // day users extra submissions; "" none
		}{
			{support, "1-1", "2030-06-09 users=90 extra=0 submissions=1"},
			{support, "1-4", "2030-06-08 users=41 extra=0 submissions=1"},
			// Two submissions on the day: the second is the effective one.
			{provider, "1-2", "2030-06-06 users=30 extra=8 submissions=2"},
			{provider, "1-1", "2030-06-09 users=90 extra=0 submissions=1"},
			{support, "1-99", ""},
		} {
			d, ok, err := v.q.LatestDailyUpdate(ctx, c.viewer, c.location, 0)
			if err != nil {
				t.Fatalf("%s, %s: %v", c.viewer.UserID, c.location, err)
			}
			got := ""
			if ok {
				got = fmt.Sprintf("%s users=%d extra=%d submissions=%d", d.Day, d.ServiceUsers, d.ExtraHours, d.Submissions)
				if d.LocationID != c.location || d.SubmittedAt.IsZero() {
					t.Errorf("%s: location %q submitted at %v", c.location, d.LocationID, d.SubmittedAt)
				}
			}
			if got != c.want {
				t.Errorf("%s, %s: got %q, want %q", c.viewer.UserID, c.location, got, c.want)
			}
		}
		for _, c := range []struct {
			viewer   queries.Viewer
			location string
		}{{provider, "1-4"}, {commissioner, "1-1"}, {queries.Viewer{UserID: "nobody"}, "1-2"}} {
			if _, _, err := v.q.LatestDailyUpdate(ctx, c.viewer, c.location, 0); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("%s reads %s's latest update: %v, want forbidden", c.viewer.UserID, c.location, err)
			}
		}
	})
}
