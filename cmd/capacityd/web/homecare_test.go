package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// providerRow is a row of the home care list: the link of its name.
var providerRow = regexp.MustCompile(`<td class="nhsuk-table__cell" role="cell"><span class="nhsuk-table-responsive__heading" aria-hidden="true">Provider </span><span><a href="/locations/([^"/]+)">`)

// listed are the locations of a home care list's page, in its order.
func (p page) listed() []string {
	out := []string{}
	for _, m := range providerRow.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, m[1])
	}
	return out
}

// downloaded are the Location IDs (the first column) of an XLSX download.
func downloaded(t *testing.T, p page) []string {
	t.Helper()
	if p.Status != http.StatusOK || p.Header.Get("Content-Type") != httpapi.XLSXContentType {
		t.Fatalf("download: %d %s:\n%.500s", p.Status, p.Header.Get("Content-Type"), p.Body)
	}
	f, err := excelize.OpenReader(bytes.NewReader([]byte(p.Body)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0][0] != "Location ID" {
		t.Fatalf("download's header: %v", rows)
	}
	out := []string{}
	for _, r := range rows[1:] {
		out = append(out, r[0])
	}
	return out
}

func TestWeb_HomeCareProvidersListsOnlyThePersonsLocationsWithFiltersSortAndPaging(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		w := s.providersWorld()
		kim, rosa, sam := s.signedIn(w.kim, "/"), s.signedIn(w.rosa, "/"), s.signedIn(w.sam, "/")

		// Kim's three locations, by name, each with its links.
		p := kim.get("/home-care").wantPage(t, http.StatusOK, "Manage your home care providers")
		if got, want := p.listed(), []string{brambleCourt, brambleHouse, brambleMeadows}; !slices.Equal(got, want) {
			t.Errorf("Kim's list = %v, want %v", got, want)
		}
		for _, want := range []string{"Bramble Court (SW1A1AA)", `href="/locations/` + brambleCourt + `/edit"`, `href="/locations/` + brambleCourt + `/daily-update"`,
			`href="/locations/` + brambleCourt + `/care-quality"`, "Showing 1 to 3 of 3 entries", `aria-sort="ascending"`, "Bramble Care Group",
			`<option value="` + bramble + `">Bramble Care Group</option>`} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("Kim's list does not show %q", want)
			}
		}
		if strings.Contains(p.Body, "Cranberry Home Care") || strings.Contains(p.Body, "Damson") || strings.Contains(p.Body, "nhsuk-pagination") {
			t.Error("Kim's list shows another organisation's location, or pages")
		}
		if home := kim.get("/"); !strings.Contains(home.Body, `href="/home-care"`) || !strings.Contains(home.Body, `href="/find-providers"`) {
			t.Error("Kim's Main Menu has no Home Care Providers or Find Providers tile")
		}

		// Each filter, the search and the sorts; the download holds what
		// the page shows.
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"ownership_type=Independent", []string{brambleCourt}},
			{"nhs_region=Midlands", []string{brambleMeadows}},
			{"organisation_id=" + bramble + "&q=meadows", []string{brambleMeadows}},
			{"q=ng1", []string{brambleMeadows}},
			{"q=cranberry", []string{}},
			{"sort=name&dir=desc", []string{brambleMeadows, brambleHouse, brambleCourt}},
			{"sort=nhs_region", []string{brambleHouse, brambleCourt, brambleMeadows}},
			{"sort=nhs_region&dir=desc&ownership_type=", []string{brambleMeadows, brambleCourt, brambleHouse}},
		} {
			p := kim.get("/home-care?"+c.query).wantPage(t, http.StatusOK, "Manage your home care providers")
			if got := p.listed(); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.query, got, c.want)
			}
			if got := downloaded(t, kim.get("/home-care.xlsx?"+c.query)); !slices.Equal(got, c.want) {
				t.Errorf("%s: the download has %v, want %v", c.query, got, c.want)
			}
		}
		// The sorted column says so, and its link turns the order round;
		// the filters stay in the sort's links, the page does not.
		p = kim.get("/home-care?sort=name&dir=desc&ownership_type=NHS")
		for _, want := range []string{`aria-sort="descending"`, `href="/home-care?ownership_type=NHS&amp;sort=name"`,
			`href="/home-care?ownership_type=NHS&amp;sort=organisation"`, `<option value="NHS" selected>NHS</option>`,
			`<option value="name" selected>Provider</option>`, `<option value="desc" selected>Descending</option>`, `href="/home-care.xlsx?dir=desc&amp;ownership_type=NHS&amp;sort=name"`} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the sorted list has no %s", want)
			}
		}

		// Rosa, the Approver of another organisation, sees her own
		// location only: none of Bramble's, whatever she asks.
		if got := rosa.get("/home-care").listed(); !slices.Equal(got, []string{"1-200"}) {
			t.Errorf("Rosa's list = %v", got)
		}
		for _, q := range []string{"organisation_id=" + bramble, "q=bramble", "nhs_region=London"} {
			p := rosa.get("/home-care?"+q).wantPage(t, http.StatusOK, "Manage your home care providers")
			if len(p.listed()) != 0 || strings.Contains(p.Body, "Bramble Court") || !strings.Contains(p.Body, "No home care provider matches these filters.") {
				t.Errorf("Rosa asks %s: %v", q, p.listed())
			}
			if got := downloaded(t, rosa.get("/home-care.xlsx?"+q)); len(got) != 0 {
				t.Errorf("Rosa downloads %s: %v", q, got)
			}
		}

		// Support sees every location, pages them, and names an
		// organisation by its id.
		p = sam.get("/home-care").wantPage(t, http.StatusOK, "Manage your home care providers")
		if got := p.listed(); len(got) != 10 || got[0] != brambleCourt || !strings.Contains(p.Body, "Showing 1 to 10 of 13 entries") ||
			!strings.Contains(p.Body, `href="/home-care?page=2"`) || !strings.Contains(p.Body, `id="organisation_id" name="organisation_id" type="text"`) {
			t.Errorf("support's first page: %v", got)
		}
		p = sam.get("/home-care?page=2&q=&page_size=10")
		if got := p.listed(); !slices.Equal(got, []string{damsonBranch(7), damsonBranch(8), damsonBranch(9)}) || !strings.Contains(p.Body, "Showing 11 to 13 of 13 entries") ||
			!strings.Contains(p.Body, `href="/home-care?page_size=10"`) {
			t.Errorf("support's second page: %v", got)
		}
		// Beyond the end: the last page.
		if got := sam.get("/home-care?page=9").listed(); !slices.Equal(got, []string{damsonBranch(7), damsonBranch(8), damsonBranch(9)}) {
			t.Errorf("support's page 9: %v", got)
		}
		p = sam.get("/home-care?organisation_id=" + damson + "&page_size=25&sort=name&dir=desc")
		var want []string
		for n := 9; n >= 1; n-- {
			want = append(want, damsonBranch(n))
		}
		if got := p.listed(); !slices.Equal(got, want) || !strings.Contains(p.Body, `value="`+damson+`"`) ||
			!strings.Contains(p.Body, `<option value="25" selected>25 entries</option>`) {
			t.Errorf("support's Damson list: %v", got)
		}
		if got := downloaded(t, sam.get("/home-care.xlsx?organisation_id="+damson+"&sort=name&dir=desc")); !slices.Equal(got, want) {
			t.Errorf("support's Damson download: %v", got)
		}
		// Every page of the list is in the download, in its order.
		var all []string
		for _, n := range []string{"1", "2"} {
			all = append(all, sam.get("/home-care?page="+n).listed()...)
		}
		if got := downloaded(t, sam.get("/home-care.xlsx")); !slices.Equal(got, all) || len(all) != 13 {
			t.Errorf("support's download = %v, pages = %v", got, all)
		}

		// Filters that are not one: every error at once, on its field, what
		// was asked kept; no list.
		p = kim.get("/home-care?" + url.Values{"ownership_type": {"Castle"}, "nhs_region": {"Mars"}, "page_size": {"7"}, "q": {"court"}}.Encode())
		p.wantPage(t, http.StatusBadRequest, "Manage your home care providers")
		for _, want := range []string{"There is a problem", `<a href="#ownership_type">Choose one of: Independent`, `<a href="#nhs_region">Choose one of:`,
			`<a href="#page_size">`, `id="ownership_type-error"`, `<option value="7" selected>7</option>`, `<option value="Castle" selected>Castle</option>`, `value="court"`,
			"Correct the filters to see the list."} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("the bad filters' page has no %s", want)
			}
		}
		if len(p.listed()) != 0 || !strings.HasPrefix(p.title(), "Error: ") {
			t.Errorf("the bad filters' page lists %v, title %q", p.listed(), p.title())
		}
		for q, field := range map[string]string{"page=x": "results", "sort=last_update": "sort", "dir=up": "dir", "min_position=-1": "results"} {
			p := kim.get("/home-care?"+q).wantPage(t, http.StatusBadRequest, "Manage your home care providers")
			if !strings.Contains(p.Body, `<a href="#`+field+`">`) {
				t.Errorf("%s: the error does not lead to %s", q, field)
			}
		}
		kim.get("/home-care.xlsx?page_size=7").wantPage(t, http.StatusBadRequest, "Sorry, we could not read that")
	})
}

