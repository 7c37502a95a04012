package eventstore

import (
	"context"
	"errors"
	"sync"
)

// Group commit
//
// Most of an append's cost is not its rows but its transaction: the round
// trips, the commit record and its flush. Both stores therefore queue the
// appends of concurrent callers, and each of a few committer goroutines takes
// everything queued (up to a number of events) into one transaction: a batch.
// How each store keeps the appends of a batch apart (so that one that fails
// leaves nothing and does not fail the others) is its own affair; the queue
// only hands out batches and answers callers.
//
// A caller is answered only once its batch's outcome is known. A caller whose
// context ends while its append is still queued takes it out of the queue,
// and nothing of it is written; once a committer has taken it, the caller
// waits for the outcome, so that an error never hides a written append. (The
// committers bound their own transactions: that wait is bounded.)

// ErrClosed is returned by appends made after the store was closed.
var ErrClosed = errors.New("event store is closed")

// Outcome is what a batch's commit answers one of its jobs.
type Outcome struct {
	Results []AppendResult
	Err     error
}

// CommitQueue hands queued jobs of type J to committer goroutines in
// batches. Create it with NewCommitQueue.
type CommitQueue[J any] struct {
	commit   func(jobs []J, outcomes []Outcome)
	size     func(J) int
	maxBatch int

	mu      sync.Mutex
	pending []*queuedJob[J]
	closed  bool

	wake    chan struct{} // buffered 1: something was queued
	quit    chan struct{} // closed by Close
	stopped sync.WaitGroup
}

type queuedJob[J any] struct {
	job       J
	taken     bool // a committer has taken it into a batch
	abandoned bool // its caller gave up before it was taken
	done      chan Outcome
}

// NewCommitQueue starts committers goroutines. commit runs one batch and
// sets outcomes[i] for every jobs[i]; size is a job's number of events, and
// a batch holds at most maxBatch events (a single job may exceed it).
func NewCommitQueue[J any](committers, maxBatch int, size func(J) int, commit func(jobs []J, outcomes []Outcome)) *CommitQueue[J] {
	q := &CommitQueue[J]{
		commit:   commit,
		size:     size,
		maxBatch: maxBatch,
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
	}
	for range max(1, committers) {
		q.stopped.Add(1)
		go q.run()
	}
	return q
}

// Submit queues job and waits for its outcome.
func (q *CommitQueue[J]) Submit(ctx context.Context, job J) ([]AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qj := &queuedJob[J]{job: job, done: make(chan Outcome, 1)}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	q.pending = append(q.pending, qj)
	q.mu.Unlock()
	q.signal()

	select {
	case out := <-qj.done:
		return out.Results, out.Err
	case <-ctx.Done():
		q.mu.Lock()
		if !qj.taken {
			qj.abandoned = true // the committers skip it: nothing is written
			q.mu.Unlock()
			return nil, ctx.Err()
		}
		q.mu.Unlock()
		out := <-qj.done
		return out.Results, out.Err
	}
}

func (q *CommitQueue[J]) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a committer is awake already
	}
}

// take removes the next batch from the queue, skipping abandoned jobs.
func (q *CommitQueue[J]) take() []*queuedJob[J] {
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []*queuedJob[J]
	events, n := 0, 0
	for _, qj := range q.pending {
		if qj.abandoned {
			n++
			continue
		}
		size := q.size(qj.job)
		if len(batch) > 0 && events+size > q.maxBatch {
			break
		}
		qj.taken = true
		batch = append(batch, qj)
		events += size
		n++
	}
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	if rest > 0 {
		// More than one batch was waiting: wake another committer.
		q.signal()
	}
	return batch
}

// run is one committer: it commits batches while there are queued jobs, and
// after Close it commits what was queued before and returns.
func (q *CommitQueue[J]) run() {
	defer q.stopped.Done()
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
			jobs := make([]J, len(batch))
			for i, qj := range batch {
				jobs[i] = qj.job
			}
			outcomes := make([]Outcome, len(batch))
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

// Close stops taking jobs, lets the committers commit those queued already,
// and waits for them to return.
func (q *CommitQueue[J]) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.stopped.Wait()
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.quit)
	q.stopped.Wait()
}
