package surveys_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/surveys"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// surveyWorld is one backend with the survey projection running.
type surveyWorld struct {
	*projtest.World
	t *testing.T
}

func newSurveyWorld(t *testing.T, backend string) *surveyWorld {
	t.Helper()
	return &surveyWorld{World: projtest.NewWorld(t, backend, surveys.Projection{}), t: t}
}

// emit appends events to a stream in one append, as the commands would.
func (w *surveyWorld) emit(stream string, evs ...projtest.Event) {
	w.t.Helper()
	w.Emit(stream, eventstore.Metadata{}, evs...)
}

// surveyRow is a row of survey_surveys.
type surveyRow struct {
	title, status, questions, orgTypes, regions string
	opensAt, closesAt, publishedAt, closedAt    time.Time
	version                                     int64
}

func (w *surveyWorld) survey(id string) (surveyRow, bool) {
	w.t.Helper()
	var r surveyRow
	found := false
	err := w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), `SELECT title, status, questions, organisation_types, nhs_regions,
    opens_at, closes_at, published_at, closed_at, version FROM `+surveys.Table+` WHERE survey_id = ?`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return rows.Err()
		}
		found = true
		var opens, closes, published, closed projections.Timestamp
		if err := rows.Scan(&r.title, &r.status, &r.questions, &r.orgTypes, &r.regions, &opens, &closes, &published, &closed, &r.version); err != nil {
			return err
		}
		r.opensAt, r.closesAt, r.publishedAt, r.closedAt = opens.Time, closes.Time, published.Time, closed.Time
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return r, found
}

// dump is every row of the survey tables, its columns joined by " | ",
// sorted, by table.
func (w *surveyWorld) dump() map[string][]string {
	w.t.Helper()
	tables := map[string]string{
		surveys.Table: `survey_id, title, status, questions, organisation_types, nhs_regions, opens_at, closes_at,
    published_at, closed_at, version`,
		surveys.TargetsTable:   `survey_id, kind, value`,
		surveys.ResponsesTable: `survey_id, location_id, answers, survey_version, submissions, first_submitted_at, submitted_at`,
	}
	out := map[string][]string{}
	err := w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
		for table, columns := range tables {
			rows, err := q.QueryContext(context.Background(), "SELECT "+columns+" FROM "+table)
			if err != nil {
				return err
			}
			n := len(strings.Split(columns, ","))
			for rows.Next() {
				vals := make([]any, n)
				ptrs := make([]any, n)
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				text := make([]string, n)
				for i, v := range vals {
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					text[i] = fmt.Sprint(v)
				}
				out[table] = append(out[table], strings.Join(text, " | "))
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			sort.Strings(out[table])
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// targets lists "kind=value" of a survey's targets, sorted.
func (w *surveyWorld) targets(id string) []string {
	w.t.Helper()
	var out []string
	for _, row := range w.dump()[surveys.TargetsTable] {
		if rest, ok := strings.CutPrefix(row, id+" | "); ok {
			kind, value, _ := strings.Cut(rest, " | ")
			out = append(out, kind+"="+value)
		}
	}
	return out
}

type responseRow struct {
	answers                   string
	version, submissions      int64
	firstSubmitted, submitted time.Time
}

func (w *surveyWorld) response(surveyID, locationID string) (responseRow, bool) {
	w.t.Helper()
	var r responseRow
	found := false
	err := w.ReadModels.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), `SELECT answers, survey_version, submissions, first_submitted_at, submitted_at
FROM `+surveys.ResponsesTable+` WHERE survey_id = ? AND location_id = ?`, surveyID, locationID)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return rows.Err()
		}
		found = true
		var first, last projections.Timestamp
		if err := rows.Scan(&r.answers, &r.version, &r.submissions, &first, &last); err != nil {
			return err
		}
		r.firstSubmitted, r.submitted = first.Time, last.Time
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return r, found
}

