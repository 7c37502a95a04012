package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var approvalForm = regexp.MustCompile(`name="user_id" value="([^"]+)">\s*<input type="hidden" name="request_id" value="([^"]+)">\s*<input type="hidden" name="organisation_id" value="([^"]+)">`)

func TestWeb_ApproveRejectUsersIsForApproversAndSupportOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.register("kim.carer@cranberry.example.org", "Kim Carer")
		b := s.client()
		b.signIn(rosa, "/")
		if home := b.get("/"); !strings.Contains(home.Body, `href="/approvals"`) {
			t.Error("the Approver's Main Menu has no Approve/Reject Users tile")
		}
		p := b.get("/approvals").wantPage(t, http.StatusOK, "Approve or reject users")
		m := approvalForm.FindStringSubmatch(p.Body)
		if m == nil || !strings.Contains(p.Body, "Kim Carer") || !strings.Contains(p.Body, "kim.carer@cranberry.example.org") {
			t.Fatalf("the pending request is not listed:\n%s", p.Body)
		}
		tok := b.csrf("/approvals")
		form := url.Values{"csrf_token": {tok}, "user_id": {m[1]}, "request_id": {m[2]}, "organisation_id": {m[3]}, "decision": {"approve"}}

		before := s.eventCount()
		long := url.Values{}
		for k, v := range form {
			long[k] = v
		}
		long.Set("reason", strings.Repeat("x", 501))
		p = b.post("/approvals", long).wantPage(t, http.StatusUnprocessableEntity, "Approve or reject users")
		field := "reason-" + m[2] + "-" + m[3]
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{field, "A reason has at most 500 characters"} {
			t.Errorf("summary %v", got)
		}
		if !strings.Contains(p.Body, `id="`+field+`-error"`) || !strings.Contains(p.Body, `value="`+strings.Repeat("x", 501)+`"`) {
			t.Error("no inline error, or the reason typed is lost")
		}
		bad := url.Values{"csrf_token": {tok}, "user_id": {"not-a-uuid"}, "request_id": {m[2]}, "organisation_id": {m[3]}, "decision": {"approve"}}
		b.post("/approvals", bad).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		if s.eventCount() != before {
			t.Error("a refused decision appended events")
		}

		res := b.post("/approvals", form)
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/approvals?done=approved&position=") {
			t.Fatalf("approve: %d to %q", res.Status, res.Header.Get("Location"))
		}
		s.settle()
		p = b.get(res.Header.Get("Location")).wantPage(t, http.StatusOK, "Approve or reject users")
		if !strings.Contains(p.Body, "The request has been approved.") || strings.Contains(p.Body, "Kim Carer") {
			t.Error("after approving, no confirmation, or the request is still listed")
		}
		p = b.post("/approvals", form).wantPage(t, http.StatusUnprocessableEntity, "Approve or reject users")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"requests", "this request was approved already"} {
			t.Errorf("deciding twice: summary %v", got)
		}

		// The approved Standard user: no tile, and the page is refused.
		kim := person{Email: "kim.carer@cranberry.example.org", Password: "Kim-cares-a-lot-2026"}
		k := s.client()
		k.post("/set-password", url.Values{"token": {s.linkToken(kim.Email)}, "password": {kim.Password}}).wantRedirect(t, "/sign-in?done=password-set")
		k.signIn(kim, "/")
		if home := k.get("/"); strings.Contains(home.Body, `href="/approvals"`) {
			t.Error("a Standard user's Main Menu has the Approve/Reject Users tile")
		}
		k.get("/approvals").wantPage(t, http.StatusForbidden, "You cannot do this")
		form.Set("csrf_token", k.csrf("/"))
		before = s.eventCount()
		k.post("/approvals", form).wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Error("a Standard user's decision appended events")
		}
	})
}
