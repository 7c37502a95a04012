package web

import (
	"errors"
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain/account"
)

// The page of the emailed set-password and reset links
// (PublicURL/set-password?token=..., cmd/capacityd/mailer/texts.go): the
// link of the approval email and of a forgotten password alike.

func (h *Handler) showSetPassword(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if err := h.commands.CheckPasswordLink(r.Context(), token); err != nil {
		h.linkProblem(w, r, err)
		return
	}
	f := newForm()
	f.Values["token"] = token
	h.renderSetPassword(w, r, http.StatusOK, f)
}

func (h *Handler) renderSetPassword(w http.ResponseWriter, r *http.Request, status int, f *form) {
	h.render(w, r, status, "set-password", view{Title: "Choose a password", Form: f,
		Data: map[string]any{"Rules": h.commands.PasswordRules()}})
}

// linkProblem is the page of a link that cannot be used.
func (h *Handler) linkProblem(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, account.ErrLinkInvalid) {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusNotFound, "link-invalid", view{Title: "This link cannot be used",
		Data: map[string]any{"Message": account.ErrLinkInvalid.Error()}})
}

func (h *Handler) submitSetPassword(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		h.fail(w, r, err)
		return
	}
	f := newForm()
	f.Values["token"] = r.PostForm.Get("token")
	if !h.allow(w, r, ratelimit.PasswordLink, h.limits.PasswordLink, httpapi.LinkAccount(h.commands, f.Values["token"])) {
		return
	}
	_, err := h.commands.SetPasswordWithLink(r.Context(), httpapi.RequestInfo(r), f.Values["token"], r.PostForm.Get("password"))
	if f.addValidation(err, nil) {
		h.renderSetPassword(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		h.linkProblem(w, r, err)
		return
	}
	redirect(w, r, "/sign-in?done=password-set")
}
