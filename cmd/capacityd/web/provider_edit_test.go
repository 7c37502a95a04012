package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const editPath = "/locations/1-200/edit"

var (
	contactLink = regexp.MustCompile(`href="/locations/1-200/edit/contacts/([0-9a-f-]{36})"`)
	noteLink    = regexp.MustCompile(`href="/locations/1-200/edit/notes/([0-9a-f-]{36})"`)
)

// saveSection posts a section's form from the page, changed by kv, and
// wants the redirect back to its anchor with the banner key done.
func saveSection(t *testing.T, b *browserless, page, action, done, anchor string, kv ...string) {
	t.Helper()
	f := formOf(t, b.get(page).Body, action)
	b.post(action, with(f, kv...)).wantRedirect(t, editPath+"?done="+done+"#"+anchor)
}

func wantText(t *testing.T, p page, texts ...string) {
	t.Helper()
	for _, text := range texts {
		if !strings.Contains(p.Body, text) {
			t.Errorf("the page does not say %q", text)
		}
	}
}

func TestWeb_EditProviderSavesEverySection(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.gpPractice("A81001", "The Densham Surgery")
		b := s.client()
		b.signIn(rosa, "/")
		p := b.get(editPath).wantPage(t, http.StatusOK, "Edit Provider Cranberry Home Care")
		wantText(t, p, "Jump To", `href="#address"`, `href="#contacts"`, `href="#gp-practices"`, `href="#misc"`,
			`href="#classification"`, `href="#notes"`, `href="#users"`, "contact CQC", "Notes appear in the search results")
		// Users With Access: Rosa, an Approver.
		if !regexp.MustCompile(`Rosa Hill</td>\s*<td[^>]*>rosa.hill@cranberry.example.org</td>\s*<td[^>]*><strong class="nhsuk-tag nhsuk-tag--blue">Approver`).MatchString(p.Body) {
			t.Error("Users With Access does not show Rosa as an Approver")
		}

		// Address Details.
		saveSection(t, b, editPath, editPath+"/address", "address", "address", "name", "Cranberry Home Care North", "address_line2", "Abington")
		p = b.get(editPath+"?done=address").wantPage(t, http.StatusOK, "Edit Provider Cranberry Home Care North")
		wantText(t, p, "Your changes to Address Details have been saved.")
		if a := s.profile().Address; a.Name != "Cranberry Home Care North" || a.Line2 != "Abington" {
			t.Errorf("address after the save: %+v", a)
		}
		// Saved unchanged: the "no change" confirmation, an event of its own.
		before := s.eventCount()
		saveSection(t, b, editPath, editPath+"/address", "address-confirmed", "address")
		if after := s.eventCount(); after != before+1 {
			t.Errorf("a save unchanged appended %d events, want 1 (DetailsConfirmed)", after-before)
		}
		wantText(t, b.get(editPath+"?done=address-confirmed"), "No changes were made to Address Details")

		// Contact Directory: add, edit, remove (confirmed on its own page).
		saveSection(t, b, editPath, editPath+"/contacts", "contact-added", "contacts", "contact_role", "Manager",
			"contact_name", "Rosa Hill", "contact_phones", "01604 496000", "contact_email", "manager@cranberry.example.org", "contact_public", "yes")
		p = b.get(editPath)
		wantText(t, p, "Rosa Hill</td>", "01604 496000<br>manager@cranberry.example.org")
		m := contactLink.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("the contact has no Edit link")
		}
		contact := editPath + "/contacts/" + m[1]
		ce := b.get(contact).wantPage(t, http.StatusOK, "Edit contact")
		if value(ce.Body, "contact_name") != "Rosa Hill" {
			t.Error("the contact's page does not show its name")
		}
		b.post(contact, with(formOf(t, ce.Body, contact), "contact_role", "Plumber", "contact_phones", "01604 496001, 07700 900123")).
			wantRedirect(t, editPath+"?done=contacts#contacts")
		if c := s.profile().Contacts; len(c) != 1 || c[0].Role != "Plumber" || len(c[0].Phones) != 2 || !c[0].Public {
			t.Errorf("contacts after the edit: %+v", c)
		}
		rm := b.get(contact+"/remove").wantPage(t, http.StatusOK, "Remove contact")
		wantText(t, rm, "Are you sure you want to remove this contact")
		b.post(contact+"/remove", formOf(t, rm.Body, contact+"/remove")).wantRedirect(t, editPath+"?done=contact-removed#contacts")
		if c := s.profile().Contacts; len(c) != 0 {
			t.Errorf("contacts after the removal: %+v", c)
		}
		b.get(contact).wantPage(t, http.StatusNotFound, "Page not found")

		// Linked GP Practices: search (GET), add, unlink.
		p = b.get(editPath + "?gp_q=Densham")
		wantText(t, p, "The Densham Surgery (A81001)")
		b.post(editPath+"/gp-practices", formOf(t, p.Body, editPath+"/gp-practices")).wantRedirect(t, editPath+"?done=gp-linked#gp-practices")
		p = b.get(editPath)
		wantText(t, p, "The Densham Surgery (A81001)")
		b.post(editPath+"/gp-practices/A81001/unlink", formOf(t, p.Body, editPath+"/gp-practices/A81001/unlink")).
			wantRedirect(t, editPath+"?done=gp-unlinked#gp-practices")
		if g := s.profile().GPPractices; len(g) != 0 {
			t.Errorf("GP practices after the unlink: %+v", g)
		}
		// A search by code finds it too; a search too short is an error.
		wantText(t, b.get(editPath+"?gp_q=a8100"), "The Densham Surgery (A81001)")
		p = b.get(editPath+"?gp_q=x").wantPage(t, http.StatusUnprocessableEntity, "Edit Provider Cranberry Home Care North")
		if sum := p.summary(); len(sum) != 1 || sum[0][0] != "gp_q" {
			t.Errorf("a short search's errors: %v", sum)
		}

		// Classification and Funding.
		saveSection(t, b, editPath, editPath+"/classification", "classification", "classification", "ownership_type", "Independent")
		if o := s.profile().OwnershipType; o != "Independent" {
			t.Errorf("ownership type %q", o)
		}

		// Note Log: add, edit, delete; dated and signed.
		saveSection(t, b, editPath, editPath+"/notes", "note-added", "notes", "note_text", "We accept new clients until 6pm.")
		p = b.get(editPath)
		wantText(t, p, "We accept new clients until 6pm.", "Added By: Rosa Hill")
		m = noteLink.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("the note has no Edit link")
		}
		note := editPath + "/notes/" + m[1]
		ne := b.get(note).wantPage(t, http.StatusOK, "Edit note")
		b.post(note, with(formOf(t, ne.Body, note), "note_text", "We accept new clients until 8pm.")).wantRedirect(t, editPath+"?done=notes#notes")
		wantText(t, b.get(editPath), "We accept new clients until 8pm.")
		b.post(note+"/delete", formOf(t, b.get(editPath).Body, note+"/delete")).wantRedirect(t, editPath+"?done=note-deleted#notes")
		if n := s.profile().Notes; len(n) != 0 {
			t.Errorf("notes after the delete: %+v", n)
		}
	})
}

