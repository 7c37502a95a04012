package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
)

// plumLodge is a second organisation's location in the local authority of
// Cranberry Home Care, at another postcode.
func (s *site) plumLodge() {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.accounts.RegisterOrganisation(ctx, commands.System("test"), location.RegisterOrganisation{
		OrganisationID: "1-300", Name: "Plum Tree Care", Type: string(location.HomeCare)}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.accounts.RegisterLocation(ctx, commands.System("test"), location.RegisterLocation{
		LocationID: "1-301", OrganisationID: "1-300", Name: "Plum Lodge", AddressLine1: "2 Low Street",
		Town: "Northampton", Postcode: "NN2 6AB", LocalAuthority: "West Northamptonshire"}); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
}

// registerForPlumLodge is a stranger's registration for Plum Lodge, whose
// organisation has no Approver: the central team's to decide.
func (s *site) registerForPlumLodge(email, name string) {
	s.t.Helper()
	if _, err := s.accounts.Register(context.Background(), commands.Request{}, account.Register{
		Email: email, FullName: name, Phone: "0191 691 0001", JobTitle: "Care Manager", UserType: "approver",
		OrganisationType: string(location.HomeCare), LocationIDs: []string{"1-301"}, TermsAccepted: true}); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
}

func TestWeb_MyAccessFindsLocationsAndRequestsAccessWithTheDeclaration(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		s.plumLodge()
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b := s.client()
		b.signIn(rosa, "/")
		if home := b.get("/"); !strings.Contains(home.Body, `href="/my-access"`) {
			t.Error("the Main Menu has no My Access tile")
		}
		p := b.get("/my-access").wantPage(t, http.StatusOK, "My Access")
		if !strings.Contains(p.Body, "You have no requests waiting for a decision.") || strings.Contains(p.Body, "Locations found") {
			t.Error("a first visit lists requests or results")
		}

		// Bad searches: each a field error, the value typed kept.
		for _, c := range []struct{ query, field, message string }{
			{"by=postcode&q=NN1", "q", "Enter a full UK postcode, like NN1 1NN"},
			{"by=postcode&q=", "q", "Enter a postcode"},
			{"by=local_authority&q=+", "q", "Enter the name of a local authority"},
			{"by=ccg&q=", "q", "Enter the name of a CCG"},
			{"by=county&q=Northamptonshire", "by", "Choose how to find locations: by postcode, local authority or CCG"},
		} {
			p := b.get("/my-access?"+c.query).wantPage(t, http.StatusUnprocessableEntity, "My Access")
			if got := p.summary(); len(got) != 1 || got[0] != [2]string{c.field, c.message} {
				t.Errorf("%s: summary %v", c.query, got)
			}
		}
		if p := b.get("/my-access?by=postcode&q=NN1"); !strings.Contains(p.Body, `value="NN1"`) {
			t.Error("the postcode typed is lost")
		}

		p = b.get("/my-access?by=postcode&q=nn11nn").wantPage(t, http.StatusOK, "My Access")
		if !strings.Contains(p.Body, "Cranberry Home Care, NN1 1NN") || !strings.Contains(p.Body, "Cranberry Care Services): you have access already.") ||
			strings.Contains(p.Body, "Plum Lodge") {
			t.Error("the postcode search does not show the location, or that Rosa has it")
		}
		p = b.get("/my-access?by=local_authority&q=west+northamptonshire").wantPage(t, http.StatusOK, "My Access")
		if !strings.Contains(p.Body, "Plum Lodge, NN2 6AB") || !strings.Contains(p.Body, "Cranberry Home Care") || !strings.Contains(p.Body, "Showing 2 locations") {
			t.Error("the local authority search does not show both locations")
		}

		tok := b.csrf("/my-access")
		search := url.Values{"csrf_token": {tok}, "by": {"local_authority"}, "q": {"West Northamptonshire"}}
		with := func(extra ...string) url.Values {
			v := url.Values{}
			for k, vs := range search {
				v[k] = vs
			}
			for i := 0; i+1 < len(extra); i += 2 {
				v.Add(extra[i], extra[i+1])
			}
			return v
		}
		before := s.eventCount()
		p = b.post("/my-access", with("action", "request")).wantPage(t, http.StatusUnprocessableEntity, "My Access")
		if got := p.summary(); len(got) != 2 || got[0] != [2]string{"locations", "Choose at least one location"} ||
			got[1] != [2]string{"declaration", "You must accept the declaration"} {
			t.Errorf("summary %v", got)
		}
		p = b.post("/my-access", with("action", "request", "location_ids", "1-200", "declaration", "yes")).
			wantPage(t, http.StatusUnprocessableEntity, "My Access")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"location-1-200", "You have access to this location already"} {
			t.Errorf("summary %v", got)
		}
		if !strings.Contains(p.Body, `id="declaration" name="declaration" type="checkbox" value="yes" checked`) {
			t.Error("the declaration ticked is lost")
		}
		p = b.post("/my-access", with("action", "request", "location_ids", "1-999")).wantPage(t, http.StatusUnprocessableEntity, "My Access")
		if got := p.summary(); len(got) != 2 || got[0] != [2]string{"locations", "No location has this id"} {
			t.Errorf("summary %v", got)
		}
		b.post("/my-access", with("action", "delete")).wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
		b.post("/my-access", with("action", "request", "location_ids", "1-301", "declaration", "yes"), "Sec-Fetch-Site", "cross-site").
			wantPage(t, http.StatusForbidden, "You cannot do this")
		b.post("/my-access", url.Values{"action": {"request"}, "location_ids": {"1-301"}, "declaration": {"yes"}}).
			wantPage(t, http.StatusForbidden, "You cannot do this")

		// Select All / None without JavaScript: the server ticks them.
		p = b.post("/my-access", with("action", "select-all")).wantPage(t, http.StatusOK, "My Access")
		if !strings.Contains(p.Body, `value="1-301" checked`) || strings.Contains(p.Body, `value="1-200" checked`) {
			t.Error("Select All does not tick the locations offered (and only those)")
		}
		p = b.post("/my-access", with("action", "select-all", "location_ids", "1-301")).wantPage(t, http.StatusOK, "My Access")
		if strings.Contains(p.Body, `value="1-301" checked`) {
			t.Error("Select All with every box ticked does not untick them")
		}
		if s.eventCount() != before {
			t.Error("refused or unfinished forms appended events")
		}

		b.post("/my-access", with("action", "request", "location_ids", "1-301", "declaration", "yes")).wantRedirect(t, "/my-access?done=requested")
		p = b.get("/my-access?done=requested")
		if !strings.Contains(p.Body, "Your request has been sent.") || !strings.Contains(p.Body, "Plum Lodge, NN2 6AB") ||
			!strings.Contains(p.Body, "Plum Tree Care") {
			t.Error("no confirmation, or the pending request is not listed")
		}
		p = b.get("/my-access?by=postcode&q=NN2+6AB")
		if !strings.Contains(p.Body, "you asked for it already.") {
			t.Error("a location asked for is offered again")
		}
	})
}

