package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain/account"
)

// The rate limits of the endpoints a stranger can call, and of uploads
// (commands/ratelimit): each request is counted by client address and by
// the account it names before any work is done for it, and one refused
// gets 429 with Retry-After, having appended nothing and sent nothing.

// limited wraps an anonymous JSON endpoint. account reads the account the
// body names (nil: none); the body is read once here, within the server's
// limit, and given to h unchanged.
func (s *Server) limited(kind string, p ratelimit.Policy, account func(s *Server, body []byte) string, h http.HandlerFunc) http.HandlerFunc {
	if s.limiter == nil || len(p) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		target := ""
		if account != nil {
			body, err := readJSONBody(r)
			if err != nil {
				s.writeErr(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			target = account(s, body)
		}
		if !s.allow(w, r, kind, p, target) {
			return
		}
		h(w, r)
	}
}

// limitedUpload wraps a logged-in handler: the account is the caller.
func (s *Server) limitedUpload(h func(w http.ResponseWriter, r *http.Request, a commands.Actor)) func(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	if s.limiter == nil || len(s.limits.Upload) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, a commands.Actor) {
		if s.allow(w, r, ratelimit.Upload, s.limits.Upload, a.User.ID.String()) {
			h(w, r, a)
		}
	}
}

// allow counts the request and answers it when it may not go on
// (CheckLimit), in JSON.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, kind string, p ratelimit.Policy, account string) bool {
	refused := CheckLimit(r, s.logger, s.limiter, kind, p, account)
	if refused == nil {
		return true
	}
	refused.SetRetryAfter(w)
	switch refused.Status {
	case StatusClientClosed:
		writeError(w, StatusClientClosed, "client_closed", "request cancelled")
	case http.StatusServiceUnavailable:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The service cannot take this request now: try again in a moment.")
	default:
		writeError(w, http.StatusTooManyRequests, "too_many_requests", refused.Message())
	}
	return false
}

// StatusClientClosed is the status logged for a request whose client went
// away before it was answered (nginx's 499): nobody reads the answer.
const StatusClientClosed = 499

// Refused is why a limited request may not go on: its status (429 over a
// limit, 503 when the counters cannot be read, StatusClientClosed) and how
// long to wait. Each port answers it in its own form, the API in JSON and
// the pages with an error page, with the same status and Retry-After.
type Refused struct {
	Status int
	// RetryAfter is in whole seconds, at least 1 (0 for
	// StatusClientClosed).
	RetryAfter int64
}

// SetRetryAfter sets the Retry-After header of the answer.
func (f *Refused) SetRetryAfter(w http.ResponseWriter) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
	}
}

// Message says, in a person's words, what to do.
func (f *Refused) Message() string {
	if f.Status == http.StatusTooManyRequests {
		return "There have been too many attempts. Try again in " + waitText(f.RetryAfter) + "."
	}
	return "The service cannot take this request now. Try again in " + waitText(f.RetryAfter) + "."
}

// CheckLimit counts a request of kind under policy p, by its client's
// address (clientaddr.go) and by account (EmailAccount or LinkAccount; ""
// for none), before any work is done for it: nil when it may go on. It is
// the one rate limit check of both ports (the API and the pages); a nil
// limiter or an empty policy limits nothing.
//
// The limits fail closed: the counters live in the database the request
// needs anyway, so a request refused (503) for want of them could not have
// been served, and a burst never passes uncounted.
func CheckLimit(r *http.Request, logger *slog.Logger, l *ratelimit.Limiter, kind string, p ratelimit.Policy, account string) *Refused {
	if l == nil || len(p) == 0 {
		return nil
	}
	d, err := l.Allow(r.Context(), kind, p, clientAddress(r), account)
	if err != nil {
		if r.Context().Err() != nil {
			return &Refused{Status: StatusClientClosed}
		}
		logger.ErrorContext(r.Context(), "rate limit check failed", "kind", kind, "err", err)
		return &Refused{Status: http.StatusServiceUnavailable, RetryAfter: 5}
	}
	if !d.Allowed {
		return &Refused{Status: http.StatusTooManyRequests, RetryAfter: max(1, int64((d.RetryAfter+time.Second-1)/time.Second))}
	}
	return nil
}

// waitText says a wait in words a person reads at a glance.
func waitText(secs int64) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case secs < 60:
		return plural(secs, "second")
	case secs < 3600:
		return plural((secs+59)/60, "minute")
	}
	return plural((secs+3599)/3600, "hour")
}

// emailTarget is the account a body's "email" names (EmailAccount).
func emailTarget(_ *Server, body []byte) string {
	var b struct {
		Email string `json:"email"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return EmailAccount(b.Email)
}

// EmailAccount is the rate limits' account key of an email address typed
// in a form (sign in, registration, forgotten password): the address as
// the accounts know it, or its trimmed lower case when it is not one.
func EmailAccount(email string) string {
	if e, err := account.ParseEmail(email); err == nil {
		return e.String()
	}
	return strings.ToLower(strings.TrimSpace(email))
}

// linkTarget is the user a body's set-password link was issued to
// (LinkAccount).
func linkTarget(s *Server, body []byte) string {
	var b struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return LinkAccount(s.commands, b.Token)
}

// LinkAccount is the rate limits' account key of a set-password link: the
// user it was issued to; a token that is not a link names nobody.
func LinkAccount(accounts *commands.Service, token string) string {
	if id, ok := accounts.LinkUser(token); ok {
		return id.String()
	}
	return ""
}
