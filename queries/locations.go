package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the dashboard's calendar day is Europe/London's on any host

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/search"
)

// The views over locations: the provider search, the home care list, the
// provider dashboard and the GP practice search, from the search read
// model (search.Projection). Every list pages as the pages do
// ("Show 10/25/50/100 entries", "Showing 1 to 10 of N entries"), and has a
// streaming variant for its download that walks every matching row in
// keyset order, a page at a time, without holding them all. Here are the
// checks of a search's input, who sees what, the paging and the pages'
// entries; the SQL is the search view's (package search's readers).

// ProviderSearch is a search of providers (Find Capacity). Every filter is
// optional; text filters compare case-insensitively.
type ProviderSearch struct {
	// Text matches the name, short name or organisation name (every word
	// somewhere in one of them), or the start of the postcode.
	Text               string
	OrganisationID     string
	OrganisationType   string // a code of location.OrganisationTypes
	OwnershipType      string // one of location.OwnershipTypes
	NHSRegion          string // one of location.NHSRegions
	CQCRegion          string
	LocalAuthority     string
	CCG                string
	Postcode           string // a prefix, in any case and spacing
	Rating             string // the overall CQC rating; "unknown" for none
	RegistrationStatus string // Registered (the default), Deregistered or "all"
	// Sort is one of ProviderSorts() (default "name"), Dir "asc" (the
	// default) or "desc". Ties are broken by name, then location id.
	Sort, Dir   string
	Page        int // from 1
	PageSize    int // one of PageSizes()
	MinPosition int64
}

// ProviderSorts are the sort keys of a provider search.
func ProviderSorts() []string { return search.Sorts() }

// Ratings are a location's CQC ratings as the pages show them: "Unknown
// rating" when CQC published none.
type Ratings = search.Ratings

// ProviderNote is an entry of a location's note log as the search shows
// it. The author's name is shown to those who see the location in full.
type ProviderNote = search.Note

// ProviderRow is a location as the provider search shows it: its
// Contacts are the public ones, or all of them (AllContacts) for support
// and the users with access to the location.
type ProviderRow = search.Provider

// ProviderPage is a page of a provider search.
type ProviderPage = Page[ProviderRow]

// choice is the value of list that equals s in any case, and whether
// there is one.
func choice(list []string, s string) (string, bool) {
	i := slices.IndexFunc(list, func(v string) bool { return strings.EqualFold(v, strings.TrimSpace(s)) })
	if i < 0 {
		return "", false
	}
	return list[i], true
}

// filter checks a search's filters and returns them as the search view's.
func (p ProviderSearch) filter(v *domain.ValidationError) search.Filter {
	f := search.Filter{Text: p.Text, OrganisationID: strings.TrimSpace(p.OrganisationID),
		CQCRegion: p.CQCRegion, LocalAuthority: p.LocalAuthority, CCG: p.CCG}
	if s := strings.TrimSpace(p.OrganisationType); s != "" {
		if t, ok := location.ParseOrganisationType(strings.ToLower(s)); ok {
			f.OrganisationType = t
		} else {
			v.Add("organisation_type", "invalid_choice", "Choose one of the organisation types")
		}
	}
	if s := strings.TrimSpace(p.OwnershipType); s != "" {
		if t, ok := choice(location.OwnershipTypes(), s); ok {
			f.OwnershipType = t
		} else {
			v.Add("ownership_type", "invalid_choice", "Choose one of: "+strings.Join(location.OwnershipTypes(), ", "))
		}
	}
	if s := strings.TrimSpace(p.NHSRegion); s != "" {
		if r, ok := choice(location.NHSRegions(), s); ok {
			f.NHSRegion = r
		} else {
			v.Add("nhs_region", "invalid_choice", "Choose one of: "+strings.Join(location.NHSRegions(), ", "))
		}
	}
	if s := strings.TrimSpace(p.Postcode); s != "" {
		if pc := search.PostcodePrefix(s); pc != "" {
			f.PostcodePrefix = pc
		} else {
			v.Add("postcode", "invalid_postcode", "Enter the start of a postcode: letters and digits")
		}
	}
	if s := strings.TrimSpace(p.Rating); s != "" {
		var r location.Rating
		if !strings.EqualFold(s, "unknown") && !strings.EqualFold(s, location.Rating("").String()) {
			r = location.ParseRating(s)
		}
		f.Rating = &r
	}
	switch s := strings.TrimSpace(p.RegistrationStatus); {
	case s == "":
		f.RegistrationStatus = location.StatusRegistered
	case strings.EqualFold(s, "all"):
	default:
		if st, ok := choice([]string{location.StatusRegistered, location.StatusDeregistered}, s); ok {
			f.RegistrationStatus = st
		} else {
			v.Add("registration_status", "invalid_choice", "Choose Registered, Deregistered or all")
		}
	}
	return f
}

