package sqlite

import (
	"context"
	"errors"
	"sync"

	"github.com/capacitytracker/capacity/eventstore"
)

// Group commit
//
// SQLite commits one write transaction at a time, and most of an append's
// cost is its commit: writing the changed pages (the events table's last
// leaf, its indexes, the stream's row, sqlite_sequence) to the WAL. Appends
// that arrive while a commit is in progress therefore wait in a queue, and
// the next transaction takes all of them (up to maxBatchEvents events) and
// commits them together; pages they share are written once.
//
// Each append still stands alone: it runs under its own savepoint, sees the
// appends queued before it as already done (so expected versions are checked
// in queue order), and when it fails nothing of it remains and the others go
// on. A caller is answered only after the shared COMMIT succeeded; when the
// COMMIT fails, every append of the batch fails. A caller whose context ends
// while its append is still queued takes it out of the queue and nothing of
// it is written; once the writer has taken it, the caller waits for the
// outcome (a bounded wait: maxLockWait bounds the lock wait), so that
// an error never hides a written append.

// maxBatchEvents caps the events of one group commit, so that the write lock
// is not held for long. A single append may exceed it.
const maxBatchEvents = eventstore.MaxEventsPerAppend

// errClosed is returned by appends made after Close.
var errClosed = errors.New("sqlite event store is closed")

type jobOutcome struct {
	results []eventstore.AppendResult
	err     error
}

// queuedJob is an append waiting in the commit queue.
type queuedJob struct {
	job       *appendJob
	taken     bool // the writer has taken it into a transaction
	abandoned bool // its caller gave up before it was taken
	done      chan jobOutcome
}

// commitQueue serializes the appends of one Store onto one writer goroutine
// that commits them in batches.
type commitQueue struct {
	commit func(jobs []*appendJob, outcomes []jobOutcome)

	mu      sync.Mutex
	pending []*queuedJob
	closed  bool

	wake    chan struct{} // buffered 1: something was queued
	quit    chan struct{} // closed by close
	stopped chan struct{} // closed when the writer goroutine has returned
}

func newCommitQueue(commit func(jobs []*appendJob, outcomes []jobOutcome)) *commitQueue {
	q := &commitQueue{
		commit:  commit,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go q.run()
	return q
}

// submit queues job and waits for its outcome.
func (q *commitQueue) submit(ctx context.Context, job *appendJob) ([]eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qj := &queuedJob{job: job, done: make(chan jobOutcome, 1)}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, errClosed
	}
	q.pending = append(q.pending, qj)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // the writer is awake already
	}

	select {
	case out := <-qj.done:
		return out.results, out.err
	case <-ctx.Done():
		q.mu.Lock()
		if !qj.taken {
			qj.abandoned = true // the writer skips it: nothing is written
			q.mu.Unlock()
			return nil, ctx.Err()
		}
		q.mu.Unlock()
		out := <-qj.done
		return out.results, out.err
	}
}

// take removes the next batch from the queue, skipping abandoned jobs.
func (q *commitQueue) take() []*queuedJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []*queuedJob
	events, n := 0, 0
	for _, qj := range q.pending {
		if qj.abandoned {
			n++
			continue
		}
		if len(batch) > 0 && events+qj.job.events > maxBatchEvents {
			break
		}
		qj.taken = true
		batch = append(batch, qj)
		events += qj.job.events
		n++
	}
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	return batch
}

// run is the writer goroutine: it commits batches while there are queued
// appends, and after close it commits what was queued before and returns.
func (q *commitQueue) run() {
	defer close(q.stopped)
	for {
		select {
		case <-q.wake:
		case <-q.quit:
		}
		for {
			batch := q.take()
			if len(batch) == 0 {
				break
			}
			jobs := make([]*appendJob, len(batch))
			for i, qj := range batch {
				jobs[i] = qj.job
			}
			outcomes := make([]jobOutcome, len(batch))
			q.commit(jobs, outcomes)
			for i, qj := range batch {
				qj.done <- outcomes[i]
			}
		}
		select {
		case <-q.quit:
			q.mu.Lock()
			empty := len(q.pending) == 0
			q.mu.Unlock()
			if empty {
				return
			}
		default:
		}
	}
}

// close stops taking appends, lets the writer commit those queued already,
// and waits for it to return.
func (q *commitQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.stopped
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.quit)
	<-q.stopped
}
