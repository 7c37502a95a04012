package projections

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
)

// Waiting for new events. A subscriber whose read found nothing waits for a
// wake-up (an append committed) or, failing that, for the slow poll, the
// safety net for a lost notification and for appends of other processes on
// the same SQLite file.
const (
	slowPoll = time.Second
	// After a wake-up whose read found nothing, the subscriber reads again
	// this soon, then twice as late each time up to the slow poll. On
	// PostgreSQL a notified event can still be behind the gap-safe
	// horizon, held back by an older transaction still open anywhere on
	// the server (another projection's batch, say), whose commit notifies
	// nobody.
	quickRetry = 10 * time.Millisecond
	// listenRetry is the pause before the listener connects again.
	listenRetry = time.Second
	// listenerName is the application_name of the LISTEN connection.
	listenerName = "capacity_projections_listen"
)

// poller is the BackoffManager of one projection's subscriber: instead of
// sleeping a fixed interval after an empty read (Watermill's default), it
// waits in HandleError, which the subscriber calls between reads, for the
// first of a wake-up, the poll interval, and the engine's stop, then lets
// the subscriber read again at once. The subscriber calls BeginTx (arm) and
// HandleError from its one goroutine, one read after the other.
type poller struct {
	wakeups func() <-chan struct{} // nil: poll only
	every   time.Duration
	done    <-chan struct{}
	errors  wsql.BackoffManager // after a failed read

	mu    sync.Mutex
	armed <-chan struct{} // closed at the first wake-up after the read began
	retry time.Duration   // the next wait after an empty read (quickRetry .. every)
}

var _ wsql.BackoffManager = (*poller)(nil)

// arm is called as a read begins, before its snapshot: a wake-up from then
// on ends the wait that follows the read.
func (p *poller) arm() {
	if p.wakeups == nil {
		return
	}
	ch := p.wakeups()
	p.mu.Lock()
	p.armed = ch
	p.mu.Unlock()
}

func (p *poller) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	p.mu.Lock()
	armed := p.armed
	if err != nil || !noMsg {
		// A read that found events used up the wake-up; a failed one
		// waits the retry interval.
		p.retry = p.every
		p.mu.Unlock()
		if err != nil {
			return p.errors.HandleError(logger, noMsg, err)
		}
		return 0
	}
	wait := p.retry
	if wait <= 0 || wait > p.every {
		wait = p.every
	}
	p.retry = min(2*wait, p.every)
	p.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-armed:
		p.mu.Lock()
		p.retry = quickRetry
		p.mu.Unlock()
	case <-t.C:
	case <-p.done:
	}
	return 0
}

// pgWakeups LISTENs for the store's notifications on one connection of
// its own, for the whole engine, and wakes every subscriber at each one.
func pgWakeups(cfg *pgx.ConnConfig) func(ctx context.Context, logger *slog.Logger) (func() <-chan struct{}, func()) {
	return func(ctx context.Context, logger *slog.Logger) (func() <-chan struct{}, func()) {
		var sig eventstore.Signal
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				err := listen(ctx, cfg, &sig)
				if ctx.Err() != nil {
					return
				}
				logger.Warn("listening for appended events failed: polling every second until connected again", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(listenRetry):
				}
			}
		})
		return sig.C, wg.Wait
	}
}

// listen runs one LISTEN connection until it fails or ctx ends.
func listen(ctx context.Context, cfg *pgx.ConnConfig, sig *eventstore.Signal) error {
	cfg = cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{postgres.AppendedChannel}.Sanitize()); err != nil {
		return err
	}
	// Appends may have committed while nobody listened.
	sig.Broadcast()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		sig.Broadcast()
	}
}

// appendedSignal is a store that signals its own commits (SQLite).
type appendedSignal interface{ Appended() <-chan struct{} }
