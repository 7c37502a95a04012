package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/queries"
)

// surveyRoutes is the Surveys section: support defines, amends, publishes
// and closes surveys; a location's users list the surveys open for it and
// answer them, as often as they like until the survey closes.
func (s *Server) surveyRoutes(api *mux.Router) {
	api.HandleFunc("/surveys", s.read(s.surveys)).Methods(http.MethodGet)
	api.HandleFunc("/surveys", s.authed(s.handleDefineSurvey)).Methods(http.MethodPost)
	api.HandleFunc("/surveys/{survey_id}", s.authed(s.handleAmendSurvey)).Methods(http.MethodPut)
	api.HandleFunc("/surveys/{survey_id}/publish", s.authed(s.handlePublishSurvey)).Methods(http.MethodPost)
	api.HandleFunc("/surveys/{survey_id}/close", s.authed(s.handleCloseSurvey)).Methods(http.MethodPost)
	api.HandleFunc("/locations/{location_id}/surveys", s.read(s.locationSurveys)).Methods(http.MethodGet)
	api.HandleFunc("/locations/{location_id}/surveys/{survey_id}/responses", s.authed(s.handleSubmitSurveyResponse)).
		Methods(http.MethodPost)
}

// AmendSurveyRequest is the body of PUT /surveys/{id}: the whole
// definition, and the version it amends (the version of the survey in
// GET /surveys).
type AmendSurveyRequest struct {
	survey.Form
	ExpectedVersion *int64 `json:"expected_version"`
}

// DecodeSurveyForm parses the body of POST /surveys (exported for
// fuzzing).
func DecodeSurveyForm(body []byte) (survey.Form, error) {
	var f survey.Form
	err := decodeJSONBytes(body, &f)
	return f, err
}

// SurveyResponseRequest is the body of a location's answers: question id
// to answer (a number, true/false or text).
type SurveyResponseRequest struct {
	Answers map[string]json.RawMessage `json:"answers"`
}

// DecodeSurveyResponse parses the body of POST
// /locations/{id}/surveys/{id}/responses (exported for fuzzing).
func DecodeSurveyResponse(body []byte) (SurveyResponseRequest, error) {
	var req SurveyResponseRequest
	err := decodeJSONBytes(body, &req)
	return req, err
}

func (s *Server) surveys(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	list, err := s.queries.Surveys(r.Context(), v, s.commands.Now(), minPos)
	return map[string]any{"surveys": list}, err
}

func (s *Server) locationSurveys(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	return s.queries.OpenSurveys(r.Context(), v, locationID(r), s.commands.Now(), minPos)
}

func (s *Server) handleDefineSurvey(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	body, err := readJSONBody(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	form, err := DecodeSurveyForm(body)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.DefineSurvey(r.Context(), a, form)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (s *Server) handleAmendSurvey(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req AmendSurveyRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if req.ExpectedVersion == nil || *req.ExpectedVersion < 0 {
		s.writeErr(w, r, &errBody{http.StatusPreconditionRequired, "version_required",
			"say which version you amended: send expected_version, the version of the survey in GET /api/v1/surveys"})
		return
	}
	res, err := s.commands.AmendSurvey(r.Context(), a, survey.Amend{SurveyID: surveyID(r), ExpectedVersion: *req.ExpectedVersion,
		Form: req.Form})
	s.surveyChanged(w, r, res, err)
}

func (s *Server) handlePublishSurvey(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	res, err := s.commands.PublishSurvey(r.Context(), a, surveyID(r))
	s.surveyChanged(w, r, res, err)
}

func (s *Server) handleCloseSurvey(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	res, err := s.commands.CloseSurvey(r.Context(), a, surveyID(r))
	s.surveyChanged(w, r, res, err)
}

func (s *Server) surveyChanged(w http.ResponseWriter, r *http.Request, res commands.SurveyChanged, err error) {
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleSubmitSurveyResponse(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	body, err := readJSONBody(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	req, err := DecodeSurveyResponse(body)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.SubmitSurveyResponse(r.Context(), a, surveyID(r), locationID(r), req.Answers)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}
