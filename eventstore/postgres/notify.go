package postgres

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// AppendedChannel is the channel of the NOTIFY sent after appends commit.
// The projection engine LISTENs on it and wakes its subscribers instead of
// polling the log. The payload is the highest position this store has
// committed, in decimal: a reader that has applied less knows that events
// are pending, even while they are still behind the gap-safe horizon.
const AppendedChannel = "capacity_events"

// notifyTimeout bounds one NOTIFY; a lost one costs a slow poll, not an
// error.
const notifyTimeout = 5 * time.Second

// notifier sends one NOTIFY after appends commit, from its own goroutine,
// off the appends' path: a transaction that notifies takes a lock at commit
// that serializes all notifying transactions of the database, flush
// included, which would undo the group commit of concurrent appends. Its
// own transaction is one statement and does not wait for its flush. Requests
// made while a NOTIFY is being sent coalesce into one more: under load the
// listeners get about one notification per round trip, not one per append.
func (s *Store) notifier() {
	defer close(s.notifierDone)
	for {
		select {
		case <-s.notifyReq:
		case <-s.closing:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		_, err := s.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`,
			AppendedChannel, strconv.FormatInt(s.notifyPos.Load(), 10))
		cancel()
		if err != nil {
			slog.Default().Warn("notify listeners of appended events", "component", "eventstore", "err", err)
		}
	}
}

// notifyAppended asks the notifier to send a NOTIFY for events committed
// up to position; it never blocks.
func (s *Store) notifyAppended(position int64) {
	for {
		cur := s.notifyPos.Load()
		if position <= cur || s.notifyPos.CompareAndSwap(cur, position) {
			break
		}
	}
	select {
	case s.notifyReq <- struct{}{}:
	default: // one is pending: it will see these events too
	}
}
