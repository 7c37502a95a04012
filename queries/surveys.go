package queries

import (
	"context"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/search"
	"github.com/capacitytracker/capacity/projections/surveys"
)

// surveyProjections are the read models the survey queries read.
var surveyProjections = []projections.Projection{surveys.Projection{}, search.Projection{}}

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
type OpenSurvey = surveys.Open

// SurveyResponse is a location's latest answers to a survey.
type SurveyResponse = surveys.Response

// The states of a survey in support's list: its status, and for a
// published survey where now falls in its dates.
const (
	SurveyDraft     = surveys.StateDraft
	SurveyScheduled = surveys.StateScheduled // published, not open yet
	SurveyOpen      = surveys.StateOpen
	SurveyEnded     = surveys.StateEnded // published, its closing date passed
	SurveyClosed    = surveys.StateClosed
)

// SurveySummary is a survey in support's list.
type SurveySummary = surveys.Summary

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
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		l, found, err := surveys.FindLocation(ctx, db, locationID)
		if err != nil {
			return err
		}
		if !found {
			return domain.ErrNotFound
		}
		if !mayDashboard(v, locationID, l.OrganisationID) {
			return domain.ErrForbidden
		}
		out.LocationName = l.Name
		out.Surveys, err = surveys.OpenAt(ctx, db, locationID, now)
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

// Surveys is support's list of every survey, the newest first, with its
// state at now and the number of locations that answered it. Others get
// domain.ErrForbidden.
func (q Service) Surveys(ctx context.Context, v Viewer, now time.Time, minPosition int64) ([]SurveySummary, error) {
	if !v.Support {
		return nil, domain.ErrForbidden
	}
	if err := q.wait(ctx, minPosition, surveys.Projection{}); err != nil {
		return nil, err
	}
	var out []SurveySummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = surveys.List(ctx, db, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("surveys: %w", err)
	}
	return out, nil
}
