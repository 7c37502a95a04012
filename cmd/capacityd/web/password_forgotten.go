package web

import (
	"context"
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands/ratelimit"
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
	if !h.allow(w, r, ratelimit.PasswordReset, h.limits.PasswordReset, httpapi.EmailAccount(f.Values["email"])) {
		return
	}
	if _, err := account.ParseEmail(f.Values["email"]); err != nil {
		f.addValidation(err, nil)
		h.render(w, r, http.StatusUnprocessableEntity, "forgotten-password", view{Title: "Reset your password", Form: f})
		return
	}
	// Nor may its timing tell: the lookup and the link's append, which
	// only an active account's address costs, run after the redirect is
	// sent (as the API's do, through the same httpapi.AfterAnswer).
	info, email := httpapi.RequestInfo(r), f.Values["email"]
	err := h.afterAnswer.Do(w, r, "password reset", func(w http.ResponseWriter) {
		w.Header().Set("Location", "/forgotten-password/sent")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusSeeOther)
	}, func(ctx context.Context) error {
		return h.commands.RequestPasswordReset(ctx, info, email)
	})
	if err != nil {
		h.fail(w, r, err)
	}
}

func (h *Handler) showForgottenPasswordSent(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "forgotten-password-sent", view{Title: "Check your email"})
}
