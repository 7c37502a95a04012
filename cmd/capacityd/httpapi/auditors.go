package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
)

// auditorRoutes: support grants (POST) and revokes (DELETE) the auditor
// role, which lets a user replay every stream (historyRoutes).
func (s *Server) auditorRoutes(api *mux.Router) {
	const path = "/users/{user_id}/auditor"
	api.HandleFunc(path, s.authed(s.auditorRole(s.commands.GrantAuditorRole))).Methods(http.MethodPost)
	api.HandleFunc(path, s.authed(s.auditorRole(s.commands.RevokeAuditorRole))).Methods(http.MethodDelete)
}

// auditorRole serves a grant or a revocation: 200 with the user's id, the
// flag and the stream's new version.
func (s *Server) auditorRole(change func(context.Context, commands.Actor, uuid.UUID) (commands.AuditorChanged, error)) func(http.ResponseWriter, *http.Request, commands.Actor) {
	return func(w http.ResponseWriter, r *http.Request, a commands.Actor) {
		id, err := pathUUID(r, "user_id")
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		res, err := change(r.Context(), a, id)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}
