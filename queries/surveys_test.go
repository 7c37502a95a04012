package queries_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
	"github.com/capacitytracker/capacity/projections/surveys"
	"github.com/capacitytracker/capacity/queries"
)

// surveyViews is one backend with the location search and the surveys
// projection running, and the events of organisations, locations,
// surveys and responses appended as the commands append them.
type surveyViews struct {
	*projtest.World
	t   *testing.T
	q   queries.Service
	now time.Time
}

func newSurveyViews(t *testing.T, bc backendCase) *surveyViews {
	t.Helper()
	w := projtest.NewWorld(t, bc.name, search.Projection{}, surveys.Projection{})
	return &surveyViews{World: w, t: t,
		q:   queries.Service{ReadModels: w.ReadModels, Waiter: w.Engine},
		now: time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC)}
}

func (w *surveyViews) emit(stream string, evs ...projtest.Event) {
	w.t.Helper()
	w.Emit(stream, eventstore.Metadata{}, evs...)
}

// site registers an organisation's location as CQC's import does.
func (w *surveyViews) site(org string, orgType location.OrganisationType, id, cqcRegion string) {
	w.t.Helper()
	w.emit(location.OrganisationStream(org), location.OrganisationRegistered{OrganisationID: org, Name: "Org " + org, Type: orgType})
	rec := location.CQCRecord{LocationID: id, ProviderID: org, Name: "Location " + id, Postcode: "NN1 1NN", CQCRegion: cqcRegion,
		RegistrationStatus: location.StatusRegistered}.Normalised()
	w.emit(location.LocationStream(id), location.CQCLocationImported{LocationID: id, Record: rec})
}

// survey defines a survey open between opens and closes (relative to
// now) for the targets, and applies the rest of its life.
func (w *surveyViews) survey(title string, orgTypes, regions []string, opens, closes time.Duration, life ...string) string {
	w.t.Helper()
	d, err := survey.Form{
		Title:             title,
		Questions:         []survey.Question{{ID: "q1", Text: "Do you hold syringe drivers?", Type: survey.YesNo, Required: true}},
		OrganisationTypes: orgTypes, NHSRegions: regions,
		OpensAt: w.now.Add(opens).Format(time.RFC3339), ClosesAt: w.now.Add(closes).Format(time.RFC3339),
	}.Validate()
	if err != nil {
		w.t.Fatal(err)
	}
	id := uuid.NewString()
	evs := []interface{ EventType() string }{survey.SurveyDefined{SurveyID: id, Definition: d}}
	for _, step := range life {
		switch step {
		case "publish":
			evs = append(evs, survey.SurveyPublished{SurveyID: id, PublishedAt: w.now.Add(-48 * time.Hour)})
		case "close":
			evs = append(evs, survey.SurveyClosed{SurveyID: id, ClosedAt: w.now.Add(-time.Hour)})
		}
	}
	w.emit(survey.Stream(id), evs...)
	return id
}

func (w *surveyViews) answer(surveyID, locationID, yes string, at time.Time) {
	w.t.Helper()
	w.emit(survey.ResponseStream(surveyID, locationID), survey.SurveyResponseSubmitted{SurveyID: surveyID, LocationID: locationID,
		SurveyVersion: 2, SubmittedAt: at, Answers: survey.Answers{"q1": json.RawMessage(yes)}})
}

func surveyTitles(ls queries.LocationSurveys) []string {
	var out []string
	for _, s := range ls.Surveys {
		out = append(out, s.Title)
	}
	return out
}

func TestOpenSurveys_TargetedOpenSurveysWithTheLocationsLastAnswers(t *testing.T) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			w := newSurveyViews(t, bc)
			w.site("1-1", location.HomeCare, "1-11", "North West")
			w.site("1-1", location.HomeCare, "1-12", "London")
			w.site("1-2", location.CareHome, "1-21", "Yorkshire & Humberside")
			const day = 24 * time.Hour
			everyone := w.survey("Everyone", nil, nil, -day, day, "publish")
			w.survey("Home care", []string{"home_care"}, nil, -day, 2*day, "publish")
			w.survey("London", nil, []string{"London"}, -day, 3*day, "publish")
			w.survey("North West home care", []string{"home_care"}, []string{"North West"}, -day, 4*day, "publish")
			w.survey("Opens now", nil, nil, 0, 5*day, "publish")
			w.survey("Closes now", nil, nil, -day, 0, "publish")
			w.survey("Closes in a second", nil, nil, -day, time.Second, "publish")
			w.survey("Opens in a second", nil, nil, time.Second, day, "publish")
			w.survey("Draft", nil, nil, -day, day)
			w.survey("Closed", nil, nil, -day, day, "publish", "close")
			w.survey("Care homes in the North East and Yorkshire", []string{"care_home"}, []string{"North East and Yorkshire"}, -day, 6*day, "publish")
			first := w.now.Add(-2 * time.Hour)
			w.answer(everyone, "1-11", `true`, first)
			w.answer(everyone, "1-11", `false`, first.Add(time.Hour))
			w.Sync()

			support := queries.Viewer{Support: true}
			for _, c := range []struct {
				location string
				want     []string
			}{
				{"1-11", []string{"Closes in a second", "Everyone", "Home care", "North West home care", "Opens now"}},
				{"1-12", []string{"Closes in a second", "Everyone", "Home care", "London", "Opens now"}},
				{"1-21", []string{"Closes in a second", "Everyone", "Opens now", "Care homes in the North East and Yorkshire"}},
			} {
				got, err := w.q.OpenSurveys(context.Background(), support, c.location, w.now, w.Last())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(surveyTitles(got), c.want) || got.Message != "" || got.LocationName != "Location "+c.location {
					t.Errorf("%s: %v (message %q), want %v", c.location, surveyTitles(got), got.Message, c.want)
				}
				for _, s := range got.Surveys {
					switch {
					case s.Title == "Everyone" && c.location == "1-11":
						r := s.Response
						if r == nil || r.Submissions != 2 || string(r.Answers["q1"]) != "false" || !r.SubmittedAt.Equal(first.Add(time.Hour)) ||
							!r.FirstSubmittedAt.Equal(first) {
							t.Errorf("1-11's response: %+v", r)
						}
					case s.Response != nil:
						t.Errorf("%s has a response to %s: %+v", c.location, s.Title, s.Response)
					}
					if len(s.Questions) != 1 || s.Questions[0].ID != "q1" || s.Version != 2 {
						t.Errorf("survey %+v", s)
					}
				}
			}

			// Nothing open: the guide's message.
			later, err := w.q.OpenSurveys(context.Background(), support, "1-11", w.now.Add(30*24*time.Hour), 0)
			if err != nil || len(later.Surveys) != 0 || later.Surveys == nil ||
				later.Message != "There are no surveys for completion right now, check back later." {
				t.Errorf("a month later: %+v, %v", later, err)
			}
		})
	}
}