// parseOrder checks a list's sort and direction.
func parseOrder(v *domain.ValidationError, sort, dir string) search.Order {
	o := search.Order{Sort: sort}
	if sort != "" && !slices.Contains(search.Sorts(), sort) {
		v.Add("sort", "invalid_choice", "Sort by one of: "+strings.Join(ProviderSorts(), ", "))
	}
	switch strings.ToLower(dir) {
	case "", "asc":
	case "desc":
		o.Desc = true
	default:
		v.Add("dir", "invalid_choice", `dir is "asc" or "desc"`)
	}
	return o
}

// fullAccess reports whether a viewer sees a location in full: support,
// and the users with access to it.
func fullAccess(v *Viewer, locationID string) bool {
	return v != nil && (v.Support || slices.Contains(v.Locations, locationID))
}

// prepare checks a provider search and returns its filter, sort and
// paging.
func (p ProviderSearch) prepare() (search.Filter, search.Order, int, int, error) {
	var v domain.ValidationError
	f := p.filter(&v)
	o := parseOrder(&v, p.Sort, p.Dir)
	page, size := paging(&v, p.Page, p.PageSize)
	return f, o, page, size, v.Err()
}

// SearchProviders is the provider search: the page of the locations that
// match, with the total. viewer is nil for the public. Everyone sees the
// public contacts only, except support and the users with access to a
// location, who see all of its contacts (and the authors of its notes).
// Invalid filters, sorts or paging are a *domain.ValidationError.
func (q Service) SearchProviders(ctx context.Context, viewer *Viewer, p ProviderSearch) (ProviderPage, error) {
	f, o, page, size, err := p.prepare()
	if err != nil {
		return ProviderPage{}, err
	}
	if err := q.wait(ctx, p.MinPosition, search.Projection{}); err != nil {
		return ProviderPage{}, err
	}
	full := func(id string) bool { return fullAccess(viewer, id) }
	var (
		total   int
		entries []ProviderRow
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		entries, total, err = search.Providers(ctx, db, f, o, page, size, full)
		return err
	})
	if err != nil {
		return ProviderPage{}, fmt.Errorf("search providers: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// EachProvider calls fn with every location that matches the search, in
// its order, shaped for the viewer as SearchProviders shapes them; the
// page and page size are checked but not applied. It reads the rows a
// batch at a time, each batch in its own short transaction, continuing
// after the last row's sort keys (a keyset), so that it never holds them
// all nor a transaction open while fn writes. An error of fn stops it and
// is returned.
func (q Service) EachProvider(ctx context.Context, viewer *Viewer, p ProviderSearch, fn func(ProviderRow) error) error {
	f, o, _, _, err := p.prepare()
	if err != nil {
		return err
	}
	if err := q.wait(ctx, p.MinPosition, search.Projection{}); err != nil {
		return err
	}
	full := func(id string) bool { return fullAccess(viewer, id) }
	return eachKeyset(ctx, q.ReadModels, func(db projections.Querier, after []any) ([]ProviderRow, []any, error) {
		return search.ProvidersAfter(ctx, db, f, o, after, streamBatch, full)
	}, fn)
}

// --- the home care list ---------------------------------------------------

// HomeCareQuery is a search of the home care list ("Manage your home care
// providers").
type HomeCareQuery struct {
	Text           string // name, short name, organisation, or the start of the postcode
	OrganisationID string // the parent organisation
	OwnershipType  string
	NHSRegion      string
	// Sort is one of HomeCareSorts() (default "name"), Dir "asc" (the
	// default) or "desc", as a provider search's.
	Sort, Dir      string
	Page, PageSize int
	MinPosition    int64
}

// HomeCareSorts are the sort keys of the home care list: its columns.
func HomeCareSorts() []string { return []string{"name", "organisation", "nhs_region"} }

// LocationLinks are the API links of a location's pages.
type LocationLinks struct {
	Edit        string `json:"edit"`
	DailyUpdate string `json:"daily_update"`
	CareQuality string `json:"care_quality"`
}

func locationLinks(id string) LocationLinks {
	base := "/api/v1/locations/" + id
	return LocationLinks{Edit: base, DailyUpdate: base + "/daily-update", CareQuality: base + "/care-quality"}
}

// HomeCareEntry is a location of the home care list.
type HomeCareEntry struct {
	LocationID string `json:"location_id"`
	Name       string `json:"name"`
	Postcode   string `json:"postcode"`
	// Label is the list's text: "Cranberry Home Care (NN11NN)".
	Label              string        `json:"label"`
	OrganisationID     string        `json:"organisation_id"`
	OrganisationName   string        `json:"organisation_name"`
	OwnershipType      string        `json:"ownership_type"`
	NHSRegion          string        `json:"nhs_region"`
	RegistrationStatus string        `json:"registration_status"`
	Links              LocationLinks `json:"links"`
}

// HomeCarePage is a page of the home care list.
type HomeCarePage = Page[HomeCareEntry]

// homeCareEntry is the list's entry of a location.
func homeCareEntry(r search.HomeCareRow) HomeCareEntry {
	e := HomeCareEntry{LocationID: r.LocationID, Name: r.Name, Postcode: r.Postcode, Label: r.Name,
		OrganisationID: r.OrganisationID, OrganisationName: r.OrganisationName, OwnershipType: r.OwnershipType,
		NHSRegion: r.NHSRegion, RegistrationStatus: r.RegistrationStatus, Links: locationLinks(r.LocationID)}
	if r.PostcodeCompact != "" {
		e.Label += " (" + r.PostcodeCompact + ")"
	}
	return e
}

// homeCareEntries are the list's entries of the locations.
func homeCareEntries(rows []search.HomeCareRow) []HomeCareEntry {
	if rows == nil {
		return nil
	}
	out := make([]HomeCareEntry, len(rows))
	for i, r := range rows {
		out[i] = homeCareEntry(r)
	}
	return out
}

// prepare checks a home care query and returns its filter (within the
// viewer's locations; every location for support), sort and paging, and
// whether the viewer has no location at all.
func (h HomeCareQuery) prepare(v Viewer) (f search.Filter, o search.Order, page, size int, none bool, err error) {
	var verr domain.ValidationError
	f = ProviderSearch{Text: h.Text, OrganisationID: h.OrganisationID, OwnershipType: h.OwnershipType, NHSRegion: h.NHSRegion,
		RegistrationStatus: "all"}.filter(&verr)
	page, size = paging(&verr, h.Page, h.PageSize)
	if h.Sort != "" && !slices.Contains(HomeCareSorts(), h.Sort) {
		verr.Add("sort", "invalid_choice", "Sort by one of: "+strings.Join(HomeCareSorts(), ", "))
		h.Sort = ""
	}
	o = parseOrder(&verr, h.Sort, h.Dir)
	if err := verr.Err(); err != nil {
		return f, o, 0, 0, false, err
	}
	if !v.Support {
		if len(v.Locations) == 0 {
			return f, o, page, size, true, nil
		}
		f.OnlyLocations, f.Locations = true, v.Locations
	}
	return f, o, page, size, false, nil
}

// HomeCareList is "Manage your home care providers": the viewer's
// locations (every location for support) by name (or the query's sort),
// with the links of their pages.
func (q Service) HomeCareList(ctx context.Context, v Viewer, h HomeCareQuery) (HomeCarePage, error) {
	f, o, page, size, none, err := h.prepare(v)
	if err != nil {
		return HomeCarePage{}, err
	}
	if none {
		return newPage[HomeCareEntry](nil, 0, page, size), nil
	}
	if err := q.wait(ctx, h.MinPosition, search.Projection{}); err != nil {
		return HomeCarePage{}, err
	}
	var (
		total int
		rows  []search.HomeCareRow
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		rows, total, err = search.HomeCare(ctx, db, f, o, page, size)
		return err
	})
	if err != nil {
		return HomeCarePage{}, fmt.Errorf("home care list: %w", err)
	}
	return newPage(homeCareEntries(rows), total, page, size), nil
}

// EachHomeCare calls fn with every entry of the viewer's home care list
// that matches, as EachProvider walks the search.
func (q Service) EachHomeCare(ctx context.Context, v Viewer, h HomeCareQuery, fn func(HomeCareEntry) error) error {
	f, o, _, _, none, err := h.prepare(v)
	if err != nil || none {
		return err
	}
	if err := q.wait(ctx, h.MinPosition, search.Projection{}); err != nil {
		return err
	}
	return eachKeyset(ctx, q.ReadModels, func(db projections.Querier, after []any) ([]HomeCareEntry, []any, error) {
		rows, last, err := search.HomeCareAfter(ctx, db, f, o, after, streamBatch)
		return homeCareEntries(rows), last, err
	}, fn)
}

// OrganisationOption is an organisation a list may be filtered by.
type OrganisationOption = search.Organisation

// HomeCareOrganisations are the parent organisations of the viewer's
// locations, by name: the choices of the home care list's Parent
// Organisation filter. Support, who sees every location, gets none (the
// country's thousands of organisations are no list to choose from):
// support names an organisation by its id.
func (q Service) HomeCareOrganisations(ctx context.Context, v Viewer) ([]OrganisationOption, error) {
	if v.Support || len(v.Locations) == 0 {
		return nil, nil
	}
	var out []OrganisationOption
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = search.OrganisationsOf(ctx, db, v.Locations)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("home care organisations: %w", err)
	}
	return out, nil
}

