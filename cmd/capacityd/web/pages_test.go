package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

func TestWeb_SignInShowsEachFieldErrorAndKeepsTheEmail(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		b := s.client()
		before := s.eventCount()

		p := b.post("/sign-in", url.Values{}).wantPage(t, http.StatusUnprocessableEntity, "Sign in to Capacity Tracker")
		if got, want := p.summary(), [][2]string{{"email", "Enter your email address"}, {"password", "Enter your password"}}; !equalPairs(got, want) {
			t.Errorf("error summary %v, want %v", got, want)
		}
		if !strings.HasPrefix(p.title(), "Error: ") {
			t.Errorf("title %q does not start with Error: ", p.title())
		}
		for _, id := range []string{"email-error", "password-error"} {
			if !strings.Contains(p.Body, `id="`+id+`"`) {
				t.Errorf("no inline message %s", id)
			}
		}
		if s.eventCount() != before {
			t.Error("an empty form appended events")
		}

		p = b.post("/sign-in", url.Values{"email": {sam.Email}, "password": {"Not-the-password-1"}, "remember_me": {"yes"}}).
			wantPage(t, http.StatusUnauthorized, "Sign in to Capacity Tracker")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"email", httpapi.LoginFailed} {
			t.Errorf("error summary %v, want the one sign-in message on email", got)
		}
		if !strings.Contains(p.Body, `value="`+sam.Email+`"`) || !strings.Contains(p.Body, `value="yes" checked`) {
			t.Error("the email and Remember me do not come back after the error")
		}
		if strings.Contains(p.Body, "Not-the-password-1") {
			t.Error("the password typed comes back in the page")
		}
		if n := strings.Count(p.Body, "the account is locked for 24 hours"); n != 1 {
			t.Errorf("the lockout rule is on the page %d times, want once", n)
		}
		// Unknown address: the same message.
		p = b.post("/sign-in", url.Values{"email": {"nobody@example.nhs.uk"}, "password": {"Not-the-password-1"}})
		if got := p.summary(); len(got) != 1 || got[0][1] != httpapi.LoginFailed {
			t.Errorf("unknown email: summary %v", got)
		}

		b.signIn(sam, "/")
		b.get("/").wantPage(t, http.StatusOK, "Main Menu")
		if c := b.get("/sign-in"); c.Status != http.StatusSeeOther {
			t.Errorf("the sign-in page of a signed-in person answers %d, want a redirect to the Main Menu", c.Status)
		}
	})
}

func TestWeb_SignedInFormsRefuseAMissingOrWrongToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		b := s.client()
		b.signIn(sam, "/")
		before := s.eventCount()
		for name, form := range map[string]url.Values{
			"missing": {"current_password": {sam.Password}, "new_password": {"A-whole-new-password-9"}},
			"wrong":   {"current_password": {sam.Password}, "new_password": {"A-whole-new-password-9"}, "csrf_token": {"forged"}},
		} {
			b.post("/change-password", form).wantPage(t, http.StatusForbidden, "You cannot do this")
			b.post("/sign-out", url.Values{"csrf_token": form["csrf_token"]}).wantPage(t, http.StatusForbidden, "You cannot do this")
			_ = name
		}
		if s.eventCount() != before {
			t.Error("a form without its token changed something")
		}
		// The session is still alive and signs out with its token.
		b.post("/sign-out", url.Values{"csrf_token": {b.csrf("/")}}).wantRedirect(t, "/sign-in?done=signed-out")
		b.get("/").wantRedirect(t, "/sign-in")
	})
}

func TestWeb_CrossSitePostsAreRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		before := s.eventCount()
		form := url.Values{"email": {sam.Email}, "password": {sam.Password}}
		b := s.client()
		b.post("/sign-in", form, "Sec-Fetch-Site", "cross-site").wantPage(t, http.StatusForbidden, "You cannot do this")
		b.post("/sign-in", form, "Sec-Fetch-Site", "", "Origin", "https://evil.example").wantPage(t, http.StatusForbidden, "You cannot do this")
		b.post("/forgotten-password", url.Values{"email": {sam.Email}}, "Sec-Fetch-Site", "cross-site").wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Error("a cross-site post changed something")
		}
	})
}

func TestWeb_OversizedFormIsRefusedWithAPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		before := s.eventCount()
		big := url.Values{"email": {strings.Repeat("a", maxBody)}, "password": {"x"}}
		s.client().post("/sign-in", big).wantPage(t, http.StatusRequestEntityTooLarge, "What you sent is too large")
		// Without Content-Length the limit holds while reading.
		req, err := http.NewRequest(http.MethodPost, s.url+"/forgotten-password", io.MultiReader(strings.NewReader("email="), strings.NewReader(strings.Repeat("b", 2*maxBody))))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		s.client().do(req).wantPage(t, http.StatusRequestEntityTooLarge, "What you sent is too large")
		if s.eventCount() != before {
			t.Error("an oversized form changed something")
		}
	})
}

func TestWeb_AnonymousPersonIsSentToSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		b := s.client()
		for _, path := range []string{"/", "/change-password", "/disclaimer"} {
			b.get(path).wantRedirect(t, "/sign-in")
		}
		b.post("/change-password", url.Values{"new_password": {"x"}}).wantRedirect(t, "/sign-in")
		b.get("/help").wantPage(t, http.StatusOK, "Help")
		b.get("/forgotten-password").wantPage(t, http.StatusOK, "Reset your password")
	})
}

func TestWeb_ErrorPagesAreNHSPagesNotJSON(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		b := s.client()
		b.get("/no-such-page").wantPage(t, http.StatusNotFound, "Page not found")
		req, err := http.NewRequest(http.MethodDelete, s.url+"/sign-in", nil)
		if err != nil {
			t.Fatal(err)
		}
		p := b.do(req).wantPage(t, http.StatusMethodNotAllowed, "You cannot do this on this page")
		if got := p.Header.Get("Allow"); got != "GET, HEAD, POST" {
			t.Errorf("Allow %q", got)
		}
		// The API keeps its JSON errors.
		if p := b.get("/api/v1/no-such-thing"); p.Status != http.StatusNotFound || !strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
			t.Errorf("API 404: %d %s", p.Status, p.Header.Get("Content-Type"))
		}
	})
}

func TestWeb_HeadersCachingAndCompression(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		b := s.client()
		p := b.get("/sign-in")
		csp := p.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self' 'sha256-", "style-src 'self';", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
			t.Errorf("CSP %q allows inline code or another host", csp)
		}
		for h, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := p.Header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		if p.Header.Get("Strict-Transport-Security") != "" {
			t.Error("HSTS over plain HTTP")
		}
		// Go's client asks for gzip and undoes it itself unless asked
		// explicitly: ask, and read the compressed bytes.
		css := regexp.MustCompile(`href="(/assets/[0-9a-f]+/nhsuk-frontend\.min\.css)"`).FindStringSubmatch(p.Body)
		if css == nil {
			t.Fatal("no stylesheet link")
		}
		for _, c := range []struct {
			path, encoding, cache string
		}{
			{css[1], "gzip", "public, max-age=31536000, immutable"},
			{strings.Replace(css[1], "nhsuk-frontend.min.css", "assets/images/nhsuk-icon-180.png", 1), "", "public, max-age=31536000, immutable"},
			{"/sign-in", "gzip", "no-store"},
		} {
			req, err := http.NewRequest(http.MethodGet, s.url+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", "gzip")
			res := b.do(req)
			if res.Status != http.StatusOK || res.Header.Get("Content-Encoding") != c.encoding || res.Header.Get("Cache-Control") != c.cache {
				t.Errorf("%s: %d, encoding %q, cache %q; want encoding %q, cache %q", c.path, res.Status,
					res.Header.Get("Content-Encoding"), res.Header.Get("Cache-Control"), c.encoding, c.cache)
				continue
			}
			if c.encoding == "gzip" {
				zr, err := gzip.NewReader(strings.NewReader(res.Body))
				if err != nil {
					t.Fatalf("%s: %v", c.path, err)
				}
				if _, err := io.ReadAll(zr); err != nil {
					t.Fatalf("%s: %v", c.path, err)
				}
			}
		}
		b.get("/assets/0000000000000000/nhsuk-frontend.min.css").wantPage(t, http.StatusNotFound, "Page not found")
	})
}

func equalPairs(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
