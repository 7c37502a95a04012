package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/queries"
)

// Cookie names: the session (HttpOnly) and its CSRF token (readable by the
// page's script, which echoes it in the X-CSRF-Token header).
const (
	SessionCookie = "ct_session"
	CSRFCookie    = "ct_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// csrfToken is derived from the session token, so it needs no storage: a
// page of another site can neither read the cookie nor compute it.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("capacity-tracker csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// requestInfo is what every event's metadata records of the HTTP request.
func requestInfo(r *http.Request) commands.Request {
	ip := clientAddress(r)
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	corr := r.Header.Get("X-Correlation-ID")
	if _, err := uuid.Parse(corr); err != nil {
		corr = uuid.NewString()
	}
	return commands.Request{CorrelationID: corr, ClientIP: ip, UserAgent: ua}
}

type actorKey struct{}

// authed wraps a handler that needs a logged-in caller: a session cookie
// (with the CSRF header on every state-changing request) or a personal API
// token in "Authorization: Bearer".
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, a commands.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, viaCookie := "", false
		if auth := r.Header.Get("Authorization"); auth != "" {
			scheme, value, ok := strings.Cut(auth, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				writeError(w, http.StatusUnauthorized, "unauthenticated", "use Authorization: Bearer <token>")
				return
			}
			token = strings.TrimSpace(value)
		} else if c, err := r.Cookie(SessionCookie); err == nil {
			token, viaCookie = c.Value, true
		}
		if token == "" {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
			return
		}
		if viaCookie && !safeMethod(r.Method) {
			got := r.Header.Get(CSRFHeader)
			if got == "" || !hmac.Equal([]byte(got), []byte(csrfToken(token))) {
				writeError(w, http.StatusForbidden, "csrf_failed", "missing or wrong "+CSRFHeader+" header")
				return
			}
		}
		actor, err := s.commands.Authenticate(r.Context(), token, requestInfo(r))
		if err != nil {
			if errors.Is(err, domain.ErrUnauthenticated) && viaCookie {
				clearSessionCookies(w, r, s.secureCookies)
			}
			s.writeErr(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)), actor)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func setSessionCookies(w http.ResponseWriter, r *http.Request, secure bool, res commands.LoginResult, remember bool) {
	c := &http.Cookie{Name: SessionCookie, Value: res.Token, Path: "/", HttpOnly: true,
		Secure: secure || r.TLS != nil, SameSite: http.SameSiteLaxMode}
	csrf := &http.Cookie{Name: CSRFCookie, Value: csrfToken(res.Token), Path: "/",
		Secure: secure || r.TLS != nil, SameSite: http.SameSiteLaxMode}
	if remember {
		c.Expires, csrf.Expires = res.ExpiresAt, res.ExpiresAt
	}
	http.SetCookie(w, c)
	http.SetCookie(w, csrf)
}

func clearSessionCookies(w http.ResponseWriter, r *http.Request, secure bool) {
	for _, name := range []string{SessionCookie, CSRFCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == SessionCookie,
			Secure: secure || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
}

// viewer is what the read side needs to know of the caller.
func viewer(a commands.Actor) queries.Viewer {
	v := queries.Viewer{UserID: a.User.ID.String(), Support: a.User.IsSupport(), Commissioner: a.User.IsCommissioner(),
		Auditor: a.User.IsAuditor()}
	for _, o := range a.User.Organisations() {
		if a.User.IsApproverOf(o) {
			v.ApproverOf = append(v.ApproverOf, o)
		}
	}
	for l := range a.User.Locations {
		v.Locations = append(v.Locations, l)
	}
	return v
}

// loginFailed is the one answer to every failed login.
const loginFailed = LoginFailed + " " +
	"After 5 wrong passwords in a row an account is locked for 24 hours; resetting the password lifts the lock."
