package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// copyMinRows is the fewest rows insertRows writes with COPY rather than
// INSERT on PostgreSQL. COPY is one round trip whatever the number of rows
// (pgx describes the table's columns once per connection and caches it),
// where a many-row INSERT is a statement of up to maxParams parameters
// that the server parses and plans, and a text that differs with every
// row count (each its own prepared statement in pgx's cache). But each
// COPY also costs pgx two goroutines and a pipe, and on a loaded machine
// every hand-off between them waits for a CPU: for the audit view's rows
// of one event COPY took 2.7 times as long as the INSERT, for 100 events
// (1,100 rows) as long, for 1,000 events 0.6-0.7 times as long
// (BenchmarkAuditBatchWrite at load 20 on 2 cores). So COPY is for the
// large batches of a catch-up and a rebuild, and the small live batches,
// whose latency counts, keep the INSERTs.
const copyMinRows = 1000

// pgxCopier is the part of pgx's transaction that COPY needs. The
// engine's PostgreSQL transactions are watermill-sql's PgxTx, which embeds
// pgx.Tx.
type pgxCopier interface {
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
}

// rowCopier is implemented by a Tx that can write plain inserts with COPY
// (txView over a pgx transaction).
type rowCopier interface {
	// copyRows writes rows of cols into table with COPY. ok is false, and
	// nothing is written, when the transaction cannot.
	copyRows(ctx context.Context, table string, cols []string, rows [][]any) (ok bool, err error)
}

var _ rowCopier = txView{}

// copier is the pgx transaction under v, or nil: on SQLite, or when v
// runs over something else (a pool, a guardedTx outside an attempt). The
// engine's own wrappers of a transaction are looked through.
func (v txView) copier() pgxCopier {
	if v.dialect != Postgres {
		return nil
	}
	ex := v.ex
	for {
		switch t := ex.(type) {
		case pgxCopier:
			return t
		case *gatedTx:
			ex = t.Tx
		case *turnTx:
			ex = t.Tx
		default:
			return nil
		}
	}
}

func (v txView) copyRows(ctx context.Context, table string, cols []string, rows [][]any) (bool, error) {
	c := v.copier()
	if c == nil {
		return false, nil
	}
	n, err := c.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return true, err
	}
	if n != int64(len(rows)) {
		return true, fmt.Errorf("copied %d of %d rows", n, len(rows))
	}
	return true, nil
}
