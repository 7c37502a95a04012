package search

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections"
)

// The read side of the view: the lists over search_locations (the
// provider search, the home care list, the provider dashboard), each read
// either as a page with the count of every matching row (Providers,
// HomeCare, Dashboards) or as a batch of a keyset walk that continues
// after a row's sort keys (ProvidersAfter, HomeCareAfter,
// DashboardsAfter), and the lookups beside them (Owners, OrganisationsOf,
// GPPractices). The caller checks its input, decides what its viewer may
// see, and pages.

// Filter selects locations of search_locations; the zero Filter selects
// every one. Its values are taken as they are (the caller checks them),
// but for the text ones that are compared as search keys.
type Filter struct {
	// Text matches when every word of it (as SearchKey, at most
	// maxSearchWords of them) is somewhere in the name, short name or
	// organisation name, or when it is the start of the postcode.
	Text             string
	OrganisationID   string
	OrganisationType location.OrganisationType
	OwnershipType    string
	NHSRegion        string
	// CQCRegion, LocalAuthority and CCG match the whole value, compared
	// as SearchKey.
	CQCRegion, LocalAuthority, CCG string
	// PostcodePrefix is the start of the postcode, as PostcodePrefix
	// makes it.
	PostcodePrefix string
	// Rating, when set, is the overall CQC rating ("" for none).
	Rating *location.Rating
	// RegistrationStatus is the one status selected; "" selects every
	// status.
	RegistrationStatus string
	// OnlyLocations restricts the selection to Locations (to nothing
	// when there are none).
	OnlyLocations bool
	Locations     []string
}

