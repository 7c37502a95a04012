package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestWeb_RegisterShowsEachStepsErrorsAndKeepsTheChoices(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b := s.client()
		b.get("/register").wantPage(t, http.StatusOK, "Register New account")
		before := s.eventCount()

		p := b.post("/register", url.Values{"step": {"details"}, "action": {"next"}, "email": {"kim@"}, "full_name": {"Kim Carer"}}).
			wantPage(t, http.StatusUnprocessableEntity, "Register New account")
		fields := map[string]bool{}
		for _, e := range p.summary() {
			fields[e[0]] = true
		}
		if !fields["email"] || !fields["phone"] || !fields["job_title"] || fields["full_name"] || fields["location_ids"] {
			t.Errorf("step 1 errors on %v, want email, phone and job_title only", fields)
		}
		if !strings.Contains(p.Body, `value="Kim Carer"`) {
			t.Error("the name typed does not come back")
		}

		details := url.Values{"step": {"details"}, "action": {"next"}, "email": {"kim.carer@cranberry.example.org"}, "full_name": {"Kim Carer"},
			"phone": {"0191 691 0000"}, "job_title": {"Care Worker"}, "user_type": {"standard"}}
		p = b.post("/register", details).wantPage(t, http.StatusOK, "Register New account")
		if !strings.Contains(p.Body, `<h2>Organisation details</h2>`) || !strings.Contains(p.Body, `name="email" value="kim.carer@cranberry.example.org"`) {
			t.Fatal("step 2 does not follow, or does not carry step 1")
		}
		org := url.Values{"step": {"organisation"}, "organisation_type": {"home_care"}}
		for _, k := range []string{"email", "full_name", "phone", "job_title", "user_type"} {
			org.Set(k, details.Get(k))
		}
		org.Set("action", "next")
		p = b.post("/register", org).wantPage(t, http.StatusUnprocessableEntity, "Register New account")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"location_ids", "Choose at least one location"} {
			t.Errorf("no location: summary %v", got)
		}
		org.Set("action", "search")
		org.Set("postcode", "not a postcode")
		p = b.post("/register", org).wantPage(t, http.StatusUnprocessableEntity, "Register New account")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"postcode", "Enter a full UK postcode, like NN1 1NN"} {
			t.Errorf("bad postcode: summary %v", got)
		}
		org.Set("postcode", "NN1 1NN")
		p = b.post("/register", org).wantPage(t, http.StatusOK, "Register New account")
		if !strings.Contains(p.Body, `value="1-200"`) || !strings.Contains(p.Body, "Cranberry Home Care") {
			t.Fatalf("the postcode search does not list the location:\n%s", p.Body)
		}
		org.Set("location_ids", "1-200")
		org.Set("postcode", "SW1A 1AA")
		p = b.post("/register", org).wantPage(t, http.StatusOK, "Register New account")
		if !strings.Contains(p.Body, `id="location-1-200" name="location_ids" type="checkbox" value="1-200" checked`) {
			t.Error("the chosen location is not kept ticked after another search")
		}
		org.Set("action", "next")
		p = b.post("/register", org).wantPage(t, http.StatusOK, "Register New account")
		if !strings.Contains(p.Body, "Terms of Use and Communications") {
			t.Fatal("step 3 does not follow")
		}
		terms := url.Values{}
		for k, v := range org {
			terms[k] = v
		}
		terms.Set("step", "terms")
		terms.Set("action", "complete")
		p = b.post("/register", terms).wantPage(t, http.StatusUnprocessableEntity, "Register New account")
		if len(p.summary()) != 2 {
			t.Errorf("no choices: summary %v", p.summary())
		}
		terms.Set("terms", "disagree")
		terms.Set("communications", "disagree")
		p = b.post("/register", terms).wantPage(t, http.StatusUnprocessableEntity, "Register New account")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"terms", "You must agree to the Terms of Use to register"} {
			t.Errorf("disagreeing: summary %v", got)
		}
		if s.eventCount() != before {
			t.Error("an unfinished registration appended events")
		}
		terms.Set("terms", "agree")
		b.post("/register", terms).wantRedirect(t, "/register/finished")
		if p := b.get("/register/finished"); p.Status != http.StatusOK || !strings.Contains(p.Body, "An Approver of your organisation will review your request") {
			t.Error("no finished page")
		}

		// The same address again: Username taken, with the contacts, on step 1.
		p = b.post("/register", terms).wantPage(t, http.StatusConflict, "Register New account")
		if got := p.summary(); len(got) != 1 || got[0][0] != "email" || !strings.HasPrefix(got[0][1], "Username taken!") || !strings.Contains(got[0][1], "0191 691 3729") {
			t.Errorf("a registered address: summary %v", got)
		}
		// Rosa sees the request.
		r := s.client()
		r.signIn(rosa, "/")
		s.deliver()
		if p := r.get("/approvals"); !strings.Contains(p.Body, "kim.carer@cranberry.example.org") {
			t.Error("the Approver does not see the registration")
		}
	})
}
