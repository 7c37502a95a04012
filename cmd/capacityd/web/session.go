package web

import (
	"crypto/hmac"
	"errors"
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
)

// csrfField is the hidden field of every signed-in form. Anonymous forms
// (sign in, forgotten password, set password) have no session to tie a
// token to: Go's CrossOriginProtection refuses their cross-site posts, and
// the session cookie is SameSite=Lax.
const csrfField = "csrf_token"

// session is the signed-in person of a request: the API's server-side
// session (cookie ct_session), authenticated by the same command.
type session struct {
	token string
	actor commands.Actor
}

func (s *session) csrf() string { return httpapi.CSRFToken(s.token) }

func (s *session) user() *viewUser {
	return &viewUser{Name: s.actor.User.FullName, Email: s.actor.User.Email}
}

// currentSession is the request's session, or nil when there is none or
// it ended (its cookies are then cleared).
func (h *Handler) currentSession(w http.ResponseWriter, r *http.Request) (*session, error) {
	c, err := r.Cookie(httpapi.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	actor, err := h.commands.Authenticate(r.Context(), c.Value, httpapi.RequestInfo(r))
	if errors.Is(err, domain.ErrUnauthenticated) {
		httpapi.ClearSessionCookies(w, r, h.secureCookies)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{token: c.Value, actor: actor}, nil
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s *session)

// signedIn serves a page for a signed-in person whose session may use the
// service: a generic account's session acknowledges the disclaimer first,
// and a password that expired or was issued by support is changed first.
func (h *Handler) signedIn(fn sessionHandler) http.HandlerFunc {
	return h.withSession(true, true, fn)
}

// signedInUngated serves the pages those gates lead to.
func (h *Handler) signedInUngated(fn sessionHandler) http.HandlerFunc {
	return h.withSession(false, true, fn)
}

// signedInUpload is signedIn for a multipart form, which the handler
// reads a part at a time: it checks the form token itself, from the
// form's first part (bulk.go).
func (h *Handler) signedInUpload(fn sessionHandler) http.HandlerFunc {
	return h.withSession(true, false, fn)
}

func (h *Handler) withSession(gated, urlEncoded bool, fn sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.currentSession(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if s == nil {
			redirect(w, r, "/sign-in")
			return
		}
		if r.Method == http.MethodPost && urlEncoded {
			if err := parseForm(r); err != nil {
				h.fail(w, r, err)
				return
			}
			if !validCSRF(r, s) {
				h.errorPage(w, r, http.StatusForbidden)
				return
			}
		}
		if gated {
			if next := s.gate(); next != "" {
				redirect(w, r, next)
				return
			}
		}
		fn(w, r, s)
	}
}

// gate is the page a session must go through before any other, or "".
func (s *session) gate() string {
	switch {
	case s.actor.DisclaimerPending:
		return "/disclaimer"
	case s.actor.PasswordChangeRequired:
		return "/change-password"
	}
	return ""
}

func validCSRF(r *http.Request, s *session) bool {
	got := r.PostForm.Get(csrfField)
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrf()))
}
