// Package survey is the surveys support asks locations to complete (the
// guide's "Step 2: Surveys"): a survey's definition (its questions, the
// organisation types and NHS regions it targets, when it opens and
// closes), its life (drafted, amended, published, closed), and the
// responses of locations. Pure Go: no I/O.
//
// Each survey has one stream, survey-<uuid>. Each location's answers to a
// survey have their own stream, surveyresponse-<survey id>.<location id>,
// of SurveyResponseSubmitted events, each carrying the full answers: a
// resubmission is another event, and the latest one counts.
package survey

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
)

// Stream is the stream id of a survey.
func Stream(surveyID string) string { return "survey-" + surveyID }

// ResponseStream is the stream id of a location's responses to a survey.
func ResponseStream(surveyID, locationID string) string {
	return "surveyresponse-" + surveyID + "." + locationID
}

// ResponseLocation is the location of a ResponseStream id; ok is false
// for any other stream id.
func ResponseLocation(streamID string) (locationID string, ok bool) {
	rest, ok := strings.CutPrefix(streamID, "surveyresponse-")
	if !ok {
		return "", false
	}
	_, loc, ok := strings.Cut(rest, ".")
	return loc, ok && loc != ""
}

// NoSurveysMessage is what a location's Surveys page says when no survey
// is open for it.
const NoSurveysMessage = "There are no surveys for completion right now, check back later."

// QuestionType is the kind of answer a question takes.
type QuestionType string

// The question types.
const (
	WholeNumber  QuestionType = "whole_number"
	YesNo        QuestionType = "yes_no"
	SingleChoice QuestionType = "single_choice"
	FreeText     QuestionType = "free_text"
)

// QuestionTypes lists the question types.
func QuestionTypes() []QuestionType {
	return []QuestionType{WholeNumber, YesNo, SingleChoice, FreeText}
}

// Limits of a definition.
const (
	MaxTitleLen        = 200
	MaxQuestions       = 50
	MaxQuestionTextLen = 500
	MaxOptions         = 50
	MaxOptionLen       = 200
	// MaxTextLength is the longest a free text answer may be allowed to
	// be, and the default bound of a free text question.
	MaxTextLength = 2000
	// MaxNumber bounds a whole number question's min and max, either way.
	MaxNumber = 1_000_000_000
	// DefaultMax is the max of a whole number question that names none;
	// the default min is 0.
	DefaultMax = 1_000_000
)

// Question is one question of a survey. Min and Max bound a whole number
// (both set once the definition is valid); Options are a single choice's
// answers; MaxLength bounds a free text answer, in characters. ID names
// the answer ("q1").
type Question struct {
	ID        string       `json:"id"`
	Text      string       `json:"text"`
	Type      QuestionType `json:"type"`
	Required  bool         `json:"required"`
	Min       *int64       `json:"min,omitempty"`
	Max       *int64       `json:"max,omitempty"`
	Options   []string     `json:"options,omitempty"`
	MaxLength int          `json:"max_length,omitempty"`
}

// Definition is a valid survey: what support defined. Empty
// OrganisationTypes or NHSRegions target all of them. The survey is open
// for answers from OpensAt until, not including, ClosesAt.
type Definition struct {
	Title             string     `json:"title"`
	Questions         []Question `json:"questions"`
	OrganisationTypes []string   `json:"organisation_types"`
	NHSRegions        []string   `json:"nhs_regions"`
	OpensAt           time.Time  `json:"opens_at"`
	ClosesAt          time.Time  `json:"closes_at"`
}

// Form is a definition as support sent it, before validation: the
// instants as RFC 3339 text, questions as given (an empty id becomes
// q<n>, n its place in the list; a whole number without min or max gets
// 0 and DefaultMax; free text without max_length gets MaxTextLength).
type Form struct {
	Title             string     `json:"title"`
	Questions         []Question `json:"questions"`
	OrganisationTypes []string   `json:"organisation_types"`
	NHSRegions        []string   `json:"nhs_regions"`
	OpensAt           string     `json:"opens_at"`
	ClosesAt          string     `json:"closes_at"`
}

