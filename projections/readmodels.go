package projections

import (
	"context"
	"database/sql"
	"errors"
)

// ReadModels is the read side's access to the read-model tables, for the
// queries package: read-only statements with ? placeholders on every
// backend. It reads the projections' tables only, never the event log.
type ReadModels struct {
	b *backend
}

// NewReadModels gives read access to the read models of a backend.
func NewReadModels(b Backend) ReadModels { return ReadModels{b: b.backend()} }

// Dialect is the SQL dialect of the read models' database.
func (r ReadModels) Dialect() Dialect { return r.b.dialect }

// Query runs fn in a read-only transaction, so that every statement of one
// query sees the same state of the read models.
func (r ReadModels) Query(ctx context.Context, fn func(q Querier) error) error {
	tx, err := r.b.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	err = fn(r.b.view(tx))
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// Querier runs read-only statements with ? placeholders.
type Querier interface {
	Dialect() Dialect
	QueryContext(ctx context.Context, query string, args ...any) (Rows, error)
}
