// Package dailyupdate is the daily COVID-19 update of a location (the
// guide's "Step 4: Covid-19 Survey Update (Daily)"): its questions, the
// rules an answer must keep, and the stream of a location's submissions.
// Pure Go: no I/O.
//
// Each location has one stream, dailyupdate-<location id>, of
// DailyUpdateSubmitted events. The calendar day of a submission is the day
// in Europe/London when it was made; a second submission on the same day
// supersedes the first for the views, and both stay in the stream.
package dailyupdate

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London without the host's zoneinfo
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain"
)

// Stream is the stream id of a location's daily updates.
func Stream(locationID string) string { return "dailyupdate-" + locationID }

// London is the time zone of the daily update's calendar day.
var London = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return l
}

// DayLayout is the form of a Day: 2006-01-02.
const DayLayout = time.DateOnly

// Day is the calendar day of t in Europe/London, as "2006-01-02".
func Day(t time.Time) string { return t.In(London).Format(DayLayout) }

// StartOfDay is the first instant of day (a Day) in Europe/London.
func StartOfDay(day string) (time.Time, error) {
	return time.ParseInLocation(DayLayout, day, London)
}

// PPE is the stock of personal protective equipment.
type PPE string

// The PPE answers, in the form's order.
const (
	PPEMoreThanWeek   PPE = "more_than_week"
	PPEThreeDaysWeek  PPE = "three_days_to_week"
	PPETwoDaysOrLess  PPE = "two_days_or_less"
	maxCount              = 1_000_000
	MaxOtherIssuesLen     = 2000
)

// PPEChoices lists the PPE answers with the form's labels.
func PPEChoices() []struct {
	Code  PPE    `json:"code"`
	Label string `json:"label"`
} {
	return []struct {
		Code  PPE    `json:"code"`
		Label string `json:"label"`
	}{
		{PPEMoreThanWeek, "We have enough PPE to last more than a week"},
		{PPEThreeDaysWeek, "We have enough PPE to last between 3 days and a week"},
		{PPETwoDaysOrLess, "We have enough PPE to last 2 days or less"},
	}
}

// ParsePPE reads a PPE answer: its code, its label, or the short labels of
// the bulk template ("More than a week", "Between 3 days and a week",
// "2 days or less"), in any case.
func ParsePPE(s string) (PPE, bool) {
	k := strings.ToLower(strings.Join(strings.Fields(s), " "))
	for _, c := range PPEChoices() {
		if k == string(c.Code) || k == strings.ToLower(c.Label) || k == strings.ToLower(ShortPPELabel(c.Code)) {
			return c.Code, true
		}
	}
	return "", false
}

// ShortPPELabel is the label of a PPE answer in the bulk template's drop-down.
func ShortPPELabel(p PPE) string {
	switch p {
	case PPEMoreThanWeek:
		return "More than a week"
	case PPEThreeDaysWeek:
		return "Between 3 days and a week"
	case PPETwoDaysOrLess:
		return "2 days or less"
	}
	return ""
}

// Answers are the answers of one daily update, all valid.
type Answers struct {
	ServiceUsers      int    `json:"service_users"`
	Confirmed         int    `json:"confirmed"`
	Suspected         int    `json:"suspected"`
	CareStaff         int    `json:"care_staff"`
	StaffNotWorking   int    `json:"staff_not_working"`
	PPE               PPE    `json:"ppe"`
	CanProvideExtra   bool   `json:"can_provide_extra_hours"`
	ExtraHoursPerWeek int    `json:"extra_hours_per_week"`
	OtherIssues       string `json:"other_issues"`
}

// Field names of the answers: the names of the JSON form and of the field
// errors.
const (
	FieldServiceUsers    = "service_users"
	FieldConfirmed       = "confirmed"
	FieldSuspected       = "suspected"
	FieldCareStaff       = "care_staff"
	FieldStaffNotWorking = "staff_not_working"
	FieldPPE             = "ppe"
	FieldCanProvideExtra = "can_provide_extra_hours"
	FieldExtraHours      = "extra_hours_per_week"
	FieldOtherIssues     = "other_issues"
)

