package web

import (
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands/ratelimit"
)

// The forms a stranger can send (sign in, the registration's final submit,
// forgotten password, set password) are limited as their API endpoints
// are: the same limiter, policies and keys (httpapi.CheckLimit), so a
// burst counts against one budget whichever port it comes through. A
// refused form gets the 429 page with Retry-After, before any work.

// allow counts a form of kind, by the client's address and account (the
// key httpapi.EmailAccount or httpapi.LinkAccount gives); it answers the
// request and reports false when it may not go on.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, kind string, p ratelimit.Policy, account string) bool {
	refused := httpapi.CheckLimit(r, h.logger, h.limiter, kind, p, account)
	if refused == nil {
		return true
	}
	if refused.Status == httpapi.StatusClientClosed {
		// The person went away; nobody reads the answer.
		return false
	}
	refused.SetRetryAfter(w)
	title, _, _ := errorText(refused.Status)
	h.render(w, r, refused.Status, "error", view{Title: title,
		Data: map[string]any{"Body": refused.Message(), "Status": refused.Status}})
	return false
}