// --- the provider dashboard --------------------------------------------------

// DashboardQuery asks for the dashboard of locations: LocationIDs, or
// with none the viewer's own locations (every location for support).
type DashboardQuery struct {
	LocationIDs []string
	// Now decides whether today's daily update is missing (today is
	// Europe/London's calendar day).
	Now            time.Time
	Page, PageSize int
	MinPosition    int64
}

// DashboardUser is a user with access to a location. Support and the
// organisation's Approvers see who they are (id and email); the
// location's other users see names and roles.
type DashboardUser struct {
	UserID   string `json:"user_id,omitempty"`
	Email    string `json:"email,omitempty"`
	FullName string `json:"full_name"`
	Role     string `json:"role"`
	Approver bool   `json:"approver"`
}

// What a location's dashboard may ask to be done (DashboardEntry.Needs).
const (
	NeedManagerContact   = "manager_contact"   // no Manager in the contact directory
	NeedEmail            = "email"             // no contact has an email
	NeedApprovers        = "approvers"         // the organisation has fewer than MinApprovers active Approvers
	NeedPendingApprovals = "pending_approvals" // access requests wait for a decision
	NeedDailyUpdate      = "daily_update"      // today's daily update is missing
	// NeedConfirmDetails: the location's details were neither changed nor
	// confirmed ("no change") within ConfirmDetailsWithin.
	NeedConfirmDetails = "confirm_details"
)

