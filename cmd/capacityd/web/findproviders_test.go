package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// providerCardName is the heading of a provider of Find Providers.
var providerCardName = regexp.MustCompile(`<h2 class="nhsuk-card__heading nhsuk-heading-m">(?:<a href="/locations/[^"]+">)?([^<]+)`)

// found are the providers' names of a Find Providers page, in its order.
func (p page) found() []string {
	out := []string{}
	for _, m := range providerCardName.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestWeb_FindProvidersShowsPublicContactsNotesRatingsAndLastUpdateToAnyone(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		w := s.providersWorld()
		anonymous, kim, rosa, sam := s.client(), s.signedIn(w.kim, "/"), s.signedIn(w.rosa, "/"), s.signedIn(w.sam, "/")

		// Everyone sees the public contacts only, the notes, the ratings
		// and the last update; those with access to the location also get
		// the link to its pages.
		for _, c := range []struct {
			name string
			c    *browserless
			link bool
		}{{"anonymous", anonymous, false}, {"another organisation's Approver", rosa, false}, {"a user of the location", kim, true}, {"support", sam, true}} {
			p := c.c.get("/find-providers?q=bramble+court").wantPage(t, http.StatusOK, "Find Providers")
			if got := p.found(); !slices.Equal(got, []string{"Bramble Court"}) {
				t.Errorf("%s: found %v", c.name, got)
			}
			for _, want := range []string{publicManager, "mary.manager@bramble.example.org", courtNote, "Showing 1 to 1 of 1 entries",
				`CQC Overall: <strong class="nhsuk-tag nhsuk-tag--green">Good</strong>`,
				`Caring: <strong class="nhsuk-tag nhsuk-tag--blue">Outstanding</strong>`,
				`Effective: <strong class="nhsuk-tag nhsuk-tag--grey">Unknown Rating</strong>`, "London · Westminster", "Last update"} {
				if !strings.Contains(p.Body, want) {
					t.Errorf("%s: the result does not show %q", c.name, want)
				}
			}
			if strings.Contains(p.Body, privatePlumber) {
				t.Errorf("%s: the search shows a contact that is not public", c.name)
			}
			if got := strings.Contains(p.Body, `<a href="/locations/`+brambleCourt+`">Bramble Court</a>`); got != c.link {
				t.Errorf("%s: links to the location: %v, want %v", c.name, got, c.link)
			}
		}

		// The filters, the sort and the paging, all in the address.
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"nhs_region=London", []string{"Bramble Court"}},
			{"rating=Outstanding", []string{"Bramble Meadows"}},
			{"ownership_type=NHS", []string{"Bramble Meadows"}},
			{"local_authority=nottingham", []string{"Bramble Meadows"}},
			{"postcode=ls1&sort=postcode", []string{"Damson Branch 1"}},
			{"q=damson&sort=postcode&dir=desc&page_size=25", []string{"Damson Branch 9", "Damson Branch 8", "Damson Branch 7", "Damson Branch 6",
				"Damson Branch 5", "Damson Branch 4", "Damson Branch 3", "Damson Branch 2", "Damson Branch 1"}},
			{"q=damson&page=2", []string{}},
			{"organisation_type=care_home", []string{}},
		} {
			p := anonymous.get("/find-providers?"+c.query).wantPage(t, http.StatusOK, "Find Providers")
			got := p.found()
			if c.query == "q=damson&page=2" {
				// Beyond the last page: the last page.
				if len(got) != 9 {
					t.Errorf("%s: %v", c.query, got)
				}
				continue
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.query, got, c.want)
			}
		}
		p := anonymous.get("/find-providers")
		if got := p.found(); len(got) != 10 || !strings.Contains(p.Body, "Showing 1 to 10 of 13 entries") ||
			!strings.Contains(p.Body, `href="/find-providers?page=2"`) {
			t.Errorf("the first page: %v", got)
		}
		p = anonymous.get("/find-providers?q=&sort=last_update&page=2")
		if got := p.found(); len(got) != 3 || !strings.Contains(p.Body, `href="/find-providers?sort=last_update"`) ||
			!strings.Contains(p.Body, `<option value="last_update" selected>Last update</option>`) {
			t.Errorf("the second page: %v", got)
		}
		// The download holds what the search matches, for anyone.
		if got := downloaded(t, anonymous.get("/find-providers.xlsx?q=bramble&sort=name&dir=desc")); !slices.Equal(got, []string{brambleMeadows, brambleHouse, brambleCourt}) {
			t.Errorf("the download = %v", got)
		}

		// A search that is not one: every error at once, what was typed kept.
		p = anonymous.get("/find-providers?" + url.Values{"postcode": {"N%1"}, "sort": {"height"}, "organisation_type": {"castle"}, "q": {"court"}}.Encode())
		p.wantPage(t, http.StatusBadRequest, "Find Providers")
		for _, want := range []string{"There is a problem", `<a href="#organisation_type">`, `<a href="#postcode">Enter the start of a postcode`,
			`<a href="#sort">Sort by one of`, `value="N%1"`, `value="court"`, "Correct the filters to see the providers.", "<details class=\"nhsuk-details\" open>"} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the bad search's page has no %s", want)
			}
		}
		if len(p.found()) != 0 {
			t.Errorf("the bad search lists %v", p.found())
		}
		anonymous.get("/find-providers.xlsx?page_size=7").wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
	})
}
