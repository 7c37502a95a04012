// Package app is the wiring shared by capacityd and capacityctl: it turns the
// configuration into an opened event store backend (PostgreSQL when a
// DATABASE_URL is given, otherwise the embedded SQLite file under the data
// directory) and a projection engine over it.
//
// It only connects parts that other packages define; it must not hold
// business rules, SQL of its own beyond health checks, or HTTP handling.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/migrations"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/views"
)

// Default locations of the embedded backend, relative to the working
// directory.
const (
	DefaultDataDir = "./data"
	SQLiteFileName = "capacity.db"
	MailDirName    = "mail"
)

// Backend kinds.
const (
	KindPostgres = "postgres"
	KindSQLite   = "sqlite"
)

// DefaultPoolSize is the PostgreSQL connection pool size unless the
// database URL sets pool_max_conns.
const DefaultPoolSize = 25

// Config says where the data lives.
type Config struct {
	// DatabaseURL selects PostgreSQL when it is a postgres:// or
	// postgresql:// URL. Empty selects the embedded SQLite file.
	DatabaseURL string
	// DataDir holds the SQLite file and the mail directory. Empty means
	// DefaultDataDir.
	DataDir string
}

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.dataDir(), SQLiteFileName) }

// MailDir is where outgoing mail is written (one file per message).
func (c Config) MailDir() string { return filepath.Join(c.dataDir(), MailDirName) }

func (c Config) dataDir() string {
	if c.DataDir == "" {
		return DefaultDataDir
	}
	return c.DataDir
}

// Kind is the backend the configuration selects.
func (c Config) Kind() string {
	if c.DatabaseURL == "" {
		return KindSQLite
	}
	return KindPostgres
}

// Validate rejects a database URL that is not PostgreSQL.
func (c Config) Validate() error {
	if c.DatabaseURL == "" {
		return nil
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("database URL must start with postgres:// or postgresql:// (leave it empty for the embedded SQLite database)")
	}
	return nil
}

// OpenOptions tune Open.
type OpenOptions struct {
	// Migrate applies pending PostgreSQL migrations while opening, under the
	// migrations' advisory lock. The SQLite store always migrates itself.
	Migrate bool
	// Metrics, when set, counts and times appends made through Backend.Store.
	Metrics *StoreMetrics
}

// Backend is an opened event store with what the projection engine and the
// health checks need.
type Backend struct {
	Kind    string
	Config  Config
	MailDir string
	// Store is the event store to append and read through; it is
	// instrumented when OpenOptions.Metrics was set.
	Store eventstore.Store

	pool   *pgxpool.Pool // PostgreSQL only
	pg     *postgres.Store
	sqlite *sqlite.Store // SQLite only
	// migrated is how many migrations Open applied.
	migrated int

	closeOnce sync.Once
	closeErr  error
}

// Open opens the backend the configuration selects and creates the mail
// directory.
func Open(ctx context.Context, cfg Config, opts OpenOptions) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{Kind: cfg.Kind(), Config: cfg, MailDir: cfg.MailDir()}
	if err := os.MkdirAll(b.MailDir, 0o750); err != nil {
		return nil, fmt.Errorf("create mail directory: %w", err)
	}
	var raw eventstore.Store
	switch b.Kind {
	case KindPostgres:
		pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("parse database URL: %w", err)
		}
		// pgxpool's default, max(4, CPUs), is too small for a server in
		// which every projection holds a connection while a batch runs
		// and HTTP requests append and query at the same time. The URL's
		// pool_max_conns still wins.
		if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
			pcfg.MaxConns = DefaultPoolSize
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		if opts.Migrate {
			n, err := migrations.ApplyPostgres(ctx, pool)
			if err != nil {
				pool.Close()
				return nil, fmt.Errorf("migrate PostgreSQL: %w", err)
			}
			b.migrated = n
		}
		b.pool = pool
		b.pg = postgres.New(pool)
		raw = b.pg
	default:
		if err := os.MkdirAll(filepath.Dir(cfg.SQLitePath()), 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		st, err := sqlite.Open(ctx, cfg.SQLitePath())
		if err != nil {
			return nil, fmt.Errorf("open SQLite database %s: %w", cfg.SQLitePath(), err)
		}
		b.sqlite = st
		raw = st
	}
	b.Store = raw
	if opts.Metrics != nil {
		b.Store = InstrumentStore(raw, opts.Metrics)
	}
	return b, nil
}

