// Package projections feeds the read models from the event log.
//
// Each Projection is a named Watermill handler with its own consumer group
// (its row in projection_checkpoints), subscribed through the watermill-sql
// Subscriber to our own events table: no events are copied into Watermill's
// tables and nothing is ever published through Watermill; appends go through
// eventstore.
//
// # Exactly-once effect
//
// One Watermill message carries a page of events: the subscriber's SELECT
// returns one row per page (the checkpoint and the last position and number
// of the next events below the gap-safe horizon), in one transaction that it
// hands the message (sql.TxFromContext). The handler reads the page's events
// through that transaction and applies them as one batch with the code a
// rebuild uses (batchapply.go); the projection writes its rows through it,
// and the checkpoint is advanced in it too, so rows and checkpoint commit or
// roll back together. Every handler attempt runs in a SAVEPOINT, so a failed
// attempt leaves nothing behind before the retry. Attempts and the commit are
// serialized (see guardedTx): when the subscriber gives up on a message
// during shutdown and commits, the commit contains only whole attempts and
// the checkpoint says exactly which.
//
// A page that still fails after the retries goes to the PoisonQueue
// middleware, whose recorder splits it until the events that fail alone are
// found, records those in projection_poison and applies the rest, in the
// same transaction; one failing event or projection never stops the others.
//
// On PostgreSQL the subscriber reads only below the oldest running
// transaction (see eventstore/postgres), so its transaction holds an xid for
// the length of a batch: batches keep to a time budget (livebatch.go).
//
// The package must not write events or read anything but the event log, its
// checkpoints and the read models it runs. Tables kept beside a read model
// but outside every projection belong to that read model's package, which
// writes them through Backend.InTx: mail_deliveries, the delivery ledger of
// the mail outbox (projections/mailoutbox's Deliveries), through which the
// server's mail port (cmd/capacityd/mailer) claims the outbox's messages
// and records their delivery, so that a rebuild sends nothing twice.
package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/capacitytracker/capacity/eventstore"
)

// Projection turns events into read-model rows. Implementations are
// stateless: everything they know lives in their tables.
type Projection interface {
	// Name is the projection's stable id: its consumer group and checkpoint.
	Name() string
	// Tables lists the read-model tables the projection owns.
	Tables() []string
	// Schema returns the statements that create the projection's tables and
	// indexes. Every table name goes through table, and every index is named
	// table(owner) + a suffix, so that a rebuild can create fresh copies next
	// to the live ones and swap them in.
	Schema(d Dialect, table func(string) string) []string
	// Apply applies one event. It writes only through tx, to the tables
	// named by tables. Returning an error retries the event and finally
	// records it as poison.
	Apply(ctx context.Context, tx Tx, tables func(string) string, ev eventstore.Event) error
}

// BatchApplier is implemented by a projection that can apply many events at
// once, for example by aggregating them in memory and writing each row
// once. A rebuild and live delivery then hand it every batch of two events
// or more in one call instead of one Apply per event.
//
// ApplyBatch must have exactly the same effect on the tables as calling
// Apply for each event of evs, in order, and the same rules: it writes only
// through tx, to the tables named by tables. evs is in log order and never
// empty. When ApplyBatch returns an error the engine undoes whatever it
// wrote and splits the batch in halves, again and again, down to single
// events, which go through Apply, so the events that fail there are
// recorded as poison, exactly as without ApplyBatch.
type BatchApplier interface {
	ApplyBatch(ctx context.Context, tx Tx, tables func(string) string, evs []eventstore.Event) error
}

