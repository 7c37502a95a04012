package survey_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
)

var (
	opens  = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	closes = time.Date(2025, 3, 15, 17, 0, 0, 0, time.UTC)
)

func i64(n int64) *int64 { return &n }

// validForm is a form with one question of each type.
func validForm() survey.Form {
	return survey.Form{
		Title: "Syringe driver supplies",
		Questions: []survey.Question{
			{ID: "drivers", Text: "How many syringe drivers do you hold?", Type: survey.WholeNumber, Required: true, Min: i64(1), Max: i64(10)},
			{ID: "proxy", Text: "Do you use proxy online ordering?", Type: survey.YesNo, Required: true},
			{ID: "supplier", Text: "Who supplies them?", Type: survey.SingleChoice, Required: true, Options: []string{"NHS", "Private", "Other"}},
			{ID: "notes", Text: "Anything else?", Type: survey.FreeText},
		},
		OrganisationTypes: []string{"home_care"},
		NHSRegions:        []string{"London"},
		OpensAt:           opens.Format(time.RFC3339),
		ClosesAt:          closes.Format(time.RFC3339),
	}
}

func validDefinition(t *testing.T) survey.Definition {
	t.Helper()
	d, err := validForm().Validate()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fieldCodes lists "field:code" of a validation error, or fails.
func fieldCodes(t *testing.T, err error) []string {
	t.Helper()
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %v (%T), want a ValidationError", err, err)
	}
	var out []string
	for _, f := range v.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		out = append(out, f.Field+":"+f.Code)
	}
	return out
}

