package web

import (
	"net/http"
)

func (h *Handler) showChangePassword(w http.ResponseWriter, r *http.Request, s *session) {
	if s.actor.DisclaimerPending {
		redirect(w, r, "/disclaimer")
		return
	}
	h.renderChangePassword(w, r, http.StatusOK, s, newForm())
}

func (h *Handler) renderChangePassword(w http.ResponseWriter, r *http.Request, status int, s *session, f *form) {
	h.render(w, r, status, "change-password", view{Title: "Change your password", User: s.user(), CSRF: s.csrf(), Form: f,
		Data: map[string]any{
			"Rules":  h.commands.PasswordRules(),
			"Forced": s.actor.PasswordChangeRequired,
		}})
}

func (h *Handler) submitChangePassword(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if current == "" {
		f.add("current_password", "required", "Enter your current password")
	}
	if f.HasErrors() {
		h.renderChangePassword(w, r, http.StatusUnprocessableEntity, s, f)
		return
	}
	_, err := h.commands.ChangePassword(r.Context(), s.actor, current, next)
	if f.addValidation(err, nil) {
		f.order("current_password", "new_password")
		h.renderChangePassword(w, r, http.StatusUnprocessableEntity, s, f)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "/?done=password-changed")
}
