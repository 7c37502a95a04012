package projections

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Exclusive locks across every process on the database: capacityd servers
// and capacityctl alike. A lock is held by a process for as long as it
// works (a whole rebuild, a whole round of the erasure job), not for one
// transaction, and it must go away by itself when the process dies, even
// by SIGKILL, so that the next one can start without an operator:
//
//   - PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a
//     connection of its own, opened for the lock and closed to release it.
//     The server drops the lock when the session ends, which a killed
//     process's connection does. Not a pool connection: the lock belongs to
//     the session, and a pooled session would carry it to other work.
//   - SQLite: flock(2) on a file in <database>-locks/ beside the database
//     file. The kernel drops the lock when the process's descriptor closes,
//     which a killed process's does. A lock row with a lease in the
//     database would outlive a SIGKILL until the lease ran out (or, with a
//     short lease, be stolen from a process that merely stalled), and every
//     heartbeat would take SQLite's one write lock. The file is never
//     deleted: removing a lock file races with its next holder.
type exclusiveLock interface {
	// check reports whether the lock is still held (a PostgreSQL lock dies
	// with its connection).
	check(ctx context.Context) error
	release()
}

// lockers opens the exclusive locks of a backend.
type lockers struct {
	pool *pgxpool.Pool // PostgreSQL
	// sqlitePath finds the database file (SQLite); empty for an in-memory
	// database, whose locks are the process's own.
	sqlitePath func(ctx context.Context) (string, error)
	mu         sync.Mutex
	inProcess  map[string]bool
}

// tryLock takes the exclusive lock named key, or returns ok false at once
// when another holder has it.
func (l *lockers) tryLock(ctx context.Context, key string) (lock exclusiveLock, ok bool, err error) {
	if l.pool != nil {
		return l.tryAdvisory(ctx, key)
	}
	path, err := l.sqlitePath(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: find the database file: %w", key, err)
	}
	if path == "" {
		return l.tryInProcess(key)
	}
	return tryFileLock(filepath.Join(path+"-locks", key+".lock"))
}

// lockID folds a lock's name into an advisory lock key, apart from the
// keys of projectionLockKey.
func lockID(key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("capacity-exclusive:" + key))
	return int64(h.Sum64())
}

type advisoryLock struct{ conn *pgx.Conn }

func (l *lockers) tryAdvisory(ctx context.Context, key string) (exclusiveLock, bool, error) {
	cfg := l.pool.Config().ConnConfig.Copy()
	// Shown in pg_stat_activity, so that an operator sees who holds it.
	cfg.RuntimeParams["application_name"] = truncate("capacity lock "+key, 63)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: connect: %w", key, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockID(key)).Scan(&ok); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, false, fmt.Errorf("lock %s: %w", key, err)
	}
	if !ok {
		_ = conn.Close(ctx)
		return nil, false, nil
	}
	return advisoryLock{conn: conn}, true, nil
}

func (a advisoryLock) check(ctx context.Context) error {
	if err := a.conn.Ping(ctx); err != nil {
		return fmt.Errorf("the connection that holds the lock was lost: %w", err)
	}
	return nil
}

func (a advisoryLock) release() {
	// Ending the session releases its advisory locks, but the server ends
	// it after Close returns: unlock first, so that the lock is free when
	// release returns (a rebuild right after another of the same
	// projection, as RebuildAll after Rebuild, must not be refused).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = a.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	_ = a.conn.Close(ctx)
}

type inProcessLock struct {
	l   *lockers
	key string
}

func (l *lockers) tryInProcess(key string) (exclusiveLock, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inProcess[key] {
		return nil, false, nil
	}
	if l.inProcess == nil {
		l.inProcess = map[string]bool{}
	}
	l.inProcess[key] = true
	return inProcessLock{l: l, key: key}, true, nil
}

func (i inProcessLock) check(context.Context) error { return nil }

func (i inProcessLock) release() {
	i.l.mu.Lock()
	defer i.l.mu.Unlock()
	delete(i.l.inProcess, i.key)
}

type fileLock struct{ f *os.File }

func (f fileLock) check(context.Context) error { return nil }

// release closes the file, which drops the lock.
func (f fileLock) release() { _ = f.f.Close() }

// owner names this process for the record of a rebuild, so that a refused
// one can say who holds the lock.
func owner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return fmt.Sprintf("%s pid %d on %s", filepath.Base(os.Args[0]), os.Getpid(), host)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
