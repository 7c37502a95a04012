package web_test

// The protections the pages share with the API (issue 14): the rate
// limits of the forms a stranger can send, the forgotten-password answer
// that does not tell who has an account, the refusal of NUL characters,
// and the security headers.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
)

// perAccount allows two requests an hour for each account a form names.
var perAccount = ratelimit.Policy{{Dimension: ratelimit.Account, Limit: 2, Window: time.Hour}}

// wantRefused checks an answer is the 429 page with Retry-After, and that
// nothing was appended for it.
func wantRefused(t *testing.T, s *site, what string, before int, p page) {
	t.Helper()
	p.wantPage(t, http.StatusTooManyRequests, "Too many attempts")
	if secs, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds", what, p.Header.Get("Retry-After"))
	}
	if !strings.Contains(p.Body, "Try again in ") {
		t.Errorf("%s: the page does not say how long to wait:\n%s", what, p.Body)
	}
	s.drain()
	if got := s.eventCount(); got != before {
		t.Errorf("%s: the refused request appended %d events", what, got-before)
	}
}

// apiPostStatus posts JSON to the API of the site.
func apiPostStatus(t *testing.T, s *site, path string, body any) int {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(s.url+path, "application/json", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestWeb_FormsAreRateLimitedWithTheAPIsLimits: each form a stranger can
// send is counted by the account it names, as its API endpoint is and in
// the same counters: the third in a burst for one account gets the 429
// page, appending nothing, and so does the API's endpoint for that
// account; another account is not held back.
func TestWeb_FormsAreRateLimitedWithTheAPIsLimits(t *testing.T) {
	limits := ratelimit.Limits{SignIn: perAccount, Registration: perAccount, PasswordReset: perAccount, PasswordLink: perAccount}
	eachBackendWith(t, siteOptions{limits: limits}, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@capacitytracker.example.nhs.uk", "Sam Support")
		b := s.client()

		t.Run("SignIn", func(t *testing.T) {
			wrong := url.Values{"email": {sam.Email}, "password": {"not-the-password"}}
			for range 2 {
				b.post("/sign-in", wrong).wantPage(t, http.StatusUnauthorized, "Sign in to Capacity Tracker")
			}
			// The account as the API keys it: the address in another case.
			wrong.Set("email", strings.ToUpper(sam.Email))
			wantRefused(t, s, "sign in", s.eventCount(), b.post("/sign-in", wrong))
			if got := apiPostStatus(t, s, "/api/v1/sessions", map[string]string{"email": sam.Email, "password": sam.Password}); got != http.StatusTooManyRequests {
				t.Errorf("the API's sign in for the same account: %d, want 429", got)
			}
			b.post("/sign-in", url.Values{"email": {"someone.else@example.nhs.uk"}, "password": {"x"}}).
				wantPage(t, http.StatusUnauthorized, "Sign in to Capacity Tracker")
		})

		t.Run("Register", func(t *testing.T) {
			final := url.Values{"step": {"terms"}, "action": {"submit"}, "email": {"kim.carer@cranberry.example.org"},
				"full_name": {"Kim Carer"}, "phone": {"0191 691 0000"}, "job_title": {"Care Worker"}, "user_type": {"standard"},
				"organisation_type": {"home_care"}, "location_ids": {"1-200"}, "terms": {"agree"}, "communications": {"disagree"}}
			b.post("/register", final).wantRedirect(t, "/register/finished")
			if p := b.post("/register", final); p.Status == http.StatusTooManyRequests {
				t.Fatal("the second registration was refused")
			}
			wantRefused(t, s, "register", s.eventCount(), b.post("/register", final))
			if got := apiPostStatus(t, s, "/api/v1/registrations", map[string]any{"email": final.Get("email")}); got != http.StatusTooManyRequests {
				t.Errorf("the API's registration for the same account: %d, want 429", got)
			}
			// The earlier steps are not the submit that registers.
			step1 := url.Values{"step": {"details"}, "action": {"next"}}
			for _, k := range []string{"email", "full_name", "phone", "job_title", "user_type"} {
				step1.Set(k, final.Get(k))
			}
			b.post("/register", step1).wantPage(t, http.StatusOK, "Register New account")
		})

		t.Run("ForgottenPassword", func(t *testing.T) {
			ask := url.Values{"email": {sam.Email}}
			for range 2 {
				b.post("/forgotten-password", ask).wantRedirect(t, "/forgotten-password/sent")
			}
			s.drain()
			wantRefused(t, s, "forgotten password", s.eventCount(), b.post("/forgotten-password", ask))
			if got := apiPostStatus(t, s, "/api/v1/password-resets", map[string]string{"email": sam.Email}); got != http.StatusTooManyRequests {
				t.Errorf("the API's forgotten password for the same account: %d, want 429", got)
			}
			b.post("/forgotten-password", url.Values{"email": {"someone.else@example.nhs.uk"}}).wantRedirect(t, "/forgotten-password/sent")
		})

		t.Run("SetPassword", func(t *testing.T) {
			s.newSupport("lee.support@capacitytracker.example.nhs.uk", "Lee Support")
			token := s.linkToken("lee.support@capacitytracker.example.nhs.uk")
			weak := url.Values{"token": {token}, "password": {"short"}}
			for range 2 {
				b.post("/set-password", weak).wantPage(t, http.StatusUnprocessableEntity, "Choose a password")
			}
			// The account is the link's user, whichever link of theirs.
			wantRefused(t, s, "set password", s.eventCount(),
				b.post("/set-password", url.Values{"token": {token}, "password": {"Lee-strong-password-2026"}}))
			if got := apiPostStatus(t, s, "/api/v1/password-links", map[string]string{"token": token, "password": "Lee-strong-password-2026"}); got != http.StatusTooManyRequests {
				t.Errorf("the API's set password for the same link: %d, want 429", got)
			}
		})
	})
}

// TestWeb_ForgottenPasswordAnswersBeforeLookingTheAddressUp: the page's
// answer to a forgotten password is the same for an account's address and
// an unknown one, and does not wait for the lookup or the link's append
// (which only an account's address costs), so its timing cannot tell who
// has an account either. While another transaction keeps every append
// waiting, both are answered; the link follows once the append can go
// through.
func TestWeb_ForgottenPasswordAnswersBeforeLookingTheAddressUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		ctx := context.Background()
		sam := s.activeSupport("sam.support@capacitytracker.example.nhs.uk", "Sam Support")
		unknown := "nobody@rosehill.example.org"
		mailed := s.messagesTo(sam.Email)
		count := s.eventCount()
		_, pg := s.store.(*postgres.Store)
		held, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- s.store.InTx(ctx, func(tx eventstore.Tx) error {
				// SQLite's write transaction already keeps every other
				// writer out; PostgreSQL's readers may go on.
				if pg {
					if _, err := tx.Exec(ctx, `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
						return err
					}
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		stop := sync.OnceFunc(func() { close(release) })
		defer stop()
		b := s.client()
		// A liveness bound: an answer that waited for the append would
		// wait for ever.
		b.c.Timeout = 30 * time.Second
		known := b.post("/forgotten-password", url.Values{"email": {sam.Email}})
		other := b.post("/forgotten-password", url.Values{"email": {unknown}})
		known.wantRedirect(t, "/forgotten-password/sent")
		for _, h := range []http.Header{known.Header, other.Header} {
			h.Del("Date")
		}
		if known.Status != other.Status || known.Body != other.Body || !equalHeaders(known.Header, other.Header) {
			t.Errorf("answers differ:\nknown %d %v %q\nunknown %d %v %q", known.Status, known.Header, known.Body,
				other.Status, other.Header, other.Body)
		}
		stop()
		if err := <-holder; err != nil {
			t.Fatal(err)
		}
		s.drain()
		if got := s.eventCount() - count; got != 1 {
			t.Errorf("the requests appended %d events, want 1 (the link)", got)
		}
		if got := s.messagesTo(sam.Email) - mailed; got != 1 {
			t.Errorf("%d emails to the account after the answer, want 1", got)
		}
		if got := s.messagesTo(unknown); got != 0 {
			t.Errorf("%d emails to the unknown address", got)
		}
	})
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}

// webRoutes are the routes web.go registers, read from its source, so
// that a route added later is walked too: method and path, with each
// wildcard given value.
func webRoutes(t *testing.T, value string) [][2]string {
	t.Helper()
	src, err := os.ReadFile("web.go")
	if err != nil {
		t.Fatal(err)
	}
	wild := regexp.MustCompile(`\{[^}]*\}`)
	var out [][2]string
	for _, m := range regexp.MustCompile(`m\.HandleFunc\("(?:(GET|POST) )?([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		method := m[1]
		if method == "" {
			method = http.MethodGet
		}
		path := wild.ReplaceAllStringFunc(m[2], func(w string) string {
			if w == "{$}" {
				return ""
			}
			return value
		})
		out = append(out, [2]string{method, path})
	}
	if len(out) < 20 {
		t.Fatalf("found %d routes in web.go", len(out))
	}
	return out
}

// TestWeb_NULCharactersAreRefusedOnEveryRoute: a NUL character in a path,
// a query or a form never reaches a command or a query (PostgreSQL cannot
// hold one, and would fail the request with a 500): every route answers
// the 400 page, signed in or not, and nothing is appended.
func TestWeb_NULCharactersAreRefusedOnEveryRoute(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@capacitytracker.example.nhs.uk", "Sam Support")
		signedIn := s.client()
		signedIn.signIn(sam, "/")
		csrf := signedIn.csrf("/")
		before := s.eventCount()
		for _, b := range []*browserless{s.client(), signedIn} {
			for _, route := range webRoutes(t, "a%00b") {
				method, path := route[0], route[1]
				tries := []struct {
					what string
					path string
					form url.Values
				}{
					{"query", path + "?email=a%00b&token=a%00b&q=x", nil},
					{"query name", path + "?a%00b=x", nil},
				}
				if strings.Contains(path, "%00") {
					tries = append(tries, struct {
						what string
						path string
						form url.Values
					}{"path", path, nil})
				} else {
					tries = append(tries, struct {
						what string
						path string
						form url.Values
					}{"path", strings.TrimSuffix(path, "/") + "/a%00b", nil})
				}
				if method == http.MethodPost {
					tries = append(tries, struct {
						what string
						path string
						form url.Values
					}{"form", path, url.Values{"csrf_token": {csrf}, "email": {sam.Email + "\x00"}, "password": {"a\x00b"},
						"token": {"a\x00b"}, "step": {"terms"}, "action": {"submit"}, "full_name": {"Kim\x00"}}})
				}
				for _, try := range tries {
					var p page
					if try.form != nil {
						p = b.post(try.path, try.form)
					} else {
						req, err := http.NewRequest(method, s.url+try.path, nil)
						if err != nil {
							t.Fatal(err)
						}
						req.Header.Set("Sec-Fetch-Site", "same-origin")
						p = b.do(req)
					}
					if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "<h1>Sorry, we could not read that</h1>") {
						t.Errorf("%s %s (NUL in the %s): %d, want the 400 page", method, try.path, try.what, p.Status)
					}
				}
			}
		}
		if got := s.eventCount(); got != before {
			t.Errorf("the requests appended %d events", got-before)
		}
	})
}