// PoolSize is the PostgreSQL connection pool's size (0 on SQLite).
func (b *Backend) PoolSize() int {
	if b.pool == nil {
		return 0
	}
	return int(b.pool.Config().MaxConns)
}

// MigrationsApplied is how many migrations Open applied.
func (b *Backend) MigrationsApplied() int { return b.migrated }

// Describe names the backend for logs: the SQLite path, or the PostgreSQL
// host and database without credentials.
func (b *Backend) Describe() string {
	if b.Kind == KindSQLite {
		return b.sqlite.Path()
	}
	cc := b.pool.Config().ConnConfig
	return fmt.Sprintf("%s:%d/%s", cc.Host, cc.Port, cc.Database)
}

// Migrate applies pending migrations and returns how many it applied.
func (b *Backend) Migrate(ctx context.Context) (int, error) {
	if b.Kind == KindPostgres {
		return migrations.ApplyPostgres(ctx, b.pool)
	}
	return migrations.ApplySQLite(ctx, b.sqlite.DB())
}

// PendingMigrations is how many migrations are not applied yet.
func (b *Backend) PendingMigrations(ctx context.Context) (int, error) {
	if b.Kind == KindPostgres {
		return migrations.PendingPostgres(ctx, b.pool)
	}
	return migrations.PendingSQLite(ctx, b.sqlite.DB())
}

// Ping checks that the database answers.
func (b *Backend) Ping(ctx context.Context) error {
	if b.Kind == KindPostgres {
		return b.pool.Ping(ctx)
	}
	return b.sqlite.DB().PingContext(ctx)
}

// CheckDatabase is the readiness check of the database connection: a real
// round trip, bounded by a short timeout.
func (b *Backend) CheckDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// CheckMigrations is the readiness check that the schema is current.
func (b *Backend) CheckMigrations(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := b.PendingMigrations(ctx)
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%d pending migration(s): run capacityctl migrate", n)
	}
	return nil
}

// NewEngine builds the projection engine with the default projections.
func (b *Backend) NewEngine(logger *slog.Logger) (*projections.Engine, error) {
	e, err := projections.NewEngine(b.ProjectionBackend(), logger, views.Default()...)
	if err != nil {
		return nil, fmt.Errorf("build projection engine: %w", err)
	}
	return e, nil
}

// Close closes the store and its connections. Calling it again is harmless.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		if b.Kind == KindPostgres {
			b.closeErr = b.pg.Close()
			b.pool.Close()
			return
		}
		b.closeErr = b.sqlite.Close()
	})
	return b.closeErr
}

// ProjectionBackend is the backend the projection engine, the read models
// and the mail dispatcher run on.
func (b *Backend) ProjectionBackend() projections.Backend {
	if b.Kind == KindPostgres {
		return projections.NewPostgresBackend(b.pg)
	}
	return projections.NewSQLiteBackend(b.sqlite.DB(), b.sqlite)
}

// commandStore is the (instrumented) store with the raw store's
// transactions.
type commandStore struct {
	eventstore.Store
	eventstore.Transactor
}

// CommandStore is what the commands append through: Store, plus
// transactions that write secret tables with the events.
func (b *Backend) CommandStore() commands.Store {
	var tr eventstore.Transactor = b.sqlite
	if b.Kind == KindPostgres {
		tr = b.pg
	}
	return commandStore{Store: b.Store, Transactor: tr}
}

// ChainStore is the raw store's tamper evidence: stored rows, checkpoints.
func (b *Backend) ChainStore() eventstore.ChainStore {
	if b.Kind == KindPostgres {
		return b.pg
	}
	return b.sqlite
}

// ChainKey is the server key that signs the log's checkpoints, created the
// first time.
func (b *Backend) ChainKey(ctx context.Context) ([]byte, error) {
	var tr eventstore.Transactor = b.sqlite
	if b.Kind == KindPostgres {
		tr = b.pg
	}
	return eventstore.ServerKey(ctx, tr, eventstore.ChainKeyName)
}

// NewCommands builds the account commands over the backend.
func (b *Backend) NewCommands(ctx context.Context, cfg commands.Config, logger *slog.Logger) (*commands.Service, error) {
	return commands.New(ctx, b.CommandStore(), cfg, nil, logger)
}
