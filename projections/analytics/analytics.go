// Package analytics is the analytics read model: the effective daily
// update of every location and day, the totals of every day per area, the
// days each location was expected to submit, and what the view keeps of
// the locations and organisations. It owns its tables' DDL, its fold
// (Projection), its writes and its read SQL (Totals, ExpectedLocations,
// Locations, CountLocations, LocationsAfter, Latest, Compliance,
// CountCompliance, ComplianceAfter, Areas).
//
// Its tables: analytics_organisations (OrganisationsTable),
// analytics_locations (LocationsTable), analytics_location_periods
// (PeriodsTable), analytics_daily_location (DailyLocationTable) and
// analytics_daily_area (DailyAreaTable). Analysts read them with SQL too,
// so their columns are part of the product (see the README).
package analytics

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection is the read model of the analytics view: the effective daily
// update of every location and day, and the totals of every day per
// area, kept up to date as updates arrive (a later submission of the same
// location and day supersedes the earlier one: its contribution is taken
// off the totals and the new one added). Analysts read these tables with
// SQL too, so their columns are part of the product (see the README).
//
//   - analytics_organisations: the projection's own copy of the
//     organisations (id, name, type).
//   - analytics_locations: one row per location with what the view needs
//     of it: name, organisation, areas (NHS region, local authority, CCG),
//     registration status, the day it became known, the day of its current
//     deregistration, and the last day it submitted (empty before its first
//     update).
//   - analytics_location_periods: the days each location was expected to
//     submit, and in which areas: (from_day, to_day) spans, to_day
//     inclusive and NULL while open. The share of locations that submitted
//     is computed at query time from these (see below).
//   - analytics_daily_location: per (location, day) the effective answers,
//     the areas they count in, when and at which log position the
//     effective submission was made, and how many submissions the day had.
//   - analytics_daily_area: per (area_type, area, day) the totals of the
//     effective updates: area_type is england (with an empty area),
//     nhs_region, local_authority or ccg.
//
// # Days and areas
//
// Days are Europe/London calendar days, as text "YYYY-MM-DD". A daily
// update is of the day its event names. A change of a location (its
// registration, deregistration, a move to another area) happens on the
// London day of the event's recorded_at, never earlier than the location's
// previous change.
//
// A location is expected to submit on every day it was registered at some
// moment (registered when it became known, until CQC deregistered it; the
// day of the deregistration still counts), and it counts in the area it is
// in at the end of the day (now, for today). Its updates count in the same
// area: a move on day M moves the updates of day M and later to the new
// area, and those of earlier days stay where they were. An update of a
// day the location was not expected on (it cannot be made through the
// commands) counts in the location's area at the time.
//
// The denominators of the share (locations expected per area and day) are
// not stored: a day with no event would have to write a row for every
// area. They are counted at query time from analytics_location_periods,
// which holds a few rows per location.
type Projection struct{}

var _ projections.BatchApplier = Projection{}

// Tables of Projection.
const (
	OrganisationsTable = "analytics_organisations"
	LocationsTable     = "analytics_locations"
	PeriodsTable       = "analytics_location_periods"
	DailyLocationTable = "analytics_daily_location"
	DailyAreaTable     = "analytics_daily_area"
)

// The area types of analytics_daily_area.
const (
	AreaEngland        = "england"
	AreaNHSRegion      = "nhs_region"
	AreaLocalAuthority = "local_authority"
	AreaCCG            = "ccg"
)

// AreaTypes lists the area types, England first.
func AreaTypes() []string { return []string{AreaEngland, AreaNHSRegion, AreaLocalAuthority, AreaCCG} }

func (Projection) Name() string { return "analytics" }

func (Projection) Tables() []string {
	return []string{OrganisationsTable, LocationsTable, PeriodsTable,
		DailyLocationTable, DailyAreaTable}
}

