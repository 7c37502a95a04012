package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var firstPasswordPattern = regexp.MustCompile(`<code id="first-password">([^<]+)</code>`)

func TestWeb_SupportCreatesAGenericAccountAndSeesTheQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		s.plumLodge()
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		// Organisation 1-100 has no Approver: Kim's request is the team's;
		// Lee's for Plum Tree Care too, and the queue lists them both.
		s.register("kim.carer@cranberry.example.org", "Kim Carer")
		s.registerForPlumLodge("lee.plum@plumtree.example.org", "Lee Plum")
		b := s.client()
		b.signIn(sam, "/")
		if home := b.get("/"); !strings.Contains(home.Body, `href="/support"`) {
			t.Error("support's Main Menu has no Support tile")
		}
		p := b.get("/support").wantPage(t, http.StatusOK, "Support")
		if !strings.Contains(p.Body, "Kim Carer") || !strings.Contains(p.Body, "Cranberry Care Services") ||
			!strings.Contains(p.Body, "Lee Plum") || !strings.Contains(p.Body, "Plum Tree Care") {
			t.Error("the approval queue does not list the request of an organisation without an Approver")
		}
		tok := b.csrf("/support")
		before := s.eventCount()
		generic := func(email, name, org, locs string) url.Values {
			return url.Values{"csrf_token": {tok}, "generic_email": {email}, "display_name": {name}, "organisation_id": {org}, "location_ids": {locs}}
		}
		p = b.post("/support/generic-accounts", generic("", "", "1-100", "")).wantPage(t, http.StatusUnprocessableEntity, "Support")
		got := p.summary()
		if len(got) != 3 || got[0] != [2]string{"generic_email", "Enter your email address"} || got[1] != [2]string{"display_name", "Enter your display name"} ||
			got[2] != [2]string{"location_ids", "Choose at least one location"} {
			t.Errorf("summary %v", got)
		}
		if !strings.HasPrefix(p.title(), "Error: ") || !strings.Contains(p.Body, `id="generic_email-error"`) {
			t.Error("no Error: title, or no inline error")
		}
		p = b.post("/support/generic-accounts", generic("office@cranberry.example.org", "Cranberry Office", "1-100", "1-200, 1-301")).
			wantPage(t, http.StatusUnprocessableEntity, "Support")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"location_ids", "This location belongs to another organisation"} {
			t.Errorf("summary %v", got)
		}
		if !strings.Contains(p.Body, `value="1-200, 1-301"`) || !strings.Contains(p.Body, `value="Cranberry Office"`) {
			t.Error("the values typed are lost")
		}
		p = b.post("/support/generic-accounts", generic("sam.support@necsu.example.nhs.uk", "Cranberry Office", "1-100", "1-200")).
			wantPage(t, http.StatusUnprocessableEntity, "Support")
		if got := p.summary(); len(got) != 1 || got[0][0] != "generic_email" || !strings.Contains(got[0][1], "Username taken!") {
			t.Errorf("summary %v", got)
		}
		if s.eventCount() != before {
			t.Error("refused forms appended events")
		}

		p = b.post("/support/generic-accounts", generic("office@cranberry.example.org", "Cranberry Office", "1-100", "1-200")).
			wantPage(t, http.StatusCreated, "Support")
		m := firstPasswordPattern.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("the first password is not shown")
		}
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Error("the page with the password may be cached")
		}
		if strings.Contains(b.get("/support").Body, m[1]) {
			t.Error("the first password is shown again")
		}
		s.client().signIn(person{Email: "office@cranberry.example.org", Password: m[1]}, "/disclaimer")
	})
}

