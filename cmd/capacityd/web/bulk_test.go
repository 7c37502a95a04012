package web_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
)

var markedUpLink = regexp.MustCompile(`href="(/bulk-update/marked-up/[0-9a-f]+)"`)

func TestWeb_BulkUpdateReadsTheFileOnlyWithTheGovernmentPolicyBoxTicked(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		c := s.signedIn(rosa, "/")
		if home := c.get("/"); !strings.Contains(home.Body, `href="/bulk-update">Bulk Updates</a>`) {
			t.Fatal("the Main Menu has no Bulk Updates tile")
		}
		p := c.get("/bulk-update").wantPage(t, http.StatusOK, "Business Continuity &amp; Vacancy Update")
		for _, want := range []string{commands.BulkAcknowledgement, `enctype="multipart/form-data"`, `accept="` + commands.BulkXLSXTypes + `"`,
			"An Excel workbook (.xlsx), at most 10 MB", `href="/bulk-update/template"`} {
			if !strings.Contains(p.Body, want) {
				t.Fatalf("the page lacks %q", want)
			}
		}
		csrf := c.csrf("/bulk-update")
		valid := filled(t, c.template(""), dailyRow(12)...)
		before := s.eventCount()

		// Without the box: its message on the box, and the file is not
		// read (a file that is no workbook draws no error of its own).
		p = c.postUpload(upload{csrf: csrf, fileName: "notes.txt", file: []byte("not a workbook")}).
			wantPage(t, http.StatusUnprocessableEntity, "Business Continuity &amp; Vacancy Update")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"acknowledgement", commands.BulkAcknowledgement} {
			t.Fatalf("errors %q, want the box's alone", got)
		}
		if !strings.Contains(p.Body, `id="acknowledgement-error"`) {
			t.Fatal("the message is not on the box")
		}
		p = c.postUpload(upload{csrf: csrf, fileName: "completed.xlsx", file: valid}).wantPage(t, http.StatusUnprocessableEntity, "Business Continuity &amp; Vacancy Update")
		if got := p.summary(); len(got) != 1 || got[0][0] != "acknowledgement" {
			t.Fatalf("errors %q", got)
		}
		// Neither box nor file: both at once.
		p = c.postUpload(upload{csrf: csrf}).wantPage(t, http.StatusUnprocessableEntity, "Business Continuity &amp; Vacancy Update")
		if got := p.summary(); len(got) != 2 || got[0][0] != "acknowledgement" || got[1][0] != "file" {
			t.Fatalf("errors %q, want the box's and the file's", got)
		}
		// The box ticked, a file that is not the template: said on the file.
		p = c.postUpload(upload{csrf: csrf, acknowledged: true, fileName: "notes.txt", file: []byte("not a workbook")}).
			wantPage(t, http.StatusUnprocessableEntity, "Business Continuity &amp; Vacancy Update")
		if got := p.summary(); len(got) != 1 || got[0][0] != "file" || !strings.Contains(got[0][1], "not an Excel workbook") {
			t.Fatalf("errors %q", got)
		}
		if !strings.Contains(p.Body, `id="acknowledgement" name="acknowledgement" type="checkbox" value="yes" checked`) {
			t.Fatal("the ticked box was not kept")
		}
		// Without the form token: refused.
		c.postUpload(upload{csrf: "forged", acknowledged: true, fileName: "completed.xlsx", file: valid}).wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Fatal("a refused upload appended events")
		}
	})
}

