package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/erasure"
)

// erasureRoutes: support erases a person (UK GDPR right to erasure).
func (s *Server) erasureRoutes(api *mux.Router) {
	api.HandleFunc("/erasures", s.authed(s.handleErase)).Methods(http.MethodPost)
}

// erasureRequest is the body of POST /api/v1/erasures: a user by id, or a
// contact by location and contact id, with who asked and why.
type erasureRequest struct {
	Kind        string `json:"kind"` // "user" or "contact"
	UserID      string `json:"user_id"`
	LocationID  string `json:"location_id"`
	ContactID   string `json:"contact_id"`
	RequestedBy string `json:"requested_by"`
	Reason      string `json:"reason"`
}

func (s *Server) handleErase(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req erasureRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.ErasePerson(r.Context(), a, erasure.Request{Kind: req.Kind, UserID: req.UserID,
		LocationID: req.LocationID, ContactID: req.ContactID, RequestedBy: req.RequestedBy, Reason: req.Reason})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}