func TestWeb_MyAccessIsForPersonalProviderAccountsOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		sb := s.client()
		sb.signIn(sam, "/")
		if home := sb.get("/"); strings.Contains(home.Body, `href="/my-access"`) {
			t.Error("support's Main Menu has a My Access tile")
		}
		sb.get("/my-access").wantPage(t, http.StatusForbidden, "You cannot do this")
		before := s.eventCount()
		sb.post("/my-access", url.Values{"csrf_token": {sb.csrf("/")}, "action": {"request"}, "location_ids": {"1-200"}, "declaration": {"yes"}}).
			wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Error("support's refused request appended events")
		}

		g := s.client()
		g.signIn(office, "/disclaimer")
		g.post("/disclaimer", url.Values{"csrf_token": {g.csrf("/disclaimer")}}).wantRedirect(t, "/change-password")
		g.post("/change-password", url.Values{"csrf_token": {g.csrf("/change-password")}, "current_password": {office.Password},
			"new_password": {"Plum-tree-orchard-2027"}}).wantRedirect(t, "/?done=password-changed")
		before = s.eventCount()
		g.get("/my-access").wantPage(t, http.StatusForbidden, "You cannot do this")
		g.post("/my-access", url.Values{"csrf_token": {g.csrf("/")}, "action": {"request"}, "location_ids": {"1-200"}, "declaration": {"yes"}}).
			wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Error("a refused request appended events")
		}
		if p := g.get("/my-details"); strings.Contains(p.Body, `href="/my-access"`) {
			t.Error("a generic account's My Details links to My Access")
		}
	})
}

func TestWeb_ProviderRequestsAccessToAnotherLocation(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		s.plumLodge()
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b.open("/sign-in")
		b.fill("Email address", rosa.Email)
		b.fill("Password", rosa.Password)
		b.press("Sign in")
		b.follow("My Access")
		b.sees("My Access")
		b.tick("Local Authority")
		b.fill("Postcode, local authority or CCG", "West Northamptonshire")
		b.press("Search")
		b.reads("Showing 2 locations")
		b.press("Request access")
		b.reads("There is a problem")
		b.reads("You must accept the declaration")
		if b.js {
			// The enhancement ticks the boxes in place: no page to wait for.
			b.do("press \"Select All / None\"", chromedp.Click(`//button[normalize-space(.)="Select All / None"]`))
			if !get(b, "read the box", chromedp.Evaluate[bool](`document.getElementById("location-1-301").checked`)) {
				b.fail("Select All / None did not tick Plum Lodge")
			}
		} else {
			b.press("Select All / None")
		}
		b.tick("I agree to the declaration")
		b.press("Request access")
		b.reads("Your request has been sent.")
		b.reads("Plum Lodge, NN2 6AB")
	})
}
