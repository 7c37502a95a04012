package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/queries"
)

// surveyBody is a definition with one question of each type, open from
// opens until closes for the targets (nil: everyone).
func surveyBody(title string, orgTypes, regions []string, opens, closes time.Time) map[string]any {
	if orgTypes == nil {
		orgTypes = []string{}
	}
	if regions == nil {
		regions = []string{}
	}
	return map[string]any{
		"title": title,
		"questions": []map[string]any{
			{"id": "drivers", "text": "How many syringe drivers do you hold?", "type": "whole_number", "required": true, "min": 1, "max": 10},
			{"id": "proxy", "text": "Do you use proxy online ordering?", "type": "yes_no", "required": true},
			{"id": "supplier", "text": "Who supplies them?", "type": "single_choice", "required": true, "options": []string{"NHS", "Private"}},
			{"id": "notes", "text": "Anything else?", "type": "free_text"},
		},
		"organisation_types": orgTypes,
		"nhs_regions":        regions,
		"opens_at":           opens.Format(time.RFC3339),
		"closes_at":          closes.Format(time.RFC3339),
	}
}

// goodSurveyAnswers is a valid response to surveyBody's questions.
func goodSurveyAnswers() map[string]any {
	return map[string]any{"answers": map[string]any{"drivers": 3, "proxy": true, "supplier": "NHS"}}
}

// defineSurvey defines and, when publish, publishes a survey as support;
// it returns the survey's id and the position of the last write.
func (w *world) defineSurvey(support *client, body map[string]any, publish bool) (string, int64) {
	w.t.Helper()
	var res commands.SurveyChanged
	support.post("/api/v1/surveys", body).want(http.StatusCreated).decode(&res)
	if res.SurveyID == "" || res.Version != 1 {
		w.t.Fatalf("defined %+v", res)
	}
	if !publish {
		return res.SurveyID, res.Position
	}
	var pub commands.SurveyChanged
	support.post("/api/v1/surveys/"+res.SurveyID+"/publish", nil).want(http.StatusOK).decode(&pub)
	return res.SurveyID, pub.Position
}

// openSurveys is a location's Surveys page.
func (c *client) openSurveys(locationID string, pos int64) queries.LocationSurveys {
	c.api.t.Helper()
	var ls queries.LocationSurveys
	c.getAt("/api/v1/locations/"+locationID+"/surveys", pos).want(http.StatusOK).decode(&ls)
	return ls
}

func surveyIDs(ls queries.LocationSurveys) []string {
	out := []string{}
	for _, s := range ls.Surveys {
		out = append(out, s.SurveyID)
	}
	return out
}

func responsePath(locationID, surveyID string) string {
	return "/api/v1/locations/" + locationID + "/surveys/" + surveyID + "/responses"
}

