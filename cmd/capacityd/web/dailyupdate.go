package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
)

// COVID-19 Update (Daily) (/locations/{id}/daily-update), the guide's
// "Step 4: Covid-19 Survey Update (Daily)": its questions in its order and
// wording, all from domain/dailyupdate, as are the rules and their
// messages (commands.SubmitDailyUpdate decides, as for the API's POST
// /locations/{id}/daily-update). Save leads to the location's dashboard,
// which waits for its views up to the update and confirms it.

// dailyUpdateErrorField is where an error of the whole update (a
// deregistered location, nothing to copy) is shown.
const dailyUpdateErrorField = "daily-update"

// duQuestion is one question of the page, with what was typed and its
// errors.
type duQuestion struct {
	Field, Question, Hint, Value string
	Errors                       []string
}

// duChoice is a radio of a question.
type duChoice struct {
	ID, Value, Label string
	Checked          bool
}

// duAnswer is an answer of the last update, as the page shows it.
type duAnswer struct{ Question, Answer string }

func dailyUpdatePath(id string) string { return locationPath(id) + "/daily-update" }

func (h *Handler) showDailyUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	// The guide: "If unable to provide additional hours place 0 in the
	// box". With JavaScript the box shows only after Yes; its 0 stands
	// for No.
	f.Values[dailyupdate.FieldExtraHours] = "0"
	h.renderDailyUpdate(w, r, http.StatusOK, s, f)
}

