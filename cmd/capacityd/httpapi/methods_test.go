package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A known path asked with a method it does not take answers 405 with the
// methods it does take, on every API route, not only at the top level.
func TestAPI_WrongMethodIsJSON405WithAllow(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "sqlite")
	c := a.newClient()
	tests := []struct {
		method, path string
		allow        []string
	}{
		{http.MethodDelete, "/api/v1/password-rules", []string{http.MethodGet}},
		{http.MethodPut, "/api/v1/sessions", []string{http.MethodPost}},
		{http.MethodPatch, "/api/v1/registrations", []string{http.MethodPost}},
		{http.MethodDelete, "/api/v1/locations/1-123456789/daily-update", []string{http.MethodGet, http.MethodPost}},
		{http.MethodDelete, "/healthz", []string{http.MethodGet, http.MethodHead}},
	}
	for _, tc := range tests {
		r := c.do(tc.method, tc.path, nil)
		r.wantError(http.StatusMethodNotAllowed, "method_not_allowed")
		allow := strings.Split(r.header.Get("Allow"), ", ")
		if r.header.Get("Allow") == "" || slices.Contains(allow, tc.method) {
			t.Errorf("%s %s: Allow %q, want the path's methods without %s", tc.method, tc.path, r.header.Get("Allow"), tc.method)
		}
		for _, m := range tc.allow {
			if !slices.Contains(allow, m) {
				t.Errorf("%s %s: Allow %q lacks %s", tc.method, tc.path, r.header.Get("Allow"), m)
			}
		}
	}
	// An unknown path stays 404.
	c.do(http.MethodDelete, "/api/v1/no-such-thing", nil).wantError(http.StatusNotFound, "not_found")
}