func TestSurveys_OnlySupportDefinesPublishesAmendsAndCloses(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		now := w.clock.Now()
		support := w.loginAs(w.support)
		approver, standard := w.loginAs(w.approverA), w.loginAs(w.standardA)
		body := surveyBody("Syringe driver supplies", []string{"care_home"}, nil, now.Add(-time.Hour), now.Add(24*time.Hour))
		var id string

		w.run(t, "anonymous callers are 401", func(t *testing.T) {
			anon := w.newClient()
			before := w.eventCount()
			anon.post("/api/v1/surveys", body).wantError(http.StatusUnauthorized, "unauthenticated")
			anon.get("/api/v1/surveys").wantError(http.StatusUnauthorized, "unauthenticated")
			anon.get("/api/v1/locations/"+orgA.loc(0)+"/surveys").wantError(http.StatusUnauthorized, "unauthenticated")
			anon.post(responsePath(orgA.loc(0), "6f1c1b8e-0000-4000-8000-000000000000"), goodSurveyAnswers()).
				wantError(http.StatusUnauthorized, "unauthenticated")
			w.unchanged("anonymous requests", before)
		})

		w.run(t, "standard users and approvers may not define or list", func(t *testing.T) {
			before := w.eventCount()
			for _, c := range []*client{approver, standard} {
				c.post("/api/v1/surveys", body).wantError(http.StatusForbidden, "forbidden")
				c.get("/api/v1/surveys").wantError(http.StatusForbidden, "forbidden")
			}
			w.unchanged("refused definitions", before)
		})

		w.run(t, "support defines; others may not publish, amend or close it", func(t *testing.T) {
			id, _ = w.defineSurvey(support, body, false)
			before := w.eventCount()
			for _, c := range []*client{approver, standard} {
				c.post("/api/v1/surveys/"+id+"/publish", nil).wantError(http.StatusForbidden, "forbidden")
				c.post("/api/v1/surveys/"+id+"/close", nil).wantError(http.StatusForbidden, "forbidden")
				amend := surveyBody("Taken over", nil, nil, now, now.Add(time.Hour))
				amend["expected_version"] = 1
				c.put("/api/v1/surveys/"+id, amend).wantError(http.StatusForbidden, "forbidden")
			}
			w.unchanged("refused changes", before)
			if got := w.version(survey.Stream(id)); got != 1 {
				t.Fatalf("survey at version %d", got)
			}
		})

		w.run(t, "support publishes, amends at its version and closes", func(t *testing.T) {
			var pub commands.SurveyChanged
			support.post("/api/v1/surveys/"+id+"/publish", nil).want(http.StatusOK).decode(&pub)
			if pub.Version != 2 {
				t.Fatalf("published %+v", pub)
			}
			support.post("/api/v1/surveys/"+id+"/publish", nil).wantError(http.StatusUnprocessableEntity, "survey_published")

			amend := surveyBody("Syringe drivers and proxy ordering", []string{"care_home"}, nil, now.Add(-time.Hour), now.Add(48*time.Hour))
			support.put("/api/v1/surveys/"+id, amend).wantError(http.StatusPreconditionRequired, "version_required")
			amend["expected_version"] = 1
			support.put("/api/v1/surveys/"+id, amend).wantError(http.StatusConflict, "version_conflict")
			amend["expected_version"] = 2
			var am commands.SurveyChanged
			support.put("/api/v1/surveys/"+id, amend).want(http.StatusOK).decode(&am)
			if am.Version != 3 || !am.Changed {
				t.Fatalf("amended %+v", am)
			}
			// A published question cannot be removed.
			cut := surveyBody("Syringe drivers and proxy ordering", []string{"care_home"}, nil, now.Add(-time.Hour), now.Add(48*time.Hour))
			cut["questions"] = cut["questions"].([]map[string]any)[1:]
			cut["expected_version"] = 3
			e := support.put("/api/v1/surveys/"+id, cut).wantError(http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldCodes(e); !slices.Equal(got, []string{"questions:question_removed"}) {
				t.Errorf("errors %v", got)
			}

			var list struct {
				Surveys []queries.SurveySummary `json:"surveys"`
			}
			support.getAt("/api/v1/surveys", am.Position).want(http.StatusOK).decode(&list)
			if len(list.Surveys) != 1 || list.Surveys[0].Title != "Syringe drivers and proxy ordering" || list.Surveys[0].State != "open" ||
				list.Surveys[0].Version != 3 || !list.Surveys[0].ClosesAt.Equal(now.Add(48*time.Hour)) {
				t.Fatalf("support's list %+v", list.Surveys)
			}

			var cl commands.SurveyChanged
			support.post("/api/v1/surveys/"+id+"/close", nil).want(http.StatusOK).decode(&cl)
			support.post("/api/v1/surveys/"+id+"/close", nil).wantError(http.StatusUnprocessableEntity, "survey_closed")
			support.post("/api/v1/surveys/"+id+"/publish", nil).wantError(http.StatusUnprocessableEntity, "survey_closed")
			support.getAt("/api/v1/surveys", cl.Position).want(http.StatusOK).decode(&list)
			if list.Surveys[0].State != "closed" || list.Surveys[0].ClosedAt == nil {
				t.Fatalf("closed survey in the list %+v", list.Surveys[0])
			}
			var types []string
			for _, ev := range w.stream(survey.Stream(id)) {
				types = append(types, ev.Type)
				if ev.Metadata.ActorUserID != w.support.ID.String() {
					t.Errorf("%s by %q", ev.Type, ev.Metadata.ActorUserID)
				}
			}
			if strings.Join(types, ",") != "SurveyDefined,SurveyPublished,SurveyAmended,SurveyClosed" {
				t.Errorf("events %v", types)
			}
		})

		w.run(t, "unknown surveys are 404", func(t *testing.T) {
			for _, bad := range []string{"6f1c1b8e-0000-4000-8000-000000000000", "not-a-survey"} {
				support.post("/api/v1/surveys/"+bad+"/publish", nil).wantError(http.StatusNotFound, "not_found")
				support.post("/api/v1/surveys/"+bad+"/close", nil).wantError(http.StatusNotFound, "not_found")
			}
		})

		w.run(t, "an invalid definition names every field at once and appends nothing", func(t *testing.T) {
			before := w.eventCount()
			bad := surveyBody("", []string{"castle"}, []string{"Wales"}, now, now)
			qs := bad["questions"].([]map[string]any)
			qs[0]["min"], qs[0]["max"] = 11, 10
			qs[2]["options"] = []string{"NHS"}
			qs[3]["max_length"] = 2001
			e := support.post("/api/v1/surveys", bad).wantError(http.StatusUnprocessableEntity, "validation_failed")
			want := []string{"title:required", "questions[0].max:below_min", "questions[2].options:too_few",
				"questions[3].max_length:out_of_range", "organisation_types[0]:invalid_choice", "nhs_regions[0]:invalid_choice",
				"closes_at:not_after_opens_at"}
			if got := fieldCodes(e); !slices.Equal(got, want) {
				t.Errorf("errors %v, want %v", got, want)
			}
			support.post("/api/v1/surveys", map[string]any{"title": "x", "colour": "red"}).wantError(http.StatusBadRequest, "invalid_json")
			support.do(http.MethodPost, "/api/v1/surveys", rawBody{strings.NewReader(`{"title":`), "application/json"}).
				wantError(http.StatusBadRequest, "invalid_json")
			w.unchanged("invalid definitions", before)
		})
	})
}