// ConfirmDetailsWithin is how recent a location's last change or
// confirmation of its details must be for the dashboard not to ask for
// one (the guide asks that the details be "kept up to date").
const ConfirmDetailsWithin = 30 * 24 * time.Hour

// DashboardEntry is what needs doing at a location.
type DashboardEntry struct {
	LocationID       string `json:"location_id"`
	Name             string `json:"name"`
	Postcode         string `json:"postcode"`
	OrganisationID   string `json:"organisation_id"`
	OrganisationName string `json:"organisation_name"`
	// Needs lists what needs doing, in the order of the Need constants.
	Needs           []string `json:"needs"`
	HasManager      bool     `json:"has_manager"`
	HasEmail        bool     `json:"has_email"`
	ActiveApprovers int      `json:"active_approvers"`
	// FewerThanTwoApprovers: the organisation has fewer than
	// MinApprovers active Approvers.
	FewerThanTwoApprovers bool `json:"fewer_than_two_approvers"`
	// PendingApprovals counts the organisation's access requests that
	// wait for a decision.
	PendingApprovals        int        `json:"pending_approvals"`
	LastDailyUpdateAt       *time.Time `json:"last_daily_update_at"`
	DailyUpdateMissingToday bool       `json:"daily_update_missing_today"`
	// DetailsUpdatedAt is the time of the location's latest change or
	// confirmation of its details (any event of its stream).
	DetailsUpdatedAt time.Time `json:"details_updated_at"`
	// DetailsNotConfirmed: DetailsUpdatedAt is older than
	// ConfirmDetailsWithin.
	DetailsNotConfirmed bool    `json:"details_not_confirmed"`
	Ratings             Ratings `json:"ratings"`
	ReportDate          string  `json:"report_date"`
	ReportURL           string  `json:"report_url"`
	// Users are the active users with access to the location.
	Users []DashboardUser `json:"users"`
	Links LocationLinks   `json:"links"`
}

