package projections

// The SQL helpers every view shares: rows written many to a statement
// (insertRows), IN lists (marks, anyList, prefetchChunk), rows scanned to
// the end (scanAll), ? placeholders rebound for PostgreSQL, and the values
// a view keys and stores (streamEntity, nullTime).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
)

// PrefetchChunk bounds the ids of one IN list.
const PrefetchChunk = 500

// maxParams bounds the parameters of one statement (SQLite allows 32,766,
// PostgreSQL 65,535).
const maxParams = 4000

// ReplaceAll is the SET clause of an upsert that replaces every column of
// cols but the first key ones (the conflict's key) with the excluded row's.
func ReplaceAll(cols []string, key int) string {
	sets := make([]string, 0, len(cols)-key)
	for _, c := range cols[key:] {
		sets = append(sets, c+" = excluded."+c)
	}
	return strings.Join(sets, ", ")
}

// InsertRows writes rows of cols, as many per statement as maxParams
// allows; onConflict ("ON CONFLICT ...", or "") ends each statement.
// Plain inserts (no onConflict) of copyMinRows rows or more go through
// COPY where tx can (PostgreSQL, see copyrows.go): the same rows, and a
// row that breaks a constraint fails the whole write as an INSERT does.
func InsertRows(ctx context.Context, tx Tx, table string, cols []string, onConflict string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if c, ok := tx.(rowCopier); ok && onConflict == "" && len(rows) >= copyMinRows {
		copied, err := c.copyRows(ctx, table, cols, rows)
		if err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
		if copied {
			return nil
		}
	}
	row := "(" + Marks(len(cols)) + ")"
	for chunk := range slices.Chunk(rows, max(1, maxParams/len(cols))) {
		args := make([]any, 0, len(chunk)*len(cols))
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := fmt.Sprintf(`INSERT INTO %s (%s) VALUES %s %s`, table, strings.Join(cols, ", "),
			strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", "), onConflict)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write %s: %w", table, err)
		}
	}
	return nil
}

// Marks is "?, ?, ..." for n values.
func Marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func AnyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ScanAll calls scan for every row, and closes the rows.
func ScanAll(rows Rows, scan func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := scan(); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// rebind rewrites ? placeholders to $1, $2, ... on PostgreSQL.
func rebind(d Dialect, q string) string {
	if d != Postgres {
		return q
	}
	return eventstore.DollarPlaceholders(q)
}

// StreamEntity is the id part of a stream id: what follows the first dash
// (the user id of user-<id> and login-<id>).
func StreamEntity(streamID string) string {
	_, id, _ := strings.Cut(streamID, "-")
	return id
}

// NullTime binds an instant, or NULL for the zero time.
func NullTime(d Dialect, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.Time(t)
}
