package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// allow counts the request and answers it when it may not go on: 429
// over a limit; 503 when the counters cannot be read. The limits fail
// closed: the counters live in the database the request needs anyway, so
// a request refused for want of them could not have been served, and a
// burst never passes uncounted.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, kind string, p ratelimit.Policy, account string) bool {
	d, err := s.limiter.Allow(r.Context(), kind, p, clientAddress(r), account)
	if err != nil {
		if r.Context().Err() != nil {
			writeError(w, 499, "client_closed", "request cancelled")
			return false
		}
		s.logger.ErrorContext(r.Context(), "rate limit check failed", "kind", kind, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The service cannot take this request now: try again in a moment.")
		return false
	}
	if !d.Allowed {
		writeTooManyRequests(w, d.RetryAfter)
		return false
	}
	return true
}

// writeTooManyRequests is the 429 answer, with Retry-After in whole
// seconds (at least 1).
func writeTooManyRequests(w http.ResponseWriter, after time.Duration) {
	secs := max(1, int64((after+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	writeError(w, http.StatusTooManyRequests, "too_many_requests",
		"There have been too many attempts. Try again in "+waitText(secs)+".")
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

// emailTarget is the account a body's "email" names: the address as the
// accounts know it, or its trimmed lower case when it is not one.
func emailTarget(_ *Server, body []byte) string {
	var b struct {
		Email string `json:"email"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	if e, err := account.ParseEmail(b.Email); err == nil {
		return e.String()
	}
	return strings.ToLower(strings.TrimSpace(b.Email))
}

// linkTarget is the user a body's set-password link was issued to; a
// token that is not a link names nobody.
func linkTarget(s *Server, body []byte) string {
	var b struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	if id, ok := s.accounts.LinkUser(b.Token); ok {
		return id.String()
	}
	return ""
}
