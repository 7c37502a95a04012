package surveys

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/search"
)

// Open is a survey a location may answer now.
type Open struct {
	SurveyID  string            `json:"survey_id"`
	Title     string            `json:"title"`
	Questions []survey.Question `json:"questions"`
	OpensAt   time.Time         `json:"opens_at"`
	ClosesAt  time.Time         `json:"closes_at"`
	Version   int64             `json:"version"`
	// Response is the location's latest answers; nil before its first.
	Response *Response `json:"response"`
}

// Response is a location's latest answers to a survey.
type Response struct {
	Answers          survey.Answers `json:"answers"`
	Submissions      int            `json:"submissions"`
	SurveyVersion    int64          `json:"survey_version"`
	FirstSubmittedAt time.Time      `json:"first_submitted_at"`
	SubmittedAt      time.Time      `json:"submitted_at"`
}

// The states of a survey in support's list: its status, and for a
// published survey where now falls in its dates.
const (
	StateDraft     = "draft"
	StateScheduled = "scheduled" // published, not open yet
	StateOpen      = "open"
	StateEnded     = "ended" // published, its closing date passed
	StateClosed    = "closed"
)

// Summary is a survey in support's list.
type Summary struct {
	SurveyID          string            `json:"survey_id"`
	Title             string            `json:"title"`
	Status            string            `json:"status"`
	State             string            `json:"state"`
	Questions         []survey.Question `json:"questions"`
	OrganisationTypes []string          `json:"organisation_types"`
	NHSRegions        []string          `json:"nhs_regions"`
	OpensAt           time.Time         `json:"opens_at"`
	ClosesAt          time.Time         `json:"closes_at"`
	DefinedAt         time.Time         `json:"defined_at"`
	PublishedAt       *time.Time        `json:"published_at,omitempty"`
	ClosedAt          *time.Time        `json:"closed_at,omitempty"`
	// Version is the survey's version: an amendment's expected version.
	Version int64 `json:"version"`
	// Responses counts the locations that answered.
	Responses int `json:"responses"`
}

// Location is what the surveys' targeting knows of a location: its
// organisation and name, as search_locations holds them.
type Location struct {
	OrganisationID string
	Name           string
}

// FindLocation reads a location as the surveys' targeting sees it, and
// whether it exists.
func FindLocation(ctx context.Context, db projections.Querier, locationID string) (Location, bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT organisation_id, name FROM `+search.Table+
		` WHERE location_id = ?`, locationID)
	found, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (Location, error) {
		var l Location
		err := rows.Scan(&l.OrganisationID, &l.Name)
		return l, err
	})
	if err != nil || len(found) == 0 {
		return Location{}, false, err
	}
	return found[0], true, nil
}

// OpenAt lists the surveys open at now for a location: published, not
// closed, now within their dates, and targeting the location's
// organisation type and NHS region (as search_locations holds them), by
// closing date, each with the location's latest answers.
func OpenAt(ctx context.Context, db projections.Querier, locationID string, now time.Time) ([]Open, error) {
	d := db.Dialect()
	targeted := func(kind, column string) string {
		return fmt.Sprintf(`(NOT EXISTS (SELECT 1 FROM %[1]s t WHERE t.survey_id = s.survey_id AND t.kind = '%[2]s')
    OR EXISTS (SELECT 1 FROM %[1]s t WHERE t.survey_id = s.survey_id AND t.kind = '%[2]s' AND t.value = l.%[3]s))`,
			TargetsTable, kind, column)
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT s.survey_id, s.title, s.questions, s.opens_at, s.closes_at, s.version,
    COALESCE(r.answers, ''), COALESCE(r.submissions, 0), COALESCE(r.survey_version, 0), r.first_submitted_at, r.submitted_at
FROM %s s
JOIN %s l ON l.location_id = ?
LEFT JOIN %s r ON r.survey_id = s.survey_id AND r.location_id = l.location_id
WHERE s.status = ? AND s.opens_at <= ? AND s.closes_at > ?
    AND %s
    AND %s
ORDER BY s.closes_at, s.title, s.survey_id`, Table, search.Table, ResponsesTable,
		targeted(TargetOrganisationType, "organisation_type"), targeted(TargetNHSRegion, "nhs_region")),
		locationID, string(survey.Published), d.Time(now), d.Time(now))
	return projections.Collect(rows, err, []Open{}, scanOpen)
}

func scanOpen(rows projections.Rows) (Open, error) {
	var (
		s                  Open
		questions, answers string
		opens, closes      projections.Timestamp
		first, last        projections.Timestamp
		submissions        int
		answeredVersion    int64
	)
	if err := rows.Scan(&s.SurveyID, &s.Title, &questions, &opens, &closes, &s.Version,
		&answers, &submissions, &answeredVersion, &first, &last); err != nil {
		return s, err
	}
	s.OpensAt, s.ClosesAt = opens.Time, closes.Time
	if err := json.Unmarshal([]byte(questions), &s.Questions); err != nil {
		return s, fmt.Errorf("questions of survey %s: %w", s.SurveyID, err)
	}
	if submissions > 0 {
		r := &Response{Submissions: submissions, SurveyVersion: answeredVersion, FirstSubmittedAt: first.Time, SubmittedAt: last.Time}
		if err := json.Unmarshal([]byte(answers), &r.Answers); err != nil {
			return s, fmt.Errorf("answers to survey %s: %w", s.SurveyID, err)
		}
		s.Response = r
	}
	return s, nil
}

// List is every survey, the newest first, with its state at now and the
// number of locations that answered it.
func List(ctx context.Context, db projections.Querier, now time.Time) ([]Summary, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT s.survey_id, s.title, s.status, s.questions, s.organisation_types,
    s.nhs_regions, s.opens_at, s.closes_at, s.defined_at, s.published_at, s.closed_at, s.version,
    (SELECT count(*) FROM %s r WHERE r.survey_id = s.survey_id)
FROM %s s
ORDER BY s.defined_at DESC, s.survey_id`, ResponsesTable, Table))
	return projections.Collect(rows, err, []Summary{}, func(rows projections.Rows) (Summary, error) {
		return scanSummary(rows, now)
	})
}

func scanSummary(rows projections.Rows, now time.Time) (Summary, error) {
	var (
		s                                         Summary
		questions, orgTypes, regions              string
		opens, closes, defined, published, closed projections.Timestamp
	)
	if err := rows.Scan(&s.SurveyID, &s.Title, &s.Status, &questions, &orgTypes, &regions, &opens, &closes, &defined,
		&published, &closed, &s.Version, &s.Responses); err != nil {
		return s, err
	}
	for _, f := range []struct {
		text string
		dst  any
	}{{questions, &s.Questions}, {orgTypes, &s.OrganisationTypes}, {regions, &s.NHSRegions}} {
		if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
			return s, fmt.Errorf("survey %s: %w", s.SurveyID, err)
		}
	}
	s.OpensAt, s.ClosesAt, s.DefinedAt = opens.Time, closes.Time, defined.Time
	s.PublishedAt, s.ClosedAt = projections.TimePtr(published), projections.TimePtr(closed)
	switch {
	case s.Status == string(survey.Draft):
		s.State = StateDraft
	case s.Status == string(survey.Closed):
		s.State = StateClosed
	case now.Before(s.OpensAt):
		s.State = StateScheduled
	case now.Before(s.ClosesAt):
		s.State = StateOpen
	default:
		s.State = StateEnded
	}
	return s, nil
}
