package analytics_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/analytics"
	"github.com/capacitytracker/capacity/projections/analytics/analyticstest"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// --- applying events by hand ----------------------------------------------------

// analyticsDB is a fresh database with the analytics tables and no
// engine: tests hand the projection events they make up, with the
// positions and recorded-at times they need.
type analyticsDB struct {
	*projtest.Direct
	t  *testing.T
	rm projections.ReadModels
}

func openAnalyticsDB(t *testing.T, backend string) *analyticsDB {
	t.Helper()
	store, pb := projtest.Open(t, backend)
	return &analyticsDB{Direct: projtest.OpenDirect(t, store, analytics.Projection{}), t: t, rm: projections.NewReadModels(pb)}
}

// applyBatch applies events in one ApplyBatch.
func (a *analyticsDB) applyBatch(evs ...eventstore.Event) {
	a.t.Helper()
	a.InTx(func(tx projections.Tx) error {
		return analytics.Projection{}.ApplyBatch(context.Background(), tx, projtest.Identity, evs)
	})
}

// applyEach applies events one by one, each in its own transaction, as
// live delivery does.
func (a *analyticsDB) applyEach(evs ...eventstore.Event) {
	a.t.Helper()
	for _, ev := range evs {
		a.InTx(func(tx projections.Tx) error {
			return analytics.Projection{}.Apply(context.Background(), tx, projtest.Identity, ev)
		})
	}
}

// rows reads a query's rows as text, "|"-joined, in the query's order.
func (a *analyticsDB) rows(query string, args ...any) []string {
	a.t.Helper()
	return projtest.ScanStrings(a.t, a.rm, query, args...)
}

// eventMaker numbers the events it makes, in log order.
type eventMaker struct {
	t        *testing.T
	position int64
	versions map[string]int64
}

func newEventMaker(t *testing.T) *eventMaker {
	return &eventMaker{t: t, versions: map[string]int64{}}
}

func (m *eventMaker) event(stream string, at time.Time, ev interface{ EventType() string }) eventstore.Event {
	m.t.Helper()
	d, err := eventstore.NewEvent(ev.EventType(), ev, eventstore.Metadata{Command: "test"})
	if err != nil {
		m.t.Fatal(err)
	}
	m.position++
	m.versions[stream]++
	return eventstore.Event{Position: m.position, StreamID: stream, Version: m.versions[stream], ID: uuid.New(),
		Type: d.Type, Data: d.Data, RecordedAt: at.UTC()}
}

func (m *eventMaker) location(id string, at time.Time, ev interface{ EventType() string }) eventstore.Event {
	return m.event(location.LocationStream(id), at, ev)
}

// update is a daily update of the location for day, made at `at`.
func (m *eventMaker) update(id, day string, at time.Time, a dailyupdate.Answers) eventstore.Event {
	return m.event(dailyupdate.Stream(id), at, dailyupdate.DailyUpdateSubmitted{LocationID: id, Day: day, SubmittedAt: at, Answers: a})
}

// cqcRecord is a registered location of CQC's in an area.
func cqcRecord(id, provider, cqcRegion, la, ccg string) location.CQCRecord {
	return location.CQCRecord{LocationID: id, ProviderID: provider, ProviderName: "Provider " + provider, Name: "Site " + id,
		AddressLine1: "1 High Street", Town: "Town", Postcode: "NN1 1NN", CQCRegion: cqcRegion, LocalAuthority: la,
		CCGName: ccg, RegistrationStatus: location.StatusRegistered}.Normalised()
}

func at(day, clock string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+clock, dailyupdate.London)
	if err != nil {
		panic(err)
	}
	return t
}

// --- periods, moves and deregistrations -----------------------------------------------

