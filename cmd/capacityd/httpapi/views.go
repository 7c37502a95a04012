package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// viewRoutes is the /api/v1 surface of the views over locations: search,
// the home care list, the provider dashboard, and their XLSX downloads.
func (s *Server) viewRoutes(api *mux.Router) {
	// Public, or the caller's view when logged in: the viewer is nil for the public.
	api.HandleFunc("/providers", s.maybeAuthed(jsonRead(s, providerSearch, s.queries.SearchProviders))).Methods(http.MethodGet)
	api.HandleFunc("/providers.xlsx", s.maybeAuthed(fileRead(s, xlsxFile, providersSheet, providersPrefix, providerColumns,
		providerSearch, s.queries.EachProvider))).Methods(http.MethodGet)

	// Logged in.
	api.HandleFunc("/home-care", s.viewed(jsonRead(s, homeCareQuery, s.queries.HomeCareList))).Methods(http.MethodGet)
	api.HandleFunc("/home-care.xlsx", s.viewed(fileRead(s, xlsxFile, homeCareSheet, homeCarePrefix, homeCareColumns,
		homeCareQuery, s.queries.EachHomeCare))).Methods(http.MethodGet)
	api.HandleFunc("/dashboard", s.viewed(jsonRead(s, s.dashboardQuery, s.queries.ProviderDashboard))).Methods(http.MethodGet)
	api.HandleFunc("/dashboard.xlsx", s.viewed(fileRead(s, xlsxFile, "Dashboard", "dashboard", dashboardColumns,
		s.dashboardQuery, s.queries.EachDashboard))).Methods(http.MethodGet)
	api.HandleFunc("/locations/{location_id}/dashboard", s.read(s.locationDashboard)).Methods(http.MethodGet)
	api.HandleFunc("/gp-practices", s.authed(s.handleGPPractices)).Methods(http.MethodGet)
}

// maybeAuthed serves a public view that shows more to a logged-in caller:
// without credentials the viewer is nil (the public); with a session
// cookie or a bearer token they must be valid, as for authed (401
// otherwise).
func (s *Server) maybeAuthed(h func(w http.ResponseWriter, r *http.Request, v *queries.Viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			if c, err := r.Cookie(SessionCookie); err != nil || c.Value == "" {
				h(w, r, nil)
				return
			}
		}
		s.authed(func(w http.ResponseWriter, r *http.Request, a commands.Actor) {
			v := viewer(a)
			h(w, r, &v)
		})(w, r)
	}
}

// providerSearch reads a provider search from the query parameters.
func providerSearch(r *http.Request) (queries.ProviderSearch, error) {
	q := r.URL.Query()
	var v domain.ValidationError
	p := queries.ProviderSearch{
		Text: q.Get("q"), OrganisationID: q.Get("organisation_id"), OrganisationType: q.Get("organisation_type"),
		OwnershipType: q.Get("ownership_type"), NHSRegion: q.Get("nhs_region"), CQCRegion: q.Get("cqc_region"),
		LocalAuthority: q.Get("local_authority"), CCG: q.Get("ccg"), Postcode: q.Get("postcode"),
		Rating: q.Get("rating"), RegistrationStatus: q.Get("registration_status"),
		Sort: q.Get("sort"), Dir: q.Get("dir"),
		Page: intParam(q, "page", &v), PageSize: intParam(q, "page_size", &v),
	}
	p.MinPosition = minPositionParam(r, &v)
	return p, v.Err()
}

// homeCareQuery reads a home care query from the query parameters.
func homeCareQuery(r *http.Request) (queries.HomeCareQuery, error) {
	q := r.URL.Query()
	var v domain.ValidationError
	h := queries.HomeCareQuery{
		Text: q.Get("q"), OrganisationID: q.Get("organisation_id"), OwnershipType: q.Get("ownership_type"),
		NHSRegion: q.Get("nhs_region"), Sort: q.Get("sort"), Dir: q.Get("dir"),
		Page: intParam(q, "page", &v), PageSize: intParam(q, "page_size", &v),
	}
	h.MinPosition = minPositionParam(r, &v)
	return h, v.Err()
}

// dashboardQuery reads a dashboard query: location_id (repeated, or
// comma-separated) names the locations, none the caller's own.
func (s *Server) dashboardQuery(r *http.Request) (queries.DashboardQuery, error) {
	q := r.URL.Query()
	var v domain.ValidationError
	d := queries.DashboardQuery{Now: s.commands.Now(), Page: intParam(q, "page", &v), PageSize: intParam(q, "page_size", &v)}
	for _, ids := range q["location_id"] {
		for id := range strings.SplitSeq(ids, ",") {
			if id = strings.TrimSpace(id); id != "" {
				d.LocationIDs = append(d.LocationIDs, id)
			}
		}
	}
	d.MinPosition = minPositionParam(r, &v)
	return d, v.Err()
}

func (s *Server) locationDashboard(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	return s.queries.LocationDashboard(r.Context(), v, mux.Vars(r)["location_id"], s.commands.Now(), minPos)
}

