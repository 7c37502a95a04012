package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/capacitytracker/capacity/cmd/internal/app"
)

func TestSeed(t *testing.T) {
	t.Parallel()
	summary := regexp.MustCompile(`^seeded 60 locations, (\d+) organisations and 12 GP practices: (\d+) events in \S+ \(\d+ locations/s, \d+ events/s\)\n$`)
	for _, backend := range []string{app.KindPostgres, app.KindSQLite} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := newCtlDB(t, backend)
			code, out, errOut := db.ctl("seed", "-locations", "60", "-gp-practices", "12", "-seed", "7")
			if code != 0 {
				t.Fatalf("seed: exit %d\n%s%s", code, out, errOut)
			}
			m := summary.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("seed printed %q", out)
			}
			wantAll(t, "seed's progress", errOut, "/60 locations", "locations/s")
			orgs, _ := strconv.Atoi(m[1])
			events, _ := strconv.ParseInt(m[2], 10, 64)
			streams := db.streams()
			if c := categories(streams); c["location"] != 60 || c["organisation"] != orgs+12 || len(c) != 2 || total(streams) != events {
				t.Errorf("streams after the seed: %v, %d events; it said %d organisations, %d events", c, total(streams), orgs, events)
			}

			_, errOut = db.fails("seed", "-locations", "60")
			wantAll(t, "a second seed's error", errOut, "not empty")
			db.unchanged("a second seed", streams)

			for _, args := range [][]string{{"seed", "-locations", "0"}, {"seed", "-locations", "many"}, {"seed", "-gp-practices", "-1"},
				{"seed", "extra"}, {"seed", "-locations", fmt.Sprint(2_000_000)}} {
				if code, _, _ := db.ctl(args...); code != 2 {
					t.Errorf("capacityctl %v exited %d, want 2", args, code)
				}
			}
		})
	}
}

func TestSeedAndGPImport_AreInTheHelp(t *testing.T) {
	t.Parallel()
	db := &ctlDB{t: t, cfg: app.Config{DataDir: t.TempDir()}}
	code, _, errOut := db.ctl("-h")
	if code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	wantAll(t, "capacityctl -h", errOut, "gp import FILE.csv", "seed [-locations N] [-seed S] [-gp-practices N]")
	code, _, errOut = db.ctl("seed", "-h")
	if code != 0 {
		t.Fatalf("seed -h: exit %d", code)
	}
	wantAll(t, "capacityctl seed -h", errOut, "recorded_at", "-locations", "-seed", "-gp-practices", "Refuses a database")
}
