package analytics

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/projections"
)

// The read side of the view: the typed readers the queries call. They
// take checked arguments (the queries check the area, the days, the page
// and who may see what) and own the SQL.

// Area is a checked area: Type is one of AreaTypes, Name the region,
// local authority or CCG ("" for England).
type Area struct {
	Type, Name string
}

// column is the column of the view's tables an area filters on, "" for
// England.
func (a Area) column() (string, error) {
	switch a.Type {
	case AreaEngland:
		return "", nil
	case AreaNHSRegion, AreaLocalAuthority, AreaCCG:
		return a.Type, nil
	}
	return "", fmt.Errorf("unknown area type %q", a.Type)
}

// --- totals per day ------------------------------------------------------------

// Day is the totals of one day in an area: of the effective daily update
// of every location that submitted, and the share of the locations
// expected that day (registered at some moment of it) that did.
type Day struct {
	Day                string `json:"day"`
	LocationsExpected  int64  `json:"locations_expected"`
	LocationsSubmitted int64  `json:"locations_submitted"`
	// ShareSubmitted is LocationsSubmitted / LocationsExpected, null when
	// no location was expected.
	ShareSubmitted         *float64 `json:"share_submitted"`
	ServiceUsers           int64    `json:"service_users"`
	Confirmed              int64    `json:"confirmed"`
	Suspected              int64    `json:"suspected"`
	CareStaff              int64    `json:"care_staff"`
	StaffAbsent            int64    `json:"staff_absent"`
	LocationsOfferingExtra int64    `json:"locations_offering_extra"`
	ExtraHours             int64    `json:"extra_hours"`
	PPEMoreThanWeek        int64    `json:"ppe_more_than_week"`
	PPEThreeDaysToWeek     int64    `json:"ppe_three_days_to_week"`
	PPETwoDaysOrLess       int64    `json:"ppe_two_days_or_less"`
}

