package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/queries"
)

// dailyUpdateBody is a valid submission.
func dailyUpdateBody() map[string]any {
	return map[string]any{"answers": map[string]any{
		"service_users": 24, "confirmed": 1, "suspected": 2, "care_staff": 30, "staff_not_working": 3,
		"ppe": "three_days_to_week", "can_provide_extra_hours": true, "extra_hours_per_week": 40,
		"other_issues": "Waiting for a glove delivery",
	}}
}

func mustUTC(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestDailyUpdate_SupersedesWithinTheLondonDayAcrossTheClockChange submits
// around the night the clocks go back (25 October 2026, 01:00 UTC): the
// day of each submission is London's, a second submission of a day
// supersedes the first for the dashboard, "no change" copies the last
// answers, and every submission stays in the stream.
func TestDailyUpdate_SupersedesWithinTheLondonDayAcrossTheClockChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		loc := orgA.loc(0)
		path := locPath(loc, "daily-update")
		// Each step logs in afresh: the clock jumps further than a
		// session may stay idle.
		submitAt := func(at string, body map[string]any) commands.Submitted {
			t.Helper()
			w.clock.Set(mustUTC(t, at))
			var res commands.Submitted
			w.loginAs(w.standardA).post(path, body).want(http.StatusCreated).decode(&res)
			return res
		}

		first := submitAt("2026-10-24T22:30:00Z", dailyUpdateBody()) // 23:30 BST
		if first.Day != "2026-10-24" || first.Superseded || first.NoChange {
			t.Fatalf("first = %+v", first)
		}
		second := dailyUpdateBody()
		second["answers"].(map[string]any)["service_users"] = 25
		res := submitAt("2026-10-24T22:50:00Z", second) // 23:50 BST, the same day
		if res.Day != "2026-10-24" || !res.Superseded || res.Answers.ServiceUsers != 25 {
			t.Fatalf("second submission of the day = %+v", res)
		}
		res = submitAt("2026-10-24T23:05:00Z", map[string]any{"no_change": true}) // 00:05 BST: the 25th
		if res.Day != "2026-10-25" || res.Superseded || !res.NoChange || res.Answers.ServiceUsers != 25 {
			t.Fatalf("no change after midnight = %+v", res)
		}
		res = submitAt("2026-10-25T01:30:00Z", dailyUpdateBody()) // 01:30 GMT, after the clocks went back
		if res.Day != "2026-10-25" || !res.Superseded {
			t.Fatalf("after the clock change = %+v", res)
		}
		res = submitAt("2026-10-25T23:59:59Z", dailyUpdateBody()) // 23:59:59 GMT: still the 25th
		if res.Day != "2026-10-25" || !res.Superseded {
			t.Fatalf("at the end of the 25-hour day = %+v", res)
		}
		last := submitAt("2026-10-26T00:00:00Z", dailyUpdateBody())
		if last.Day != "2026-10-26" || last.Superseded {
			t.Fatalf("at midnight GMT = %+v", last)
		}

		evs := w.stream(dailyupdate.Stream(loc))
		var days []string
		for _, ev := range evs {
			d, err := dailyupdate.Decode(ev.Type, ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			days = append(days, d.(dailyupdate.DailyUpdateSubmitted).Day)
			if ev.Metadata.ActorUserID != w.standardA.ID.String() || ev.Metadata.Command != "SubmitDailyUpdate" || ev.Metadata.SessionID == "" {
				t.Errorf("metadata %+v, want standardA's session", ev.Metadata)
			}
		}
		if want := []string{"2026-10-24", "2026-10-24", "2026-10-25", "2026-10-25", "2026-10-25", "2026-10-26"}; !slices.Equal(days, want) {
			t.Fatalf("the stream keeps every submission: days %v, want %v", days, want)
		}

		// The form and the dashboard show the day's update.
		c := w.loginAs(w.standardA)
		var form httpapi.DailyUpdateForm
		c.get(path).want(http.StatusOK).decode(&form)
		if form.Today != "2026-10-26" || !form.SubmittedToday || form.Last == nil || form.Last.Day != "2026-10-26" || len(form.Questions) != 9 {
			t.Fatalf("form = %+v", form)
		}
		var e queries.DashboardEntry
		c.getAt(locPath(loc, "dashboard"), last.Position).want(http.StatusOK).decode(&e)
		if e.DailyUpdateMissingToday || e.LastDailyUpdateAt == nil || !e.LastDailyUpdateAt.Equal(mustUTC(t, "2026-10-26T00:00:00Z")) ||
			slices.Contains(e.Needs, queries.NeedDailyUpdate) {
			t.Fatalf("dashboard after today's update = %+v", e)
		}
		// The next London day, it is missing again.
		w.clock.Set(mustUTC(t, "2026-10-27T00:00:00Z"))
		c = w.loginAs(w.standardA)
		c.getAt(locPath(loc, "dashboard"), last.Position).want(http.StatusOK).decode(&e)
		if !e.DailyUpdateMissingToday || !slices.Contains(e.Needs, queries.NeedDailyUpdate) {
			t.Fatalf("dashboard a day later = %+v", e)
		}
		c.get(path).want(http.StatusOK).decode(&form)
		if form.SubmittedToday {
			t.Fatalf("a day later the form says submitted today: %+v", form)
		}
	})
}

// TestDailyUpdate_InvalidAnswersAreRefusedByFieldAndAppendNothing: every
// rule's failure is reported on its field at once, with the guide's
// wording, and nothing is appended.
func TestDailyUpdate_InvalidAnswersAreRefusedByFieldAndAppendNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.approverA)
		path := locPath(orgA.loc(0), "daily-update")
		count := w.eventCount()

		e := c.post(path, map[string]any{"answers": map[string]any{
			"service_users": 5, "confirmed": 4, "suspected": 2, "care_staff": 3, "staff_not_working": 4,
			"ppe": "loads", "can_provide_extra_hours": false, "extra_hours_per_week": 2.5,
		}}).wantError(http.StatusUnprocessableEntity, "validation_failed")
		want := []string{"confirmed", "suspected", "staff_not_working", "ppe", "extra_hours_per_week"}
		if got := fieldNames(e); !slices.Equal(got, want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
		for _, f := range e.Fields {
			if f.Field == "staff_not_working" && f.Message != dailyupdate.MsgStaffAbsent {
				t.Errorf("message %q, want the guide's", f.Message)
			}
		}
		c.post(path, map[string]any{"answers": map[string]any{}}).wantError(http.StatusUnprocessableEntity, "validation_failed")
		c.post(path, map[string]any{"answers": map[string]any{"service_users": 1}, "colour": "red"}).wantError(http.StatusBadRequest, "invalid_json")
		// Nothing to copy yet.
		c.post(path, map[string]any{"no_change": true}).wantError(http.StatusUnprocessableEntity, "no_previous_update")
		w.unchanged("invalid daily updates", count)
	})
}
