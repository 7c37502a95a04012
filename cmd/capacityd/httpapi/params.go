package httpapi

// The parsing of what a request says besides its body: path variables,
// query-string parameters (each bad one a field error of the
// ValidationError the handler returns) and the versions of If-Match.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/domain"
)

// minPosition reads ?min_position=, the position a client's own write
// returned, for read-your-writes.
func minPosition(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("min_position")
	if v == "" {
		return 0, nil
	}
	p, err := strconv.ParseInt(v, 10, 64)
	if err != nil || p < 0 {
		return 0, domain.Invalid("min_position", "invalid_number", "min_position must be a non-negative integer")
	}
	return p, nil
}

// minPositionParam is minPosition for a query parsed into v: a bad
// min_position is one more of v's invalid fields.
func minPositionParam(r *http.Request, v *domain.ValidationError) int64 {
	pos, err := minPosition(r)
	if err != nil {
		v.Merge("", err)
	}
	return pos
}

func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(mux.Vars(r)[name])
	if err != nil {
		// An id that cannot exist names nothing.
		return uuid.Nil, domain.ErrNotFound
	}
	return id, nil
}

// intParam reads an optional integer query parameter (0 when absent).
func intParam(q url.Values, name string, v *domain.ValidationError) int {
	s := strings.TrimSpace(q.Get(name))
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		v.Add(name, "invalid_number", name+" must be a whole number")
	}
	return n
}

// timeParam reads an instant: RFC 3339, or a London day (YYYY-MM-DD),
// which means its start, or with dayEnd its end (the next day's start).
// Zero when absent.
func timeParam(q url.Values, name string, dayEnd bool, v *domain.ValidationError) time.Time {
	s := strings.TrimSpace(q.Get(name))
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	// A "+" of an offset not escaped in the URL arrives as a space.
	if t, err := time.Parse(time.RFC3339, strings.Replace(s, " ", "+", 1)); err == nil {
		return t
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, london); err == nil {
		if dayEnd {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	v.Add(name, "invalid_time", "Enter a date as YYYY-MM-DD or a time as RFC 3339 (2026-06-01T09:30:00Z)")
	return time.Time{}
}

// int64Param reads an optional whole number.
func int64Param(q url.Values, name string, v *domain.ValidationError) int64 {
	s := strings.TrimSpace(q.Get(name))
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		v.Add(name, "invalid_number", name+" must be a whole number")
	}
	return n
}

func locationID(r *http.Request) string { return mux.Vars(r)["location_id"] }

func surveyID(r *http.Request) string { return mux.Vars(r)["survey_id"] }

// etag is the strong entity tag of a location's version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// parseIfMatch reads the version of an If-Match header: "7", W/"7" or 7.
// ok is false when there is no header.
func parseIfMatch(h http.Header) (version int64, ok bool, err error) {
	raw := strings.TrimSpace(h.Get("If-Match"))
	if raw == "" {
		return 0, false, nil
	}
	v, weak := strings.CutPrefix(raw, "W/")
	quoted := len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"'
	if quoted {
		v = v[1 : len(v)-1]
	}
	n, perr := strconv.ParseInt(v, 10, 64)
	if perr != nil || n < 0 || strings.HasPrefix(v, "+") || (weak && !quoted) || len(h.Values("If-Match")) > 1 {
		return 0, false, &errBody{http.StatusBadRequest, "invalid_if_match",
			`If-Match must be the one ETag of GET /api/v1/locations/{id}, like "7"`}
	}
	return n, true, nil
}

// expectedVersion is the version an edit was made on: If-Match, or the
// request's own expected_version (body or query), which must agree when
// both are sent.
func expectedVersion(r *http.Request, own *int64) (int64, error) {
	header, inHeader, err := parseIfMatch(r.Header)
	if err != nil {
		return 0, err
	}
	if own != nil && *own < 0 {
		return 0, &errBody{http.StatusBadRequest, "invalid_expected_version", "expected_version must be a non-negative integer"}
	}
	switch {
	case inHeader && own != nil && header != *own:
		return 0, &errBody{http.StatusBadRequest, "version_mismatch",
			"If-Match and expected_version name different versions: send one of them"}
	case inHeader:
		return header, nil
	case own != nil:
		return *own, nil
	}
	return 0, &errBody{http.StatusPreconditionRequired, "version_required",
		"say which version you edited: send If-Match with the ETag of GET /api/v1/locations/{id}, or expected_version"}
}

// queryVersion reads ?expected_version= of a DELETE (nil when absent).
func queryVersion(r *http.Request) (*int64, error) {
	q := r.URL.Query()
	if !q.Has("expected_version") {
		return nil, nil
	}
	n, err := strconv.ParseInt(q.Get("expected_version"), 10, 64)
	if err != nil || n < 0 {
		return nil, &errBody{http.StatusBadRequest, "invalid_expected_version", "expected_version must be a non-negative integer"}
	}
	return &n, nil
}

// deleteVersion is the version a DELETE was made on: If-Match or
// ?expected_version=.
func deleteVersion(r *http.Request) (int64, error) {
	q, err := queryVersion(r)
	if err != nil {
		return 0, err
	}
	return expectedVersion(r, q)
}