// handleGPPractices stays by hand: the GP register is the same for every
// caller, so it has no viewer and no min_position.
func (s *Server) handleGPPractices(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	q := r.URL.Query()
	var v domain.ValidationError
	limit := intParam(q, "limit", &v)
	if err := v.Err(); err != nil {
		s.writeErr(w, r, err)
		return
	}
	list, err := s.queries.SearchGPPractices(r.Context(), q.Get("q"), limit)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"practices": list})
}

// --- the downloads' columns -------------------------------------------------------

// organisationTypeLabel is a type's label on the registration form.
func organisationTypeLabel(code string) string {
	for _, t := range location.OrganisationTypes() {
		if string(t.Code) == code {
			return t.Label
		}
	}
	return code
}

// joinNonEmpty joins the non-empty values.
func joinNonEmpty(sep string, values ...string) string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return strings.Join(out, sep)
}

// providerColumns are the columns of the providers download.
var providerColumns = []column[queries.ProviderRow]{
	{"Location ID", 14, textCell, func(p queries.ProviderRow) any { return p.LocationID }},
	{"Name", 32, textCell, func(p queries.ProviderRow) any { return p.Name }},
	{"Short name", 16, textCell, func(p queries.ProviderRow) any { return p.ShortName }},
	{"Organisation", 32, textCell, func(p queries.ProviderRow) any { return p.OrganisationName }},
	{"Organisation ID", 14, textCell, func(p queries.ProviderRow) any { return p.OrganisationID }},
	{"Organisation type", 16, textCell, func(p queries.ProviderRow) any { return organisationTypeLabel(p.OrganisationType) }},
	{"Ownership type", 18, textCell, func(p queries.ProviderRow) any { return p.OwnershipType }},
	{"Address", 40, textCell, func(p queries.ProviderRow) any {
		return joinNonEmpty(", ", p.AddressLine1, p.AddressLine2, p.AddressLine3, p.AddressLine4, p.AddressLine5)
	}},
	{"Postcode", 10, textCell, func(p queries.ProviderRow) any { return p.Postcode }},
	{"NHS region", 24, textCell, func(p queries.ProviderRow) any { return p.NHSRegion }},
	{"CQC region", 18, textCell, func(p queries.ProviderRow) any { return p.CQCRegion }},
	{"Local authority", 20, textCell, func(p queries.ProviderRow) any { return p.LocalAuthority }},
	{"CCG / ICB", 28, textCell, func(p queries.ProviderRow) any { return p.CCG }},
	{"Registration status", 14, textCell, func(p queries.ProviderRow) any { return p.RegistrationStatus }},
	{"Dormant", 9, yesNoCell, func(p queries.ProviderRow) any { return p.Dormant }},
	{"CQC overall", 16, textCell, func(p queries.ProviderRow) any { return p.Ratings.Overall }},
	{"Safe", 16, textCell, func(p queries.ProviderRow) any { return p.Ratings.Safe }},
	{"Effective", 16, textCell, func(p queries.ProviderRow) any { return p.Ratings.Effective }},
	{"Caring", 16, textCell, func(p queries.ProviderRow) any { return p.Ratings.Caring }},
	{"Responsive", 16, textCell, func(p queries.ProviderRow) any { return p.Ratings.Responsive }},
	{"Well-led", 16, textCell, func(p queries.ProviderRow) any { return p.Ratings.WellLed }},
	{"CQC report published", 12, dateCell, func(p queries.ProviderRow) any { return p.ReportDate }},
	{"Latest CQC report", 30, textCell, func(p queries.ProviderRow) any { return p.ReportURL }},
	{"CQC page", 30, textCell, func(p queries.ProviderRow) any { return p.PublicURL }},
	{"PAMMS rating", 14, textCell, func(p queries.ProviderRow) any { return p.PAMMS.Rating }},
	{"PAMMS report date", 12, dateCell, func(p queries.ProviderRow) any { return p.PAMMS.ReportDate }},
	{"Latest PAMMS report", 30, textCell, func(p queries.ProviderRow) any { return p.PAMMS.ReportURL }},
	{"Contacts", 12, numberCell, func(p queries.ProviderRow) any { return len(p.Contacts) }},
	{"Contact directory", 50, textCell, func(p queries.ProviderRow) any {
		lines := make([]string, len(p.Contacts))
		for i, c := range p.Contacts {
			lines[i] = c.Role + ": " + joinNonEmpty(", ", c.Name, c.OrganisationName, c.PhoneList(), c.Email, c.Address)
		}
		return strings.Join(lines, "\n")
	}},
	{"Notes", 50, textCell, func(p queries.ProviderRow) any {
		lines := make([]string, len(p.Notes))
		for i, n := range p.Notes {
			lines[i] = n.AddedAt.In(london).Format("02/01/2006")
			if n.AddedByName != "" {
				lines[i] += " (" + n.AddedByName + ")"
			}
			lines[i] += ": " + n.Text
		}
		return strings.Join(lines, "\n")
	}},
	{"Linked GP practices", 30, textCell, func(p queries.ProviderRow) any {
		names := make([]string, len(p.GPPractices))
		for i, g := range p.GPPractices {
			names[i] = g.Name + " (" + g.PracticeCode + ")"
		}
		return strings.Join(names, "\n")
	}},
	{"Last update", 19, dateTimeCell, func(p queries.ProviderRow) any { return p.LastUpdateAt }},
	{"Last daily update", 19, dateTimeCell, func(p queries.ProviderRow) any { return p.LastDailyUpdateAt }},
}

