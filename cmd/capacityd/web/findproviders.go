package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// Find Providers: the provider search (queries.SearchProviders, the API's
// /api/v1/providers) with its filters, sort and paging in the address (a
// GET form). Like the API's, it is public: anyone may search without
// signing in; a signed-in person goes through the gates first (the
// disclaimer, a password to change). Each provider shows its public
// contacts only, its notes, CQC ratings and last update.

// providerParams are the search's query parameters, the API's names
// (httpapi.ParseProviderSearch), which are also the form's fields, in its
// order.
var providerParams = []string{"q", "organisation_type", "ownership_type", "nhs_region", "local_authority", "ccg",
	"postcode", "rating", "registration_status", "sort", "dir", "page_size"}

// maybeSignedIn serves a public page (GET only: it takes no form) that
// knows who is signed in: s is nil for anonymous visitors; a session goes
// through its gates first, as signedIn's.
func (h *Handler) maybeSignedIn(fn sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.currentSession(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if s != nil {
			if next := s.gate(); next != "" {
				redirect(w, r, next)
				return
			}
		}
		fn(w, r, s)
	}
}

// providerCard is a provider as the page shows it.
type providerCard struct {
	queries.ProviderRow
	// Open: the person may open the location's pages (support, and the
	// users with access to it).
	Open           bool
	Address        string
	Area           string
	PublicContacts []publicContact
	Ratings        []ratingRow
	LastUpdate     string
	LastDaily      string
	Notes          []noteLine
}

type publicContact struct {
	Role, Details string
}

// nonEmpty joins the values that are not empty.
func nonEmpty(sep string, values ...string) string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return strings.Join(out, sep)
}

type noteLine struct {
	Date, Text string
}

// listedTime is an instant as the search shows it: London's wall clock.
func listedTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dailyupdate.London).Format("2 January 2006, 15:04")
}

func newProviderCard(p queries.ProviderRow) providerCard {
	c := providerCard{ProviderRow: p, Open: p.AllContacts, LastUpdate: listedTime(p.LastUpdateAt)}
	c.Address = nonEmpty(", ", p.AddressLine1, p.AddressLine2, p.AddressLine3, p.AddressLine4, p.AddressLine5)
	c.Area = nonEmpty(" · ", p.NHSRegion, p.LocalAuthority, p.CCG)
	// The search shows the public contacts only, to whoever looks: the
	// whole directory is on the location's own pages.
	for _, ct := range p.Contacts {
		if ct.Public {
			c.PublicContacts = append(c.PublicContacts, publicContact{Role: ct.Role,
				Details: nonEmpty(", ", ct.Name, ct.OrganisationName, ct.PhoneList(), ct.Email, ct.Address)})
		}
	}
	for _, q := range [][2]string{{"CQC Overall", p.Ratings.Overall}, {"Safe", p.Ratings.Safe}, {"Effective", p.Ratings.Effective},
		{"Caring", p.Ratings.Caring}, {"Responsive", p.Ratings.Responsive}, {"Well-led", p.Ratings.WellLed}} {
		rating := ratingLabel(q[1])
		c.Ratings = append(c.Ratings, ratingRow{Label: q[0], Rating: rating, TagClass: ratingTag(rating)})
	}
	if p.LastDailyUpdateAt != nil {
		c.LastDaily = listedTime(*p.LastDailyUpdateAt)
	}
	for _, n := range p.Notes {
		c.Notes = append(c.Notes, noteLine{Date: n.AddedAt.In(dailyupdate.London).Format("2 January 2006"), Text: n.Text})
	}
	return c
}

// findProvidersView is the page's data.
type findProvidersView struct {
	List       queries.ProviderPage
	Cards      []providerCard
	Pagination *pagination
	Selects    map[string]selectField
	Download   string
	Failed     bool
}

