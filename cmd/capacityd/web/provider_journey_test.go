package web_test

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// write types into the text area with the label.
func (b *tab) write(label, value string) {
	b.t.Helper()
	sel := `//textarea[@id=//label[normalize-space(.)=` + xpathLiteral(label) + `]/@for]`
	clear := `for (const l of document.querySelectorAll('label')) { if (l.textContent.trim() === ` + xpathLiteral(label) + `) document.getElementById(l.htmlFor).value = '' }; 0`
	b.do(fmt.Sprintf("write %q", label), chromedp.WaitVisible(sel))
	get(b, "clear "+label, chromedp.Evaluate[int](clear))
	b.do(fmt.Sprintf("write %q", label), chromedp.SendKeys(sel, value))
}

// expand opens a details component by its summary.
func (b *tab) expand(summary string) {
	b.t.Helper()
	b.do("open "+summary, chromedp.Click(`//summary[normalize-space(.)=`+xpathLiteral(summary)+`]`))
}

// valueOf is what the field with the id holds.
func (b *tab) valueOf(id string) string {
	b.t.Helper()
	return get(b, "read "+id, chromedp.Evaluate[string](`document.getElementById(`+"'"+id+"'"+`).value`))
}

// shoot saves a full-page screenshot under name, in -screenshots' folder
// or the test's artifacts.
func (b *tab) shoot(name string) {
	b.t.Helper()
	dir := *screenshotDir
	if dir == "" {
		dir = b.t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	png := get(b, "take a screenshot", chromedp.FullScreenshot(100))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Fatalf("%s: not a PNG", name)
	}
	mode := "js"
	if !b.js {
		mode = "no-js"
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-"+mode+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func TestWeb_ProviderEditsEverySectionAndMeetsAStaleSave(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.gpPractice("A81001", "The Densham Surgery")
		// The browser accepts the unsaved-changes prompt, and says which
		// dialogs it saw.
		var mu sync.Mutex
		var dialogs []string
		opening := chromedp.Events(b.ctx, cdppage.JavascriptDialogOpening)
		go func() {
			for ev, err := range opening {
				if err != nil {
					return
				}
				mu.Lock()
				dialogs = append(dialogs, string(ev.Type))
				mu.Unlock()
				_, _ = chromedp.Call(b.ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
			}
		}()

		b.signInAs(rosa)
		b.open(editPath)
		b.sees("Edit Provider Cranberry Home Care")
		b.shoot("edit-provider")

		// Address Details.
		b.fill("Name", "Cranberry Home Care North")
		b.fill("Address line 2", "Abington")
		b.press("Save Address Details")
		b.sees("Edit Provider Cranberry Home Care North")
		b.reads("Your changes to Address Details have been saved.")

		// Contact Directory: add, edit, remove.
		b.expand("Add a contact")
		b.fill("Role", "Manager")
		b.fill("Phones", "01604 496000")
		b.fill("Email", "not-an-email")
		b.press("Add contact")
		b.reads("There is a problem")
		b.reads("Enter an email address like name@example.nhs.uk")
		b.shoot("edit-provider-error")
		if got := b.valueOf("contact_phones"); got != "01604 496000" {
			b.fail("the phone typed is not kept: %q", got)
		}
		b.fill("Email", "manager@cranberry.example.org")
		b.tick("Yes")
		b.press("Add contact")
		b.reads("The contact has been added.")
		b.reads("manager@cranberry.example.org")
		b.follow("Edit Manager")
		b.sees("Edit contact")
		b.fill("Name", "Rosa Hill")
		b.press("Save contact")
		b.reads("Your changes to the Contact Directory have been saved.")
		b.reads("Rosa Hill")
		b.follow("Remove Manager Rosa Hill")
		b.sees("Remove contact")
		b.shoot("remove-contact")
		b.follow("Cancel")
		b.reads("Rosa Hill")

		// Linked GP Practices.
		b.fill("Find a GP practice", "Densham")
		b.press("Search")
		b.reads(`GP practices matching "Densham"`)
		b.press("Add The Densham Surgery")
		b.reads("The GP practice has been linked.")
		b.reads("The Densham Surgery (A81001)")

		// Classification and Funding.
		b.tick("Independent")
		b.press("Save Classification and Funding")
		b.reads("Your changes to Classification and Funding have been saved.")

		// Note Log.
		b.write("Add a Note for this Provider", "We accept new clients until 6pm.")
		b.press("Add note")
		b.reads("The note has been added.")
		b.reads("Added By: Rosa Hill")
		b.follow("Edit the note of " + todayDMY())
		b.sees("Edit note")
		b.write("Note", "We accept new clients until 8pm.")
		b.press("Save note")
		b.reads("We accept new clients until 8pm.")
		b.reads("Rosa Hill") // Users With Access

		// A stale save: someone else saves the address after this page
		// loaded; this save shows what they changed and keeps the input.
		other := s.client()
		other.signIn(rosa, "/")
		b.fill("Short Name", "Cranberry")
		saveSection(t, other, editPath, editPath+"/address", "address", "address", "postcode", "NN1 2AB")
		b.press("Save Address Details")
		b.reads("There is a problem")
		b.reads("Someone else changed these details after you loaded this page")
		b.reads("What changed since you loaded the page")
		b.reads("NN1 2AB")
		b.shoot("edit-provider-conflict")
		if got := b.valueOf("short_name"); got != "Cranberry" {
			b.fail("the short name typed is not kept: %q", got)
		}
		b.fill("Postcode", "NN1 2AB")
		b.press("Save Address Details")
		b.reads("Your changes to Address Details have been saved.")
		if a := s.profile().Address; a.ShortName != "Cranberry" || a.Postcode != "NN1 2AB" {
			b.fail("address after the second save: %+v", a)
		}

		// Unsaved changes: with JavaScript, leaving asks first.
		b.fill("Address line 3", "Kingsthorpe")
		b.follow("Care quality")
		b.sees("Care Quality Dashboard for Cranberry Home Care North")
		mu.Lock()
		seen := strings.Join(dialogs, ",")
		mu.Unlock()
		if b.js && seen != "beforeunload" {
			b.fail("leaving with unsaved changes showed dialogs %q, want the beforeunload prompt", seen)
		}
		if !b.js && seen != "" {
			b.fail("without JavaScript a dialog appeared: %q", seen)
		}
		if s.profile().Address.Line3 == "Kingsthorpe" {
			b.fail("an unsaved change was saved")
		}

		// Care Quality: CQC's ratings, PAMMS saved.
		b.reads("Unknown Rating")
		b.shoot("care-quality")
		b.fill("Latest PAMMS Report", "https://pamms.example.gov.uk/report/1")
		b.do("choose a PAMMS rating", chromedp.SetValue(chromedp.CSS("#pamms_rating"), "Good"))
		b.fill("PAMMS report date", "2026-03-27")
		b.press("Save the PAMMS assessment")
		b.reads("The PAMMS assessment has been saved.")
		b.reads("Good (2026-03-27)")

		// The edits on the location's dashboard and in the search, once
		// the views have them.
		s.settle()
		b.open("/locations/1-200")
		b.sees("Cranberry Home Care North")
		dashboard := get(b, "read the dashboard", chromedp.Text(chromedp.CSS("main")))
		for _, gone := range []string{"There is no Manager in the contact directory.", "No contact has an email address."} {
			if strings.Contains(dashboard, gone) {
				b.fail("the dashboard still asks: %q", gone)
			}
		}
		b.open("/find-providers?q=" + url.QueryEscape("Cranberry Home Care North"))
		b.sees("Find Providers")
		b.reads("Showing 1 to 1 of 1 entries")
		b.reads("Cranberry Home Care North")
		b.reads("NN1 2AB")
		b.reads("We accept new clients until 8pm.")
		b.reads("Manager: Rosa Hill")
		b.reads("manager@cranberry.example.org")
	})
}

// todayDMY is today's date as the Note Log shows it.
func todayDMY() string { return time.Now().Format("02/01/2006") }