// TestWeb_SecurityHeadersOnPagesAndAssets: the pages and the assets carry
// the security headers of the API's middleware with the pages' policy:
// pages are never stored, the content-hashed assets are kept for ever, and
// behind a TLS proxy both ask for HTTPS with the API's HSTS.
func TestWeb_SecurityHeadersOnPagesAndAssets(t *testing.T) {
	eachBackendWith(t, siteOptions{secureCookies: true}, func(t *testing.T, s *site) {
		b := s.client()
		signIn := b.get("/sign-in").wantPage(t, http.StatusOK, "Sign in to Capacity Tracker")
		css := regexp.MustCompile(`href="(/assets/[0-9a-f]+/nhsuk-frontend\.min\.css)"`).FindStringSubmatch(signIn.Body)
		if css == nil {
			t.Fatal("no stylesheet link")
		}
		csp := signIn.Header.Get("Content-Security-Policy")
		for _, c := range []struct {
			what  string
			p     page
			cache string
		}{
			{"page", signIn, "no-store"},
			{"error page", b.get("/no-such-page"), "no-store"},
			{"redirect", b.get("/"), "no-store"},
			{"form answer", b.post("/forgotten-password", url.Values{"email": {"nobody@example.nhs.uk"}}), "no-store"},
			{"asset", b.get(css[1]), "public, max-age=31536000, immutable"},
			{"icon", b.get("/assets/images/nhsuk-icon-180.png"), "public, max-age=86400"},
		} {
			for name, want := range map[string]string{
				"Content-Security-Policy":    csp,
				"Cache-Control":              c.cache,
				"X-Content-Type-Options":     "nosniff",
				"X-Frame-Options":            "DENY",
				"Referrer-Policy":            "no-referrer",
				"Cross-Origin-Opener-Policy": "same-origin",
				"Strict-Transport-Security":  "max-age=31536000",
			} {
				if got := strings.Join(c.p.Header.Values(name), ", "); got != want {
					t.Errorf("%s (%d): %s = %q, want %q", c.what, c.p.Status, name, got, want)
				}
			}
		}
		if !strings.Contains(csp, "script-src 'self' 'sha256-") {
			t.Errorf("the pages' CSP is not theirs: %q", csp)
		}
	})
}