func (Projection) Schema(d projections.Dialect, table func(string) string) []string {
	o, l, p := table(OrganisationsTable), table(LocationsTable), table(PeriodsTable)
	dl, da := table(DailyLocationTable), table(DailyAreaTable)
	// Keys compare byte by byte on both backends (days, areas, ids).
	key := "TEXT"
	if d == projections.Postgres {
		key = `TEXT COLLATE "C"`
	}
	idx := func(t, suffix, cols string) string {
		return fmt.Sprintf(`CREATE INDEX %s_%s ON %s (%s)`, t, suffix, t, cols)
	}
	return []string{
		fmt.Sprintf(`CREATE TABLE %[1]s (
    organisation_id %[2]s PRIMARY KEY,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL
)`, o, key),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    location_id         %[2]s PRIMARY KEY,
    name                TEXT    NOT NULL,
    -- Sort key of the name: lower case, white space collapsed.
    name_key            %[2]s NOT NULL,
    -- The location's users saved its name: CQC's no longer replaces it.
    name_edited         BOOLEAN NOT NULL,
    organisation_id     %[2]s NOT NULL,
    organisation_name   TEXT    NOT NULL,
    organisation_type   TEXT    NOT NULL,
    nhs_region          %[2]s NOT NULL,
    local_authority     %[2]s NOT NULL,
    ccg                 %[2]s NOT NULL,
    registration_status TEXT    NOT NULL,
    -- Expected to submit: not deregistered.
    registered          BOOLEAN NOT NULL,
    registered_on       %[2]s NOT NULL,
    deregistered_on     %[2]s,
    -- '' until the first update, so that "not since" is one range.
    last_submitted_day  %[2]s NOT NULL
)`, l, key),
		idx(l, "organisation", "organisation_id"),
		// The compliance list: the registered locations whose last update
		// is before a day are one index range (the few that have not
		// submitted; an area filters them, and they are sorted by name
		// after). Every update rewrites its location's row, so the table
		// has no more indexes than it needs.
		idx(l, "registered_last", "registered, last_submitted_day"),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    location_id     %[2]s NOT NULL,
    from_day        %[2]s NOT NULL,
    -- The last day of the span (inclusive); NULL while it lasts.
    to_day          %[2]s,
    nhs_region      %[2]s NOT NULL,
    local_authority %[2]s NOT NULL,
    ccg             %[2]s NOT NULL,
    PRIMARY KEY (location_id, from_day)
)`, p, key),
		// The denominators of an area: spans counted by first and last day.
		idx(p, "days", "from_day, to_day"),
		idx(p, "nhs_region", "nhs_region, from_day, to_day"),
		idx(p, "local_authority", "local_authority, from_day, to_day"),
		idx(p, "ccg", "ccg, from_day, to_day"),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    location_id       %[2]s NOT NULL,
    day               %[2]s NOT NULL,
    nhs_region        %[2]s NOT NULL,
    local_authority   %[2]s NOT NULL,
    ccg               %[2]s NOT NULL,
    service_users     INT     NOT NULL,
    confirmed         INT     NOT NULL,
    suspected         INT     NOT NULL,
    care_staff        INT     NOT NULL,
    staff_absent      INT     NOT NULL,
    ppe               TEXT    NOT NULL,
    can_provide_extra BOOLEAN NOT NULL,
    extra_hours       INT     NOT NULL,
    other_issues      TEXT    NOT NULL,
    no_change         BOOLEAN NOT NULL,
    upload_id         TEXT    NOT NULL,
    submitted_at      %[3]s   NOT NULL,
    position          BIGINT  NOT NULL,
    submissions       INT     NOT NULL,
    PRIMARY KEY (location_id, day)
)`, dl, key, d.TimestampType()),
		// Per-location lists and downloads: by day, then location, in an
		// area or all of England.
		idx(dl, "day", "day, location_id"),
		idx(dl, "nhs_region", "nhs_region, day, location_id"),
		idx(dl, "local_authority", "local_authority, day, location_id"),
		idx(dl, "ccg", "ccg, day, location_id"),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    area_type                TEXT   NOT NULL,
    area                     %[2]s NOT NULL,
    day                      %[2]s NOT NULL,
    locations_submitted      BIGINT NOT NULL,
    service_users            BIGINT NOT NULL,
    confirmed                BIGINT NOT NULL,
    suspected                BIGINT NOT NULL,
    care_staff               BIGINT NOT NULL,
    staff_absent             BIGINT NOT NULL,
    locations_offering_extra BIGINT NOT NULL,
    extra_hours              BIGINT NOT NULL,
    ppe_more_than_week       BIGINT NOT NULL,
    ppe_three_days_to_week   BIGINT NOT NULL,
    ppe_two_days_or_less     BIGINT NOT NULL,
    PRIMARY KEY (area_type, area, day)
)`, da, key),
	}
}

// QueryIndexes implements QueryIndexer: the indexes of the lists and
// denominators. Not analytics_locations_organisation (the UPDATE of an
// organisation's locations goes through it) nor analytics_daily_location_day
// (the batch reads a day's rows of a range of locations through it); the
// other reads and writes go by primary key.
func (a Projection) QueryIndexes(d projections.Dialect, table func(string) string) []string {
	l, p, dl := table(LocationsTable), table(PeriodsTable), table(DailyLocationTable)
	return projections.IndexesNamed(a.Schema(d, table), l+"_registered_last",
		p+"_days", p+"_nhs_region", p+"_local_authority", p+"_ccg",
		dl+"_nhs_region", dl+"_local_authority", dl+"_ccg")
}

// Apply applies one event of a location, organisation or daily update
// stream.
func (p Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	return p.ApplyBatch(ctx, tx, table, []eventstore.Event{ev})
}