// homeCareSite registers a home care organisation with one location and
// its manager (an Approver of it).
func (w *world) homeCareSite(t *testing.T) (string, user) {
	t.Helper()
	ctx, sys := context.Background(), commands.System("test")
	if _, err := w.accounts.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "1-101685791",
		Name: "Cranberry Care Services", Type: string(location.HomeCare)}); err != nil {
		t.Fatal(err)
	}
	const loc = "1-112787350"
	if _, err := w.accounts.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: loc, OrganisationID: "1-101685791",
		Name: "Cranberry Home Care", Postcode: "M1 1AE"}); err != nil {
		t.Fatal(err)
	}
	return loc, w.importManager(loc, "Hana Home", "hana.home@cranberry.example.org")
}

func TestSurveys_LocationsListAndAnswerTheOpenSurveysTargetedAtThem(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		now := w.clock.Now()
		homeCareLoc, hana := w.homeCareSite(t)
		// CQC places A's first location in the North East: the NHS
		// region North East and Yorkshire. B's has no CQC record, so no
		// region.
		if _, err := w.accounts.ImportCQC(ctx, commands.System("test"), []location.CQCRecord{{LocationID: orgA.loc(0),
			ProviderID: orgA.ID, Name: "Rosehill", Postcode: "SR2 7JX", CQCRegion: "North East", CareHome: true,
			RegistrationStatus: location.StatusRegistered}}); err != nil {
			t.Fatal(err)
		}
		support := w.loginAs(w.support)
		standardA, hanaC, approverB := w.loginAs(w.standardA), w.loginAs(hana), w.loginAs(w.approverB)

		w.run(t, "no surveys: the guide's message", func(t *testing.T) {
			ls := hanaC.openSurveys(homeCareLoc, w.last())
			if len(ls.Surveys) != 0 || ls.Message != "There are no surveys for completion right now, check back later." ||
				ls.LocationName != "Cranberry Home Care" {
				t.Fatalf("%+v", ls)
			}
			if !strings.Contains(string(hanaC.get("/api/v1/locations/"+homeCareLoc+"/surveys").body), `"surveys":[]`) {
				t.Error("an empty list is not []")
			}
		})

		day := 24 * time.Hour
		careHomes, _ := w.defineSurvey(support, surveyBody("Care homes", []string{"care_home"}, nil, now.Add(-time.Hour), now.Add(day)), true)
		homeCare, _ := w.defineSurvey(support, surveyBody("Home care", []string{"home_care"}, nil, now.Add(-time.Hour), now.Add(day)), true)
		northEast, _ := w.defineSurvey(support, surveyBody("North East and Yorkshire", nil, []string{"North East and Yorkshire"},
			now.Add(-time.Hour), now.Add(2*time.Hour)), true)
		london, _ := w.defineSurvey(support, surveyBody("London", nil, []string{"London"}, now.Add(-time.Hour), now.Add(day)), true)
		later, _ := w.defineSurvey(support, surveyBody("Opens in an hour", nil, nil, now.Add(time.Hour), now.Add(day)), true)
		draft, pos := w.defineSurvey(support, surveyBody("Draft", nil, nil, now.Add(-time.Hour), now.Add(day)), false)

		w.run(t, "each location sees the open surveys of its organisation type and NHS region", func(t *testing.T) {
			for _, c := range []struct {
				who  *client
				loc  string
				want []string // by closing date
			}{
				{standardA, orgA.loc(0), []string{northEast, careHomes}},
				{hanaC, homeCareLoc, []string{homeCare}},
				{approverB, orgB.loc(0), []string{careHomes}},
				{support, orgA.loc(0), []string{northEast, careHomes}},
			} {
				ls := c.who.openSurveys(c.loc, pos)
				if got := surveyIDs(ls); !slices.Equal(got, c.want) || ls.Message != "" {
					t.Errorf("%s: %v, want %v", c.loc, got, c.want)
				}
			}
			standardA.get("/api/v1/locations/"+orgB.loc(0)+"/surveys").wantError(http.StatusForbidden, "forbidden")
			support.get("/api/v1/locations/1-999999999/surveys").wantError(http.StatusNotFound, "not_found")
		})

		w.run(t, "a user of A answers A's survey, not for B, nor a survey not for A", func(t *testing.T) {
			before := w.eventCount()
			standardA.post(responsePath(orgB.loc(0), careHomes), goodSurveyAnswers()).wantError(http.StatusForbidden, "forbidden")
			standardA.post(responsePath(orgA.loc(0), homeCare), goodSurveyAnswers()).
				wantError(http.StatusUnprocessableEntity, "survey_not_for_location")
			approverB.post(responsePath(orgB.loc(0), northEast), goodSurveyAnswers()).
				wantError(http.StatusUnprocessableEntity, "survey_not_for_location")
			standardA.post(responsePath(orgA.loc(0), later), goodSurveyAnswers()).wantError(http.StatusUnprocessableEntity, "survey_not_open")
			standardA.post(responsePath(orgA.loc(0), draft), goodSurveyAnswers()).wantError(http.StatusNotFound, "not_found")
			w.unchanged("refused answers", before)

			var res commands.SurveyAnswered
			standardA.post(responsePath(orgA.loc(0), careHomes), goodSurveyAnswers()).want(http.StatusCreated).decode(&res)
			if res.Submissions != 1 || string(res.Answers["drivers"]) != "3" {
				t.Fatalf("answered %+v", res)
			}
			hanaC.post(responsePath(homeCareLoc, homeCare), goodSurveyAnswers()).want(http.StatusCreated)
		})

		w.run(t, "answers are checked per question type, every error at once, boundaries included", func(t *testing.T) {
			before := w.eventCount()
			notes2001 := strings.Repeat("n", 2001)
			e := standardA.post(responsePath(orgA.loc(0), careHomes), map[string]any{"answers": map[string]any{
				"drivers": 0, "supplier": "Council", "notes": notes2001, "bogus": 1,
			}}).wantError(http.StatusUnprocessableEntity, "validation_failed")
			want := []string{"answers.drivers:too_small", "answers.proxy:required", "answers.supplier:invalid_choice",
				"answers.notes:too_long", "answers.bogus:unknown_question"}
			if got := fieldCodes(e); !slices.Equal(got, want) {
				t.Errorf("errors %v, want %v", got, want)
			}
			for _, c := range []struct {
				name, field string
				value       any
				code        string
			}{
				{"max+1", "drivers", 11, "too_large"},
				{"not whole", "drivers", 2.5, "whole_number"},
				{"not yes or no", "proxy", "perhaps", "invalid_choice"},
				{"option not offered", "supplier", "Council", "invalid_choice"},
				{"2001 characters", "notes", notes2001, "too_long"},
				{"required left blank", "supplier", "   ", "required"},
			} {
				body := goodSurveyAnswers()
				body["answers"].(map[string]any)[c.field] = c.value
				e := standardA.post(responsePath(orgA.loc(0), careHomes), body).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if got := fieldCodes(e); !slices.Equal(got, []string{"answers." + c.field + ":" + c.code}) {
					t.Errorf("%s: %v", c.name, got)
				}
			}
			w.unchanged("invalid answers", before)

			// The boundaries that are allowed, each a resubmission.
			for i, a := range []map[string]any{
				{"drivers": 1, "proxy": "no", "supplier": "private"},
				{"drivers": 10, "proxy": false, "supplier": "NHS", "notes": strings.Repeat("é", 2000)},
			} {
				var res commands.SurveyAnswered
				standardA.post(responsePath(orgA.loc(0), careHomes), map[string]any{"answers": a}).want(http.StatusCreated).decode(&res)
				if res.Submissions != i+2 {
					t.Errorf("submission %d: %+v", i+2, res)
				}
			}
		})

		w.run(t, "the list shows the location's latest answers", func(t *testing.T) {
			ls := standardA.openSurveys(orgA.loc(0), w.last())
			i := slices.Index(surveyIDs(ls), careHomes)
			if i < 0 {
				t.Fatalf("%v", surveyIDs(ls))
			}
			r := ls.Surveys[i].Response
			if r == nil || r.Submissions != 3 || string(r.Answers["drivers"]) != "10" || string(r.Answers["proxy"]) != "false" ||
				len([]rune(mustString(t, r.Answers["notes"]))) != 2000 {
				t.Errorf("response %+v", r)
			}
			if ls.Surveys[slices.Index(surveyIDs(ls), northEast)].Response != nil {
				t.Error("a response to a survey A did not answer")
			}
			// B's location answered nothing.
			for _, s := range approverB.openSurveys(orgB.loc(0), w.last()).Surveys {
				if s.Response != nil {
					t.Errorf("B has A's response to %s", s.Title)
				}
			}
		})

		w.run(t, "a closed survey is no longer listed nor answered", func(t *testing.T) {
			var cl commands.SurveyChanged
			support.post("/api/v1/surveys/"+careHomes+"/close", nil).want(http.StatusOK).decode(&cl)
			if got := surveyIDs(standardA.openSurveys(orgA.loc(0), cl.Position)); !slices.Equal(got, []string{northEast}) {
				t.Errorf("after the close: %v", got)
			}
			before := w.eventCount()
			standardA.post(responsePath(orgA.loc(0), careHomes), goodSurveyAnswers()).wantError(http.StatusUnprocessableEntity, "survey_not_open")
			w.unchanged("an answer to a closed survey", before)
		})

		w.run(t, "from its opening date until its closing date", func(t *testing.T) {
			// An hour on: "Opens in an hour" opens (opens_at is now).
			// Sessions idle that long end: log in again.
			w.clock.Advance(time.Hour)
			a := w.loginAs(w.standardA)
			if got := surveyIDs(a.openSurveys(orgA.loc(0), w.last())); !slices.Equal(got, []string{northEast, later}) {
				t.Errorf("an hour on: %v", got)
			}
			a.post(responsePath(orgA.loc(0), later), goodSurveyAnswers()).want(http.StatusCreated)
			// A second before "North East and Yorkshire" closes it takes
			// answers; at its closing date it is gone.
			w.clock.Advance(time.Hour - time.Second)
			a = w.loginAs(w.standardA)
			a.post(responsePath(orgA.loc(0), northEast), goodSurveyAnswers()).want(http.StatusCreated)
			w.clock.Advance(time.Second)
			a = w.loginAs(w.standardA)
			if got := surveyIDs(a.openSurveys(orgA.loc(0), w.last())); !slices.Equal(got, []string{later}) {
				t.Errorf("at the closing date: %v", got)
			}
			before := w.eventCount()
			a.post(responsePath(orgA.loc(0), northEast), goodSurveyAnswers()).wantError(http.StatusUnprocessableEntity, "survey_not_open")
			w.unchanged("an answer at the closing date", before)
			var list struct {
				Surveys []queries.SurveySummary `json:"surveys"`
			}
			w.loginAs(w.support).getAt("/api/v1/surveys", w.last()).want(http.StatusOK).decode(&list)
			states := map[string]string{}
			for _, s := range list.Surveys {
				states[s.SurveyID] = s.State
			}
			want := map[string]string{careHomes: "closed", homeCare: "open", northEast: "ended", london: "open", later: "open", draft: "draft"}
			if !reflect.DeepEqual(states, want) {
				t.Errorf("states %v, want %v", states, want)
			}
		})
	})
}