func TestWeb_BulkUpdateListsEveryErrorThenAppliesTheCorrectedFile(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		c := s.signedIn(rosa, "/")
		csrf := c.csrf("/bulk-update")
		before := s.eventCount()

		bad := filled(t, c.template(""), append(dailyRow("twelve"), "Contacts", "F2", "not an email")...)
		p := c.postUpload(upload{csrf: csrf, acknowledged: true, fileName: "completed.xlsx", file: bad}).
			wantPage(t, http.StatusUnprocessableEntity, "Business Continuity &amp; Vacancy Update")
		if got := p.summary(); len(got) != 1 || got[0][0] != "bulk-errors" || !strings.Contains(got[0][1], "in 2 rows: nothing was saved") {
			t.Fatalf("summary %q", got)
		}
		for _, want := range []string{
			`<td class="nhsuk-table__cell">Home Care</td><td class="nhsuk-table__cell">2</td><td class="nhsuk-table__cell">Service users today (D2)</td><td class="nhsuk-table__cell">` + dailyupdate.MsgWholeNumber,
			`<td class="nhsuk-table__cell">Contacts</td><td class="nhsuk-table__cell">2</td><td class="nhsuk-table__cell">Manager email (F2)</td>`,
		} {
			if !strings.Contains(p.Body, want) {
				t.Fatalf("the errors' table lacks %q:\n%s", want, p.Body)
			}
		}
		if s.eventCount() != before {
			t.Fatal("a rejected upload appended events")
		}
		// The marked-up workbook: the bad cell red and commented, for the
		// uploader only.
		m := markedUpLink.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("no link to the marked-up workbook")
		}
		file := c.get(m[1])
		if file.Status != http.StatusOK || file.Header.Get("Content-Disposition") != `attachment; filename=completed-errors.xlsx` {
			t.Fatalf("marked-up file: %d %q", file.Status, file.Header.Get("Content-Disposition"))
		}
		x, err := excelize.OpenReader(strings.NewReader(file.Body))
		if err != nil {
			t.Fatal(err)
		}
		comments, err := x.GetComments(commands.SheetHomeCare)
		if err != nil || len(comments) != 1 || comments[0].Cell != "D2" || !strings.Contains(comments[0].Text, dailyupdate.MsgWholeNumber) {
			t.Fatalf("comments %+v, %v", comments, err)
		}
		style, _ := x.GetCellStyle(commands.SheetHomeCare, "D2")
		if st, err := x.GetStyle(style); err != nil || len(st.Fill.Color) == 0 || st.Fill.Color[0] != "FFC7CE" {
			t.Fatalf("D2's style %+v, %v: not red", st, err)
		}
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		s.signedIn(sam, "/").get(m[1]).wantPage(t, http.StatusNotFound, "Page not found")

		// Corrected: applied, then the summary of what was.
		good := filled(t, c.template(""), append(dailyRow(12), "Contacts", "D2", "Tess Thorn", "Contacts", "E2", "0191 555 0123",
			"Contacts", "F2", "tess@cranberry.example.org")...)
		res := c.postUpload(upload{csrf: csrf, acknowledged: true, fileName: "completed.xlsx", file: good})
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/bulk-update?") {
			t.Fatalf("upload: %d to %q:\n%s", res.Status, res.Header.Get("Location"), res.Body)
		}
		if s.eventCount() <= before {
			t.Fatal("the upload appended nothing")
		}
		p = c.get(res.Header.Get("Location")).wantPage(t, http.StatusOK, "Business Continuity &amp; Vacancy Update")
		for _, want := range []string{"Your upload has been applied.", "Rows applied per sheet",
			`<th scope="row" class="nhsuk-table__header">Home Care</th><td class="nhsuk-table__cell nhsuk-table__cell--numeric">1</td>`,
			`<th scope="row" class="nhsuk-table__header">Contacts</th><td class="nhsuk-table__cell nhsuk-table__cell--numeric">1</td>`,
			"Download the audit of this upload"} {
			if !strings.Contains(p.Body, want) {
				t.Fatalf("the summary lacks %q:\n%s", want, p.Body)
			}
		}
		audit := regexp.MustCompile(`href="(/api/v1/audit.xlsx\?[^"]+)"`).FindStringSubmatch(p.Body)
		if audit == nil {
			t.Fatal("no audit link")
		}
		// The audit waits up to 2 s for its view, then is 503: let it
		// catch up on a loaded machine.
		s.settle()
		if a := c.get(strings.ReplaceAll(audit[1], "&amp;", "&")); a.Status != http.StatusOK || !strings.Contains(a.Header.Get("Content-Type"), "spreadsheetml") {
			t.Fatalf("the audit of the upload: %d %q", a.Status, a.Header.Get("Content-Type"))
		}
	})
}

func TestWeb_BulkUpdateTakesTheAPIsUploadLimitAnd413Beyond(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		c := s.signedIn(rosa, "/")
		csrf := c.csrf("/bulk-update")

		// Larger than the port's form limit: a sheet of notes beside the
		// template's.
		f := c.template("")
		if _, err := f.NewSheet("Notes"); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 1; i <= 400; i++ {
			if err := f.SetCellValue("Notes", fmt.Sprintf("A%d", i), fmt.Sprintf("%x", rng.Uint64())+fmt.Sprintf("%x", rng.Uint64())); err != nil {
				t.Fatal(err)
			}
		}
		big := filled(t, f, dailyRow(12)...)
		if len(big) <= maxBody {
			t.Fatalf("the workbook is %d bytes, not above the form limit %d", len(big), maxBody)
		}
		res := c.postUpload(upload{csrf: csrf, acknowledged: true, fileName: "completed.xlsx", file: big})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("a %d-byte workbook: %d:\n%s", len(big), res.Status, res.Body)
		}

		// A file over the API's limit: the 413 page.
		huge := bytes.Repeat([]byte("x"), commands.MaxBulkFileBytes+1)
		c.postUpload(upload{csrf: csrf, acknowledged: true, fileName: "huge.xlsx", file: huge}).
			wantPage(t, http.StatusRequestEntityTooLarge, "The file is too large")
		// Another form keeps the port's limit.
		c.post("/my-details/communications", map[string][]string{"csrf_token": {csrf}, "communications": {strings.Repeat("x", maxBody)}}).
			wantPage(t, http.StatusRequestEntityTooLarge, "What you sent is too large")
	})
}

