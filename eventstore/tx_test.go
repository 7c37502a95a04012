package eventstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/eventstore"
)

// TestDollarPlaceholders: every ? outside quotes becomes $1, $2, ... in
// order; quoted strings and identifiers keep theirs.
func TestDollarPlaceholders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT ?`, `SELECT $1`},
		{`UPDATE t SET a = ?, b = ? WHERE c = ?`, `UPDATE t SET a = $1, b = $2 WHERE c = $3`},
		{`SELECT '?', ? FROM "x?y" WHERE z = ?`, `SELECT '?', $1 FROM "x?y" WHERE z = $2`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT ?`, `SELECT $1`},
		{`?`, `$1`},
		{`'?`, `'?`},
	} {
		if got := eventstore.DollarPlaceholders(c.in); got != c.want {
			t.Errorf("DollarPlaceholders(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A multi-row INSERT: numbers of several digits, in order.
	row := "(?, ?, 'a?b', ?)"
	var in, want strings.Builder
	n := 0
	for i := range 5000 {
		if i > 0 {
			in.WriteString(", ")
			want.WriteString(", ")
		}
		in.WriteString(row)
		fmt.Fprintf(&want, "($%d, $%d, 'a?b', $%d)", n+1, n+2, n+3)
		n += 3
	}
	if got := eventstore.DollarPlaceholders(in.String()); got != want.String() {
		t.Errorf("a 5,000-row INSERT: got %d bytes, want %d (first difference at %d)", len(got), want.Len(), firstDiff(got, want.String()))
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
