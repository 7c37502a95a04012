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
	"github.com/capacitytracker/capacity/projections/analytics"
)

// The analytics view, from its read model (package analytics): the
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
var analyticsProjections = []projections.Projection{analytics.Projection{}}

// parseArea checks an area: area_type is england (the default, with no
// area), nhs_region (one of location.NHSRegions, in any case),
// local_authority or ccg (as the locations name them).
func parseArea(v *domain.ValidationError, areaType, area string) analytics.Area {
	areaType, area = strings.ToLower(strings.TrimSpace(areaType)), strings.TrimSpace(area)
	if areaType == "" {
		areaType = analytics.AreaEngland
	}
	s := analytics.Area{Type: areaType, Name: area}
	switch areaType {
	case analytics.AreaEngland:
		if area != "" {
			v.Add("area", "not_allowed", "England is one area: leave area empty, or choose an area_type")
		}
	case analytics.AreaNHSRegion, analytics.AreaLocalAuthority, analytics.AreaCCG:
		switch {
		case area == "":
			v.Add("area", "required", "Name the "+strings.ReplaceAll(areaType, "_", " "))
		case len(area) > maxAreaLength:
			v.Add("area", "too_long", fmt.Sprintf("At most %d characters", maxAreaLength))
		case areaType == analytics.AreaNHSRegion:
			if r, ok := choice(location.NHSRegions(), area); ok {
				s.Name = r
			} else {
				v.Add("area", "invalid_choice", "Choose one of the NHS regions: "+strings.Join(location.NHSRegions(), ", "))
			}
		}
	default:
		v.Add("area_type", "invalid_choice", "area_type is one of: "+strings.Join(analytics.AreaTypes(), ", "))
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
type AnalyticsDay = analytics.Day

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
// expected from analytics_location_periods (analytics.Totals and
// analytics.ExpectedLocations). Support and commissioners only
// (domain.ErrForbidden); an invalid query is a *domain.ValidationError.
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
	out := AnalyticsDaily{AreaType: area.Type, Area: area.Name, From: days[0], To: days[len(days)-1]}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		totals, err := analytics.Totals(ctx, db, area, out.From, out.To)
		if err != nil {
			return err
		}
		expected, err := analytics.ExpectedLocations(ctx, db, area, days)
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

// --- per location ------------------------------------------------------------

// AnalyticsLocationsQuery asks for the effective updates of every location
// of an area on the days of a range, by day then location id.
type AnalyticsLocationsQuery struct {
	From, To, AreaType, Area, Today string // as in AnalyticsDailyQuery
	Page, PageSize                  int    // as in the lists of locations
	MinPosition                     int64
}

// AnalyticsLocationDay is a location's effective update of a day.
type AnalyticsLocationDay = analytics.LocationDay

// AnalyticsLocationPage is a page of AnalyticsLocations.
type AnalyticsLocationPage = Page[AnalyticsLocationDay]

// prepare checks the query and returns the filter of its rows.
func (a AnalyticsLocationsQuery) prepare(v Viewer) (f analytics.LocationsFilter, page, size int, err error) {
	if !mayReadAnalytics(v) {
		return f, 0, 0, domain.ErrForbidden
	}
	var verr domain.ValidationError
	area := parseArea(&verr, a.AreaType, a.Area)
	days := dayRange(&verr, a.From, a.To, a.Today)
	page, size = paging(&verr, a.Page, a.PageSize)
	if err := verr.Err(); err != nil {
		return f, 0, 0, err
	}
	return analytics.LocationsFilter{Area: area, From: days[0], To: days[len(days)-1]}, page, size, nil
}

// AnalyticsLocations is a page of the effective updates of the locations
// of an area on the days of a range, by day then location id, with their
// count. Support and commissioners only.
func (q Service) AnalyticsLocations(ctx context.Context, v Viewer, a AnalyticsLocationsQuery) (AnalyticsLocationPage, error) {
	f, page, size, err := a.prepare(v)
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
		var err error
		if entries, err = analytics.Locations(ctx, db, f, page, size); err != nil {
			return err
		}
		if page == 1 && len(entries) < size {
			total = len(entries)
			return nil
		}
		total, err = analytics.CountLocations(ctx, db, f)
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
	f, _, _, err := a.prepare(v)
	if err != nil {
		return err
	}
	if err := q.wait(ctx, a.MinPosition, analyticsProjections...); err != nil {
		return err
	}
	var last *AnalyticsLocationDay
	for {
		var batch []AnalyticsLocationDay
		err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
			var err error
			batch, err = analytics.LocationsAfter(ctx, db, f, last, streamBatch)
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
type ComplianceEntry = analytics.ComplianceEntry

// Compliance is a page of the locations that have not submitted, by name.
type Compliance struct {
	Today string `json:"today"`
	// Since is the first day of the window: a location that submitted on
	// Since or later is not listed.
	Since string `json:"since"`
	Days  int    `json:"days"`
	Page[ComplianceEntry]
}

// prepare checks the query and returns the filter of its rows; none
// reports a viewer with no location to see.
func (c ComplianceQuery) prepare(v Viewer) (out Compliance, f analytics.ComplianceFilter, none bool, err error) {
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
		return out, f, false, err
	}
	out.Since = t.AddDate(0, 0, -(out.Days - 1)).Format(time.DateOnly)
	f = analytics.ComplianceFilter{Since: out.Since, Area: area}
	if !mayReadAnalytics(v) {
		if len(v.Locations) == 0 {
			return out, f, true, nil
		}
		f.Restricted, f.Locations = true, v.Locations
	}
	return out, f, false, nil
}

// Compliance is the page of the registered locations, by name, that have
// not submitted a daily update in the window: support and commissioners
// see every location, any other user only those they have access to.
func (q Service) Compliance(ctx context.Context, v Viewer, c ComplianceQuery) (Compliance, error) {
	out, f, none, err := c.prepare(v)
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
			var err error
			if entries, err = analytics.Compliance(ctx, db, f, page, size); err != nil {
				return err
			}
			if page == 1 && len(entries) < size {
				total = len(entries)
				return nil
			}
			total, err = analytics.CountCompliance(ctx, db, f)
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
	_, f, none, err := c.prepare(v)
	if err != nil || none {
		return err
	}
	if err := q.wait(ctx, c.MinPosition, analyticsProjections...); err != nil {
		return err
	}
	var last *analytics.ComplianceKey
	for {
		var (
			batch []ComplianceEntry
			key   *analytics.ComplianceKey
		)
		err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
			var err error
			batch, key, err = analytics.ComplianceAfter(ctx, db, f, last, streamBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("compliance: %w", err)
		}
		if key != nil {
			last = key
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
type AnalyticsArea = analytics.AreaCount

// AnalyticsAreas lists the areas of a type (nhs_region, local_authority
// or ccg) that registered locations are in, by name, as the queries name
// them. Support and commissioners only.
func (q Service) AnalyticsAreas(ctx context.Context, v Viewer, areaType string, minPosition int64) ([]AnalyticsArea, error) {
	if !mayReadAnalytics(v) {
		return nil, domain.ErrForbidden
	}
	col := strings.ToLower(strings.TrimSpace(areaType))
	switch col {
	case analytics.AreaNHSRegion, analytics.AreaLocalAuthority, analytics.AreaCCG:
	default:
		return nil, domain.Invalid("area_type", "invalid_choice", "area_type is one of: nhs_region, local_authority, ccg")
	}
	if err := q.wait(ctx, minPosition, analyticsProjections...); err != nil {
		return nil, err
	}
	var out []AnalyticsArea
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = analytics.Areas(ctx, db, col)
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
		var err error
		out, ok, err = analytics.Latest(ctx, db, locationID)
		return err
	})
	if err != nil {
		return AnalyticsLocationDay{}, false, fmt.Errorf("latest daily update: %w", err)
	}
	return out, ok, nil
}
