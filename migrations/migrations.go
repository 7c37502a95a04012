// Package migrations holds the numbered SQL files of both backends, embedded
// in the binaries, and applies them in order. Each set is applied in one
// transaction; on PostgreSQL under an advisory lock so that servers starting
// together do not race. A file that was applied is never applied again.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// advisoryLockKey is the PostgreSQL advisory lock held while migrating
// ("capacity-tracker migrations" folded into an int64).
const advisoryLockKey int64 = 0x43617061636974 // "Capacit"

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the migrations of a backend ("postgres" or "sqlite") in order.
func Load(backend string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, backend)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", backend, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s/%s: name must start with a number and an underscore", backend, e.Name())
		}
		body, err := fs.ReadFile(files, path.Join(backend, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// Latest is the highest migration version of a backend.
func Latest(backend string) (int, error) {
	ms, err := Load(backend)
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	return ms[len(ms)-1].Version, nil
}

const createVersionsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)`

// ApplyPostgres applies the pending PostgreSQL migrations and returns how many
// it applied.
func ApplyPostgres(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	ms, err := Load("postgres")
	if err != nil {
		return 0, err
	}
	applied := 0
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", advisoryLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, createVersionsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		done := map[int]bool{}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, v := range versions {
			done[int(v)] = true
		}
		for _, m := range ms {
			if done[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now()::text)", m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return applied, nil
}

// ApplySQLite applies the pending SQLite migrations and returns how many it
// applied. The transaction is BEGIN IMMEDIATE, so two processes migrating the
// same file serialize on SQLite's write lock.
func ApplySQLite(ctx context.Context, db *sql.DB) (int, error) {
	ms, err := Load("sqlite")
	if err != nil {
		return 0, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("begin migration: %w", err)
	}
	applied := 0
	err = func() error {
		if _, err := conn.ExecContext(ctx, createVersionsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		done := map[int]bool{}
		rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			done[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range ms {
			if done[m.Version] {
				continue
			}
			if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, err)
			}
			if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))", m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
			applied++
		}
		return nil
	}()
	if err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("commit migrations: %w", err)
	}
	return applied, nil
}

// PendingPostgres reports how many migrations are not yet applied (for /readyz).
func PendingPostgres(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return pending(ctx, "postgres", func(q string) (map[int]bool, error) {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		done := map[int]bool{}
		for _, v := range vs {
			done[int(v)] = true
		}
		return done, err
	})
}

// PendingSQLite reports how many migrations are not yet applied (for /readyz).
func PendingSQLite(ctx context.Context, db *sql.DB) (int, error) {
	return pending(ctx, "sqlite", func(q string) (map[int]bool, error) {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		done := map[int]bool{}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			done[v] = true
		}
		return done, rows.Err()
	})
}

func pending(ctx context.Context, backend string, applied func(q string) (map[int]bool, error)) (int, error) {
	ms, err := Load(backend)
	if err != nil {
		return 0, err
	}
	done, err := applied("SELECT version FROM schema_migrations")
	if err != nil {
		return len(ms), fmt.Errorf("read schema_migrations: %w", err)
	}
	n := 0
	for _, m := range ms {
		if !done[m.Version] {
			n++
		}
	}
	return n, ctx.Err()
}