// DashboardPage is a page of dashboards.
type DashboardPage = Page[DashboardEntry]

// StartOfDay is the start of t's calendar day in Europe/London.
func StartOfDay(t time.Time) time.Time {
	y, m, d := t.In(dailyupdate.London).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, dailyupdate.London)
}

// dashboardEntry is the dashboard of a location as the search view reads
// it, before completeDashboards adds what the other views know.
func dashboardEntry(r search.DashboardRow) DashboardEntry {
	return DashboardEntry{LocationID: r.LocationID, Name: r.Name, Postcode: r.Postcode, OrganisationID: r.OrganisationID,
		OrganisationName: r.OrganisationName, HasManager: r.HasManager, HasEmail: r.HasEmail,
		LastDailyUpdateAt: r.LastDailyUpdateAt, DetailsUpdatedAt: r.DetailsUpdatedAt, Ratings: r.Ratings,
		ReportDate: r.ReportDate, ReportURL: r.ReportURL, Links: locationLinks(r.LocationID)}
}

// dashboardEntries are the dashboards of the locations.
func dashboardEntries(rows []search.DashboardRow) []DashboardEntry {
	if rows == nil {
		return nil
	}
	out := make([]DashboardEntry, len(rows))
	for i, r := range rows {
		out[i] = dashboardEntry(r)
	}
	return out
}

// dashboardProjections are the read models of the dashboard.
var dashboardProjections = []projections.Projection{
	search.Projection{}, accounts.Users{}, accounts.PendingApprovals{}, accounts.ApproverCounts{},
}

// mayDashboard reports whether the viewer may see a location's dashboard:
// support, the users with access to it and the Approvers of its
// organisation.
func mayDashboard(v Viewer, locationID, org string) bool {
	return v.approves(org) || slices.Contains(v.Locations, locationID)
}

