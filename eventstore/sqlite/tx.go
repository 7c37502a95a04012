package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/capacitytracker/capacity/eventstore"
)

var _ eventstore.Transactor = (*Store)(nil)

// InTx implements eventstore.Transactor. The transaction begins IMMEDIATE
// on DB(), so it holds SQLite's write lock from its start: transactions of
// the file never conflict, they wait for each other (beginWrite).
func (s *Store) InTx(ctx context.Context, fn func(tx eventstore.Tx) error) error {
	tx, err := beginWrite(ctx, s.reader)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	stx := &sqliteTx{s: s, tx: tx}
	if err := fn(stx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if stx.appended {
		s.appended.Broadcast()
	}
	return nil
}

type sqliteTx struct {
	s        *Store
	tx       *sql.Tx
	appended bool
}

func (t *sqliteTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *sqliteTx) Query(ctx context.Context, query string, args ...any) (eventstore.TxRows, error) {
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *sqliteTx) ForgetSubject(ctx context.Context, subject string) error {
	if _, err := t.tx.ExecContext(ctx, forgetSubjectQuery, subject); err != nil {
		return fmt.Errorf("forget subject %s: %w", subject, err)
	}
	return nil
}

func (t *sqliteTx) Append(ctx context.Context, reqs ...eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	res, err := t.s.AppendTx(ctx, t.tx, reqs)
	if err == nil {
		t.appended = true
	}
	return res, err
}