func mustString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return s
}

// The survey bodies: decoding never panics, and what the server decides
// of a body does not change when the decoded body is encoded again.

func FuzzDecodeSurveyForm(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Syringe drivers","questions":[{"id":"q1","text":"How many?","type":"whole_number","required":true,"min":1,"max":10},` +
			`{"text":"Which?","type":"single_choice","options":["A","B"]},{"text":"Why?","type":"free_text","max_length":2000}],` +
			`"organisation_types":["home_care"],"nhs_regions":["London"],"opens_at":"2025-03-01T09:00:00Z","closes_at":"2025-03-15T17:00:00Z"}`,
		`{"questions":[{"options":[]}],"organisation_types":[],"nhs_regions":null}`,
		`{"questions":[{"min":1e40}]}`,
		`{"questions":[{"type":"yes_no","max_length":-1}]}`,
		`{"opens_at":"2025-02-30T25:00:00Z"}`,
		`{"title":"\ud800"}`,
		`{"expected_version":1}`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := httpapi.DecodeSurveyForm(body)
		if err != nil {
			return
		}
		d1, err1 := form.Validate()
		d2, err2 := roundTrip(t, form, httpapi.DecodeSurveyForm).Validate()
		if !reflect.DeepEqual(d1, d2) || !reflect.DeepEqual(err1, err2) {
			t.Fatalf("%q: %+v, %v; re-encoded %+v, %v", body, d1, err1, d2, err2)
		}
	})
}