// TestAnalytics_PeriodsFollowRegistrationMovesAndDeregistration follows
// one location through its life: the days it is expected on and the area
// its updates count in follow its registration, its move to another local
// authority (its updates of that day and later move with it, those of
// earlier days stay), its deregistration (the day still counts) and its
// registration again the same day; every change happens on London's day
// of the recorded time (23:30 UTC in summer is the next day).
func TestAnalytics_PeriodsFollowRegistrationMovesAndDeregistration(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a := openAnalyticsDB(t, backend)
			m := newEventMaker(t)
			const id, other = "1-100", "1-200"
			rec := cqcRecord(id, "1-9", "North East", "Sunderland", "NHS Sunderland CCG")
			// 2030-06-01 23:30 UTC is 2 June in London (BST).
			a.applyEach(
				m.event(location.OrganisationStream("1-9"), at("2030-06-01", "09:00"), location.OrganisationRegistered{OrganisationID: "1-9", Name: "Nine Ltd", Type: location.HomeCare}),
				m.location(id, time.Date(2030, 6, 1, 23, 30, 0, 0, time.UTC), location.CQCLocationImported{LocationID: id, Record: rec}),
				m.location(other, at("2030-06-02", "08:00"), location.CQCLocationImported{LocationID: other, Record: cqcRecord(other, "1-9", "North East", "Sunderland", "NHS Sunderland CCG")}),
				m.update(id, "2030-06-02", at("2030-06-02", "10:00"), analyticstest.Answers(10, dailyupdate.PPEMoreThanWeek)),
				m.update(other, "2030-06-02", at("2030-06-02", "10:05"), analyticstest.Answers(7, dailyupdate.PPETwoDaysOrLess)),
				m.update(id, "2030-06-04", at("2030-06-04", "10:00"), analyticstest.Answers(12, dailyupdate.PPEThreeDaysWeek)),
				// The move on 4 June, after that day's update.
				m.location(id, at("2030-06-04", "15:00"), location.CQCDetailsChanged{LocationID: id, Changes: []location.FieldChange{
					{Field: "local_authority", Before: "Sunderland", After: "Gateshead"}}}),
				m.update(id, "2030-06-05", at("2030-06-05", "10:00"), analyticstest.Answers(14, dailyupdate.PPEMoreThanWeek)),
				m.location(id, at("2030-06-06", "09:00"), location.LocationDeregistered{LocationID: id, Date: "2030-06-06"}),
				m.location(id, at("2030-06-06", "17:00"), location.LocationReregistered{LocationID: id}),
				m.location(id, at("2030-06-08", "09:00"), location.LocationDeregistered{LocationID: id}),
				m.location(id, at("2030-06-10", "09:00"), location.LocationReregistered{LocationID: id}),
				m.event(location.OrganisationStream("1-9"), at("2030-06-11", "09:00"), location.OrganisationRenamed{OrganisationID: "1-9", Before: "Nine Ltd", After: "Nine Care Ltd"}),
			)
			got := a.rows(`SELECT location_id || '|' || from_day || '|' || COALESCE(to_day, '-') || '|' || local_authority
FROM analytics_location_periods ORDER BY location_id, from_day`)
			want := []string{
				"1-100|2030-06-02|2030-06-03|Sunderland",
				"1-100|2030-06-04|2030-06-08|Gateshead",
				"1-100|2030-06-10|-|Gateshead",
				"1-200|2030-06-02|-|Sunderland",
			}
			if !slices.Equal(got, want) {
				t.Errorf("periods:\n got %q\nwant %q", got, want)
			}
			got = a.rows(`SELECT location_id || '|' || name || '|' || organisation_name || '|' || local_authority || '|' ||
    registration_status || '|' || registered_on || '|' || COALESCE(deregistered_on, '-') || '|' || COALESCE(last_submitted_day, '-')
FROM analytics_locations ORDER BY location_id`)
			want = []string{
				"1-100|Site 1-100|Nine Care Ltd|Gateshead|Registered|2030-06-02|-|2030-06-05",
				"1-200|Site 1-200|Nine Care Ltd|Sunderland|Registered|2030-06-02|-|2030-06-02",
			}
			if !slices.Equal(got, want) {
				t.Errorf("locations:\n got %q\nwant %q", got, want)
			}
			got = a.rows(`SELECT day || '|' || location_id || '|' || local_authority FROM analytics_daily_location ORDER BY day, location_id`)
			want = []string{"2030-06-02|1-100|Sunderland", "2030-06-02|1-200|Sunderland", "2030-06-04|1-100|Gateshead", "2030-06-05|1-100|Gateshead"}
			if !slices.Equal(got, want) {
				t.Errorf("daily rows:\n got %q\nwant %q", got, want)
			}
			got = a.rows(`SELECT area_type || '|' || area || '|' || day || '|' || locations_submitted || '|' || service_users
FROM analytics_daily_area WHERE area_type IN ('england', 'local_authority') ORDER BY area_type, area, day`)
			want = []string{
				"england||2030-06-02|2|17", "england||2030-06-04|1|12", "england||2030-06-05|1|14",
				"local_authority|Gateshead|2030-06-04|1|12", "local_authority|Gateshead|2030-06-05|1|14",
				"local_authority|Sunderland|2030-06-02|2|17",
			}
			if !slices.Equal(got, want) {
				t.Errorf("totals:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestAnalytics_LaterSubmissionSupersedesTheEarlier: a second update of
// the same location and day replaces the first in the location's row and
// in every total (its PPE level, its counts), and a superseding update
// that moved area (its location moved in between) leaves no empty row
// behind.
func TestAnalytics_LaterSubmissionSupersedesTheEarlier(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a := openAnalyticsDB(t, backend)
			m := newEventMaker(t)
			a.applyBatch(
				m.location("1-1", at("2030-01-10", "08:00"), location.CQCLocationImported{LocationID: "1-1", Record: cqcRecord("1-1", "1-9", "London", "Croydon", "NHS SWL CCG")}),
				m.location("1-2", at("2030-01-10", "08:00"), location.CQCLocationImported{LocationID: "1-2", Record: cqcRecord("1-2", "1-9", "London", "Sutton", "NHS SWL CCG")}),
				m.update("1-1", "2030-01-10", at("2030-01-10", "09:00"), analyticstest.Answers(10, dailyupdate.PPEMoreThanWeek)),
				m.update("1-2", "2030-01-10", at("2030-01-10", "09:00"), analyticstest.Answers(20, dailyupdate.PPEMoreThanWeek)),
			)
			a.applyEach(m.update("1-1", "2030-01-10", at("2030-01-10", "11:00"), analyticstest.Answers(30, dailyupdate.PPETwoDaysOrLess)))
			got := a.rows(`SELECT area_type || '|' || area || '|' || locations_submitted || '|' || service_users || '|' ||
    ppe_more_than_week || '|' || ppe_two_days_or_less FROM analytics_daily_area ORDER BY area_type, area`)
			want := []string{"ccg|NHS SWL CCG|2|50|1|1", "england||2|50|1|1", "local_authority|Croydon|1|30|0|1",
				"local_authority|Sutton|1|20|1|0", "nhs_region|London|2|50|1|1"}
			if !slices.Equal(got, want) {
				t.Errorf("totals after the second submission:\n got %q\nwant %q", got, want)
			}
			got = a.rows(`SELECT location_id || '|' || service_users || '|' || ppe || '|' || submissions || '|' || position
FROM analytics_daily_location ORDER BY location_id`)
			want = []string{"1-1|30|two_days_or_less|2|5", "1-2|20|more_than_week|1|4"}
			if !slices.Equal(got, want) {
				t.Errorf("daily rows:\n got %q\nwant %q", got, want)
			}

			// 1-1 moves to Sutton the same day: its update moves too, and
			// Croydon's row of the day, now counting nothing, goes.
			a.applyEach(m.location("1-1", at("2030-01-10", "12:00"), location.CQCDetailsChanged{LocationID: "1-1",
				Changes: []location.FieldChange{{Field: "local_authority", Before: "Croydon", After: "Sutton"}}}))
			got = a.rows(`SELECT area || '|' || locations_submitted || '|' || service_users FROM analytics_daily_area
WHERE area_type = 'local_authority' ORDER BY area`)
			if want := []string{"Sutton|2|50"}; !slices.Equal(got, want) {
				t.Errorf("local authorities after the move: got %q, want %q", got, want)
			}
		})
	}
}

