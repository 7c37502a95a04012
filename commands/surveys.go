package commands

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
)

// Surveys: support defines, amends, publishes and closes them; the users
// of a location the survey targets answer it while it is open, as often as
// they like. Each answer is decided on the survey as it is at a.now(): a
// survey closed between the load and the append still takes that one
// answer, as if it had arrived just before the close.

// SurveyChanged is the outcome of a support command on a survey.
type SurveyChanged struct {
	// Position of the last event appended, for read-your-writes (0 when
	// nothing changed).
	Position int64  `json:"position"`
	SurveyID string `json:"survey_id"`
	// Version is the survey's version after the command: the next
	// amendment's expected version.
	Version int64 `json:"version"`
	// Changed is false for an amendment that changed nothing.
	Changed bool `json:"changed"`
}

// SurveyAnswered is the outcome of a location's answers to a survey.
type SurveyAnswered struct {
	Position    int64          `json:"position"`
	SurveyID    string         `json:"survey_id"`
	LocationID  string         `json:"location_id"`
	SubmittedAt time.Time      `json:"submitted_at"`
	Answers     survey.Answers `json:"answers"`
	// Submissions counts this location's submissions so far, this one
	// included: above 1, this one replaced the last.
	Submissions int `json:"submissions"`
}

// loadSurvey folds a survey's stream; an id that is not a UUID names no
// survey.
func (a *Service) loadSurvey(ctx context.Context, id string) (survey.Survey, error) {
	var s survey.Survey
	u, err := uuid.Parse(id)
	if err != nil {
		return s, nil
	}
	err = a.readStream(ctx, survey.Stream(u.String()), func(ev eventstore.Event) error {
		d, err := survey.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		s = survey.Evolve(s, d)
		return nil
	})
	return s, err
}

func (a *Service) loadSurveyResponse(ctx context.Context, surveyID, locationID string) (survey.Response, error) {
	var r survey.Response
	err := a.readStream(ctx, survey.ResponseStream(surveyID, locationID), func(ev eventstore.Event) error {
		d, err := survey.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		r = survey.EvolveResponse(r, d)
		return nil
	})
	return r, err
}

// DefineSurvey drafts a survey (support or an operator).
func (a *Service) DefineSurvey(ctx context.Context, actor Actor, form survey.Form) (SurveyChanged, error) {
	if err := a.supportOnly(actor); err != nil {
		return SurveyChanged{}, err
	}
	c := survey.Define{SurveyID: uuid.NewString(), Form: form}
	ev, err := survey.DecideDefine(survey.Survey{}, c)
	if err != nil {
		return SurveyChanged{}, err
	}
	data, err := encode(actor.metadata("DefineSurvey"), "", ev)
	if err != nil {
		return SurveyChanged{}, err
	}
	res, err := a.store.Append(ctx, survey.Stream(c.SurveyID), eventstore.NoStream, data...)
	if err != nil {
		return SurveyChanged{}, err
	}
	return SurveyChanged{Position: res.LastPosition(), SurveyID: c.SurveyID, Version: 1, Changed: true}, nil
}

// changeSurvey is a support command on an existing survey: load, decide,
// append at the version decided on. A lost race decides again on the new
// state (an amendment then finds its expected version stale).
func (a *Service) changeSurvey(ctx context.Context, actor Actor, command, surveyID string,
	decide func(s survey.Survey) ([]any, error)) (SurveyChanged, error) {
	out := SurveyChanged{SurveyID: surveyID}
	if err := a.supportOnly(actor); err != nil {
		return out, err
	}
	meta := actor.metadata(command)
	err := retry(ctx, func() error {
		s, err := a.loadSurvey(ctx, surveyID)
		if err != nil {
			return err
		}
		if !s.Exists() {
			return domain.ErrNotFound
		}
		evs, err := decide(s)
		if err != nil {
			return err
		}
		out.SurveyID, out.Version, out.Changed = s.ID, s.Version, len(evs) > 0
		if len(evs) == 0 {
			return nil
		}
		data, err := encode(meta, "", evs...)
		if err != nil {
			return err
		}
		res, err := a.store.Append(ctx, survey.Stream(s.ID), expect(s.Version), data...)
		if err != nil {
			return err
		}
		out.Position, out.Version = res.LastPosition(), s.Version+int64(len(evs))
		return nil
	})
	return out, err
}

