package eventstore

import (
	"context"
	"strconv"
	"strings"
)

// Tx is one transaction in which a command both writes rows of its own
// tables (secrets, which never go into events) and appends events, so that
// the two commit or roll back together. Statements use ? placeholders on
// every backend.
type Tx interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a query; the caller closes the rows.
	Query(ctx context.Context, query string, args ...any) (TxRows, error)
	// Append appends to one or more streams atomically with the rest of the
	// transaction.
	Append(ctx context.Context, reqs ...AppendRequest) ([]AppendResult, error)
	// ForgetSubject deletes a data subject's key, as Store.ForgetSubject,
	// atomically with the rest of the transaction: an erasure forgets the
	// key and records its event together.
	ForgetSubject(ctx context.Context, subject string) error
}

// TxRows is the result of Tx.Query.
type TxRows interface {
	Rows
	Close() error
}

// Transactor runs functions in transactions of a Store's database.
type Transactor interface {
	// InTx runs fn in a transaction and commits it when fn returns nil. A
	// transaction that the database aborts for a conflict with a
	// concurrent one (a serialization failure or a deadlock) is rolled
	// back and fn runs again, a few times, so fn must not have effects
	// outside tx. A version conflict of an append is returned as
	// ErrWrongExpectedVersion, as by Append.
	InTx(ctx context.Context, fn func(tx Tx) error) error
}

// DollarPlaceholders rewrites ? placeholders to PostgreSQL's $1, $2, ...,
// leaving quoted strings and identifiers alone.
func DollarPlaceholders(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	// A long multi-row INSERT has thousands of placeholders: the number is
	// appended in place, without fmt.
	b := make([]byte, 0, len(q)+len(q)/4+8)
	n := int64(0)
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b = strconv.AppendInt(append(b, '$'), n, 10)
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
