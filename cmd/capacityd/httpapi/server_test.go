package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newServer(t *testing.T, checks ...httpapi.Check) *httptest.Server {
	t.Helper()
	api, err := httpapi.New(httpapi.Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry:     prometheus.NewRegistry(),
		Ready:        checks,
		MaxBodyBytes: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Failed []string          `json:"failed"`
}

func getReady(t *testing.T, srv *httptest.Server) (int, readyBody) {
	t.Helper()
	resp, body := do(t, http.MethodGet, srv.URL+"/readyz", nil)
	var rb readyBody
	if err := json.Unmarshal(body, &rb); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return resp.StatusCode, rb
}

func backendChecks(b *app.Backend) []httpapi.Check {
	return []httpapi.Check{
		{Name: "database", Check: b.CheckDatabase},
		{Name: "migrations", Check: b.CheckMigrations},
	}
}

func openSQLite(t *testing.T) *app.Backend {
	t.Helper()
	b, err := app.Open(context.Background(), app.Config{DataDir: filepath.Join(t.TempDir(), "data")}, app.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestReadyz_Returns200WhenEveryCheckPasses(t *testing.T) {
	t.Parallel()
	srv := newServer(t, backendChecks(openSQLite(t))...)
	code, rb := getReady(t, srv)
	if code != http.StatusOK || rb.Status != "ready" || len(rb.Failed) != 0 {
		t.Fatalf("/readyz = %d %+v, want 200 ready", code, rb)
	}
}

func TestReadyz_Returns503NamingTheDatabaseCheck_WhenSQLiteIsClosed(t *testing.T) {
	t.Parallel()
	b := openSQLite(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, backendChecks(b)...)
	code, rb := getReady(t, srv)
	if code != http.StatusServiceUnavailable || rb.Status != "unavailable" {
		t.Fatalf("/readyz = %d %+v, want 503 unavailable", code, rb)
	}
	if !slices.Contains(rb.Failed, "database") || rb.Checks["database"] == "ok" {
		t.Errorf("/readyz failed = %v checks = %v, want the database check failed", rb.Failed, rb.Checks)
	}
}

func TestReadyz_Returns503NamingTheDatabaseCheck_WhenPostgreSQLIsClosed(t *testing.T) {
	t.Parallel()
	b, err := app.Open(context.Background(), app.Config{DatabaseURL: pgtest.NewDatabase(t), DataDir: t.TempDir()}, app.OpenOptions{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, backendChecks(b)...)
	if code, rb := getReady(t, srv); code != http.StatusOK {
		t.Fatalf("/readyz before closing = %d %+v, want 200", code, rb)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	code, rb := getReady(t, srv)
	if code != http.StatusServiceUnavailable || !slices.Contains(rb.Failed, "database") {
		t.Fatalf("/readyz after closing = %d %+v, want 503 with database failed", code, rb)
	}
}

func TestReadyz_Returns503NamingTheMigrationsCheck_WhenPostgreSQLIsNotMigrated(t *testing.T) {
	t.Parallel()
	b, err := app.Open(context.Background(), app.Config{DatabaseURL: pgtest.NewDatabase(t), DataDir: t.TempDir()}, app.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := newServer(t, backendChecks(b)...)
	code, rb := getReady(t, srv)
	if code != http.StatusServiceUnavailable || !slices.Equal(rb.Failed, []string{"migrations"}) {
		t.Fatalf("/readyz = %d %+v, want 503 with only migrations failed", code, rb)
	}
	if _, err := b.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, rb := getReady(t, srv); code != http.StatusOK {
		t.Fatalf("/readyz after migrating = %d %+v, want 200", code, rb)
	}
}

func TestReadyz_Returns503NamingTheProjectionsCheck_WhenTheEngineIsNotRunning(t *testing.T) {
	t.Parallel()
	b := openSQLite(t)
	engine, err := b.NewEngine(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, append(backendChecks(b), httpapi.Check{Name: "projections", Check: func(context.Context) error {
		if !engine.Running() {
			return errors.New("projection engine is not running")
		}
		return nil
	}})...)
	code, rb := getReady(t, srv)
	if code != http.StatusServiceUnavailable || !slices.Equal(rb.Failed, []string{"projections"}) {
		t.Fatalf("/readyz = %d %+v, want 503 with only projections failed", code, rb)
	}
}

func TestHealthz_Returns200(t *testing.T) {
	t.Parallel()
	srv := newServer(t, httpapi.Check{Name: "never", Check: func(context.Context) error { return errors.New("down") }})
	resp, body := do(t, http.MethodGet, srv.URL+"/healthz", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d %s, want 200 whatever the readiness", resp.StatusCode, body)
	}
}

func decodeError(t *testing.T, resp *http.Response, body []byte) httpapi.ErrorDetail {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	var eb httpapi.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return eb.Error
}

func TestErrors_AreJSON(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	tests := []struct {
		name   string
		method string
		path   string
		body   io.Reader
		status int
		code   string
	}{
		{"unknown path", http.MethodGet, "/no/such/thing", nil, http.StatusNotFound, "not_found"},
		{"unknown api path", http.MethodGet, "/api/v1/events", nil, http.StatusNotFound, "not_found"},
		{"wrong method", http.MethodDelete, "/healthz", nil, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"body over the limit", http.MethodPost, "/healthz", strings.NewReader(strings.Repeat("x", 2048)), http.StatusRequestEntityTooLarge, "body_too_large"},
		{"body under the limit reaches routing", http.MethodPost, "/healthz", strings.NewReader("{}"), http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
			}
			if e := decodeError(t, resp, body); e.Code != tc.code || e.Status != tc.status || e.Message == "" {
				t.Errorf("error = %+v, want code %s", e, tc.code)
			}
		})
	}
}

func TestMetrics_CountRequestsByRouteTemplateAndStatus(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	do(t, http.MethodGet, srv.URL+"/healthz", nil)
	do(t, http.MethodGet, srv.URL+"/healthz", nil)
	do(t, http.MethodGet, srv.URL+"/random/path/1", nil)
	do(t, http.MethodGet, srv.URL+"/random/path/2", nil)
	resp, body := do(t, http.MethodGet, srv.URL+"/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`capacity_http_requests_total{code="200",method="GET",route="/healthz"} 2`,
		`capacity_http_requests_total{code="404",method="GET",route="unmatched"} 2`,
		`capacity_http_request_duration_seconds_count{method="GET",route="/healthz"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "/random/path") {
		t.Errorf("/metrics labels requests by raw path; want the route template only")
	}
}
