package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
)

// dailyUpdateRoutes is the COVID-19 Update (Daily) page of a location.
func (s *Server) dailyUpdateRoutes(api *mux.Router) {
	const path = "/locations/{location_id}/daily-update"
	api.HandleFunc(path, s.authed(s.handleDailyUpdateForm)).Methods(http.MethodGet)
	api.HandleFunc(path, s.authed(s.handleSubmitDailyUpdate)).Methods(http.MethodPost)
}

// DailyUpdateQuestion is one question of the daily update form.
type DailyUpdateQuestion struct {
	Field    string `json:"field"`
	Question string `json:"question"`
	// Type: count (a whole number >= 0), choice, yes_no or text.
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Choices  []string `json:"choices,omitempty"`
	// MaxLength bounds a text answer, in characters.
	MaxLength int `json:"max_length,omitempty"`
}

// DailyUpdateForm is the page: its questions, rules, the calendar day it
// is the update of, and the location's last update.
type DailyUpdateForm struct {
	LocationID     string                            `json:"location_id"`
	Today          string                            `json:"today"`
	Questions      []DailyUpdateQuestion             `json:"questions"`
	Rules          []string                          `json:"rules"`
	Last           *dailyupdate.DailyUpdateSubmitted `json:"last"`
	SubmittedToday bool                              `json:"submitted_today"`
}

func dailyUpdateQuestions() []DailyUpdateQuestion {
	var ppe []string
	for _, c := range dailyupdate.PPEChoices() {
		ppe = append(ppe, string(c.Code))
	}
	out := make([]DailyUpdateQuestion, 0, len(dailyupdate.Fields()))
	for _, f := range dailyupdate.Fields() {
		q := DailyUpdateQuestion{Field: f, Question: dailyupdate.Questions[f], Type: "count", Required: true}
		switch f {
		case dailyupdate.FieldPPE:
			q.Type, q.Choices = "choice", ppe
		case dailyupdate.FieldCanProvideExtra:
			q.Type = "yes_no"
		case dailyupdate.FieldOtherIssues:
			q.Type, q.Required, q.MaxLength = "text", false, dailyupdate.MaxOtherIssuesLen
		}
		out = append(out, q)
	}
	return out
}

func (s *Server) handleDailyUpdateForm(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	last, ok, err := s.commands.LastDailyUpdate(r.Context(), a, locationID(r))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	form := DailyUpdateForm{
		LocationID: locationID(r), Today: dailyupdate.Day(s.commands.Now()), Questions: dailyUpdateQuestions(),
		Rules: []string{dailyupdate.MsgUsersWithCovid, dailyupdate.MsgStaffAbsent, dailyupdate.MsgNoExtraHours},
	}
	if ok {
		form.Last, form.SubmittedToday = &last, last.Day == form.Today
	}
	writeJSON(w, http.StatusOK, form)
}

// dailyUpdateRequest is the body of a submission: the answers, or
// no_change to copy the last ones.
type dailyUpdateRequest struct {
	Answers  map[string]json.RawMessage `json:"answers"`
	NoChange bool                       `json:"no_change"`
}

func (s *Server) handleSubmitDailyUpdate(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req dailyUpdateRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	form, err := dailyupdate.FormFromJSON(req.Answers)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.SubmitDailyUpdate(r.Context(), a, dailyupdate.Submit{LocationID: locationID(r), Form: form, NoChange: req.NoChange})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}
