// Package search is the search read model: the views over locations
// (the provider search, Find Capacity; the home care list; the provider
// dashboard; their downloads) and the GP practice search. It owns its
// tables, search_locations (Table: one row per location with everything
// those views show or filter on) and search_organisations
// (OrganisationsTable: its own copy of the organisations), their DDL, its
// fold (Projection) and its read SQL: the filters, sorts, pages and keyset
// walks of the lists (Providers, HomeCare, Dashboards and their ...After
// variants) and the lookups beside them (Owners, OrganisationsOf,
// GPPractices). Who may see what is decided by the caller (package
// queries), which checks a search's input and gives it here as a Filter.
package search

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection is the read model of the views over locations: the
// provider search (Find Capacity), the home care list, the provider
// dashboard and their downloads. Table search_locations has one row per
// location with everything those views show or filter on: its name and
// address as its users keep them (or as CQC and support registered them
// until its users save theirs), its organisation, ownership type,
// regions, contacts (all of them, and the public ones apart), notes,
// linked GP practices, CQC ratings and URLs, PAMMS, what its directory
// lacks, the version of its stream and the time of its latest event.
// Lower-case copies of the text it is searched and sorted by
// (name_key, ...) are made here, in Go, because SQLite's lower() only
// knows ASCII. Table search_organisations is the projection's own copy of
// the organisations (id, name, type, postcode), for the organisation's
// name and type on each location and for the GP practice search.
//
// last_daily_update_at is the time of the location's latest daily
// COVID-19 update (its dailyupdate stream), NULL before the first.
type Projection struct{}

var _ projections.BatchApplier = Projection{}

// Tables of Projection.
const (
	Table              = "search_locations"
	OrganisationsTable = "search_organisations"
)

func (Projection) Name() string { return "search" }

func (Projection) Tables() []string {
	return []string{Table, OrganisationsTable}
}