// ApplyBatch implements projections.BatchApplier: it reads the rows the batch touches
// in a few queries, folds the events into them in memory, in log order,
// and writes each changed row once, many rows per statement. The totals
// of analytics_daily_area are changed by adding the batch's deltas.
func (Projection) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	b := newAnalyticsBatch(tx, table)
	decoded := make([]any, len(evs))
	for i, ev := range evs {
		d, err := decodeAnalytics(ev)
		if err != nil {
			return fmt.Errorf("event %d (%s): %w", ev.Position, ev.Type, err)
		}
		decoded[i] = d
	}
	if err := b.prefetch(ctx, evs, decoded); err != nil {
		return err
	}
	for i, ev := range evs {
		if decoded[i] == nil {
			continue
		}
		if err := b.apply(ctx, ev, decoded[i]); err != nil {
			return fmt.Errorf("event %d (%s): %w", ev.Position, ev.Type, err)
		}
	}
	return b.flush(ctx)
}

// decodeAnalytics decodes the events the view follows; nil for the others.
func decodeAnalytics(ev eventstore.Event) (any, error) {
	switch ev.Category() {
	case "location", "organisation":
		return location.Decode(ev.Type, ev.Data)
	case "dailyupdate":
		return dailyupdate.Decode(ev.Type, ev.Data)
	}
	return nil, nil
}

// --- rows ----------------------------------------------------------------

// analyticsArea is where a location is: its NHS region, local authority
// and CCG ("" when unknown).
type analyticsArea struct{ Region, LocalAuthority, CCG string }

// keys are the area rows a location's update counts in.
func (a analyticsArea) keys(day string) [4]areaKey {
	return [4]areaKey{
		{AreaEngland, "", day}, {AreaNHSRegion, a.Region, day},
		{AreaLocalAuthority, a.LocalAuthority, day}, {AreaCCG, a.CCG, day},
	}
}

// areaKey is the primary key of analytics_daily_area.
type areaKey struct{ Type, Area, Day string }

// analyticsPeriod is a row of analytics_location_periods.
type analyticsPeriod struct {
	From, To string // To "" while open
	Area     analyticsArea
}

// covers reports whether the period includes day.
func (p analyticsPeriod) covers(day string) bool {
	return p.From <= day && (p.To == "" || day <= p.To)
}

// analyticsOrg is a row of analytics_organisations.
type analyticsOrg struct{ ID, Name, Type string }

// analyticsLocation is a row of analytics_locations with its periods: the
// parts of the location's directory entry the view keeps (folded by
// location.Directory.Apply, with the organisation's current name joined
// in), and the days of its registration and updates.
type analyticsLocation struct {
	location.Directory
	OrgType                    string
	RegisteredOn               string
	DeregisteredOn             string // "" when registered
	LastSubmittedDay           string // "" before the first update
	Periods                    []analyticsPeriod
	dirty, periodsDirty, fresh bool
}

// area is where the location is now.
func (l *analyticsLocation) area() analyticsArea {
	return analyticsArea{Region: l.NHSRegion, LocalAuthority: l.LocalAuthority, CCG: l.CCG}
}

// expected reports whether the location is expected to submit: the
// commands refuse the updates of a deregistered location only.
func (l *analyticsLocation) expected() bool {
	return l.RegistrationStatus != location.StatusDeregistered
}

// last is the location's latest period, nil when it has none.
func (l *analyticsLocation) last() *analyticsPeriod {
	if len(l.Periods) == 0 {
		return nil
	}
	return &l.Periods[len(l.Periods)-1]
}

// areaOn is the area an update of day counts in: that of the period that
// covers the day, else the location's current one.
func (l *analyticsLocation) areaOn(day string) analyticsArea {
	for i := len(l.Periods) - 1; i >= 0; i-- {
		if l.Periods[i].covers(day) {
			return l.Periods[i].Area
		}
	}
	return l.area()
}

// analyticsDaily is a row of analytics_daily_location.
type analyticsDaily struct {
	LocationID, Day string
	Area            analyticsArea
	Answers         dailyupdate.Answers
	NoChange        bool
	UploadID        string
	SubmittedAt     time.Time
	Position        int64
	Submissions     int
	dirty           bool
}

// dayKey is the primary key of analytics_daily_location.
type dayKey struct{ LocationID, Day string }

// analyticsTotals are the counters of analytics_daily_area, or a change
// of them.
type analyticsTotals struct {
	Submitted, ServiceUsers, Confirmed, Suspected, CareStaff, StaffAbsent            int64
	OfferingExtra, ExtraHours, PPEMoreThanWeek, PPEThreeDaysToWeek, PPETwoDaysOrLess int64
}

