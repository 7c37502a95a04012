package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
)

// pagedPerson matches the email address of a person registerMany made,
// with their number.
var pagedPerson = regexp.MustCompile(`paged\.person(\d+)@cranberry\.example\.org`)

// pagedName is the name of registerMany's person i: names hold no digits,
// and these sort in the order of i (below 676).
func pagedName(i int) string {
	return "Paged Person " + string(rune('A'+i/26)) + string(rune('a'+i%26))
}

// registerMany registers n people for location 1-200 (Standard users of
// organisation 1-100), and approves the first approved of them as the
// system; the others wait. Without name, they are named in the order of
// their number (pagedName), with addresses pagedPerson matches; with it,
// as it names them, with addresses made of their names.
func (s *site) registerMany(n, approved int, name func(i int) string) {
	s.t.Helper()
	ctx := context.Background()
	email := func(i int) string { return fmt.Sprintf("paged.person%03d@cranberry.example.org", i) }
	if name == nil {
		name = pagedName
	} else {
		email = func(i int) string {
			return strings.ToLower(strings.ReplaceAll(name(i), " ", ".")) + "@cranberry.example.org"
		}
	}
	for i := range n {
		reg, err := s.accounts.Register(ctx, commands.Request{}, account.Register{
			Email: email(i), FullName: name(i),
			Phone: "0191 691 0000", JobTitle: "Care Worker", UserType: "standard",
			OrganisationType: string(location.HomeCare), LocationIDs: []string{"1-200"}, TermsAccepted: true})
		if err != nil {
			s.t.Fatal(err)
		}
		if i < approved {
			if _, err := s.accounts.DecideAccess(ctx, commands.System("test"), reg.UserID, reg.RequestID, "1-100", true, ""); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	s.settle()
}

// people lists the numbers of the people registerMany made that a page
// shows, in page order.
func (p page) people() []string {
	var out []string
	for _, m := range pagedPerson.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, m[1])
	}
	return out
}

// wantPeople checks that pages, in order, show every one of want once,
// in want's order: nothing lost or repeated across the pages.
func wantPeople(t *testing.T, list string, want []string, pages ...page) {
	t.Helper()
	var got []string
	for _, p := range pages {
		got = append(got, p.people()...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the pages show %v, want each of %v once, in order", list, got, want)
	}
}

// numbers is "000" to "n-1", as registerMany numbers people, from from.
func numbers(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%03d", i))
	}
	return out
}