func TestWeb_CareQualityShowsTheRatingsAndSavesPAMMS(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b := s.client()
		b.signIn(rosa, "/")
		const cq = "/locations/1-200/care-quality"
		p := b.get(cq).wantPage(t, http.StatusOK, "Care Quality Dashboard for Cranberry Home Care")
		if n := strings.Count(p.Body, `<strong class="nhsuk-tag nhsuk-tag--grey">Unknown Rating</strong>`); n != 6 {
			t.Errorf("%d ratings read Unknown Rating, want 6", n)
		}
		wantText(t, p, "CQC Overall", "Well-led", "Latest CQC Report", "CQC Report Published", "PAMMS is a 3rd party source")

		// Every error at once, the input kept.
		bad := with(formOf(t, p.Body, cq+"/pamms"), "pamms_report_url", "not a web address", "pamms_rating", "Splendid", "pamms_report_date", "27/03/2026")
		p = b.post(cq+"/pamms", bad).wantPage(t, http.StatusUnprocessableEntity, "Care Quality Dashboard for Cranberry Home Care")
		sum := p.summary()
		if len(sum) != 3 || sum[0][0] != "pamms_report_url" || sum[1][0] != "pamms_rating" || sum[2][0] != "pamms_report_date" {
			t.Errorf("errors %v, want the URL, the rating and the date", sum)
		}
		if value(p.Body, "pamms_report_url") != "not a web address" || !strings.Contains(p.Body, `<option value="Splendid" selected>`) {
			t.Error("the input is not kept")
		}
		// Corrected from the page with the errors.
		good := with(formOf(t, p.Body, cq+"/pamms"), "pamms_report_url", "https://pamms.example.gov.uk/report/1", "pamms_rating", "Good", "pamms_report_date", "2026-03-27")
		b.post(cq+"/pamms", good).wantRedirect(t, cq+"?done=pamms#pamms")
		p = b.get(cq + "?done=pamms")
		wantText(t, p, "The PAMMS assessment has been saved.", `href="https://pamms.example.gov.uk/report/1"`, "Good (2026-03-27)")
		// Unchanged: the confirmation.
		b.post(cq+"/pamms", formOf(t, p.Body, cq+"/pamms")).wantRedirect(t, cq+"?done=pamms-confirmed#pamms")
	})
}