// TestWeb_SurveysAndBulkUpdateAreForTheirPeopleOnly asks the Surveys and
// bulk update pages as each kind of person.
func TestWeb_SurveysAndBulkUpdateAreForTheirPeopleOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		kim := s.standardUser(rosa)
		dora := s.otherOrganisation()
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		survey := s.openSurvey("Syringe driver supplies")

		// Two generic accounts: changing a password ends the account's
		// other sessions.
		generic := s.client()
		generic.signIn(s.genericAccount("desk@cranberry.example.org", "Cranberry Desk"), "/disclaimer")
		genericAfter := s.client()
		genericAfter.signIn(office, "/disclaimer")
		genericAfter.post("/disclaimer", map[string][]string{"csrf_token": {genericAfter.csrf("/disclaimer")}})
		if p := genericAfter.get("/"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/change-password" {
			// The generic account's first password is support's: changed
			// first, then the pages open.
			t.Fatalf("after the disclaimer: %d to %q", p.Status, p.Header.Get("Location"))
		}
		genericAfter.post("/change-password", map[string][]string{"csrf_token": {genericAfter.csrf("/change-password")},
			"current_password": {office.Password}, "new_password": {"Plum-tree-orchard-2027"}})
		clients := map[string]*browserless{
			"anonymous": s.client(), "standard": s.signedIn(kim, "/"), "other-approver": s.signedIn(dora, "/"),
			"support": s.signedIn(sam, "/"), "generic-before": generic, "generic-after": genericAfter,
		}
		const ok, signIn, disclaimer, forbidden, notFound = "200", "/sign-in", "/disclaimer", "403", "404"
		for _, c := range []struct {
			path                                                                     string
			anonymous, standard, otherApprover, support, genericBefore, genericAfter string
		}{
			{"/locations/1-200/surveys", signIn, ok, forbidden, ok, disclaimer, ok},
			{"/locations/1-200/surveys/" + survey, signIn, ok, forbidden, ok, disclaimer, ok},
			{"/locations/1-300/surveys", signIn, forbidden, ok, ok, disclaimer, forbidden},
			{"/locations/1-999/surveys", signIn, notFound, notFound, notFound, disclaimer, notFound},
			{"/bulk-update", signIn, ok, ok, ok, disclaimer, ok},
			{"/bulk-update/template", signIn, ok, ok, "422", disclaimer, ok},
			{"/bulk-update/template?organisation_id=1-100", signIn, ok, ok, ok, disclaimer, ok},
		} {
			for who, want := range map[string]string{"anonymous": c.anonymous, "standard": c.standard, "other-approver": c.otherApprover,
				"support": c.support, "generic-before": c.genericBefore, "generic-after": c.genericAfter} {
				p := clients[who].get(c.path)
				switch want {
				case ok:
					if p.Status != http.StatusOK {
						t.Errorf("%s as %s: %d, want the page", c.path, who, p.Status)
					}
				case "422":
					if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Choose the organisation whose locations the template lists") {
						t.Errorf("%s as %s: %d, want the page with the organisation's error", c.path, who, p.Status)
					}
				case forbidden:
					p.wantPage(t, http.StatusForbidden, "You cannot do this")
				case notFound:
					p.wantPage(t, http.StatusNotFound, "Page not found")
				default:
					if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
						t.Errorf("%s as %s: %d to %q, want a redirect to %s", c.path, who, p.Status, p.Header.Get("Location"), want)
					}
				}
			}
		}

		// The other organisation's Approver answers nothing of 1-200, and
		// its template lists its own location only; a row of 1-200 in its
		// upload is refused, nothing applied.
		other := clients["other-approver"]
		before := s.eventCount()
		other.post("/locations/1-200/surveys/"+survey, map[string][]string{"csrf_token": {other.csrf("/bulk-update")},
			"q-staff": {"1"}, "q-drivers": {"yes"}, "q-ordering": {"Daily"}}).wantPage(t, http.StatusForbidden, "You cannot do this")
		tpl := other.template("")
		rows, err := tpl.GetRows(commands.SheetHomeCare)
		if err != nil || len(rows) != 2 || rows[1][0] != "1-300" {
			t.Fatalf("the other Approver's template: %q, %v", rows, err)
		}
		theirs := filled(t, tpl, append([]any{"Home Care", "A2", "1-200"}, dailyRow(12)...)...)
		p := other.postUpload(upload{csrf: other.csrf("/bulk-update"), acknowledged: true, fileName: "t.xlsx", file: theirs}).
			wantPage(t, http.StatusUnprocessableEntity, "Business Continuity &amp; Vacancy Update")
		if !strings.Contains(p.Body, "You may not update this location: it is not one of yours") {
			t.Fatalf("a row of another organisation's location was not refused:\n%s", p.Body)
		}
		if s.eventCount() != before {
			t.Fatal("refused posts appended events")
		}
		// Anonymous posts go to sign in, and read nothing.
		anon := clients["anonymous"].postUpload(upload{csrf: "x", acknowledged: true, fileName: "t.xlsx", file: theirs})
		anon.wantRedirect(t, "/sign-in")
		// A generic account's upload before the disclaimer goes there first.
		generic.postUpload(upload{csrf: "x", acknowledged: true, fileName: "t.xlsx", file: theirs}).wantRedirect(t, "/disclaimer")
		if s.eventCount() != before {
			t.Fatal("an upload before sign in or the disclaimer appended events")
		}
	})
}
