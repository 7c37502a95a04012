package web_test

import (
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// extraHoursShown reports whether the extra hours box is on the screen.
func (b *tab) extraHoursShown() bool {
	b.t.Helper()
	return get(b, "look for the extra hours box", chromedp.Evaluate[bool](`document.getElementById('extra_hours_per_week').offsetParent !== null`))
}

func TestWeb_ProviderSubmitsDailyUpdate(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b.signInAs(rosa)
		b.open("/locations/1-200")
		b.sees("Cranberry Home Care")
		b.reads("Today's COVID-19 update is missing.")
		b.follow("COVID-19 Update (Daily)")
		b.sees("COVID-19 Update at Cranberry Home Care")
		b.reads("There is no earlier update: answer every question.")

		// The extra hours box: only after Yes with JavaScript, always
		// without.
		if shown := b.extraHoursShown(); shown == b.js {
			b.fail("before a choice the extra hours box is shown: %v (JavaScript %v)", shown, b.js)
		}
		b.tick("Yes")
		if !b.extraHoursShown() {
			b.fail("after Yes the extra hours box is hidden")
		}
		b.tick("No")
		if shown := b.extraHoursShown(); shown == b.js {
			b.fail("after No the extra hours box is shown: %v (JavaScript %v)", shown, b.js)
		}

		// Every rule broken at once.
		b.fill(dailyupdate.Questions[dailyupdate.FieldServiceUsers], "5")
		b.fill(dailyupdate.Questions[dailyupdate.FieldConfirmed], "4")
		b.fill(dailyupdate.Questions[dailyupdate.FieldSuspected], "3")
		b.fill(dailyupdate.Questions[dailyupdate.FieldCareStaff], "2")
		b.fill(dailyupdate.Questions[dailyupdate.FieldStaffNotWorking], "3")
		b.tick("Yes")
		b.fill(dailyupdate.Questions[dailyupdate.FieldExtraHours], "0")
		b.press("Save Details")
		b.sees("COVID-19 Update at Cranberry Home Care")
		b.reads("There is a problem")
		for _, msg := range []string{dailyupdate.MsgUsersWithCovid, dailyupdate.MsgStaffAbsent, dailyupdate.MsgExtraHours, dailyupdate.MsgRequired} {
			b.reads(msg)
		}
		if !b.extraHoursShown() {
			b.fail("the extra hours box with its error is hidden")
		}

		// Fixed.
		b.fill(dailyupdate.Questions[dailyupdate.FieldServiceUsers], "40")
		b.fill(dailyupdate.Questions[dailyupdate.FieldCareStaff], "25")
		b.tick("We have enough PPE to last more than a week")
		b.fill(dailyupdate.Questions[dailyupdate.FieldExtraHours], "12")
		b.press("Save Details")
		b.sees("Cranberry Home Care")
		b.reads("COVID-19 update saved")
		// The dashboard waits a bounded time for its views (the HTTP
		// tests check that it shows the update); on a loaded machine
		// look again once they have it.
		s.settle()
		b.open("/locations/1-200")
		b.reads("The last COVID-19 update was saved at")

		// No change, on the same day: it replaces the first.
		b.follow("COVID-19 Update (Daily)")
		b.reads("You updated today already")
		b.reads("We have enough PPE to last more than a week")
		b.press("No change since my last update")
		b.sees("Cranberry Home Care")
		b.reads("It replaced your earlier update of today.")
	})
}

func TestWeb_DailyUpdateWithTheKeyboardAlone(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b := openTab(t, s, true)
		b.signInAs(rosa)
		b.open("/locations/1-200/daily-update")
		for _, f := range []struct{ id, value string }{
			{"service_users", "40"}, {"confirmed", "2"}, {"suspected", "3"}, {"care_staff", "25"}, {"staff_not_working", "4"},
		} {
			b.tabTo("input#" + f.id)
			b.key(f.value)
		}
		// Into the PPE radios (the first), Space chooses it.
		b.tabTo("input#ppe|")
		b.key(" ")
		// Out to the next question's first radio, Yes: Space reveals the
		// box, which Tab reaches next (its 0 selected, so typing
		// replaces it).
		b.tabTo("input#can_provide_extra_hours|")
		b.key(" ")
		b.tabTo("input#extra_hours_per_week")
		b.key("12")
		b.tabTo("button|Save Details")
		b.navigateBy("press Enter on Save Details", chromedpKey(kb.Enter))
		b.sees("Cranberry Home Care")
		b.reads("COVID-19 update saved")
		b.open("/locations/1-200/daily-update")
		b.reads("We have enough PPE to last more than a week")
		b.reads("Your last update")
	})
}

// TestWeb_ScreenshotsOfTheLocationPages photographs the dashboard and the
// daily update (empty, with errors, after saving) at a desktop and a phone
// width, as TestWeb_Screenshots does (-screenshots=DIR).
func TestWeb_ScreenshotsOfTheLocationPages(t *testing.T) {
	t.Parallel()
	dir := *screenshotDir
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, projtest.SQLite)
	rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
	s.register("kim.carer@cranberry.example.org", "Kim Carer")
	atEachWidth(t, s, dir, func(b *tab, shoot func(name string)) {
		b.signInAs(rosa)
		b.open("/locations/1-200")
		shoot("location-dashboard")
		b.follow("COVID-19 Update (Daily)")
		shoot("daily-update")
		b.fill(dailyupdate.Questions[dailyupdate.FieldServiceUsers], "5")
		b.fill(dailyupdate.Questions[dailyupdate.FieldConfirmed], "4")
		b.fill(dailyupdate.Questions[dailyupdate.FieldSuspected], "3")
		b.tick("Yes")
		b.press("Save Details")
		shoot("daily-update-errors")
		b.fill(dailyupdate.Questions[dailyupdate.FieldServiceUsers], "40")
		b.fill(dailyupdate.Questions[dailyupdate.FieldCareStaff], "25")
		b.fill(dailyupdate.Questions[dailyupdate.FieldStaffNotWorking], "4")
		b.tick("We have enough PPE to last between 3 days and a week")
		b.fill(dailyupdate.Questions[dailyupdate.FieldExtraHours], "12")
		b.press("Save Details")
		shoot("location-dashboard-saved")
		b.follow("COVID-19 Update (Daily)")
		shoot("daily-update-again")
		b.press("Sign out")
	})
}
