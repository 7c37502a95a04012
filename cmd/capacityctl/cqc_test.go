package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/cmd/internal/app"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/queries"
)

const (
	cqcSampleFile    = "../../domain/location/testdata/cqc-locations-sample.json"
	cqcDirectoryFile = "../../domain/location/testdata/cqc-directory.csv"
)

// categories counts the streams of each category.
func categories(streams map[string]int64) map[string]int {
	out := map[string]int{}
	for s := range streams {
		out[strings.SplitN(s, "-", 2)[0]]++
	}
	return out
}

// lastLine is the last line of an output.
func lastLine(s string) string {
	lines := nonEmptyLines(s)
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

func TestCQCImport(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile(cqcSampleFile)
	if err != nil {
		t.Fatal(err)
	}
	// A file of three records: a new location, one without an id, and a
	// sample location whose rating changed.
	var elems []map[string]any
	if err := json.Unmarshal(sample, &elems); err != nil {
		t.Fatal(err)
	}
	fresh, rerated := elems[0], elems[1]
	fresh["locationId"], fresh["postalCode"] = "1-999999990", "PR1 1AA"
	rerated["currentRatings"].(map[string]any)["overall"].(map[string]any)["rating"] = "Outstanding"
	mixed, err := json.Marshal([]any{fresh, map[string]any{"name": "No Id Care"}, rerated})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mixedFile := filepath.Join(dir, "mixed.json")
	notAnArray := filepath.Join(dir, "object.json")
	for name, data := range map[string][]byte{mixedFile: mixed, notAnArray: []byte(`  {"locationId": "1-999999991"}`)} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for _, backend := range []string{app.KindPostgres, app.KindSQLite} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := newCtlDB(t, backend)

			out := db.must("cqc", "import", cqcSampleFile)
			if out != "20 created, 0 changed, 0 unchanged, 0 rejected\n" {
				t.Errorf("first import printed %q", out)
			}
			streams := db.streams()
			if c := categories(streams); c["location"] != 20 || c["organisation"] != 18 || len(c) != 2 {
				t.Errorf("streams after the import: %v", c)
			}

			out = db.must("cqc", "import", cqcSampleFile)
			if out != "0 created, 0 changed, 20 unchanged, 0 rejected\n" {
				t.Errorf("second import printed %q", out)
			}
			db.unchanged("the second import", streams)

			out, errOut := db.fails("cqc", "import", mixedFile)
			wantAll(t, "the mixed file's output", out, "index 1: no locationId\n", "1 created, 1 changed, 0 unchanged, 1 rejected\n")
			wantAll(t, "the mixed file's error", errOut, "1 of 3 records rejected")
			after := db.streams()
			// The new location's provider is known already.
			if total(after)-total(streams) != 2 || after["location-1-999999990"] != 1 || after["location-1-1125959537"] != 2 {
				t.Errorf("the mixed file appended %d events", total(after)-total(streams))
			}

			// The directory CSV: the provider's name for a location the
			// API brought, three new locations and four bad rows.
			out, _ = db.fails("cqc", "import", cqcDirectoryFile)
			wantAll(t, "the directory's output", out, "line 11: no CQC location id\n", "line 12: location_id: ", "line 13: 4 columns, want 15",
				"line 15: location 1-10553191017 appears before, at line 9\n")
			if got := lastLine(out); got != "3 created, 1 changed, 0 unchanged, 4 rejected" {
				t.Errorf("the directory's summary %q", got)
			}

			for _, bad := range []string{notAnArray, filepath.Join(dir, "missing.csv")} {
				before := db.streams()
				_, errOut := db.fails("cqc", "import", bad)
				if errOut == "" {
					t.Errorf("%s: no error", bad)
				}
				db.unchanged("a file that is not CQC's", before)
			}
			for _, args := range [][]string{{"cqc"}, {"cqc", "export"}, {"cqc", "import"}, {"cqc", "import", "a", "b"}} {
				if code, _, _ := db.ctl(args...); code != 2 {
					t.Errorf("capacityctl %v exited %d, want 2", args, code)
				}
			}

			// The directory read model follows the imports.
			ctx := context.Background()
			b := db.open()
			defer b.Close()
			engine, err := b.NewEngine(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			catchUpTo(t, b, engine, directory.Projection{}.Name(), lastPosition(t, b, db.streams()))
			rm := projections.NewReadModels(b.ProjectionBackend())
			// Mosaic at PR2 1JR is deregistered: kept in the directory, not
			// offered to register for.
			found, err := queries.Service{ReadModels: rm, Waiter: engine}.LocationsByPostcode(ctx, "pr21jr")
			if err != nil || len(found) != 0 {
				t.Errorf("locations offered at PR2 1JR: %+v, %v; want none", found, err)
			}
			type row struct{ name, org, orgName, ccg, la, region, cqcRegion, status string }
			read := func(id string) row {
				var r row
				err := rm.Query(ctx, func(q projections.Querier) error {
					rows, err := q.QueryContext(ctx, `SELECT l.name, l.organisation_id, l.organisation_name, l.ccg, l.local_authority,
    l.nhs_region, l.cqc_region, l.registration_status FROM locations l WHERE l.location_id = ?`, id)
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
						if err := rows.Scan(&r.name, &r.org, &r.orgName, &r.ccg, &r.la, &r.region, &r.cqcRegion, &r.status); err != nil {
							return err
						}
					}
					return rows.Err()
				})
				if err != nil {
					t.Fatalf("location %s: %v", id, err)
				}
				return r
			}
			if got, want := read("1-112787350"), (row{"Mosaic Care Group Limited", "1-101685791", "Mosaic Care Group Ltd", "NHS Greater Preston CCG",
				"Lancashire", "North West", "North West", "Deregistered"}); got != want {
				t.Errorf("Mosaic's row = %+v, want %+v", got, want)
			}
			if got := read("1-2000000001"); got.region != "North East and Yorkshire" || got.cqcRegion != "Yorkshire & Humberside" ||
				got.status != "" || got.orgName != "Rose Care Ltd" {
				t.Errorf("Rose Lodge's row: %+v", got)
			}
		})
	}
}

// lastPosition is the position of the last event of the streams, read
// stream by stream: on PostgreSQL the log's head (HeadPosition) stays
// below any write transaction open on the server, other tests' included.
func lastPosition(t *testing.T, b *app.Backend, streams map[string]int64) int64 {
	t.Helper()
	var last int64
	for s := range streams {
		evs, err := b.Store.ReadStream(context.Background(), s, eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			last = max(last, ev.Position)
		}
	}
	return last
}

// catchUpTo runs the projection engine until the named projection has
// applied the log up to position.
func catchUpTo(t *testing.T, b *app.Backend, engine *projections.Engine, name string, position int64) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx) }()
	var err error
	for {
		err = engine.WaitFor(ctx, []string{name}, position)
		if !errors.Is(err, projections.ErrNotCaughtUp) {
			break
		}
		select {
		case runErr := <-done:
			stop()
			t.Fatalf("the projection engine stopped before %s caught up: %v", name, runErr)
		default:
		}
	}
	stop()
	if runErr := <-done; runErr != nil && !errors.Is(runErr, context.Canceled) {
		err = errors.Join(err, runErr)
	}
	if err != nil {
		t.Fatalf("bring %s up to position %d: %v", name, position, err)
	}
}