// Fields lists the answers' fields in the form's order.
func Fields() []string {
	return []string{FieldServiceUsers, FieldConfirmed, FieldSuspected, FieldCareStaff, FieldStaffNotWorking,
		FieldPPE, FieldCanProvideExtra, FieldExtraHours, FieldOtherIssues}
}

// Questions maps each field onto its question, as the form asks it.
var Questions = map[string]string{
	FieldServiceUsers:    "How many people are using your service today?",
	FieldConfirmed:       "At the moment, how many people using your service have a confirmed diagnosis of coronavirus?",
	FieldSuspected:       "At the moment, how many people using your service have a suspected case of coronavirus?",
	FieldCareStaff:       "How many staff in your organisation deliver care to people?",
	FieldStaffNotWorking: "How many staff who deliver care to people who are not working because of coronavirus?",
	FieldPPE:             "What is your current stock of personal protective equipment (PPE)?",
	FieldCanProvideExtra: "Can you provide any extra care hours?",
	FieldExtraHours:      "How many extra care hours do you think you can provide per week?",
	FieldOtherIssues:     "If your organisation is experiencing any other coronavirus related issues please use this space to tell us (eg: needs you cannot meet, shortages, etc.)",
}

// Hints are the guide's notes under some questions: who the counts
// include.
var Hints = map[string]string{
	FieldCareStaff:       "Includes staff who are currently unable to work because they have coronavirus, are self-isolating, or have care commitments",
	FieldStaffNotWorking: "Includes staff who are self-isolating or have care commitments",
}

// The guide's wording of the cross-field rules.
const (
	MsgUsersWithCovid = "The total sum of service users with coronavirus or suspected with coronavirus cannot be more than the total number of people using the service."
	MsgStaffAbsent    = "The number of staff who are unable to deliver care due to coronavirus cannot be more than the number of staff delivering care in the organisation"
	MsgNoExtraHours   = "If unable to provide additional hours place 0 in the box"
	MsgExtraHours     = "If able to provide additional hours enter how many per week, more than 0"
	MsgRequired       = "Answer this question"
	MsgWholeNumber    = "Enter a whole number, 0 or more"
	MsgTooLarge       = "Enter a number of at most 1,000,000"
	MsgPPE            = "Choose one of the PPE stock levels"
	MsgYesNo          = "Answer Yes or No"
	MsgOtherIssues    = "Enter at most 2,000 characters"
)

// Form is a daily update as submitted, before validation: every answer as
// the text it was given in (a form field, a JSON value, a spreadsheet
// cell). An empty string is an unanswered question.
type Form struct {
	ServiceUsers, Confirmed, Suspected, CareStaff, StaffNotWorking string
	PPE, CanProvideExtra, ExtraHoursPerWeek, OtherIssues           string
}

// Set sets a field of the form by its name; it reports false for an
// unknown name.
func (f *Form) Set(field, value string) bool {
	p := f.field(field)
	if p == nil {
		return false
	}
	*p = value
	return true
}

func (f *Form) field(name string) *string {
	switch name {
	case FieldServiceUsers:
		return &f.ServiceUsers
	case FieldConfirmed:
		return &f.Confirmed
	case FieldSuspected:
		return &f.Suspected
	case FieldCareStaff:
		return &f.CareStaff
	case FieldStaffNotWorking:
		return &f.StaffNotWorking
	case FieldPPE:
		return &f.PPE
	case FieldCanProvideExtra:
		return &f.CanProvideExtra
	case FieldExtraHours:
		return &f.ExtraHoursPerWeek
	case FieldOtherIssues:
		return &f.OtherIssues
	}
	return nil
}

// FormFromJSON reads a JSON object of answers: numbers or strings for the
// counts, true/false or "yes"/"no" for the yes/no question. Unknown keys
// are errors, so that a typo is not an unanswered question.
func FormFromJSON(obj map[string]json.RawMessage) (Form, error) {
	var (
		f Form
		v domain.ValidationError
	)
	for k, raw := range obj {
		p := f.field(k)
		if p == nil {
			v.Add(k, "unknown_field", "No such question")
			continue
		}
		s, ok := jsonText(raw)
		if !ok {
			v.Add(k, "invalid_type", "Give a number, true/false or text")
			continue
		}
		*p = s
	}
	return f, v.Err()
}

