package queries

import (
	"context"
	"fmt"

	"github.com/capacitytracker/capacity/projections"
)

// The SQL of a page of a list: the rows after the pages before it, and the
// count of them all. Page[T], newPage and paging (the page and size
// checks) are in locations.go, with the lists that paged first.

// limitOffset is the LIMIT and OFFSET of a page (from 1) of size rows.
// Both are numbers this package checked (paging), never a caller's text.
func limitOffset(page, size int) string {
	if page <= 1 {
		return fmt.Sprintf(` LIMIT %d`, size)
	}
	return fmt.Sprintf(` LIMIT %d OFFSET %d`, size, (page-1)*size)
}

// countRows runs a query of one count.
func countRows(ctx context.Context, db projections.Querier, query string, args ...any) (int, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	n, err := collect(rows, err, nil, func(rows projections.Rows) (int, error) {
		var n int
		err := rows.Scan(&n)
		return n, err
	})
	if err != nil || len(n) == 0 {
		return 0, err
	}
	return n[0], nil
}