// contribution is what one location's update adds to its areas' totals.
func contribution(a dailyupdate.Answers) analyticsTotals {
	t := analyticsTotals{Submitted: 1, ServiceUsers: int64(a.ServiceUsers), Confirmed: int64(a.Confirmed),
		Suspected: int64(a.Suspected), CareStaff: int64(a.CareStaff), StaffAbsent: int64(a.StaffNotWorking),
		ExtraHours: int64(a.ExtraHoursPerWeek)}
	if a.CanProvideExtra {
		t.OfferingExtra = 1
	}
	switch a.PPE {
	case dailyupdate.PPEMoreThanWeek:
		t.PPEMoreThanWeek = 1
	case dailyupdate.PPEThreeDaysWeek:
		t.PPEThreeDaysToWeek = 1
	case dailyupdate.PPETwoDaysOrLess:
		t.PPETwoDaysOrLess = 1
	}
	return t
}

func (t *analyticsTotals) add(o analyticsTotals, sign int64) {
	t.Submitted += sign * o.Submitted
	t.ServiceUsers += sign * o.ServiceUsers
	t.Confirmed += sign * o.Confirmed
	t.Suspected += sign * o.Suspected
	t.CareStaff += sign * o.CareStaff
	t.StaffAbsent += sign * o.StaffAbsent
	t.OfferingExtra += sign * o.OfferingExtra
	t.ExtraHours += sign * o.ExtraHours
	t.PPEMoreThanWeek += sign * o.PPEMoreThanWeek
	t.PPEThreeDaysToWeek += sign * o.PPEThreeDaysToWeek
	t.PPETwoDaysOrLess += sign * o.PPETwoDaysOrLess
}

func (t analyticsTotals) values() []any {
	return []any{t.Submitted, t.ServiceUsers, t.Confirmed, t.Suspected, t.CareStaff, t.StaffAbsent,
		t.OfferingExtra, t.ExtraHours, t.PPEMoreThanWeek, t.PPEThreeDaysToWeek, t.PPETwoDaysOrLess}
}

// totalsColumns are the counters of analytics_daily_area, in the order of
// analyticsTotals.values.
var totalsColumns = []string{"locations_submitted", "service_users", "confirmed", "suspected", "care_staff",
	"staff_absent", "locations_offering_extra", "extra_hours", "ppe_more_than_week", "ppe_three_days_to_week",
	"ppe_two_days_or_less"}

// --- the batch ---------------------------------------------------------------

// analyticsBatch holds the rows a batch touches until it writes them. A
// nil entry in a map is a row known not to exist.
type analyticsBatch struct {
	tx              projections.Tx
	o, l, p, dl, da string
	orgs            map[string]*analyticsOrg
	locs            map[string]*analyticsLocation
	rows            map[dayKey]*analyticsDaily
	rowsOf          map[string][]string // days in rows, by location
	deltas          map[areaKey]*analyticsTotals
	dirtyLocs       []string // in order of first change
}

func newAnalyticsBatch(tx projections.Tx, table func(string) string) *analyticsBatch {
	return &analyticsBatch{tx: tx,
		o: table(OrganisationsTable), l: table(LocationsTable), p: table(PeriodsTable),
		dl: table(DailyLocationTable), da: table(DailyAreaTable),
		orgs: map[string]*analyticsOrg{}, locs: map[string]*analyticsLocation{}, rows: map[dayKey]*analyticsDaily{},
		rowsOf: map[string][]string{}, deltas: map[areaKey]*analyticsTotals{}}
}

// prefetch reads, in a few queries, the organisations, locations and
// daily rows the batch's events name.
func (b *analyticsBatch) prefetch(ctx context.Context, evs []eventstore.Event, decoded []any) error {
	orgs, locs := map[string]bool{}, map[string]bool{}
	for i, ev := range evs {
		switch e := decoded[i].(type) {
		case dailyupdate.DailyUpdateSubmitted:
			locs[projections.StreamEntity(ev.StreamID)] = true
		case location.OrganisationRegistered:
			orgs[e.OrganisationID] = true
		case location.OrganisationRenamed:
			orgs[e.OrganisationID] = true
		case location.LocationRegistered:
			locs[projections.StreamEntity(ev.StreamID)], orgs[e.OrganisationID] = true, true
		case location.CQCLocationImported:
			locs[projections.StreamEntity(ev.StreamID)], orgs[e.Record.ProviderID] = true, true
		case nil:
		default:
			if ev.Category() == "location" {
				locs[projections.StreamEntity(ev.StreamID)] = true
			}
		}
	}
	if err := b.loadOrgs(ctx, slices.Sorted(maps.Keys(orgs))); err != nil {
		return err
	}
	if err := b.loadLocations(ctx, slices.Sorted(maps.Keys(locs))); err != nil {
		return err
	}
	// The daily rows the batch's updates replace, if they exist.
	updated := map[string][]string{} // day -> location ids
	for i, ev := range evs {
		if e, ok := decoded[i].(dailyupdate.DailyUpdateSubmitted); ok {
			updated[e.Day] = append(updated[e.Day], projections.StreamEntity(ev.StreamID))
		}
	}
	for _, day := range slices.Sorted(maps.Keys(updated)) {
		ids := slices.Sorted(slices.Values(updated[day]))
		if err := b.loadRows(ctx, day, slices.Compact(ids)); err != nil {
			return err
		}
	}
	return nil
}

