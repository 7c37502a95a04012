package web

import "net/http"

// showHelp is open to everyone: a person who cannot sign in needs the
// contacts most.
func (h *Handler) showHelp(w http.ResponseWriter, r *http.Request) {
	s, err := h.currentSession(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := view{Title: "Help", Data: map[string]any{"LockoutRule": h.lockoutRule()}}
	if s != nil {
		v.User, v.CSRF = s.user(), s.csrf()
	}
	h.render(w, r, http.StatusOK, "help", v)
}
