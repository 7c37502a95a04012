package projections

import (
	"context"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// RebuildRunningError is Rebuild's answer when another rebuild of the
// projection runs (in another process, or another goroutine of this one).
// It matches ErrRebuildRunning.
type RebuildRunningError struct {
	Projection string
	// Owner and Since come from the other rebuild's record; empty when it
	// has not written it yet.
	Owner string
	Since time.Time
}

func (e *RebuildRunningError) Error() string {
	who := "process not known yet"
	if e.Owner != "" {
		who = fmt.Sprintf("%s, since %s", e.Owner, e.Since.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	return fmt.Sprintf("rebuild of %s is already running in another process (%s): wait for it to finish", e.Projection, who)
}

func (e *RebuildRunningError) Is(target error) bool { return target == ErrRebuildRunning }

// TryLock takes the exclusive lock named name, held across every process
// on the database until unlock is called or the process ends (however it
// ends). ok is false, at once, when another holder has it. Jobs that must
// run on one node at a time take it.
func (e *Engine) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	if !namePattern.MatchString(name) {
		return nil, false, fmt.Errorf("lock name %q: want lower-case letters, digits and _", name)
	}
	l, ok, err := e.b.locks.tryLock(ctx, "job-"+name)
	if err != nil || !ok {
		return nil, ok, err
	}
	return l.release, true, nil
}

// rebuildRecord is a row of projection_rebuilds: who made the fresh tables
// of a projection.
type rebuildRecord struct {
	token, owner string
	started      time.Time
}

func (b *backend) rebuildRecord(ctx context.Context, ex wsql.ContextExecutor, name string) (rebuildRecord, bool, error) {
	rows, err := b.view(ex).QueryContext(ctx, `SELECT token, owner, started_at FROM projection_rebuilds WHERE projection = ?`, name)
	if err != nil {
		return rebuildRecord{}, false, fmt.Errorf("read the record of the rebuild of %s: %w", name, err)
	}
	defer rows.Close()
	var r rebuildRecord
	if !rows.Next() {
		return r, false, rows.Err()
	}
	var ms int64
	if err := rows.Scan(&r.token, &r.owner, &ms); err != nil {
		return r, false, err
	}
	r.started = time.UnixMilli(ms)
	return r, true, rows.Err()
}

func (e *Engine) rebuildRunning(ctx context.Context, name string) error {
	err := &RebuildRunningError{Projection: name}
	if r, ok, rerr := e.b.rebuildRecord(ctx, e.b.db, name); rerr == nil && ok {
		err.Owner, err.Since = r.owner, r.started
	}
	return err
}

// dropShadow drops a projection's fresh tables and their record. With an
// empty token (a rebuild starting, holding the lock) it drops whatever is
// there: the leftovers of a rebuild that was killed. With a token (a
// rebuild that failed, still holding the lock) it drops them only if they
// are that rebuild's own.
func (e *Engine) dropShadow(ctx context.Context, tx wsql.Tx, p Projection, token string) error {
	name := p.Name()
	rec, found, err := e.b.rebuildRecord(ctx, tx, name)
	if err != nil {
		return err
	}
	if token != "" && (!found || rec.token != token) {
		return nil
	}
	var dropped []string
	for _, t := range p.Tables() {
		ok, err := e.b.tableExists(ctx, tx, rebuildTable(t))
		if err != nil {
			return fmt.Errorf("look up table %s: %w", rebuildTable(t), err)
		}
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+rebuildTable(t)); err != nil {
			return fmt.Errorf("drop %s: %w", rebuildTable(t), err)
		}
		dropped = append(dropped, rebuildTable(t))
	}
	if _, err := e.b.view(tx).ExecContext(ctx, `DELETE FROM projection_rebuilds WHERE projection = ?`, name); err != nil {
		return fmt.Errorf("delete the record of the rebuild of %s: %w", name, err)
	}
	if token == "" && (found || len(dropped) > 0) {
		e.logger.Warn("dropped the fresh tables of a rebuild that did not finish", "projection", name,
			"tables", dropped, "rebuild_owner", rec.owner, "rebuild_started", rec.started)
	}
	return nil
}

// tableIDs identifies a projection's fresh tables on PostgreSQL (their
// oids: a table dropped and created again under the same name has another
// one). SQLite has no such identity; the token stands alone there.
func (b *backend) tableIDs(ctx context.Context, tx wsql.Tx, p Projection) (map[string]int64, error) {
	if b.dialect != Postgres {
		return nil, nil
	}
	ids := map[string]int64{}
	for _, t := range p.Tables() {
		id, err := b.queryInt64(ctx, tx, `SELECT c.oid::bigint FROM pg_class c WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace`, rebuildTable(t))
		if err != nil {
			return nil, fmt.Errorf("identify %s: %w", rebuildTable(t), err)
		}
		ids[t] = id
	}
	return ids, nil
}

// checkOwnShadow checks, in the swap's transaction, that the fresh tables
// are the ones this rebuild created and filled: it still holds the lock,
// its token is the one recorded, and (PostgreSQL) every table is the one
// it created.
func (e *Engine) checkOwnShadow(ctx context.Context, tx wsql.Tx, lock exclusiveLock, p Projection, token string, ids map[string]int64) error {
	if err := lock.check(ctx); err != nil {
		return fmt.Errorf("%w: lost the rebuild lock: %v", ErrRebuildSuperseded, err)
	}
	rec, found, err := e.b.rebuildRecord(ctx, tx, p.Name())
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: their record is gone (rebuild %s)", ErrRebuildSuperseded, token)
	}
	if rec.token != token {
		return fmt.Errorf("%w: rebuild %s (%s) made them, not rebuild %s", ErrRebuildSuperseded, rec.token, rec.owner, token)
	}
	now, err := e.b.tableIDs(ctx, tx, p)
	if err != nil {
		return err
	}
	for t, id := range ids {
		if now[t] != id {
			return fmt.Errorf("%w: %s was dropped and created again", ErrRebuildSuperseded, rebuildTable(t))
		}
	}
	return nil
}
