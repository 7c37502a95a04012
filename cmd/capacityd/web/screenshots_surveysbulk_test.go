package web_test

import (
	"os"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// TestWeb_ScreenshotsOfSurveysAndBulkUpdate photographs the Surveys pages
// and the bulk update page in each of their states, at a desktop and a
// phone width, as TestWeb_Screenshots does (-screenshots=DIR).
func TestWeb_ScreenshotsOfSurveysAndBulkUpdate(t *testing.T) {
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
	c := s.signedIn(rosa, "/")
	bad := filled(t, c.template(""), append(dailyRow("twelve"), "Contacts", "F2", "not an email")...)
	good := filled(t, c.template(""), dailyRow(12)...)
	s.openSurvey("Syringe driver supplies")

	atEachWidth(t, s, dir, func(b *tab, shoot func(name string)) {
		b.signInAs(rosa)
		shoot("main-menu-bulk-updates")
		b.open("/locations/1-200/surveys")
		shoot("surveys")
		b.follow("Syringe driver supplies")
		shoot("survey")
		b.fill("How many staff have had the flu vaccine?", "lots")
		b.press("Save answers")
		shoot("survey-error")
		b.open("/bulk-update")
		shoot("bulk-update")
		b.attach("completed.xlsx", bad)
		b.press("Submit Completed Template")
		shoot("bulk-update-policy-error")
		b.tick(commands.BulkAcknowledgement)
		b.attach("completed.xlsx", bad)
		b.press("Submit Completed Template")
		shoot("bulk-update-errors")
		b.attach("completed.xlsx", good)
		b.press("Submit Completed Template")
		shoot("bulk-update-applied")
	})
}
