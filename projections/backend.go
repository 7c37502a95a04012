package projections

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/eventstore"
)

// Backend is the database the engine runs on: the event store and the
// connection the read models, checkpoints and poison records live in.
type Backend interface {
	// InTx runs fn in one of the engine's write transactions (on SQLite
	// it takes the engine's write turn and begins IMMEDIATE), committed
	// if fn returns nil and rolled back otherwise. It is for the few
	// tables a read model keeps beside its projection and writes outside
	// the engine's batches (mailoutbox.Deliveries and mail_deliveries).
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// TableExists reports whether the database has a table of that name,
	// such as a projection's before the engine first created it.
	TableExists(ctx context.Context, table string) (bool, error)
	backend() *backend
}

type backend struct {
	dialect Dialect
	store   eventstore.Store
	// log is the driver's way to query the events table (its columns,
	// scanner and gap-safe condition).
	log eventstore.SQLLog
	// db begins the engine's transactions; on SQLite every one is
	// BEGIN IMMEDIATE.
	db      wsql.Beginner
	offsets checkpointOffsets
	// lockKey serializes table creation across servers (PostgreSQL).
	lockKey int64
	// The most events per live batch (a batch is sized to liveBatchTime
	// below that, see livebatch.go) and per rebuild transaction. On SQLite
	// every batch holds the one write lock, so rebuild batches are smaller.
	liveBatch, rebuildBatch int
	// locks are held across processes for a whole rebuild or job.
	locks *lockers
	// turn queues the engine's write transactions (SQLite; nil on
	// PostgreSQL, see writeturn.go).
	turn writeTurn
	// events shares the pages of events that live batches read
	// (eventcache.go); flagAt is where readFlagged adds a column to the
	// events' SELECT list.
	events *eventCache
	flagAt int
	// wakeups, when set, tells the engine that events were appended, by
	// broadcasting wake and announcing the positions committed, until ctx
	// ends (wakeup.go).
	wakeups func(ctx context.Context, logger *slog.Logger, wake *eventstore.Signal, announce func(int64))
}

func (b *backend) backend() *backend { return b }

// PostgresStore is what the engine needs of the PostgreSQL event store
// (eventstore/postgres's Store).
type PostgresStore interface {
	eventstore.Store
	eventstore.SQLLog
	// Pool is the store's connection pool: the engine's transactions share
	// the database with the log.
	Pool() *pgxpool.Pool
	// NotifyChannel is the channel each append's commit notifies.
	NotifyChannel() string
}

// SQLiteStore is what the engine needs of the SQLite event store
// (eventstore/sqlite's Store).
type SQLiteStore interface {
	eventstore.Store
	eventstore.SQLLog
}

// NewPostgresBackend runs the projections in the store's database, over its
// pool.
func NewPostgresBackend(store PostgresStore) Backend {
	return &backend{
		dialect:      Postgres,
		store:        store,
		log:          store,
		db:           wsql.BeginnerFromPgx(store.Pool()),
		offsets:      checkpointOffsets{dialect: Postgres},
		lockKey:      0x50726f6a656374, // "Project"
		liveBatch:    5000,
		rebuildBatch: 5000,
		events:       newEventCache(eventCacheSize),
		flagAt:       personalFlagAt(store.EventColumns()),
		locks:        &lockers{pool: store.Pool()},
		wakeups:      pgWakeups(store.Pool().Config().ConnConfig, store.NotifyChannel()),
	}
}

// NewSQLiteBackend runs the projections in the SQLite file of store, over
// db: a pool on that file whose read-write transactions begin IMMEDIATE
// (the store's DB()). Each batch then holds SQLite's write lock from its
// first statement, so writing read models after reading the log cannot fail
// with SQLITE_BUSY; appends wait for the batch (busy timeout).
func NewSQLiteBackend(db *sql.DB, store SQLiteStore) Backend {
	b := &backend{
		dialect: SQLite,
		store:   store,
		log:     store,
		db:      wsql.BeginnerFromStdSQL(db),
		offsets: checkpointOffsets{dialect: SQLite},
		// A live batch holds SQLite's one write lock while it applies:
		// its time budget (liveBatchTime) keeps appends from waiting near
		// the busy timeout, even for a projection that writes several rows
		// per event.
		liveBatch:    5000,
		rebuildBatch: 1000,
		turn:         newWriteTurn(),
		events:       newEventCache(eventCacheSize),
		flagAt:       personalFlagAt(store.EventColumns()),
		locks:        &lockers{sqlitePath: func(ctx context.Context) (string, error) { return sqliteFile(ctx, db) }},
	}
	// The store and the engine share the process: the store's commits
	// wake the engine (other processes on the file are seen by watchHead).
	if a, ok := store.(appendedSignal); ok {
		b.wakeups = sqliteWakeups(a)
	}
	return b
}

