package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// QueryIndexer is implemented by a projection whose Schema creates
// secondary indexes that only the read side's queries use: its Apply,
// ApplyBatch and Erase never read or look up its tables through them (they
// go by primary key, or through other indexes). A rebuild creates its fresh
// tables without those indexes, fills them, and creates the indexes just
// before it swaps the tables in: an index built from the loaded rows in
// one sort costs far less than inserting every row into it, one B-tree
// per index and row.
//
// An index that the projection's own writes read through (a lookup or an
// UPDATE by email, by organisation) must not be listed: without it every
// such statement of the rebuild would scan the table.
//
// QueryIndexes returns those statements, each exactly as Schema returns it
// for the same d and table, and each a plain CREATE INDEX (a unique index
// decides what an ON CONFLICT does, so it is never deferred; NewEngine
// checks both). Nothing else changes: the live path creates every
// statement of Schema, the schema fingerprint is Schema's, and a rebuild's
// swapped-in tables have exactly the indexes of a fresh create.
type QueryIndexer interface {
	QueryIndexes(d Dialect, table func(string) string) []string
}

// checkQueryIndexes checks, for both dialects, that p's query indexes are
// plain CREATE INDEX statements of its Schema.
func checkQueryIndexes(p Projection) error {
	qi, ok := p.(QueryIndexer)
	if !ok {
		return nil
	}
	for _, d := range []Dialect{Postgres, SQLite} {
		schema := p.Schema(d, rebuildTable)
		for _, stmt := range qi.QueryIndexes(d, rebuildTable) {
			if !strings.HasPrefix(stmt, "CREATE INDEX ") {
				return fmt.Errorf("projection %s: query index %q (%s) is not a plain CREATE INDEX", p.Name(), stmt, d)
			}
			if !slices.Contains(schema, stmt) {
				return fmt.Errorf("projection %s: query index %q (%s) is not one of its Schema statements", p.Name(), stmt, d)
			}
		}
	}
	return nil
}

// loadSchema is the statements that create a rebuild's fresh tables: the
// projection's Schema for them, without its query indexes unless eager.
func loadSchema(p Projection, d Dialect, eager bool) []string {
	schema := p.Schema(d, rebuildTable)
	qi, ok := p.(QueryIndexer)
	if !ok || eager {
		return schema
	}
	deferred := qi.QueryIndexes(d, rebuildTable)
	return slices.DeleteFunc(schema, func(stmt string) bool { return slices.Contains(deferred, stmt) })
}

// createQueryIndexes creates the query indexes a rebuild left out of its
// fresh tables (see QueryIndexer), on PostgreSQL: each in a transaction of
// its own, after the pass over the log and before the swap, up to
// indexBuilders at a time (CREATE INDEX takes a SHARE lock, which others on
// the same table share; each sort is one server process, so two of them
// use two cores). The live tables keep serving meanwhile (CREATE INDEX
// locks only the fresh table, which nothing else writes), and the
// projection's lock is not held, so live delivery goes on; each
// transaction is as short as one index's sort. The swap then renames them
// with the tables' other indexes. On SQLite the swap creates them (see
// createQueryIndexesLive).
func (r *rebuild) createQueryIndexes(ctx context.Context) error {
	if len(r.deferred) == 0 || r.e.b.dialect != Postgres {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stmts := make(chan string)
	errs := make([]error, indexBuilders)
	var wg sync.WaitGroup
	for i := range indexBuilders {
		wg.Go(func() {
			for stmt := range stmts {
				err := r.e.b.inTx(ctx, func(tx wsql.Tx) error {
					_, err := tx.ExecContext(ctx, stmt)
					return err
				})
				if err != nil && errs[i] == nil {
					errs[i] = fmt.Errorf("create query index: %w", err)
					cancel()
				}
			}
		})
	}
	for _, stmt := range r.deferred {
		select {
		case stmts <- stmt:
		case <-ctx.Done():
		}
	}
	close(stmts)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// indexBuilders is how many query indexes of a rebuild are built at once
// on PostgreSQL.
const indexBuilders = 2

// createQueryIndexesLive creates, on SQLite, the query indexes a rebuild
// left out, in the swap's transaction once the fresh tables have their
// live names, under their live names. SQLite cannot rename an index: the
// swap creates every index of the fresh tables again under its live name
// anyway (renameIndexes), in the same transaction that holds the write
// lock; building the left-out ones there, once, from the loaded rows,
// costs that transaction no more than recreating them did.
func (r *rebuild) createQueryIndexesLive(ctx context.Context, tx wsql.Tx) error {
	if len(r.deferred) == 0 || r.e.b.dialect != SQLite {
		return nil
	}
	for _, stmt := range r.p.(QueryIndexer).QueryIndexes(SQLite, liveTable) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create query index: %w", err)
		}
	}
	return nil
}

// IndexesNamed returns the CREATE INDEX statements of schema that create
// the indexes named names, in schema's order.
func IndexesNamed(schema []string, names ...string) []string {
	var out []string
	for _, stmt := range schema {
		f := strings.Fields(stmt)
		if len(f) > 2 && f[0] == "CREATE" && f[1] == "INDEX" && slices.Contains(names, f[2]) {
			out = append(out, stmt)
		}
	}
	return out
}