// Form is the definition as a form, to amend it.
func (d Definition) Form() Form {
	return Form{Title: d.Title, Questions: slices.Clone(d.Questions), OrganisationTypes: slices.Clone(d.OrganisationTypes),
		NHSRegions: slices.Clone(d.NHSRegions), OpensAt: d.OpensAt.Format(time.RFC3339), ClosesAt: d.ClosesAt.Format(time.RFC3339)}
}

// questionID is a question's id: it names the answer in a response and
// the field of its errors ("answers.q1").
var questionID = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Messages of the validation of answers.
const (
	MsgRequired    = "Answer this question"
	MsgWholeNumber = "Enter a whole number"
	MsgYesNo       = "Answer Yes or No"
)

// Validate checks the form and returns every failure at once, each on its
// field ("questions[2].options[1]", say).
func (f Form) Validate() (Definition, error) {
	var v domain.ValidationError
	d := Definition{Title: domain.CleanText(f.Title)}
	switch n := utf8.RuneCountInString(d.Title); {
	case n == 0:
		v.Add("title", "required", "Enter a title")
	case n > MaxTitleLen:
		v.Add("title", "too_long", fmt.Sprintf("Enter a title of at most %d characters", MaxTitleLen))
	}
	switch n := len(f.Questions); {
	case n == 0:
		v.Add("questions", "required", "Add at least one question")
	case n > MaxQuestions:
		v.Add("questions", "too_many", fmt.Sprintf("A survey has at most %d questions", MaxQuestions))
	}
	seen := map[string]bool{}
	for i, q := range f.Questions {
		q = validateQuestion(&v, fmt.Sprintf("questions[%d].", i), i, q)
		if q.ID != "" && seen[q.ID] {
			v.Add(fmt.Sprintf("questions[%d].id", i), "duplicate", "Another question has this id")
		}
		seen[q.ID] = true
		d.Questions = append(d.Questions, q)
	}
	d.OrganisationTypes = targets(&v, "organisation_types", f.OrganisationTypes, organisationTypeCodes(), "Choose organisation types from the list")
	d.NHSRegions = targets(&v, "nhs_regions", f.NHSRegions, location.NHSRegions(), "Choose NHS regions from the list")
	d.OpensAt = instant(&v, "opens_at", f.OpensAt)
	d.ClosesAt = instant(&v, "closes_at", f.ClosesAt)
	if !d.OpensAt.IsZero() && !d.ClosesAt.IsZero() && !d.ClosesAt.After(d.OpensAt) {
		v.Add("closes_at", "not_after_opens_at", "The closing date must be after the opening date")
	}
	if err := v.Err(); err != nil {
		return Definition{}, err
	}
	return d, nil
}

func organisationTypeCodes() []string {
	var out []string
	for _, t := range location.OrganisationTypes() {
		out = append(out, string(t.Code))
	}
	return out
}

// targets checks a list of target codes against the allowed ones (any
// case), and returns them in their canonical spelling, sorted, without
// duplicates; never nil.
func targets(v *domain.ValidationError, field string, given, allowed []string, msg string) []string {
	out := []string{}
	for i, g := range given {
		k := domain.CleanText(g)
		j := slices.IndexFunc(allowed, func(a string) bool { return strings.EqualFold(a, k) })
		if j < 0 {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "invalid_choice", msg)
			continue
		}
		out = append(out, allowed[j])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// instant reads an RFC 3339 instant, to the second, in UTC.
func instant(v *domain.ValidationError, field, s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		v.Add(field, "required", "Enter a date and time")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		v.Add(field, "invalid_date", "Enter a date and time like 2025-03-01T09:00:00Z")
		return time.Time{}
	}
	return t.UTC().Truncate(time.Second)
}