func (Projection) Schema(d projections.Dialect, table func(string) string) []string {
	l, o := table(Table), table(OrganisationsTable)
	ts := d.TimestampType()
	// Keys compare byte by byte on both backends, so that sorts agree
	// and, on PostgreSQL, a LIKE 'prefix%' can use an index.
	key := "TEXT"
	if d == projections.Postgres {
		key = `TEXT COLLATE "C"`
	}
	idx := func(suffix, cols string) string {
		return fmt.Sprintf(`CREATE INDEX %s_%s ON %s (%s)`, l, suffix, l, cols)
	}
	return []string{
		// The columns searches filter, sort and count on come first, so
		// that a scan reaches them without decoding the rest of the row.
		fmt.Sprintf(`CREATE TABLE %[1]s (
    location_id          %[3]s PRIMARY KEY,
    registration_status  TEXT    NOT NULL,
    -- The free text search's haystack: name, short name and
    -- organisation keys, joined by " | ".
    search_text          %[3]s NOT NULL,
    postcode_compact     %[3]s NOT NULL,
    -- Search and sort keys: lower case, white space collapsed.
    name_key             %[3]s NOT NULL,
    organisation_key     %[3]s NOT NULL,
    nhs_region           %[3]s NOT NULL,
    local_authority_key  %[3]s NOT NULL,
    cqc_region_key       %[3]s NOT NULL,
    ccg_key              %[3]s NOT NULL,
    short_name_key       %[3]s NOT NULL,
    organisation_id      TEXT    NOT NULL,
    organisation_type    TEXT    NOT NULL,
    ownership_type       TEXT    NOT NULL,
    rating_overall       TEXT    NOT NULL,
    rating_rank          INT     NOT NULL,
    last_update_at       %[2]s   NOT NULL,
    version              BIGINT  NOT NULL,
    -- What the views show.
    name                 TEXT    NOT NULL,
    short_name           TEXT    NOT NULL,
    organisation_name    TEXT    NOT NULL,
    address_line1        TEXT    NOT NULL,
    address_line2        TEXT    NOT NULL,
    address_line3        TEXT    NOT NULL,
    address_line4        TEXT    NOT NULL,
    address_line5        TEXT    NOT NULL,
    postcode             TEXT    NOT NULL,
    cqc_region           TEXT    NOT NULL,
    local_authority      TEXT    NOT NULL,
    ccg                  TEXT    NOT NULL,
    dormant              BOOLEAN NOT NULL,
    rating_safe          TEXT    NOT NULL,
    rating_effective     TEXT    NOT NULL,
    rating_caring        TEXT    NOT NULL,
    rating_responsive    TEXT    NOT NULL,
    rating_well_led      TEXT    NOT NULL,
    report_date          TEXT    NOT NULL,
    report_url           TEXT    NOT NULL,
    public_url           TEXT    NOT NULL,
    pamms_rating         TEXT    NOT NULL,
    pamms_report_url     TEXT    NOT NULL,
    pamms_report_date    TEXT    NOT NULL,
    has_manager          BOOLEAN NOT NULL,
    has_email            BOOLEAN NOT NULL,
    address_edited       BOOLEAN NOT NULL,
    -- JSON lists (a contact's phones are a list: ContactAdded.v2).
    contacts             TEXT    NOT NULL,
    public_contacts      TEXT    NOT NULL,
    notes                TEXT    NOT NULL,
    gp_practices         TEXT    NOT NULL,
    -- The latest daily update's submission time; NULL before the first.
    last_daily_update_at %[2]s
)`, l, ts, key),
		// Nearly every search is of the Registered locations (the
		// default), so the indexes lead with the status: a filter is then
		// one index range, which also covers its count. Every sort is
		// (key, name_key, location_id) in one direction, so that a page
		// is an index walk and a download a keyset over the index.
		idx("status_name", "registration_status, name_key, location_id"),
		idx("status_organisation", "registration_status, organisation_key, name_key, location_id"),
		idx("status_postcode", "registration_status, postcode_compact, name_key, location_id"),
		idx("status_nhs_region", "registration_status, nhs_region, name_key, location_id"),
		idx("status_local_authority", "registration_status, local_authority_key, name_key, location_id"),
		idx("status_rating", "registration_status, rating_rank, name_key, location_id"),
		idx("status_last_update", "registration_status, last_update_at, name_key, location_id"),
		// Covers the count of a free text search.
		idx("status_text", "registration_status, search_text, postcode_compact"),
		// Filters without a sort of their own.
		idx("status_organisation_type", "registration_status, organisation_type, name_key, location_id"),
		idx("status_ownership_type", "registration_status, ownership_type, name_key, location_id"),
		idx("status_cqc_region", "registration_status, cqc_region_key, name_key, location_id"),
		idx("status_ccg", "registration_status, ccg_key, name_key, location_id"),
		idx("status_rating_overall", "registration_status, rating_overall, name_key, location_id"),
		// The lists of every status: the home care list and the
		// dashboard (by location id, the primary key, or organisation)
		// and support's walks of every location by name, and by the home
		// care list's other sorts (organisation, NHS region; the region's
		// also its filter), each a page of an index walk.
		idx("organisation_id", "organisation_id, name_key, location_id"),
		idx("name", "name_key, location_id"),
		idx("organisation", "organisation_key, name_key, location_id"),
		idx("nhs_region", "nhs_region, name_key, location_id"),
		// Covers the count of a free text search in a region, of every
		// status (the home care list's filters): without it SQLite read
		// the region's rows themselves to test the text (BENCHMARKS.md).
		idx("nhs_region_text", "nhs_region, search_text"),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    organisation_id %[2]s PRIMARY KEY,
    name            TEXT NOT NULL,
    name_key        %[2]s NOT NULL,
    type            TEXT NOT NULL,
    postcode        TEXT NOT NULL
)`, o, key),
		fmt.Sprintf(`CREATE INDEX %s_type_name ON %s (type, name_key)`, o, o),
	}
}

// QueryIndexes implements QueryIndexer: every secondary index but
// search_locations_organisation_id, which the UPDATE of an organisation's
// locations goes through. Everything else the batch reads or writes goes
// by primary key (an erasure's LIKE over contacts or notes scans the table
// with or without them).
func (s Projection) QueryIndexes(d projections.Dialect, table func(string) string) []string {
	l, o := table(Table), table(OrganisationsTable)
	var names []string
	for _, suffix := range []string{"status_name", "status_organisation", "status_postcode", "status_nhs_region",
		"status_local_authority", "status_rating", "status_last_update", "status_text", "status_organisation_type",
		"status_ownership_type", "status_cqc_region", "status_ccg", "status_rating_overall", "name", "organisation",
		"nhs_region", "nhs_region_text"} {
		names = append(names, l+"_"+suffix)
	}
	return projections.IndexesNamed(s.Schema(d, table), append(names, o+"_type_name")...)
}

// searchTextSeparator joins the parts of search_text; SearchKey never
// leaves it in a word a search looks for (see searchWords).
const searchTextSeparator = " | "

// SearchText is the haystack of the free text search: the keys of the
// name, short name and organisation name.
func SearchText(nameKey, shortNameKey, organisationKey string) string {
	return nameKey + searchTextSeparator + shortNameKey + searchTextSeparator + organisationKey
}

// RatingRank orders CQC's overall ratings best first: Outstanding 1,
// Good 2, Requires improvement 3, Inadequate 4, any other published value
// 5, none (unknown) 6.
func RatingRank(r location.Rating) int {
	switch r {
	case location.RatingOutstanding:
		return 1
	case location.RatingGood:
		return 2
	case location.RatingRequiresImprovement:
		return 3
	case location.RatingInadequate:
		return 4
	case "":
		return 6
	}
	return 5
}

// Apply applies one event of an organisation or location stream.
func (p Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	return p.ApplyBatch(ctx, tx, table, []eventstore.Event{ev})
}

// ApplyBatch implements BatchApplier: it folds the batch's events into the
// rows of the locations they touch, in memory, and writes each row once.
// Organisation events write at once (they touch every location of the
// organisation) and update the rows held in memory too.
func (p Projection) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	return projections.ApplyAroundErasures(evs, false, func(evs []eventstore.Event) error {
		b := newSearchBatch(tx, table)
		for _, ev := range evs {
			if err := b.apply(ctx, ev); err != nil {
				return err
			}
		}
		return b.flush(ctx)
	}, func(ev eventstore.Event, e erasure.PersonErased) error { return p.Erase(ctx, tx, table, ev, e) })
}

func newSearchBatch(tx projections.Tx, table func(string) string) *searchBatch {
	return &searchBatch{tx: tx, l: table(Table), o: table(OrganisationsTable),
		rows: map[string]*searchRow{}, orgs: map[string]*searchOrg{}}
}

// Personal implements Eraser: the contacts of a location's directory (each
// entry names its subject by its contact_id, location.ContactSubject), and
// the name of each note's author (the user added_by).
func (Projection) Personal() []projections.PersonalColumns {
	return []projections.PersonalColumns{
		{Table: Table, Subjects: []string{"contacts[].contact_id"}, Columns: []string{"contacts", "public_contacts"}},
		{Table: Table, Subjects: []string{"notes[].added_by"}, Columns: []string{"notes"}},
	}
}

// Erase implements Eraser: the rows that hold the erased contact, or notes
// of the erased user, are read, their entries redacted as the erased
// events read (every personal field "[erased]", see markErased) and written
// again, with what depends on them (public_contacts, has_email).
func (Projection) Erase(ctx context.Context, tx projections.Tx, table func(string) string, _ eventstore.Event, e erasure.PersonErased) error {
	b := newSearchBatch(tx, table)
	var column, pattern string
	var redact func(r *searchRow)
	switch {
	case e.Kind == erasure.KindContact && e.ContactID != "":
		column, pattern = "contacts", `%"contact_id":"`+e.ContactID+`"%`
		redact = func(r *searchRow) {
			for i := range r.Contacts {
				if r.Contacts[i].ContactID == e.ContactID {
					eraseContact(&r.Contacts[i])
				}
			}
		}
	case e.Kind == erasure.KindUser && e.UserID != "":
		column, pattern = "notes", `%"added_by":"`+e.UserID+`"%`
		redact = func(r *searchRow) {
			for i := range r.Notes {
				if r.Notes[i].AddedBy == e.UserID {
					r.Notes[i].AddedByName = projections.ErasedText
				}
			}
		}
	default:
		return nil
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT location_id FROM %s WHERE %s LIKE ?`, b.l, column), pattern)
	if err != nil {
		return fmt.Errorf("rows of %s: %w", e.Subject, err)
	}
	var ids []string
	if err := projections.ScanAll(rows, func() error {
		var id string
		err := rows.Scan(&id)
		ids = append(ids, id)
		return err
	}); err != nil {
		return fmt.Errorf("rows of %s: %w", e.Subject, err)
	}
	for _, id := range ids {
		r, err := b.load(ctx, id)
		if err != nil {
			return err
		}
		redact(r)
	}
	return b.flush(ctx)
}