func testDefinition(t *testing.T) survey.Definition {
	t.Helper()
	lo, hi := int64(0), int64(50)
	d, err := survey.Form{
		Title: "Proxy online ordering",
		Questions: []survey.Question{
			{ID: "uses", Text: "Do you use proxy ordering?", Type: survey.YesNo, Required: true},
			{ID: "residents", Text: "For how many people?", Type: survey.WholeNumber, Min: &lo, Max: &hi},
		},
		OrganisationTypes: []string{"home_care"},
		NHSRegions:        []string{"London", "North West"},
		OpensAt:           "2025-03-01T09:00:00Z",
		ClosesAt:          "2025-03-15T17:00:00Z",
	}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSurveys_FollowASurveyFromDraftToCloseAndItsResponses(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newSurveyWorld(t, backend)
			id := uuid.NewString()
			def := testDefinition(t)
			w.emit(survey.Stream(id), survey.SurveyDefined{SurveyID: id, Definition: def})
			w.Sync()
			r, ok := w.survey(id)
			if !ok || r.title != "Proxy online ordering" || r.status != "draft" || r.version != 1 ||
				!r.opensAt.Equal(def.OpensAt) || !r.closesAt.Equal(def.ClosesAt) || !r.publishedAt.IsZero() ||
				r.orgTypes != `["home_care"]` || r.regions != `["London","North West"]` {
				t.Fatalf("defined: %+v (found %v)", r, ok)
			}
			var qs []survey.Question
			if err := json.Unmarshal([]byte(r.questions), &qs); err != nil || len(qs) != 2 || *qs[1].Max != 50 {
				t.Errorf("questions %s: %v", r.questions, err)
			}
			if got := w.targets(id); !slices.Equal(got, []string{"nhs_region=London", "nhs_region=North West", "organisation_type=home_care"}) {
				t.Errorf("targets %v", got)
			}

			published := time.Date(2025, 2, 28, 12, 0, 0, 0, time.UTC)
			w.emit(survey.Stream(id), survey.SurveyPublished{SurveyID: id, PublishedAt: published})
			title, regions, closes := "Proxy ordering (extended)", []string{}, def.ClosesAt.Add(48*time.Hour)
			w.emit(survey.Stream(id), survey.SurveyAmended{SurveyID: id, Fields: []string{"title", "nhs_regions", "closes_at"},
				Before: survey.Change{Title: &def.Title, NHSRegions: &def.NHSRegions, ClosesAt: &def.ClosesAt},
				After:  survey.Change{Title: &title, NHSRegions: &regions, ClosesAt: &closes}})
			w.Sync()
			r, _ = w.survey(id)
			if r.title != title || r.status != "published" || r.version != 3 || !r.publishedAt.Equal(published) ||
				!r.closesAt.Equal(closes) || !r.opensAt.Equal(def.OpensAt) || r.regions != `[]` || r.orgTypes != `["home_care"]` {
				t.Fatalf("published and amended: %+v", r)
			}
			if got := w.targets(id); !slices.Equal(got, []string{"organisation_type=home_care"}) {
				t.Errorf("targets after the amendment %v", got)
			}

			at := time.Date(2025, 3, 2, 10, 30, 0, 0, time.UTC)
			stream := survey.ResponseStream(id, "1-112721881")
			w.emit(stream, survey.SurveyResponseSubmitted{SurveyID: id, LocationID: "1-112721881", SurveyVersion: 3, SubmittedAt: at,
				Answers: survey.Answers{"uses": json.RawMessage(`true`), "residents": json.RawMessage(`12`)}})
			w.emit(stream, survey.SurveyResponseSubmitted{SurveyID: id, LocationID: "1-112721881", SurveyVersion: 3, SubmittedAt: at.Add(time.Hour),
				Answers: survey.Answers{"uses": json.RawMessage(`false`)}})
			w.emit(survey.ResponseStream(id, "1-112721895"), survey.SurveyResponseSubmitted{SurveyID: id, LocationID: "1-112721895",
				SurveyVersion: 3, SubmittedAt: at, Answers: survey.Answers{"uses": json.RawMessage(`true`)}})
			closed := at.Add(2 * time.Hour)
			w.emit(survey.Stream(id), survey.SurveyClosed{SurveyID: id, ClosedAt: closed})
			w.Sync()

			resp, ok := w.response(id, "1-112721881")
			if !ok || resp.answers != `{"uses":false}` || resp.submissions != 2 || resp.version != 3 ||
				!resp.firstSubmitted.Equal(at) || !resp.submitted.Equal(at.Add(time.Hour)) {
				t.Errorf("resubmitted response %+v (found %v)", resp, ok)
			}
			if resp, ok := w.response(id, "1-112721895"); !ok || resp.submissions != 1 || resp.answers != `{"uses":true}` {
				t.Errorf("other response %+v", resp)
			}
			r, _ = w.survey(id)
			if r.status != "closed" || !r.closedAt.Equal(closed) || r.version != 4 {
				t.Errorf("closed: %+v", r)
			}

			// A rebuild from the log gives the same rows.
			before := w.dump()
			for table, rows := range before {
				if len(rows) == 0 {
					t.Fatalf("table %s is empty", table)
				}
			}
			if err := w.Engine.Rebuild(context.Background(), surveys.Projection{}.Name(), nil); err != nil {
				t.Fatal(err)
			}
			after := w.dump()
			for table := range before {
				if !slices.Equal(before[table], after[table]) {
					t.Errorf("table %s after the rebuild:\n%s\nbefore:\n%s", table,
						strings.Join(after[table], "\n"), strings.Join(before[table], "\n"))
				}
			}
		})
	}
}

func TestSurveys_IgnoresOtherStreamsAndUnknownEvents(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newSurveyWorld(t, backend)
			id := uuid.NewString()
			// A survey event type in another category, and an unknown
			// type in a survey stream: neither is applied, neither is
			// poison.
			w.emit("location-1-2", survey.SurveyDefined{SurveyID: id, Definition: testDefinition(t)})
			ev, err := eventstore.NewEvent("SurveyArchived", map[string]string{"survey_id": id}, eventstore.Metadata{Command: "test"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := w.Store.Append(context.Background(), survey.Stream(id), eventstore.Any, ev)
			if err != nil {
				t.Fatal(err)
			}
			w.Saw(res.LastPosition())
			w.Sync()
			for table, rows := range w.dump() {
				if len(rows) != 0 {
					t.Errorf("table %s: %v", table, rows)
				}
			}
		})
	}
}
