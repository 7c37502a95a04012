package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The read side's SQL building blocks, shared by the views' readers (the
// packages under projections/) and by queries: a WHERE clause built from
// its parts, a page's LIMIT and OFFSET, a count, the rows of a result, and
// the sort keys of a keyset walk.

// Where is the WHERE clause of a list, built from its parts.
type Where struct {
	Conds []string
	Args  []any
}

// Add appends a condition and its arguments.
func (w *Where) Add(cond string, args ...any) {
	w.Conds = append(w.Conds, cond)
	w.Args = append(w.Args, args...)
}

// Clone returns a copy that can be extended without changing w.
func (w Where) Clone() Where {
	return Where{Conds: slices.Clone(w.Conds), Args: slices.Clone(w.Args)}
}

// String is " WHERE a AND b", or "" without conditions.
func (w Where) String() string {
	if len(w.Conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.Conds, " AND ")
}

// LimitOffset is the LIMIT and OFFSET of a page (from 1) of size rows.
// Both must be numbers the caller checked, never a client's text.
func LimitOffset(page, size int) string {
	if page <= 1 {
		return fmt.Sprintf(` LIMIT %d`, size)
	}
	return fmt.Sprintf(` LIMIT %d OFFSET %d`, size, (page-1)*size)
}

// CountRows runs a query of one count.
func CountRows(ctx context.Context, db Querier, query string, args ...any) (int, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	n, err := Collect(rows, err, nil, func(rows Rows) (int, error) {
		var n int
		err := rows.Scan(&n)
		return n, err
	})
	if err != nil || len(n) == 0 {
		return 0, err
	}
	return n[0], nil
}

// Collect scans every row of a query's result onto out.
func Collect[T any](rows Rows, err error, out []T, scan func(Rows) (T, error)) ([]T, error) {
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScanString scans a row of one text column.
func ScanString(rows Rows) (string, error) {
	var s string
	err := rows.Scan(&s)
	return s, err
}

// TimePtr is a stored time as a pointer, nil when it is not set.
func TimePtr(t Timestamp) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := t.UTC()
	return &v
}

// KeysetRow reads the sort keys of a keyset (as the driver gives them,
// so that they go back as they came) after the row's own columns.
type KeysetRow struct{ keys []any }

// NewKeysetRow reads n keys.
func NewKeysetRow(n int) *KeysetRow { return &KeysetRow{keys: make([]any, n)} }

// Values are the keys read (nil without a row).
func (k *KeysetRow) Values() []any {
	if k == nil {
		return nil
	}
	return k.keys
}

// Dest are the scan destinations of the keys.
func (k *KeysetRow) Dest() []any {
	ptrs := make([]any, len(k.keys))
	for i := range k.keys {
		ptrs[i] = &k.keys[i]
	}
	return ptrs
}