// eraseContact redacts a contact's personal fields as its erased events
// read: each sealed field (location.ContactAdded's PersonalPaths) reads
// "[erased]", a list of phones a list holding it; a field that was null
// (no list of phones) was not sealed and stays null.
func eraseContact(c *location.Contact) {
	c.Name, c.Email, c.Address = projections.ErasedText, projections.ErasedText, projections.ErasedText
	if c.Phones != nil {
		c.Phones = []string{projections.ErasedText}
	}
}

// searchRow is a row of search_locations: the location's directory entry
// (folded by location.Directory.Apply, with the organisation's current name
// joined in) and what the views show besides.
type searchRow struct {
	location.Directory
	OrganisationType  string
	OwnershipType     string
	Dormant           bool
	Contacts          []location.Contact
	Notes             []location.Note
	GPPractices       []location.GPLink
	Ratings           location.CQCRatings
	ReportURL         string
	PublicURL         string
	PAMMS             location.PAMMS
	Version           int64
	LastUpdateAt      time.Time
	LastDailyUpdateAt *time.Time
}

// searchOrg is a row of search_organisations.
type searchOrg struct {
	ID, Name, Type, Postcode string
}

// searchBatch holds the rows a batch touches until it writes them.
type searchBatch struct {
	tx    projections.Tx
	l, o  string
	rows  map[string]*searchRow
	order []string // location ids in order of first touch, so writes are deterministic
	orgs  map[string]*searchOrg
}