// Totals reads the area's rows of analytics_daily_area of the days
// from..to (one index range), by day: the days without updates have no
// row. LocationsExpected and ShareSubmitted are left zero.
func Totals(ctx context.Context, db projections.Querier, area Area, from, to string) (map[string]Day, error) {
	rows, err := db.QueryContext(ctx, `SELECT day, locations_submitted, service_users, confirmed, suspected, care_staff,
    staff_absent, locations_offering_extra, extra_hours, ppe_more_than_week, ppe_three_days_to_week, ppe_two_days_or_less
FROM `+DailyAreaTable+` WHERE area_type = ? AND area = ? AND day >= ? AND day <= ?`,
		area.Type, area.Name, from, to)
	list, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (Day, error) {
		var t Day
		err := rows.Scan(&t.Day, &t.LocationsSubmitted, &t.ServiceUsers, &t.Confirmed, &t.Suspected, &t.CareStaff,
			&t.StaffAbsent, &t.LocationsOfferingExtra, &t.ExtraHours, &t.PPEMoreThanWeek, &t.PPEThreeDaysToWeek,
			&t.PPETwoDaysOrLess)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	out := make(map[string]Day, len(list))
	for _, t := range list {
		out[t.Day] = t
	}
	return out, nil
}

// ExpectedLocations counts the locations expected on each of days (in
// order, at least one) in the area: the spans of analytics_location_periods
// that cover the day. It counts the spans by first day and by last day
// (two grouped index ranges, a few hundred rows) and adds them up along
// the days.
func ExpectedLocations(ctx context.Context, db projections.Querier, area Area, days []string) ([]int64, error) {
	from, to := days[0], days[len(days)-1]
	col, err := area.column()
	if err != nil {
		return nil, fmt.Errorf("expected locations: %w", err)
	}
	cond, args := "", []any{}
	if col != "" {
		cond, args = col+" = ? AND ", []any{area.Name}
	}
	p := PeriodsTable
	starting, ending := append(slices.Clone(args), to), append(slices.Clone(args), to)
	rows, err := db.QueryContext(ctx, `SELECT 0, from_day, count(*) FROM `+p+` WHERE `+cond+`from_day <= ? GROUP BY from_day
UNION ALL
SELECT 1, to_day, count(*) FROM `+p+` WHERE `+cond+`to_day < ? GROUP BY to_day`, append(starting, ending...)...)
	type change struct {
		end   bool
		day   string
		count int64
	}
	changes, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (change, error) {
		var (
			c    change
			kind int
		)
		err := rows.Scan(&kind, &c.day, &c.count)
		c.end = kind == 1
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("expected locations: %w", err)
	}
	// A span counts from its first day, and no more on the day after its
	// last: starts[d] and stops[d] change the count of day d.
	var base int64
	starts, stops := map[string]int64{}, map[string]int64{}
	for _, c := range changes {
		switch {
		case !c.end && c.day <= from:
			base += c.count
		case !c.end:
			starts[c.day] += c.count
		case c.day < from:
			base -= c.count
		default:
			stops[c.day] += c.count
		}
	}
	out := make([]int64, len(days))
	n := base
	for i, day := range days {
		if i > 0 {
			n += starts[day] - stops[days[i-1]]
		}
		out[i] = n
	}
	return out, nil
}

// --- per location ------------------------------------------------------------

// LocationDay is a location's effective update of a day.
type LocationDay struct {
	Day              string `json:"day"`
	LocationID       string `json:"location_id"`
	Name             string `json:"name"`
	OrganisationID   string `json:"organisation_id"`
	OrganisationName string `json:"organisation_name"`
	// The areas the update counts in.
	NHSRegion       string          `json:"nhs_region"`
	LocalAuthority  string          `json:"local_authority"`
	CCG             string          `json:"ccg"`
	ServiceUsers    int             `json:"service_users"`
	Confirmed       int             `json:"confirmed"`
	Suspected       int             `json:"suspected"`
	CareStaff       int             `json:"care_staff"`
	StaffAbsent     int             `json:"staff_absent"`
	PPE             dailyupdate.PPE `json:"ppe"`
	CanProvideExtra bool            `json:"can_provide_extra_hours"`
	ExtraHours      int             `json:"extra_hours_per_week"`
	OtherIssues     string          `json:"other_issues"`
	NoChange        bool            `json:"no_change"`
	SubmittedAt     time.Time       `json:"submitted_at"`
	// Submissions counts the day's submissions: the last one is the
	// effective update.
	Submissions int `json:"submissions"`
}

// LocationsFilter selects the effective updates of the locations of an
// area on the days From..To (checked days, YYYY-MM-DD).
type LocationsFilter struct {
	Area     Area
	From, To string
}

// where is the filter's WHERE clause; d is analytics_daily_location.
func (f LocationsFilter) where() (projections.Where, error) {
	var w projections.Where
	col, err := f.Area.column()
	if err != nil {
		return w, err
	}
	if col != "" {
		w.Add("d."+col+" = ?", f.Area.Name)
	}
	w.Add("d.day >= ? AND d.day <= ?", f.From, f.To)
	return w, nil
}

// locationDayColumns are the columns scanLocationDay reads; d is
// analytics_daily_location, l analytics_locations.
const locationDayColumns = `d.day, d.location_id, COALESCE(l.name, ''), COALESCE(l.organisation_id, ''),
    COALESCE(l.organisation_name, ''), d.nhs_region, d.local_authority, d.ccg, d.service_users, d.confirmed,
    d.suspected, d.care_staff, d.staff_absent, d.ppe, d.can_provide_extra, d.extra_hours, d.other_issues,
    d.no_change, d.submitted_at, d.submissions`

func scanLocationDay(rows projections.Rows) (LocationDay, error) {
	var (
		e  LocationDay
		at projections.Timestamp
	)
	err := rows.Scan(&e.Day, &e.LocationID, &e.Name, &e.OrganisationID, &e.OrganisationName, &e.NHSRegion,
		&e.LocalAuthority, &e.CCG, &e.ServiceUsers, &e.Confirmed, &e.Suspected, &e.CareStaff, &e.StaffAbsent, &e.PPE,
		&e.CanProvideExtra, &e.ExtraHours, &e.OtherIssues, &e.NoChange, &at, &e.Submissions)
	e.SubmittedAt = at.Time
	return e, err
}

// locationDays reads the rows of w in the order (day, location_id), which
// an index of every area type walks; limitOffset is their LIMIT (and
// OFFSET).
func locationDays(ctx context.Context, db projections.Querier, w projections.Where, limitOffset string) ([]LocationDay, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s d LEFT JOIN %s l ON l.location_id = d.location_id%s
ORDER BY d.day, d.location_id%s`, locationDayColumns, DailyLocationTable, LocationsTable, w, limitOffset), w.Args...)
	return projections.Collect(rows, err, nil, scanLocationDay)
}

// Locations reads a page (from 1, of size rows) of the filter's effective
// updates, by day then location id.
func Locations(ctx context.Context, db projections.Querier, f LocationsFilter, page, size int) ([]LocationDay, error) {
	w, err := f.where()
	if err != nil {
		return nil, err
	}
	return locationDays(ctx, db, w, projections.LimitOffset(page, size))
}

// CountLocations counts the filter's effective updates.
func CountLocations(ctx context.Context, db projections.Querier, f LocationsFilter) (int, error) {
	w, err := f.where()
	if err != nil {
		return 0, err
	}
	return projections.CountRows(ctx, db, `SELECT count(*) FROM `+DailyLocationTable+` d`+w.String(), w.Args...)
}

// LocationsAfter reads the next limit of the filter's effective updates,
// by day then location id, after the row after (from the first when nil):
// the keyset walk of a download.
func LocationsAfter(ctx context.Context, db projections.Querier, f LocationsFilter, after *LocationDay, limit int) ([]LocationDay, error) {
	w, err := f.where()
	if err != nil {
		return nil, err
	}
	if after != nil {
		w.Add("(d.day, d.location_id) > (?, ?)", after.Day, after.LocationID)
	}
	return locationDays(ctx, db, w, projections.LimitOffset(1, limit))
}

// Latest is a location's latest effective daily update (the last
// submission of its latest day): one row by its primary key. ok is false
// when the location never submitted.
func Latest(ctx context.Context, db projections.Querier, locationID string) (LocationDay, bool, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s d LEFT JOIN %s l ON l.location_id = d.location_id
WHERE d.location_id = ? ORDER BY d.day DESC LIMIT 1`, locationDayColumns, DailyLocationTable, LocationsTable), locationID)
	days, err := projections.Collect(rows, err, nil, scanLocationDay)
	if err != nil || len(days) == 0 {
		return LocationDay{}, false, err
	}
	return days[0], true, nil
}

