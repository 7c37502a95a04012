package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
)

// signInNotices are the banners of pages that lead back to sign in; the
// address names one by its key, never carries text.
func signInNotice(key string) string {
	switch key {
	case "password-set":
		return "Your password is set. Sign in with it."
	case "signed-out":
		return "You have signed out."
	}
	return ""
}

// lockoutRule is the guide's rule, from the server's configuration.
func (h *Handler) lockoutRule() string {
	cfg := h.commands.Config()
	return fmt.Sprintf("If the wrong password is entered %d times in a row, the account is locked for %s. "+
		"Resetting your password with the forgotten password link unlocks it.", cfg.MaxFailedLogins, duration(cfg.LockFor))
}

func duration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

func (h *Handler) showSignIn(w http.ResponseWriter, r *http.Request) {
	s, err := h.currentSession(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s != nil {
		redirect(w, r, "/")
		return
	}
	h.renderSignIn(w, r, http.StatusOK, newForm(), signInNotice(r.URL.Query().Get("done")))
}

func (h *Handler) renderSignIn(w http.ResponseWriter, r *http.Request, status int, f *form, notice string) {
	h.render(w, r, status, "sign-in", view{Title: "Sign in to Capacity Tracker", Form: f, Notice: notice,
		Data: map[string]any{"LockoutRule": h.lockoutRule()}})
}

func (h *Handler) submitSignIn(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		h.fail(w, r, err)
		return
	}
	f := newForm()
	f.Values["email"] = r.PostForm.Get("email")
	remember := r.PostForm.Get("remember_me") == "yes"
	if remember {
		f.Values["remember_me"] = "yes"
	}
	pw := r.PostForm.Get("password")
	if !h.allow(w, r, ratelimit.SignIn, h.limits.SignIn, httpapi.EmailAccount(f.Values["email"])) {
		return
	}
	if f.Values["email"] == "" {
		// The domain's message for a missing address.
		_, err := account.ParseEmail("")
		f.addValidation(err, nil)
	}
	if pw == "" {
		f.add("password", "required", "Enter your password")
	}
	if f.HasErrors() {
		h.renderSignIn(w, r, http.StatusUnprocessableEntity, f, "")
		return
	}
	res, err := h.commands.Login(r.Context(), httpapi.RequestInfo(r), f.Values["email"], pw, remember)
	if errors.Is(err, domain.ErrUnauthenticated) {
		f.add("email", "login_failed", httpapi.LoginFailed)
		h.renderSignIn(w, r, http.StatusUnauthorized, f, "")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpapi.SetSessionCookies(w, r, h.secureCookies, res, remember)
	switch {
	case res.DisclaimerRequired:
		redirect(w, r, "/disclaimer")
	case res.PasswordChangeRequired:
		redirect(w, r, "/change-password")
	default:
		redirect(w, r, "/")
	}
}
