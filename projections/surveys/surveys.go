// Package surveys is the read model of the Surveys pages: support's list of
// every survey and a location's list of the surveys open for it, with its
// own last answers. It owns the DDL and the fold of its tables,
// survey_surveys, survey_targets and survey_responses, and their read SQL
// (List, OpenAt, Location).
package surveys

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection is the read model of the Surveys pages: support's list of every
// survey and a location's list of the surveys open for it, with its own
// last answers.
//
// Table survey_surveys has one row per survey: its definition (questions
// and targets as JSON text), status (draft, published, closed), dates and
// the version of its stream. Table survey_targets has one row per
// organisation type or NHS region a survey targets (kind
// "organisation_type" or "nhs_region"), so that the queries can match a
// survey's targets against search_locations in SQL: a survey without rows
// of a kind targets every value of it. Table survey_responses has one row
// per survey and location that answered it: the latest answers (JSON
// text), when they and the first answers came, and how many submissions
// there were.
type Projection struct{}

var _ projections.Projection = Projection{}

// Tables of Projection.
const (
	Table          = "survey_surveys"
	TargetsTable   = "survey_targets"
	ResponsesTable = "survey_responses"
)

// Kinds of survey_targets rows.
const (
	TargetOrganisationType = "organisation_type"
	TargetNHSRegion        = "nhs_region"
)

func (Projection) Name() string { return "surveys" }

func (Projection) Tables() []string {
	return []string{Table, TargetsTable, ResponsesTable}
}

func (Projection) Schema(d projections.Dialect, table func(string) string) []string {
	s, t, r := table(Table), table(TargetsTable), table(ResponsesTable)
	ts := d.TimestampType()
	return []string{
		fmt.Sprintf(`CREATE TABLE %[1]s (
    survey_id          TEXT   PRIMARY KEY,
    title              TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    questions          TEXT   NOT NULL,
    organisation_types TEXT   NOT NULL,
    nhs_regions        TEXT   NOT NULL,
    opens_at           %[2]s  NOT NULL,
    closes_at          %[2]s  NOT NULL,
    defined_at         %[2]s  NOT NULL,
    published_at       %[2]s,
    closed_at          %[2]s,
    updated_at         %[2]s  NOT NULL,
    version            BIGINT NOT NULL
)`, s, ts),
		fmt.Sprintf(`CREATE INDEX %s_status_closes ON %s (status, closes_at)`, s, s),
		fmt.Sprintf(`CREATE TABLE %s (
    survey_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (survey_id, kind, value)
)`, t),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    survey_id          TEXT   NOT NULL,
    location_id        TEXT   NOT NULL,
    answers            TEXT   NOT NULL,
    survey_version     BIGINT NOT NULL,
    submissions        INT    NOT NULL,
    first_submitted_at %[2]s  NOT NULL,
    submitted_at       %[2]s  NOT NULL,
    PRIMARY KEY (survey_id, location_id)
)`, r, ts),
		fmt.Sprintf(`CREATE INDEX %s_location ON %s (location_id, survey_id)`, r, r),
	}
}

// Apply applies the events of the survey and surveyresponse streams.
func (Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if c := ev.Category(); c != "survey" && c != "surveyresponse" {
		return nil
	}
	e, err := survey.Decode(ev.Type, ev.Data)
	if err != nil || e == nil {
		return err
	}
	d := tx.Dialect()
	switch e := e.(type) {
	case survey.SurveyDefined:
		return defineSurvey(ctx, tx, table, e, ev)
	case survey.SurveyAmended:
		return amendSurvey(ctx, tx, table, e, ev)
	case survey.SurveyPublished:
		return setSurveyStatus(ctx, tx, table, e.SurveyID, survey.Published, "published_at", d.Time(e.PublishedAt), ev)
	case survey.SurveyClosed:
		return setSurveyStatus(ctx, tx, table, e.SurveyID, survey.Closed, "closed_at", d.Time(e.ClosedAt), ev)
	case survey.SurveyResponseSubmitted:
		return putResponse(ctx, tx, table, e)
	}
	return nil
}

// surveyJSON is a value's JSON text; a nil list is [].
func surveyJSON[T any](list []T) (string, error) {
	if list == nil {
		list = []T{}
	}
	data, err := json.Marshal(list)
	return string(data), err
}

func defineSurvey(ctx context.Context, tx projections.Tx, table func(string) string, e survey.SurveyDefined, ev eventstore.Event) error {
	d, def := tx.Dialect(), e.Definition
	questions, err := surveyJSON(def.Questions)
	if err != nil {
		return err
	}
	orgTypes, err := surveyJSON(def.OrganisationTypes)
	if err != nil {
		return err
	}
	regions, err := surveyJSON(def.NHSRegions)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (survey_id, title, status, questions, organisation_types,
    nhs_regions, opens_at, closes_at, defined_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (survey_id) DO NOTHING`, table(Table)),
		e.SurveyID, def.Title, string(survey.Draft), questions, orgTypes, regions, d.Time(def.OpensAt), d.Time(def.ClosesAt),
		d.Time(ev.RecordedAt), d.Time(ev.RecordedAt), ev.Version)
	if err != nil {
		return fmt.Errorf("survey %s: %w", e.SurveyID, err)
	}
	if err := putTargets(ctx, tx, table, e.SurveyID, TargetOrganisationType, def.OrganisationTypes); err != nil {
		return err
	}
	return putTargets(ctx, tx, table, e.SurveyID, TargetNHSRegion, def.NHSRegions)
}