func validateQuestion(v *domain.ValidationError, p string, i int, q Question) Question {
	out := Question{ID: strings.TrimSpace(q.ID), Text: domain.CleanText(q.Text), Type: q.Type, Required: q.Required}
	if out.ID == "" {
		out.ID = "q" + strconv.Itoa(i+1)
	}
	if !questionID.MatchString(out.ID) {
		v.Add(p+"id", "invalid_id", "Use 1 to 32 lower-case letters, digits or underscores, starting with a letter")
	}
	switch n := utf8.RuneCountInString(out.Text); {
	case n == 0:
		v.Add(p+"text", "required", "Enter the question")
	case n > MaxQuestionTextLen:
		v.Add(p+"text", "too_long", fmt.Sprintf("Enter a question of at most %d characters", MaxQuestionTextLen))
	}
	if !slices.Contains(QuestionTypes(), q.Type) {
		// Which settings belong is unknown until the type is.
		v.Add(p+"type", "invalid_choice", "Choose whole_number, yes_no, single_choice or free_text")
		return out
	}
	notAllowed := func(field string) {
		v.Add(p+field, "not_allowed", fmt.Sprintf("A %s question has no %s", q.Type, field))
	}
	if q.Type != WholeNumber {
		if q.Min != nil {
			notAllowed("min")
		}
		if q.Max != nil {
			notAllowed("max")
		}
	}
	if q.Type != SingleChoice && len(q.Options) > 0 {
		notAllowed("options")
	}
	if q.Type != FreeText && q.MaxLength != 0 {
		notAllowed("max_length")
	}
	switch q.Type {
	case WholeNumber:
		lo, hi := int64(0), int64(DefaultMax)
		if q.Min != nil {
			lo = *q.Min
		}
		if q.Max != nil {
			hi = *q.Max
		}
		bad := false
		for _, b := range []struct {
			field string
			n     int64
		}{{"min", lo}, {"max", hi}} {
			if b.n < -MaxNumber || b.n > MaxNumber {
				v.Add(p+b.field, "out_of_range", fmt.Sprintf("Enter a number from %d to %d", -MaxNumber, MaxNumber))
				bad = true
			}
		}
		if !bad && lo > hi {
			v.Add(p+"max", "below_min", "The maximum cannot be less than the minimum")
		}
		out.Min, out.Max = &lo, &hi
	case SingleChoice:
		switch n := len(q.Options); {
		case n < 2:
			v.Add(p+"options", "too_few", "Give at least 2 options")
		case n > MaxOptions:
			v.Add(p+"options", "too_many", fmt.Sprintf("Give at most %d options", MaxOptions))
		}
		for j, o := range q.Options {
			o = domain.CleanText(o)
			f := fmt.Sprintf("%soptions[%d]", p, j)
			switch n := utf8.RuneCountInString(o); {
			case n == 0:
				v.Add(f, "required", "Enter the option")
			case n > MaxOptionLen:
				v.Add(f, "too_long", fmt.Sprintf("Enter an option of at most %d characters", MaxOptionLen))
			case slices.ContainsFunc(out.Options, func(x string) bool { return strings.EqualFold(x, o) }):
				v.Add(f, "duplicate", "Another option reads the same")
			}
			out.Options = append(out.Options, o)
		}
	case FreeText:
		out.MaxLength = q.MaxLength
		if out.MaxLength == 0 {
			out.MaxLength = MaxTextLength
		}
		if out.MaxLength < 1 || out.MaxLength > MaxTextLength {
			v.Add(p+"max_length", "out_of_range", fmt.Sprintf("Allow from 1 to %d characters", MaxTextLength))
		}
	}
	return out
}

// Question returns a question of the definition.
func (d Definition) Question(id string) (Question, bool) {
	i := slices.IndexFunc(d.Questions, func(q Question) bool { return q.ID == id })
	if i < 0 {
		return Question{}, false
	}
	return d.Questions[i], true
}

// Targets reports whether the survey is for a location of an organisation
// of type orgType in NHS region nhsRegion. A location whose region is not
// known is not in any region a survey names.
func (d Definition) Targets(orgType, nhsRegion string) bool {
	return (len(d.OrganisationTypes) == 0 || slices.Contains(d.OrganisationTypes, orgType)) &&
		(len(d.NHSRegions) == 0 || slices.Contains(d.NHSRegions, nhsRegion))
}

// --- answers ------------------------------------------------------------------

// Answers are a response's answers by question id, each as canonical JSON:
// a number, true or false, or a string (an option or the text). An
// unanswered optional question has no entry.
type Answers map[string]json.RawMessage