// homeCareColumns are the columns of the home care download.
var homeCareColumns = []column[queries.HomeCareEntry]{
	{"Location ID", 14, textCell, func(e queries.HomeCareEntry) any { return e.LocationID }},
	{"Provider", 40, textCell, func(e queries.HomeCareEntry) any { return e.Label }},
	{"Name", 32, textCell, func(e queries.HomeCareEntry) any { return e.Name }},
	{"Postcode", 10, textCell, func(e queries.HomeCareEntry) any { return e.Postcode }},
	{"Parent organisation", 32, textCell, func(e queries.HomeCareEntry) any { return e.OrganisationName }},
	{"Ownership type", 18, textCell, func(e queries.HomeCareEntry) any { return e.OwnershipType }},
	{"NHS region", 24, textCell, func(e queries.HomeCareEntry) any { return e.NHSRegion }},
	{"Registration status", 14, textCell, func(e queries.HomeCareEntry) any { return e.RegistrationStatus }},
	{"Edit", 36, textCell, func(e queries.HomeCareEntry) any { return e.Links.Edit }},
	{"Daily update", 48, textCell, func(e queries.HomeCareEntry) any { return e.Links.DailyUpdate }},
	{"Care quality", 48, textCell, func(e queries.HomeCareEntry) any { return e.Links.CareQuality }},
}

// needLabels are the dashboard's needs as people read them.
var needLabels = map[string]string{
	queries.NeedManagerContact:   "Add a Manager contact",
	queries.NeedEmail:            "Add a contact email",
	queries.NeedApprovers:        "Appoint a second Approver",
	queries.NeedPendingApprovals: "Decide pending user approvals",
	queries.NeedDailyUpdate:      "Submit today's daily update",
	queries.NeedConfirmDetails:   "Check and confirm the location's details",
}

// dashboardColumns are the columns of the dashboard download.
var dashboardColumns = []column[queries.DashboardEntry]{
	{"Location ID", 14, textCell, func(e queries.DashboardEntry) any { return e.LocationID }},
	{"Name", 32, textCell, func(e queries.DashboardEntry) any { return e.Name }},
	{"Postcode", 10, textCell, func(e queries.DashboardEntry) any { return e.Postcode }},
	{"Organisation", 32, textCell, func(e queries.DashboardEntry) any { return e.OrganisationName }},
	{"To do", 40, textCell, func(e queries.DashboardEntry) any {
		labels := make([]string, len(e.Needs))
		for i, n := range e.Needs {
			labels[i] = needLabels[n]
		}
		return strings.Join(labels, "\n")
	}},
	{"Manager contact", 10, yesNoCell, func(e queries.DashboardEntry) any { return e.HasManager }},
	{"Contact email", 10, yesNoCell, func(e queries.DashboardEntry) any { return e.HasEmail }},
	{"Active Approvers", 10, numberCell, func(e queries.DashboardEntry) any { return e.ActiveApprovers }},
	{"Fewer than 2 Approvers", 12, yesNoCell, func(e queries.DashboardEntry) any { return e.FewerThanTwoApprovers }},
	{"Pending approvals", 10, numberCell, func(e queries.DashboardEntry) any { return e.PendingApprovals }},
	{"Last daily update", 19, dateTimeCell, func(e queries.DashboardEntry) any { return e.LastDailyUpdateAt }},
	{"Daily update missing today", 12, yesNoCell, func(e queries.DashboardEntry) any { return e.DailyUpdateMissingToday }},
	{"CQC overall", 16, textCell, func(e queries.DashboardEntry) any { return e.Ratings.Overall }},
	{"Safe", 16, textCell, func(e queries.DashboardEntry) any { return e.Ratings.Safe }},
	{"Effective", 16, textCell, func(e queries.DashboardEntry) any { return e.Ratings.Effective }},
	{"Caring", 16, textCell, func(e queries.DashboardEntry) any { return e.Ratings.Caring }},
	{"Responsive", 16, textCell, func(e queries.DashboardEntry) any { return e.Ratings.Responsive }},
	{"Well-led", 16, textCell, func(e queries.DashboardEntry) any { return e.Ratings.WellLed }},
	{"CQC report published", 12, dateCell, func(e queries.DashboardEntry) any { return e.ReportDate }},
	{"Users with access", 10, numberCell, func(e queries.DashboardEntry) any { return len(e.Users) }},
	{"Users", 40, textCell, func(e queries.DashboardEntry) any {
		names := make([]string, len(e.Users))
		for i, u := range e.Users {
			names[i] = u.FullName
			if u.Approver {
				names[i] += " (Approver)"
			}
		}
		return strings.Join(names, "\n")
	}},
}
