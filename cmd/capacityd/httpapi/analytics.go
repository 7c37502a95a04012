package httpapi

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/queries"
)

// analyticsRoutes is the analytics view: the totals of the daily updates
// per day in an area, each location's effective update per day, the
// locations that have not submitted lately, and their XLSX and CSV
// downloads. Who may read what is the queries' rule (queries/analytics.go):
// support and commissioners everything, other users the compliance list of
// their own locations; anonymous callers get 401.
//
//	GET /analytics/daily[.xlsx|.csv]?from=&to=&area_type=&area=
//	GET /analytics/locations[.xlsx|.csv]?day= | from=&to=, area_type=&area=, page=&page_size=
//	GET /analytics/compliance[.xlsx|.csv]?days=N&area_type=&area=&page=&page_size=
//	GET /analytics/areas?area_type=nhs_region|local_authority|ccg
//
// Days are Europe/London calendar days (YYYY-MM-DD); "today" is the
// server's. Every route takes min_position for read-your-writes.
func (s *Server) analyticsRoutes(api *mux.Router) {
	api.HandleFunc("/analytics/daily", s.viewed(jsonRead(s, s.analyticsDailyQuery, s.queries.AnalyticsDaily))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/daily.xlsx", s.viewed(s.analyticsDailyFile(xlsxFile))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/daily.csv", s.viewed(s.analyticsDailyFile(csvFile))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/locations", s.viewed(jsonRead(s, s.analyticsLocationsQuery, s.queries.AnalyticsLocations))).
		Methods(http.MethodGet)
	api.HandleFunc("/analytics/locations.xlsx", s.viewed(s.analyticsLocationsFile(xlsxFile))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/locations.csv", s.viewed(s.analyticsLocationsFile(csvFile))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/compliance", s.viewed(jsonRead(s, s.complianceQuery, s.queries.Compliance))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/compliance.xlsx", s.viewed(s.complianceFile(xlsxFile))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/compliance.csv", s.viewed(s.complianceFile(csvFile))).Methods(http.MethodGet)
	api.HandleFunc("/analytics/areas", s.read(s.analyticsAreas)).Methods(http.MethodGet)
}

// today is the server's calendar day in Europe/London.
func (s *Server) today() string { return dailyupdate.Day(s.commands.Now()) }

// analyticsDailyQuery reads a totals query from the query parameters.
func (s *Server) analyticsDailyQuery(r *http.Request) (queries.AnalyticsDailyQuery, error) {
	q := r.URL.Query()
	d := queries.AnalyticsDailyQuery{From: q.Get("from"), To: q.Get("to"), AreaType: q.Get("area_type"),
		Area: q.Get("area"), Today: s.today()}
	pos, err := minPosition(r)
	d.MinPosition = pos
	return d, err
}

// analyticsDailyFile is the totals download. It stays by hand: its
// columns name the area the query resolved, so it reads the days (at most
// MaxAnalyticsDays) before it writes, and an error is still answered as
// JSON.
func (s *Server) analyticsDailyFile(format fileFormat) func(http.ResponseWriter, *http.Request, queries.Viewer) {
	return func(w http.ResponseWriter, r *http.Request, v queries.Viewer) {
		d, err := s.analyticsDailyQuery(r)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		out, err := s.queries.AnalyticsDaily(r.Context(), v, d)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		cols := analyticsDailyColumns(out.AreaType, out.Area)
		writeFile(s, w, r, format, "Daily totals", "analytics-daily", cols, func(fn func(queries.AnalyticsDay) error) error {
			for _, day := range out.Days {
				if err := fn(day); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// analyticsLocationsQuery reads a per-location query: day names one day,
// else from and to a range.
func (s *Server) analyticsLocationsQuery(r *http.Request) (queries.AnalyticsLocationsQuery, error) {
	q := r.URL.Query()
	var v domain.ValidationError
	a := queries.AnalyticsLocationsQuery{From: q.Get("from"), To: q.Get("to"), AreaType: q.Get("area_type"),
		Area: q.Get("area"), Today: s.today(), Page: intParam(q, "page", &v), PageSize: intParam(q, "page_size", &v)}
	if day := q.Get("day"); day != "" {
		if a.From != "" || a.To != "" {
			v.Add("day", "not_allowed", "Give either day, or from and to")
		}
		a.From, a.To = day, day
	}
	a.MinPosition = minPositionParam(r, &v)
	return a, v.Err()
}

// analyticsLocationsFile is the per-location download.
func (s *Server) analyticsLocationsFile(format fileFormat) func(http.ResponseWriter, *http.Request, queries.Viewer) {
	return fileRead(s, format, "Daily updates", "analytics-locations", analyticsLocationColumns,
		s.analyticsLocationsQuery, s.queries.EachAnalyticsLocation)
}

// complianceQuery reads a compliance query: days (default 1, today).
func (s *Server) complianceQuery(r *http.Request) (queries.ComplianceQuery, error) {
	q := r.URL.Query()
	var v domain.ValidationError
	c := queries.ComplianceQuery{Today: s.today(), Days: intParam(q, "days", &v), AreaType: q.Get("area_type"),
		Area: q.Get("area"), Page: intParam(q, "page", &v), PageSize: intParam(q, "page_size", &v)}
	if strings.TrimSpace(q.Get("days")) == "0" {
		v.Add("days", "out_of_range", fmt.Sprintf("days is from 1 to %d", queries.MaxComplianceDays))
	}
	c.MinPosition = minPositionParam(r, &v)
	return c, v.Err()
}

// complianceFile is the compliance download.
func (s *Server) complianceFile(format fileFormat) func(http.ResponseWriter, *http.Request, queries.Viewer) {
	return fileRead(s, format, "Not submitted", "analytics-compliance", complianceColumns,
		s.complianceQuery, s.queries.EachCompliance)
}

func (s *Server) analyticsAreas(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	areaType := r.URL.Query().Get("area_type")
	list, err := s.queries.AnalyticsAreas(r.Context(), v, areaType, minPos)
	return map[string]any{"area_type": strings.ToLower(strings.TrimSpace(areaType)), "areas": list}, err
}

// --- the downloads' columns -------------------------------------------------------

// sharePercent is a share as a percentage to one decimal place, nil (a
// blank cell) when there is none.
func sharePercent(share *float64) any {
	if share == nil {
		return nil
	}
	return math.Round(*share*1000) / 10
}

// analyticsDailyColumns are the columns of the totals download, which
// names its area on every row.
func analyticsDailyColumns(areaType, area string) []column[queries.AnalyticsDay] {
	return []column[queries.AnalyticsDay]{
		{"Day", 12, dateCell, func(d queries.AnalyticsDay) any { return d.Day }},
		{"Area type", 16, textCell, func(queries.AnalyticsDay) any { return areaType }},
		{"Area", 28, textCell, func(queries.AnalyticsDay) any { return area }},
		{"Locations expected", 12, numberCell, func(d queries.AnalyticsDay) any { return d.LocationsExpected }},
		{"Locations submitted", 12, numberCell, func(d queries.AnalyticsDay) any { return d.LocationsSubmitted }},
		{"Share submitted (%)", 12, numberCell, func(d queries.AnalyticsDay) any { return sharePercent(d.ShareSubmitted) }},
		{"Service users", 12, numberCell, func(d queries.AnalyticsDay) any { return d.ServiceUsers }},
		{"Confirmed COVID-19", 12, numberCell, func(d queries.AnalyticsDay) any { return d.Confirmed }},
		{"Suspected COVID-19", 12, numberCell, func(d queries.AnalyticsDay) any { return d.Suspected }},
		{"Care staff", 12, numberCell, func(d queries.AnalyticsDay) any { return d.CareStaff }},
		{"Staff absent", 12, numberCell, func(d queries.AnalyticsDay) any { return d.StaffAbsent }},
		{"Locations offering extra hours", 14, numberCell, func(d queries.AnalyticsDay) any { return d.LocationsOfferingExtra }},
		{"Extra hours per week", 12, numberCell, func(d queries.AnalyticsDay) any { return d.ExtraHours }},
		{"PPE more than a week", 12, numberCell, func(d queries.AnalyticsDay) any { return d.PPEMoreThanWeek }},
		{"PPE 3 days to a week", 12, numberCell, func(d queries.AnalyticsDay) any { return d.PPEThreeDaysToWeek }},
		{"PPE 2 days or less", 12, numberCell, func(d queries.AnalyticsDay) any { return d.PPETwoDaysOrLess }},
	}
}

// analyticsLocationColumns are the columns of the per-location download.
var analyticsLocationColumns = []column[queries.AnalyticsLocationDay]{
	{"Day", 12, dateCell, func(e queries.AnalyticsLocationDay) any { return e.Day }},
	{"Location ID", 15, textCell, func(e queries.AnalyticsLocationDay) any { return e.LocationID }},
	{"Name", 32, textCell, func(e queries.AnalyticsLocationDay) any { return e.Name }},
	{"Organisation ID", 14, textCell, func(e queries.AnalyticsLocationDay) any { return e.OrganisationID }},
	{"Organisation", 32, textCell, func(e queries.AnalyticsLocationDay) any { return e.OrganisationName }},
	{"NHS region", 24, textCell, func(e queries.AnalyticsLocationDay) any { return e.NHSRegion }},
	{"Local authority", 20, textCell, func(e queries.AnalyticsLocationDay) any { return e.LocalAuthority }},
	{"CCG / ICB", 28, textCell, func(e queries.AnalyticsLocationDay) any { return e.CCG }},
	{"Service users", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.ServiceUsers }},
	{"Confirmed COVID-19", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.Confirmed }},
	{"Suspected COVID-19", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.Suspected }},
	{"Care staff", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.CareStaff }},
	{"Staff absent", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.StaffAbsent }},
	{"PPE stock", 24, textCell, func(e queries.AnalyticsLocationDay) any { return dailyupdate.ShortPPELabel(e.PPE) }},
	{"Can provide extra hours", 10, yesNoCell, func(e queries.AnalyticsLocationDay) any { return e.CanProvideExtra }},
	{"Extra hours per week", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.ExtraHours }},
	{"Other issues", 40, textCell, func(e queries.AnalyticsLocationDay) any { return e.OtherIssues }},
	{"No change", 10, yesNoCell, func(e queries.AnalyticsLocationDay) any { return e.NoChange }},
	{"Submitted at", 19, dateTimeCell, func(e queries.AnalyticsLocationDay) any { return e.SubmittedAt }},
	{"Submissions that day", 12, numberCell, func(e queries.AnalyticsLocationDay) any { return e.Submissions }},
}