// putTargets replaces a survey's targets of a kind.
func putTargets(ctx context.Context, tx projections.Tx, table func(string) string, surveyID, kind string, values []string) error {
	t := table(TargetsTable)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE survey_id = ? AND kind = ?`, t), surveyID, kind); err != nil {
		return fmt.Errorf("targets of survey %s: %w", surveyID, err)
	}
	for _, v := range values {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (survey_id, kind, value) VALUES (?, ?, ?)
ON CONFLICT (survey_id, kind, value) DO NOTHING`, t), surveyID, kind, v); err != nil {
			return fmt.Errorf("targets of survey %s: %w", surveyID, err)
		}
	}
	return nil
}

// amendSurvey sets the columns of the parts that changed.
func amendSurvey(ctx context.Context, tx projections.Tx, table func(string) string, e survey.SurveyAmended, ev eventstore.Event) error {
	d, a := tx.Dialect(), e.After
	var (
		sets []string
		args []any
	)
	set := func(column string, value any) {
		sets = append(sets, column+" = ?")
		args = append(args, value)
	}
	if a.Title != nil {
		set("title", *a.Title)
	}
	if a.Questions != nil {
		q, err := surveyJSON(*a.Questions)
		if err != nil {
			return err
		}
		set("questions", q)
	}
	if a.OrganisationTypes != nil {
		l, err := surveyJSON(*a.OrganisationTypes)
		if err != nil {
			return err
		}
		set("organisation_types", l)
		if err := putTargets(ctx, tx, table, e.SurveyID, TargetOrganisationType, *a.OrganisationTypes); err != nil {
			return err
		}
	}
	if a.NHSRegions != nil {
		l, err := surveyJSON(*a.NHSRegions)
		if err != nil {
			return err
		}
		set("nhs_regions", l)
		if err := putTargets(ctx, tx, table, e.SurveyID, TargetNHSRegion, *a.NHSRegions); err != nil {
			return err
		}
	}
	if a.OpensAt != nil {
		set("opens_at", d.Time(*a.OpensAt))
	}
	if a.ClosesAt != nil {
		set("closes_at", d.Time(*a.ClosesAt))
	}
	set("updated_at", d.Time(ev.RecordedAt))
	set("version", ev.Version)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE survey_id = ?`, table(Table), strings.Join(sets, ", ")),
		append(args, e.SurveyID)...)
	if err != nil {
		return fmt.Errorf("survey %s: %w", e.SurveyID, err)
	}
	return nil
}

func setSurveyStatus(ctx context.Context, tx projections.Tx, table func(string) string, surveyID string, status survey.Status,
	column string, at any, ev eventstore.Event) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET status = ?, %s = ?, updated_at = ?, version = ? WHERE survey_id = ?`,
		table(Table), column), string(status), at, tx.Dialect().Time(ev.RecordedAt), ev.Version, surveyID)
	if err != nil {
		return fmt.Errorf("survey %s: %w", surveyID, err)
	}
	return nil
}

// putResponse keeps a location's latest answers and counts its
// submissions.
func putResponse(ctx context.Context, tx projections.Tx, table func(string) string, e survey.SurveyResponseSubmitted) error {
	d, r := tx.Dialect(), table(ResponsesTable)
	answers := e.Answers
	if answers == nil {
		answers = survey.Answers{}
	}
	data, err := json.Marshal(answers)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (survey_id, location_id, answers, survey_version, submissions,
    first_submitted_at, submitted_at)
VALUES (?, ?, ?, ?, 1, ?, ?)
ON CONFLICT (survey_id, location_id) DO UPDATE SET answers = excluded.answers, survey_version = excluded.survey_version,
    submissions = %[1]s.submissions + 1, submitted_at = excluded.submitted_at`, r),
		e.SurveyID, e.LocationID, string(data), e.SurveyVersion, d.Time(e.SubmittedAt), d.Time(e.SubmittedAt))
	if err != nil {
		return fmt.Errorf("response of %s to survey %s: %w", e.LocationID, e.SurveyID, err)
	}
	return nil
}
