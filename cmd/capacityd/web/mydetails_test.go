package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var newTokenPattern = regexp.MustCompile(`<code id="new-token">([^<]+)</code>`)
var tokenIDPattern = regexp.MustCompile(`name="token_id" value="([^"]+)"`)

// apiStatus is the API's answer to GET /api/v1/me with a Bearer token.
func apiStatus(t *testing.T, s *site, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/api/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return s.client().do(req).Status
}

func TestWeb_MyDetailsSavesTheCommunicationsChoiceAndManagesAPITokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b := s.client()
		b.signIn(rosa, "/")
		p := b.get("/my-details").wantPage(t, http.StatusOK, "My Details")
		for _, want := range []string{"Rosa Hill", rosa.Email, "Approver", "1-200", `value="no" checked`, "You have no API tokens."} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("My Details does not show %q", want)
			}
		}
		tok := b.csrf("/my-details")
		before := s.eventCount()

		p = b.post("/my-details/communications", url.Values{"csrf_token": {tok}}).wantPage(t, http.StatusUnprocessableEntity, "My Details")
		if got := p.summary(); len(got) != 1 || got[0][0] != "communications" {
			t.Errorf("summary %v", got)
		}
		p = b.post("/my-details/api-tokens", url.Values{"csrf_token": {tok}, "token_name": {"   "}}).wantPage(t, http.StatusUnprocessableEntity, "My Details")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"token_name", "Name the token in 1 to 100 characters"} {
			t.Errorf("summary %v", got)
		}
		if s.eventCount() != before {
			t.Error("refused forms appended events")
		}

		b.post("/my-details/communications", url.Values{"csrf_token": {tok}, "communications": {"yes"}}).wantRedirect(t, "/my-details?done=communications")
		p = b.get("/my-details?done=communications")
		if !strings.Contains(p.Body, `value="yes" checked`) || !strings.Contains(p.Body, "Your communications choice has been saved.") {
			t.Error("the choice is not saved, or not confirmed")
		}

		p = b.post("/my-details/api-tokens", url.Values{"csrf_token": {tok}, "token_name": {"Reporting script"}}).wantPage(t, http.StatusCreated, "My Details")
		m := newTokenPattern.FindStringSubmatch(p.Body)
		if m == nil || !strings.Contains(p.Body, "Reporting script") {
			t.Fatal("the new token is not shown, or not listed")
		}
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Error("the page with the token may be cached")
		}
		if got := apiStatus(t, s, m[1]); got != http.StatusOK {
			t.Errorf("the new token gets %d from the API", got)
		}
		p = b.get("/my-details")
		if strings.Contains(p.Body, m[1]) || !strings.Contains(p.Body, "Reporting script") {
			t.Error("the token is shown again, or no longer listed")
		}
		id := tokenIDPattern.FindStringSubmatch(p.Body)
		if id == nil {
			t.Fatal("no revoke form")
		}
		b.post("/my-details/api-tokens/revoke", url.Values{"csrf_token": {tok}, "token_id": {id[1]}}).wantRedirect(t, "/my-details?done=token-revoked")
		if got := apiStatus(t, s, m[1]); got != http.StatusUnauthorized {
			t.Errorf("the revoked token gets %d from the API", got)
		}
		if p := b.get("/my-details"); strings.Contains(p.Body, "Reporting script") {
			t.Error("the revoked token is still listed")
		}
	})
}

func TestWeb_GenericAccountHasNoAPITokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		b := s.client()
		b.signIn(office, "/disclaimer")
		b.get("/my-details").wantRedirect(t, "/disclaimer")
		b.post("/disclaimer", url.Values{"csrf_token": {b.csrf("/disclaimer")}}).wantRedirect(t, "/change-password")
		next := "Plum-tree-orchard-2027"
		b.post("/change-password", url.Values{"csrf_token": {b.csrf("/change-password")}, "current_password": {office.Password}, "new_password": {next}}).
			wantRedirect(t, "/?done=password-changed")
		p := b.get("/my-details").wantPage(t, http.StatusOK, "My Details")
		if strings.Contains(p.Body, "API tokens") {
			t.Error("a generic account is offered API tokens")
		}
	})
}