func TestWeb_LongListsArePagedWithNothingLostOrRepeated(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		// 60 users and Rosa (two pages of 50), 30 requests waiting (two
		// pages of 25).
		s.registerMany(90, 60, nil)
		b := s.client()
		b.signIn(rosa, "/")

		// Approve/Reject Users.
		first := b.get("/approvals").wantPage(t, http.StatusOK, "Approve or reject users")
		second := b.get("/approvals?page=2").wantPage(t, http.StatusOK, "Approve or reject users")
		wantPeople(t, "requests", numbers(60, 90), first, second)
		for _, c := range []struct {
			name string
			p    page
			want []string
			not  []string
		}{
			{"page 1", first, []string{"Showing 1 to 25 of 30 requests", `href="/approvals?page=2" class="nhsuk-pagination__next" rel="next"`,
				`href="/approvals" aria-label="Page 1" aria-current="page"`, `href="/approvals?page=2" aria-label="Page 2">`},
				[]string{`rel="prev"`}},
			{"page 2", second, []string{"Showing 26 to 30 of 30 requests", `href="/approvals" class="nhsuk-pagination__previous" rel="prev"`,
				`href="/approvals?page=2" aria-label="Page 2" aria-current="page"`, `name="page" value="2"`},
				[]string{`rel="next"`, `name="page" value="1"`}},
		} {
			for _, w := range c.want {
				if !strings.Contains(c.p.Body, w) {
					t.Errorf("approvals %s lacks %s", c.name, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(c.p.Body, n) {
					t.Errorf("approvals %s has %s", c.name, n)
				}
			}
		}
		// Beyond the end: the last page. Not a page number: 400.
		if p := b.get("/approvals?page=7").wantPage(t, http.StatusOK, "Approve or reject users"); !slices.Equal(p.people(), second.people()) {
			t.Errorf("page 7 of 2 shows %v, want the last page's %v", p.people(), second.people())
		}
		for _, bad := range []string{"0", "-1", "two", "1.5", "99999999999999999999", "1000001"} {
			b.get("/approvals?page="+url.QueryEscape(bad)).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		}

		// A decision on page 2 comes back to page 2, without the request.
		m := approvalForm.FindStringSubmatch(second.Body)
		if m == nil {
			t.Fatal("page 2 has no request to decide")
		}
		tok := b.csrf("/approvals")
		form := url.Values{"csrf_token": {tok}, "user_id": {m[1]}, "request_id": {m[2]}, "organisation_id": {m[3]}, "decision": {"approve"}, "page": {"x"}}
		before := s.eventCount()
		b.post("/approvals", form).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		if s.eventCount() != before {
			t.Error("a decision with a made-up page appended events")
		}
		form.Set("page", "2")
		res := b.post("/approvals", form)
		res.wantRedirectPrefix(t, "/approvals?done=approved&position=")
		if !strings.HasSuffix(res.Header.Get("Location"), "&page=2") {
			t.Errorf("after deciding on page 2, back to %q", res.Header.Get("Location"))
		}
		p := b.get(res.Header.Get("Location")).wantPage(t, http.StatusOK, "Approve or reject users")
		if !strings.Contains(p.Body, "Showing 26 to 29 of 29 requests") || !strings.Contains(p.Body, "The request has been approved.") {
			t.Error("after the decision, page 2 does not show the 4 left, or no confirmation")
		}
		// The first of page 2 was decided: person 085's request.
		wantPeople(t, "requests after the decision", append(numbers(60, 85), numbers(86, 90)...), b.get("/approvals"), p)

		// The users of the organisation: Rosa and the 61 approved.
		const users = "/organisations/1-100/users"
		first = b.get(users).wantPage(t, http.StatusOK, "Users of Cranberry Care Services")
		second = b.get(users+"?page=2").wantPage(t, http.StatusOK, "Users of Cranberry Care Services")
		approved := append(numbers(0, 60), "085") // and the one just approved
		wantPeople(t, "users", approved, first, second)
		// In name order: the Paged People, then Rosa.
		if !strings.Contains(first.Body, "Showing 1 to 50 of 62 users") || strings.Contains(first.Body, "Rosa Hill (you)") ||
			!strings.Contains(first.Body, `href="`+users+`?page=2" class="nhsuk-pagination__next" rel="next"`) {
			t.Error("users page 1: no count, Rosa out of order, or no link to page 2")
		}
		if !strings.Contains(second.Body, "Showing 51 to 62 of 62 users") || !strings.Contains(second.Body, "Rosa Hill (you)") ||
			!strings.Contains(second.Body, `href="`+users+`" class="nhsuk-pagination__previous" rel="prev"`) {
			t.Error("users page 2: no count, no Rosa, or no link back to page 1")
		}
		// Each Paged Person's Make Approver form (none on Rosa herself).
		if got := strings.Count(second.Body, `name="page" value="2"`); got != 11 {
			t.Errorf("users page 2: %d forms carry the page, want 11, one per other user", got)
		}
		for _, bad := range []string{"0", "x"} {
			b.get(users+"?page="+bad).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		}

		// Deactivating a user of page 2: the confirmation and the redirect
		// keep the page.
		ids := userActionPattern.FindAllStringSubmatch(second.Body, -1)
		if len(ids) == 0 {
			t.Fatal("users page 2 offers no Deactivate")
		}
		id := ids[0][1]
		if !strings.Contains(second.Body, users+"/"+id+"/deactivate?page=2") {
			t.Error("the Deactivate link of page 2 does not carry the page")
		}
		p = b.get(users+"/"+id+"/deactivate?page=2").wantPage(t, http.StatusOK, "Deactivate "+pagedName(50))
		if !strings.Contains(p.Body, `href="`+users+`?page=2">Back to the users`) || !strings.Contains(p.Body, `name="page" value="2"`) {
			t.Error("the confirmation does not lead back to page 2")
		}
		before = s.eventCount()
		b.post(users+"/"+id+"/deactivate", url.Values{"csrf_token": {tok}, "page": {"0"}}).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		if s.eventCount() != before {
			t.Error("a deactivation with a made-up page appended events")
		}
		res = b.post(users+"/"+id+"/deactivate", url.Values{"csrf_token": {tok}, "page": {"2"}})
		res.wantRedirectPrefix(t, users+"?done=deactivated&position=")
		if !strings.HasSuffix(res.Header.Get("Location"), "&page=2") {
			t.Errorf("after deactivating on page 2, back to %q", res.Header.Get("Location"))
		}
		p = b.get(res.Header.Get("Location"))
		if !strings.Contains(p.Body, "The user has been deactivated") || !strings.Contains(p.Body, "Showing 51 to 62 of 62 users") ||
			!strings.Contains(p.Body, "Reactivate<span class=\"nhsuk-u-visually-hidden\"> "+pagedName(50)) {
			t.Error("after the deactivation, page 2 does not show person 050 deactivated")
		}
	})
}

func TestWeb_SupportPageCountsTheQueueAndListsTheOldestTen(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		// Organisation 1-100 has no Approver: its 12 requests are the
		// central team's.
		s.registerMany(12, 0, nil)
		b := s.client()
		b.signIn(sam, "/")
		p := b.get("/support").wantPage(t, http.StatusOK, "Support")
		if !strings.Contains(p.Body, "12 requests are for organisations with no active Approver") ||
			!strings.Contains(p.Body, "The oldest 10 are below.") || !strings.Contains(p.Body, `href="/approvals"`) {
			t.Error("the Support page does not count the queue, or does not lead to Approve/Reject Users")
		}
		if got, want := p.people(), numbers(0, 10); !slices.Equal(got, want) {
			t.Errorf("the Support page lists %v, want the oldest 10, %v", got, want)
		}
		// Support's Approve/Reject Users holds them all, on one page.
		wantPeople(t, "support's requests", numbers(0, 12), b.get("/approvals"))
	})
}