func TestForm_ValidateBoundaries(t *testing.T) {
	cases := []struct {
		name string
		edit func(f *survey.Form)
		want []string // field:code; nil = valid
	}{
		{"valid", func(f *survey.Form) {}, nil},
		{"title empty", func(f *survey.Form) { f.Title = "  \t " }, []string{"title:required"}},
		{"title 1 character", func(f *survey.Form) { f.Title = "X" }, nil},
		{"title 200 characters", func(f *survey.Form) { f.Title = strings.Repeat("é", 200) }, nil},
		{"title 201 characters", func(f *survey.Form) { f.Title = strings.Repeat("é", 201) }, []string{"title:too_long"}},
		{"no questions", func(f *survey.Form) { f.Questions = nil }, []string{"questions:required"}},
		{"50 questions", func(f *survey.Form) { f.Questions = manyQuestions(50) }, nil},
		{"51 questions", func(f *survey.Form) { f.Questions = manyQuestions(51) }, []string{"questions:too_many"}},
		{"question id invalid", func(f *survey.Form) { f.Questions[0].ID = "Q-1" }, []string{"questions[0].id:invalid_id"}},
		{"question id 32 characters", func(f *survey.Form) { f.Questions[0].ID = "q" + strings.Repeat("x", 31) }, nil},
		{"question id 33 characters", func(f *survey.Form) { f.Questions[0].ID = "q" + strings.Repeat("x", 32) },
			[]string{"questions[0].id:invalid_id"}},
		{"question id duplicate", func(f *survey.Form) { f.Questions[1].ID = "drivers" }, []string{"questions[1].id:duplicate"}},
		{"question text empty", func(f *survey.Form) { f.Questions[0].Text = "" }, []string{"questions[0].text:required"}},
		{"question text 500", func(f *survey.Form) { f.Questions[0].Text = strings.Repeat("a", 500) }, nil},
		{"question text 501", func(f *survey.Form) { f.Questions[0].Text = strings.Repeat("a", 501) }, []string{"questions[0].text:too_long"}},
		{"question type unknown", func(f *survey.Form) { f.Questions[0].Type = "date" }, []string{"questions[0].type:invalid_choice"}},
		{"min equals max", func(f *survey.Form) { f.Questions[0].Min, f.Questions[0].Max = i64(5), i64(5) }, nil},
		{"min above max", func(f *survey.Form) { f.Questions[0].Min, f.Questions[0].Max = i64(6), i64(5) },
			[]string{"questions[0].max:below_min"}},
		{"bounds at the limits", func(f *survey.Form) {
			f.Questions[0].Min, f.Questions[0].Max = i64(-survey.MaxNumber), i64(survey.MaxNumber)
		}, nil},
		{"bounds beyond the limits", func(f *survey.Form) {
			f.Questions[0].Min, f.Questions[0].Max = i64(-survey.MaxNumber-1), i64(survey.MaxNumber+1)
		}, []string{"questions[0].min:out_of_range", "questions[0].max:out_of_range"}},
		{"min and max on yes/no", func(f *survey.Form) { f.Questions[1].Min, f.Questions[1].Max = i64(0), i64(1) },
			[]string{"questions[1].min:not_allowed", "questions[1].max:not_allowed"}},
		{"options on free text", func(f *survey.Form) { f.Questions[3].Options = []string{"a", "b"} },
			[]string{"questions[3].options:not_allowed"}},
		{"max_length on single choice", func(f *survey.Form) { f.Questions[2].MaxLength = 10 },
			[]string{"questions[2].max_length:not_allowed"}},
		{"1 option", func(f *survey.Form) { f.Questions[2].Options = []string{"NHS"} }, []string{"questions[2].options:too_few"}},
		{"2 options", func(f *survey.Form) { f.Questions[2].Options = []string{"NHS", "Private"} }, nil},
		{"50 options", func(f *survey.Form) { f.Questions[2].Options = options(50) }, nil},
		{"51 options", func(f *survey.Form) { f.Questions[2].Options = options(51) }, []string{"questions[2].options:too_many"}},
		{"empty option", func(f *survey.Form) { f.Questions[2].Options[1] = " " }, []string{"questions[2].options[1]:required"}},
		{"option 200 characters", func(f *survey.Form) { f.Questions[2].Options[1] = strings.Repeat("o", 200) }, nil},
		{"option 201 characters", func(f *survey.Form) { f.Questions[2].Options[1] = strings.Repeat("o", 201) },
			[]string{"questions[2].options[1]:too_long"}},
		{"duplicate option in another case", func(f *survey.Form) { f.Questions[2].Options[2] = "nhs" },
			[]string{"questions[2].options[2]:duplicate"}},
		{"max_length 1", func(f *survey.Form) { f.Questions[3].MaxLength = 1 }, nil},
		{"max_length 2000", func(f *survey.Form) { f.Questions[3].MaxLength = 2000 }, nil},
		{"max_length 2001", func(f *survey.Form) { f.Questions[3].MaxLength = 2001 }, []string{"questions[3].max_length:out_of_range"}},
		{"max_length negative", func(f *survey.Form) { f.Questions[3].MaxLength = -1 }, []string{"questions[3].max_length:out_of_range"}},
		{"unknown organisation type", func(f *survey.Form) { f.OrganisationTypes = []string{"home_care", "castle"} },
			[]string{"organisation_types[1]:invalid_choice"}},
		{"unknown NHS region", func(f *survey.Form) { f.NHSRegions = []string{"Wales"} }, []string{"nhs_regions[0]:invalid_choice"}},
		{"opens_at missing", func(f *survey.Form) { f.OpensAt = "" }, []string{"opens_at:required"}},
		{"closes_at not a date", func(f *survey.Form) { f.ClosesAt = "15/03/2025" }, []string{"closes_at:invalid_date"}},
		{"closes_at equals opens_at", func(f *survey.Form) { f.ClosesAt = f.OpensAt }, []string{"closes_at:not_after_opens_at"}},
		{"closes_at a second after opens_at", func(f *survey.Form) { f.ClosesAt = opens.Add(time.Second).Format(time.RFC3339) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := validForm()
			c.edit(&f)
			_, err := f.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("valid form refused: %v", err)
				}
				return
			}
			if got := fieldCodes(t, err); !slices.Equal(got, c.want) {
				t.Fatalf("errors %v, want %v", got, c.want)
			}
		})
	}
}