func TestOpenSurveys_OnlyForThoseWhoMaySeeTheLocation(t *testing.T) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			w := newSurveyViews(t, bc)
			w.site("1-1", location.HomeCare, "1-11", "North West")
			w.site("1-1", location.HomeCare, "1-12", "North West")
			w.site("1-2", location.CareHome, "1-21", "London")
			w.survey("Everyone", nil, nil, -time.Hour, time.Hour, "publish")
			w.Sync()
			ctx := context.Background()
			for _, c := range []struct {
				name     string
				v        queries.Viewer
				location string
				want     error
			}{
				{"support", queries.Viewer{Support: true}, "1-21", nil},
				{"a user of the location", queries.Viewer{UserID: "u", Locations: []string{"1-11"}}, "1-11", nil},
				{"a user of another location", queries.Viewer{UserID: "u", Locations: []string{"1-11"}}, "1-12", domain.ErrForbidden},
				{"the organisation's Approver", queries.Viewer{UserID: "a", ApproverOf: []string{"1-1"}}, "1-12", nil},
				{"another organisation's Approver", queries.Viewer{UserID: "a", ApproverOf: []string{"1-1"}}, "1-21", domain.ErrForbidden},
				{"an unknown location", queries.Viewer{Support: true}, "1-99", domain.ErrNotFound},
			} {
				got, err := w.q.OpenSurveys(ctx, c.v, c.location, w.now, 0)
				if c.want == nil && (err != nil || len(got.Surveys) != 1) {
					t.Errorf("%s: %+v, %v", c.name, got, err)
				}
				if c.want != nil && !errors.Is(err, c.want) {
					t.Errorf("%s: %v, want %v", c.name, err, c.want)
				}
			}
		})
	}
}

func TestSurveys_SupportListsEverySurveyWithItsState(t *testing.T) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			w := newSurveyViews(t, bc)
			w.site("1-1", location.HomeCare, "1-11", "North West")
			w.site("1-1", location.HomeCare, "1-12", "London")
			const day = 24 * time.Hour
			ids := map[string]string{}
			for _, s := range []struct {
				title         string
				opens, closes time.Duration
				life          []string
			}{
				{"draft", -day, day, nil},
				{"scheduled", time.Second, day, []string{"publish"}},
				{"open", 0, day, []string{"publish"}},
				{"ended", -day, 0, []string{"publish"}},
				{"closed", -day, day, []string{"publish", "close"}},
			} {
				ids[s.title] = w.survey(s.title, []string{"home_care"}, []string{"London", "North West"}, s.opens, s.closes, s.life...)
			}
			w.answer(ids["open"], "1-11", `true`, w.now)
			w.answer(ids["open"], "1-11", `true`, w.now)
			w.answer(ids["open"], "1-12", `false`, w.now)
			w.Sync()

			if _, err := w.q.Surveys(context.Background(), queries.Viewer{UserID: "a", ApproverOf: []string{"1-1"}, Locations: []string{"1-11"}},
				w.now, 0); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("an Approver lists surveys: %v", err)
			}
			list, err := w.q.Surveys(context.Background(), queries.Viewer{Support: true}, w.now, w.Last())
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 5 {
				t.Fatalf("%d surveys", len(list))
			}
			for _, s := range list {
				if s.State != s.Title {
					t.Errorf("%s: state %s", s.Title, s.State)
				}
				wantResponses := 0
				if s.Title == "open" {
					wantResponses = 2
				}
				if s.Responses != wantResponses || s.SurveyID != ids[s.Title] || len(s.Questions) != 1 ||
					!slices.Equal(s.OrganisationTypes, []string{"home_care"}) || !slices.Equal(s.NHSRegions, []string{"London", "North West"}) {
					t.Errorf("%s: %+v", s.Title, s)
				}
				if (s.PublishedAt == nil) != (s.Title == "draft") || (s.ClosedAt == nil) != (s.Title != "closed") {
					t.Errorf("%s: published %v closed %v", s.Title, s.PublishedAt, s.ClosedAt)
				}
			}
		})
	}
}
