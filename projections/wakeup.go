package projections

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"

	"github.com/capacitytracker/capacity/eventstore"
)

// Waiting for new events. A subscriber whose read found nothing waits for a
// wake-up (an append committed) or, failing that, for the slow poll, the
// safety net for a lost notification and for appends of other processes on
// the same SQLite file.
const (
	slowPoll = time.Second
	// While events are known to be pending (announced by a notification or
	// the head watcher, beyond what the projection has applied) but its
	// read found nothing, the subscriber reads again this soon, then twice
	// as late each time up to quickMax, for quickFor after the last
	// wake-up. On PostgreSQL a committed event can be behind the gap-safe
	// horizon, held back by an older transaction still open anywhere on the
	// server (another projection's batch, say), whose commit notifies
	// nobody.
	quickRetry = 10 * time.Millisecond
	quickMax   = 100 * time.Millisecond
	quickFor   = 10 * time.Second
	// subscriberPolls is how many of the engine's slow polls a subscriber
	// waits, with no wake-up, before it reads the log anyway: the head
	// watcher (watchHead) wakes it when the log moves.
	subscriberPolls = 60
	// listenRetry is the pause before the listener connects again.
	listenRetry = time.Second
	// listenerName is the application_name of the LISTEN connection.
	listenerName = "capacity_projections_listen"
)

// livePace is, on PostgreSQL, the shortest time from the start of a
// subscriber's read that found events to the start of its next read
// (poller.pace). Under a steady stream of appends each projection would
// otherwise read again the moment its batch committed, a few events at a
// time: at 1,000 appends/s the eleven projections ran about 2,500
// transactions a second and kept both cores of the benchmark machine 96%
// busy (the server's work per transaction, most of it), where every
// hiccup queued up into the lag's tail. A read that comes later than this
// after the last batch's (a quiet spell; catch-up, whose batches take
// longer) does not wait at all. SQLite's transactions are calls within the
// process, cheap enough that waiting would only add latency: none there.
func livePace(d Dialect) time.Duration {
	if d == Postgres {
		return 10 * time.Millisecond
	}
	return 0
}

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

	quickMax time.Duration // the longest quick retry
	// announced is the highest position known to be committed (shared by
	// the engine's subscribers); applied is the highest this projection
	// has applied.
	announced *atomic.Int64
	applied   atomic.Int64

	// paceEvery is the shortest time from the start of a read that found
	// events to the start of the next read (livePace; 0: none).
	paceEvery time.Duration

	mu    sync.Mutex
	armed <-chan struct{} // closed at the first wake-up after the read began
	// readBegan is when the last read began, batchBegan when the last read
	// that found events did.
	readBegan, batchBegan time.Time
	// After a wake-up whose read found nothing: the next wait, until
	// quickUntil.
	retry      time.Duration
	quickUntil time.Time
}

// reached records a committed batch of the projection.
func (p *poller) reached(position int64) {
	for {
		cur := p.applied.Load()
		if position <= cur || p.applied.CompareAndSwap(cur, position) {
			return
		}
	}
}

// woken starts the quick retries of a wake-up.
func (p *poller) woken() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retry, p.quickUntil = quickRetry, time.Now().Add(quickFor)
}

var _ wsql.BackoffManager = (*poller)(nil)

// pace is called before a read begins: it waits until paceEvery has passed
// since the last read that found events began, so that the events appended
// meanwhile are read in one batch rather than one or two at a time. Reads
// that found nothing do not count: after a quiet spell the next event is
// read at once. It returns early when ctx ends (the read then fails on
// it).
func (p *poller) pace(ctx context.Context) {
	if wait := p.paceWait(time.Now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-p.done:
		}
		t.Stop()
	}
	p.mu.Lock()
	p.readBegan = time.Now()
	p.mu.Unlock()
}

