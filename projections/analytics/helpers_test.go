package analytics_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// The helpers of the view's tests that the engine's tests (package
// projections_test) share among themselves: copies, since a test package
// cannot import another's.

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

// run starts the engine and returns a function that stops it and waits.
func run(t *testing.T, e *projections.Engine) (stop func()) {
	t.Helper()
	return projtest.RunEngine(t, e)
}

// waitAll waits until every projection has applied the log up to pos (a
// liveness bound, not a speed check).
func waitAll(tb testing.TB, e *projections.Engine, pos int64) {
	tb.Helper()
	projtest.WaitFor(tb, e, pos, 10*time.Minute)
}

// dumpTables reads every row of the tables as text, sorted.
func dumpTables(t *testing.T, rm projections.ReadModels, tables []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := rm.Query(context.Background(), func(q projections.Querier) error {
		for _, table := range tables {
			cols, err := columns(q, table)
			if err != nil {
				return err
			}
			exprs := make([]string, len(cols))
			for i, c := range cols {
				exprs[i] = fmt.Sprintf(`COALESCE(CAST(%s AS TEXT), '<null>')`, c)
			}
			rows, err := q.QueryContext(context.Background(),
				fmt.Sprintf(`SELECT %s FROM %s`, strings.Join(exprs, " || '|' || "), table))
			if err != nil {
				return fmt.Errorf("dump %s: %w", table, err)
			}
			var list []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					rows.Close()
					return err
				}
				list = append(list, s)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows.Close()
			slices.Sort(list)
			out[table] = list
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// columns are the columns of a table, in order.
func columns(q projections.Querier, table string) ([]string, error) {
	query := `SELECT name FROM pragma_table_info(?) ORDER BY cid`
	if q.Dialect() == projections.Postgres {
		query = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`
	}
	rows, err := q.QueryContext(context.Background(), query, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s has no columns", table)
	}
	return cols, rows.Err()
}

// diffRows fails the test when the two lists of rows differ.
func diffRows(t *testing.T, what string, live, rebuilt []string) {
	t.Helper()
	if slices.Equal(live, rebuilt) {
		return
	}
	shown := 0
	for _, r := range live {
		if !slices.Contains(rebuilt, r) && shown < 3 {
			t.Errorf("%s: live row not in the rebuild: %s", what, r)
			shown++
		}
	}
	for _, r := range rebuilt {
		if !slices.Contains(live, r) && shown < 6 {
			t.Errorf("%s: rebuilt row not live: %s", what, r)
			shown++
		}
	}
	t.Errorf("%s: %d live rows, %d rebuilt: the view differs from its rebuild", what, len(live), len(rebuilt))
}