func TestWeb_SupportGrantsAndRevokesTheAuditorRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		pat := s.activeSupport("pat.support@necsu.example.nhs.uk", "Pat Support")
		s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		s.settle()
		b := s.client()
		b.signIn(sam, "/")
		tok := b.csrf("/support")
		auditor := func(email, action string) url.Values {
			return url.Values{"csrf_token": {tok}, "auditor_email": {email}, "action": {action}}
		}
		before := s.eventCount()
		for _, c := range []struct{ email, message string }{
			{"", "Enter your email address"},
			{"not-an-address", "Enter an email address like name@example.nhs.uk"},
			{"nobody@cranberry.example.org", "No user has this email address"},
			{sam.Email, "another member of the support team must grant you the auditor role"},
			{"office@cranberry.example.org", "only a personal account can be an auditor"},
		} {
			p := b.post("/support/auditors", auditor(c.email, "grant")).wantPage(t, http.StatusUnprocessableEntity, "Support")
			if got := p.summary(); len(got) != 1 || got[0] != [2]string{"auditor_email", c.message} {
				t.Errorf("%q: summary %v", c.email, got)
			}
		}
		b.post("/support/auditors", auditor(pat.Email, "promote")).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		b.post("/support/auditors", auditor(pat.Email, "grant"), "Sec-Fetch-Site", "cross-site").wantPage(t, http.StatusForbidden, "You cannot do this")
		noToken := auditor(pat.Email, "grant")
		noToken.Del("csrf_token")
		b.post("/support/auditors", noToken).wantPage(t, http.StatusForbidden, "You cannot do this")
		big := auditor(pat.Email, "grant")
		big.Set("padding", strings.Repeat("x", maxBody))
		b.post("/support/auditors", big).wantPage(t, http.StatusRequestEntityTooLarge, "What you sent is too large")
		if s.eventCount() != before {
			t.Error("refused forms appended events")
		}

		b.post("/support/auditors", auditor(" PAT.support@necsu.example.nhs.uk ", "grant")).wantRedirect(t, "/support?done=auditor-granted")
		if p := b.get("/support?done=auditor-granted"); !strings.Contains(p.Body, "The auditor role has been granted.") {
			t.Error("no confirmation")
		}
		b.post("/support/auditors", auditor(pat.Email, "grant")).wantRedirect(t, "/support?done=auditor-unchanged")
		b.post("/support/auditors", auditor(pat.Email, "revoke")).wantRedirect(t, "/support?done=auditor-revoked")
	})
}

func TestWeb_SupportPageIsForSupportOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		pat := s.activeSupport("pat.support@necsu.example.nhs.uk", "Pat Support")
		// Cranberry Care Services has an Approver: Kim's request is Rosa's
		// to decide, not the central team's.
		s.register("kim.carer@cranberry.example.org", "Kim Carer")
		ps := s.client()
		ps.signIn(pat, "/")
		if p := ps.get("/support").wantPage(t, http.StatusOK, "Support"); strings.Contains(p.Body, "Kim Carer") ||
			!strings.Contains(p.Body, "No request is waiting for the central team.") {
			t.Error("the central queue lists a request of an organisation with an Approver")
		}
		b := s.client()
		b.signIn(rosa, "/")
		if home := b.get("/"); strings.Contains(home.Body, `href="/support"`) {
			t.Error("an Approver's Main Menu has the Support tile")
		}
		b.get("/support").wantPage(t, http.StatusForbidden, "You cannot do this")
		tok := b.csrf("/")
		before := s.eventCount()
		b.post("/support/generic-accounts", url.Values{"csrf_token": {tok}, "generic_email": {"office@cranberry.example.org"},
			"display_name": {"Cranberry Office"}, "organisation_id": {"1-100"}, "location_ids": {"1-200"}}).
			wantPage(t, http.StatusForbidden, "You cannot do this")
		b.post("/support/auditors", url.Values{"csrf_token": {tok}, "auditor_email": {"pat.support@necsu.example.nhs.uk"}, "action": {"grant"}}).
			wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Error("an Approver's support forms appended events")
		}
	})
}

func TestWeb_SupportCreatesAGenericAccountAndMakesAnAuditor(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		s.activeSupport("pat.support@necsu.example.nhs.uk", "Pat Support")
		s.register("kim.carer@cranberry.example.org", "Kim Carer")
		b.open("/sign-in")
		b.fill("Email address", sam.Email)
		b.fill("Password", sam.Password)
		b.press("Sign in")
		b.follow("Support")
		b.sees("Support")
		b.reads("Kim Carer")
		b.fill("Email address of the account", "office@cranberry.example.org")
		b.fill("Organisation ID", "1-100")
		b.press("Create generic account")
		b.reads("There is a problem")
		b.reads("Enter your display name")
		b.fill("Display name", "Cranberry Office")
		b.fill("Location IDs", "1-200")
		b.press("Create generic account")
		b.reads("The generic account office@cranberry.example.org has been created.")
		b.fill("Email address of the user", "pat.support@necsu.example.nhs.uk")
		b.press("Grant the auditor role")
		b.reads("The auditor role has been granted.")
	})
}
