package web

import (
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/account"
)

func (h *Handler) showForgottenPassword(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgotten-password", view{Title: "Reset your password", Form: newForm()})
}

// submitForgottenPassword asks for a reset link. Whatever the address,
// once it is well formed the answer is the same page, so that it does not
// tell who has an account.
func (h *Handler) submitForgottenPassword(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		h.fail(w, r, err)
		return
	}
	f := newForm()
	f.Values["email"] = r.PostForm.Get("email")
	if _, err := account.ParseEmail(f.Values["email"]); err != nil {
		f.addValidation(err, nil)
		h.render(w, r, http.StatusUnprocessableEntity, "forgotten-password", view{Title: "Reset your password", Form: f})
		return
	}
	if err := h.accounts.RequestPasswordReset(r.Context(), httpapi.RequestInfo(r), f.Values["email"]); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "/forgotten-password/sent")
}

func (h *Handler) showForgottenPasswordSent(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgotten-password-sent", view{Title: "Check your email"})
}