// searchColumns are the columns written from a searchRow, in the order of
// searchRow.values.
var searchColumns = []string{
	"location_id", "name", "short_name", "organisation_id", "organisation_name", "organisation_type", "ownership_type",
	"address_line1", "address_line2", "address_line3", "address_line4", "address_line5", "postcode", "postcode_compact",
	"nhs_region", "cqc_region", "local_authority", "ccg", "registration_status", "dormant",
	"contacts", "public_contacts", "notes", "gp_practices",
	"rating_overall", "rating_safe", "rating_effective", "rating_caring", "rating_responsive", "rating_well_led", "rating_rank",
	"report_date", "report_url", "public_url", "pamms_rating", "pamms_report_url", "pamms_report_date",
	"has_manager", "has_email", "address_edited", "version", "last_update_at", "last_daily_update_at",
	"name_key", "short_name_key", "organisation_key", "local_authority_key", "ccg_key", "cqc_region_key", "search_text",
}

// jsonList encodes a list, [] when empty.
func jsonList[T any](list []T) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	data, err := json.Marshal(list)
	return string(data), err
}

func (r *searchRow) values(d projections.Dialect) ([]any, error) {
	var public []location.Contact
	hasManager, hasEmail := false, false
	for _, c := range r.Contacts {
		if c.Public {
			public = append(public, c)
		}
		hasManager = hasManager || c.Role == location.RoleManager
		hasEmail = hasEmail || (c.Email != "" && c.Email != projections.ErasedText)
	}
	contacts, err := jsonList(r.Contacts)
	if err != nil {
		return nil, err
	}
	publicContacts, err := jsonList(public)
	if err != nil {
		return nil, err
	}
	notes, err := jsonList(r.Notes)
	if err != nil {
		return nil, err
	}
	gps, err := jsonList(r.GPPractices)
	if err != nil {
		return nil, err
	}
	rt := r.Ratings
	var lastDaily any
	if r.LastDailyUpdateAt != nil {
		lastDaily = d.Time(*r.LastDailyUpdateAt)
	}
	return []any{
		r.LocationID, r.Name, r.ShortName, r.OrganisationID, r.OrganisationName, r.OrganisationType, r.OwnershipType,
		r.Line1, r.Line2, r.Line3, r.Line4, r.Line5, r.Postcode, location.CompactPostcode(r.Postcode),
		r.NHSRegion, r.CQCRegion, r.LocalAuthority, r.CCG, r.Status(), r.Dormant,
		contacts, publicContacts, notes, gps,
		string(rt.Overall), string(rt.Safe), string(rt.Effective), string(rt.Caring), string(rt.Responsive), string(rt.WellLed),
		RatingRank(rt.Overall),
		rt.ReportDate, r.ReportURL, r.PublicURL, r.PAMMS.Rating, r.PAMMS.ReportURL, r.PAMMS.ReportDate,
		hasManager, hasEmail, r.AddressEdited, r.Version, d.Time(r.LastUpdateAt), lastDaily,
		projections.SearchKey(r.Name), projections.SearchKey(r.ShortName), projections.SearchKey(r.OrganisationName), projections.SearchKey(r.LocalAuthority),
		projections.SearchKey(r.CCG), projections.SearchKey(r.CQCRegion), SearchText(projections.SearchKey(r.Name), projections.SearchKey(r.ShortName), projections.SearchKey(r.OrganisationName)),
	}, nil
}

