package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// server is a capacityd process under test.
type server struct {
	*proctest.Process
	base string
	dir  string
}

func startServer(t *testing.T, bin string, extraEnv ...string) *server {
	t.Helper()
	dir := t.TempDir()
	addr := proctest.FreeAddr(t)
	p := proctest.Start(t, dir, proctest.Env(extraEnv...), bin, "-addr", addr, "-log-level", "debug")
	return &server{Process: p, base: "http://" + addr, dir: dir}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// checkServing asserts what every running server must answer.
func checkServing(t *testing.T, s *server) {
	t.Helper()
	if code, _, body := get(t, s.base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s, want 200", code, body)
	}

	code, _, body := get(t, s.base+"/readyz")
	if code != http.StatusOK {
		t.Fatalf("/readyz = %d %s, want 200", code, body)
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	for _, name := range []string{"database", "migrations", "projections"} {
		if ready.Checks[name] != "ok" {
			t.Errorf("/readyz check %s = %q, want ok", name, ready.Checks[name])
		}
	}

	code, hdr, body := get(t, s.base+"/api/v1/no/such/resource")
	if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("unknown API path = %d %s %q, want a JSON 404", code, hdr.Get("Content-Type"), body)
	}
	// Outside the API, the web pages: the sign-in page, and a 404 page.
	code, hdr, body = get(t, s.base+"/sign-in")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "<h1>Sign in to Capacity Tracker</h1>") {
		t.Errorf("/sign-in = %d %s, want the sign-in page", code, hdr.Get("Content-Type"))
	}
	code, hdr, _ = get(t, s.base+"/no/such/page")
	if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("unknown page = %d %s, want the 404 page", code, hdr.Get("Content-Type"))
	}

	code, _, body = get(t, s.base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d, want 200", code)
	}
	for _, name := range []string{
		httpapi.MetricHTTPRequests,
		httpapi.MetricHTTPDuration,
		app.MetricAppendRequests,
		app.MetricAppendedEvents,
		app.MetricAppendDuration,
		app.MetricProjPosition,
		app.MetricProjLagEvents,
		app.MetricProjLagSeconds,
		app.MetricProjPoison,
		`route="/readyz"`,
		`route="unmatched"`,
		`route="GET /sign-in"`,
		"go_goroutines",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics does not mention %s", name)
		}
	}
}

// stopCleanly sends SIGTERM and expects exit code 0 and a logged shutdown.
func stopCleanly(t *testing.T, s *server) {
	t.Helper()
	if code := s.Stop(t, stopTimeout); code != 0 {
		t.Fatalf("capacityd exited with %d after SIGTERM, want 0", code)
	}
	logs := s.Stderr.String()
	for _, want := range []string{"shutdown requested", "http server stopped", "projection engine stopped", "shutdown complete"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not mention %q", want)
		}
	}
	if strings.Contains(logs, "DATA RACE") {
		t.Errorf("the race detector reported a data race")
	}
}

func TestCapacityd(t *testing.T) {
	bin := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityd", raceEnabled)

	t.Run("HelpDocumentsEveryFlagAndVariable", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, "-h")
		cmd.Env = proctest.Env("DATABASE_URL=postgres://capacity:s3cret@127.0.0.1:1/capacity")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("capacityd -h: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "s3cret") {
			t.Errorf("capacityd -h shows the password of DATABASE_URL")
		}
		for _, want := range []string{"-addr", "ADDR", "-database-url", "DATABASE_URL", "-data-dir", "DATA_DIR",
			"-log-level", "LOG_LEVEL", "-log-format", "LOG_FORMAT", "-shutdown-timeout", "SHUTDOWN_TIMEOUT", "/readyz",
			"-public-url", "PUBLIC_URL", "-smtp-host", "SMTP_HOST", "SMTP_PASSWORD", "-mail-from", "MAIL_FROM",
			"-lockout-attempts", "LOCKOUT_ATTEMPTS", "-lockout-duration", "LOCKOUT_DURATION"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("capacityd -h does not mention %s", want)
			}
		}
	})

	t.Run("RejectsBadFlagsWithExitCode2", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"-log-format", "xml"}, {"-database-url", "mysql://x"}, {"extra"},
			{"-lockout-attempts", "0"}, {"-lockout-duration", "-1h"}, {"-public-url", "not a url"}, {"-mail-from", "nobody"},
			{"-smtp-host", "mail.example", "-smtp-port", "0"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = proctest.Env()
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
				t.Errorf("capacityd %v: %v, want exit code 2", args, err)
			}
		}
	})

	t.Run("ServesOnEmbeddedSQLiteAndStopsCleanlyOnSIGTERM", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, bin)
		s.WaitHTTP(t, s.base+"/readyz", http.StatusOK, readyTimeout)
		checkServing(t, s)
		stopCleanly(t, s)
		for _, p := range []string{filepath.Join("data", "capacity.db"), filepath.Join("data", "mail")} {
			if _, err := os.Stat(filepath.Join(s.dir, p)); err != nil {
				t.Errorf("embedded default did not create ./%s: %v", p, err)
			}
		}
		if !strings.Contains(s.Stderr.String(), "backend=sqlite") {
			t.Errorf("log does not say the backend is sqlite")
		}
	})

	t.Run("ServesOnPostgreSQLAndStopsCleanlyOnSIGTERM", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, bin, "DATABASE_URL="+pgtest.NewDatabase(t), "LOG_FORMAT=json")
		s.WaitHTTP(t, s.base+"/readyz", http.StatusOK, readyTimeout)
		checkServing(t, s)
		stopCleanly(t, s)
		if !strings.Contains(s.Stderr.String(), `"backend":"postgres"`) {
			t.Errorf("JSON log does not say the backend is postgres")
		}
		if _, err := os.Stat(filepath.Join(s.dir, "data", "capacity.db")); err == nil {
			t.Errorf("a SQLite file was created although DATABASE_URL was set")
		}
	})

	t.Run("TwoServersStartingTogetherOnAFreshPostgreSQLDatabaseBothBecomeReady", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		servers := []*server{startServer(t, bin, "DATABASE_URL="+url), startServer(t, bin, "DATABASE_URL="+url)}
		// Both processes are already starting; waiting for them one after
		// the other does not serialize their start.
		for _, s := range servers {
			s.WaitHTTP(t, s.base+"/readyz", http.StatusOK, readyTimeout)
		}
		all, err := migrations.Load(app.KindPostgres)
		if err != nil {
			t.Fatal(err)
		}
		// The advisory lock lets exactly one of them apply the migrations;
		// the other finds them applied.
		var got []string
		for _, s := range servers {
			logs := s.Stderr.String()
			switch {
			case strings.Contains(logs, fmt.Sprintf("migrations_applied=%d ", len(all))):
				got = append(got, "all")
			case strings.Contains(logs, "migrations_applied=0 "):
				got = append(got, "none")
			default:
				got = append(got, "other")
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != "all,none" {
			t.Errorf("servers applied %v of the migrations, want one all and one none", got)
		}
		for _, s := range servers {
			stopCleanly(t, s)
		}
	})
}
