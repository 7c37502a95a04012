package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/search"
)

// surveyProjections are the read models the survey queries read.
var surveyProjections = []projections.Projection{projections.Surveys{}, search.Projection{}}

// LocationSurveys is a location's Surveys page: the surveys open for it
// now, each with the location's latest answers, or Message when there are
// none.
type LocationSurveys struct {
	LocationID   string       `json:"location_id"`
	LocationName string       `json:"location_name"`
	Surveys      []OpenSurvey `json:"surveys"`
	// Message is survey.NoSurveysMessage when Surveys is empty.
	Message string `json:"message,omitempty"`
}

// OpenSurvey is a survey a location may answer now.
type OpenSurvey struct {
	SurveyID  string            `json:"survey_id"`
	Title     string            `json:"title"`
	Questions []survey.Question `json:"questions"`
	OpensAt   time.Time         `json:"opens_at"`
	ClosesAt  time.Time         `json:"closes_at"`
	Version   int64             `json:"version"`
	// Response is the location's latest answers; nil before its first.
	Response *SurveyResponse `json:"response"`
}

// SurveyResponse is a location's latest answers to a survey.
type SurveyResponse struct {
	Answers          survey.Answers `json:"answers"`
	Submissions      int            `json:"submissions"`
	SurveyVersion    int64          `json:"survey_version"`
	FirstSubmittedAt time.Time      `json:"first_submitted_at"`
	SubmittedAt      time.Time      `json:"submitted_at"`
}

// The states of a survey in support's list: its status, and for a
// published survey where now falls in its dates.
const (
	SurveyDraft     = "draft"
	SurveyScheduled = "scheduled" // published, not open yet
	SurveyOpen      = "open"
	SurveyEnded     = "ended" // published, its closing date passed
	SurveyClosed    = "closed"
)

// SurveySummary is a survey in support's list.
type SurveySummary struct {
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

// OpenSurveys lists the surveys open at now for a location: published, not
// closed, now within their dates, and targeting the location's
// organisation type and NHS region (as search_locations holds them), by
// closing date. Support, the location's users and its organisation's
// Approvers may see them; an unknown location is domain.ErrNotFound.
func (q Service) OpenSurveys(ctx context.Context, v Viewer, locationID string, now time.Time, minPosition int64) (LocationSurveys, error) {
	out := LocationSurveys{LocationID: locationID, Surveys: []OpenSurvey{}}
	if err := q.wait(ctx, minPosition, surveyProjections...); err != nil {
		return out, err
	}
	d := q.ReadModels.Dialect()
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT organisation_id, name FROM `+search.Table+
			` WHERE location_id = ?`, locationID)
		type loc struct{ org, name string }
		found, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (loc, error) {
			var l loc
			err := rows.Scan(&l.org, &l.name)
			return l, err
		})
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return domain.ErrNotFound
		}
		if !mayDashboard(v, locationID, found[0].org) {
			return domain.ErrForbidden
		}
		out.LocationName = found[0].name
		targeted := func(kind, column string) string {
			return fmt.Sprintf(`(NOT EXISTS (SELECT 1 FROM %[1]s t WHERE t.survey_id = s.survey_id AND t.kind = '%[2]s')
    OR EXISTS (SELECT 1 FROM %[1]s t WHERE t.survey_id = s.survey_id AND t.kind = '%[2]s' AND t.value = l.%[3]s))`,
				projections.SurveyTargetsTable, kind, column)
		}
		rows, err = db.QueryContext(ctx, fmt.Sprintf(`SELECT s.survey_id, s.title, s.questions, s.opens_at, s.closes_at, s.version,
    COALESCE(r.answers, ''), COALESCE(r.submissions, 0), COALESCE(r.survey_version, 0), r.first_submitted_at, r.submitted_at
FROM %s s
JOIN %s l ON l.location_id = ?
LEFT JOIN %s r ON r.survey_id = s.survey_id AND r.location_id = l.location_id
WHERE s.status = ? AND s.opens_at <= ? AND s.closes_at > ?
    AND %s
    AND %s
ORDER BY s.closes_at, s.title, s.survey_id`, projections.SurveysTable, search.Table, projections.SurveyResponsesTable,
			targeted(projections.TargetOrganisationType, "organisation_type"), targeted(projections.TargetNHSRegion, "nhs_region")),
			locationID, string(survey.Published), d.Time(now), d.Time(now))
		out.Surveys, err = projections.Collect(rows, err, out.Surveys, scanOpenSurvey)
		return err
	})
	if err != nil {
		return out, err
	}
	if len(out.Surveys) == 0 {
		out.Message = survey.NoSurveysMessage
	}
	return out, nil
}

func scanOpenSurvey(rows projections.Rows) (OpenSurvey, error) {
	var (
		s                  OpenSurvey
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
		r := &SurveyResponse{Submissions: submissions, SurveyVersion: answeredVersion, FirstSubmittedAt: first.Time, SubmittedAt: last.Time}
		if err := json.Unmarshal([]byte(answers), &r.Answers); err != nil {
			return s, fmt.Errorf("answers to survey %s: %w", s.SurveyID, err)
		}
		s.Response = r
	}
	return s, nil
}

// Surveys is support's list of every survey, the newest first, with its
// state at now and the number of locations that answered it. Others get
// domain.ErrForbidden.
func (q Service) Surveys(ctx context.Context, v Viewer, now time.Time, minPosition int64) ([]SurveySummary, error) {
	if !v.Support {
		return nil, domain.ErrForbidden
	}
	if err := q.wait(ctx, minPosition, projections.Surveys{}); err != nil {
		return nil, err
	}
	out := []SurveySummary{}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT s.survey_id, s.title, s.status, s.questions, s.organisation_types,
    s.nhs_regions, s.opens_at, s.closes_at, s.defined_at, s.published_at, s.closed_at, s.version,
    (SELECT count(*) FROM %s r WHERE r.survey_id = s.survey_id)
FROM %s s
ORDER BY s.defined_at DESC, s.survey_id`, projections.SurveyResponsesTable, projections.SurveysTable))
		out, err = projections.Collect(rows, err, out, func(rows projections.Rows) (SurveySummary, error) {
			return scanSurveySummary(rows, now)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("surveys: %w", err)
	}
	return out, nil
}

func scanSurveySummary(rows projections.Rows, now time.Time) (SurveySummary, error) {
	var (
		s                                         SurveySummary
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
		s.State = SurveyDraft
	case s.Status == string(survey.Closed):
		s.State = SurveyClosed
	case now.Before(s.OpensAt):
		s.State = SurveyScheduled
	case now.Before(s.ClosesAt):
		s.State = SurveyOpen
	default:
		s.State = SurveyEnded
	}
	return s, nil
}