// where is the filter's WHERE clause.
func (f Filter) where() projections.Where {
	var w projections.Where
	addText(&w, f.Text)
	if f.OrganisationID != "" {
		w.Add(`organisation_id = ?`, f.OrganisationID)
	}
	if f.OrganisationType != "" {
		w.Add(`organisation_type = ?`, string(f.OrganisationType))
	}
	if f.OwnershipType != "" {
		w.Add(`ownership_type = ?`, f.OwnershipType)
	}
	if f.NHSRegion != "" {
		w.Add(`nhs_region = ?`, f.NHSRegion)
	}
	for _, c := range []struct{ column, value string }{
		{"cqc_region_key", f.CQCRegion}, {"local_authority_key", f.LocalAuthority}, {"ccg_key", f.CCG},
	} {
		if k := projections.SearchKey(c.value); k != "" {
			w.Add(c.column+` = ?`, k)
		}
	}
	if f.PostcodePrefix != "" {
		w.Add(`postcode_compact LIKE ?`, f.PostcodePrefix+"%")
	}
	if f.Rating != nil {
		w.Add(`rating_overall = ?`, string(*f.Rating))
	}
	if f.RegistrationStatus != "" {
		w.Add(`registration_status = ?`, f.RegistrationStatus)
	}
	if f.OnlyLocations {
		if len(f.Locations) == 0 {
			w.Add(`1 = 0`)
		} else {
			w.Add(`location_id IN (`+projections.Marks(len(f.Locations))+`)`, projections.AnyList(f.Locations)...)
		}
	}
	return w
}

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
	if pc := PostcodePrefix(text); pc != "" {
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

// PostcodePrefix is the start of a postcode as a search key: upper case
// letters and digits only; "" when s holds anything else but spaces.
func PostcodePrefix(s string) string {
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

// Sorts are the sort keys of the lists, in the order the pages offer
// them.
func Sorts() []string {
	return []string{"name", "organisation", "postcode", "nhs_region", "local_authority", "overall_rating", "last_update"}
}

// sortColumns are the columns of each sort key.
var sortColumns = map[string]string{
	"name": "name_key", "organisation": "organisation_key", "postcode": "postcode_compact", "nhs_region": "nhs_region",
	"local_authority": "local_authority_key", "overall_rating": "rating_rank", "last_update": "last_update_at",
}

// Order is a list's sort: Sort, one of Sorts ("" or any other value is
// "name"), ascending or (Desc) descending. Ties are broken by name, then
// location id, in the same direction.
type Order struct {
	Sort string
	Desc bool
}

// column is the sort's key column.
func (o Order) column() string {
	if c, ok := sortColumns[o.Sort]; ok {
		return c
	}
	return "name_key"
}

// keys are the columns of the sort, in order; the last two break ties.
func (o Order) keys() []string {
	c := o.column()
	if c == "name_key" {
		return []string{"name_key", "location_id"}
	}
	return []string{c, "name_key", "location_id"}
}

func (o Order) orderBy() string {
	dir := ""
	if o.Desc {
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
func (o Order) after(last []any) (string, []any) {
	op := ">"
	if o.Desc {
		op = "<"
	}
	keys := o.keys()
	return fmt.Sprintf("(%s) %s (%s)", strings.Join(keys, ", "), op, projections.Marks(len(keys))), last
}

// pageSQL selects the columns cols of a page of the locations that
// match w, in the order o.
func pageSQL(cols string, w projections.Where, o Order, limit, offset int) string {
	t := Table
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

// readPage reads a page (from 1) of size locations that match f in the
// order o, and counts them all. A first page that is not full holds them
// all: its count needs no query of its own.
func readPage[T any](ctx context.Context, db projections.Querier, cols string, f Filter, o Order, page, size int,
	scan func(projections.Rows, ...any) (T, error)) ([]T, int, error) {
	w := f.where()
	rows, err := db.QueryContext(ctx, pageSQL(cols, w, o, size, (page-1)*size), w.Args...)
	entries, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (T, error) { return scan(rows) })
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
	return projections.CountRows(ctx, db, `SELECT count(*) FROM `+Table+w.String(), w.Args...)
}

// readAfter reads up to limit locations that match f, in the order o,
// after the row whose sort keys are after (nil: from the first), and
// returns them with the sort keys of the last (nil without rows), which
// the next batch continues after.
func readAfter[T any](ctx context.Context, db projections.Querier, cols string, f Filter, o Order, after []any, limit int,
	scan func(projections.Rows, ...any) (T, error)) ([]T, []any, error) {
	w := f.where()
	if after != nil {
		c, args := o.after(after)
		w.Add(c, args...)
	}
	keys := o.keys()
	rows, err := db.QueryContext(ctx, pageSQL(cols+", "+strings.Join(keys, ", "), w, o, limit, 0), w.Args...)
	var last *projections.KeysetRow
	batch, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (T, error) {
		last = projections.NewKeysetRow(len(keys))
		return scan(rows, last.Dest()...)
	})
	return batch, last.Values(), err
}

// --- the provider search ---------------------------------------------------

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

// ratings shows the stored ratings.
func ratings(overall, safe, effective, caring, responsive, wellLed string) Ratings {
	return Ratings{
		Overall: location.Rating(overall).String(), Safe: location.Rating(safe).String(),
		Effective: location.Rating(effective).String(), Caring: location.Rating(caring).String(),
		Responsive: location.Rating(responsive).String(), WellLed: location.Rating(wellLed).String(),
	}
}

// Note is an entry of a location's note log as the search shows it. The
// author's name is shown to those who see the location in full.
type Note struct {
	NoteID      string     `json:"note_id"`
	Text        string     `json:"text"`
	AddedAt     time.Time  `json:"added_at"`
	AddedByName string     `json:"added_by_name,omitempty"`
	EditedAt    *time.Time `json:"edited_at,omitempty"`
}

// Provider is a location as the provider search shows it.
type Provider struct {
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
	// those who see the location in full.
	Contacts          []location.Contact `json:"contacts"`
	AllContacts       bool               `json:"all_contacts"`
	Notes             []Note             `json:"notes"`
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

// providerColumns are the columns scanProvider reads.
const providerColumns = `location_id, name, short_name, organisation_id, organisation_name, organisation_type, ownership_type,
    address_line1, address_line2, address_line3, address_line4, address_line5, postcode, nhs_region, cqc_region,
    local_authority, ccg, registration_status, dormant, contacts, public_contacts, notes, gp_practices,
    rating_overall, rating_safe, rating_effective, rating_caring, rating_responsive, rating_well_led,
    report_date, report_url, public_url, pamms_rating, pamms_report_url, pamms_report_date, version,
    last_update_at, last_daily_update_at`

// scanProvider reads a row of providerColumns followed by extra columns
// (the sort keys of a keyset). full reports whether the reader sees the
// location in full (all its contacts, the authors of its notes); nil is
// never.
func scanProvider(rows projections.Rows, full func(locationID string) bool, extra ...any) (Provider, error) {
	var (
		p                                                     Provider
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
	p.AllContacts = full != nil && full(p.LocationID)
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
	p.Notes = make([]Note, len(rawNotes))
	for i, n := range rawNotes {
		p.Notes[i] = Note{NoteID: n.NoteID, Text: n.Text, AddedAt: n.AddedAt}
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
	p.Ratings = ratings(overall, safe, effective, caring, responsive, wellLed)
	p.LastUpdateAt, p.LastDailyUpdateAt = lastUpdate.Time, projections.TimePtr(lastDaily)
	return p, nil
}

// Providers reads a page (from 1) of size locations of the provider
// search that match f, in the order o, with the count of them all. full
// reports whether the reader sees a location in full: all its contacts
// and the authors of its notes, rather than its public contacts only.
func Providers(ctx context.Context, db projections.Querier, f Filter, o Order, page, size int,
	full func(locationID string) bool) ([]Provider, int, error) {
	return readPage(ctx, db, providerColumns, f, o, page, size, func(rows projections.Rows, _ ...any) (Provider, error) {
		return scanProvider(rows, full)
	})
}

// ProvidersAfter reads up to limit locations of the provider search that
// match f, in the order o, after the row whose sort keys are after (nil:
// from the first), shaped as Providers shapes them, and returns the sort
// keys of the last one (nil without rows): the batch of a keyset walk.
func ProvidersAfter(ctx context.Context, db projections.Querier, f Filter, o Order, after []any, limit int,
	full func(locationID string) bool) ([]Provider, []any, error) {
	return readAfter(ctx, db, providerColumns, f, o, after, limit, func(rows projections.Rows, keys ...any) (Provider, error) {
		return scanProvider(rows, full, keys...)
	})
}

// --- the home care list ------------------------------------------------------

// HomeCareRow is a location as the home care list reads it.
type HomeCareRow struct {
	LocationID string
	Name       string
	Postcode   string
	// PostcodeCompact is the postcode upper case, without spaces.
	PostcodeCompact    string
	OrganisationID     string
	OrganisationName   string
	OwnershipType      string
	NHSRegion          string
	RegistrationStatus string
}

const homeCareColumns = `location_id, name, postcode, postcode_compact, organisation_id, organisation_name, ownership_type,
    nhs_region, registration_status`

func scanHomeCare(rows projections.Rows, extra ...any) (HomeCareRow, error) {
	var r HomeCareRow
	err := rows.Scan(append([]any{&r.LocationID, &r.Name, &r.Postcode, &r.PostcodeCompact, &r.OrganisationID,
		&r.OrganisationName, &r.OwnershipType, &r.NHSRegion, &r.RegistrationStatus}, extra...)...)
	return r, err
}

// HomeCare reads a page (from 1) of size locations of the home care list
// that match f, in the order o, with the count of them all.
func HomeCare(ctx context.Context, db projections.Querier, f Filter, o Order, page, size int) ([]HomeCareRow, int, error) {
	return readPage(ctx, db, homeCareColumns, f, o, page, size, scanHomeCare)
}

// HomeCareAfter reads up to limit locations of the home care list that
// match f, in the order o, after the row whose sort keys are after (nil:
// from the first), and returns the sort keys of the last one (nil
// without rows).
func HomeCareAfter(ctx context.Context, db projections.Querier, f Filter, o Order, after []any, limit int) ([]HomeCareRow, []any, error) {
	return readAfter(ctx, db, homeCareColumns, f, o, after, limit, scanHomeCare)
}

// Organisation is an organisation a list may be filtered by.
type Organisation struct {
	OrganisationID string `json:"organisation_id"`
	Name           string `json:"name"`
}

// OrganisationsOf reads the organisations of the locations, each once,
// by name (then id).
func OrganisationsOf(ctx context.Context, db projections.Querier, locationIDs []string) ([]Organisation, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT organisation_id, organisation_name, organisation_key FROM `+
		Table+` WHERE location_id IN (`+projections.Marks(len(locationIDs))+`)
			ORDER BY organisation_key, organisation_id`, projections.AnyList(locationIDs)...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (Organisation, error) {
		var o Organisation
		var key string
		return o, rows.Scan(&o.OrganisationID, &o.Name, &key)
	})
}

// --- the provider dashboard -----------------------------------------------------

// DashboardRow is a location as the provider dashboard reads it.
type DashboardRow struct {
	LocationID       string
	Name             string
	Postcode         string
	OrganisationID   string
	OrganisationName string
	// HasManager: a contact is the Manager; HasEmail: a contact has an
	// email.
	HasManager, HasEmail bool
	Ratings              Ratings
	ReportDate           string
	ReportURL            string
	// LastDailyUpdateAt is the time of the latest daily update, nil
	// before the first.
	LastDailyUpdateAt *time.Time
	// DetailsUpdatedAt is the time of the location's latest event.
	DetailsUpdatedAt time.Time
}

const dashboardColumns = `location_id, name, postcode, organisation_id, organisation_name, has_manager, has_email,
    rating_overall, rating_safe, rating_effective, rating_caring, rating_responsive, rating_well_led,
    report_date, report_url, last_daily_update_at, last_update_at`

func scanDashboard(rows projections.Rows, extra ...any) (DashboardRow, error) {
	var (
		r                                                     DashboardRow
		overall, safe, effective, caring, responsive, wellLed string
		last, details                                         projections.Timestamp
	)
	err := rows.Scan(append([]any{&r.LocationID, &r.Name, &r.Postcode, &r.OrganisationID, &r.OrganisationName,
		&r.HasManager, &r.HasEmail, &overall, &safe, &effective, &caring, &responsive, &wellLed,
		&r.ReportDate, &r.ReportURL, &last, &details}, extra...)...)
	r.Ratings = ratings(overall, safe, effective, caring, responsive, wellLed)
	r.LastDailyUpdateAt = projections.TimePtr(last)
	r.DetailsUpdatedAt = details.UTC()
	return r, err
}

// Dashboards reads a page (from 1) of size locations of the dashboard
// that match f, by name, with the count of them all.
func Dashboards(ctx context.Context, db projections.Querier, f Filter, page, size int) ([]DashboardRow, int, error) {
	return readPage(ctx, db, dashboardColumns, f, Order{}, page, size, scanDashboard)
}

// DashboardsAfter reads up to limit locations of the dashboard that match
// f, by name, after the row whose sort keys are after (nil: from the
// first), and returns the sort keys of the last one (nil without rows).
func DashboardsAfter(ctx context.Context, db projections.Querier, f Filter, after []any, limit int) ([]DashboardRow, []any, error) {
	return readAfter(ctx, db, dashboardColumns, f, Order{}, after, limit, scanDashboard)
}

// Owner is a location and its organisation.
type Owner struct {
	LocationID     string
	OrganisationID string
}

// Owners reads the organisation of each of the locations that exists (a
// location unknown to the view has no row).
func Owners(ctx context.Context, db projections.Querier, locationIDs []string) ([]Owner, error) {
	rows, err := db.QueryContext(ctx, `SELECT location_id, organisation_id FROM `+Table+
		` WHERE location_id IN (`+projections.Marks(len(locationIDs))+`)`, projections.AnyList(locationIDs)...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (Owner, error) {
		var o Owner
		err := rows.Scan(&o.LocationID, &o.OrganisationID)
		return o, err
	})
}

// --- GP practices ---------------------------------------------------------------

// GPPractice is a GP practice (an organisation of type GP) as the Linked
// GP Practices search finds it.
type GPPractice struct {
	Code     string `json:"practice_code"`
	Name     string `json:"name"`
	Postcode string `json:"postcode"`
}

// GPPractices reads up to limit GP practices whose name holds every word
// of text (as SearchKey, at most maxSearchWords of them), or whose
// practice code starts with it, by name (then code). It is never nil.
func GPPractices(ctx context.Context, db projections.Querier, text string, limit int) ([]GPPractice, error) {
	var w projections.Where
	w.Add(`type = ?`, string(location.GP))
	words := strings.Fields(projections.SearchKey(text))
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
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id, name, postcode FROM %s%s
ORDER BY name_key, organisation_id LIMIT %d`, OrganisationsTable, w, limit), w.Args...)
	return projections.Collect(rows, err, []GPPractice{}, func(rows projections.Rows) (GPPractice, error) {
		var g GPPractice
		err := rows.Scan(&g.Code, &g.Name, &g.Postcode)
		return g, err
	})
}
