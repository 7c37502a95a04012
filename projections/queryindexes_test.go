package projections_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/eventstore/bench"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/categorystats"
	"github.com/capacitytracker/capacity/projections/views"
)

// indexes lists the indexes of the named tables: name and definition
// (pg_indexes; sqlite_master, where an automatic index has none).
func indexes(t *testing.T, h *harness, tables []string) []string {
	t.Helper()
	q := `SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`
	if h.kill != nil { // PostgreSQL
		q = `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1`
	}
	var out []string
	for _, table := range tables {
		rows, err := h.db.Query(q, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				t.Fatal(err)
			}
			// SQLite's ALTER TABLE RENAME quotes the table's name in the
			// SQL of its indexes, which the swap recreates from it.
			out = append(out, table+": "+name+": "+strings.ReplaceAll(def, `"`, ""))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	slices.Sort(out)
	return out
}

// TestRebuild_QueryIndexesAfterTheLoad: a rebuild fills fresh tables that
// lack the query indexes of their projection (QueryIndexer) and only
// those, and swaps in tables with exactly the indexes (names and
// definitions) that a fresh create gives; rebuild --all the same, with
// and without the deferral.
func TestRebuild_QueryIndexesAfterTheLoad(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		if err := bench.Fill(ctx, h.store, 3000, nil); err != nil {
			t.Fatal(err)
		}
		var last int64
		if err := h.db.QueryRow(`SELECT max(position) FROM events`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		waitForHead(t, h, last)
		projs := views.Default()
		e, err := projections.NewEngine(h.backend, quietLogger(), projs...)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		var tables []string
		deferred := 0
		for _, p := range projs {
			tables = append(tables, p.Tables()...)
			if qi, ok := p.(projections.QueryIndexer); ok {
				deferred += len(qi.QueryIndexes(projections.Postgres, func(s string) string { return s }))
			}
		}
		fresh := indexes(t, h, tables)
		if len(fresh) == 0 || deferred == 0 {
			t.Fatalf("%d indexes, %d of them query indexes: the test proves nothing", len(fresh), deferred)
		}

		// While the fresh tables fill, they have every index but the
		// query indexes (names with the rebuild suffix).
		freshTables := func() []string {
			var out []string
			for _, t := range tables {
				out = append(out, t+"__rebuild")
			}
			return out
		}()
		var wantLoading []string
		for _, p := range projs {
			schema := p.Schema(dialectOf(h), func(s string) string { return s + "__rebuild" })
			var qis []string
			if qi, ok := p.(projections.QueryIndexer); ok {
				qis = qi.QueryIndexes(dialectOf(h), func(s string) string { return s + "__rebuild" })
			}
			for _, stmt := range schema {
				if strings.HasPrefix(stmt, "CREATE INDEX ") && !slices.Contains(qis, stmt) {
					wantLoading = append(wantLoading, strings.Fields(stmt)[2])
				}
			}
		}
		slices.Sort(wantLoading)
		loadingIndexes := func() []string {
			var out []string
			for _, ix := range indexes(t, h, freshTables) {
				name := strings.Split(ix, ": ")[1]
				if !strings.Contains(name, "autoindex") && !strings.HasSuffix(name, "_pkey") {
					out = append(out, name)
				}
			}
			slices.Sort(out)
			return out
		}

		for _, eager := range []bool{false, true} {
			e.SetEagerIndexes(eager)
			checked := false
			var loading []string
			err := e.RebuildAll(ctx, nil, func(p projections.Progress) {
				if !checked && !p.Swapped {
					checked = true
					loading = loadingIndexes()
				}
			})
			if err != nil {
				t.Fatalf("rebuild all (eager %v): %v", eager, err)
			}
			if !eager && fmt.Sprint(loading) != fmt.Sprint(wantLoading) {
				t.Errorf("secondary indexes of the fresh tables while they fill:\n%v\nwant (Schema without the query indexes):\n%v", loading, wantLoading)
			}
			if eager && len(loading) != len(wantLoading)+deferred {
				t.Errorf("eager: %d secondary indexes while the tables fill, want %d", len(loading), len(wantLoading)+deferred)
			}
			if got := indexes(t, h, tables); fmt.Sprint(got) != fmt.Sprint(fresh) {
				t.Errorf("indexes after rebuild all (eager %v):\n%s\nafter a fresh create:\n%s", eager,
					strings.Join(got, "\n"), strings.Join(fresh, "\n"))
			}
		}
		if err := e.Rebuild(ctx, "audit", nil); err != nil {
			t.Fatal(err)
		}
		if got := indexes(t, h, tables); fmt.Sprint(got) != fmt.Sprint(fresh) {
			t.Errorf("indexes after a rebuild of audit:\n%s\nafter a fresh create:\n%s", strings.Join(got, "\n"), strings.Join(fresh, "\n"))
		}
		assertNoShadowTables(t, h)
	})
}

func dialectOf(h *harness) projections.Dialect {
	if h.kill != nil {
		return projections.Postgres
	}
	return projections.SQLite
}

// badQueryIndexes lists query indexes that NewEngine must refuse.
type badQueryIndexes struct {
	categorystats.Projection
	stmts func(table func(string) string) []string
}

func (b badQueryIndexes) QueryIndexes(_ projections.Dialect, table func(string) string) []string {
	return b.stmts(table)
}

// TestNewEngine_RefusesQueryIndexesNotInSchema: a query index must be a
// plain CREATE INDEX of the projection's Schema, or a rebuild would swap
// in tables that differ from a fresh create (or defer a unique index that
// an ON CONFLICT needs).
func TestNewEngine_RefusesQueryIndexesNotInSchema(t *testing.T) {
	h := openSQLite(t)
	for name, stmts := range map[string]func(table func(string) string) []string{
		"not in Schema": func(table func(string) string) []string {
			return []string{fmt.Sprintf(`CREATE INDEX %s_x ON %s (category)`, table("category_stats"), table("category_stats"))}
		},
		"a table": func(table func(string) string) []string {
			return categorystats.Projection{}.Schema(projections.SQLite, table)[:1]
		},
	} {
		if _, err := projections.NewEngine(h.backend, quietLogger(), badQueryIndexes{stmts: stmts}); err == nil {
			t.Errorf("%s: NewEngine accepted it", name)
		}
	}
	good := badQueryIndexes{stmts: func(table func(string) string) []string {
		return categorystats.Projection{}.Schema(projections.SQLite, table)[1:]
	}}
	if _, err := projections.NewEngine(h.backend, quietLogger(), good); err != nil {
		t.Errorf("NewEngine refused its index on last_event_at: %v", err)
	}
}
