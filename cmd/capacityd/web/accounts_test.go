package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestWeb_SetPasswordPageListsTheRulesAndShowsEachBrokenOne(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		s.newSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		link := s.link("sam.support@necsu.example.nhs.uk")
		path := strings.TrimPrefix(link, s.url)
		b := s.client()
		p := b.get(path).wantPage(t, http.StatusOK, "Choose a password")
		for _, r := range s.accounts.PasswordRules() {
			if !strings.Contains(p.Body, "<li>"+r.Description+"</li>") {
				t.Errorf("the page does not list the rule %q", r.Description)
			}
		}
		token := s.linkToken("sam.support@necsu.example.nhs.uk")
		before := s.eventCount()
		// Short, and common: two rules broken, two errors.
		p = b.post("/set-password", url.Values{"token": {token}, "password": {"password"}}).
			wantPage(t, http.StatusUnprocessableEntity, "Choose a password")
		codes := map[string]bool{}
		for _, e := range p.summary() {
			if e[0] != "password" {
				t.Errorf("error on %q, want password", e[0])
			}
			codes[e[1]] = true
		}
		if len(p.summary()) < 2 || !codes["This is one of the 10,000 most commonly used passwords"] {
			t.Errorf("summary %v, want each broken rule", p.summary())
		}
		if !strings.Contains(p.Body, `name="token" value="`+token+`"`) {
			t.Error("the link's token is not kept after the error")
		}
		if strings.Contains(p.Body, `value="password"`) {
			t.Error("the password typed comes back")
		}
		if s.eventCount() != before {
			t.Error("a refused password appended events")
		}
		b.post("/set-password", url.Values{"token": {token}, "password": {"Cranberry-sauce-2026"}}).wantRedirect(t, "/sign-in?done=password-set")
		b.get("/sign-in?done=password-set").wantPage(t, http.StatusOK, "Sign in to Capacity Tracker")
		// A used link says so, on the page and when posted again.
		b.get(path).wantPage(t, http.StatusNotFound, "This link cannot be used")
		b.post("/set-password", url.Values{"token": {token}, "password": {"Another-cranberry-2026"}}).wantPage(t, http.StatusNotFound, "This link cannot be used")
		b.get("/set-password?token=made-up").wantPage(t, http.StatusNotFound, "This link cannot be used")
		b.signIn(person{Email: "sam.support@necsu.example.nhs.uk", Password: "Cranberry-sauce-2026"}, "/")
	})
}

func TestWeb_ForgottenPasswordAnswersTheSameWhateverTheEmail(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		b := s.client()
		p := b.post("/forgotten-password", url.Values{"email": {"not an address"}}).wantPage(t, http.StatusUnprocessableEntity, "Reset your password")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"email", "Enter an email address like name@example.nhs.uk"} {
			t.Errorf("summary %v", got)
		}
		if !strings.Contains(p.Body, `value="not an address"`) {
			t.Error("the address typed does not come back")
		}
		sent := s.messagesTo(sam.Email)
		b.post("/forgotten-password", url.Values{"email": {"nobody@example.nhs.uk"}}).wantRedirect(t, "/forgotten-password/sent")
		b.post("/forgotten-password", url.Values{"email": {sam.Email}}).wantRedirect(t, "/forgotten-password/sent")
		b.get("/forgotten-password/sent").wantPage(t, http.StatusOK, "Check your email")
		if got := s.messagesTo(sam.Email); got != sent+1 {
			t.Errorf("%d new emails to the account, want 1", got-sent)
		}
		if s.messagesTo("nobody@example.nhs.uk") != 0 {
			t.Error("an unknown address got an email")
		}
	})
}

func TestWeb_ChangePasswordShowsTheDomainsMessages(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		b := s.client()
		b.signIn(sam, "/")
		tok := b.csrf("/change-password")
		p := b.post("/change-password", url.Values{"csrf_token": {tok}}).wantPage(t, http.StatusUnprocessableEntity, "Change your password")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"current_password", "Enter your current password"} {
			t.Errorf("summary %v", got)
		}
		p = b.post("/change-password", url.Values{"csrf_token": {tok}, "current_password": {"wrong"}, "new_password": {"Cranberry-jelly-2027"}}).
			wantPage(t, http.StatusUnprocessableEntity, "Change your password")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"current_password", "Your current password is not right"} {
			t.Errorf("summary %v", got)
		}
		p = b.post("/change-password", url.Values{"csrf_token": {tok}, "current_password": {sam.Password}, "new_password": {"short"}}).
			wantPage(t, http.StatusUnprocessableEntity, "Change your password")
		if got := p.summary(); len(got) == 0 || got[0][0] != "new_password" {
			t.Errorf("summary %v", got)
		}
		b.post("/change-password", url.Values{"csrf_token": {tok}, "current_password": {sam.Password}, "new_password": {"Cranberry-jelly-2027"}}).
			wantRedirect(t, "/?done=password-changed")
		if p := b.get("/?done=password-changed"); !strings.Contains(p.Body, "Your password has been changed.") {
			t.Error("no confirmation on the Main Menu")
		}
		s.client().signIn(person{Email: sam.Email, Password: "Cranberry-jelly-2027"}, "/")
	})
}

func TestWeb_GenericAccountAcknowledgesTheDisclaimerThenChangesItsFirstPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		b := s.client()
		b.signIn(office, "/disclaimer")
		// Every other page leads to the disclaimer first, the password
		// change included.
		for _, path := range []string{"/", "/change-password"} {
			b.get(path).wantRedirect(t, "/disclaimer")
		}
		p := b.get("/disclaimer").wantPage(t, http.StatusOK, "This is a generic account")
		if !strings.Contains(p.Body, "auditing of the activity of this account") && !strings.Contains(p.Body, "Auditing of the activity of this account") {
			t.Error("the disclaimer's text is not on the page")
		}
		b.post("/disclaimer", url.Values{"csrf_token": {b.csrf("/disclaimer")}}).wantRedirect(t, "/change-password")
		b.get("/").wantRedirect(t, "/change-password")
		p = b.get("/change-password").wantPage(t, http.StatusOK, "Change your password")
		if !strings.Contains(p.Body, "Choose a new password first") {
			t.Error("the forced change does not say why")
		}
		next := "Plum-tree-orchard-2027"
		b.post("/change-password", url.Values{"csrf_token": {b.csrf("/change-password")}, "current_password": {office.Password}, "new_password": {next}}).
			wantRedirect(t, "/?done=password-changed")
		b.get("/").wantPage(t, http.StatusOK, "Main Menu")
		// The next sign in shows the disclaimer again, and only it.
		c := s.client()
		c.signIn(person{Email: office.Email, Password: next}, "/disclaimer")
		c.post("/disclaimer", url.Values{"csrf_token": {c.csrf("/disclaimer")}}).wantRedirect(t, "/")
	})
}