// TestAnalytics_ApplyBatchEqualsApplyOneByOne applies random sequences of
// made-up events (registrations, moves between areas, deregistrations,
// renames, updates of random days, superseding ones among them) once in
// batches of random sizes, as a rebuild or a live page does, and once event
// by event through Apply: the tables must be equal row for row, and every
// total must be the sum of the effective updates it counts.
func TestAnalytics_ApplyBatchEqualsApplyOneByOne(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			batched, single := openAnalyticsDB(t, backend), openAnalyticsDB(t, backend)
			rnd := rand.New(rand.NewPCG(7, uint64(len(backend))))
			evs := randomAnalyticsEvents(t, rnd, 1500)
			for len(evs) > 0 {
				n := min(len(evs), 1+rnd.IntN(300))
				batched.applyBatch(evs[:n]...)
				single.applyEach(evs[:n]...)
				evs = evs[n:]
			}
			tables := analytics.Projection{}.Tables()
			got, want := projtest.DumpTables(t, batched.rm, tables), projtest.DumpTables(t, single.rm, tables)
			for _, table := range tables {
				if len(want[table]) == 0 {
					t.Errorf("%s is empty: the test proves nothing about it", table)
				}
				projtest.DiffRows(t, table, got[table], want[table])
			}
			analyticstest.CheckTotalsAreSums(t, batched.rm)
		})
	}
}

