package queries

import (
	"context"
	"encoding/json"
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
)

// The views over locations: the provider search, the home care list, the
// provider dashboard and the GP practice search, from the search read
// model (projections.LocationSearch). Every list pages as the pages do
// ("Show 10/25/50/100 entries", "Showing 1 to 10 of N entries"), and has a
// streaming variant for its download that walks every matching row in
// keyset order, a page at a time, without holding them all.

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
func ProviderSorts() []string {
	return []string{"name", "organisation", "postcode", "nhs_region", "local_authority", "overall_rating", "last_update"}
}

// sortColumns are the columns of each sort key.
var sortColumns = map[string]string{
	"name": "name_key", "organisation": "organisation_key", "postcode": "postcode_compact", "nhs_region": "nhs_region",
	"local_authority": "local_authority_key", "overall_rating": "rating_rank", "last_update": "last_update_at",
}

// Ratings are a location's CQC ratings as the pages show them: "Unknown
// rating" when CQC published none.
type Ratings struct {
	Overall    string `json:"overall"`
	Safe       string `json:"safe"`
	Effective  string `json:"effective"`
	Caring     string `json:"caring"`
	Responsive string `json:"responsive"`
	WellLed    string `json:"well_led"`
}

// ProviderNote is an entry of a location's note log as the search shows
// it. The author's name is shown to those who see the location in full.
type ProviderNote struct {
	NoteID      string     `json:"note_id"`
	Text        string     `json:"text"`
	AddedAt     time.Time  `json:"added_at"`
	AddedByName string     `json:"added_by_name,omitempty"`
	EditedAt    *time.Time `json:"edited_at,omitempty"`
}

// ProviderRow is a location as the provider search shows it.
type ProviderRow struct {
	LocationID         string `json:"location_id"`
	Name               string `json:"name"`
	ShortName          string `json:"short_name"`
	OrganisationID     string `json:"organisation_id"`
	OrganisationName   string `json:"organisation_name"`
	OrganisationType   string `json:"organisation_type"`
	OwnershipType      string `json:"ownership_type"`
	AddressLine1       string `json:"address_line1"`
	AddressLine2       string `json:"address_line2"`
	AddressLine3       string `json:"address_line3"`
	AddressLine4       string `json:"address_line4"`
	AddressLine5       string `json:"address_line5"`
	Postcode           string `json:"postcode"`
	NHSRegion          string `json:"nhs_region"`
	CQCRegion          string `json:"cqc_region"`
	LocalAuthority     string `json:"local_authority"`
	CCG                string `json:"ccg"`
	RegistrationStatus string `json:"registration_status"`
	Dormant            bool   `json:"dormant"`
	// Contacts are the public ones, or all of them when AllContacts: for
	// support and the users with access to the location.
	Contacts          []location.Contact `json:"contacts"`
	AllContacts       bool               `json:"all_contacts"`
	Notes             []ProviderNote     `json:"notes"`
	GPPractices       []location.GPLink  `json:"gp_practices"`
	Ratings           Ratings            `json:"ratings"`
	ReportDate        string             `json:"report_date"`
	ReportURL         string             `json:"report_url"`
	PublicURL         string             `json:"public_url"`
	PAMMS             location.PAMMS     `json:"pamms"`
	Version           int64              `json:"version"`
	LastUpdateAt      time.Time          `json:"last_update_at"`
	LastDailyUpdateAt *time.Time         `json:"last_daily_update_at"`
}

// ProviderPage is a page of a provider search.
type ProviderPage = Page[ProviderRow]

// likeEscaper escapes LIKE's wildcards (with the ESCAPE '\' of every
// LIKE here).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// maxSearchWords bounds the words of a text search.
const maxSearchWords = 8