func manyQuestions(n int) []survey.Question {
	out := make([]survey.Question, n)
	for i := range out {
		out[i] = survey.Question{Text: fmt.Sprintf("Question %d", i+1), Type: survey.YesNo}
	}
	return out
}

func options(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("Option %d", i+1)
	}
	return out
}

func TestForm_ValidateReportsEveryErrorAtOnce(t *testing.T) {
	f := validForm()
	f.Title = ""
	f.Questions[0].Min = i64(20)
	f.Questions[2].Options = []string{"only"}
	f.Questions[3].MaxLength = 5000
	f.NHSRegions = []string{"Atlantis"}
	f.ClosesAt = "soon"
	_, err := f.Validate()
	want := []string{"title:required", "questions[0].max:below_min", "questions[2].options:too_few",
		"questions[3].max_length:out_of_range", "nhs_regions[0]:invalid_choice", "closes_at:invalid_date"}
	if got := fieldCodes(t, err); !slices.Equal(got, want) {
		t.Fatalf("errors %v, want %v", got, want)
	}
}

func TestForm_ValidateNormalises(t *testing.T) {
	f := survey.Form{
		Title: "  Proxy   ordering ",
		Questions: []survey.Question{
			{Text: "How many?", Type: survey.WholeNumber},
			{Text: " Tell us ", Type: survey.FreeText},
			{ID: "kind", Text: "Which?", Type: survey.SingleChoice, Options: []string{" A ", "B"}},
		},
		OrganisationTypes: []string{"HOME_CARE", "care_home", "home_care"},
		NHSRegions:        []string{"south west", "London"},
		OpensAt:           "2025-03-01T10:00:00.75+01:00",
		ClosesAt:          "2025-03-02T00:00:00Z",
	}
	d, err := f.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != "Proxy ordering" {
		t.Errorf("title %q", d.Title)
	}
	q := d.Questions
	if q[0].ID != "q1" || *q[0].Min != 0 || *q[0].Max != survey.DefaultMax {
		t.Errorf("whole number %+v: want id q1, 0 to %d", q[0], survey.DefaultMax)
	}
	if q[1].ID != "q2" || q[1].Text != "Tell us" || q[1].MaxLength != survey.MaxTextLength {
		t.Errorf("free text %+v", q[1])
	}
	if !slices.Equal(q[2].Options, []string{"A", "B"}) {
		t.Errorf("options %q", q[2].Options)
	}
	if !slices.Equal(d.OrganisationTypes, []string{"care_home", "home_care"}) {
		t.Errorf("organisation types %v", d.OrganisationTypes)
	}
	if !slices.Equal(d.NHSRegions, []string{"London", "South West"}) {
		t.Errorf("NHS regions %v", d.NHSRegions)
	}
	if !d.OpensAt.Equal(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)) || d.OpensAt.Location() != time.UTC {
		t.Errorf("opens_at %v, want 09:00:00 UTC (to the second)", d.OpensAt)
	}
	empty := validForm()
	empty.OrganisationTypes, empty.NHSRegions = nil, nil
	if d, err := empty.Validate(); err != nil || d.OrganisationTypes == nil || d.NHSRegions == nil {
		t.Errorf("no targets: %v, %#v %#v (want empty lists)", err, d.OrganisationTypes, d.NHSRegions)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestValidateAnswers_Boundaries(t *testing.T) {
	d := validDefinition(t) // drivers: 1 to 10, required
	full := func() map[string]json.RawMessage {
		return map[string]json.RawMessage{"drivers": raw(`5`), "proxy": raw(`true`), "supplier": raw(`"NHS"`)}
	}
	cases := []struct {
		name   string
		answer string // JSON, or "" to leave out
		q      string
		want   string // code, "" = valid
		stored string // canonical JSON stored
	}{
		{"min-1", `0`, "drivers", "too_small", ""},
		{"min", `1`, "drivers", "", `1`},
		{"max", `10`, "drivers", "", `10`},
		{"max+1", `11`, "drivers", "too_large", ""},
		{"number as text", `" 7 "`, "drivers", "", `7`},
		{"whole number written as decimal", `7.0`, "drivers", "", `7`},
		{"exponent", `1e1`, "drivers", "", `10`},
		{"fraction", `1.5`, "drivers", "whole_number", ""},
		{"huge", `1e30`, "drivers", "too_large", ""},
		{"huge integer", `99999999999999999999`, "drivers", "too_large", ""},
		{"negative huge", `-1e30`, "drivers", "too_small", ""},
		{"words", `"seven"`, "drivers", "whole_number", ""},
		{"bool for number", `true`, "drivers", "whole_number", ""},
		{"array", `[1]`, "drivers", "invalid_type", ""},
		{"required missing", "", "drivers", "required", ""},
		{"required null", `null`, "drivers", "required", ""},
		{"required blank", `"  "`, "drivers", "required", ""},
		{"yes", `"Yes"`, "proxy", "", `true`},
		{"n", `"n"`, "proxy", "", `false`},
		{"false", `false`, "proxy", "", `false`},
		{"maybe", `"maybe"`, "proxy", "invalid_choice", ""},
		{"1 for yes", `1`, "proxy", "invalid_choice", ""},
		{"option", `"Private"`, "supplier", "", `"Private"`},
		{"option in another case", `" private "`, "supplier", "", `"Private"`},
		{"not an option", `"Council"`, "supplier", "invalid_choice", ""},
		{"number for option", `1`, "supplier", "invalid_choice", ""},
		{"text 2000", `"` + strings.Repeat("a", 2000) + `"`, "notes", "", `"` + strings.Repeat("a", 2000) + `"`},
		{"text 2001", `"` + strings.Repeat("a", 2001) + `"`, "notes", "too_long", ""},
		{"text counts characters not bytes", `"` + strings.Repeat("é", 2000) + `"`, "notes", "", `"` + strings.Repeat("é", 2000) + `"`},
		{"text cleaned", `"  two\r\n\r\n\r\nlines  "`, "notes", "", `"two\n\nlines"`},
		{"number for text", `12`, "notes", "invalid_type", ""},
		{"optional left out", "", "notes", "", "-"},
		{"optional blank", `"   "`, "notes", "", "-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			given := full()
			delete(given, c.q)
			if c.answer != "" {
				given[c.q] = raw(c.answer)
			}
			got, err := survey.ValidateAnswers(d.Questions, given)
			if c.want != "" {
				if codes := fieldCodes(t, err); !slices.Equal(codes, []string{"answers." + c.q + ":" + c.want}) {
					t.Fatalf("errors %v, want answers.%s:%s", codes, c.q, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			stored, ok := got[c.q]
			switch {
			case c.stored == "-" && ok:
				t.Fatalf("unanswered optional question stored as %s", stored)
			case c.stored != "-" && string(stored) != c.stored:
				t.Fatalf("stored %s, want %s", stored, c.stored)
			}
		})
	}
}

func TestValidateAnswers_ShorterTextBound(t *testing.T) {
	qs := []survey.Question{{ID: "why", Text: "Why?", Type: survey.FreeText, Required: true, MaxLength: 10}}
	if _, err := survey.ValidateAnswers(qs, map[string]json.RawMessage{"why": raw(`"0123456789"`)}); err != nil {
		t.Errorf("10 characters of 10: %v", err)
	}
	_, err := survey.ValidateAnswers(qs, map[string]json.RawMessage{"why": raw(`"0123456789x"`)})
	var v *domain.ValidationError
	if !errors.As(err, &v) || v.Fields[0].Code != "too_long" || v.Fields[0].Message != "Enter at most 10 characters" {
		t.Errorf("11 characters of 10: %v", err)
	}
	long := []survey.Question{{ID: "why", Text: "Why?", Type: survey.FreeText, MaxLength: 2000}}
	_, err = survey.ValidateAnswers(long, map[string]json.RawMessage{"why": raw(`"` + strings.Repeat("x", 2001) + `"`)})
	if !errors.As(err, &v) || v.Fields[0].Message != "Enter at most 2,000 characters" {
		t.Errorf("2001 characters of 2000: %v", err)
	}
}

func TestValidateAnswers_EveryErrorAtOnceInQuestionOrder(t *testing.T) {
	d := validDefinition(t)
	_, err := survey.ValidateAnswers(d.Questions, map[string]json.RawMessage{
		"zzz": raw(`1`), "supplier": raw(`"Council"`), "drivers": raw(`11`), "notes": raw(`"` + strings.Repeat("n", 2001) + `"`),
		"aaa": raw(`true`),
	})
	want := []string{"answers.drivers:too_large", "answers.proxy:required", "answers.supplier:invalid_choice",
		"answers.notes:too_long", "answers.aaa:unknown_question", "answers.zzz:unknown_question"}
	if got := fieldCodes(t, err); !slices.Equal(got, want) {
		t.Fatalf("errors %v, want %v", got, want)
	}
}

// fold applies events to a new survey.
func fold(evs ...any) survey.Survey {
	var s survey.Survey
	for _, ev := range evs {
		s = survey.Evolve(s, ev)
	}
	return s
}

func defined(t *testing.T, id string) survey.Survey {
	t.Helper()
	ev, err := survey.DecideDefine(survey.Survey{}, survey.Define{SurveyID: id, Form: validForm()})
	if err != nil {
		t.Fatal(err)
	}
	return fold(ev)
}

func TestSurvey_OpenOnlyWhenPublishedNotClosedAndWithinItsDates(t *testing.T) {
	id := uuid.NewString()
	s := defined(t, id)
	if s.Status != survey.Draft || s.OpenAt(opens) {
		t.Fatalf("a draft is open: %+v", s)
	}
	pub, err := survey.DecidePublish(s, opens.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s = survey.Evolve(s, pub)
	for _, c := range []struct {
		at   time.Time
		open bool
	}{
		{opens.Add(-time.Nanosecond), false},
		{opens, true},
		{closes.Add(-time.Nanosecond), true},
		{closes, false},
		{closes.Add(time.Hour), false},
	} {
		if got := s.OpenAt(c.at); got != c.open {
			t.Errorf("open at %v = %v, want %v", c.at, got, c.open)
		}
	}
	cl, err := survey.DecideClose(s, opens.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s = survey.Evolve(s, cl)
	if s.Status != survey.Closed || s.OpenAt(opens.Add(2*time.Hour)) {
		t.Fatalf("a closed survey is open: %+v", s)
	}
	if s.Version != 3 {
		t.Errorf("version %d, want 3", s.Version)
	}
}

func wantRule(t *testing.T, err error, code string) {
	t.Helper()
	var r *domain.RuleError
	if !errors.As(err, &r) || r.Code != code {
		t.Fatalf("error %v, want rule %s", err, code)
	}
}

func TestSurvey_PublishAndCloseRules(t *testing.T) {
	id := uuid.NewString()
	if _, err := survey.DecidePublish(survey.Survey{}, opens); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("publish of nothing: %v", err)
	}
	if _, err := survey.DecideClose(survey.Survey{}, opens); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("close of nothing: %v", err)
	}
	s := defined(t, id)
	var conflict *domain.ConflictError
	if _, err := survey.DecideDefine(s, survey.Define{SurveyID: id, Form: validForm()}); !errors.As(err, &conflict) || conflict.Code != "survey_exists" {
		t.Errorf("defined twice: %v", err)
	}
	// A closing date that has passed (or is now) cannot be published.
	_, err := survey.DecidePublish(s, closes)
	wantRule(t, err, "closes_at_passed")
	pub, err := survey.DecidePublish(s, closes.Add(-time.Second))
	if err != nil {
		t.Fatalf("publish a second before closing: %v", err)
	}
	if !pub.PublishedAt.Equal(closes.Add(-time.Second)) {
		t.Errorf("published at %v", pub.PublishedAt)
	}
	s = survey.Evolve(s, pub)
	_, err = survey.DecidePublish(s, opens)
	wantRule(t, err, "survey_published")
	cl, err := survey.DecideClose(s, opens)
	if err != nil {
		t.Fatal(err)
	}
	s = survey.Evolve(s, cl)
	_, err = survey.DecideClose(s, opens)
	wantRule(t, err, "survey_closed")
	_, err = survey.DecidePublish(s, opens)
	wantRule(t, err, "survey_closed")
	_, err = survey.DecideAmend(s, survey.Amend{SurveyID: id, ExpectedVersion: s.Version, Form: validForm(), Now: opens})
	wantRule(t, err, "survey_closed")

	// A draft may be closed (withdrawn) too.
	d := defined(t, uuid.NewString())
	if _, err := survey.DecideClose(d, opens); err != nil {
		t.Errorf("close a draft: %v", err)
	}
}

func TestSurvey_AmendCarriesBeforeAndAfterOfWhatChanged(t *testing.T) {
	id := uuid.NewString()
	s := defined(t, id)
	f := s.Definition.Form()
	evs, err := survey.DecideAmend(s, survey.Amend{SurveyID: id, ExpectedVersion: 1, Form: f, Now: opens})
	if err != nil || len(evs) != 0 {
		t.Fatalf("an unchanged amendment: %v, %v (want no event)", evs, err)
	}
	f.Title = "Syringe driver supplies (winter)"
	f.NHSRegions = nil
	f.ClosesAt = closes.Add(24 * time.Hour).Format(time.RFC3339)
	evs, err = survey.DecideAmend(s, survey.Amend{SurveyID: id, ExpectedVersion: 1, Form: f, Now: opens})
	if err != nil || len(evs) != 1 {
		t.Fatalf("amend: %v, %v", evs, err)
	}
	am := evs[0].(survey.SurveyAmended)
	if !slices.Equal(am.Fields, []string{"title", "nhs_regions", "closes_at"}) {
		t.Errorf("fields %v", am.Fields)
	}
	if *am.Before.Title != "Syringe driver supplies" || *am.After.Title != f.Title ||
		!slices.Equal(*am.Before.NHSRegions, []string{"London"}) || len(*am.After.NHSRegions) != 0 ||
		!am.Before.ClosesAt.Equal(closes) || !am.After.ClosesAt.Equal(closes.Add(24*time.Hour)) {
		t.Errorf("before %+v after %+v", am.Before, am.After)
	}
	if am.Before.Questions != nil || am.After.OpensAt != nil || am.After.OrganisationTypes != nil {
		t.Errorf("unchanged parts carried: %+v", am.After)
	}
	s2 := survey.Evolve(s, roundTrip(t, am))
	if s2.Title != f.Title || len(s2.NHSRegions) != 0 || !s2.ClosesAt.Equal(closes.Add(24*time.Hour)) ||
		!reflect.DeepEqual(s2.Questions, s.Questions) || s2.Version != 2 {
		t.Errorf("after the amendment: %+v", s2)
	}

	// Decided on an older version: a conflict, nothing applied.
	_, err = survey.DecideAmend(s2, survey.Amend{SurveyID: id, ExpectedVersion: 1, Form: f, Now: opens})
	var c *domain.ConflictError
	if !errors.As(err, &c) || c.Code != "version_conflict" {
		t.Errorf("stale amendment: %v", err)
	}
	// Validation comes first, with every error.
	bad := f
	bad.Title = ""
	_, err = survey.DecideAmend(s2, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: bad, Now: opens})
	if got := fieldCodes(t, err); !slices.Equal(got, []string{"title:required"}) {
		t.Errorf("errors %v", got)
	}
	if _, err := survey.DecideAmend(survey.Survey{}, survey.Amend{Form: f}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("amend of nothing: %v", err)
	}
}

func TestSurvey_PublishedKeepsItsQuestionsAndAFutureClosingDate(t *testing.T) {
	id := uuid.NewString()
	s := defined(t, id)
	pub, _ := survey.DecidePublish(s, opens)
	s = survey.Evolve(s, pub)
	now := opens.Add(time.Hour)

	f := s.Definition.Form()
	f.Questions = f.Questions[1:]                                      // drivers removed
	f.Questions[0].Type = survey.FreeText                              // proxy: yes/no -> free text
	f.ClosesAt = now.Format(time.RFC3339)                              // closes now: in the past
	f.Questions[1].Options = append(f.Questions[1].Options, "Council") // allowed
	_, err := survey.DecideAmend(s, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: f, Now: now})
	want := []string{"questions:question_removed", "questions[0].type:type_locked", "closes_at:in_past"}
	if got := fieldCodes(t, err); !slices.Equal(got, want) {
		t.Fatalf("errors %v, want %v", got, want)
	}

	f = s.Definition.Form()
	f.Questions[2].Options = append(f.Questions[2].Options, "Council")
	f.Questions = append(f.Questions, survey.Question{ID: "extra", Text: "One more?", Type: survey.YesNo})
	f.ClosesAt = now.Add(time.Second).Format(time.RFC3339)
	evs, err := survey.DecideAmend(s, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: f, Now: now})
	if err != nil || len(evs) != 1 {
		t.Fatalf("adding a question and an option, closing a second from now: %v, %v", evs, err)
	}
	am := evs[0].(survey.SurveyAmended)
	if !slices.Equal(am.Fields, []string{"questions", "closes_at"}) || len(*am.After.Questions) != 5 || len(*am.Before.Questions) != 4 {
		t.Errorf("amended %v", am.Fields)
	}
}