// --- compliance ----------------------------------------------------------------

// ComplianceEntry is a registered location that has not submitted in the
// window.
type ComplianceEntry struct {
	LocationID       string `json:"location_id"`
	Name             string `json:"name"`
	OrganisationID   string `json:"organisation_id"`
	OrganisationName string `json:"organisation_name"`
	NHSRegion        string `json:"nhs_region"`
	LocalAuthority   string `json:"local_authority"`
	CCG              string `json:"ccg"`
	// LastSubmittedDay is the last day it submitted, null if it never did.
	LastSubmittedDay *string `json:"last_submitted_day"`
}

// ComplianceFilter selects the registered locations of an area whose last
// update is before Since (those that never submitted included).
type ComplianceFilter struct {
	Since string // a checked day, YYYY-MM-DD
	Area  Area
	// Restricted limits the list to the locations of Locations (none
	// when it is empty); else every location is listed.
	Restricted bool
	Locations  []string
}

// where is the filter's WHERE clause on analytics_locations; none reports
// a filter that selects nothing.
func (f ComplianceFilter) where() (w projections.Where, none bool, err error) {
	col, err := f.Area.column()
	if err != nil {
		return w, false, err
	}
	w.Add("registered = ?", true)
	w.Add("last_submitted_day < ?", f.Since) // '' (never) included
	if col != "" {
		w.Add(col+" = ?", f.Area.Name)
	}
	if f.Restricted {
		if len(f.Locations) == 0 {
			return w, true, nil
		}
		w.Add("location_id IN ("+projections.Marks(len(f.Locations))+")", projections.AnyList(f.Locations)...)
	}
	return w, false, nil
}