// dashboardScope is the filter of the locations of a dashboard query:
// the ids asked for (each must exist, else domain.ErrNotFound, and be the
// viewer's to see, else domain.ErrForbidden), or the viewer's own. none
// reports that the viewer has no location at all (the filter then selects
// none).
func dashboardScope(ctx context.Context, db projections.Querier, v Viewer, ids []string) (f search.Filter, none bool, err error) {
	if len(ids) == 0 {
		if v.Support {
			return f, false, nil
		}
		f.OnlyLocations, f.Locations = true, v.Locations
		return f, len(v.Locations) == 0, nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	found, err := search.Owners(ctx, db, ids)
	if err != nil {
		return f, false, err
	}
	if len(found) < len(ids) {
		return f, false, domain.ErrNotFound
	}
	for _, o := range found {
		if !mayDashboard(v, o.LocationID, o.OrganisationID) {
			return f, false, domain.ErrForbidden
		}
	}
	f.OnlyLocations, f.Locations = true, ids
	return f, false, nil
}

// MaxDashboardLocations bounds the locations a dashboard query names.
const MaxDashboardLocations = 100

func (d DashboardQuery) check() (page, size int, err error) {
	var v domain.ValidationError
	page, size = paging(&v, d.Page, d.PageSize)
	if len(d.LocationIDs) > MaxDashboardLocations {
		v.Add("location_id", "too_many", fmt.Sprintf("Ask for at most %d locations", MaxDashboardLocations))
	}
	return page, size, v.Err()
}

// ProviderDashboard is the provider dashboard: for each location, by
// name, what needs doing (a Manager contact, an email, a second Approver,
// pending approvals, today's daily update), its CQC ratings and the users
// with access to it.
func (q Service) ProviderDashboard(ctx context.Context, v Viewer, d DashboardQuery) (DashboardPage, error) {
	page, size, err := d.check()
	if err != nil {
		return DashboardPage{}, err
	}
	if err := q.wait(ctx, d.MinPosition, dashboardProjections...); err != nil {
		return DashboardPage{}, err
	}
	var (
		total   int
		entries []DashboardEntry
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		f, none, err := dashboardScope(ctx, db, v, d.LocationIDs)
		if err != nil || none {
			return err
		}
		rows, n, err := search.Dashboards(ctx, db, f, page, size)
		if err != nil {
			return err
		}
		entries, total = dashboardEntries(rows), n
		return completeDashboards(ctx, db, v, d.Now, entries)
	})
	if err != nil {
		return DashboardPage{}, fmt.Errorf("provider dashboard: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// LocationDashboard is one location's dashboard; an unknown location is
// domain.ErrNotFound, one the viewer may not see domain.ErrForbidden.
//
// With minPosition it also waits for the analytics view, which the
// location's daily update form reads its last update from
// (LatestDailyUpdate): after a save leads to the dashboard, the form it
// links to shows the update too.
func (q Service) LocationDashboard(ctx context.Context, v Viewer, locationID string, now time.Time, minPosition int64) (DashboardEntry, error) {
	if err := q.wait(ctx, minPosition, analyticsProjections...); err != nil {
		return DashboardEntry{}, err
	}
	p, err := q.ProviderDashboard(ctx, v, DashboardQuery{LocationIDs: []string{locationID}, Now: now, MinPosition: minPosition})
	if err != nil {
		return DashboardEntry{}, err
	}
	if len(p.Entries) == 0 {
		return DashboardEntry{}, domain.ErrNotFound
	}
	return p.Entries[0], nil
}

// EachDashboard calls fn with the dashboard of every location of the
// query, as EachProvider walks the search.
func (q Service) EachDashboard(ctx context.Context, v Viewer, d DashboardQuery, fn func(DashboardEntry) error) error {
	if _, _, err := d.check(); err != nil {
		return err
	}
	if err := q.wait(ctx, d.MinPosition, dashboardProjections...); err != nil {
		return err
	}
	// A viewer without locations gets a filter that selects none.
	var f search.Filter
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		f, _, err = dashboardScope(ctx, db, v, d.LocationIDs)
		return err
	})
	if err != nil {
		return err
	}
	return eachKeyset(ctx, q.ReadModels, func(db projections.Querier, after []any) ([]DashboardEntry, []any, error) {
		rows, last, err := search.DashboardsAfter(ctx, db, f, after, streamBatch)
		batch := dashboardEntries(rows)
		if err == nil {
			err = completeDashboards(ctx, db, v, d.Now, batch)
		}
		return batch, last, err
	}, fn)
}

// completeDashboards adds to the dashboards of a page their
// organisations' Approvers and pending approvals, their users and what
// needs doing.
func completeDashboards(ctx context.Context, db projections.Querier, v Viewer, now time.Time, entries []DashboardEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var orgs, locs []string
	for _, e := range entries {
		if !slices.Contains(orgs, e.OrganisationID) {
			orgs = append(orgs, e.OrganisationID)
		}
		locs = append(locs, e.LocationID)
	}
	approvers, err := accounts.ActiveApprovers(ctx, db, orgs)
	if err != nil {
		return err
	}
	pending, err := accounts.PendingCounts(ctx, db, orgs)
	if err != nil {
		return err
	}
	users, err := accounts.ActiveLocationUsers(ctx, db, locs)
	if err != nil {
		return err
	}
	today := StartOfDay(now)
	for i := range entries {
		e := &entries[i]
		e.ActiveApprovers = approvers[e.OrganisationID]
		e.PendingApprovals = pending[e.OrganisationID]
		e.FewerThanTwoApprovers = e.ActiveApprovers < MinApprovers
		e.DailyUpdateMissingToday = e.LastDailyUpdateAt == nil || e.LastDailyUpdateAt.Before(today)
		e.DetailsNotConfirmed = e.DetailsUpdatedAt.Before(now.Add(-ConfirmDetailsWithin))
		full := v.approves(e.OrganisationID)
		e.Users = []DashboardUser{}
		if full || slices.Contains(v.Locations, e.LocationID) {
			for _, a := range users {
				if a.LocationID != e.LocationID {
					continue
				}
				u := DashboardUser{UserID: a.UserID, Email: a.Email, FullName: a.FullName, Role: a.Role, Approver: a.Role == "approver"}
				if !full {
					u.UserID, u.Email = "", ""
				}
				e.Users = append(e.Users, u)
			}
		}
		e.Needs = []string{}
		for _, n := range []struct {
			need string
			on   bool
		}{
			{NeedManagerContact, !e.HasManager}, {NeedEmail, !e.HasEmail}, {NeedApprovers, e.FewerThanTwoApprovers},
			{NeedPendingApprovals, e.PendingApprovals > 0}, {NeedDailyUpdate, e.DailyUpdateMissingToday},
			{NeedConfirmDetails, e.DetailsNotConfirmed},
		} {
			if n.on {
				e.Needs = append(e.Needs, n.need)
			}
		}
	}
	return nil
}

// --- GP practices ---------------------------------------------------------------

// GPPractice is a GP practice (an organisation of type GP) as the Linked
// GP Practices search finds it.
type GPPractice = search.GPPractice

// Limits of a GP practice search.
const (
	DefaultGPPracticeLimit = 20
	MaxGPPracticeLimit     = 100
)

// SearchGPPractices finds GP practices whose name holds every word of text
// (in any case), or whose practice code starts with it, by name. It needs
// at least 2 characters.
func (q Service) SearchGPPractices(ctx context.Context, text string, limit int) ([]GPPractice, error) {
	key := projections.SearchKey(text)
	if len([]rune(key)) < 2 {
		return nil, domain.Invalid("q", "too_short", "Type at least 2 characters of the practice's name or code")
	}
	if limit <= 0 {
		limit = DefaultGPPracticeLimit
	}
	limit = min(limit, MaxGPPracticeLimit)
	var out []GPPractice
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = search.GPPractices(ctx, db, text, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search GP practices: %w", err)
	}
	return out, nil
}