// paceWait is how long a read about to begin at now waits (pace).
func (p *poller) paceWait(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paceEvery <= 0 || p.batchBegan.IsZero() {
		return 0
	}
	return max(0, p.batchBegan.Add(p.paceEvery).Sub(now))
}

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
		// After a read that found events the next one follows at once;
		// if it finds nothing while events are still pending (some of a
		// batch held behind the horizon), the quick retries start
		// again from the shortest wait. A failed read waits the retry
		// interval.
		p.retry = quickRetry
		if err == nil {
			p.batchBegan = p.readBegan
		}
		p.mu.Unlock()
		if err != nil {
			return p.errors.HandleError(logger, noMsg, err)
		}
		return 0
	}
	wait := p.every
	// A wake-up for events this projection has applied already (its
	// read found them before the notification came) is not a reason to
	// read again soon.
	pending := p.announced != nil && p.announced.Load() > p.applied.Load()
	if pending && time.Now().Before(p.quickUntil) {
		wait = p.retry
		p.retry = min(2*p.retry, p.quickMax)
	}
	p.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-armed:
		p.woken()
	case <-t.C:
	case <-p.done:
	}
	return 0
}

// pgWakeups LISTENs for the store's notifications on one connection of
// its own, for the whole engine, and wakes every subscriber at each one.
func pgWakeups(cfg *pgx.ConnConfig, channel string) func(ctx context.Context, logger *slog.Logger, wake *eventstore.Signal, announce func(int64)) {
	return func(ctx context.Context, logger *slog.Logger, wake *eventstore.Signal, announce func(int64)) {
		for {
			err := listen(ctx, cfg, channel, wake, announce)
			if ctx.Err() != nil {
				return
			}
			logger.Warn("listening for appended events failed: polling until connected again", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(listenRetry):
			}
		}
	}
}

// sqliteWakeups passes the store's commit signal on to the engine's.
func sqliteWakeups(a appendedSignal) func(ctx context.Context, logger *slog.Logger, wake *eventstore.Signal, announce func(int64)) {
	// SQLite hands out positions in commit order: a signalled event is
	// never held back, so there is nothing to announce.
	return func(ctx context.Context, _ *slog.Logger, wake *eventstore.Signal, _ func(int64)) {
		ch := a.Appended()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			// The next channel first: a commit from now on closes it.
			ch = a.Appended()
			wake.Broadcast()
		}
	}
}

// watchHead is the engine's slow poll: one cheap query every interval for
// all its projections, instead of one read of the log per projection. It
// wakes every subscriber when the log's last position moved without a
// wake-up (a lost notification, an append by another process on an SQLite
// file, an append whose caller committed) or when a projection's checkpoint
// is still behind it (an event that was behind the gap-safe horizon for
// longer than the quick retries). An idle server's projections are all at
// the head: then it wakes nobody.
func watchHead(ctx context.Context, b *backend, names []string, every time.Duration, logger *slog.Logger, wake *eventstore.Signal, announce func(int64)) {
	q := `SELECT coalesce((SELECT max(position) FROM events), 0),
		coalesce((SELECT min(position) FROM projection_checkpoints WHERE name IN (?` + strings.Repeat(", ?", len(names)-1) + `)), 0)`
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	var last int64 = -1
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		head, behind, err := b.headAndCheckpoint(ctx, q, args)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("reading the head of the log", "err", err)
		case err == nil:
			announce(head)
			if last >= 0 && (head != last || behind < head) {
				wake.Broadcast()
			}
			last = head
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *backend) headAndCheckpoint(ctx context.Context, q string, args []any) (head, checkpoint int64, err error) {
	rows, err := b.view(b.db).QueryContext(ctx, q, args...)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	if rows.Next() {
		err = rows.Scan(&head, &checkpoint)
	}
	return head, checkpoint, errors.Join(err, rows.Err())
}

// listen runs one LISTEN connection until it fails or ctx ends.
func listen(ctx context.Context, cfg *pgx.ConnConfig, channel string, sig *eventstore.Signal, announce func(int64)) error {
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
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	// Appends may have committed while nobody listened.
	var head int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		return err
	}
	announce(head)
	sig.Broadcast()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if pos, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			announce(pos)
		}
		sig.Broadcast()
	}
}

// appendedSignal is a store that signals its own commits (SQLite).
type appendedSignal interface{ Appended() <-chan struct{} }