func TestSurvey_Targets(t *testing.T) {
	d := validDefinition(t) // home_care in London
	cases := []struct {
		orgs, regions []string
		orgType, nhs  string
		want          bool
	}{
		{[]string{"home_care"}, []string{"London"}, "home_care", "London", true},
		{[]string{"home_care"}, []string{"London"}, "care_home", "London", false},
		{[]string{"home_care"}, []string{"London"}, "home_care", "Midlands", false},
		{[]string{"home_care"}, []string{"London"}, "home_care", "", false},
		{[]string{}, []string{"London"}, "care_home", "London", true},
		{[]string{"home_care"}, []string{}, "home_care", "", true},
		{[]string{}, []string{}, "gp", "", true},
		{[]string{"care_home", "home_care"}, []string{"London", "Midlands"}, "care_home", "Midlands", true},
	}
	for _, c := range cases {
		d.OrganisationTypes, d.NHSRegions = c.orgs, c.regions
		if got := d.Targets(c.orgType, c.nhs); got != c.want {
			t.Errorf("survey for %v in %v targets %s in %q = %v, want %v", c.orgs, c.regions, c.orgType, c.nhs, got, c.want)
		}
	}
}

func TestDecideSubmit(t *testing.T) {
	id := uuid.NewString()
	draft := defined(t, id)
	pub, _ := survey.DecidePublish(draft, opens)
	open := survey.Evolve(draft, pub)
	cl, _ := survey.DecideClose(open, opens)
	closed := survey.Evolve(open, cl)
	answers := map[string]json.RawMessage{"drivers": raw(`3`), "proxy": raw(`"no"`), "supplier": raw(`"Other"`)}
	submit := func(orgType, region string, at time.Time, a map[string]json.RawMessage) survey.Submit {
		return survey.Submit{SurveyID: id, LocationID: "1-200", OrganisationType: orgType, NHSRegion: region, Answers: a, Now: at}
	}
	during := opens.Add(time.Hour)

	if _, err := survey.DecideSubmit(survey.Survey{}, submit("home_care", "London", during, answers)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("no survey: %v", err)
	}
	if _, err := survey.DecideSubmit(draft, submit("home_care", "London", during, answers)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a draft: %v", err)
	}
	_, err := survey.DecideSubmit(open, submit("care_home", "London", during, answers))
	wantRule(t, err, "survey_not_for_location")
	_, err = survey.DecideSubmit(open, submit("home_care", "North West", during, answers))
	wantRule(t, err, "survey_not_for_location")
	_, err = survey.DecideSubmit(open, submit("home_care", "London", opens.Add(-time.Second), answers))
	wantRule(t, err, "survey_not_open")
	_, err = survey.DecideSubmit(open, submit("home_care", "London", closes, answers))
	wantRule(t, err, "survey_not_open")
	_, err = survey.DecideSubmit(closed, submit("home_care", "London", during, answers))
	wantRule(t, err, "survey_not_open")
	_, err = survey.DecideSubmit(open, submit("home_care", "London", during, map[string]json.RawMessage{}))
	if got := fieldCodes(t, err); len(got) != 3 {
		t.Errorf("no answers: %v", got)
	}

	ev, err := survey.DecideSubmit(open, submit("home_care", "London", during, answers))
	if err != nil {
		t.Fatal(err)
	}
	if ev.SurveyID != id || ev.LocationID != "1-200" || ev.SurveyVersion != 2 || !ev.SubmittedAt.Equal(during) ||
		string(ev.Answers["proxy"]) != "false" || len(ev.Answers) != 3 {
		t.Errorf("submitted %+v", ev)
	}
	var r survey.Response
	r = survey.EvolveResponse(r, ev)
	ev.Answers["drivers"] = raw(`4`)
	r = survey.EvolveResponse(r, roundTrip(t, ev))
	if r.Submissions != 2 || r.Version != 2 || string(r.Last.Answers["drivers"]) != "4" {
		t.Errorf("response %+v", r)
	}
}