// randomAnalyticsEvents makes n events of 30 locations, the recorded time
// moving forward from 20 March 2031 by up to 7 hours an event (about seven
// months for 1,500 events, across both clock changes of 2031).
func randomAnalyticsEvents(t *testing.T, rnd *rand.Rand, n int) []eventstore.Event {
	m := newEventMaker(t)
	now := time.Date(2031, 3, 20, 6, 0, 0, 0, time.UTC)
	regions := []string{"North East", "London", "South West", ""}
	las := []string{"Sunderland", "Croydon", "Devon", ""}
	ccgs := []string{"CCG A", "CCG B", ""}
	known := map[string]bool{}
	var evs []eventstore.Event
	for i := range 3 {
		org := fmt.Sprintf("1-90%d", i)
		evs = append(evs, m.event(location.OrganisationStream(org), now, location.OrganisationRegistered{
			OrganisationID: org, Name: "Org " + org, Type: location.HomeCare}))
	}
	for len(evs) < n {
		now = now.Add(time.Duration(rnd.IntN(420)) * time.Minute)
		id := fmt.Sprintf("1-%d", 1+rnd.IntN(30))
		org := fmt.Sprintf("1-90%d", rnd.IntN(3))
		switch k := rnd.IntN(100); {
		case !known[id] || k < 5:
			known[id] = true
			rec := cqcRecord(id, org, regions[rnd.IntN(len(regions))], las[rnd.IntN(len(las))], ccgs[rnd.IntN(len(ccgs))])
			if rnd.IntN(6) == 0 {
				rec.RegistrationStatus = location.StatusDeregistered
			}
			if rnd.IntN(3) == 0 {
				evs = append(evs, m.location(id, now, location.LocationRegistered{LocationID: id, OrganisationID: org,
					Name: "Registered " + id, LocalAuthority: rec.LocalAuthority, CCG: rec.CCGName}))
			} else {
				evs = append(evs, m.location(id, now, location.CQCLocationImported{LocationID: id, Record: rec}))
			}
		case k < 15:
			field, values := "local_authority", las
			switch rnd.IntN(3) {
			case 1:
				field, values = "ccg_name", ccgs
			case 2:
				field, values = "nhs_region", []string{location.NHSLondon, location.NHSSouthWest, ""}
			}
			evs = append(evs, m.location(id, now, location.CQCDetailsChanged{LocationID: id, Changes: []location.FieldChange{
				{Field: field, After: values[rnd.IntN(len(values))]}}}))
		case k < 20:
			evs = append(evs, m.location(id, now, location.LocationDeregistered{LocationID: id}))
		case k < 25:
			evs = append(evs, m.location(id, now, location.LocationReregistered{LocationID: id}))
		case k < 27:
			evs = append(evs, m.event(location.OrganisationStream(org), now, location.OrganisationRenamed{OrganisationID: org,
				After: fmt.Sprintf("Org %d", rnd.IntN(100))}))
		case k < 29:
			evs = append(evs, m.location(id, now, location.AddressChanged{LocationID: id, Changes: []location.FieldChange{
				{Field: "name", After: fmt.Sprintf("Edited %d", rnd.IntN(100))}}}))
		default:
			// Mostly today's update, sometimes another day's (the view
			// must not care).
			day := dailyupdate.Day(now)
			if rnd.IntN(8) == 0 {
				day = dailyupdate.Day(now.Add(time.Duration(rnd.IntN(97)-48) * time.Hour))
			}
			ppe := []dailyupdate.PPE{dailyupdate.PPEMoreThanWeek, dailyupdate.PPEThreeDaysWeek, dailyupdate.PPETwoDaysOrLess}[rnd.IntN(3)]
			evs = append(evs, m.update(id, day, now, analyticstest.Answers(rnd.IntN(40), ppe)))
		}
	}
	return evs
}