func TestWeb_HomeCareProvidersForAGenericAccountAfterTheDisclaimer(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
		c := s.client()
		c.signIn(office, "/disclaimer")
		c.get("/home-care").wantRedirect(t, "/disclaimer")
		c.get("/home-care.xlsx").wantRedirect(t, "/disclaimer")
		c.get("/find-providers").wantRedirect(t, "/disclaimer")
		c.post("/disclaimer", url.Values{"csrf_token": {c.csrf("/disclaimer")}}).wantRedirect(t, "/change-password")
		c.get("/home-care").wantRedirect(t, "/change-password")
		c.post("/change-password", url.Values{"csrf_token": {c.csrf("/change-password")}, "current_password": {office.Password},
			"new_password": {"Teal-kettle-morning-2027"}}).wantRedirect(t, "/?done=password-changed")
		p := c.get("/home-care").wantPage(t, http.StatusOK, "Manage your home care providers")
		if got := p.listed(); !slices.Equal(got, []string{"1-200"}) {
			t.Errorf("the generic account's list = %v", got)
		}
		if got := downloaded(t, c.get("/home-care.xlsx")); !slices.Equal(got, []string{"1-200"}) {
			t.Errorf("the generic account's download = %v", got)
		}
		c.get("/find-providers").wantPage(t, http.StatusOK, "Find Providers")
	})
}