// roundTrip encodes an event as the store would hold it and decodes it.
func roundTrip[T interface{ EventType() string }](t *testing.T, ev T) any {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := survey.Decode(ev.EventType(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, any(ev)) {
		t.Fatalf("%s round trip:\n got %+v\nwant %+v", ev.EventType(), got, ev)
	}
	return got
}

func TestDecode_EveryEventRoundTripsAndUnknownTypesAreSkipped(t *testing.T) {
	id := uuid.NewString()
	s := defined(t, id)
	title := "New"
	roundTrip(t, survey.SurveyDefined{SurveyID: id, Definition: s.Definition})
	roundTrip(t, survey.SurveyAmended{SurveyID: id, Fields: []string{"title"}, Before: survey.Change{Title: &s.Title},
		After: survey.Change{Title: &title}})
	roundTrip(t, survey.SurveyPublished{SurveyID: id, PublishedAt: opens})
	roundTrip(t, survey.SurveyClosed{SurveyID: id, ClosedAt: closes})
	roundTrip(t, survey.SurveyResponseSubmitted{SurveyID: id, LocationID: "1-200", SurveyVersion: 2, SubmittedAt: opens,
		Answers: survey.Answers{"drivers": raw(`3`)}})
	if ev, err := survey.Decode("SurveyArchived", []byte(`{}`)); ev != nil || err != nil {
		t.Errorf("unknown type: %v, %v", ev, err)
	}
	if _, err := survey.Decode(survey.TypeSurveyDefined, []byte(`{`)); err == nil {
		t.Error("broken JSON decoded")
	}
}

func TestStreams_AreValidStreamIDs(t *testing.T) {
	id := uuid.NewString()
	for _, s := range []string{survey.Stream(id), survey.ResponseStream(id, "1-112721881"), survey.ResponseStream(id, "acme.home_1")} {
		if err := eventstore.ValidateStreamID(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if got := eventstore.Category(survey.ResponseStream(id, "1-2")); got != "surveyresponse" {
		t.Errorf("category %q", got)
	}
}

func TestResponseLocation_InvertsResponseStream(t *testing.T) {
	if loc, ok := survey.ResponseLocation(survey.ResponseStream("s-1", "1-101641286")); !ok || loc != "1-101641286" {
		t.Errorf("ResponseLocation(ResponseStream) = %q, %v", loc, ok)
	}
	for _, id := range []string{"survey-s-1", "surveyresponse-s-1", "surveyresponse-s-1.", "location-1-2"} {
		if loc, ok := survey.ResponseLocation(id); ok {
			t.Errorf("ResponseLocation(%q) = %q, true", id, loc)
		}
	}
}
