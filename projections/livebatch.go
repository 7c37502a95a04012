package projections

import (
	"sync"
	"time"
)

// liveBatchTime is how long a live batch aims to keep its transaction open.
// The subscriber hands the batch (one page of events) to the handler and
// commits after it, so the transaction lives about as long as the batch
// takes to apply; while it is open it holds the projection's lock,
// on SQLite the one write lock, and on PostgreSQL a transaction id that
// holds back every gap-safe reader of the log on the whole server.
const liveBatchTime = 100 * time.Millisecond

// firstLiveBatch is the size of a projection's first live batch, before
// any batch has been timed: small, because it may be a backlog of slow
// events.
const firstLiveBatch = 16

// liveBatchSize is how many events the next live batch of one projection
// reads: as many as the recent batches say can be applied in
// liveBatchTime, at least 1 and at most the backend's live batch. A batch
// that took longer than the budget shrinks the next one at once; a faster
// one lets it at most double, so that the per-event time of a few quick
// events does not open the way to a long batch of slow ones. At low load a
// batch holds the few events there are, whatever the size.
type liveBatchSize struct {
	max    int
	budget time.Duration

	mu   sync.Mutex
	size int
}

func newLiveBatchSize(maxEvents int, budget time.Duration) *liveBatchSize {
	return &liveBatchSize{max: maxEvents, budget: budget, size: min(firstLiveBatch, maxEvents)}
}

// limit is the LIMIT of the next batch's SELECT.
func (s *liveBatchSize) limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// record adapts the size to a committed batch of events that kept its
// transaction open for took.
func (s *liveBatchSize) record(events int, took time.Duration) {
	if events <= 0 {
		return
	}
	took = max(took, time.Microsecond)
	fit := int(float64(events) * float64(s.budget) / float64(took))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = max(1, min(fit, 2*s.size, s.max))
}