func FuzzDecodeSurveyResponse(f *testing.F) {
	lo, hi := int64(1), int64(10)
	questions := []survey.Question{
		{ID: "drivers", Text: "How many?", Type: survey.WholeNumber, Required: true, Min: &lo, Max: &hi},
		{ID: "proxy", Text: "Proxy?", Type: survey.YesNo},
		{ID: "supplier", Text: "Who?", Type: survey.SingleChoice, Options: []string{"NHS", "Private"}},
		{ID: "notes", Text: "Else?", Type: survey.FreeText, MaxLength: 20},
	}
	for _, seed := range []string{
		`{"answers":{"drivers":3,"proxy":true,"supplier":"NHS","notes":"fine"}}`,
		`{"answers":{"drivers":"10","proxy":"No","supplier":" private ","notes":"  \r\n  "}}`,
		`{"answers":{"drivers":1e1,"proxy":null,"supplier":1,"notes":12}}`,
		`{"answers":{"drivers":[1],"proxy":{},"x":true}}`,
		`{"answers":{"notes":"<b>\u2028</b>"}}`,
		`{"answers":null}`,
		`{"answers":{}} trailing`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := httpapi.DecodeSurveyResponse(body)
		if err != nil {
			return
		}
		a1, err1 := survey.ValidateAnswers(questions, req.Answers)
		a2, err2 := survey.ValidateAnswers(questions, roundTrip(t, req, httpapi.DecodeSurveyResponse).Answers)
		if !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(err1, err2) {
			t.Fatalf("%q: %s, %v; re-encoded %s, %v", body, a1, err1, a2, err2)
		}
		// What is accepted is accepted again as it was stored.
		if err1 == nil {
			again, err := survey.ValidateAnswers(questions, a1)
			if err != nil || !reflect.DeepEqual(again, a1) {
				t.Fatalf("%q: stored %s re-validates as %s, %v", body, a1, again, err)
			}
		}
	})
}
