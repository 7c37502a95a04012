package projections

import "context"

// CopyMinRows is the fewest rows insertRows copies, for the tests of
// package projections_test.
const CopyMinRows = copyMinRows

// InsertRows is insertRows of plain inserts (COPY where tx can).
func InsertRows(ctx context.Context, tx Tx, table string, cols []string, rows [][]any) error {
	return insertRows(ctx, tx, table, cols, "", rows)
}

// CanCopy reports whether insertRows writes through COPY in tx.
func CanCopy(tx Tx) bool {
	v, ok := tx.(txView)
	return ok && v.copier() != nil
}