// ValidateAnswers checks answers against the questions and returns every
// failure at once, on the fields "answers.<question id>", in question
// order, then the answers to no question.
func ValidateAnswers(questions []Question, given map[string]json.RawMessage) (Answers, error) {
	var v domain.ValidationError
	out := Answers{}
	for _, q := range questions {
		field := "answers." + q.ID
		raw, ok := given[q.ID]
		s, kind := scalar(raw)
		if !ok || kind == kindNull || (kind == kindString && strings.TrimSpace(s) == "") {
			if q.Required {
				v.Add(field, "required", MsgRequired)
			}
			continue
		}
		if kind == kindOther {
			v.Add(field, "invalid_type", "Give a number, true/false or text")
			continue
		}
		var ans any
		switch q.Type {
		case WholeNumber:
			n, ok := wholeNumber(s)
			switch {
			case !ok:
				v.Add(field, "whole_number", MsgWholeNumber)
			case n < *q.Min:
				v.Add(field, "too_small", fmt.Sprintf("Enter a number of at least %d", *q.Min))
			case n > *q.Max:
				v.Add(field, "too_large", fmt.Sprintf("Enter a number of at most %d", *q.Max))
			default:
				ans = n
			}
		case YesNo:
			if b, ok := parseYesNo(s); ok {
				ans = b
			} else {
				v.Add(field, "invalid_choice", MsgYesNo)
			}
		case SingleChoice:
			k := domain.CleanText(s)
			i := slices.IndexFunc(q.Options, func(o string) bool { return strings.EqualFold(o, k) })
			if kind != kindString || i < 0 {
				v.Add(field, "invalid_choice", "Choose one of: "+strings.Join(q.Options, ", "))
			} else {
				ans = q.Options[i]
			}
		case FreeText:
			t := domain.CleanMultiline(s)
			switch {
			case kind != kindString:
				v.Add(field, "invalid_type", "Enter text")
			case utf8.RuneCountInString(t) > q.MaxLength:
				v.Add(field, "too_long", fmt.Sprintf("Enter at most %s characters", thousands(q.MaxLength)))
			case t == "":
				if q.Required {
					v.Add(field, "required", MsgRequired)
				}
			default:
				ans = t
			}
		}
		if ans != nil {
			data, err := json.Marshal(ans)
			if err != nil {
				v.Add(field, "invalid_type", "Give a number, true/false or text")
				continue
			}
			out[q.ID] = data
		}
	}
	var unknown []string
	for k := range given {
		if !slices.ContainsFunc(questions, func(q Question) bool { return q.ID == k }) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		v.Add("answers."+k, "unknown_question", "The survey has no such question")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

type jsonKind int

const (
	kindNull jsonKind = iota
	kindString
	kindNumber
	kindBool
	kindOther
)

// scalar is the text of a JSON scalar and its kind: a string's content, a
// number's digits, true/false as "true"/"false". Missing is null.
func scalar(raw json.RawMessage) (string, jsonKind) {
	t := strings.TrimSpace(string(raw))
	switch {
	case t == "" || t == "null":
		return "", kindNull
	case t == "true" || t == "false":
		return t, kindBool
	case strings.HasPrefix(t, `"`):
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", kindOther
		}
		return s, kindString
	case (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) && json.Valid(raw):
		return t, kindNumber
	}
	return "", kindOther
}

// wholeNumber reads a whole number: "12", " 12 ", "12.0" and "1e1" are
// whole numbers; "1.5" and "twelve" are not.
func wholeNumber(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, false
	}
	// Far beyond any bound: kept only for the range check to refuse.
	const far = 1 << 62
	return int64(max(-far, min(far, f))), true
}

// parseYesNo reads yes/no, y/n, true/false in any case.
func parseYesNo(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true":
		return true, true
	case "no", "n", "false":
		return false, true
	}
	return false, false
}

// thousands writes n with thousands separators: 2000 as "2,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// --- events ---------------------------------------------------------------------

// SurveyDefined: support drafted a survey. It is not open until
// published.
type SurveyDefined struct {
	SurveyID   string     `json:"survey_id"`
	Definition Definition `json:"definition"`
}

// Change holds the parts of a definition an amendment changed; nil parts
// did not change.
type Change struct {
	Title             *string     `json:"title,omitempty"`
	Questions         *[]Question `json:"questions,omitempty"`
	OrganisationTypes *[]string   `json:"organisation_types,omitempty"`
	NHSRegions        *[]string   `json:"nhs_regions,omitempty"`
	OpensAt           *time.Time  `json:"opens_at,omitempty"`
	ClosesAt          *time.Time  `json:"closes_at,omitempty"`
}

