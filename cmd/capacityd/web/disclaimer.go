package web

import (
	"net/http"

	"github.com/capacitytracker/capacity/commands"
)

// The generic accounts' disclaimer, after every sign in: until it is
// acknowledged the session may not change anything (commands enforce it),
// and every other page leads here (session.go).

func (h *Handler) showDisclaimer(w http.ResponseWriter, r *http.Request, s *session) {
	if !s.actor.DisclaimerPending {
		redirect(w, r, "/")
		return
	}
	h.render(w, r, http.StatusOK, "disclaimer", view{Title: "This is a generic account", User: s.user(), CSRF: s.csrf(),
		Data: map[string]any{"Disclaimer": commands.Disclaimer}})
}

func (h *Handler) submitDisclaimer(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := h.commands.AcknowledgeDisclaimer(r.Context(), s.actor); err != nil {
		h.fail(w, r, err)
		return
	}
	if s.actor.PasswordChangeRequired {
		redirect(w, r, "/change-password")
		return
	}
	redirect(w, r, "/")
}