func (h *Handler) renderDailyUpdate(w http.ResponseWriter, r *http.Request, status int, s *session, f *form) {
	id := r.PathValue("id")
	last, hasLast, name, err := h.lastDailyUpdate(r, s, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := func(field string) duQuestion {
		return duQuestion{Field: field, Question: dailyupdate.Questions[field], Hint: dailyupdate.Hints[field],
			Value: f.Value(field), Errors: f.ErrorsFor(field)}
	}
	counts := []duQuestion{q(dailyupdate.FieldServiceUsers), q(dailyupdate.FieldConfirmed), q(dailyupdate.FieldSuspected),
		q(dailyupdate.FieldCareStaff), q(dailyupdate.FieldStaffNotWorking)}
	ppe := q(dailyupdate.FieldPPE)
	var ppeChoices []duChoice
	for i, c := range dailyupdate.PPEChoices() {
		ch := duChoice{ID: dailyupdate.FieldPPE, Value: string(c.Code), Label: c.Label, Checked: ppe.Value == string(c.Code)}
		if i > 0 {
			ch.ID += "-" + string(c.Code)
		}
		ppeChoices = append(ppeChoices, ch)
	}
	extra := q(dailyupdate.FieldCanProvideExtra)
	data := map[string]any{
		"Path": dailyUpdatePath(id), "Dashboard": locationPath(id), "Name": name,
		"Counts": counts, "PPE": ppe, "PPEChoices": ppeChoices,
		"Extra": extra, "ExtraYes": extra.Value == "yes", "ExtraNo": extra.Value == "no",
		"ExtraHours": q(dailyupdate.FieldExtraHours), "OtherIssues": q(dailyupdate.FieldOtherIssues),
		"MaxOtherIssues": thousands(dailyupdate.MaxOtherIssuesLen), "Errors": f.ErrorsFor(dailyUpdateErrorField),
		"Rules": []string{dailyupdate.MsgUsersWithCovid, dailyupdate.MsgStaffAbsent, dailyupdate.MsgNoExtraHours},
	}
	if hasLast {
		data["Last"] = lastAnswers(last)
		data["LastAt"] = londonTime(last.SubmittedAt)
		data["LastToday"] = last.Day == dailyupdate.Day(h.commands.Now())
		data["LastNoChange"] = last.NoChange
	}
	h.render(w, r, status, "daily-update", view{Title: "COVID-19 Update at " + name, User: s.user(), CSRF: s.csrf(), Form: f, Data: data})
}

// lastDailyUpdate is the location's latest update and its name, from the
// read side (one row of the analytics view, not the location's year of
// updates folded from the log). A location the directory does not show yet
// (just registered) is asked of the write side, which also tells an
// unknown location (domain.ErrNotFound) from one the person may not see.
func (h *Handler) lastDailyUpdate(r *http.Request, s *session, id string) (dailyupdate.DailyUpdateSubmitted, bool, string, error) {
	loc, ok, err := h.queries.Location(r.Context(), id)
	if err != nil {
		return dailyupdate.DailyUpdateSubmitted{}, false, "", err
	}
	if !ok {
		last, hasLast, err := h.commands.LastDailyUpdate(r.Context(), s.actor, id)
		return last, hasLast, id, err
	}
	d, hasLast, err := h.queries.LatestDailyUpdate(r.Context(), httpapi.Viewer(s.actor), id, 0)
	if err != nil || !hasLast {
		return dailyupdate.DailyUpdateSubmitted{}, false, loc.Name, err
	}
	return dailyupdate.DailyUpdateSubmitted{LocationID: id, Day: d.Day, SubmittedAt: d.SubmittedAt, NoChange: d.NoChange,
		Answers: dailyupdate.Answers{ServiceUsers: d.ServiceUsers, Confirmed: d.Confirmed, Suspected: d.Suspected,
			CareStaff: d.CareStaff, StaffNotWorking: d.StaffAbsent, PPE: d.PPE, CanProvideExtra: d.CanProvideExtra,
			ExtraHoursPerWeek: d.ExtraHours, OtherIssues: d.OtherIssues}}, true, loc.Name, nil
}

// lastAnswers are the answers of an update, in the form's order.
func lastAnswers(e dailyupdate.DailyUpdateSubmitted) []duAnswer {
	a := e.Answers
	ppe := string(a.PPE)
	for _, c := range dailyupdate.PPEChoices() {
		if c.Code == a.PPE {
			ppe = c.Label
		}
	}
	yesNo := "No"
	if a.CanProvideExtra {
		yesNo = "Yes"
	}
	other := a.OtherIssues
	if other == "" {
		other = "None given"
	}
	out := []duAnswer{}
	for _, f := range dailyupdate.Fields() {
		var v string
		switch f {
		case dailyupdate.FieldServiceUsers:
			v = strconv.Itoa(a.ServiceUsers)
		case dailyupdate.FieldConfirmed:
			v = strconv.Itoa(a.Confirmed)
		case dailyupdate.FieldSuspected:
			v = strconv.Itoa(a.Suspected)
		case dailyupdate.FieldCareStaff:
			v = strconv.Itoa(a.CareStaff)
		case dailyupdate.FieldStaffNotWorking:
			v = strconv.Itoa(a.StaffNotWorking)
		case dailyupdate.FieldPPE:
			v = ppe
		case dailyupdate.FieldCanProvideExtra:
			v = yesNo
		case dailyupdate.FieldExtraHours:
			v = strconv.Itoa(a.ExtraHoursPerWeek)
		case dailyupdate.FieldOtherIssues:
			v = other
		}
		out = append(out, duAnswer{Question: dailyupdate.Questions[f], Answer: v})
	}
	return out
}

// submitDailyUpdate saves the form, or with "No change since my last
// update" a copy of the last answers (whatever the form holds).
func (h *Handler) submitDailyUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	c := dailyupdate.Submit{LocationID: id, NoChange: r.PostForm.Get("action") == "no-change"}
	f := newForm()
	for _, field := range dailyupdate.Fields() {
		f.Values[field] = r.PostForm.Get(field)
		if !c.NoChange {
			c.Form.Set(field, f.Values[field])
		}
	}
	res, err := h.commands.SubmitDailyUpdate(r.Context(), s.actor, c)
	var rule *domain.RuleError
	switch {
	case err == nil:
		done := "daily-update"
		if res.Superseded {
			done = "daily-update-replaced"
		}
		redirect(w, r, locationPath(id)+"?done="+done+"&position="+strconv.FormatInt(res.Position, 10))
		return
	case f.addValidation(err, nil):
		f.order(append(dailyupdate.Fields(), dailyUpdateErrorField)...)
	case errors.As(err, &rule) && rule.Code != "disclaimer_required" && rule.Code != "password_change_required":
		f.add(dailyUpdateErrorField, rule.Code, rule.Message)
	default:
		h.fail(w, r, err)
		return
	}
	h.renderDailyUpdate(w, r, http.StatusUnprocessableEntity, s, f)
}

// thousands writes a count with its thousands separated: 2,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
