package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/queries"
)

// auditRoutes is the audit view: every change, who made it and how, with
// filters and keyset paging, its CSV and XLSX downloads (every matching
// change, streamed), and an account's activity login by login. Who may
// read what is the queries' rule (queries/audit.go): auditors everything,
// Approvers their organisations' part, anybody else 403; anonymous callers
// get 401.
//
//	GET /audit[.csv|.xlsx]?entity_type=&entity_id=&location_id=&actor=&organisation=&session=
//	    &event_type=&bulk_upload_id=&from=&to=&before=&limit=
//	GET /users/{user_id}/activity?before=&limit=
//
// from and to are RFC 3339 instants, or London days (YYYY-MM-DD): from a
// day is from its start, to a day up to its end. A page's next_before is
// the before of the next. Every route takes min_position for
// read-your-writes.
func (s *Server) auditRoutes(api *mux.Router) {
	api.HandleFunc("/audit", s.viewed(jsonRead(s, auditFilter, s.queries.Audit))).Methods(http.MethodGet)
	api.HandleFunc("/audit.csv", s.viewed(s.auditFile(csvFile))).Methods(http.MethodGet)
	api.HandleFunc("/audit.xlsx", s.viewed(s.auditFile(xlsxFile))).Methods(http.MethodGet)
	api.HandleFunc("/users/{user_id}/activity", s.read(s.accountActivity)).Methods(http.MethodGet)
}

// auditFilter reads the filter of the audit routes from the query.
func auditFilter(r *http.Request) (queries.AuditFilter, error) {
	q := r.URL.Query()
	var v domain.ValidationError
	f := queries.AuditFilter{
		EntityType: q.Get("entity_type"), EntityID: q.Get("entity_id"), LocationID: q.Get("location_id"),
		ActorUserID: q.Get("actor"), OrganisationID: q.Get("organisation"), SessionID: q.Get("session"),
		EventType: q.Get("event_type"), BulkUploadID: q.Get("bulk_upload_id"),
		From: timeParam(q, "from", false, &v), To: timeParam(q, "to", true, &v),
		Before: int64Param(q, "before", &v), Limit: intParam(q, "limit", &v),
	}
	f.MinPosition = minPositionParam(r, &v)
	return f, v.Err()
}

// auditFile is the audit download: every matching change, streamed.
func (s *Server) auditFile(format fileFormat) func(http.ResponseWriter, *http.Request, queries.Viewer) {
	return fileRead(s, format, "Audit", "audit", auditColumns, auditFilter, s.queries.EachAuditChange)
}

func (s *Server) accountActivity(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	id, err := pathUUID(r, "user_id")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var verr domain.ValidationError
	a := queries.ActivityQuery{UserID: id.String(), Before: strings.TrimSpace(q.Get("before")),
		Limit: intParam(q, "limit", &verr), MinPosition: minPos}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	return s.queries.AccountActivity(r.Context(), v, a)
}

// auditValue is a change's value as a cell's text: a JSON string as
// itself, null (absent) as nothing, any other value as its JSON.
func auditValue(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// auditColumns are the columns of the audit downloads, a line per change.
// The UTC time is RFC 3339 text, exact; London's is a date cell of its
// wall clock, as in every download.
var auditColumns = []column[queries.AuditLine]{
	{"Position", 12, numberCell, func(l queries.AuditLine) any { return l.Position }},
	{"Event ID", 38, textCell, func(l queries.AuditLine) any { return l.EventID }},
	{"Recorded at (UTC)", 22, textCell, func(l queries.AuditLine) any { return l.RecordedAt.UTC().Format(time.RFC3339) }},
	{"Recorded at (Europe/London)", 20, dateTimeCell, func(l queries.AuditLine) any { return l.RecordedAt }},
	{"Actor user ID", 38, textCell, func(l queries.AuditLine) any { return l.Actor.UserID }},
	{"Actor email", 32, textCell, func(l queries.AuditLine) any { return l.Actor.Email }},
	{"Actor name", 24, textCell, func(l queries.AuditLine) any { return l.Actor.FullName }},
	{"Account kind", 12, textCell, func(l queries.AuditLine) any { return l.Actor.AccountKind }},
	{"Session", 38, textCell, func(l queries.AuditLine) any { return l.SessionID }},
	{"Client IP", 16, textCell, func(l queries.AuditLine) any { return l.ClientIP }},
	{"User agent", 30, textCell, func(l queries.AuditLine) any { return l.UserAgent }},
	{"Command", 24, textCell, func(l queries.AuditLine) any { return l.Command }},
	{"Entity type", 14, textCell, func(l queries.AuditLine) any { return l.EntityType }},
	{"Entity ID", 38, textCell, func(l queries.AuditLine) any { return l.EntityID }},
	{"Location ID", 15, textCell, func(l queries.AuditLine) any { return l.LocationID }},
	{"Event type", 28, textCell, func(l queries.AuditLine) any { return l.EventType }},
	{"Field", 28, textCell, func(l queries.AuditLine) any { return l.Field }},
	{"Before", 32, textCell, func(l queries.AuditLine) any { return auditValue(l.Before) }},
	{"After", 32, textCell, func(l queries.AuditLine) any { return auditValue(l.After) }},
	{"Bulk upload ID", 38, textCell, func(l queries.AuditLine) any { return l.BulkUploadID }},
}