// complianceColumns are the columns of the compliance download.
var complianceColumns = []column[queries.ComplianceEntry]{
	{"Location ID", 14, textCell, func(e queries.ComplianceEntry) any { return e.LocationID }},
	{"Name", 32, textCell, func(e queries.ComplianceEntry) any { return e.Name }},
	{"Organisation ID", 14, textCell, func(e queries.ComplianceEntry) any { return e.OrganisationID }},
	{"Organisation", 32, textCell, func(e queries.ComplianceEntry) any { return e.OrganisationName }},
	{"NHS region", 24, textCell, func(e queries.ComplianceEntry) any { return e.NHSRegion }},
	{"Local authority", 20, textCell, func(e queries.ComplianceEntry) any { return e.LocalAuthority }},
	{"CCG / ICB", 28, textCell, func(e queries.ComplianceEntry) any { return e.CCG }},
	{"Last daily update", 12, dateCell, func(e queries.ComplianceEntry) any {
		if e.LastSubmittedDay == nil {
			return ""
		}
		return *e.LastSubmittedDay
	}},
}

// --- CSV -------------------------------------------------------------------------------

// CSVContentType is the media type of the CSV downloads.
const CSVContentType = "text/csv; charset=utf-8"

// writeCSV answers with a CSV file (RFC 4180, a header row) of the same
// columns as the XLSX download, streamed as the rows come: numbers as
// digits, dates as YYYY-MM-DD, times as London's wall clock
// (YYYY-MM-DD HH:MM:SS), yes/no as Yes or No. Text that a spreadsheet
// would take for a formula (= + - @ first) is prefixed with ', as
// OWASP advises for CSV files. Every csvFlushRows rows go out to the
// client at once, and the download may outlast the server's WriteTimeout
// as long as it goes on (downloadWindow). The status line waits for the
// first row, so that an error before it is answered as JSON; a failure
// after it truncates the file and is logged.
func writeCSV[T any](s *Server, w http.ResponseWriter, r *http.Request, prefix string, cols []column[T],
	each func(fn func(T) error) error) {
	cw := csv.NewWriter(w)
	started := false
	start := func() error {
		started = true
		name := fmt.Sprintf("%s-%s.csv", prefix, time.Now().In(london).Format(time.DateOnly))
		w.Header().Set("Content-Type", CSVContentType)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if err := extendDeadline(w); err != nil {
			return err
		}
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = c.header
		}
		return cw.Write(header)
	}
	record := make([]string, len(cols))
	rows := 0
	err := each(func(v T) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		for i, c := range cols {
			record[i] = csvValue(c.kind, c.value(v))
		}
		if err := cw.Write(record); err != nil {
			return err
		}
		if rows++; rows%csvFlushRows == 0 {
			return flushCSV(w, cw)
		}
		return nil
	})
	if err != nil && !started {
		s.writeErr(w, r, err)
		return
	}
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err != nil {
		// The status line is sent: the client sees a truncated file.
		s.logger.WarnContext(r.Context(), "write csv", "path", r.URL.Path, "err", err)
	}
}

// csvFlushRows is how often a CSV download sends what it has written, so
// that a long one reaches the client as it goes rather than in bursts.
const csvFlushRows = 1000

// flushCSV sends the rows written so far to the client, and moves the
// write deadline on (see downloadWindow).
func flushCSV(w http.ResponseWriter, cw *csv.Writer) error {
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return extendDeadline(w)
}

// csvValue is a value as CSV text.
func csvValue(kind cellKind, v any) string {
	switch kind {
	case yesNoCell:
		if b, _ := v.(bool); b {
			return "Yes"
		}
		return "No"
	case dateTimeCell:
		t := asTime(v)
		if t.IsZero() {
			return ""
		}
		return t.In(london).Format(time.DateTime)
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x != "" && strings.ContainsRune("=+-@\t\r", rune(x[0])) {
			return "'" + x
		}
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
