package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// ctl runs capacityctl to completion in dir and returns its exit code and
// output.
func ctl(t *testing.T, bin, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := proctest.Start(t, dir, env, bin, args...)
	code = p.Wait(t, time.Minute)
	return code, p.Stdout.String(), p.Stderr.String()
}

func mustCtl(t *testing.T, bin, dir string, env []string, args ...string) string {
	t.Helper()
	code, out, errOut := ctl(t, bin, dir, env, args...)
	if code != 0 {
		t.Fatalf("capacityctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// seed appends events to the SQLite file the way capacityd would, through
// the real store.
func seed(t *testing.T, path string) (before, after time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	md := eventstore.Metadata{ActorUserID: "user-42", ActorAccountKind: eventstore.AccountPersonal}
	for i, typ := range []string{"ProviderRegistered", "ProviderRenamed", "ProviderRenamed"} {
		ev, err := eventstore.NewEvent(typ, map[string]any{"n": i + 1, "name": fmt.Sprintf("Home %d", i+1)}, md)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, "provider-1", eventstore.Exact(int64(i)), ev); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			time.Sleep(20 * time.Millisecond)
			before = time.Now().UTC()
			time.Sleep(20 * time.Millisecond)
		}
	}
	ev, err := eventstore.NewEvent("LocationAdded", map[string]string{"postcode": "LS1 4AP"}, eventstore.Metadata{ActorAccountKind: eventstore.AccountSystem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "location-7", eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	return before, time.Now().UTC()
}

func TestCapacityctl(t *testing.T) {
	bin := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityctl", raceEnabled)

	t.Run("HelpListsEveryCommand", func(t *testing.T) {
		t.Parallel()
		out, err := exec.Command(bin, "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("capacityctl -h: %v\n%s", err, out)
		}
		for _, want := range []string{"migrate", "events tail", "events stream", "projections status", "projections rebuild", "bench", "DATABASE_URL", "DATA_DIR"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("capacityctl -h does not mention %q", want)
			}
		}
	})

	t.Run("UsageMistakesExitWith2", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, args := range [][]string{{}, {"frobnicate"}, {"events"}, {"events", "stream"}, {"events", "stream", "provider-1", "--as-of", "yesterday"},
			{"projections", "rebuild"}, {"projections", "rebuild", "x", "--all"},
			{"bench", "-single", "many"}, {"bench", "-lag-duration", "10"}, {"bench", "-nonsense"},
			{"bench", "-single", "-5"}, {"bench", "-batched", "0"}, {"bench", "-rebuild", "0"}, {"bench", "-lag-duration", "-1s"}} {
			if code, _, _ := ctl(t, bin, dir, proctest.Env(), args...); code != 2 {
				t.Errorf("capacityctl %v exited %d, want 2", args, code)
			}
		}
	})

	t.Run("BenchMeasuresEverythingOnSQLite", func(t *testing.T) {
		t.Parallel()
		// Tiny sizes: this checks that every measurement runs and reports,
		// not how fast (BENCHMARKS.md has the real runs).
		p := proctest.Start(t, t.TempDir(), proctest.Env(), bin, "bench", "-single", "32", "-batched", "400",
			"-rebuild", "2000", "-lag-duration", "1s")
		code := p.Wait(t, 5*time.Minute)
		out, errOut := p.Stdout.String(), p.Stderr.String()
		if code != 0 {
			t.Fatalf("capacityctl bench exited %d\n%s\n%s", code, out, errOut)
		}
		for _, want := range []string{"backend: sqlite", "ceiling: plain INSERT, 32 conns, 1 rows/tx",
			"append 1 event, 32 writers (median of 3 interleaved)", "append batches of 100 events, 4 writers", "ceiling: plain INSERT, 32 conns, 100 rows/tx",
			"projections (category_stats through Watermill)",
			"live projection catch-up", "projection lag at 1,000 appends/s for 1s", "rebuild category_stats"} {
			if !strings.Contains(out, want) {
				t.Errorf("bench output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("WorksOnTheEmbeddedSQLiteFile", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		env := proctest.Env()
		out := mustCtl(t, bin, dir, env, "migrate")
		if !strings.Contains(out, "sqlite database") || !strings.Contains(out, "schema at version") {
			t.Errorf("migrate printed %q", out)
		}
		dbPath := filepath.Join(dir, "data", "capacity.db")
		if _, err := os.Stat(dbPath); err != nil {
			t.Fatalf("migrate did not create ./data/capacity.db: %v", err)
		}
		before, after := seed(t, dbPath)

		// A table of the whole stream.
		out = mustCtl(t, bin, dir, env, "events", "stream", "provider-1")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "VERSION") {
			t.Fatalf("events stream printed %d lines, want a header and 3 events:\n%s", len(lines), out)
		}
		for i, typ := range []string{"ProviderRegistered", "ProviderRenamed", "ProviderRenamed"} {
			f := strings.Fields(lines[i+1])
			if f[0] != fmt.Sprint(i+1) || f[2] != typ || f[4] != "user-42" {
				t.Errorf("row %d = %q, want version %d, type %s, actor user-42", i+1, lines[i+1], i+1, typ)
			}
		}

		// JSON, and as of a moment after the first event.
		out = mustCtl(t, bin, dir, env, "events", "stream", "provider-1", "--json", "--as-of", before.Format(time.RFC3339Nano))
		var evs []struct {
			Version  int64          `json:"version"`
			Type     string         `json:"type"`
			StreamID string         `json:"stream_id"`
			Data     map[string]any `json:"data"`
			Metadata struct {
				ActorUserID string `json:"actor_user_id"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("events stream --json printed %q: %v", out, err)
		}
		if len(evs) != 1 || evs[0].Version != 1 || evs[0].Type != "ProviderRegistered" || evs[0].Data["name"] != "Home 1" || evs[0].Metadata.ActorUserID != "user-42" {
			t.Errorf("events stream --json --as-of = %+v, want only version 1", evs)
		}
		out = mustCtl(t, bin, dir, env, "events", "stream", "--json", "provider-1", "--as-of", after.Format(time.RFC3339Nano))
		if err := json.Unmarshal([]byte(out), &evs); err != nil || len(evs) != 3 {
			t.Errorf("events stream --json as of now = %d events (%v), want 3", len(evs), err)
		}

		// Projection status: one row per default projection, under a header.
		out = mustCtl(t, bin, dir, env, "projections", "status")
		lines = strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "POISON") {
			t.Errorf("projections status header = %q", lines[0])
		}
		names := make([]string, 0, len(lines)-1)
		for _, l := range lines[1:] {
			names = append(names, strings.Fields(l)[0])
		}

		// Rebuild everything, with a progress bar on stderr.
		code, out, errOut := ctl(t, bin, dir, env, "projections", "rebuild", "--all")
		if code != 0 {
			t.Fatalf("projections rebuild --all: exit %d\n%s%s", code, out, errOut)
		}
		for _, n := range names {
			if !strings.Contains(out, "rebuilt "+n) {
				t.Errorf("rebuild --all did not report %s:\n%s", n, out)
			}
		}
		if len(names) > 0 && (!strings.Contains(errOut, "100.0%") || !strings.Contains(errOut, "events/s") || !strings.Contains(errOut, "ETA")) {
			t.Errorf("rebuild progress on stderr = %q, want percentage, events/s and ETA", errOut)
		}
	})

	t.Run("TailFollowsTheLogUntilInterrupted", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		env := proctest.Env()
		mustCtl(t, bin, dir, env, "migrate")
		seed(t, filepath.Join(dir, "data", "capacity.db"))

		p := proctest.Start(t, dir, env, bin, "events", "tail", "--from", "0", "--poll", "50ms")
		deadline := time.Now().Add(30 * time.Second)
		var lines []string
		for time.Now().Before(deadline) && !p.Exited() {
			lines = nonEmptyLines(p.Stdout.String())
			if len(lines) >= 4 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(lines) != 4 {
			t.Fatalf("tail printed %d lines, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		f := strings.Split(lines[3], "\t")
		if len(f) != 6 || f[1] != "location-7" || f[2] != "1" || f[3] != "LocationAdded" || f[5] != "system" {
			t.Errorf("last tail line = %q, want position, location-7, 1, LocationAdded, recorded_at, system", lines[3])
		}
		if _, err := time.Parse(time.RFC3339Nano, f[4]); err != nil {
			t.Errorf("recorded_at %q: %v", f[4], err)
		}
		p.Signal(t, syscall.SIGINT)
		if code := p.Wait(t, 30*time.Second); code != 0 {
			t.Errorf("tail exited %d after Ctrl-C, want 0", code)
		}
	})

	t.Run("MigratesPostgreSQLOnceAndRefusesAnUnmigratedDatabase", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		env := proctest.Env("DATABASE_URL=" + pgtest.NewDatabase(t))
		code, _, errOut := ctl(t, bin, dir, env, "events", "stream", "provider-1")
		if code != 1 || !strings.Contains(errOut, "capacityctl migrate") {
			t.Errorf("events stream on an unmigrated database: exit %d, %q; want 1 and a hint to migrate", code, errOut)
		}
		out := mustCtl(t, bin, dir, env, "migrate")
		if !strings.Contains(out, "postgres database") || strings.Contains(out, "(0 migration(s)") {
			t.Errorf("first migrate printed %q, want migrations applied", out)
		}
		out = mustCtl(t, bin, dir, env, "migrate")
		if !strings.Contains(out, "(0 migration(s) applied now)") {
			t.Errorf("second migrate printed %q, want none applied", out)
		}
		mustCtl(t, bin, dir, env, "projections", "status")
		if _, err := os.Stat(filepath.Join(dir, "data", "capacity.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a SQLite file was created although DATABASE_URL was set (%v)", err)
		}
	})
}

func nonEmptyLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}
