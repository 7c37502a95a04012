package web_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestWeb_EachRoleSeesOnlyItsPages asks every page as each kind of person:
// the answer is the page, a redirect to where they must go first, or the
// 403 page; never a partial page.
func TestWeb_EachRoleSeesOnlyItsPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.register("kim.carer@cranberry.example.org", "Kim Carer")
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")

		// A Standard user: Rosa approves Kim, who sets a password.
		rb := s.client()
		rb.signIn(rosa, "/")
		p := rb.get("/approvals")
		m := approvalForm.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("no pending request")
		}
		rb.post("/approvals", url.Values{"csrf_token": {rb.csrf("/approvals")}, "user_id": {m[1]}, "request_id": {m[2]},
			"organisation_id": {m[3]}, "decision": {"approve"}})
		kim := person{Email: "kim.carer@cranberry.example.org", Password: "Kim-cares-a-lot-2026"}
		s.client().post("/set-password", url.Values{"token": {s.linkToken(kim.Email)}, "password": {kim.Password}}).wantRedirect(t, "/sign-in?done=password-set")

		clients := map[string]*browserless{"anonymous": s.client()}
		for name, who := range map[string]person{"standard": kim, "approver": rosa, "support": sam} {
			c := s.client()
			c.signIn(who, "/")
			clients[name] = c
		}
		generic := s.client()
		generic.signIn(office, "/disclaimer")
		clients["generic-before-disclaimer"] = generic

		const ok, signIn, disclaimer, forbidden, badRequest = "200", "/sign-in", "/disclaimer", "403", "400"
		for _, c := range []struct {
			path                                                 string
			anonymous, standard, approver, support, genericFirst string
		}{
			{"/", signIn, ok, ok, ok, disclaimer},
			{"/help", ok, ok, ok, ok, ok},
			{"/my-details", signIn, ok, ok, ok, disclaimer},
			{"/change-password", signIn, ok, ok, ok, disclaimer},
			{"/approvals", signIn, forbidden, ok, ok, disclaimer},
			{"/organisations/1-100/users", signIn, forbidden, ok, ok, disclaimer},
			// The paged lists: another page, or a page number that is not
			// one, is refused to whoever may not see the list.
			{"/approvals?page=2", signIn, forbidden, ok, ok, disclaimer},
			{"/approvals?page=x", signIn, forbidden, badRequest, badRequest, disclaimer},
			{"/organisations/1-100/users?page=2", signIn, forbidden, ok, ok, disclaimer},
			{"/organisations/1-100/users?page=x", signIn, forbidden, badRequest, badRequest, disclaimer},
			{"/my-access", signIn, ok, ok, forbidden, disclaimer},
			{"/support", signIn, forbidden, forbidden, ok, disclaimer},
			{"/forgotten-password", ok, ok, ok, ok, ok},
			// Home Care Providers lists each person's own locations (none
			// for some); Find Providers is public, as the API's search.
			{"/home-care", signIn, ok, ok, ok, disclaimer},
			{"/home-care.xlsx", signIn, ok, ok, ok, disclaimer},
			{"/find-providers", ok, ok, ok, ok, disclaimer},
			{"/find-providers.xlsx", ok, ok, ok, ok, disclaimer},
		} {
			for who, want := range map[string]string{"anonymous": c.anonymous, "standard": c.standard, "approver": c.approver,
				"support": c.support, "generic-before-disclaimer": c.genericFirst} {
				p := clients[who].get(c.path)
				switch want {
				case ok:
					if p.Status != http.StatusOK {
						t.Errorf("%s as %s: %d, want the page", c.path, who, p.Status)
					}
				case forbidden:
					p.wantPage(t, http.StatusForbidden, "You cannot do this")
				case badRequest:
					p.wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
				default:
					if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
						t.Errorf("%s as %s: %d to %q, want a redirect to %s", c.path, who, p.Status, p.Header.Get("Location"), want)
					}
				}
			}
		}
	})
}
