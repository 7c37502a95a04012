package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// Home Care Providers ("Manage your home care providers"): the signed-in
// person's locations (every location for support) with the filters of the
// guide, a search, the page size, server-side sorting and paging, all in
// the address (a GET form), so that every state is a link and works
// without JavaScript. "Download XLS" is the API's download of the same
// query (httpapi.WriteHomeCareXLSX), so it holds exactly what the filters
// show, over every page.

// homeCareParams are the query parameters of the list, the API's names
// (httpapi.ParseHomeCareQuery): the filters the form sends and the sort
// its headers' links send.
var homeCareParams = []string{"q", "organisation_id", "ownership_type", "nhs_region", "page_size", "sort", "dir"}

// mayListHomeCare is the Main Menu tile's audience: support and the
// people with access to a location (once approved, as the guide says).
// The page itself answers everyone signed in with their own list.
func mayListHomeCare(v queries.Viewer) bool { return v.Support || len(v.Locations) > 0 }

// homeCareColumn is a column header of the list: sortable ones link to
// the list sorted by them.
type homeCareColumn struct {
	Label string
	Href  string // "" for a column without a sort
	// AriaSort is "ascending" or "descending" on the sorted column.
	AriaSort string
}

// homeCareView is the page's data.
type homeCareView struct {
	List       queries.HomeCarePage
	Pagination *pagination
	Columns    []homeCareColumn
	Support    bool
	// Organisation is the Parent Organisation filter's select; support,
	// who sees every organisation, types an organisation's id instead.
	Organisation, OwnershipType, NHSRegion, PageSize selectField
	// Sort and Dir are the sort's selects: the column headers' links
	// are not there on a phone's narrow table.
	Sort, Dir selectField
	Download  string
	Filtered  bool
	Failed    bool // the filters were not valid: no list
}

// filterValues are the list's parameters as the address has them, with
// empty ones left out.
func filterValues(r *http.Request, names []string) url.Values {
	out := url.Values{}
	q := r.URL.Query()
	for _, n := range names {
		if v := q.Get(n); v != "" {
			out.Set(n, v)
		}
	}
	return out
}

// withParams is path with the parameters, if any.
func withParams(path string, params url.Values) string {
	if len(params) == 0 {
		return path
	}
	return path + "?" + params.Encode()
}

// sortColumns are the header cells of a list sorted by sort (default
// "name") in dir: the sortable ones link to their sort, ascending first,
// or the other direction when they are the sort already; paging restarts.
func sortColumns(path string, params url.Values, sort, dir string, labels [][2]string) []homeCareColumn {
	if sort == "" {
		sort = "name"
	}
	out := make([]homeCareColumn, len(labels))
	for i, l := range labels {
		out[i].Label = l[0]
		if l[1] == "" {
			continue
		}
		q := url.Values{}
		for k, v := range params {
			q[k] = v
		}
		q.Del("page")
		q.Set("sort", l[1])
		q.Del("dir")
		if l[1] == sort {
			out[i].AriaSort = "ascending"
			if dir == "desc" {
				out[i].AriaSort = "descending"
			} else {
				q.Set("dir", "desc")
			}
		}
		out[i].Href = path + "?" + q.Encode()
	}
	return out
}

// queryErrors takes the field errors of a list's query onto the page's
// form: the fields the filter form has keep their names; the others (the
// sort, the page) point at the list.
func queryErrors(f *form, err error, fields ...string) bool {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, fe := range v.Fields {
		known := false
		for _, n := range fields {
			known = known || fe.Field == n
		}
		if !known {
			fe.Field = "results"
		}
		f.Errors = append(f.Errors, fe)
	}
	f.order(fields...)
	return true
}