func (b *analyticsBatch) loadOrgs(ctx context.Context, ids []string) error {
	for chunk := range slices.Chunk(ids, projections.PrefetchChunk) {
		for _, id := range chunk {
			b.orgs[id] = nil
		}
		rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id, name, type FROM %s WHERE organisation_id IN (%s)`,
			b.o, projections.Marks(len(chunk))), projections.AnyList(chunk)...)
		if err != nil {
			return fmt.Errorf("organisations: %w", err)
		}
		err = projections.ScanAll(rows, func() error {
			o := &analyticsOrg{}
			if err := rows.Scan(&o.ID, &o.Name, &o.Type); err != nil {
				return err
			}
			b.orgs[o.ID] = o
			return nil
		})
		if err != nil {
			return fmt.Errorf("organisations: %w", err)
		}
	}
	return nil
}

func (b *analyticsBatch) loadLocations(ctx context.Context, ids []string) error {
	for chunk := range slices.Chunk(ids, projections.PrefetchChunk) {
		for _, id := range chunk {
			b.locs[id] = nil
		}
		rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT location_id, name, name_edited, organisation_id,
    organisation_name, organisation_type, nhs_region, local_authority, ccg, registration_status, registered_on,
    COALESCE(deregistered_on, ''), last_submitted_day
FROM %s WHERE location_id IN (%s)`, b.l, projections.Marks(len(chunk))), projections.AnyList(chunk)...)
		if err != nil {
			return fmt.Errorf("locations: %w", err)
		}
		err = projections.ScanAll(rows, func() error {
			l := &analyticsLocation{}
			if err := rows.Scan(&l.LocationID, &l.Name, &l.AddressEdited, &l.OrganisationID, &l.OrganisationName, &l.OrgType,
				&l.NHSRegion, &l.LocalAuthority, &l.CCG, &l.RegistrationStatus, &l.RegisteredOn, &l.DeregisteredOn,
				&l.LastSubmittedDay); err != nil {
				return err
			}
			b.locs[l.LocationID] = l
			return nil
		})
		if err != nil {
			return fmt.Errorf("locations: %w", err)
		}
		rows, err = b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT location_id, from_day, COALESCE(to_day, ''), nhs_region,
    local_authority, ccg
FROM %s WHERE location_id IN (%s) ORDER BY location_id, from_day`, b.p, projections.Marks(len(chunk))), projections.AnyList(chunk)...)
		if err != nil {
			return fmt.Errorf("location periods: %w", err)
		}
		err = projections.ScanAll(rows, func() error {
			var (
				id string
				p  analyticsPeriod
			)
			if err := rows.Scan(&id, &p.From, &p.To, &p.Area.Region, &p.Area.LocalAuthority, &p.Area.CCG); err != nil {
				return err
			}
			if l := b.locs[id]; l != nil {
				l.Periods = append(l.Periods, p)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("location periods: %w", err)
		}
	}
	return nil
}

// dailyColumns are the columns of analytics_daily_location, in the order
// of analyticsDaily.values and scanDaily.
var dailyColumns = []string{"location_id", "day", "nhs_region", "local_authority", "ccg", "service_users", "confirmed",
	"suspected", "care_staff", "staff_absent", "ppe", "can_provide_extra", "extra_hours", "other_issues", "no_change",
	"upload_id", "submitted_at", "position", "submissions"}

func (r *analyticsDaily) values(d projections.Dialect) []any {
	a := r.Answers
	return []any{r.LocationID, r.Day, r.Area.Region, r.Area.LocalAuthority, r.Area.CCG, a.ServiceUsers, a.Confirmed,
		a.Suspected, a.CareStaff, a.StaffNotWorking, string(a.PPE), a.CanProvideExtra, a.ExtraHoursPerWeek,
		a.OtherIssues, r.NoChange, r.UploadID, d.Time(r.SubmittedAt), r.Position, r.Submissions}
}

func scanDaily(rows projections.Rows) (*analyticsDaily, error) {
	r := &analyticsDaily{}
	a := &r.Answers
	var (
		ppe string
		at  projections.Timestamp
	)
	err := rows.Scan(&r.LocationID, &r.Day, &r.Area.Region, &r.Area.LocalAuthority, &r.Area.CCG, &a.ServiceUsers,
		&a.Confirmed, &a.Suspected, &a.CareStaff, &a.StaffNotWorking, &ppe, &a.CanProvideExtra, &a.ExtraHoursPerWeek,
		&a.OtherIssues, &r.NoChange, &r.UploadID, &at, &r.Position, &r.Submissions)
	a.PPE, r.SubmittedAt = dailyupdate.PPE(ppe), at.Time
	return r, err
}

// loadRows reads the daily rows of day of the locations ids (sorted).
// It reads ranges of location ids, a chunk of ids at a time, on the
// (day, location_id) index, and keeps the rows of ids: an IN list of ids
// is planned without statistics during a rebuild, and PostgreSQL then
// reads every row of the day and filters it against the list.
func (b *analyticsBatch) loadRows(ctx context.Context, day string, ids []string) error {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		b.rows[dayKey{id, day}] = nil
		want[id] = true
	}
	for chunk := range slices.Chunk(ids, projections.PrefetchChunk) {
		rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE day = ? AND location_id >= ? AND location_id <= ?`,
			strings.Join(dailyColumns, ", "), b.dl), day, chunk[0], chunk[len(chunk)-1])
		if err != nil {
			return fmt.Errorf("daily updates: %w", err)
		}
		if err := projections.ScanAll(rows, func() error {
			r, err := scanDaily(rows)
			if err == nil && want[r.LocationID] {
				b.keepRow(r)
			}
			return err
		}); err != nil {
			return fmt.Errorf("daily updates: %w", err)
		}
	}
	return nil
}