// AmendSurvey replaces a survey's definition, decided on the version the
// caller last saw (support or an operator). An amendment that changes
// nothing appends nothing.
func (a *Service) AmendSurvey(ctx context.Context, actor Actor, c survey.Amend) (SurveyChanged, error) {
	return a.changeSurvey(ctx, actor, "AmendSurvey", c.SurveyID, func(s survey.Survey) ([]any, error) {
		c.Now = a.now()
		return survey.DecideAmend(s, c)
	})
}

// PublishSurvey opens a draft to the locations it targets, from its
// opening date (support or an operator).
func (a *Service) PublishSurvey(ctx context.Context, actor Actor, surveyID string) (SurveyChanged, error) {
	return a.changeSurvey(ctx, actor, "PublishSurvey", surveyID, func(s survey.Survey) ([]any, error) {
		ev, err := survey.DecidePublish(s, a.now())
		return []any{ev}, err
	})
}

// CloseSurvey closes a survey at once (support or an operator).
func (a *Service) CloseSurvey(ctx context.Context, actor Actor, surveyID string) (SurveyChanged, error) {
	return a.changeSurvey(ctx, actor, "CloseSurvey", surveyID, func(s survey.Survey) ([]any, error) {
		ev, err := survey.DecideClose(s, a.now())
		return []any{ev}, err
	})
}

// SubmitSurveyResponse records a location's answers to a survey: users
// with access to the location, and support, may answer a published survey
// that targets the location's organisation type and NHS region while it
// is open. Every submission holds all the answers; the latest counts.
func (a *Service) SubmitSurveyResponse(ctx context.Context, actor Actor, surveyID, locationID string,
	answers map[string]json.RawMessage) (SurveyAnswered, error) {
	var out SurveyAnswered
	id, err := location.ParseID(locationID)
	if err != nil {
		return out, domain.ErrNotFound
	}
	if err := actor.mayEditLocation(locationID); err != nil {
		// An unknown location is 404 to everyone, not 403.
		if l, lerr := a.loadLocation(ctx, id); lerr == nil && !l.Exists() {
			return out, domain.ErrNotFound
		}
		return out, err
	}
	meta := actor.metadata("SubmitSurveyResponse")
	err = retry(ctx, func() error {
		l, err := a.loadLocation(ctx, id)
		if err != nil {
			return err
		}
		if !l.Exists() {
			return domain.ErrNotFound
		}
		org, err := a.loadOrganisation(ctx, l.OrganisationRef())
		if err != nil {
			return err
		}
		s, err := a.loadSurvey(ctx, surveyID)
		if err != nil {
			return err
		}
		if !s.Exists() {
			return domain.ErrNotFound
		}
		r, err := a.loadSurveyResponse(ctx, s.ID, locationID)
		if err != nil {
			return err
		}
		ev, err := survey.DecideSubmit(s, survey.Submit{SurveyID: s.ID, LocationID: locationID,
			OrganisationType: string(org.Type), NHSRegion: l.CQC.NHSRegion, Answers: answers, Now: a.now()})
		if err != nil {
			return err
		}
		data, err := encode(meta, "", ev)
		if err != nil {
			return err
		}
		res, err := a.store.Append(ctx, survey.ResponseStream(s.ID, locationID), expect(r.Version), data...)
		if err != nil {
			return err
		}
		out = SurveyAnswered{Position: res.LastPosition(), SurveyID: s.ID, LocationID: locationID,
			SubmittedAt: ev.SubmittedAt, Answers: ev.Answers, Submissions: r.Submissions + 1}
		return nil
	})
	return out, err
}
