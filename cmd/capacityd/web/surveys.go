package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/queries"
)

// Surveys (the guide's "Step 2: Surveys"): the surveys open for a
// location, and a page for each, built from its questions. Who may see
// and answer is the query's and the command's rule (the location's users,
// its organisation's Approvers, support); the answers are checked by
// survey.ValidateAnswers through the command, every error at once. The
// page shows the location's latest answers when it is visited again.

// surveysPath is a location's Surveys page.
func surveysPath(locationID string) string {
	return "/locations/" + url.PathEscape(locationID) + "/surveys"
}

// surveyPath is a survey's page for a location.
func surveyPath(locationID, surveyID string) string {
	return surveysPath(locationID) + "/" + url.PathEscape(surveyID)
}

// openSurveys reads a location's open surveys, waiting for the position
// after a submission (read-your-writes) but showing the page as it is when
// the views are slower than that.
func (h *Handler) openSurveys(r *http.Request, s *session) (queries.LocationSurveys, error) {
	pos, _ := strconv.ParseInt(r.URL.Query().Get("position"), 10, 64)
	v := httpapi.Viewer(s.actor)
	list, err := h.queries.OpenSurveys(r.Context(), v, r.PathValue("id"), h.commands.Now(), max(pos, 0))
	if errors.Is(err, projections.ErrNotCaughtUp) {
		list, err = h.queries.OpenSurveys(r.Context(), v, r.PathValue("id"), h.commands.Now(), 0)
	}
	return list, err
}

