package projections

// CopyMinRows is the fewest rows insertRows copies, for the tests of
// package projections_test.
const CopyMinRows = copyMinRows

// CanCopy reports whether insertRows writes through COPY in tx.
func CanCopy(tx Tx) bool {
	v, ok := tx.(txView)
	return ok && v.copier() != nil
}
