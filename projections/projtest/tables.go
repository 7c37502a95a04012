package projtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/projections"
)

// The read models' rows as text, for the tests that compare a view with
// its rebuild or with another view.

// DumpTables reads every row of the tables as text ("|"-joined columns,
// "<null>" for NULL), sorted, by table.
func DumpTables(t testing.TB, rm projections.ReadModels, tables []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := rm.Query(context.Background(), func(q projections.Querier) error {
		for _, table := range tables {
			cols, err := Columns(q, table)
			if err != nil {
				return err
			}
			exprs := make([]string, len(cols))
			for i, c := range cols {
				exprs[i] = fmt.Sprintf(`COALESCE(CAST(%s AS TEXT), '<null>')`, c)
			}
			rows, err := q.QueryContext(context.Background(),
				fmt.Sprintf(`SELECT %s FROM %s`, strings.Join(exprs, " || '|' || "), table))
			list, err := projections.Collect(rows, err, nil, projections.ScanString)
			if err != nil {
				return fmt.Errorf("dump %s: %w", table, err)
			}
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

// Columns are the columns of a table, in order.
func Columns(q projections.Querier, table string) ([]string, error) {
	query := `SELECT name FROM pragma_table_info(?) ORDER BY cid`
	if q.Dialect() == projections.Postgres {
		query = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`
	}
	rows, err := q.QueryContext(context.Background(), query, table)
	cols, err := projections.Collect(rows, err, nil, projections.ScanString)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s has no columns", table)
	}
	return cols, nil
}

// DiffRows fails the test when the two lists of rows differ, showing a
// few of the rows that differ.
func DiffRows(t testing.TB, what string, live, rebuilt []string) {
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

// ScanStrings reads a query of one text column.
func ScanStrings(t testing.TB, rm projections.ReadModels, query string, args ...any) []string {
	t.Helper()
	var out []string
	err := rm.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), query, args...)
		out, err = projections.Collect(rows, err, nil, projections.ScanString)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}