// jsonText is the text of a JSON scalar: a string's content, a number's
// digits, true/false as "yes"/"no", null as "".
func jsonText(raw json.RawMessage) (string, bool) {
	t := strings.TrimSpace(string(raw))
	switch {
	case t == "null":
		return "", true
	case t == "true":
		return "yes", true
	case t == "false":
		return "no", true
	case strings.HasPrefix(t, `"`):
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case len(t) > 0 && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')):
		return t, json.Valid(raw)
	}
	return "", false
}

// parseCount reads a whole number >= 0. Text such as "12", " 12 ", "12.0"
// and "1e1" is a whole number; "1.5", "-1", "twelve" are not.
func parseCount(v *domain.ValidationError, field, s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		v.Add(field, "required", MsgRequired)
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return checkRange(v, field, float64(n))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		v.Add(field, "whole_number", MsgWholeNumber)
		return 0
	}
	return checkRange(v, field, f)
}

func checkRange(v *domain.ValidationError, field string, f float64) int {
	switch {
	case f < 0:
		v.Add(field, "whole_number", MsgWholeNumber)
		return 0
	case f > maxCount:
		v.Add(field, "too_large", MsgTooLarge)
		return 0
	}
	return int(f)
}

// ParseYesNo reads a yes/no answer: yes/no, y/n, true/false, 1/0, in any
// case.
func ParseYesNo(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true", "1":
		return true, true
	case "no", "n", "false", "0":
		return false, true
	}
	return false, false
}

// Validate checks the form with every rule and returns all failures at
// once, each on its field, in the guide's wording.
func (f Form) Validate() (Answers, error) {
	var (
		a Answers
		v domain.ValidationError
	)
	a.ServiceUsers = parseCount(&v, FieldServiceUsers, f.ServiceUsers)
	a.Confirmed = parseCount(&v, FieldConfirmed, f.Confirmed)
	a.Suspected = parseCount(&v, FieldSuspected, f.Suspected)
	a.CareStaff = parseCount(&v, FieldCareStaff, f.CareStaff)
	a.StaffNotWorking = parseCount(&v, FieldStaffNotWorking, f.StaffNotWorking)
	usersOK := !v.Has(FieldServiceUsers) && !v.Has(FieldConfirmed) && !v.Has(FieldSuspected)
	if usersOK && a.Confirmed+a.Suspected > a.ServiceUsers {
		v.Add(FieldConfirmed, "users_with_covid_exceed_users", MsgUsersWithCovid)
		v.Add(FieldSuspected, "users_with_covid_exceed_users", MsgUsersWithCovid)
	}
	staffOK := !v.Has(FieldCareStaff) && !v.Has(FieldStaffNotWorking)
	if staffOK && a.StaffNotWorking > a.CareStaff {
		v.Add(FieldStaffNotWorking, "staff_absent_exceed_staff", MsgStaffAbsent)
	}

	if strings.TrimSpace(f.PPE) == "" {
		v.Add(FieldPPE, "required", MsgRequired)
	} else if p, ok := ParsePPE(f.PPE); ok {
		a.PPE = p
	} else {
		v.Add(FieldPPE, "invalid_choice", MsgPPE)
	}

	extraKnown := false
	if strings.TrimSpace(f.CanProvideExtra) == "" {
		v.Add(FieldCanProvideExtra, "required", MsgRequired)
	} else if b, ok := ParseYesNo(f.CanProvideExtra); ok {
		a.CanProvideExtra, extraKnown = b, true
	} else {
		v.Add(FieldCanProvideExtra, "invalid_choice", MsgYesNo)
	}
	before := len(v.Fields)
	a.ExtraHoursPerWeek = parseCount(&v, FieldExtraHours, f.ExtraHoursPerWeek)
	if extraKnown && len(v.Fields) == before {
		switch {
		case !a.CanProvideExtra && a.ExtraHoursPerWeek != 0:
			v.Add(FieldExtraHours, "extra_hours_not_zero", MsgNoExtraHours)
		case a.CanProvideExtra && a.ExtraHoursPerWeek == 0:
			v.Add(FieldExtraHours, "extra_hours_zero", MsgExtraHours)
		}
	}

	a.OtherIssues = domain.CleanMultiline(f.OtherIssues)
	if utf8.RuneCountInString(a.OtherIssues) > MaxOtherIssuesLen {
		v.Add(FieldOtherIssues, "too_long", MsgOtherIssues)
	}
	if err := v.Err(); err != nil {
		return Answers{}, err
	}
	return a, nil
}

