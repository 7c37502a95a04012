package pgtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TablesHolding lists the tables of the pool's database (its current
// schema) with a row whose text holds needle, case-insensitive: every table,
// the event log and the secret tables included. Erasure tests use it to
// show that nothing of a person is left anywhere.
func TablesHolding(tb testing.TB, pool *pgxpool.Pool, needle string) []string {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			tb.Fatal(err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	sort.Strings(tables)
	var found []string
	for _, t := range tables {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %q x WHERE lower(x::text) LIKE '%%' || $1 || '%%'`, t)
		if err := pool.QueryRow(ctx, q, strings.ToLower(needle)).Scan(&n); err != nil {
			tb.Fatalf("search %s: %v", t, err)
		}
		if n > 0 {
			found = append(found, t)
		}
	}
	return found
}
