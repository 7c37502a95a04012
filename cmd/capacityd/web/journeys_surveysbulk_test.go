package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/survey"
)

// attach chooses a file for the file input (chromedp's SetUploadFiles,
// as a person picks one in the file dialog).
func (b *tab) attach(name string, data []byte) {
	b.t.Helper()
	path := filepath.Join(b.t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.do("choose the file "+name, chromedp.SetUploadFiles(chromedp.CSS(`input[name="file"]`), []string{path}))
}

func TestWeb_ProviderAnswersASurvey(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.openSurvey("Syringe driver supplies")

		b.signInAs(rosa)
		b.open("/locations/1-200/surveys")
		b.sees("Surveys for Cranberry Home Care")
		b.reads("Not answered")
		b.follow("Syringe driver supplies")
		b.sees("Syringe driver supplies")
		b.fill("How many staff have had the flu vaccine?", "lots")
		b.tick("Weekly")
		b.press("Save answers")
		b.reads("There is a problem")
		b.reads(survey.MsgWholeNumber)
		b.reads(survey.MsgRequired)
		if title := b.title(); !strings.HasPrefix(title, "Error: ") {
			b.fail("title %q does not start with Error: ", title)
		}
		b.fill("How many staff have had the flu vaccine?", "12")
		b.tick("Yes")
		b.press("Save answers")
		b.reads("Your answers have been saved.")
		// The page waits a moment for its view; on a loaded machine it may
		// not have the answers yet, so look again once it has.
		s.settle()
		b.follow("Back to Surveys")
		b.reads("Last answered on")
		b.follow("Syringe driver supplies")
		b.reads("You last answered it on")
	})
}

func TestWeb_ProviderUploadsABulkUpdateWithABadRowThenCorrectsIt(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		// The person's template, filled in as they would in Excel.
		c := s.signedIn(rosa, "/")
		bad := filled(t, c.template(""), dailyRow("twelve")...)
		good := filled(t, c.template(""), dailyRow(12)...)
		if strings.HasSuffix(t.Name(), "postgres/javascript") {
			// Once: the workbook as LibreOffice saves it.
			good = libreOfficeCopy(t, good)
		}

		b.signInAs(rosa)
		b.follow("Bulk Updates")
		b.sees("Business Continuity & Vacancy Update")
		b.reads("Download template")
		// The box left unticked: its message, the file not read.
		b.attach("completed.xlsx", bad)
		b.press("Submit Completed Template")
		b.reads("There is a problem")
		b.reads("Error: " + commands.BulkAcknowledgement)

		b.tick(commands.BulkAcknowledgement)
		b.attach("completed.xlsx", bad)
		b.press("Submit Completed Template")
		b.reads("The file has errors")
		b.reads("Service users today (D2) " + dailyupdate.MsgWholeNumber)
		b.reads("Download the workbook with the errors marked")

		// The box stays ticked: the corrected file alone.
		b.attach("completed.xlsx", good)
		b.press("Submit Completed Template")
		b.reads("Your upload has been applied.")
		b.reads("Rows applied per sheet")
		b.reads("Home Care 1 0")
	})
}