func TestWeb_EditProviderBadInputShowsEveryErrorAndKeepsIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b := s.client()
		b.signIn(rosa, "/")
		page := b.get(editPath).Body
		before := s.eventCount()

		p := b.post(editPath+"/address", with(formOf(t, page, editPath+"/address"), "name", "", "short_name", strings.Repeat("s", 200),
			"address_line1", "", "postcode", "XYZ")).wantPage(t, http.StatusUnprocessableEntity, "Edit Provider Cranberry Home Care")
		if !strings.HasPrefix(p.title(), "Error: ") {
			t.Errorf("title %q", p.title())
		}
		var fields []string
		for _, e := range p.summary() {
			fields = append(fields, e[0])
		}
		if strings.Join(fields, " ") != "name short_name address_line1 postcode" {
			t.Errorf("errors on %v, want name, short_name, address_line1 and postcode", fields)
		}
		if value(p.Body, "postcode") != "XYZ" || value(p.Body, "short_name") != strings.Repeat("s", 200) {
			t.Error("the address typed is not kept")
		}
		// Still the version the person loaded: corrected, it saves.
		if value(p.Body, "version") != value(page, "version") {
			t.Error("the form with errors moved to another version")
		}

		p = b.post(editPath+"/contacts", with(formOf(t, page, editPath+"/contacts"), "contact_role", "Manager", "contact_name", "Rosa Hill",
			"contact_phones", "12345", "contact_email", "not-an-email")).wantPage(t, http.StatusUnprocessableEntity, "Edit Provider Cranberry Home Care")
		fields = nil
		for _, e := range p.summary() {
			fields = append(fields, e[0])
		}
		if strings.Join(fields, " ") != "contact_phones contact_email" {
			t.Errorf("contact errors on %v", fields)
		}
		if value(p.Body, "contact_email") != "not-an-email" || value(p.Body, "contact_phones") != "12345" {
			t.Error("the contact typed is not kept")
		}

		p = b.post(editPath+"/notes", with(formOf(t, page, editPath+"/notes"), "note_text", "  ")).
			wantPage(t, http.StatusUnprocessableEntity, "Edit Provider Cranberry Home Care")
		if sum := p.summary(); len(sum) != 1 || sum[0][0] != "note_text" {
			t.Errorf("note errors %v", sum)
		}
		p = b.post(editPath+"/classification", with(formOf(t, page, editPath+"/classification"), "ownership_type", "Royal")).
			wantPage(t, http.StatusUnprocessableEntity, "Edit Provider Cranberry Home Care")
		if sum := p.summary(); len(sum) != 1 || sum[0][0] != "ownership_type" {
			t.Errorf("classification errors %v", sum)
		}
		p = b.post(editPath+"/gp-practices", with(formOf(t, page, editPath+"/notes"), "practice_code", "Z99999")).
			wantPage(t, http.StatusUnprocessableEntity, "Edit Provider Cranberry Home Care")
		if sum := p.summary(); len(sum) != 1 || sum[0][1] != "No GP practice has this code" {
			t.Errorf("GP errors %v", sum)
		}
		// A version that is not one is a form that was not ours.
		b.post(editPath+"/address", with(formOf(t, page, editPath+"/address"), "version", "x")).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		if after := s.eventCount(); after != before {
			t.Errorf("bad input appended %d events", after-before)
		}
	})
}

