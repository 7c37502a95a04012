package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections"
)

// The analytics view, from its read model (projections.Analytics): the
// totals of the daily updates per day in an area, each location's
// effective update per day, and which locations have not submitted lately
// (compliance).
//
// # Who may read what
//
// The totals, the per-location updates and the list of areas show every
// provider's figures: support and commissioners (Viewer.Commissioner: the
// active users of CCGs, local authorities and NHSE organisations, who plan
// care for whole areas) read them for every area; everyone else gets
// domain.ErrForbidden. The compliance list is also for the providers
// themselves, to chase their own sites: support and commissioners see
// every location, any other user only the locations they have access to
// (Viewer.Locations). The HTTP layer refuses anonymous callers (401).

// Limits of the analytics queries.
const (
	// MaxAnalyticsDays bounds the days of a totals or per-location query.
	MaxAnalyticsDays = 366
	// DefaultAnalyticsDays is the range of a query that names no from:
	// the 30 days up to its to.
	DefaultAnalyticsDays = 30
	// MaxComplianceDays bounds the window of the compliance query.
	MaxComplianceDays = 366
	// maxAreaLength bounds an area's name.
	maxAreaLength = 200
)

// mayReadAnalytics reports whether the viewer may read every area's
// figures.
func mayReadAnalytics(v Viewer) bool { return v.Support || v.Commissioner }

// analyticsProjections are the read models of the analytics queries.
var analyticsProjections = []projections.Projection{projections.Analytics{}}

// areaScope is a checked area: its type and name, and the column of the
// projection's tables it filters on ("" for England).
type areaScope struct {
	Type, Area, column string
}

// parseArea checks an area: area_type is england (the default, with no
// area), nhs_region (one of location.NHSRegions, in any case),
// local_authority or ccg (as the locations name them).
func parseArea(v *domain.ValidationError, areaType, area string) areaScope {
	areaType, area = strings.ToLower(strings.TrimSpace(areaType)), strings.TrimSpace(area)
	if areaType == "" {
		areaType = projections.AreaEngland
	}
	s := areaScope{Type: areaType, Area: area, column: areaType}
	switch areaType {
	case projections.AreaEngland:
		s.column = ""
		if area != "" {
			v.Add("area", "not_allowed", "England is one area: leave area empty, or choose an area_type")
		}
	case projections.AreaNHSRegion, projections.AreaLocalAuthority, projections.AreaCCG:
		switch {
		case area == "":
			v.Add("area", "required", "Name the "+strings.ReplaceAll(areaType, "_", " "))
		case len(area) > maxAreaLength:
			v.Add("area", "too_long", fmt.Sprintf("At most %d characters", maxAreaLength))
		case areaType == projections.AreaNHSRegion:
			if r, ok := choice(location.NHSRegions(), area); ok {
				s.Area = r
			} else {
				v.Add("area", "invalid_choice", "Choose one of the NHS regions: "+strings.Join(location.NHSRegions(), ", "))
			}
		}
	default:
		v.Add("area_type", "invalid_choice", "area_type is one of: "+strings.Join(projections.AreaTypes(), ", "))
	}
	return s
}

// today is the caller's day, or London's day now.
func today(day string) string {
	if day == "" {
		return dailyupdate.Day(time.Now())
	}
	return day
}

// parseDay reads a day (YYYY-MM-DD).
func parseDay(v *domain.ValidationError, field, s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		v.Add(field, "invalid_date", "Enter a date as YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// dayRange checks a range of days: to defaults to today, from to
// DefaultAnalyticsDays days up to to. It returns the days in order.
func dayRange(v *domain.ValidationError, from, to, todayDay string) []string {
	if strings.TrimSpace(to) == "" {
		to = today(todayDay)
	}
	end, okTo := parseDay(v, "to", to)
	var start time.Time
	okFrom := true
	if strings.TrimSpace(from) == "" {
		start = end.AddDate(0, 0, -(DefaultAnalyticsDays - 1))
	} else {
		start, okFrom = parseDay(v, "from", from)
	}
	if !okFrom || !okTo {
		return nil
	}
	if start.After(end) {
		v.Add("from", "after_to", "from must be on or before to")
		return nil
	}
	if n := int(end.Sub(start).Hours()/24) + 1; n > MaxAnalyticsDays {
		v.Add("from", "range_too_long", fmt.Sprintf("Ask for at most %d days at a time", MaxAnalyticsDays))
		return nil
	}
	var days []string
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly))
	}
	return days
}