// SurveyAmended: support changed a survey's definition. Fields names the
// parts that changed, as in Definition's JSON; Before and After hold
// their values.
type SurveyAmended struct {
	SurveyID string   `json:"survey_id"`
	Fields   []string `json:"fields"`
	Before   Change   `json:"before"`
	After    Change   `json:"after"`
}

// SurveyPublished: the survey is open to the locations it targets from
// its opening date until its closing date.
type SurveyPublished struct {
	SurveyID    string    `json:"survey_id"`
	PublishedAt time.Time `json:"published_at"`
}

// SurveyClosed: support closed the survey: it takes no more answers.
type SurveyClosed struct {
	SurveyID string    `json:"survey_id"`
	ClosedAt time.Time `json:"closed_at"`
}

// SurveyResponseSubmitted is one submission of a location's answers to a
// survey: all of them. SurveyVersion is the version of the survey they
// answer.
type SurveyResponseSubmitted struct {
	SurveyID      string    `json:"survey_id"`
	LocationID    string    `json:"location_id"`
	SurveyVersion int64     `json:"survey_version"`
	SubmittedAt   time.Time `json:"submitted_at"`
	Answers       Answers   `json:"answers"`
}

// Event type names.
const (
	TypeSurveyDefined           = "SurveyDefined"
	TypeSurveyAmended           = "SurveyAmended"
	TypeSurveyPublished         = "SurveyPublished"
	TypeSurveyClosed            = "SurveyClosed"
	TypeSurveyResponseSubmitted = "SurveyResponseSubmitted"
)

func (SurveyDefined) EventType() string           { return TypeSurveyDefined }
func (SurveyAmended) EventType() string           { return TypeSurveyAmended }
func (SurveyPublished) EventType() string         { return TypeSurveyPublished }
func (SurveyClosed) EventType() string            { return TypeSurveyClosed }
func (SurveyResponseSubmitted) EventType() string { return TypeSurveyResponseSubmitted }

// events is the registry of the survey and survey response streams' events.
var events = domain.NewRegistry(
	domain.EventOf[SurveyDefined](),
	domain.EventOf[SurveyAmended](),
	domain.EventOf[SurveyPublished](),
	domain.EventOf[SurveyClosed](),
	domain.EventOf[SurveyResponseSubmitted](),
)

// Events is the package's event registry: its type names and decoders.
func Events() domain.Registry { return events }

// Decode reads an event of a survey or survey response stream, by the
// rules of domain.Registry.Decode. Unknown types return (nil, nil).
func Decode(eventType string, data []byte) (domain.Event, error) {
	return events.Decode(eventType, data)
}

// --- state ------------------------------------------------------------------------

// Status is where a survey is in its life.
type Status string

// The statuses.
const (
	Draft     Status = "draft"
	Published Status = "published"
	Closed    Status = "closed"
)

// Survey is the state of a survey stream.
type Survey struct {
	ID string
	Definition
	Status      Status
	PublishedAt time.Time
	ClosedAt    time.Time
	Version     int64
}

// Exists reports whether the survey was defined.
func (s Survey) Exists() bool { return s.Version > 0 }

// OpenAt reports whether the survey takes answers at now: published, not
// closed, and now in [OpensAt, ClosesAt).
func (s Survey) OpenAt(now time.Time) bool {
	return s.Status == Published && !now.Before(s.OpensAt) && now.Before(s.ClosesAt)
}

// Apply sets the changed parts of a definition.
func (c Change) Apply(d Definition) Definition {
	if c.Title != nil {
		d.Title = *c.Title
	}
	if c.Questions != nil {
		d.Questions = *c.Questions
	}
	if c.OrganisationTypes != nil {
		d.OrganisationTypes = *c.OrganisationTypes
	}
	if c.NHSRegions != nil {
		d.NHSRegions = *c.NHSRegions
	}
	if c.OpensAt != nil {
		d.OpensAt = *c.OpensAt
	}
	if c.ClosesAt != nil {
		d.ClosesAt = *c.ClosesAt
	}
	return d
}

