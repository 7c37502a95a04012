package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
)

const (
	dashboardPath   = "/locations/1-200"
	dailyUpdatePath = "/locations/1-200/daily-update"
)

// savedRedirect is where a saved daily update leads: the dashboard, at the
// update's position.
var savedRedirect = regexp.MustCompile(`^/locations/1-200\?done=(daily-update|daily-update-replaced)&position=[1-9][0-9]*$`)

// postUpdate posts a daily update as the signed-in person, with the page's
// form token.
func postUpdate(c *browserless, form url.Values) page {
	c.s.t.Helper()
	return c.post(dailyUpdatePath, with(form, "csrf_token", c.csrf(dailyUpdatePath)))
}

// wantSaved checks a post saved the update and leads to the dashboard's
// confirmation; it returns the dashboard after the redirect.
func wantSaved(t *testing.T, c *browserless, p page, done string) page {
	t.Helper()
	to := p.Header.Get("Location")
	m := savedRedirect.FindStringSubmatch(to)
	if p.Status != http.StatusSeeOther || m == nil || m[1] != done {
		t.Fatalf("got %d to %q, want 303 to the dashboard with done=%s:\n%s", p.Status, to, done, p.Body)
	}
	d := c.get(to).wantPage(t, http.StatusOK, "Cranberry Home Care")
	if strings.Contains(d.Body, "it will show here in a moment") {
		// The dashboard's wait for its views is bounded (2 s); on a
		// loaded machine (PostgreSQL's positions wait for every older
		// transaction of the server) it may end first. Once the views
		// have the update, the same address shows it.
		t.Logf("the views were behind the update after the wait; asking again once they have it")
		c.s.settle()
		d = c.get(to).wantPage(t, http.StatusOK, "Cranberry Home Care")
	}
	for _, want := range []string{"COVID-19 update saved", "Saved at "} {
		if !strings.Contains(d.Body, want) {
			t.Errorf("the dashboard after saving does not say %q", want)
		}
	}
	if replaced := strings.Contains(d.Body, "It replaced your earlier update of today."); replaced != (done == "daily-update-replaced") {
		t.Errorf("the confirmation says it replaced an earlier update: %v, want %v", replaced, !replaced)
	}
	if strings.Contains(d.Body, "Today&#39;s COVID-19 update is missing.") {
		t.Error("the dashboard after saving still asks for today's update")
	}
	return d
}