// load reads a location's row, from memory or the table; nil when there
// is none.
func (b *searchBatch) load(ctx context.Context, id string) (*searchRow, error) {
	if r, ok := b.rows[id]; ok {
		return r, nil
	}
	rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT name, short_name, organisation_id, organisation_name,
    organisation_type, ownership_type, address_line1, address_line2, address_line3, address_line4, address_line5,
    postcode, nhs_region, cqc_region, local_authority, ccg, registration_status, dormant, contacts, notes,
    gp_practices, rating_overall, rating_safe, rating_effective, rating_caring, rating_responsive, rating_well_led,
    report_date, report_url, public_url, pamms_rating, pamms_report_url, pamms_report_date, address_edited,
    version, last_update_at, last_daily_update_at
FROM %s WHERE location_id = ?`, b.l), id)
	if err != nil {
		return nil, fmt.Errorf("location %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	r := &searchRow{Directory: location.Directory{LocationID: id}}
	var contacts, notes, gps string
	var overall, safe, effective, caring, responsive, wellLed string
	var last, lastDaily projections.Timestamp
	if err := rows.Scan(&r.Name, &r.ShortName, &r.OrganisationID, &r.OrganisationName, &r.OrganisationType,
		&r.OwnershipType, &r.Line1, &r.Line2, &r.Line3, &r.Line4, &r.Line5, &r.Postcode, &r.NHSRegion, &r.CQCRegion,
		&r.LocalAuthority, &r.CCG, &r.RegistrationStatus, &r.Dormant, &contacts, &notes, &gps,
		&overall, &safe, &effective, &caring, &responsive, &wellLed,
		&r.Ratings.ReportDate, &r.ReportURL, &r.PublicURL, &r.PAMMS.Rating, &r.PAMMS.ReportURL, &r.PAMMS.ReportDate,
		&r.AddressEdited, &r.Version, &last, &lastDaily); err != nil {
		return nil, fmt.Errorf("location %s: %w", id, err)
	}
	r.Ratings.Overall, r.Ratings.Safe, r.Ratings.Effective = location.Rating(overall), location.Rating(safe), location.Rating(effective)
	r.Ratings.Caring, r.Ratings.Responsive, r.Ratings.WellLed = location.Rating(caring), location.Rating(responsive), location.Rating(wellLed)
	r.LastUpdateAt = last.Time
	if !lastDaily.IsZero() {
		t := lastDaily.Time
		r.LastDailyUpdateAt = &t
	}
	for _, f := range []struct {
		data string
		dst  any
	}{{contacts, &r.Contacts}, {notes, &r.Notes}, {gps, &r.GPPractices}} {
		if err := json.Unmarshal([]byte(f.data), f.dst); err != nil {
			return nil, fmt.Errorf("location %s: %w", id, err)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	b.keep(r)
	return r, nil
}

// keep holds a row in memory until flush.
func (b *searchBatch) keep(r *searchRow) {
	b.rows[r.LocationID] = r
	b.order = append(b.order, r.LocationID)
}

// org reads an organisation, from memory or the table; nil when unknown.
func (b *searchBatch) org(ctx context.Context, id string) (*searchOrg, error) {
	if o, ok := b.orgs[id]; ok {
		return o, nil
	}
	rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT name, type, postcode FROM %s WHERE organisation_id = ?`, b.o), id)
	if err != nil {
		return nil, fmt.Errorf("organisation %s: %w", id, err)
	}
	defer rows.Close()
	var o *searchOrg
	if rows.Next() {
		o = &searchOrg{ID: id}
		if err := rows.Scan(&o.Name, &o.Type, &o.Postcode); err != nil {
			return nil, fmt.Errorf("organisation %s: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b.orgs[id] = o
	return o, nil
}

// putOrg writes an organisation, and its name and type onto its
// locations.
func (b *searchBatch) putOrg(ctx context.Context, o searchOrg, locations bool) error {
	b.orgs[o.ID] = &o
	if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (organisation_id, name, name_key, type, postcode)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (organisation_id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
    type = excluded.type, postcode = excluded.postcode`, b.o),
		o.ID, o.Name, projections.SearchKey(o.Name), o.Type, o.Postcode); err != nil {
		return fmt.Errorf("organisation %s: %w", o.ID, err)
	}
	if !locations {
		return nil
	}
	// search_text as SearchText makes it, from the row's other keys.
	if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET organisation_name = ?, organisation_key = ?,
    organisation_type = ?, search_text = name_key || ? || short_name_key || ? || ?
WHERE organisation_id = ?`, b.l), o.Name, projections.SearchKey(o.Name), o.Type, searchTextSeparator, searchTextSeparator,
		projections.SearchKey(o.Name), o.ID); err != nil {
		return fmt.Errorf("organisation %s: locations: %w", o.ID, err)
	}
	for _, r := range b.rows {
		if r.OrganisationID == o.ID {
			r.OrganisationName, r.OrganisationType = o.Name, o.Type
		}
	}
	return nil
}

func (b *searchBatch) apply(ctx context.Context, ev eventstore.Event) error {
	switch ev.Category() {
	case "organisation":
		return b.applyOrganisation(ctx, ev)
	case "location":
		return b.applyLocation(ctx, ev)
	case "dailyupdate":
		return b.applyDailyUpdate(ctx, ev)
	}
	return nil
}

// applyDailyUpdate records when a location last sent its daily update. It
// is not an edit of the location: its version and last update stay.
func (b *searchBatch) applyDailyUpdate(ctx context.Context, ev eventstore.Event) error {
	d, err := dailyupdate.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	e, ok := d.(dailyupdate.DailyUpdateSubmitted)
	if !ok {
		return nil
	}
	r, err := b.load(ctx, projections.StreamEntity(ev.StreamID))
	if err != nil || r == nil {
		return err
	}
	at := e.SubmittedAt.UTC()
	if at.IsZero() {
		at = ev.RecordedAt
	}
	r.LastDailyUpdateAt = &at
	return nil
}

func (b *searchBatch) applyOrganisation(ctx context.Context, ev eventstore.Event) error {
	d, err := location.Decode(ev.Type, projections.MarkErased(ev))
	if err != nil || d == nil {
		return err
	}
	switch e := d.(type) {
	case location.OrganisationRegistered:
		return b.putOrg(ctx, searchOrg{ID: e.OrganisationID, Name: e.Name, Type: string(e.Type), Postcode: e.Postcode}, true)
	case location.OrganisationRenamed:
		o, err := b.org(ctx, e.OrganisationID)
		if err != nil || o == nil {
			return err
		}
		next := *o
		next.Name = e.After
		return b.putOrg(ctx, next, true)
	case location.OrganisationPostcodeChanged:
		o, err := b.org(ctx, e.OrganisationID)
		if err != nil || o == nil {
			return err
		}
		next := *o
		next.Postcode = e.After
		return b.putOrg(ctx, next, false)
	}
	return nil
}

func (b *searchBatch) applyLocation(ctx context.Context, ev eventstore.Event) error {
	id := projections.StreamEntity(ev.StreamID)
	d, err := location.Decode(ev.Type, projections.MarkErased(ev))
	if err != nil {
		return err
	}
	r, err := b.load(ctx, id)
	if err != nil {
		return err
	}
	if r == nil {
		if !location.StartsLocation(d) {
			return nil
		}
		r = &searchRow{Directory: location.Directory{LocationID: id}}
		b.keep(r)
	}
	if err := b.fold(ctx, r, d); err != nil {
		return err
	}
	// Any event of the stream, including those of types this code does
	// not know yet, is an update of the location.
	r.Version, r.LastUpdateAt = ev.Version, ev.RecordedAt
	return nil
}

// fold applies a location event to its row: its directory entry as
// location.EvolveLocation folds it (location.Directory.Apply), and the
// rest of what the views show.
func (b *searchBatch) fold(ctx context.Context, r *searchRow, ev any) error {
	r.Directory = r.Directory.Apply(ev)
	switch e := ev.(type) {
	case location.LocationRegistered:
		return b.joinOrg(ctx, r)
	case location.CQCLocationImported:
		rec := e.Record
		r.Dormant = rec.Dormant
		r.Ratings, r.ReportURL, r.PublicURL = rec.Ratings, rec.ReportURL, rec.PublicURL
		return b.joinOrg(ctx, r)
	case location.CQCDetailsChanged:
		for _, c := range e.Changes {
			if v, ok := c.After.(string); ok && c.Field == "public_url" {
				r.PublicURL = v
			}
		}
	case location.CQCRatingsChanged:
		// The report's URL is built from CQC's ids, as the location's
		// own state builds it.
		l := location.EvolveLocation(location.Location{CQC: location.CQCRecord{LocationID: r.LocationID}}, e)
		r.Ratings, r.ReportURL = e.After, l.CQC.ReportURL
	case location.LocationDormancyChanged:
		r.Dormant = e.Dormant
	case location.ContactAdded:
		r.Contacts = append(r.Contacts, e.Contact)
	case location.ContactUpdated:
		for i := range r.Contacts {
			if r.Contacts[i].ContactID == e.ContactID {
				r.Contacts[i] = e.After
				r.Contacts[i].ContactID = e.ContactID
			}
		}
	case location.ContactRemoved:
		r.Contacts = slices.DeleteFunc(r.Contacts, func(c location.Contact) bool { return c.ContactID == e.ContactID })
	case location.GPPracticeLinked:
		r.GPPractices = append(slices.DeleteFunc(r.GPPractices, func(g location.GPLink) bool {
			return g.PracticeCode == e.Practice.PracticeCode
		}), e.Practice)
	case location.GPPracticeUnlinked:
		r.GPPractices = slices.DeleteFunc(r.GPPractices, func(g location.GPLink) bool {
			return g.PracticeCode == e.Practice.PracticeCode
		})
	case location.OwnershipTypeChanged:
		r.OwnershipType = e.After
	case location.NoteAdded:
		r.Notes = append(r.Notes, e.Note)
	case location.NoteEdited:
		for i := range r.Notes {
			if r.Notes[i].NoteID == e.NoteID {
				r.Notes[i].Text, r.Notes[i].EditedAt = e.After, e.EditedAt
			}
		}
	case location.NoteDeleted:
		r.Notes = slices.DeleteFunc(r.Notes, func(n location.Note) bool { return n.NoteID == e.NoteID })
	case location.PAMMSChanged:
		r.PAMMS = e.After
	}
	return nil
}

// joinOrg copies the type of the row's organisation onto it, and its name
// when the location's events named none.
func (b *searchBatch) joinOrg(ctx context.Context, r *searchRow) error {
	o, err := b.org(ctx, r.OrganisationID)
	if err != nil || o == nil {
		return err
	}
	r.OrganisationType = o.Type
	if r.OrganisationName == "" {
		r.OrganisationName = o.Name
	}
	return nil
}

// flush writes the rows the batch touched.
func (b *searchBatch) flush(ctx context.Context) error {
	d := b.tx.Dialect()
	sets := make([]string, 0, len(searchColumns)-1)
	for _, c := range searchColumns[1:] {
		sets = append(sets, c+" = excluded."+c)
	}
	stmt := fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)
ON CONFLICT (location_id) DO UPDATE SET %s`, b.l, strings.Join(searchColumns, ", "),
		strings.TrimSuffix(strings.Repeat("?, ", len(searchColumns)), ", "), strings.Join(sets, ", "))
	for _, id := range b.order {
		vals, err := b.rows[id].values(d)
		if err != nil {
			return fmt.Errorf("location %s: %w", id, err)
		}
		if _, err := b.tx.ExecContext(ctx, stmt, vals...); err != nil {
			return fmt.Errorf("location %s: %w", id, err)
		}
	}
	return nil
}