// Evolve applies an event of a survey stream.
func Evolve(s Survey, ev any) Survey {
	switch e := ev.(type) {
	case SurveyDefined:
		s.ID, s.Definition, s.Status = e.SurveyID, e.Definition, Draft
	case SurveyAmended:
		s.Definition = e.After.Apply(s.Definition)
	case SurveyPublished:
		s.Status, s.PublishedAt = Published, e.PublishedAt
	case SurveyClosed:
		s.Status, s.ClosedAt = Closed, e.ClosedAt
	}
	s.Version++
	return s
}

// Response is the state of a location's response stream: the latest
// submission and how many there were.
type Response struct {
	Last        *SurveyResponseSubmitted
	Submissions int
	Version     int64
}

// EvolveResponse applies an event of a response stream.
func EvolveResponse(r Response, ev any) Response {
	if e, ok := ev.(SurveyResponseSubmitted); ok {
		r.Last = &e
		r.Submissions++
	}
	r.Version++
	return r
}

// --- decisions ----------------------------------------------------------------------

// Errors of the survey's rules.
var (
	ErrClosed = &domain.RuleError{Code: "survey_closed",
		Message: "This survey is closed: it cannot be changed or published"}
	ErrAlreadyPublished = &domain.RuleError{Code: "survey_published",
		Message: "This survey is published already"}
	ErrClosesAtPassed = &domain.RuleError{Code: "closes_at_passed",
		Message: "The closing date has passed: amend it before publishing"}
	ErrNotOpen = &domain.RuleError{Code: "survey_not_open",
		Message: "This survey is not open for answers"}
	ErrNotTargeted = &domain.RuleError{Code: "survey_not_for_location",
		Message: "This survey is not for this location's type of organisation or NHS region"}
)

// Define drafts a new survey.
type Define struct {
	SurveyID string
	Form     Form
}

// DecideDefine validates the definition; a survey that exists already is a
// conflict.
func DecideDefine(s Survey, c Define) (SurveyDefined, error) {
	d, err := c.Form.Validate()
	if err != nil {
		return SurveyDefined{}, err
	}
	if s.Exists() {
		return SurveyDefined{}, &domain.ConflictError{Code: "survey_exists", Message: "survey " + c.SurveyID + " exists already"}
	}
	return SurveyDefined{SurveyID: c.SurveyID, Definition: d}, nil
}

// Amend replaces a survey's definition, decided on the version support
// last saw.
type Amend struct {
	SurveyID        string
	ExpectedVersion int64
	Form            Form
	Now             time.Time
}

// staleVersion is an amendment of a version that is no longer current.
func staleVersion(expected, current int64) error {
	return &domain.ConflictError{Code: "version_conflict", Message: fmt.Sprintf(
		"the survey changed since you read it (you amended version %d; it is now at version %d): reload it and amend again",
		expected, current)}
}