func TestWeb_DailyUpdateShowsEveryBrokenRuleAtOnceAndKeepsTheInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		c := s.client()
		c.signIn(rosa, "/")
		p := c.get(dailyUpdatePath).wantPage(t, http.StatusOK, "COVID-19 Update at Cranberry Home Care")
		// The guide's questions, in its order.
		last := -1
		for _, f := range dailyupdate.Fields() {
			i := strings.Index(p.Body, dailyupdate.Questions[f])
			if i < 0 || i < last {
				t.Errorf("the question %q is missing or out of the guide's order", dailyupdate.Questions[f])
			}
			last = i
		}
		if strings.Contains(p.Body, "No change since my last update") {
			t.Error("the first update offers No change, with nothing to copy")
		}
		before := s.eventCount()

		for _, c2 := range []struct {
			name string
			form url.Values
			want [][2]string // the summary: field, message
		}{
			{"every rule of the guide", with(goodUpdate(), "service_users", "5", "confirmed", "4", "suspected", "3",
				"care_staff", "2", "staff_not_working", "3", "ppe", "", "can_provide_extra_hours", "no", "extra_hours_per_week", "7",
				"other_issues", strings.Repeat("x", dailyupdate.MaxOtherIssuesLen+1)), [][2]string{
				{"confirmed", dailyupdate.MsgUsersWithCovid}, {"suspected", dailyupdate.MsgUsersWithCovid},
				{"staff_not_working", dailyupdate.MsgStaffAbsent}, {"ppe", dailyupdate.MsgRequired},
				{"extra_hours_per_week", dailyupdate.MsgNoExtraHours}, {"other_issues", dailyupdate.MsgOtherIssues}}},
			{"numbers that are not", with(goodUpdate(), "service_users", "forty", "confirmed", "-1", "suspected", "1.5",
				"care_staff", "2000000", "staff_not_working", "", "can_provide_extra_hours", "yes", "extra_hours_per_week", "0"), [][2]string{
				{"service_users", dailyupdate.MsgWholeNumber}, {"confirmed", dailyupdate.MsgWholeNumber},
				{"suspected", dailyupdate.MsgWholeNumber}, {"care_staff", dailyupdate.MsgTooLarge},
				{"staff_not_working", dailyupdate.MsgRequired}, {"extra_hours_per_week", dailyupdate.MsgExtraHours}}},
			{"nothing answered", url.Values{}, [][2]string{
				{"service_users", dailyupdate.MsgRequired}, {"confirmed", dailyupdate.MsgRequired}, {"suspected", dailyupdate.MsgRequired},
				{"care_staff", dailyupdate.MsgRequired}, {"staff_not_working", dailyupdate.MsgRequired}, {"ppe", dailyupdate.MsgRequired},
				{"can_provide_extra_hours", dailyupdate.MsgRequired}, {"extra_hours_per_week", dailyupdate.MsgRequired}}},
			{"made-up choices", with(goodUpdate(), "ppe", "plenty", "can_provide_extra_hours", "maybe"), [][2]string{
				{"ppe", dailyupdate.MsgPPE}, {"can_provide_extra_hours", dailyupdate.MsgYesNo}}},
		} {
			t.Run(c2.name, func(t *testing.T) {
				p := postUpdate(c, c2.form).wantPage(t, http.StatusUnprocessableEntity, "COVID-19 Update at Cranberry Home Care")
				if got := p.summary(); !equalPairs(got, c2.want) {
					t.Errorf("error summary\n got %q\nwant %q", got, c2.want)
				}
				if !strings.HasPrefix(p.title(), "Error: ") {
					t.Errorf("title %q does not start with Error: ", p.title())
				}
				for _, e := range c2.want {
					if !strings.Contains(p.Body, `id="`+e[0]+`-error"`) {
						t.Errorf("the field %s shows no error message", e[0])
					}
				}
				// The input is kept.
				for _, f := range []string{"service_users", "confirmed", "suspected", "care_staff", "staff_not_working", "extra_hours_per_week"} {
					if v := c2.form.Get(f); v != "" && !strings.Contains(p.Body, `name="`+f+`" type="text" inputmode="numeric" spellcheck="false" value="`+v+`"`) {
						t.Errorf("the field %s lost its input %q", f, v)
					}
				}
				if v := c2.form.Get("ppe"); v == "three_days_to_week" && !strings.Contains(p.Body, `value="three_days_to_week" checked`) {
					t.Error("the PPE choice was lost")
				}
				if v := c2.form.Get("can_provide_extra_hours"); (v == "yes" || v == "no") && !strings.Contains(p.Body, `value="`+v+`" checked`) {
					t.Errorf("the extra hours choice %q was lost", v)
				}
				if v := c2.form.Get("other_issues"); v != "" && !strings.Contains(p.Body, ">"+v+"</textarea>") {
					t.Error("the other issues text was lost")
				}
			})
		}
		if after := s.eventCount(); after != before {
			t.Fatalf("bad updates appended %d events", after-before)
		}

		// Fixed: saved, and the dashboard confirms it.
		d := wantSaved(t, c, postUpdate(c, goodUpdate()), "daily-update")
		if !strings.Contains(d.Body, "The last COVID-19 update was saved at ") {
			t.Error("the dashboard does not show the last update")
		}
	})
}

func TestWeb_DailyUpdateNoChangeCopiesTheLastAndReplacesTodays(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		c := s.client()
		c.signIn(rosa, "/")
		// Nothing to copy yet: the command's refusal, on the page.
		p := postUpdate(c, url.Values{"action": {"no-change"}}).wantPage(t, http.StatusUnprocessableEntity, "COVID-19 Update at Cranberry Home Care")
		if got := p.summary(); len(got) != 1 || got[0][0] != "daily-update" || !strings.Contains(got[0][1], "There is no earlier update to copy") {
			t.Errorf("summary %q, want the no-earlier-update error", got)
		}

		wantSaved(t, c, postUpdate(c, with(goodUpdate(), "action", "save")), "daily-update")
		p = c.get(dailyUpdatePath).wantPage(t, http.StatusOK, "COVID-19 Update at Cranberry Home Care")
		for _, want := range []string{"No change since my last update", "You updated today already", "Your last update",
			"We have enough PPE to last between 3 days and a week", "Short of aprons", "<dd class=\"nhsuk-summary-list__value\">40</dd>"} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the page after an update does not show %q", want)
			}
		}
		// No change, whatever the form holds: a copy, replacing today's.
		wantSaved(t, c, postUpdate(c, with(goodUpdate(), "service_users", "junk", "action", "no-change")), "daily-update-replaced")
		p = c.get(dailyUpdatePath)
		for _, want := range []string{"with no change since the update before", "<dd class=\"nhsuk-summary-list__value\">40</dd>"} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the page after No change does not show %q", want)
			}
		}
		// And a new answer replaces it again.
		d := wantSaved(t, c, postUpdate(c, with(goodUpdate(), "service_users", "41", "can_provide_extra_hours", "no", "extra_hours_per_week", "0")), "daily-update-replaced")
		_ = d
		if p := c.get(dailyUpdatePath); !strings.Contains(p.Body, "<dd class=\"nhsuk-summary-list__value\">41</dd>") {
			t.Error("the last update does not show the new answer")
		}
	})
}

