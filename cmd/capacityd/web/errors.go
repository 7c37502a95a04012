package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
)

// errorText is what each error page says: a person's words, never a stack
// trace or a raw error. ok is false for a status without a page.
func errorText(status int) (title, body string, ok bool) {
	switch status {
	case http.StatusBadRequest:
		return "Sorry, we could not read that", "The web address or form you sent could not be read. Go back, and try again.", true
	case http.StatusForbidden:
		return "You cannot do this", "You do not have permission to see this page or do this, or the form had expired. Go back, reload the page and try again.", true
	case http.StatusNotFound:
		return "Page not found", "If you typed the web address, check it is correct. If you pasted the web address, check you copied the entire address.", true
	case http.StatusMethodNotAllowed:
		return "You cannot do this on this page", "The page does not accept that kind of request. Go back to the page and use its buttons and links.", true
	case http.StatusRequestEntityTooLarge:
		return "What you sent is too large", "The form or file you sent is larger than we accept. Go back, and send less.", true
	case http.StatusTooManyRequests:
		return "Too many attempts", "There have been too many attempts from your connection or for this account. Wait a few minutes and try again.", true
	case http.StatusInternalServerError:
		return "Sorry, there is a problem with the service", "Try again later. If the problem continues, contact the Capacity Tracker Support Centre.", true
	case http.StatusServiceUnavailable:
		return "Sorry, the service is busy", "Wait a moment and try again.", true
	}
	return "", "", false
}

// errorPage answers with the error page of a status, in the site's style.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int) {
	title, body, ok := errorText(status)
	if !ok {
		status = http.StatusInternalServerError
		title, body, _ = errorText(status)
	}
	v := view{Title: title, Data: map[string]any{"Body": body, "Status": status}}
	h.render(w, r, status, "error", v)
}

// fail answers an error of the application layer that a page does not
// handle itself.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var rule *domain.RuleError
	switch {
	case errors.Is(err, errTooLarge):
		h.errorPage(w, r, http.StatusRequestEntityTooLarge)
	case errors.Is(err, errBadForm):
		h.errorPage(w, r, http.StatusBadRequest)
	case errors.Is(err, domain.ErrUnauthenticated):
		redirect(w, r, "/sign-in")
	case errors.As(err, &rule) && rule.Code == commands.ErrDisclaimerRequired.Code:
		redirect(w, r, "/disclaimer")
	case errors.As(err, &rule) && rule.Code == commands.ErrPasswordChangeRequired.Code:
		redirect(w, r, "/change-password")
	case errors.Is(err, domain.ErrForbidden):
		h.errorPage(w, r, http.StatusForbidden)
	case errors.Is(err, domain.ErrNotFound):
		h.errorPage(w, r, http.StatusNotFound)
	case errors.Is(err, projections.ErrNotCaughtUp):
		w.Header().Set("Retry-After", "1")
		h.errorPage(w, r, http.StatusServiceUnavailable)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The person went away; nobody reads the answer.
	default:
		h.logger.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
		h.errorPage(w, r, http.StatusInternalServerError)
	}
}