// DecideAmend returns SurveyAmended with the parts that changed, or no
// event when nothing did. A closed survey cannot be amended. Once
// published, a survey keeps its questions (by id and type), since
// locations may have answered them, and its closing date must stay in the
// future.
func DecideAmend(s Survey, c Amend) ([]any, error) {
	if !s.Exists() {
		return nil, domain.ErrNotFound
	}
	d, err := c.Form.Validate()
	if err != nil {
		return nil, err
	}
	if s.Status == Closed {
		return nil, ErrClosed
	}
	if c.ExpectedVersion != s.Version {
		return nil, staleVersion(c.ExpectedVersion, s.Version)
	}
	if s.Status == Published {
		var v domain.ValidationError
		for _, old := range s.Questions {
			i := slices.IndexFunc(d.Questions, func(q Question) bool { return q.ID == old.ID })
			switch {
			case i < 0:
				v.Add("questions", "question_removed", fmt.Sprintf("Question %s is published: it cannot be removed", old.ID))
			case d.Questions[i].Type != old.Type:
				v.Add(fmt.Sprintf("questions[%d].type", i), "type_locked", "The question is published: its type cannot change")
			}
		}
		if !d.ClosesAt.After(c.Now) {
			v.Add("closes_at", "in_past", "The survey is published: its closing date must be in the future")
		}
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	ev := SurveyAmended{SurveyID: s.ID}
	if d.Title != s.Title {
		ev.Fields = append(ev.Fields, "title")
		ev.Before.Title, ev.After.Title = &s.Title, &d.Title
	}
	if !questionsEqual(d.Questions, s.Questions) {
		before := slices.Clone(s.Questions)
		ev.Fields = append(ev.Fields, "questions")
		ev.Before.Questions, ev.After.Questions = &before, &d.Questions
	}
	if !slices.Equal(d.OrganisationTypes, s.OrganisationTypes) {
		before := slices.Clone(s.OrganisationTypes)
		ev.Fields = append(ev.Fields, "organisation_types")
		ev.Before.OrganisationTypes, ev.After.OrganisationTypes = &before, &d.OrganisationTypes
	}
	if !slices.Equal(d.NHSRegions, s.NHSRegions) {
		before := slices.Clone(s.NHSRegions)
		ev.Fields = append(ev.Fields, "nhs_regions")
		ev.Before.NHSRegions, ev.After.NHSRegions = &before, &d.NHSRegions
	}
	if !d.OpensAt.Equal(s.OpensAt) {
		before := s.OpensAt
		ev.Fields = append(ev.Fields, "opens_at")
		ev.Before.OpensAt, ev.After.OpensAt = &before, &d.OpensAt
	}
	if !d.ClosesAt.Equal(s.ClosesAt) {
		before := s.ClosesAt
		ev.Fields = append(ev.Fields, "closes_at")
		ev.Before.ClosesAt, ev.After.ClosesAt = &before, &d.ClosesAt
	}
	if len(ev.Fields) == 0 {
		return nil, nil
	}
	return []any{ev}, nil
}

func questionsEqual(a, b []Question) bool {
	return slices.EqualFunc(a, b, func(x, y Question) bool {
		return x.ID == y.ID && x.Text == y.Text && x.Type == y.Type && x.Required == y.Required &&
			equalPtr(x.Min, y.Min) && equalPtr(x.Max, y.Max) && slices.Equal(x.Options, y.Options) && x.MaxLength == y.MaxLength
	})
}

func equalPtr(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// DecidePublish publishes a draft whose closing date is still to come.
func DecidePublish(s Survey, now time.Time) (SurveyPublished, error) {
	switch {
	case !s.Exists():
		return SurveyPublished{}, domain.ErrNotFound
	case s.Status == Closed:
		return SurveyPublished{}, ErrClosed
	case s.Status == Published:
		return SurveyPublished{}, ErrAlreadyPublished
	case !s.ClosesAt.After(now):
		return SurveyPublished{}, ErrClosesAtPassed
	}
	return SurveyPublished{SurveyID: s.ID, PublishedAt: now.UTC()}, nil
}

// DecideClose closes a survey, draft or published, at once.
func DecideClose(s Survey, now time.Time) (SurveyClosed, error) {
	switch {
	case !s.Exists():
		return SurveyClosed{}, domain.ErrNotFound
	case s.Status == Closed:
		return SurveyClosed{}, &domain.RuleError{Code: "survey_closed", Message: "This survey is closed already"}
	}
	return SurveyClosed{SurveyID: s.ID, ClosedAt: now.UTC()}, nil
}

// Submit is a location's answers to a survey. OrganisationType and
// NHSRegion are the location's, for the survey's targets.
type Submit struct {
	SurveyID         string
	LocationID       string
	OrganisationType string
	NHSRegion        string
	Answers          map[string]json.RawMessage
	Now              time.Time
}

// DecideSubmit checks that the survey is published (a draft is not found),
// targets the location and is open now, and validates the answers. A
// location may submit again while the survey is open; the latest
// submission counts.
func DecideSubmit(s Survey, c Submit) (SurveyResponseSubmitted, error) {
	switch {
	case !s.Exists() || s.Status == Draft:
		return SurveyResponseSubmitted{}, domain.ErrNotFound
	case !s.Targets(c.OrganisationType, c.NHSRegion):
		return SurveyResponseSubmitted{}, ErrNotTargeted
	case !s.OpenAt(c.Now):
		return SurveyResponseSubmitted{}, ErrNotOpen
	}
	a, err := ValidateAnswers(s.Questions, c.Answers)
	if err != nil {
		return SurveyResponseSubmitted{}, err
	}
	return SurveyResponseSubmitted{SurveyID: s.ID, LocationID: c.LocationID, SurveyVersion: s.Version,
		SubmittedAt: c.Now.UTC(), Answers: a}, nil
}