func TestWeb_EditProviderStaleSaveShowsWhatChangedAndKeepsTheInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		kim := s.standardUser(rosa)
		a, b := s.client(), s.client()
		a.signIn(kim, "/")
		b.signIn(rosa, "/")

		// A loads; B saves; A saves what it loaded, changed.
		loaded := a.get(editPath).Body
		saveSection(t, b, editPath, editPath+"/address", "address", "address", "name", "Cranberry Home Care North", "postcode", "NN1 2AB")
		p := a.post(editPath+"/address", with(formOf(t, loaded, editPath+"/address"), "short_name", "Cranberry", "address_line3", "Kingsthorpe")).
			wantPage(t, http.StatusConflict, "Edit Provider Cranberry Home Care North")
		if sum := p.summary(); len(sum) != 1 || sum[0][0] != "address-conflict" || !strings.Contains(sum[0][1], "Someone else changed these details") {
			t.Errorf("summary %v, want the conflict", sum)
		}
		for _, row := range []string{
			`Name</th><td class="nhsuk-table__cell">Cranberry Home Care</td><td class="nhsuk-table__cell">Cranberry Home Care North</td>`,
			`Postcode</th><td class="nhsuk-table__cell">NN1 1NN</td><td class="nhsuk-table__cell">NN1 2AB</td>`,
		} {
			if !strings.Contains(p.Body, row) {
				t.Errorf("the conflict does not show %s", row)
			}
		}
		if strings.Contains(p.Body, `Short Name</th>`) {
			t.Error("the conflict lists a field nobody else changed")
		}
		// A's input is kept (A's own fields, and the name as A had it).
		if value(p.Body, "short_name") != "Cranberry" || value(p.Body, "address_line3") != "Kingsthorpe" || value(p.Body, "name") != "Cranberry Home Care" {
			t.Errorf("A's input is not kept: short %q, line 3 %q, name %q", value(p.Body, "short_name"), value(p.Body, "address_line3"), value(p.Body, "name"))
		}
		// With JavaScript, leaving this page asks first: the form holds
		// what A typed and has not saved.
		if !strings.Contains(p.Body, `action="/locations/1-200/edit/address" method="post" novalidate data-unsaved-warning data-unsaved>`) {
			t.Error("the address form with A's input is not marked unsaved")
		}
		// Nothing of A's was applied.
		if ad := s.profile().Address; ad.ShortName != "" || ad.Name != "Cranberry Home Care North" {
			t.Errorf("after the conflict: %+v", ad)
		}
		// Having seen B's change, A keeps B's name and saves again.
		a.post(editPath+"/address", with(formOf(t, p.Body, editPath+"/address"), "name", "Cranberry Home Care North", "postcode", "NN1 2AB")).
			wantRedirect(t, editPath+"?done=address#address")
		if ad := s.profile().Address; ad.ShortName != "Cranberry" || ad.Name != "Cranberry Home Care North" || ad.Line3 != "Kingsthorpe" {
			t.Errorf("after A's second save: %+v", ad)
		}

		// A contact edited by both: B's change shown, A's kept.
		saveSection(t, b, editPath, editPath+"/contacts", "contact-added", "contacts", "contact_role", "Manager", "contact_name", "Rosa Hill")
		id := contactLink.FindStringSubmatch(a.get(editPath).Body)[1]
		contact := editPath + "/contacts/" + id
		loaded = a.get(contact).Body
		b.post(contact, with(formOf(t, b.get(contact).Body, contact), "contact_email", "rosa@cranberry.example.org")).wantRedirect(t, editPath+"?done=contacts#contacts")
		p = a.post(contact, with(formOf(t, loaded, contact), "contact_phones", "01604 496000")).wantPage(t, http.StatusConflict, "Edit contact")
		if !strings.Contains(p.Body, `Email</th><td class="nhsuk-table__cell">(blank)</td><td class="nhsuk-table__cell">rosa@cranberry.example.org</td>`) {
			t.Error("the contact's conflict does not show B's email")
		}
		if value(p.Body, "contact_phones") != "01604 496000" {
			t.Error("A's phone is not kept")
		}

		// A note added by both: B's note is shown as what changed.
		loaded = a.get(editPath).Body
		saveSection(t, b, editPath, editPath+"/notes", "note-added", "notes", "note_text", "Open at weekends.")
		p = a.post(editPath+"/notes", with(formOf(t, loaded, editPath+"/notes"), "note_text", "Closed on bank holidays.")).
			wantPage(t, http.StatusConflict, "Edit Provider Cranberry Home Care North")
		if !strings.Contains(p.Body, `Note</th><td class="nhsuk-table__cell">(not there)</td><td class="nhsuk-table__cell">Open at weekends.</td>`) {
			t.Error("the Note Log's conflict does not show B's note")
		}
		if !strings.Contains(p.Body, ">Closed on bank holidays.</textarea>") {
			t.Error("A's note is not kept")
		}
		if n := s.profile().Notes; len(n) != 1 {
			t.Errorf("%d notes after the conflict, want B's alone", len(n))
		}

		// PAMMS on Care Quality.
		const cq = "/locations/1-200/care-quality"
		loaded = a.get(cq).Body
		b.post(cq+"/pamms", with(formOf(t, b.get(cq).Body, cq+"/pamms"), "pamms_rating", "Good")).wantRedirect(t, cq+"?done=pamms#pamms")
		p = a.post(cq+"/pamms", with(formOf(t, loaded, cq+"/pamms"), "pamms_report_date", "2026-01-02")).wantPage(t, http.StatusConflict, "Care Quality Dashboard for Cranberry Home Care North")
		if !strings.Contains(p.Body, `PAMMS Rating</th><td class="nhsuk-table__cell">(blank)</td><td class="nhsuk-table__cell">Good</td>`) {
			t.Error("the PAMMS conflict does not show B's rating")
		}
		if value(p.Body, "pamms_report_date") != "2026-01-02" {
			t.Error("A's date is not kept")
		}
	})
}