// keepRow holds a daily row in memory.
func (b *analyticsBatch) keepRow(r *analyticsDaily) {
	k := dayKey{r.LocationID, r.Day}
	if b.rows[k] == nil {
		b.rowsOf[r.LocationID] = append(b.rowsOf[r.LocationID], r.Day)
	}
	b.rows[k] = r
}

// addDelta adds (sign 1) or takes off (sign -1) an update's contribution
// to the totals of its areas on its day.
func (b *analyticsBatch) addDelta(area analyticsArea, day string, c analyticsTotals, sign int64) {
	for _, k := range area.keys(day) {
		t := b.deltas[k]
		if t == nil {
			t = &analyticsTotals{}
			b.deltas[k] = t
		}
		t.add(c, sign)
	}
}

func (b *analyticsBatch) apply(ctx context.Context, ev eventstore.Event, d any) error {
	switch e := d.(type) {
	case dailyupdate.DailyUpdateSubmitted:
		b.applyUpdate(ev, e)
		return nil
	case location.OrganisationRegistered:
		return b.putOrg(ctx, analyticsOrg{ID: e.OrganisationID, Name: e.Name, Type: string(e.Type)})
	case location.OrganisationRenamed:
		o := b.orgs[e.OrganisationID]
		if o == nil {
			return nil
		}
		next := *o
		next.Name = e.After
		return b.putOrg(ctx, next)
	}
	if ev.Category() == "location" {
		return b.applyLocation(ctx, ev, d)
	}
	return nil
}

// applyUpdate makes a submission the effective update of its location and
// day.
func (b *analyticsBatch) applyUpdate(ev eventstore.Event, e dailyupdate.DailyUpdateSubmitted) {
	id := projections.StreamEntity(ev.StreamID)
	var area analyticsArea
	l := b.locs[id]
	if l != nil {
		area = l.areaOn(e.Day)
	}
	r := &analyticsDaily{LocationID: id, Day: e.Day, Area: area, Answers: e.Answers, NoChange: e.NoChange,
		UploadID: e.UploadID, SubmittedAt: e.SubmittedAt.UTC(), Position: ev.Position, Submissions: 1, dirty: true}
	if old := b.rows[dayKey{id, e.Day}]; old != nil {
		b.addDelta(old.Area, old.Day, contribution(old.Answers), -1)
		r.Submissions = old.Submissions + 1
	}
	b.keepRow(r)
	b.addDelta(r.Area, r.Day, contribution(r.Answers), 1)
	if l != nil && e.Day > l.LastSubmittedDay {
		l.LastSubmittedDay = e.Day
		b.touch(l)
	}
}

// touch marks a location to be written.
func (b *analyticsBatch) touch(l *analyticsLocation) {
	if !l.dirty {
		l.dirty = true
		b.dirtyLocs = append(b.dirtyLocs, l.LocationID)
	}
}

