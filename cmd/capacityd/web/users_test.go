package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// standardUser is Kim, registered for location 1-200, approved by the
// Approver and with her password set: a Standard user of organisation 1-100.
func (s *site) standardUser(approver person) person {
	s.t.Helper()
	s.register("kim.carer@cranberry.example.org", "Kim Carer")
	b := s.client()
	b.signIn(approver, "/")
	m := approvalForm.FindStringSubmatch(b.get("/approvals").Body)
	if m == nil {
		s.t.Fatal("no pending request")
	}
	b.post("/approvals", url.Values{"csrf_token": {b.csrf("/approvals")}, "user_id": {m[1]}, "request_id": {m[2]},
		"organisation_id": {m[3]}, "decision": {"approve"}})
	kim := person{Email: "kim.carer@cranberry.example.org", Name: "Kim Carer", Password: "Kim-cares-a-lot-2026"}
	s.client().post("/set-password", url.Values{"token": {s.linkToken(kim.Email)}, "password": {kim.Password}})
	s.settle()
	return kim
}

var userActionPattern = regexp.MustCompile(`/organisations/1-100/users/([0-9a-f-]{36})/deactivate`)

func TestWeb_ApproverManagesTheUsersOfTheOrganisation(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		kim := s.standardUser(rosa)
		b := s.client()
		b.signIn(rosa, "/")
		if p := b.get("/approvals"); !strings.Contains(p.Body, `href="/organisations/1-100/users"`) {
			t.Fatal("Approve/Reject Users has no link to the organisation's users")
		}
		const users = "/organisations/1-100/users"
		p := b.get(users).wantPage(t, http.StatusOK, "Users of Cranberry Care Services")
		for _, want := range []string{"Kim Carer", kim.Email, "Rosa Hill (you)", "nhsuk-warning-callout", "has 1 active Approver."} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the users page does not show %q", want)
			}
		}
		ids := userActionPattern.FindAllStringSubmatch(p.Body, -1)
		if len(ids) != 1 {
			t.Fatalf("want one Deactivate action (Kim's; none on yourself), got %d", len(ids))
		}
		kimID := ids[0][1]
		tok := b.csrf(users)
		before := s.eventCount()

		// Bad input: a made-up user type, a made-up id, a long reason.
		p = b.post(users+"/"+kimID+"/user-type", url.Values{"csrf_token": {tok}, "user_type": {"owner"}}).
			wantPage(t, http.StatusUnprocessableEntity, "Users of Cranberry Care Services")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"users", "Choose standard or approver"} {
			t.Errorf("summary %v", got)
		}
		if !strings.HasPrefix(p.title(), "Error: ") {
			t.Errorf("title %q", p.title())
		}
		b.post(users+"/not-a-uuid/user-type", url.Values{"csrf_token": {tok}, "user_type": {"approver"}}).
			wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		b.post(users+"/"+kimID+"/user-type", url.Values{"user_type": {"approver"}}).wantPage(t, http.StatusForbidden, "You cannot do this")
		b.post(users+"/"+kimID+"/deactivate", url.Values{"csrf_token": {tok}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "").
			wantPage(t, http.StatusForbidden, "You cannot do this")
		p = b.post(users+"/"+kimID+"/deactivate", url.Values{"csrf_token": {tok}, "reason": {strings.Repeat("x", 501)}}).
			wantPage(t, http.StatusUnprocessableEntity, "Deactivate Kim Carer")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"reason", "A reason has at most 500 characters"} {
			t.Errorf("summary %v", got)
		}
		if !strings.Contains(p.Body, `value="`+strings.Repeat("x", 501)+`"`) {
			t.Error("the reason typed is lost")
		}
		p = b.post(users+"/"+kimID+"/reactivate", url.Values{"csrf_token": {tok}}).
			wantPage(t, http.StatusUnprocessableEntity, "Users of Cranberry Care Services")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"users", "the account is active, not deactivated"} {
			t.Errorf("summary %v", got)
		}
		if s.eventCount() != before {
			t.Error("refused forms appended events")
		}

		// Kim becomes an Approver: two Approvers, no warning.
		res := b.post(users+"/"+kimID+"/user-type", url.Values{"csrf_token": {tok}, "user_type": {"approver"}})
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), users+"?done=user-type&position=") {
			t.Fatalf("change type: %d to %q", res.Status, res.Header.Get("Location"))
		}
		s.settle()
		p = b.get(res.Header.Get("Location"))
		if !strings.Contains(p.Body, "The user type has been changed.") || strings.Contains(p.Body, "nhsuk-warning-callout") ||
			!strings.Contains(p.Body, "Make Standard") {
			t.Error("after the change, no confirmation, the warning remains, or Kim is not an Approver")
		}

		// Kim leaves: a confirmation page, then deactivated; she cannot sign in.
		k := s.client()
		k.signIn(kim, "/")
		p = b.get(users+"/"+kimID+"/deactivate").wantPage(t, http.StatusOK, "Deactivate Kim Carer")
		if !strings.Contains(p.Body, kim.Email) {
			t.Error("the confirmation does not say who")
		}
		b.post(users+"/"+kimID+"/deactivate", url.Values{"csrf_token": {tok}, "reason": {"Left in March"}}).
			wantRedirectPrefix(t, users+"?done=deactivated&position=")
		k.get("/").wantRedirect(t, "/sign-in")
		if r := s.client().post("/sign-in", url.Values{"email": {kim.Email}, "password": {kim.Password}}); r.Status == http.StatusSeeOther {
			t.Error("a deactivated user signs in")
		}
		s.settle()
		p = b.get(users)
		if !strings.Contains(p.Body, "Deactivated") || !strings.Contains(p.Body, "Reactivate") {
			t.Error("Kim is not shown deactivated, or cannot be reactivated")
		}
		b.post(users+"/"+kimID+"/reactivate", url.Values{"csrf_token": {tok}}).wantRedirectPrefix(t, users+"?done=reactivated&position=")
		s.client().signIn(kim, "/")
	})
}