func (h *Handler) showFindProviders(w http.ResponseWriter, r *http.Request, s *session) {
	var viewer *queries.Viewer
	v := view{Title: "Find Providers"}
	if s != nil {
		vw := httpapi.Viewer(s.actor)
		viewer = &vw
		v.User, v.CSRF = s.user(), s.csrf()
	}
	params := filterValues(r, providerParams)
	f := newForm()
	for k := range params {
		f.Values[k] = params.Get(k)
	}
	q, err := httpapi.ParseProviderSearch(r)
	var list queries.ProviderPage
	if err == nil {
		list, err = h.queries.SearchProviders(r.Context(), viewer, q)
		if err == nil && len(list.Entries) == 0 && q.Page > 1 && list.Total > 0 {
			q.Page = list.Pages
			list, err = h.queries.SearchProviders(r.Context(), viewer, q)
		}
	}
	status := http.StatusOK
	if queryErrors(f, err, providerParams...) {
		status, err = http.StatusBadRequest, nil
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data := findProvidersView{List: list, Pagination: paginationWith("/find-providers", params, list.Page, list.Pages),
		Failed: status != http.StatusOK, Selects: providerSelects(f)}
	for _, p := range list.Entries {
		data.Cards = append(data.Cards, newProviderCard(p))
	}
	download := url.Values{}
	for k, vs := range params {
		if k != "page_size" {
			download[k] = vs
		}
	}
	data.Download = withParams("/find-providers.xlsx", download)
	v.Form, v.Data = f, data
	h.render(w, r, status, "find-providers", v)
}

// providerSelects are the search's selects.
func providerSelects(f *form) map[string]selectField {
	var typeCodes, typeLabels []string
	for _, t := range location.OrganisationTypes() {
		typeCodes, typeLabels = append(typeCodes, string(t.Code)), append(typeLabels, t.Label)
	}
	ratings := []string{string(location.RatingOutstanding), string(location.RatingGood), string(location.RatingRequiresImprovement),
		string(location.RatingInadequate)}
	sorts := []string{"organisation", "postcode", "nhs_region", "local_authority", "overall_rating", "last_update"}
	sortLabels := []string{"Organisation", "Postcode", "NHS Region", "Local Authority", "CQC overall rating", "Last update"}
	return map[string]selectField{
		"organisation_type":   newSelect(f, "organisation_type", "Organisation Type", "All organisation types", typeCodes, typeLabels),
		"ownership_type":      newSelect(f, "ownership_type", "Ownership Type", "All Ownership Types", location.OwnershipTypes(), location.OwnershipTypes()),
		"nhs_region":          newSelect(f, "nhs_region", "NHS Region", "All regions", location.NHSRegions(), location.NHSRegions()),
		"rating":              newSelect(f, "rating", "CQC overall rating", "Any rating", append(ratings, "unknown"), append(ratings, "Unknown rating")),
		"registration_status": newSelect(f, "registration_status", "Registration", "Registered", []string{location.StatusDeregistered, "all"}, []string{"Deregistered", "Registered and deregistered"}),
		"sort":                newSelect(f, "sort", "Sort by", "Name", sorts, sortLabels),
		"dir":                 choiceSelect(f, "dir", "Order", "asc", []string{"asc", "desc"}, []string{"Ascending", "Descending"}),
		"page_size":           pageSizeSelect(f),
	}
}

// downloadProviders is the search's "Download XLS": every provider that
// matches, as the API's /api/v1/providers.xlsx for the same viewer.
func (h *Handler) downloadProviders(w http.ResponseWriter, r *http.Request, s *session) {
	var viewer *queries.Viewer
	if s != nil {
		vw := httpapi.Viewer(s.actor)
		viewer = &vw
	}
	q, err := httpapi.ParseProviderSearch(r)
	if err != nil {
		h.downloadFailed(w, r, err)
		return
	}
	httpapi.WriteProvidersXLSX(h.logger, w, r, func(fn func(queries.ProviderRow) error) error {
		return h.queries.EachProvider(r.Context(), viewer, q, fn)
	}, func(err error) { h.downloadFailed(w, r, err) })
}