func TestWeb_EditProviderPagesPerRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		kim := s.standardUser(rosa)
		plum := s.plumApprover("pat.plum@plumtree.example.org", "Pat Plum")
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		// Another generic account: changing its first password ends the
		// account's other sessions.
		desk := s.genericAccount("desk@cranberry.example.org", "Cranberry Desk")

		clients := map[string]*browserless{"anonymous": s.client()}
		for name, who := range map[string]person{"standard": kim, "other-approver": plum, "support": sam} {
			c := s.client()
			c.signIn(who, "/")
			clients[name] = c
		}
		generic := s.client()
		generic.signIn(office, "/disclaimer")
		clients["generic-before-disclaimer"] = generic
		after := s.client()
		after.signIn(desk, "/disclaimer")
		after.post("/disclaimer", url.Values{"csrf_token": {after.csrf("/disclaimer")}}).wantRedirect(t, "/change-password")
		next := "Plum-tree-orchard-2027"
		after.post("/change-password", url.Values{"csrf_token": {after.csrf("/change-password")}, "current_password": {desk.Password}, "new_password": {next}}).
			wantRedirect(t, "/?done=password-changed")
		clients["generic-after-disclaimer"] = after

		// A contact and a note, for their pages.
		rb := s.client()
		rb.signIn(rosa, "/")
		saveSection(t, rb, editPath, editPath+"/contacts", "contact-added", "contacts", "contact_role", "Manager", "contact_name", "Rosa Hill")
		saveSection(t, rb, editPath, editPath+"/notes", "note-added", "notes", "note_text", "Open at weekends.")
		body := rb.get(editPath).Body
		contact := editPath + "/contacts/" + contactLink.FindStringSubmatch(body)[1]
		note := editPath + "/notes/" + noteLink.FindStringSubmatch(body)[1]

		const ok, signIn, disclaimer, forbidden = "200", "/sign-in", "/disclaimer", "403"
		for _, path := range []string{editPath, contact, contact + "/remove", note, "/locations/1-200/care-quality"} {
			for who, want := range map[string]string{"anonymous": signIn, "standard": ok, "other-approver": forbidden, "support": ok,
				"generic-before-disclaimer": disclaimer, "generic-after-disclaimer": ok} {
				p := clients[who].get(path)
				switch want {
				case ok:
					if p.Status != http.StatusOK {
						t.Errorf("%s as %s: %d, want the page", path, who, p.Status)
					}
				case forbidden:
					p.wantPage(t, http.StatusForbidden, "You cannot do this")
				default:
					if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
						t.Errorf("%s as %s: %d to %q, want a redirect to %s", path, who, p.Status, p.Header.Get("Location"), want)
					}
				}
			}
		}
		// A save by the Approver of another organisation is refused and
		// changes nothing; one by anonymous leads to sign in.
		form := formOf(t, body, editPath+"/address")
		before := s.eventCount()
		plumForm := with(form, "csrf_token", clients["other-approver"].csrf("/my-details"), "name", "Plum Takeover")
		clients["other-approver"].post(editPath+"/address", plumForm).wantPage(t, http.StatusForbidden, "You cannot do this")
		clients["anonymous"].post(editPath+"/address", with(form, "name", "Anonymous")).wantRedirect(t, "/sign-in")
		if n := s.eventCount(); n != before {
			t.Errorf("refused saves appended %d events", n-before)
		}
		// Support and the Standard user save.
		saveSection(t, clients["support"], editPath, editPath+"/notes", "note-added", "notes", "note_text", "Checked by support.")
		saveSection(t, clients["standard"], editPath, editPath+"/address", "address", "address", "short_name", "Cranberry")
		saveSection(t, clients["generic-after-disclaimer"], editPath, editPath+"/notes", "note-added", "notes", "note_text", "From the office.")
		// An unknown location is not found.
		clients["support"].get("/locations/9-999/edit").wantPage(t, http.StatusNotFound, "Page not found")
	})
}