// Preparer is implemented by a projection with work on an event that needs
// nothing but the event itself: decoding its data, diffing it, building
// row values. A rebuild calls Prepare for each batch as soon as the batch
// is read, on its reader goroutine, while the batch before it is still
// being written (another core; on PostgreSQL the server's ingest too), and
// hands the result to ApplyBatch and Apply in their context (Prepared).
//
// Prepare must not touch the database, nor depend on any state but evs and
// d. What it returns is only a head start: Apply and ApplyBatch must give
// the same rows whether they find it or not (live delivery, an erasure's
// refold and a split batch may call them without it, or with a batch that
// holds more events than theirs), and must check that a prepared result is
// for the very event they apply (its ID). A Preparer should return an
// error through its result rather than fail, so that Apply reports it for
// the one event it concerns.
type Preparer interface {
	Prepare(d Dialect, evs []eventstore.Event) any
}

type preparedKey struct{}

// WithPrepared returns ctx carrying a Preparer's result for a batch.
func WithPrepared(ctx context.Context, prepared any) context.Context {
	return context.WithValue(ctx, preparedKey{}, prepared)
}

// Prepared is the Preparer's result that ctx carries (WithPrepared), or
// nil.
func Prepared(ctx context.Context) any { return ctx.Value(preparedKey{}) }

// Tx is the transaction a projection writes through. Queries use ?
// placeholders on every backend (on PostgreSQL they are rewritten to $n, so
// write the jsonb ? operator as jsonb_exists).
type Tx interface {
	Dialect() Dialect
	ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (Rows, error)
	// events is the driver's way to query the log in this transaction
	// (an erasure folds a stream again from it).
	events() eventstore.SQLLog
}

// Rows is the result of Tx.QueryContext.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Dialect is the SQL dialect of a backend.
type Dialect int

const (
	Postgres Dialect = iota + 1
	SQLite
)

func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("dialect(%d)", int(d))
}

// TimestampType is the column type of an instant.
func (d Dialect) TimestampType() string {
	if d == Postgres {
		return "TIMESTAMPTZ"
	}
	return "TEXT"
}

// sqliteTime is fixed width, so that text order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000000Z"

// Time is the value to bind for an instant column.
func (d Dialect) Time(t time.Time) any {
	if d == Postgres {
		return t.UTC()
	}
	return t.UTC().Format(sqliteTime)
}

// Timestamp scans an instant column of either dialect.
type Timestamp struct{ time.Time }

var _ sql.Scanner = (*Timestamp)(nil)

// Scan implements sql.Scanner.
func (t *Timestamp) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v.UTC()
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	case nil:
		t.Time = time.Time{}
		return nil
	}
	return fmt.Errorf("cannot scan %T into a timestamp", src)
}

func (t *Timestamp) parse(s string) error {
	for _, layout := range []string{sqliteTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05"} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse timestamp %q", s)
}

// Value implements driver.Valuer with the SQLite text form.
func (t Timestamp) Value() (driver.Value, error) { return t.UTC().Format(sqliteTime), nil }

// Progress reports a rebuild.
type Progress struct {
	Projection string
	Done       int64         // events replayed so far
	Total      int64         // events to replay (grows while appends continue)
	Rate       float64       // events per second
	ETA        time.Duration // at Rate, for Total-Done events
	Swapped    bool          // the rebuilt tables are live (last report)
}

// Status is the state of one projection.
type Status struct {
	Name        string
	Checkpoint  int64   // position of the last event applied
	Head        int64   // the log's head position
	LagEvents   int64   // events after Checkpoint, up to Head
	LagSeconds  float64 // age of the oldest event not yet applied
	PoisonCount int64
	LastPoison  string // error of the most recent poison event
	// Running: the projection runs on this engine (on PostgreSQL, this
	// node holds its lease).
	Running bool
	// Owner names the node that holds the projection's lease (program,
	// pid, host and node id); empty when none does, and on SQLite.
	Owner string
}

// Observer receives the engine's measurements, for example to export them
// to Prometheus. Calls come from the subscriber goroutines and must not
// block.
type Observer interface {
	// Committed is called after a batch committed: the projection's
	// checkpoint is now position, events were applied or poisoned.
	Committed(projection string, position int64, events int)
	// Poisoned is called when an event is recorded as poison (the record
	// is durable once Committed follows).
	Poisoned(projection string, position int64, eventType string, err error)
}
