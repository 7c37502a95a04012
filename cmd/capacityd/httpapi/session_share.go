package httpapi

import (
	"net/http"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/queries"
)

// The web port (cmd/capacityd/web) shares the API's server-side sessions:
// the same cookie, the same CSRF token derivation and the same request
// metadata in events. These are the API's own functions, exported for it.

// LoginFailed is the one message of every failed sign-in; the API's answer
// adds the lockout rule, which the web's sign-in page states once.
const LoginFailed = "The email address or password is not right, or the account is locked or not active."

// CSRFToken is the CSRF token of a session token: the web's forms carry it
// in a hidden field, the API's clients in the X-CSRF-Token header.
func CSRFToken(sessionToken string) string { return csrfToken(sessionToken) }

// RequestInfo is what every event's metadata records of the HTTP request.
func RequestInfo(r *http.Request) commands.Request { return requestInfo(r) }

// SetSessionCookies sets the session cookie and its CSRF cookie after a
// login; remember makes them outlive the browser session.
func SetSessionCookies(w http.ResponseWriter, r *http.Request, secure bool, res commands.LoginResult, remember bool) {
	setSessionCookies(w, r, secure, res, remember)
}

// ClearSessionCookies removes the session's cookies (sign out, or a session
// that ended).
func ClearSessionCookies(w http.ResponseWriter, r *http.Request, secure bool) {
	clearSessionCookies(w, r, secure)
}

// apiPath reports the paths the API answers; with a web handler, every
// other path is the web's.
func apiPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics", "/api":
		return true
	}
	return len(p) >= 5 && p[:5] == "/api/"
}

// Viewer is what the read side needs to know of the caller.
func Viewer(a commands.Actor) queries.Viewer { return viewer(a) }
