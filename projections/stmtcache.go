package projections

import (
	"context"
	"database/sql"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// preparedMinLen is the length from which a rebuild's statement on SQLite
// is prepared once per transaction: the many-row INSERTs of the batch
// code (insertRows), whose full chunks repeat the same text. SQLite
// parses and compiles every statement it is given; for those that was
// about a tenth of a SQLite rebuild's CPU (CPU profile of
// BenchmarkRebuildAll). Short statements are not worth a cache entry.
const preparedMinLen = 1024

// stmtCache holds the prepared statements of one SQLite transaction, by
// text. They are the transaction's own (database/sql closes them when it
// ends), so the cache lives as long as the transaction.
type stmtCache struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// preparingView is view for one of a rebuild's write transactions: on
// SQLite its long statements are prepared once for the transaction (see
// preparedMinLen); elsewhere, and for a transaction not of database/sql,
// it is view.
func (b *backend) preparingView(tx wsql.Tx) txView {
	v := b.view(tx)
	if b.dialect != SQLite {
		return v
	}
	inner := wsql.ContextExecutor(tx)
	if t, ok := inner.(*turnTx); ok {
		inner = t.Tx
	}
	if t, ok := inner.(*wsql.StdSQLTx); ok && t.Tx != nil {
		v.stmts = &stmtCache{tx: t.Tx, stmts: map[string]*sql.Stmt{}}
	}
	return v
}

func (c *stmtCache) exec(ctx context.Context, query string, args []any) (wsql.Result, error) {
	stmt, ok := c.stmts[query]
	if !ok {
		var err error
		if stmt, err = c.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		c.stmts[query] = stmt
	}
	return stmt.ExecContext(ctx, args...)
}
