package web

import (
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// submitSignOut ends the session. It takes the form token like every
// signed-in form, so that another site cannot sign a person out; without a
// session there is nothing to end.
func (h *Handler) submitSignOut(w http.ResponseWriter, r *http.Request) {
	h.signedInUngated(func(w http.ResponseWriter, r *http.Request, s *session) {
		if _, err := h.commands.Logout(r.Context(), s.actor); err != nil {
			h.fail(w, r, err)
			return
		}
		httpapi.ClearSessionCookies(w, r, h.secureCookies)
		redirect(w, r, "/sign-in?done=signed-out")
	})(w, r)
}