// --- through the commands ---------------------------------------------------------------

// TestAnalytics_DayIsLondonsAcrossClockChanges submits daily updates
// through the commands at instants around the next two clock changes: in
// March, 23:30 UTC on the Saturday is that Saturday in London and 23:30
// UTC on the Sunday is already Monday (BST); in October, 23:30 UTC on the
// Saturday is already Sunday (BST) and 23:30 UTC on the Sunday is still
// Sunday (GMT), so that the second supersedes the first.
func TestAnalytics_DayIsLondonsAcrossClockChanges(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, pb := projtest.Open(t, backend)
			clock := projtest.NewClock(time.Now())
			cfg := commands.DefaultConfig()
			cfg.Hash = password.FastParams()
			acc, err := commands.New(ctx, store, cfg, clock.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			e, err := projections.NewEngine(pb, projtest.CaptureLog(t, slog.LevelWarn), analytics.Projection{})
			if err != nil {
				t.Fatal(err)
			}
			projtest.RunEngine(t, e)
			sys := commands.System("test")
			rec := cqcRecord("1-101641286", "1-101613599", "London", "Croydon", "NHS SWL CCG")
			if _, err := acc.ImportCQC(ctx, sys, []location.CQCRecord{rec}); err != nil {
				t.Fatal(err)
			}
			march, october := analyticstest.NextClockChange(time.Now(), time.March), analyticstest.NextClockChange(time.Now(), time.October)
			submit := func(when time.Time, users int) int64 {
				clock.Advance(when.Sub(clock.Now()))
				form := analyticstest.Answers(users, dailyupdate.PPEMoreThanWeek).Form()
				res, err := acc.SubmitDailyUpdate(ctx, sys, dailyupdate.Submit{LocationID: rec.LocationID, Form: form})
				if err != nil {
					t.Fatal(err)
				}
				return res.Position
			}
			day := func(t time.Time) string { return t.Format(time.DateOnly) }
			var last int64
			for _, s := range []struct {
				at    time.Time
				users int
			}{
				{march.AddDate(0, 0, -1).Add(23*time.Hour + 30*time.Minute), 10},   // Saturday 23:30 GMT
				{march.Add(23*time.Hour + 30*time.Minute), 11},                     // Monday 00:30 BST
				{october.AddDate(0, 0, -1).Add(23*time.Hour + 30*time.Minute), 12}, // Sunday 00:30 BST
				{october.Add(23*time.Hour + 30*time.Minute), 13},                   // Sunday 23:30 GMT
			} {
				last = submit(s.at, s.users)
			}
			projtest.WaitFor(t, e, last, 10*time.Minute)
			got := projtest.ScanStrings(t, projections.NewReadModels(pb), `SELECT day || '|' || service_users || '|' || submissions FROM analytics_daily_location ORDER BY day`)
			want := []string{
				day(march.AddDate(0, 0, -1)) + "|10|1",
				day(march.AddDate(0, 0, 1)) + "|11|1",
				day(october) + "|13|2",
			}
			if !slices.Equal(got, want) {
				t.Errorf("days of the updates: got %q, want %q", got, want)
			}
			got = projtest.ScanStrings(t, projections.NewReadModels(pb), `SELECT day || '|' || locations_submitted || '|' || service_users FROM analytics_daily_area
WHERE area_type = 'england' ORDER BY day`)
			want = []string{day(march.AddDate(0, 0, -1)) + "|1|10", day(march.AddDate(0, 0, 1)) + "|1|11", day(october) + "|1|13"}
			if !slices.Equal(got, want) {
				t.Errorf("England's totals: got %q, want %q", got, want)
			}
		})
	}
}