// --- totals per day ------------------------------------------------------------

// AnalyticsDailyQuery asks for the totals of every day of a range in an
// area.
type AnalyticsDailyQuery struct {
	From, To string // days, YYYY-MM-DD; To defaults to Today, From to 30 days up to To
	// AreaType is england (the default), nhs_region, local_authority or
	// ccg; Area names the region, local authority or CCG.
	AreaType, Area string
	// Today is the caller's calendar day in Europe/London (the server's
	// clock); "" means now.
	Today       string
	MinPosition int64
}

// AnalyticsDay is the totals of one day in an area: of the effective
// daily update of every location that submitted, and the share of the
// locations expected that day (registered at some moment of it) that did.
type AnalyticsDay struct {
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

// AnalyticsDaily is the answer of AnalyticsDaily: every day of the range,
// in order, days without updates included.
type AnalyticsDaily struct {
	AreaType string         `json:"area_type"`
	Area     string         `json:"area"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Days     []AnalyticsDay `json:"days"`
}

// AnalyticsDaily is the totals of every day of a range in an area. It
// reads one index range of analytics_daily_area and counts the locations
// expected from analytics_location_periods. Support and commissioners
// only (domain.ErrForbidden); an invalid query is a
// *domain.ValidationError.
func (q Service) AnalyticsDaily(ctx context.Context, v Viewer, d AnalyticsDailyQuery) (AnalyticsDaily, error) {
	if !mayReadAnalytics(v) {
		return AnalyticsDaily{}, domain.ErrForbidden
	}
	var verr domain.ValidationError
	area := parseArea(&verr, d.AreaType, d.Area)
	days := dayRange(&verr, d.From, d.To, d.Today)
	if err := verr.Err(); err != nil {
		return AnalyticsDaily{}, err
	}
	if err := q.wait(ctx, d.MinPosition, analyticsProjections...); err != nil {
		return AnalyticsDaily{}, err
	}
	out := AnalyticsDaily{AreaType: area.Type, Area: area.Area, From: days[0], To: days[len(days)-1]}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		totals, err := areaTotals(ctx, db, area, out.From, out.To)
		if err != nil {
			return err
		}
		expected, err := expectedLocations(ctx, db, area, days)
		if err != nil {
			return err
		}
		out.Days = make([]AnalyticsDay, len(days))
		for i, day := range days {
			t := totals[day]
			t.Day, t.LocationsExpected = day, expected[i]
			if t.LocationsExpected > 0 {
				share := float64(t.LocationsSubmitted) / float64(t.LocationsExpected)
				t.ShareSubmitted = &share
			}
			out.Days[i] = t
		}
		return nil
	})
	if err != nil {
		return AnalyticsDaily{}, fmt.Errorf("analytics daily: %w", err)
	}
	return out, nil
}

// areaTotals reads the area's rows of the days from..to, by day.
func areaTotals(ctx context.Context, db projections.Querier, area areaScope, from, to string) (map[string]AnalyticsDay, error) {
	rows, err := db.QueryContext(ctx, `SELECT day, locations_submitted, service_users, confirmed, suspected, care_staff,
    staff_absent, locations_offering_extra, extra_hours, ppe_more_than_week, ppe_three_days_to_week, ppe_two_days_or_less
FROM `+projections.AnalyticsDailyAreaTable+` WHERE area_type = ? AND area = ? AND day >= ? AND day <= ?`,
		area.Type, area.Area, from, to)
	list, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (AnalyticsDay, error) {
		var t AnalyticsDay
		err := rows.Scan(&t.Day, &t.LocationsSubmitted, &t.ServiceUsers, &t.Confirmed, &t.Suspected, &t.CareStaff,
			&t.StaffAbsent, &t.LocationsOfferingExtra, &t.ExtraHours, &t.PPEMoreThanWeek, &t.PPEThreeDaysToWeek,
			&t.PPETwoDaysOrLess)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	out := make(map[string]AnalyticsDay, len(list))
	for _, t := range list {
		out[t.Day] = t
	}
	return out, nil
}

// expectedLocations counts the locations expected on each of days (in
// order) in the area: the spans of analytics_location_periods that cover
// the day. It counts the spans by first day and by last day (two grouped
// index ranges, a few hundred rows) and adds them up along the days.
func expectedLocations(ctx context.Context, db projections.Querier, area areaScope, days []string) ([]int64, error) {
	from, to := days[0], days[len(days)-1]
	cond, args := "", []any{}
	if area.column != "" {
		cond, args = area.column+" = ? AND ", []any{area.Area}
	}
	p := projections.AnalyticsPeriodsTable
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

// AnalyticsLocationsQuery asks for the effective updates of every location
// of an area on the days of a range, by day then location id.
type AnalyticsLocationsQuery struct {
	From, To, AreaType, Area, Today string // as in AnalyticsDailyQuery
	Page, PageSize                  int    // as in the lists of locations
	MinPosition                     int64
}

// AnalyticsLocationDay is a location's effective update of a day.
type AnalyticsLocationDay struct {
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

// AnalyticsLocationPage is a page of AnalyticsLocations.
type AnalyticsLocationPage = Page[AnalyticsLocationDay]

// analyticsLocationColumns are the columns scanAnalyticsLocation reads;
// d is analytics_daily_location, l analytics_locations.
const analyticsLocationColumns = `d.day, d.location_id, COALESCE(l.name, ''), COALESCE(l.organisation_id, ''),
    COALESCE(l.organisation_name, ''), d.nhs_region, d.local_authority, d.ccg, d.service_users, d.confirmed,
    d.suspected, d.care_staff, d.staff_absent, d.ppe, d.can_provide_extra, d.extra_hours, d.other_issues,
    d.no_change, d.submitted_at, d.submissions`

func scanAnalyticsLocation(rows projections.Rows, extra ...any) (AnalyticsLocationDay, error) {
	var (
		e  AnalyticsLocationDay
		at projections.Timestamp
	)
	err := rows.Scan(append([]any{&e.Day, &e.LocationID, &e.Name, &e.OrganisationID, &e.OrganisationName, &e.NHSRegion,
		&e.LocalAuthority, &e.CCG, &e.ServiceUsers, &e.Confirmed, &e.Suspected, &e.CareStaff, &e.StaffAbsent, &e.PPE,
		&e.CanProvideExtra, &e.ExtraHours, &e.OtherIssues, &e.NoChange, &at, &e.Submissions}, extra...)...)
	e.SubmittedAt = at.Time
	return e, err
}

// prepare checks the query and returns the conditions of its rows.
func (a AnalyticsLocationsQuery) prepare(v Viewer) (w projections.Where, page, size int, err error) {
	if !mayReadAnalytics(v) {
		return w, 0, 0, domain.ErrForbidden
	}
	var verr domain.ValidationError
	area := parseArea(&verr, a.AreaType, a.Area)
	days := dayRange(&verr, a.From, a.To, a.Today)
	page, size = paging(&verr, a.Page, a.PageSize)
	if err := verr.Err(); err != nil {
		return w, 0, 0, err
	}
	if area.column != "" {
		w.Add("d."+area.column+" = ?", area.Area)
	}
	w.Add("d.day >= ? AND d.day <= ?", days[0], days[len(days)-1])
	return w, page, size, nil
}

// analyticsLocationsSQL selects the rows of w in the order (day,
// location_id), which an index of every area type walks.
func analyticsLocationsSQL(w projections.Where, limit, offset int) string {
	off := ""
	if offset > 0 {
		off = fmt.Sprintf(" OFFSET %d", offset)
	}
	return fmt.Sprintf(`SELECT %s FROM %s d LEFT JOIN %s l ON l.location_id = d.location_id%s
ORDER BY d.day, d.location_id LIMIT %d%s`, analyticsLocationColumns, projections.AnalyticsDailyLocationTable,
		projections.AnalyticsLocationsTable, w, limit, off)
}

// AnalyticsLocations is a page of the effective updates of the locations
// of an area on the days of a range, by day then location id, with their
// count. Support and commissioners only.
func (q Service) AnalyticsLocations(ctx context.Context, v Viewer, a AnalyticsLocationsQuery) (AnalyticsLocationPage, error) {
	w, page, size, err := a.prepare(v)
	if err != nil {
		return AnalyticsLocationPage{}, err
	}
	if err := q.wait(ctx, a.MinPosition, analyticsProjections...); err != nil {
		return AnalyticsLocationPage{}, err
	}
	var (
		entries []AnalyticsLocationDay
		total   int
	)
	err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, analyticsLocationsSQL(w, size, (page-1)*size), w.Args...)
		if entries, err = projections.Collect(rows, err, nil, func(rows projections.Rows) (AnalyticsLocationDay, error) {
			return scanAnalyticsLocation(rows)
		}); err != nil {
			return err
		}
		if page == 1 && len(entries) < size {
			total = len(entries)
			return nil
		}
		total, err = projections.CountRows(ctx, db, `SELECT count(*) FROM `+projections.AnalyticsDailyLocationTable+` d`+w.String(), w.Args...)
		return err
	})
	if err != nil {
		return AnalyticsLocationPage{}, fmt.Errorf("analytics locations: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// EachAnalyticsLocation calls fn with every row of the query, in its
// order, as EachProvider walks the search: a batch at a time, each in its
// own short transaction, continuing after the last (day, location_id).
// The page and page size are checked but not applied.
func (q Service) EachAnalyticsLocation(ctx context.Context, v Viewer, a AnalyticsLocationsQuery, fn func(AnalyticsLocationDay) error) error {
	w, _, _, err := a.prepare(v)
	if err != nil {
		return err
	}
	if err := q.wait(ctx, a.MinPosition, analyticsProjections...); err != nil {
		return err
	}
	var last *AnalyticsLocationDay
	for {
		cond := w.Clone()
		if last != nil {
			cond.Add("(d.day, d.location_id) > (?, ?)", last.Day, last.LocationID)
		}
		var batch []AnalyticsLocationDay
		err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
			rows, err := db.QueryContext(ctx, analyticsLocationsSQL(cond, streamBatch, 0), cond.Args...)
			batch, err = projections.Collect(rows, err, nil, func(rows projections.Rows) (AnalyticsLocationDay, error) {
				return scanAnalyticsLocation(rows)
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("analytics locations: %w", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < streamBatch {
			return nil
		}
		last = &batch[len(batch)-1]
	}
}

// --- compliance ----------------------------------------------------------------

// ComplianceQuery asks which registered locations have not submitted a
// daily update in the last Days days (today included: Days 1 is "not
// today"), in an area.
type ComplianceQuery struct {
	Today          string // the caller's calendar day in Europe/London; "" means now
	Days           int    // 1 to MaxComplianceDays; 0 means 1
	AreaType, Area string // as in AnalyticsDailyQuery
	Page, PageSize int
	MinPosition    int64
}

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

// Compliance is a page of the locations that have not submitted, by name.
type Compliance struct {
	Today string `json:"today"`
	// Since is the first day of the window: a location that submitted on
	// Since or later is not listed.
	Since string `json:"since"`
	Days  int    `json:"days"`
	Page[ComplianceEntry]
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

// prepare checks the query and returns the conditions of its rows; none
// reports a viewer with no location to see.
func (c ComplianceQuery) prepare(v Viewer) (out Compliance, w projections.Where, none bool, err error) {
	var verr domain.ValidationError
	area := parseArea(&verr, c.AreaType, c.Area)
	out.Today, out.Days = today(c.Today), c.Days
	if out.Days == 0 {
		out.Days = 1
	}
	if out.Days < 1 || out.Days > MaxComplianceDays {
		verr.Add("days", "out_of_range", fmt.Sprintf("days is from 1 to %d", MaxComplianceDays))
	}
	t, _ := parseDay(&verr, "today", out.Today)
	out.Page.Page, out.PageSize = paging(&verr, c.Page, c.PageSize)
	if err := verr.Err(); err != nil {
		return out, w, false, err
	}
	out.Since = t.AddDate(0, 0, -(out.Days - 1)).Format(time.DateOnly)
	w.Add("registered = ?", true)
	w.Add("last_submitted_day < ?", out.Since) // '' (never) included
	if area.column != "" {
		w.Add(area.column+" = ?", area.Area)
	}
	if !mayReadAnalytics(v) {
		if len(v.Locations) == 0 {
			return out, w, true, nil
		}
		w.Add("location_id IN ("+projections.Marks(len(v.Locations))+")", anys(v.Locations)...)
	}
	return out, w, false, nil
}

// complianceSQL selects cols of the rows of w by name.
func complianceSQL(cols string, w projections.Where, limit, offset int) string {
	off := ""
	if offset > 0 {
		off = fmt.Sprintf(" OFFSET %d", offset)
	}
	return fmt.Sprintf(`SELECT %s FROM %s%s ORDER BY name_key, location_id LIMIT %d%s`, cols,
		projections.AnalyticsLocationsTable, w, limit, off)
}

// Compliance is the page of the registered locations, by name, that have
// not submitted a daily update in the window: support and commissioners
// see every location, any other user only those they have access to.
func (q Service) Compliance(ctx context.Context, v Viewer, c ComplianceQuery) (Compliance, error) {
	out, w, none, err := c.prepare(v)
	if err != nil {
		return Compliance{}, err
	}
	if err := q.wait(ctx, c.MinPosition, analyticsProjections...); err != nil {
		return Compliance{}, err
	}
	page, size := out.Page.Page, out.PageSize
	var (
		entries []ComplianceEntry
		total   int
	)
	if !none {
		err = q.ReadModels.Query(ctx, func(db projections.Querier) error {
			rows, err := db.QueryContext(ctx, complianceSQL(complianceColumns, w, size, (page-1)*size), w.Args...)
			if entries, err = projections.Collect(rows, err, nil, func(rows projections.Rows) (ComplianceEntry, error) {
				return scanCompliance(rows)
			}); err != nil {
				return err
			}
			if page == 1 && len(entries) < size {
				total = len(entries)
				return nil
			}
			total, err = projections.CountRows(ctx, db, `SELECT count(*) FROM `+projections.AnalyticsLocationsTable+w.String(), w.Args...)
			return err
		})
		if err != nil {
			return Compliance{}, fmt.Errorf("compliance: %w", err)
		}
	}
	out.Page = newPage(entries, total, page, size)
	return out, nil
}

// EachCompliance calls fn with every location of the compliance query, in
// its order, a batch at a time (see EachAnalyticsLocation).
func (q Service) EachCompliance(ctx context.Context, v Viewer, c ComplianceQuery, fn func(ComplianceEntry) error) error {
	_, w, none, err := c.prepare(v)
	if err != nil || none {
		return err
	}
	if err := q.wait(ctx, c.MinPosition, analyticsProjections...); err != nil {
		return err
	}
	var last []any
	for {
		cond := w.Clone()
		if last != nil {
			cond.Add("(name_key, location_id) > (?, ?)", last...)
		}
		var batch []ComplianceEntry
		err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
			rows, err := db.QueryContext(ctx, complianceSQL(complianceColumns+", name_key", cond, streamBatch, 0), cond.Args...)
			var key *projections.KeysetRow
			batch, err = projections.Collect(rows, err, nil, func(rows projections.Rows) (ComplianceEntry, error) {
				key = projections.NewKeysetRow(1)
				return scanCompliance(rows, key.Dest()...)
			})
			if len(batch) > 0 {
				last = []any{key.Values()[0], batch[len(batch)-1].LocationID}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("compliance: %w", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < streamBatch {
			return nil
		}
	}
}

// --- areas -------------------------------------------------------------------------

// AnalyticsArea is an area the locations are in, with the number of
// registered locations in it.
type AnalyticsArea struct {
	Area      string `json:"area"`
	Locations int    `json:"locations"`
}

// AnalyticsAreas lists the areas of a type (nhs_region, local_authority
// or ccg) that registered locations are in, by name, as the queries name
// them. Support and commissioners only.
func (q Service) AnalyticsAreas(ctx context.Context, v Viewer, areaType string, minPosition int64) ([]AnalyticsArea, error) {
	if !mayReadAnalytics(v) {
		return nil, domain.ErrForbidden
	}
	col := strings.ToLower(strings.TrimSpace(areaType))
	switch col {
	case projections.AreaNHSRegion, projections.AreaLocalAuthority, projections.AreaCCG:
	default:
		return nil, domain.Invalid("area_type", "invalid_choice", "area_type is one of: nhs_region, local_authority, ccg")
	}
	if err := q.wait(ctx, minPosition, analyticsProjections...); err != nil {
		return nil, err
	}
	var out []AnalyticsArea
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %[1]s, count(*) FROM %[2]s WHERE registered = ? AND %[1]s <> ''
GROUP BY %[1]s ORDER BY %[1]s`, col, projections.AnalyticsLocationsTable), true)
		out, err = projections.Collect(rows, err, []AnalyticsArea{}, func(rows projections.Rows) (AnalyticsArea, error) {
			var a AnalyticsArea
			err := rows.Scan(&a.Area, &a.Locations)
			return a, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("analytics areas: %w", err)
	}
	return out, nil
}