// putOrg writes an organisation at once, and its name and type onto its
// locations (those in memory too).
func (b *analyticsBatch) putOrg(ctx context.Context, o analyticsOrg) error {
	if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (organisation_id, name, type) VALUES (?, ?, ?)
ON CONFLICT (organisation_id) DO UPDATE SET name = excluded.name, type = excluded.type`, b.o), o.ID, o.Name, o.Type); err != nil {
		return fmt.Errorf("organisation %s: %w", o.ID, err)
	}
	b.orgs[o.ID] = &o
	if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET organisation_name = ?, organisation_type = ?
WHERE organisation_id = ?`, b.l), o.Name, o.Type, o.ID); err != nil {
		return fmt.Errorf("organisation %s: locations: %w", o.ID, err)
	}
	for _, l := range b.locs {
		if l != nil && l.OrganisationID == o.ID {
			l.OrganisationName, l.OrgType = o.Name, o.Type
		}
	}
	return nil
}

// applyLocation folds a location event into the location, then records
// what changed for the view: the location's periods, and the areas of
// its updates.
func (b *analyticsBatch) applyLocation(ctx context.Context, ev eventstore.Event, d any) error {
	id := projections.StreamEntity(ev.StreamID)
	l := b.locs[id]
	if l == nil {
		if !location.StartsLocation(d) {
			return nil
		}
		l = &analyticsLocation{Directory: location.Directory{LocationID: id}, fresh: true, RegisteredOn: dailyupdate.Day(ev.RecordedAt)}
		b.locs[id] = l
	}
	wasArea, wasExpected := l.area(), !l.fresh && l.expected()
	b.fold(l, d)
	b.touch(l)
	day := l.changeDay(ev.RecordedAt)
	if l.area() != wasArea && !l.fresh {
		l.moveArea(day)
		if err := b.moveUpdates(ctx, l, day); err != nil {
			return err
		}
	}
	switch now := l.expected(); {
	case now && !wasExpected:
		l.DeregisteredOn = ""
		if last := l.last(); last != nil && last.To >= day {
			last.To = "" // registered again on the day it was deregistered
		} else {
			l.Periods = append(l.Periods, analyticsPeriod{From: day, Area: l.area()})
		}
		l.periodsDirty = true
	case !now && wasExpected:
		l.DeregisteredOn = day
		if last := l.last(); last != nil && last.To == "" {
			last.To = day
			l.periodsDirty = true
		}
	case !now && l.fresh:
		l.DeregisteredOn = day // known first as deregistered
	}
	l.fresh = false
	return nil
}

// changeDay is the day a change recorded at t happens on: London's day
// of t, but never before the location's latest change, so that its
// periods never overlap.
func (l *analyticsLocation) changeDay(t time.Time) string {
	day := dailyupdate.Day(t)
	if last := l.last(); last != nil {
		day = max(day, last.From, last.To)
	}
	return day
}

// moveArea starts the location's period in its new area on day: the
// period that covers the day ends the day before (or, when it began that
// day, is moved as a whole).
func (l *analyticsLocation) moveArea(day string) {
	last := l.last()
	if last == nil || !last.covers(day) {
		return
	}
	l.periodsDirty = true
	if last.From == day {
		last.Area = l.area()
		return
	}
	to := last.To
	last.To = dayBefore(day)
	l.Periods = append(l.Periods, analyticsPeriod{From: day, To: to, Area: l.area()})
}

// dayBefore is the calendar day before day.
func dayBefore(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.AddDate(0, 0, -1).Format(time.DateOnly)
}