func (h *Handler) showSurveys(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := h.openSurveys(r, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items := make([]surveyItem, len(list.Surveys))
	for i, o := range list.Surveys {
		items[i] = surveyItem{Title: o.Title, Href: surveyPath(list.LocationID, o.SurveyID), ClosesAt: surveyDate(o.ClosesAt)}
		if o.Response != nil {
			items[i].AnsweredAt = surveyDate(o.Response.SubmittedAt)
		}
	}
	h.render(w, r, http.StatusOK, "surveys", view{Title: "Surveys for " + list.LocationName, User: s.user(), CSRF: s.csrf(),
		Data: map[string]any{"Location": list, "Surveys": items, "Dashboard": "/locations/" + url.PathEscape(list.LocationID),
			"Pages": pagesOf(list.LocationID, list.LocationName, surveysPath(list.LocationID))}})
}

// surveyQuestion is a question as the page shows it.
type surveyQuestion struct {
	Field    string // the input's name and id: "q-<question id>"
	Text     string
	Type     survey.QuestionType
	Required bool
	Hint     string
	Options  []surveyOption
	Value    string
	Errors   []string
	// MaxLength bounds a free text answer.
	MaxLength int
}

// surveyOption is a radio of a yes/no or single choice question.
type surveyOption struct {
	ID, Value, Label string
}

// questionField is the form field of a question; answerField the
// command's name of its errors.
func questionField(id string) string { return "q-" + id }
func answerField(id string) string   { return "answers." + id }

// answerText is a stored answer as the form shows it: a number's digits,
// yes or no, a choice's or a text's words.
func answerText(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	switch t := v.(type) {
	case bool:
		if t {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case string:
		return t
	}
	return ""
}

func (h *Handler) showSurvey(w http.ResponseWriter, r *http.Request, s *session) {
	notice := ""
	if r.URL.Query().Get("done") == "saved" {
		notice = "Your answers have been saved."
	}
	h.renderSurvey(w, r, http.StatusOK, s, nil, notice)
}

// renderSurvey shows a survey's page: the answers typed and their errors
// when f is given, otherwise the location's latest answers.
func (h *Handler) renderSurvey(w http.ResponseWriter, r *http.Request, status int, s *session, f *form, notice string) {
	list, err := h.openSurveys(r, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var open *queries.OpenSurvey
	for i := range list.Surveys {
		if list.Surveys[i].SurveyID == r.PathValue("survey") {
			open = &list.Surveys[i]
		}
	}
	if open == nil {
		// Unknown, not for this location, or not open (any more).
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	if f == nil {
		f = newForm()
		if open.Response != nil {
			for id, raw := range open.Response.Answers {
				f.Values[questionField(id)] = answerText(raw)
			}
		}
	}
	questions := make([]surveyQuestion, len(open.Questions))
	for i, q := range open.Questions {
		field := questionField(q.ID)
		sq := surveyQuestion{Field: field, Text: q.Text, Type: q.Type, Required: q.Required, Value: f.Value(field),
			Errors: f.ErrorsFor(field), MaxLength: q.MaxLength}
		switch q.Type {
		case survey.WholeNumber:
			if q.Min != nil && q.Max != nil {
				sq.Hint = fmt.Sprintf("A whole number from %d to %d.", *q.Min, *q.Max)
			}
		case survey.YesNo:
			sq.Options = []surveyOption{{ID: field, Value: "yes", Label: "Yes"}, {ID: field + "-no", Value: "no", Label: "No"}}
		case survey.SingleChoice:
			for j, o := range q.Options {
				id := field
				if j > 0 {
					id = fmt.Sprintf("%s-%d", field, j+1)
				}
				sq.Options = append(sq.Options, surveyOption{ID: id, Value: o, Label: o})
			}
			// A choice answered as "Yes" matches its option "yes" as the
			// command did: show it chosen.
			for _, o := range sq.Options {
				if strings.EqualFold(o.Value, sq.Value) {
					sq.Value = o.Value
				}
			}
		case survey.FreeText:
			sq.Hint = fmt.Sprintf("At most %s characters.", thousands(q.MaxLength))
		}
		questions[i] = sq
	}
	answered := ""
	if open.Response != nil {
		answered = surveyDate(open.Response.SubmittedAt)
	}
	h.render(w, r, status, "survey", view{Title: open.Title, User: s.user(), CSRF: s.csrf(), Form: f, Notice: notice,
		Data: map[string]any{
			"Location": list, "Survey": open, "Questions": questions, "ClosesAt": surveyDate(open.ClosesAt), "AnsweredAt": answered,
			"Action": surveyPath(list.LocationID, open.SurveyID), "Back": surveysPath(list.LocationID),
		}})
}

func (h *Handler) submitSurvey(w http.ResponseWriter, r *http.Request, s *session) {
	locationID, surveyID := r.PathValue("id"), r.PathValue("survey")
	f := newForm()
	answers := map[string]json.RawMessage{}
	rename := map[string]string{}
	for name, values := range r.PostForm {
		id, ok := strings.CutPrefix(name, "q-")
		if !ok || len(values) == 0 {
			continue
		}
		f.Values[name] = values[0]
		rename[answerField(id)] = name
		if strings.TrimSpace(values[0]) == "" {
			continue
		}
		raw, err := json.Marshal(values[0])
		if err != nil {
			h.errorPage(w, r, http.StatusBadRequest)
			return
		}
		answers[id] = raw
	}
	res, err := h.commands.SubmitSurveyResponse(r.Context(), s.actor, surveyID, locationID, answers)
	var invalid *domain.ValidationError
	if errors.As(err, &invalid) {
		// A question not answered at all has no field in the post
		// (radios): its errors take the question's field too.
		for _, fe := range invalid.Fields {
			if id, ok := strings.CutPrefix(fe.Field, "answers."); ok {
				rename[fe.Field] = questionField(id)
			}
		}
		f.addValidation(err, rename)
		h.renderSurvey(w, r, http.StatusUnprocessableEntity, s, f, "")
		return
	}
	var rule *domain.RuleError
	if errors.As(err, &rule) && (rule.Code == survey.ErrNotOpen.Code || rule.Code == survey.ErrNotTargeted.Code) {
		// Closed since the page was loaded: the list says what is open.
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, surveyPath(locationID, surveyID)+"?done=saved&position="+strconv.FormatInt(res.Position, 10))
}

// surveyDate is how the pages write a survey's instants, in UK time.
func surveyDate(t time.Time) string {
	return t.In(dailyupdate.London).Format("2 January 2006 at 15:04")
}

// surveyItem is a survey in a location's list.
type surveyItem struct {
	Title, Href, ClosesAt, AnsweredAt string
}

// locationPages is the list of a location's pages at the top of each.
type locationPages struct {
	Name  string
	Links []locationPageLink
}

type locationPageLink struct {
	Label, Href string
	Current     bool
}

// pagesOf lists a location's pages, current the one shown.
func pagesOf(locationID, name, current string) locationPages {
	base := "/locations/" + url.PathEscape(locationID)
	p := locationPages{Name: name}
	for _, l := range []locationPageLink{
		{Label: "Provider details", Href: base + "/edit"},
		{Label: "Surveys", Href: base + "/surveys"},
		{Label: "Care quality", Href: base + "/care-quality"},
		{Label: "COVID-19 Update (Daily)", Href: base + "/daily-update"},
	} {
		l.Current = l.Href == current
		p.Links = append(p.Links, l)
	}
	return p
}
