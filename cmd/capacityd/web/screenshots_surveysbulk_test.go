package web_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

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

	for _, width := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 375, 812, true}} {
		b := openTab(t, s, true)
		opts := []chromedp.EmulateViewportOption{}
		if width.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("set the window size", chromedp.EmulateViewport(width.width, width.height, opts...))
		shoot := func(name string) {
			t.Helper()
			png := get(b, "take a screenshot", chromedp.FullScreenshot(100))
			if !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("%s: not a PNG", name)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+width.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
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
	}
}