// moveUpdates moves the location's updates of day and later to its
// current area.
func (b *analyticsBatch) moveUpdates(ctx context.Context, l *analyticsLocation, day string) error {
	rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE location_id = ? AND day >= ?`,
		strings.Join(dailyColumns, ", "), b.dl), l.LocationID, day)
	if err != nil {
		return fmt.Errorf("location %s: daily updates: %w", l.LocationID, err)
	}
	if err := projections.ScanAll(rows, func() error {
		r, err := scanDaily(rows)
		if err == nil && b.rows[dayKey{r.LocationID, r.Day}] == nil {
			b.keepRow(r) // rows in memory are newer
		}
		return err
	}); err != nil {
		return fmt.Errorf("location %s: daily updates: %w", l.LocationID, err)
	}
	area := l.area()
	for _, d := range b.rowsOf[l.LocationID] {
		r := b.rows[dayKey{l.LocationID, d}]
		if d < day || r.Area == area {
			continue
		}
		c := contribution(r.Answers)
		b.addDelta(r.Area, d, c, -1)
		b.addDelta(area, d, c, 1)
		r.Area, r.dirty = area, true
	}
	return nil
}

// fold applies a location event to the location's directory entry, as
// location.EvolveLocation folds it, and joins in its organisation's type
// (and name, when the location's events named none).
func (b *analyticsBatch) fold(l *analyticsLocation, ev any) {
	l.Directory = l.Directory.Apply(ev)
	switch ev.(type) {
	case location.LocationRegistered, location.CQCLocationImported:
		if o := b.orgs[l.OrganisationID]; o != nil {
			l.OrgType = o.Type
			if l.OrganisationName == "" {
				l.OrganisationName = o.Name
			}
		}
	}
}

// --- writing ---------------------------------------------------------------

// upsert writes rows of cols, many per statement: on a conflict on the
// key columns, set is the UPDATE's SET clause.
func (b *analyticsBatch) upsert(ctx context.Context, table string, cols []string, key, set string, rows [][]any) error {
	return projections.InsertRows(ctx, b.tx, table, cols, fmt.Sprintf("ON CONFLICT (%s) DO UPDATE SET %s", key, set), rows)
}

var locationColumns = []string{"location_id", "name", "name_key", "name_edited", "organisation_id", "organisation_name",
	"organisation_type", "nhs_region", "local_authority", "ccg", "registration_status", "registered", "registered_on",
	"deregistered_on", "last_submitted_day"}

func (l *analyticsLocation) values() []any {
	return []any{l.LocationID, l.Name, projections.SearchKey(l.Name), l.AddressEdited, l.OrganisationID, l.OrganisationName, l.OrgType,
		l.NHSRegion, l.LocalAuthority, l.CCG, l.Status(), l.expected(), l.RegisteredOn, nullDay(l.DeregisteredOn),
		l.LastSubmittedDay}
}

// nullDay binds a day, or NULL for "".
func nullDay(day string) any {
	if day == "" {
		return nil
	}
	return day
}

// flush writes what the batch changed.
func (b *analyticsBatch) flush(ctx context.Context) error {
	d := b.tx.Dialect()
	var locs, periods [][]any
	var moved []string
	for _, id := range b.dirtyLocs {
		l := b.locs[id]
		locs = append(locs, l.values())
		if l.periodsDirty {
			moved = append(moved, id)
			for _, p := range l.Periods {
				periods = append(periods, []any{id, p.From, nullDay(p.To), p.Area.Region, p.Area.LocalAuthority, p.Area.CCG})
			}
		}
	}
	if err := b.upsert(ctx, b.l, locationColumns, "location_id", projections.ReplaceAll(locationColumns, 1), locs); err != nil {
		return err
	}
	for chunk := range slices.Chunk(moved, projections.PrefetchChunk) {
		if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE location_id IN (%s)`, b.p, projections.Marks(len(chunk))),
			projections.AnyList(chunk)...); err != nil {
			return fmt.Errorf("write %s: %w", b.p, err)
		}
	}
	periodCols := []string{"location_id", "from_day", "to_day", "nhs_region", "local_authority", "ccg"}
	if err := b.upsert(ctx, b.p, periodCols, "location_id, from_day", projections.ReplaceAll(periodCols, 2), periods); err != nil {
		return err
	}

	keys := slices.SortedFunc(maps.Keys(b.rows), func(x, y dayKey) int {
		return cmp.Or(cmp.Compare(x.LocationID, y.LocationID), cmp.Compare(x.Day, y.Day))
	})
	var daily [][]any
	for _, k := range keys {
		if r := b.rows[k]; r != nil && r.dirty {
			daily = append(daily, r.values(d))
		}
	}
	if err := b.upsert(ctx, b.dl, dailyColumns, "location_id, day", projections.ReplaceAll(dailyColumns, 2), daily); err != nil {
		return err
	}
	return b.flushTotals(ctx)
}

// flushTotals adds the batch's deltas to the totals, and deletes the rows
// of areas and days no update counts in any more (a rebuild would have
// none).
func (b *analyticsBatch) flushTotals(ctx context.Context) error {
	keys := slices.SortedFunc(maps.Keys(b.deltas), func(x, y areaKey) int {
		return cmp.Or(cmp.Compare(x.Type, y.Type), cmp.Compare(x.Area, y.Area), cmp.Compare(x.Day, y.Day))
	})
	cols := append([]string{"area_type", "area", "day"}, totalsColumns...)
	sets := make([]string, len(totalsColumns))
	for i, c := range totalsColumns {
		sets[i] = fmt.Sprintf("%s = %s.%s + excluded.%s", c, b.da, c, c)
	}
	var rows [][]any
	var emptied []areaKey
	for _, k := range keys {
		t := b.deltas[k]
		if *t == (analyticsTotals{}) {
			continue
		}
		rows = append(rows, append([]any{k.Type, k.Area, k.Day}, t.values()...))
		if t.Submitted < 0 {
			emptied = append(emptied, k)
		}
	}
	if err := b.upsert(ctx, b.da, cols, "area_type, area, day", strings.Join(sets, ", "), rows); err != nil {
		return err
	}
	for _, k := range emptied {
		if _, err := b.tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE area_type = ? AND area = ? AND day = ?
    AND locations_submitted = 0`, b.da), k.Type, k.Area, k.Day); err != nil {
			return fmt.Errorf("write %s: %w", b.da, err)
		}
	}
	return nil
}