// Form is the answers as a form, for a "no change" copy or a template row.
func (a Answers) Form() Form {
	yn := "no"
	if a.CanProvideExtra {
		yn = "yes"
	}
	return Form{
		ServiceUsers: strconv.Itoa(a.ServiceUsers), Confirmed: strconv.Itoa(a.Confirmed), Suspected: strconv.Itoa(a.Suspected),
		CareStaff: strconv.Itoa(a.CareStaff), StaffNotWorking: strconv.Itoa(a.StaffNotWorking), PPE: string(a.PPE),
		CanProvideExtra: yn, ExtraHoursPerWeek: strconv.Itoa(a.ExtraHoursPerWeek), OtherIssues: a.OtherIssues,
	}
}

// DailyUpdateSubmitted is one submission of a location's daily update: the
// full answers (for a "no change" submission, the previous answers
// copied). UploadID names the bulk upload it came in, if any.
type DailyUpdateSubmitted struct {
	LocationID string `json:"location_id"`
	// Day is the calendar day in Europe/London it is the update of.
	Day         string    `json:"day"`
	SubmittedAt time.Time `json:"submitted_at"`
	Answers     Answers   `json:"answers"`
	// NoChange marks a "no change since my last update" submission.
	NoChange bool   `json:"no_change,omitempty"`
	UploadID string `json:"upload_id,omitempty"`
}

// TypeDailyUpdateSubmitted is the event type name.
const TypeDailyUpdateSubmitted = "DailyUpdateSubmitted"

func (DailyUpdateSubmitted) EventType() string { return TypeDailyUpdateSubmitted }

// events is the registry of the dailyupdate streams' events.
var events = domain.NewRegistry(domain.EventOf[DailyUpdateSubmitted]())

// Events is the package's event registry: its type names and decoders.
func Events() domain.Registry { return events }

// Decode reads an event of a dailyupdate stream, by the rules of
// domain.Registry.Decode. Unknown types return (nil, nil).
func Decode(eventType string, data []byte) (domain.Event, error) {
	return events.Decode(eventType, data)
}

// State is a location's daily updates folded: the latest submission.
type State struct {
	Last    *DailyUpdateSubmitted
	Version int64
}

// Evolve applies an event.
func Evolve(s State, ev any) State {
	if e, ok := ev.(DailyUpdateSubmitted); ok {
		s.Last = &e
	}
	s.Version++
	return s
}

// Submit is the command of a daily update: the form, or NoChange to copy
// the last answers.
type Submit struct {
	LocationID string
	Form       Form
	NoChange   bool
	UploadID   string
	Now        time.Time
}

// ErrNothingToCopy is a "no change" submission of a location that never
// submitted.
var ErrNothingToCopy = &domain.RuleError{Code: "no_previous_update",
	Message: "There is no earlier update to copy: answer the questions"}

// Decide validates a submission against the stream's state. A "no change"
// submission must not carry answers of its own.
func Decide(s State, c Submit) (DailyUpdateSubmitted, error) {
	ev := DailyUpdateSubmitted{LocationID: c.LocationID, Day: Day(c.Now), SubmittedAt: c.Now.UTC(), UploadID: c.UploadID}
	if c.NoChange {
		if c.Form != (Form{}) {
			return ev, domain.Invalid("no_change", "answers_with_no_change", "A no change update copies the last answers: send either no_change or answers")
		}
		if s.Last == nil {
			return ev, ErrNothingToCopy
		}
		ev.Answers, ev.NoChange = s.Last.Answers, true
		return ev, nil
	}
	a, err := c.Form.Validate()
	if err != nil {
		return ev, err
	}
	ev.Answers = a
	return ev, nil
}