// TestWeb_LocationPagesPerRole asks the dashboard and the daily update, and
// posts an update, as each kind of person: only those with the location
// (and support) see and save; an Approver of another organisation gets
// the 403 page and changes nothing.
func TestWeb_LocationPagesPerRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		kim := s.standardUser(rosa)
		lee := s.otherApprover()
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")

		clients := map[string]*browserless{"anonymous": s.client()}
		for name, who := range map[string]person{"standard": kim, "other-approver": lee, "support": sam} {
			c := s.client()
			c.signIn(who, "/")
			clients[name] = c
		}
		// Another generic account: changing a password ends the
		// account's other sessions.
		desk := s.genericAccount("desk@cranberry.example.org", "Cranberry Desk")
		before := s.client()
		before.signIn(desk, "/disclaimer")
		clients["generic-before-disclaimer"] = before
		after := s.client()
		s.genericReady(t, after, office)
		clients["generic-after-disclaimer"] = after

		const ok, signIn, disclaimer, forbidden, notFound = "200", "/sign-in", "/disclaimer", "403", "404"
		type row struct{ anonymous, standard, otherApprover, support, genericBefore, genericAfter string }
		for _, c := range []struct {
			path string
			want row
		}{
			{dashboardPath, row{signIn, ok, forbidden, ok, disclaimer, ok}},
			{dailyUpdatePath, row{signIn, ok, forbidden, ok, disclaimer, ok}},
			{"/locations/1-999", row{signIn, notFound, notFound, notFound, disclaimer, notFound}},
			{"/locations/1-999/daily-update", row{signIn, notFound, notFound, notFound, disclaimer, notFound}},
		} {
			for who, want := range map[string]string{"anonymous": c.want.anonymous, "standard": c.want.standard,
				"other-approver": c.want.otherApprover, "support": c.want.support,
				"generic-before-disclaimer": c.want.genericBefore, "generic-after-disclaimer": c.want.genericAfter} {
				p := clients[who].get(c.path)
				switch want {
				case ok:
					if p.Status != http.StatusOK {
						t.Errorf("GET %s as %s: %d, want the page", c.path, who, p.Status)
					}
				case forbidden:
					p.wantPage(t, http.StatusForbidden, "You cannot do this")
				case notFound:
					p.wantPage(t, http.StatusNotFound, "Page not found")
				default:
					if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
						t.Errorf("GET %s as %s: %d to %q, want a redirect to %s", c.path, who, p.Status, p.Header.Get("Location"), want)
					}
				}
			}
		}

		// Posting an update. The form token of a page each may see.
		token := func(c *browserless, path string) string {
			m := csrfPattern.FindStringSubmatch(c.get(path).Body)
			if m == nil {
				t.Fatalf("no form token on %s", path)
			}
			return m[1]
		}
		events := s.eventCount()
		clients["anonymous"].post(dailyUpdatePath, goodUpdate()).wantRedirect(t, "/sign-in")
		clients["other-approver"].post(dailyUpdatePath, with(goodUpdate(), "csrf_token", token(clients["other-approver"], "/"))).
			wantPage(t, http.StatusForbidden, "You cannot do this")
		clients["generic-before-disclaimer"].post(dailyUpdatePath, with(goodUpdate(), "csrf_token", token(before, "/disclaimer"))).
			wantRedirect(t, "/disclaimer")
		if n := s.eventCount(); n != events {
			t.Fatalf("refused updates appended %d events", n-events)
		}
		wantSaved(t, clients["standard"], postUpdate(clients["standard"], goodUpdate()), "daily-update")
		wantSaved(t, clients["generic-after-disclaimer"], postUpdate(after, goodUpdate()), "daily-update-replaced")
		wantSaved(t, clients["support"], postUpdate(clients["support"], goodUpdate()), "daily-update-replaced")
		// No form token: refused.
		clients["standard"].post(dailyUpdatePath, goodUpdate()).wantPage(t, http.StatusForbidden, "You cannot do this")
	})
}

func TestWeb_LocationDashboardSaysWhatNeedsDoing(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.register("kim.carer@cranberry.example.org", "Kim Carer")
		c := s.client()
		c.signIn(rosa, "/")
		p := c.get(dashboardPath).wantPage(t, http.StatusOK, "Cranberry Home Care")
		for _, want := range []string{
			"Cranberry Care Services", "Location ID 1-200",
			`href="/locations/1-200/edit"`, `href="/locations/1-200/daily-update"`, `href="/locations/1-200/care-quality"`, `href="/locations/1-200/surveys"`,
			"The organisation has 1 active Approver: it needs at least 2", `href="/organisations/1-100/users"`,
			"1 request for access waiting for a decision.", `href="/approvals"`,
			"Today&#39;s COVID-19 update is missing.", "There is no COVID-19 update yet.",
			"CQC Overall", "Well-led", "Unknown Rating",
		} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the dashboard does not show %q", want)
			}
		}
		if strings.Contains(p.Body, "COVID-19 update saved") {
			t.Error("the dashboard confirms an update nobody saved")
		}
	})
}