const complianceColumns = `location_id, name, organisation_id, organisation_name, nhs_region, local_authority, ccg,
    last_submitted_day`

func scanCompliance(rows projections.Rows, extra ...any) (ComplianceEntry, error) {
	var (
		e    ComplianceEntry
		last string
	)
	err := rows.Scan(append([]any{&e.LocationID, &e.Name, &e.OrganisationID, &e.OrganisationName, &e.NHSRegion,
		&e.LocalAuthority, &e.CCG, &last}, extra...)...)
	if last != "" {
		e.LastSubmittedDay = &last
	}
	return e, err
}

// complianceSQL selects cols of the rows of w by name.
func complianceSQL(cols string, w projections.Where, limitOffset string) string {
	return fmt.Sprintf(`SELECT %s FROM %s%s ORDER BY name_key, location_id%s`, cols, LocationsTable, w, limitOffset)
}

// Compliance reads a page (from 1, of size rows) of the filter's
// locations, by name: the registered_last index range, filtered.
func Compliance(ctx context.Context, db projections.Querier, f ComplianceFilter, page, size int) ([]ComplianceEntry, error) {
	w, none, err := f.where()
	if err != nil || none {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, complianceSQL(complianceColumns, w, projections.LimitOffset(page, size)), w.Args...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (ComplianceEntry, error) {
		return scanCompliance(rows)
	})
}

// CountCompliance counts the filter's locations.
func CountCompliance(ctx context.Context, db projections.Querier, f ComplianceFilter) (int, error) {
	w, none, err := f.where()
	if err != nil || none {
		return 0, err
	}
	return projections.CountRows(ctx, db, `SELECT count(*) FROM `+LocationsTable+w.String(), w.Args...)
}

// ComplianceKey is where a keyset walk of the compliance list stopped:
// the sort keys of its last row, as the driver gave them.
type ComplianceKey struct {
	nameKey    any
	locationID string
}

// ComplianceAfter reads the next limit of the filter's locations, by
// name, after the key (from the first when nil), and returns the key of
// the last row read (nil when there is none): the keyset walk of a
// download.
func ComplianceAfter(ctx context.Context, db projections.Querier, f ComplianceFilter, after *ComplianceKey, limit int) ([]ComplianceEntry, *ComplianceKey, error) {
	w, none, err := f.where()
	if err != nil || none {
		return nil, nil, err
	}
	if after != nil {
		w.Add("(name_key, location_id) > (?, ?)", after.nameKey, after.locationID)
	}
	rows, err := db.QueryContext(ctx, complianceSQL(complianceColumns+", name_key", w, projections.LimitOffset(1, limit)), w.Args...)
	var key *projections.KeysetRow
	batch, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (ComplianceEntry, error) {
		key = projections.NewKeysetRow(1)
		return scanCompliance(rows, key.Dest()...)
	})
	if err != nil || len(batch) == 0 {
		return batch, nil, err
	}
	return batch, &ComplianceKey{nameKey: key.Values()[0], locationID: batch[len(batch)-1].LocationID}, nil
}

// --- areas -------------------------------------------------------------------------

// AreaCount is an area the locations are in, with the number of
// registered locations in it.
type AreaCount struct {
	Area      string `json:"area"`
	Locations int    `json:"locations"`
}

// Areas lists the areas of a type (AreaNHSRegion, AreaLocalAuthority or
// AreaCCG) that registered locations are in, by name, with their counts;
// an empty list (not nil) when there are none.
func Areas(ctx context.Context, db projections.Querier, areaType string) ([]AreaCount, error) {
	col, err := Area{Type: areaType}.column()
	if err != nil {
		return nil, err
	}
	if col == "" {
		return nil, fmt.Errorf("areas: England is one area")
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %[1]s, count(*) FROM %[2]s WHERE registered = ? AND %[1]s <> ''
GROUP BY %[1]s ORDER BY %[1]s`, col, LocationsTable), true)
	return projections.Collect(rows, err, []AreaCount{}, func(rows projections.Rows) (AreaCount, error) {
		var a AreaCount
		err := rows.Scan(&a.Area, &a.Locations)
		return a, err
	})
}