// sqliteFile is the path of db's main database file, empty for an
// in-memory one.
func sqliteFile(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var file string
	if rows.Next() {
		if err := rows.Scan(&file); err != nil {
			return "", err
		}
	}
	return file, rows.Err()
}

// begin starts one of the engine's own transactions (rebuild, setup).
func (b *backend) begin(ctx context.Context) (wsql.Tx, error) {
	opts := &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	if b.dialect == SQLite {
		opts = nil
	}
	if err := b.turn.take(ctx); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	for {
		tx, err := b.db.BeginTx(ctx, opts)
		if err == nil {
			if b.turn == nil {
				return tx, nil
			}
			return &turnTx{Tx: tx, turn: b.turn}, nil
		}
		// SQLite's busy handler is not fair: under a stream of appends and
		// batches a waiter can time out. Wait for our turn again.
		if b.dialect == SQLite && strings.Contains(err.Error(), "SQLITE_BUSY") && ctx.Err() == nil {
			continue
		}
		b.turn.give()
		return nil, fmt.Errorf("begin: %w", err)
	}
}

// inTx runs fn in one of the engine's transactions.
func (b *backend) inTx(ctx context.Context, fn func(tx wsql.Tx) error) error {
	tx, err := b.begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// InTx implements Backend: fn sees the transaction as a projection's Tx,
// with ? placeholders.
func (b *backend) InTx(ctx context.Context, fn func(tx Tx) error) error {
	return b.inTx(ctx, func(tx wsql.Tx) error { return fn(b.view(tx)) })
}

// TableExists implements Backend, outside any transaction.
func (b *backend) TableExists(ctx context.Context, table string) (bool, error) {
	return b.tableExists(ctx, b.db, table)
}

// schema is the Watermill schema adapter over the events table, reading
// pages of up to batch events through the driver's SQLLog.
func (b *backend) schema(batch int) eventsSchema {
	return eventsSchema{
		dialect:    b.dialect,
		batch:      batch,
		selectFrom: b.log.EventColumns(),
		gapSafe:    b.log.GapSafeCondition(),
		scan:       func(s wsql.Scanner) (eventstore.Event, error) { return b.log.ScanEvent(s) },
	}
}

func (b *backend) view(ex wsql.ContextExecutor) txView {
	return txView{ex: ex, dialect: b.dialect, log: b.log}
}

// queryInt64 runs a query returning one integer.
func (b *backend) queryInt64(ctx context.Context, ex wsql.ContextExecutor, q string, args ...any) (int64, error) {
	rows, err := b.view(ex).QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n sql.NullInt64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n.Int64, rows.Err()
}

// lockSetup serializes schema setup between servers sharing the database.
func (b *backend) lockSetup(ctx context.Context, tx wsql.Tx) error {
	if b.dialect != Postgres {
		return nil // BEGIN IMMEDIATE holds the write lock already
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", b.lockKey)
	return err
}

// lockCheckpoint takes the projection's lock, the one every live batch holds
// while it runs (see guardedBeginner), and reads its checkpoint.
func (b *backend) lockCheckpoint(ctx context.Context, tx wsql.Tx, name string) (int64, error) {
	if b.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", projectionLockKey(name)); err != nil {
			return 0, err
		}
	}
	return b.queryInt64(ctx, tx, `SELECT position FROM projection_checkpoints WHERE name = ?`, name)
}

func (b *backend) tableExists(ctx context.Context, ex wsql.ContextExecutor, table string) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if b.dialect == Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	n, err := b.queryInt64(ctx, ex, q, table)
	return n > 0, err
}

// renameIndexes gives the indexes of a swapped-in table their live names,
// by removing the rebuild suffix.
func (b *backend) renameIndexes(ctx context.Context, tx wsql.Tx, table string) error {
	v := b.view(tx)
	type index struct{ name, sql string }
	var idx []index
	q := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`
	if b.dialect == Postgres {
		q = `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?`
	}
	rows, err := v.QueryContext(ctx, q, table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var i index
		if err := rows.Scan(&i.name, &i.sql); err != nil {
			rows.Close()
			return err
		}
		if strings.Contains(i.name, rebuildSuffix) {
			idx = append(idx, i)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range idx {
		live := strings.Replace(i.name, rebuildSuffix, "", 1)
		if b.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER INDEX %q RENAME TO %q`, i.name, live)); err != nil {
				return fmt.Errorf("rename index %s: %w", i.name, err)
			}
			continue
		}
		// SQLite cannot rename an index: create it again under its name.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DROP INDEX %q`, i.name)); err != nil {
			return fmt.Errorf("drop index %s: %w", i.name, err)
		}
		create := strings.Replace(i.sql, i.name, live, 1)
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("recreate index %s: %w", live, err)
		}
	}
	return nil
}