// wantRedirectPrefix checks an answer is a redirect to an address that
// begins with prefix (the rest is the position to read the change at).
func (p page) wantRedirectPrefix(t *testing.T, prefix string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), prefix) {
		t.Fatalf("got %d to %q, want 303 to %q...:\n%s", p.Status, p.Header.Get("Location"), prefix, p.Body)
	}
}

func TestWeb_UsersOfAnOrganisationAreForItsApproversAndSupportOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		kim := s.standardUser(rosa)
		const users = "/organisations/1-100/users"

		k := s.client()
		k.signIn(kim, "/")
		k.get(users).wantPage(t, http.StatusForbidden, "You cannot do this")
		k.get("/organisations/users?organisation=1-100").wantPage(t, http.StatusForbidden, "You cannot do this")
		rb := s.client()
		rb.signIn(rosa, "/")
		// Kim may not change anyone: to her, the others do not exist.
		sb := s.client()
		sb.signIn(sam, "/")
		kimID := userActionPattern.FindStringSubmatch(sb.get(users).Body)[1]
		tok := k.csrf("/")
		before := s.eventCount()
		k.get(users+"/"+kimID+"/deactivate").wantPage(t, http.StatusForbidden, "You cannot do this")
		k.post(users+"/"+kimID+"/deactivate", url.Values{"csrf_token": {tok}}).wantPage(t, http.StatusNotFound, "Page not found")
		if s.eventCount() != before {
			t.Error("a Standard user's change appended events")
		}

		// An Approver of another organisation: 403 for the list.
		rb.get("/organisations/1-999/users").wantPage(t, http.StatusForbidden, "You cannot do this")

		// Support finds any organisation by its id.
		p := sb.get("/approvals")
		if !strings.Contains(p.Body, `name="organisation"`) {
			t.Error("support has no organisation search")
		}
		p = sb.get("/organisations/users?organisation=").wantPage(t, http.StatusUnprocessableEntity, "Approve or reject users")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"organisation", "Enter an organisation ID"} {
			t.Errorf("summary %v", got)
		}
		p = sb.get("/organisations/users?organisation=1-999").wantPage(t, http.StatusUnprocessableEntity, "Approve or reject users")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"organisation", "No organisation has this ID"} || !strings.Contains(p.Body, `value="1-999"`) {
			t.Errorf("summary %v, or the id typed is lost", got)
		}
		sb.get("/organisations/users?organisation=1-100").wantRedirect(t, users)
		sb.get(users).wantPage(t, http.StatusOK, "Users of Cranberry Care Services")
	})
}

func TestWeb_ApproverMakesAnotherApproverThenDeactivatesAndReactivatesALeaver(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.standardUser(rosa)

		b.open("/sign-in")
		b.fill("Email address", rosa.Email)
		b.fill("Password", rosa.Password)
		b.press("Sign in")
		b.follow("Approve/Reject Users")
		b.follow("Users of Cranberry Care Services")
		b.sees("Users of Cranberry Care Services")
		b.reads("Fewer than 2 Approvers")
		b.press("Make Approver: Kim Carer")
		b.reads("The user type has been changed.")
		// The list waits a moment for its view; on a loaded machine it may
		// still show the old one, so look again once the view has it.
		s.settle()
		b.open("/organisations/1-100/users")
		b.reads("Make Standard user: Kim Carer")
		b.follow("Deactivate Kim Carer")
		b.sees("Deactivate Kim Carer")
		b.fill("Reason (optional)", "Left in March")
		b.press("Deactivate")
		b.reads("The user has been deactivated")
		s.settle()
		b.open("/organisations/1-100/users")
		b.press("Reactivate Kim Carer")
		b.reads("The user has been reactivated")
	})
}
