package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// apiHeaders are the security headers of every API answer over plain HTTP.
var apiHeaders = map[string]string{
	"Cache-Control":              "no-store",
	"Content-Security-Policy":    "default-src 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":     "nosniff",
	"X-Frame-Options":            "DENY",
	"Referrer-Policy":            "no-referrer",
	"Cross-Origin-Opener-Policy": "same-origin",
	"Strict-Transport-Security":  "",
}

func wantHeaders(t *testing.T, what string, got http.Header, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if g := strings.Join(got.Values(name), ", "); g != v {
			t.Errorf("%s: %s = %q, want %q", what, name, g, v)
		}
	}
}

func TestSecurityHeaders_OnEveryAPIAnswer(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)
		var created struct {
			Token string `json:"token"`
		}
		c.post("/api/v1/me/api-tokens", map[string]string{"name": "headers"}).want(http.StatusCreated).decode(&created)
		w.secrets.add("API token", created.Token)
		bot := w.newClient()
		bot.bearer = created.Token
		anon := w.newClient()
		for _, r := range []response{
			c.get("/api/v1/me").want(http.StatusOK),
			bot.get("/api/v1/me").want(http.StatusOK),
			c.get("/api/v1/locations/" + orgA.loc(0)).want(http.StatusOK),
			c.get("/api/v1/home-care.xlsx").want(http.StatusOK),
			c.put("/api/v1/me/communications", map[string]bool{"opt_in": true}).want(http.StatusOK),
			c.delete("/api/v1/users/" + w.standardA.ID.String() + "/sessions/00000000-0000-0000-0000-000000000000").want(http.StatusNotFound),
			anon.get("/api/v1/me").want(http.StatusUnauthorized),
			anon.get("/api/v1/providers").want(http.StatusOK),
			anon.get("/api/v1/no-such-thing").want(http.StatusNotFound),
			anon.do(http.MethodPost, "/api/v1/sessions", rawBody{bytes.NewReader(make([]byte, maxBody+1)), "application/json"}).
				want(http.StatusRequestEntityTooLarge),
			anon.get("/healthz").want(http.StatusOK),
		} {
			wantHeaders(t, r.req, r.header, apiHeaders)
		}
	})
}

func TestSecurityHeaders_StrictTransportSecurityOnlyOverTLS(t *testing.T) {
	t.Parallel()
	newServer := func(secureCookies bool) http.Handler {
		srv, err := httpapi.New(httpapi.Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
			SecureCookies: secureCookies})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	get := func(ts *httptest.Server) http.Header {
		resp, err := ts.Client().Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	for _, tc := range []struct {
		name          string
		tls, proxyTLS bool
		want          string
	}{
		{"PlainHTTP", false, false, ""},
		{"TLS", true, false, "max-age=31536000"},
		{"BehindATLSProxy", false, true, "max-age=31536000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts *httptest.Server
			if tc.tls {
				ts = httptest.NewTLSServer(newServer(tc.proxyTLS))
			} else {
				ts = httptest.NewServer(newServer(tc.proxyTLS))
			}
			defer ts.Close()
			want := map[string]string{"Strict-Transport-Security": tc.want}
			for k, v := range apiHeaders {
				if k != "Strict-Transport-Security" {
					want[k] = v
				}
			}
			wantHeaders(t, tc.name, get(ts), want)
		})
	}
}

func TestSecurityHeaders_APortSetsItsOwnPolicyAndAHandlerMayOverride(t *testing.T) {
	t.Parallel()
	pages := httpapi.SecurityHeaders{ContentSecurityPolicy: "default-src 'self'", ReferrerPolicy: "strict-origin-when-cross-origin"}
	h := pages.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/static/app.css" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		w.WriteHeader(http.StatusOK)
	}))
	for path, cache := range map[string]string{"/": "no-store", "/static/app.css": "public, max-age=31536000, immutable"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		wantHeaders(t, path, rec.Header(), map[string]string{
			"Content-Security-Policy": "default-src 'self'", "Referrer-Policy": "strict-origin-when-cross-origin",
			"Cache-Control": cache, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Strict-Transport-Security": "",
		})
	}
}