func (h *Handler) showHomeCare(w http.ResponseWriter, r *http.Request, s *session) {
	v := httpapi.Viewer(s.actor)
	params := filterValues(r, homeCareParams)
	f := newForm()
	for k := range params {
		f.Values[k] = params.Get(k)
	}
	q, err := httpapi.ParseHomeCareQuery(r)
	var list queries.HomeCarePage
	if err == nil {
		list, err = h.queries.HomeCareList(r.Context(), v, q)
		if err == nil && len(list.Entries) == 0 && q.Page > 1 && list.Total > 0 {
			// Beyond the end (an old link, a smaller list): the last page.
			q.Page = list.Pages
			list, err = h.queries.HomeCareList(r.Context(), v, q)
		}
	}
	status := http.StatusOK
	filterFields := []string{"organisation_id", "ownership_type", "nhs_region", "q", "sort", "dir", "page_size"}
	if queryErrors(f, err, filterFields...) {
		status, err = http.StatusBadRequest, nil
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	orgs, err := h.queries.HomeCareOrganisations(r.Context(), v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	download := url.Values{}
	for k, vs := range params {
		if k != "page_size" {
			download[k] = vs
		}
	}
	data := homeCareView{
		List: list, Pagination: paginationWith("/home-care", params, list.Page, list.Pages),
		Columns: sortColumns("/home-care", params, q.Sort, q.Dir, [][2]string{
			{"Provider", "name"}, {"Parent Organisation", "organisation"}, {"NHS Region", "nhs_region"},
			{"Ownership Type", ""}, {"Surveys", ""}, {"Care Quality", ""}}),
		Support:       v.Support,
		OwnershipType: newSelect(f, "ownership_type", "Ownership Type", "All Ownership Types", location.OwnershipTypes(), location.OwnershipTypes()),
		NHSRegion:     newSelect(f, "nhs_region", "NHS Region", "All regions", location.NHSRegions(), location.NHSRegions()),
		PageSize:      pageSizeSelect(f),
		Sort: choiceSelect(f, "sort", "Sort by", "name", queries.HomeCareSorts(),
			[]string{"Provider", "Parent Organisation", "NHS Region"}),
		Dir:      choiceSelect(f, "dir", "Order", "asc", []string{"asc", "desc"}, []string{"Ascending", "Descending"}),
		Download: withParams("/home-care.xlsx", download),
		Filtered: params.Get("q") != "" || params.Get("organisation_id") != "" || params.Get("ownership_type") != "" || params.Get("nhs_region") != "",
		Failed:   status != http.StatusOK,
	}
	if !v.Support {
		ids, names := make([]string, len(orgs)), make([]string, len(orgs))
		for i, o := range orgs {
			ids[i], names[i] = o.OrganisationID, o.Name
		}
		data.Organisation = newSelect(f, "organisation_id", "Parent Organisation", "All organisations", ids, names)
	}
	h.render(w, r, status, "home-care", view{Title: "Manage your home care providers", User: s.user(), CSRF: s.csrf(), Form: f, Data: data})
}

// downloadHomeCare is "Download XLS": every entry the filters match, in
// the list's order, over all its pages.
func (h *Handler) downloadHomeCare(w http.ResponseWriter, r *http.Request, s *session) {
	v := httpapi.Viewer(s.actor)
	q, err := httpapi.ParseHomeCareQuery(r)
	if err != nil {
		h.downloadFailed(w, r, err)
		return
	}
	httpapi.WriteHomeCareXLSX(h.logger, w, r, func(fn func(queries.HomeCareEntry) error) error {
		return h.queries.EachHomeCare(r.Context(), v, q, fn)
	}, func(err error) { h.downloadFailed(w, r, err) })
}

// downloadFailed answers a download whose filters are not valid (only a
// made-up address has them: the page's links carry valid ones) with the
// 400 page, and any other failure as fail does.
func (h *Handler) downloadFailed(w http.ResponseWriter, r *http.Request, err error) {
	var v *domain.ValidationError
	if errors.As(err, &v) {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	h.fail(w, r, err)
}

// selectField is a filter's select (partials/filter-select.html).
type selectField struct {
	Name, Label string
	Options     []selectOption
	Errors      []string
}

type selectOption struct {
	Value, Label string
	Selected     bool
}

// newSelect is a select of the form's field: the first option (value "")
// is all, then the choices, the one the form has selected. A value that
// is none of them (from a hand-made address) is kept as an option of its
// own, so that the list shown and the filter shown agree.
func newSelect(f *form, name, label, all string, values, labels []string) selectField {
	s := selectField{Name: name, Label: label, Errors: f.ErrorsFor(name)}
	cur := f.Value(name)
	s.Options = append(s.Options, selectOption{Value: "", Label: all, Selected: cur == ""})
	found := cur == ""
	for i, v := range values {
		s.Options = append(s.Options, selectOption{Value: v, Label: labels[i], Selected: v == cur})
		found = found || v == cur
	}
	if !found {
		s.Options = append(s.Options, selectOption{Value: cur, Label: cur, Selected: true})
	}
	return s
}

// pageSizeSelect is "Show N entries": the page sizes of queries, the
// default first.
func pageSizeSelect(f *form) selectField {
	var values, labels []string
	for _, n := range queries.PageSizes() {
		values, labels = append(values, strconv.Itoa(n)), append(labels, strconv.Itoa(n)+" entries")
	}
	return choiceSelect(f, "page_size", "Show entries", strconv.Itoa(queries.DefaultPageSize), values, labels)
}

// choiceSelect is a select of the form's field without an "all" option:
// the one chosen, or def when none is. A value that is none of them (from
// a hand-made address) is kept as an option of its own, as newSelect's.
func choiceSelect(f *form, name, label, def string, values, labels []string) selectField {
	s := selectField{Name: name, Label: label, Errors: f.ErrorsFor(name)}
	cur := cmp.Or(f.Value(name), def)
	found := false
	for i, v := range values {
		s.Options = append(s.Options, selectOption{Value: v, Label: labels[i], Selected: v == cur})
		found = found || v == cur
	}
	if !found {
		s.Options = append(s.Options, selectOption{Value: cur, Label: cur, Selected: true})
	}
	return s
}
