package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
)

// rebuildDB is a migrated database of one backend for the rebuild tests,
// with the environment that points capacityctl at it and a database/sql
// handle for the test's own reads.
type rebuildDB struct {
	dir string
	env []string
	db  *sql.DB
	pg  bool
}

// newRebuildDB migrates a fresh database through capacityctl and fills its
// log with events events over 200 streams of 50 categories, appended
// through the real store in large atomic batches (faster than seed, and
// enough that a rebuild of category_stats takes a few batches).
func newRebuildDB(t *testing.T, bin string, pg bool, events int) *rebuildDB {
	t.Helper()
	ctx := context.Background()
	r := &rebuildDB{dir: t.TempDir(), pg: pg}
	var store eventstore.Store
	if pg {
		url := pgtest.NewDatabase(t)
		r.env = proctest.Env("DATABASE_URL="+url, "LOG_LEVEL=info")
		mustCtl(t, bin, r.dir, r.env, "migrate")
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store = postgres.New(pool)
		if r.db, err = sql.Open("pgx", url); err != nil {
			t.Fatal(err)
		}
	} else {
		r.env = proctest.Env("LOG_LEVEL=info")
		mustCtl(t, bin, r.dir, r.env, "migrate")
		st, err := sqlite.Open(ctx, filepath.Join(r.dir, "data", "capacity.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		store, r.db = st, st.DB()
	}
	if pg {
		t.Cleanup(func() { _ = r.db.Close() })
	}
	md := eventstore.Metadata{ActorAccountKind: eventstore.AccountSystem}
	const streams, perAppend = 200, 2000
	versions := make([]int64, streams)
	for done := 0; done < events; {
		var reqs []eventstore.AppendRequest
		for s := 0; s < streams && done < events; s++ {
			n := min(perAppend/streams, events-done)
			req := eventstore.AppendRequest{StreamID: fmt.Sprintf("cat%02d-%d", s%50, s), Expected: eventstore.Exact(versions[s])}
			for i := range n {
				ev, err := eventstore.NewEvent("Counted", map[string]int{"i": done + i}, md)
				if err != nil {
					t.Fatal(err)
				}
				req.Events = append(req.Events, ev)
			}
			versions[s] += int64(n)
			done += n
			reqs = append(reqs, req)
		}
		if _, err := store.AppendMany(ctx, reqs); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	waitHead(t, store, r.int(t, `SELECT max(position) FROM events`))
	return r
}

// waitHead waits until the store's gap-safe head reaches position: on
// PostgreSQL a transaction anywhere on the server (another test's) holds it
// back for a moment, and a rebuild started before then would stop short of
// the log's end.
func waitHead(t *testing.T, store eventstore.Store, position int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		head, err := store.HeadPosition(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if head >= position {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the head of the log stayed at %d, want %d", head, position)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rows returns every row of a table as text, in order.
func (r *rebuildDB) rows(t *testing.T, query string) []string {
	t.Helper()
	rows, err := r.db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rebuildDB) int(t *testing.T, query string) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := r.db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n.Int64
}

// checkCategoryStatsAsFresh checks that the live category_stats equals a
// rebuild that ran alone: the same rows before and after one, every event
// of the log counted, the checkpoint at the head of the log and no poison.
func (r *rebuildDB) checkCategoryStatsAsFresh(t *testing.T, bin string, events int) {
	t.Helper()
	const q = `SELECT category, event_count, last_position FROM category_stats ORDER BY category`
	live := r.rows(t, q)
	checkpoint := r.int(t, `SELECT position FROM projection_checkpoints WHERE name = 'category_stats'`)
	poison := r.int(t, `SELECT count(*) FROM projection_poison WHERE projection = 'category_stats'`)
	counted := r.int(t, `SELECT sum(event_count) FROM category_stats`)
	head := r.int(t, `SELECT max(position) FROM events`)

	mustCtl(t, bin, r.dir, r.env, "projections", "rebuild", "category_stats")
	fresh := r.rows(t, q)
	if strings.Join(live, "\n") != strings.Join(fresh, "\n") {
		t.Errorf("the live category_stats differs from a fresh rebuild:\nlive:  %v\nfresh: %v", live, fresh)
	}
	if counted != int64(events) {
		t.Errorf("the live category_stats counts %d events, the log has %d", counted, events)
	}
	if checkpoint != head {
		t.Errorf("checkpoint %d, want the head of the log %d", checkpoint, head)
	}
	if poison != 0 {
		t.Errorf("%d poison events recorded", poison)
	}
	if n := r.int(t, `SELECT count(*) FROM projection_poison WHERE projection = 'category_stats'`); n != 0 {
		t.Errorf("the fresh rebuild recorded %d poison events", n)
	}
}

// waitOutput waits until the process printed want on stderr (or ended).
func waitOutput(t *testing.T, p *proctest.Process, want string) bool {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Stderr.String(), want) {
			return true
		}
		if p.Exited() {
			return strings.Contains(p.Stderr.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %q within a minute:\n%s", want, p.Stderr.String())
	return false
}

// TestProjectionsRebuild_TwoProcessesAtOnce is the fault run's
// reproduction: two `capacityctl projections rebuild category_stats`
// started one after the other on one database, the second while the first
// replays the log. The second refuses (it must never share or drop the
// first one's fresh tables), and the live view then equals a rebuild that
// ran alone, with its checkpoint at the head and no poison.
func TestProjectionsRebuild_TwoProcessesAtOnce(t *testing.T) {
	bin := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityctl", raceEnabled)
	for _, backend := range []struct {
		name   string
		pg     bool
		events int
	}{{"PostgreSQL", true, 60_000}, {"SQLite", false, 40_000}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			r := newRebuildDB(t, bin, backend.pg, backend.events)
			first := proctest.Start(t, r.dir, r.env, bin, "projections", "rebuild", "category_stats")
			waitOutput(t, first, "rebuild started")
			second := proctest.Start(t, r.dir, r.env, bin, "projections", "rebuild", "category_stats")
			codes := []int{first.Wait(t, 2*time.Minute), second.Wait(t, 2*time.Minute)}
			ok := 0
			for i, p := range []*proctest.Process{first, second} {
				if codes[i] == 0 {
					ok++
					continue
				}
				msg := p.Stderr.String()
				if !strings.Contains(msg, "rebuild of category_stats is already running in another process (capacityctl pid ") {
					t.Errorf("rebuild %d: exit %d without saying that another one runs, and which:\n%s", i+1, codes[i], msg)
				}
				t.Logf("rebuild %d refused: %s", i+1, msg[strings.LastIndex(strings.TrimSpace(msg), "\n")+1:])
			}
			if ok == 0 {
				t.Errorf("neither rebuild succeeded")
			}
			t.Logf("exit codes %v", codes)
			r.checkCategoryStatsAsFresh(t, bin, backend.events)
		})
	}
}

// shadowTables counts the fresh tables of rebuilds (TABLE__rebuild).
func (r *rebuildDB) shadowTables(t *testing.T) int64 {
	t.Helper()
	if r.pg {
		return r.int(t, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%\_\_rebuild' ESCAPE '\'`)
	}
	return r.int(t, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE '%\_\_rebuild' ESCAPE '\'`)
}

// TestProjectionsRebuild_KilledMidWayThenStartedAgain: a rebuild killed
// with SIGKILL while it replays the log leaves its fresh tables and its
// record behind (and its lock goes with the process); the next rebuild
// takes the lock, drops the leftovers, says so, and swaps in a correct
// view.
func TestProjectionsRebuild_KilledMidWayThenStartedAgain(t *testing.T) {
	bin := proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityctl", raceEnabled)
	for _, backend := range []struct {
		name   string
		pg     bool
		events int
	}{{"PostgreSQL", true, 60_000}, {"SQLite", false, 40_000}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			r := newRebuildDB(t, bin, backend.pg, backend.events)
			killed := proctest.Start(t, r.dir, r.env, bin, "projections", "rebuild", "category_stats")
			waitOutput(t, killed, "rebuild started")
			if err := killed.Cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			for !killed.Exited() {
				time.Sleep(5 * time.Millisecond)
			}
			if n := r.shadowTables(t); n != 1 {
				t.Fatalf("the killed rebuild left %d fresh tables, want 1 (did it finish before the kill?)", n)
			}
			owner := r.rows(t, `SELECT owner FROM projection_rebuilds WHERE projection = 'category_stats'`)
			if want := fmt.Sprintf("capacityctl pid %d on ", killed.Cmd.Process.Pid); len(owner) != 1 || !strings.HasPrefix(owner[0], want) {
				t.Fatalf("the record of the killed rebuild: %v, want %q...", owner, want)
			}

			code, out, errOut := ctl(t, bin, r.dir, r.env, "projections", "rebuild", "category_stats")
			if code != 0 || !strings.Contains(out, "rebuilt category_stats") {
				t.Fatalf("the rebuild after the killed one: exit %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "dropped the fresh tables of a rebuild that did not finish") || !strings.Contains(errOut, owner[0]) {
				t.Errorf("the rebuild did not say it dropped the killed one's tables:\n%s", errOut)
			}
			if n, records := r.shadowTables(t), r.int(t, `SELECT count(*) FROM projection_rebuilds`); n != 0 || records != 0 {
				t.Errorf("%d fresh tables and %d rebuild records left", n, records)
			}
			r.checkCategoryStatsAsFresh(t, bin, backend.events)
		})
	}
}