// addText adds a free text search: every word somewhere in the name,
// short name or organisation name (search_text holds the three), or the
// text the start of the postcode.
func addText(w *projections.Where, text string) {
	words := searchWords(text)
	if len(words) == 0 {
		return
	}
	var all []string
	var args []any
	for _, word := range words {
		all = append(all, `search_text LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscaper.Replace(word)+"%")
	}
	cond := "(" + strings.Join(all, " AND ")
	if pc := postcodePrefix(text); pc != "" {
		cond += ` OR postcode_compact LIKE ?`
		args = append(args, pc+"%")
	}
	w.Add(cond+")", args...)
}

// searchWords are the words of a free text search, as search keys: at
// most maxSearchWords, without the "|" that separates the parts of
// search_text.
func searchWords(text string) []string {
	words := strings.Fields(strings.ReplaceAll(projections.SearchKey(text), "|", " "))
	return words[:min(len(words), maxSearchWords)]
}

// postcodePrefix is the start of a postcode as a search key: upper case
// letters and digits only.
func postcodePrefix(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if r != ' ' {
			return ""
		}
	}
	return b.String()
}

// choice is the value of list that equals s in any case, and whether
// there is one.
func choice(list []string, s string) (string, bool) {
	i := slices.IndexFunc(list, func(v string) bool { return strings.EqualFold(v, strings.TrimSpace(s)) })
	if i < 0 {
		return "", false
	}
	return list[i], true
}

// filters turns a search's filters into conditions.
func (p ProviderSearch) filters(v *domain.ValidationError, w *projections.Where) {
	addText(w, p.Text)
	if s := strings.TrimSpace(p.OrganisationID); s != "" {
		w.Add(`organisation_id = ?`, s)
	}
	if s := strings.TrimSpace(p.OrganisationType); s != "" {
		if t, ok := location.ParseOrganisationType(strings.ToLower(s)); ok {
			w.Add(`organisation_type = ?`, string(t))
		} else {
			v.Add("organisation_type", "invalid_choice", "Choose one of the organisation types")
		}
	}
	if s := strings.TrimSpace(p.OwnershipType); s != "" {
		if t, ok := choice(location.OwnershipTypes(), s); ok {
			w.Add(`ownership_type = ?`, t)
		} else {
			v.Add("ownership_type", "invalid_choice", "Choose one of: "+strings.Join(location.OwnershipTypes(), ", "))
		}
	}
	if s := strings.TrimSpace(p.NHSRegion); s != "" {
		if r, ok := choice(location.NHSRegions(), s); ok {
			w.Add(`nhs_region = ?`, r)
		} else {
			v.Add("nhs_region", "invalid_choice", "Choose one of: "+strings.Join(location.NHSRegions(), ", "))
		}
	}
	for _, f := range []struct{ column, value string }{
		{"cqc_region_key", p.CQCRegion}, {"local_authority_key", p.LocalAuthority}, {"ccg_key", p.CCG},
	} {
		if k := projections.SearchKey(f.value); k != "" {
			w.Add(f.column+` = ?`, k)
		}
	}
	if s := strings.TrimSpace(p.Postcode); s != "" {
		if pc := postcodePrefix(s); pc != "" {
			w.Add(`postcode_compact LIKE ?`, pc+"%")
		} else {
			v.Add("postcode", "invalid_postcode", "Enter the start of a postcode: letters and digits")
		}
	}
	if s := strings.TrimSpace(p.Rating); s != "" {
		if strings.EqualFold(s, "unknown") || strings.EqualFold(s, location.Rating("").String()) {
			w.Add(`rating_overall = ?`, "")
		} else {
			w.Add(`rating_overall = ?`, string(location.ParseRating(s)))
		}
	}
	switch s := strings.TrimSpace(p.RegistrationStatus); {
	case s == "":
		w.Add(`registration_status = ?`, location.StatusRegistered)
	case strings.EqualFold(s, "all"):
	default:
		if st, ok := choice([]string{location.StatusRegistered, location.StatusDeregistered}, s); ok {
			w.Add(`registration_status = ?`, st)
		} else {
			v.Add("registration_status", "invalid_choice", "Choose Registered, Deregistered or all")
		}
	}
}

// order is a list's sort: its key column and direction.
type order struct {
	column string
	desc   bool
}

func parseOrder(v *domain.ValidationError, sort, dir string) order {
	o := order{column: "name_key"}
	if sort != "" {
		col, ok := sortColumns[sort]
		if !ok {
			v.Add("sort", "invalid_choice", "Sort by one of: "+strings.Join(ProviderSorts(), ", "))
		}
		o.column = col
	}
	switch strings.ToLower(dir) {
	case "", "asc":
	case "desc":
		o.desc = true
	default:
		v.Add("dir", "invalid_choice", `dir is "asc" or "desc"`)
	}
	return o
}

// keys are the columns of the sort, in order; the last two break ties.
func (o order) keys() []string {
	if o.column == "name_key" {
		return []string{"name_key", "location_id"}
	}
	return []string{o.column, "name_key", "location_id"}
}

func (o order) orderBy() string {
	dir := ""
	if o.desc {
		dir = " DESC"
	}
	keys := o.keys()
	for i := range keys {
		keys[i] += dir
	}
	return " ORDER BY " + strings.Join(keys, ", ")
}

// after is the keyset condition of the rows after a row whose sort keys
// are last.
func (o order) after(last []any) (string, []any) {
	op := ">"
	if o.desc {
		op = "<"
	}
	keys := o.keys()
	return fmt.Sprintf("(%s) %s (%s)", strings.Join(keys, ", "), op, projections.Marks(len(keys))), last
}

// providerColumns are the columns scanProvider reads.
const providerColumns = `location_id, name, short_name, organisation_id, organisation_name, organisation_type, ownership_type,
    address_line1, address_line2, address_line3, address_line4, address_line5, postcode, nhs_region, cqc_region,
    local_authority, ccg, registration_status, dormant, contacts, public_contacts, notes, gp_practices,
    rating_overall, rating_safe, rating_effective, rating_caring, rating_responsive, rating_well_led,
    report_date, report_url, public_url, pamms_rating, pamms_report_url, pamms_report_date, version,
    last_update_at, last_daily_update_at`

// fullAccess reports whether a viewer sees a location in full: support,
// and the users with access to it.
func fullAccess(v *Viewer, locationID string) bool {
	return v != nil && (v.Support || slices.Contains(v.Locations, locationID))
}

// scanProvider reads a row of providerColumns followed by extra columns
// (the sort keys of a keyset), shaped for the viewer.
func scanProvider(rows projections.Rows, v *Viewer, extra ...any) (ProviderRow, error) {
	var (
		p                                                     ProviderRow
		contacts, publicContacts, notes, gps                  string
		overall, safe, effective, caring, responsive, wellLed string
		lastUpdate, lastDaily                                 projections.Timestamp
	)
	dest := []any{&p.LocationID, &p.Name, &p.ShortName, &p.OrganisationID, &p.OrganisationName, &p.OrganisationType,
		&p.OwnershipType, &p.AddressLine1, &p.AddressLine2, &p.AddressLine3, &p.AddressLine4, &p.AddressLine5,
		&p.Postcode, &p.NHSRegion, &p.CQCRegion, &p.LocalAuthority, &p.CCG, &p.RegistrationStatus, &p.Dormant,
		&contacts, &publicContacts, &notes, &gps, &overall, &safe, &effective, &caring, &responsive, &wellLed,
		&p.ReportDate, &p.ReportURL, &p.PublicURL, &p.PAMMS.Rating, &p.PAMMS.ReportURL, &p.PAMMS.ReportDate,
		&p.Version, &lastUpdate, &lastDaily}
	if err := rows.Scan(append(dest, extra...)...); err != nil {
		return p, err
	}
	p.AllContacts = fullAccess(v, p.LocationID)
	if !p.AllContacts {
		contacts = publicContacts
	}
	var rawNotes []location.Note
	for _, f := range []struct {
		data string
		dst  any
	}{{contacts, &p.Contacts}, {notes, &rawNotes}, {gps, &p.GPPractices}} {
		if err := json.Unmarshal([]byte(f.data), f.dst); err != nil {
			return p, fmt.Errorf("location %s: %w", p.LocationID, err)
		}
	}
	p.Notes = make([]ProviderNote, len(rawNotes))
	for i, n := range rawNotes {
		p.Notes[i] = ProviderNote{NoteID: n.NoteID, Text: n.Text, AddedAt: n.AddedAt}
		if !n.EditedAt.IsZero() {
			at := n.EditedAt
			p.Notes[i].EditedAt = &at
		}
		if p.AllContacts {
			p.Notes[i].AddedByName = n.AddedByName
		}
	}
	if p.Contacts == nil {
		p.Contacts = []location.Contact{}
	}
	if p.GPPractices == nil {
		p.GPPractices = []location.GPLink{}
	}
	p.Ratings = Ratings{
		Overall: location.Rating(overall).String(), Safe: location.Rating(safe).String(),
		Effective: location.Rating(effective).String(), Caring: location.Rating(caring).String(),
		Responsive: location.Rating(responsive).String(), WellLed: location.Rating(wellLed).String(),
	}
	p.LastUpdateAt, p.LastDailyUpdateAt = lastUpdate.Time, projections.TimePtr(lastDaily)
	return p, nil
}

// prepare checks a provider search and returns its conditions, sort and
// paging.
func (p ProviderSearch) prepare() (projections.Where, order, int, int, error) {
	var v domain.ValidationError
	var w projections.Where
	p.filters(&v, &w)
	o := parseOrder(&v, p.Sort, p.Dir)
	page, size := paging(&v, p.Page, p.PageSize)
	return w, o, page, size, v.Err()
}

// SearchProviders is the provider search: the page of the locations that
// match, with the total. viewer is nil for the public. Everyone sees the
// public contacts only, except support and the users with access to a
// location, who see all of its contacts (and the authors of its notes).
// Invalid filters, sorts or paging are a *domain.ValidationError.
func (q Service) SearchProviders(ctx context.Context, viewer *Viewer, p ProviderSearch) (ProviderPage, error) {
	w, o, page, size, err := p.prepare()
	if err != nil {
		return ProviderPage{}, err
	}
	if err := q.wait(ctx, p.MinPosition, projections.LocationSearch{}); err != nil {
		return ProviderPage{}, err
	}
	var (
		total   int
		entries []ProviderRow
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		entries, total, err = readPage(ctx, db, providerColumns, w, o, page, size, func(rows projections.Rows) (ProviderRow, error) {
			return scanProvider(rows, viewer)
		})
		return err
	})
	if err != nil {
		return ProviderPage{}, fmt.Errorf("search providers: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// pageSQL selects the columns cols of a page of the locations that
// match w, in the order o.
func pageSQL(cols string, w projections.Where, o order, limit, offset int) string {
	t := projections.SearchLocationsTable
	off := ""
	if offset > 0 {
		off = fmt.Sprintf(" OFFSET %d", offset)
	}
	if offset < deepOffset {
		return fmt.Sprintf(`SELECT %s FROM %s%s%s LIMIT %d%s`, cols, t, w, o.orderBy(), limit, off)
	}
	// A deep page skips its offset on the sort's index, reading the ids
	// only, and then reads the page's own rows by their key: skipping
	// 10,000 of the table's wide rows themselves cost 35 ms on PostgreSQL
	// at 25,000 locations (BENCHMARKS.md).
	return fmt.Sprintf(`SELECT %s FROM %s WHERE location_id IN (SELECT location_id FROM %s%s%s LIMIT %d%s)%s`,
		cols, t, t, w, o.orderBy(), limit, off, o.orderBy())
}

// deepOffset is the offset from which pageSQL reads a page's ids first.
const deepOffset = 1000

// readPage reads a page of the locations that match w in the order o,
// and counts them all. A first page that is not full holds them all: its
// count needs no query of its own.
func readPage[T any](ctx context.Context, db projections.Querier, cols string, w projections.Where, o order, page, size int,
	scan func(projections.Rows) (T, error)) ([]T, int, error) {
	rows, err := db.QueryContext(ctx, pageSQL(cols, w, o, size, (page-1)*size), w.Args...)
	entries, err := projections.Collect(rows, err, nil, scan)
	if err != nil {
		return nil, 0, err
	}
	if page == 1 && len(entries) < size {
		return entries, len(entries), nil
	}
	total, err := count(ctx, db, w)
	return entries, total, err
}

// count counts the locations that match.
func count(ctx context.Context, db projections.Querier, w projections.Where) (int, error) {
	return projections.CountRows(ctx, db, `SELECT count(*) FROM `+projections.SearchLocationsTable+w.String(), w.Args...)
}

// EachProvider calls fn with every location that matches the search, in
// its order, shaped for the viewer as SearchProviders shapes them; the
// page and page size are checked but not applied. It reads the rows a
// batch at a time, each batch in its own short transaction, continuing
// after the last row's sort keys (a keyset), so that it never holds them
// all nor a transaction open while fn writes. An error of fn stops it and
// is returned.
func (q Service) EachProvider(ctx context.Context, viewer *Viewer, p ProviderSearch, fn func(ProviderRow) error) error {
	w, o, _, _, err := p.prepare()
	if err != nil {
		return err
	}
	if err := q.wait(ctx, p.MinPosition, projections.LocationSearch{}); err != nil {
		return err
	}
	return eachKeyset(ctx, q.ReadModels, w, o, func(db projections.Querier, cond projections.Where) ([]ProviderRow, []any, error) {
		keys := o.keys()
		rows, err := db.QueryContext(ctx, pageSQL(providerColumns+", "+strings.Join(keys, ", "), cond, o, streamBatch, 0), cond.Args...)
		var last *projections.KeysetRow
		batch, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (ProviderRow, error) {
			last = projections.NewKeysetRow(len(keys))
			return scanProvider(rows, viewer, last.Dest()...)
		})
		return batch, last.Values(), err
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

const homeCareColumns = `location_id, name, postcode, postcode_compact, organisation_id, organisation_name, ownership_type,
    nhs_region, registration_status`

func scanHomeCare(rows projections.Rows, extra ...any) (HomeCareEntry, error) {
	var e HomeCareEntry
	var compact string
	err := rows.Scan(append([]any{&e.LocationID, &e.Name, &e.Postcode, &compact, &e.OrganisationID, &e.OrganisationName,
		&e.OwnershipType, &e.NHSRegion, &e.RegistrationStatus}, extra...)...)
	e.Label = e.Name
	if compact != "" {
		e.Label += " (" + compact + ")"
	}
	e.Links = locationLinks(e.LocationID)
	return e, err
}

// prepare checks a home care query and returns its conditions (within
// the viewer's locations; every location for support), sort and paging,
// and whether the viewer has no location at all.
func (h HomeCareQuery) prepare(v Viewer) (w projections.Where, o order, page, size int, none bool, err error) {
	var verr domain.ValidationError
	ProviderSearch{Text: h.Text, OrganisationID: h.OrganisationID, OwnershipType: h.OwnershipType, NHSRegion: h.NHSRegion,
		RegistrationStatus: "all"}.filters(&verr, &w)
	page, size = paging(&verr, h.Page, h.PageSize)
	if h.Sort != "" && !slices.Contains(HomeCareSorts(), h.Sort) {
		verr.Add("sort", "invalid_choice", "Sort by one of: "+strings.Join(HomeCareSorts(), ", "))
		h.Sort = ""
	}
	o = parseOrder(&verr, h.Sort, h.Dir)
	if err := verr.Err(); err != nil {
		return w, o, 0, 0, false, err
	}
	if !v.Support {
		if len(v.Locations) == 0 {
			return w, o, page, size, true, nil
		}
		w.Add(`location_id IN (`+projections.Marks(len(v.Locations))+`)`, anys(v.Locations)...)
	}
	return w, o, page, size, false, nil
}

// HomeCareList is "Manage your home care providers": the viewer's
// locations (every location for support) by name (or the query's sort),
// with the links of their pages.
func (q Service) HomeCareList(ctx context.Context, v Viewer, h HomeCareQuery) (HomeCarePage, error) {
	w, o, page, size, none, err := h.prepare(v)
	if err != nil {
		return HomeCarePage{}, err
	}
	if none {
		return newPage[HomeCareEntry](nil, 0, page, size), nil
	}
	if err := q.wait(ctx, h.MinPosition, projections.LocationSearch{}); err != nil {
		return HomeCarePage{}, err
	}
	var (
		total   int
		entries []HomeCareEntry
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		entries, total, err = readPage(ctx, db, homeCareColumns, w, o, page, size, func(rows projections.Rows) (HomeCareEntry, error) {
			return scanHomeCare(rows)
		})
		return err
	})
	if err != nil {
		return HomeCarePage{}, fmt.Errorf("home care list: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// EachHomeCare calls fn with every entry of the viewer's home care list
// that matches, as EachProvider walks the search.
func (q Service) EachHomeCare(ctx context.Context, v Viewer, h HomeCareQuery, fn func(HomeCareEntry) error) error {
	w, o, _, _, none, err := h.prepare(v)
	if err != nil || none {
		return err
	}
	if err := q.wait(ctx, h.MinPosition, projections.LocationSearch{}); err != nil {
		return err
	}
	return eachKeyset(ctx, q.ReadModels, w, o, func(db projections.Querier, cond projections.Where) ([]HomeCareEntry, []any, error) {
		keys := o.keys()
		rows, err := db.QueryContext(ctx, pageSQL(homeCareColumns+", "+strings.Join(keys, ", "), cond, o, streamBatch, 0), cond.Args...)
		var last *projections.KeysetRow
		batch, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (HomeCareEntry, error) {
			last = projections.NewKeysetRow(len(keys))
			return scanHomeCare(rows, last.Dest()...)
		})
		return batch, last.Values(), err
	}, fn)
}

// OrganisationOption is an organisation a list may be filtered by.
type OrganisationOption struct {
	OrganisationID string `json:"organisation_id"`
	Name           string `json:"name"`
}

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
		rows, err := db.QueryContext(ctx, `SELECT DISTINCT organisation_id, organisation_name, organisation_key FROM `+
			projections.SearchLocationsTable+` WHERE location_id IN (`+projections.Marks(len(v.Locations))+`)
			ORDER BY organisation_key, organisation_id`, anys(v.Locations)...)
		out, err = projections.Collect(rows, err, out[:0], func(rows projections.Rows) (OrganisationOption, error) {
			var o OrganisationOption
			var key string
			return o, rows.Scan(&o.OrganisationID, &o.Name, &key)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("home care organisations: %w", err)
	}
	return out, nil
}

// anys converts values to query arguments.
func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
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

const dashboardColumns = `location_id, name, postcode, organisation_id, organisation_name, has_manager, has_email,
    rating_overall, rating_safe, rating_effective, rating_caring, rating_responsive, rating_well_led,
    report_date, report_url, last_daily_update_at, last_update_at`

func scanDashboard(rows projections.Rows, extra ...any) (DashboardEntry, error) {
	var (
		e                                                     DashboardEntry
		overall, safe, effective, caring, responsive, wellLed string
		last, details                                         projections.Timestamp
	)
	err := rows.Scan(append([]any{&e.LocationID, &e.Name, &e.Postcode, &e.OrganisationID, &e.OrganisationName,
		&e.HasManager, &e.HasEmail, &overall, &safe, &effective, &caring, &responsive, &wellLed,
		&e.ReportDate, &e.ReportURL, &last, &details}, extra...)...)
	e.Ratings = Ratings{
		Overall: location.Rating(overall).String(), Safe: location.Rating(safe).String(),
		Effective: location.Rating(effective).String(), Caring: location.Rating(caring).String(),
		Responsive: location.Rating(responsive).String(), WellLed: location.Rating(wellLed).String(),
	}
	e.LastDailyUpdateAt = projections.TimePtr(last)
	e.DetailsUpdatedAt = details.UTC()
	e.Links = locationLinks(e.LocationID)
	return e, err
}

// dashboardProjections are the read models of the dashboard.
var dashboardProjections = []projections.Projection{
	projections.LocationSearch{}, accounts.Users{}, accounts.PendingApprovals{}, accounts.ApproverCounts{},
}

// mayDashboard reports whether the viewer may see a location's dashboard:
// support, the users with access to it and the Approvers of its
// organisation.
func mayDashboard(v Viewer, locationID, org string) bool {
	return v.approves(org) || slices.Contains(v.Locations, locationID)
}

// dashboardScope is the condition of the locations of a dashboard query:
// the ids asked for (each must exist, else domain.ErrNotFound, and be the
// viewer's to see, else domain.ErrForbidden), or the viewer's own. none
// reports that the viewer has no location at all.
func dashboardScope(ctx context.Context, db projections.Querier, v Viewer, ids []string) (w projections.Where, none bool, err error) {
	if len(ids) == 0 {
		if v.Support {
			return w, false, nil
		}
		if len(v.Locations) == 0 {
			return w, true, nil
		}
		w.Add(`location_id IN (`+projections.Marks(len(v.Locations))+`)`, anys(v.Locations)...)
		return w, false, nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	rows, err := db.QueryContext(ctx, `SELECT location_id, organisation_id FROM `+projections.SearchLocationsTable+
		` WHERE location_id IN (`+projections.Marks(len(ids))+`)`, anys(ids)...)
	type owned struct{ location, org string }
	found, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (owned, error) {
		var o owned
		err := rows.Scan(&o.location, &o.org)
		return o, err
	})
	if err != nil {
		return w, false, err
	}
	if len(found) < len(ids) {
		return w, false, domain.ErrNotFound
	}
	for _, f := range found {
		if !mayDashboard(v, f.location, f.org) {
			return w, false, domain.ErrForbidden
		}
	}
	w.Add(`location_id IN (`+projections.Marks(len(ids))+`)`, anys(ids)...)
	return w, false, nil
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
	o := order{column: "name_key"}
	var (
		total   int
		entries []DashboardEntry
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		w, none, err := dashboardScope(ctx, db, v, d.LocationIDs)
		if err != nil || none {
			return err
		}
		if entries, total, err = readPage(ctx, db, dashboardColumns, w, o, page, size, func(rows projections.Rows) (DashboardEntry, error) {
			return scanDashboard(rows)
		}); err != nil {
			return err
		}
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
	var w projections.Where
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var none bool
		var err error
		if w, none, err = dashboardScope(ctx, db, v, d.LocationIDs); none {
			w.Add(`1 = 0`)
		}
		return err
	})
	if err != nil {
		return err
	}
	o := order{column: "name_key"}
	return eachKeyset(ctx, q.ReadModels, w, o, func(db projections.Querier, cond projections.Where) ([]DashboardEntry, []any, error) {
		keys := o.keys()
		rows, err := db.QueryContext(ctx, pageSQL(dashboardColumns+", "+strings.Join(keys, ", "), cond, o, streamBatch, 0), cond.Args...)
		var last *projections.KeysetRow
		batch, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (DashboardEntry, error) {
			last = projections.NewKeysetRow(len(keys))
			return scanDashboard(rows, last.Dest()...)
		})
		if err == nil {
			err = completeDashboards(ctx, db, v, d.Now, batch)
		}
		return batch, last.Values(), err
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
type GPPractice struct {
	Code     string `json:"practice_code"`
	Name     string `json:"name"`
	Postcode string `json:"postcode"`
}

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
	var w projections.Where
	w.Add(`type = ?`, string(location.GP))
	words := strings.Fields(key)
	words = words[:min(len(words), maxSearchWords)]
	var conds []string
	var args []any
	for _, word := range words {
		conds = append(conds, `name_key LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscaper.Replace(word)+"%")
	}
	cond := "(" + strings.Join(conds, " AND ")
	if code, err := location.ParseID(strings.ToUpper(strings.TrimSpace(text))); err == nil {
		cond += ` OR organisation_id LIKE ? ESCAPE '\'`
		args = append(args, likeEscaper.Replace(code.String())+"%")
	}
	w.Add(cond+")", args...)
	out := []GPPractice{}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id, name, postcode FROM %s%s
ORDER BY name_key, organisation_id LIMIT %d`, projections.SearchOrganisationsTable, w, limit), w.Args...)
		out, err = projections.Collect(rows, err, out, func(rows projections.Rows) (GPPractice, error) {
			var g GPPractice
			err := rows.Scan(&g.Code, &g.Name, &g.Postcode)
			return g, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search GP practices: %w", err)
	}
	return out, nil
}