// LatestDailyUpdate is a location's latest effective daily update (the
// last submission of its latest day), for the daily update form's "your
// last update": one row of the analytics view by its primary key, so that
// the form does not fold the location's year of updates from the log. ok
// is false when the location never submitted. The viewer must have access
// to the location (or be support), else domain.ErrForbidden; whether the
// location exists is the caller's question (Location).
func (q Service) LatestDailyUpdate(ctx context.Context, v Viewer, locationID string, minPosition int64) (AnalyticsLocationDay, bool, error) {
	if !v.Support && !slices.Contains(v.Locations, locationID) {
		return AnalyticsLocationDay{}, false, domain.ErrForbidden
	}
	if err := q.wait(ctx, minPosition, analyticsProjections...); err != nil {
		return AnalyticsLocationDay{}, false, err
	}
	var (
		out AnalyticsLocationDay
		ok  bool
	)
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s d LEFT JOIN %s l ON l.location_id = d.location_id
WHERE d.location_id = ? ORDER BY d.day DESC LIMIT 1`, analyticsLocationColumns,
			projections.AnalyticsDailyLocationTable, projections.AnalyticsLocationsTable), locationID)
		days, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (AnalyticsLocationDay, error) {
			return scanAnalyticsLocation(rows)
		})
		if err != nil || len(days) == 0 {
			return err
		}
		out, ok = days[0], true
		return nil
	})
	if err != nil {
		return AnalyticsLocationDay{}, false, fmt.Errorf("latest daily update: %w", err)
	}
	return out, ok, nil
}
