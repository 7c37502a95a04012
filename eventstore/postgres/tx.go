package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/capacitytracker/capacity/eventstore"
)

// txAttempts bounds how often InTx runs a function whose transaction the
// server aborted for a conflict with a concurrent one.
const txAttempts = 5

var _ eventstore.Transactor = (*Store)(nil)

// InTx implements eventstore.Transactor. The transaction runs at REPEATABLE
// READ (see BeginTx), where a concurrent update of a row fn also updates is
// a serialization failure: fn then runs again in a new transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx eventstore.Tx) error) error {
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		err = s.inTxOnce(ctx, fn)
		if err == nil || !isTxConflict(err) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("transaction still conflicting after %d attempts: %w", txAttempts, err)
}

func (s *Store) inTxOnce(ctx context.Context, fn func(tx eventstore.Tx) error) error {
	tx, err := s.BeginTx(ctx)
	if err != nil {
		return err
	}
	ptx := &pgTx{s: s, tx: tx}
	if err := fn(ptx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if ptx.appended > 0 {
		s.notifyAppended(ptx.appended)
	}
	return nil
}

func rollback(tx pgx.Tx) error {
	// The context of the failed work may be done already; a rollback must
	// still reach the server.
	if err := tx.Rollback(context.Background()); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// isTxConflict reports a transaction the server aborted because of a
// concurrent one: serialization_failure or deadlock_detected.
func isTxConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

type pgTx struct {
	s        *Store
	tx       pgx.Tx
	appended int64 // highest position appended
}

func (t *pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, eventstore.DollarPlaceholders(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t *pgTx) Query(ctx context.Context, query string, args ...any) (eventstore.TxRows, error) {
	rows, err := t.tx.Query(ctx, eventstore.DollarPlaceholders(query), args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rows}, nil
}

func (t *pgTx) Append(ctx context.Context, reqs ...eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	res, err := t.s.AppendTx(ctx, t.tx, reqs)
	for _, r := range res {
		t.appended = max(t.appended, r.LastPosition())
	}
	return res, err
}

func (t *pgTx) ForgetSubject(ctx context.Context, subject string) error {
	if _, err := t.tx.Exec(ctx, forgetSubjectQuery, subject); err != nil {
		return fmt.Errorf("forget subject %s: %w", subject, err)
	}
	return nil
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}
