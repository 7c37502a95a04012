package projections

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/capacitytracker/capacity/eventstore/sqlite"
)

// TestPreparingView_PreparesEachLongStatementOncePerTransaction: on
// SQLite, a rebuild transaction's view prepares a long statement once and
// runs it again with other arguments, through savepoints rolled back
// and not; short statements go straight through. The rows are what the
// statements wrote.
func TestPreparingView_PreparesEachLongStatementOncePerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "capacity.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	b := NewSQLiteBackend(store.DB(), store).backend()
	if _, err := store.DB().Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rows := 200
	long := `INSERT INTO t (k, v) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", rows), ", ")
	if len(long) < preparedMinLen {
		t.Fatalf("the long statement has %d bytes, fewer than %d", len(long), preparedMinLen)
	}
	args := func(from int) []any {
		var out []any
		for k := from; k < from+rows; k++ {
			out = append(out, k, fmt.Sprint("v", k))
		}
		return out
	}
	err = b.inTx(ctx, func(tx wsql.Tx) error {
		v := b.preparingView(tx)
		if v.stmts == nil {
			t.Fatal("no statement cache on SQLite")
		}
		if _, err := v.ExecContext(ctx, long, args(0)...); err != nil {
			return err
		}
		if _, err := v.ExecContext(ctx, `SAVEPOINT s`); err != nil {
			return err
		}
		if _, err := v.ExecContext(ctx, long, args(rows)...); err != nil {
			return err
		}
		if _, err := v.ExecContext(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
			return err
		}
		if _, err := v.ExecContext(ctx, long, args(2*rows)...); err != nil {
			return err
		}
		if _, err := v.ExecContext(ctx, long, args(0)...); err == nil {
			t.Error("a duplicate key through the prepared statement did not fail")
		}
		if _, err := v.ExecContext(ctx, `RELEASE SAVEPOINT s`); err != nil {
			return err
		}
		if len(v.stmts.stmts) != 1 {
			t.Errorf("%d statements prepared, want the long one alone", len(v.stmts.stmts))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n, sum int
	if err := store.DB().QueryRow(`SELECT count(*), sum(k) FROM t WHERE v = 'v' || k`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	// Keys 0..199 and 400..599; 200..399 were rolled back.
	if want := (0+199)*200/2 + (400+599)*200/2; n != 2*rows || sum != want {
		t.Errorf("%d rows with key sum %d, want %d and %d", n, sum, 2*rows, want)
	}
}
