package eventstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
)

// TestCommitQueue_EveryJobCommittedOnceInBoundedBatches: many callers, four
// committers; every job is committed exactly once, answered with its own
// outcome, and no batch exceeds the cap (except a single larger job).
func TestCommitQueue_EveryJobCommittedOnceInBoundedBatches(t *testing.T) {
	const callers, perCaller, maxBatch = 16, 50, 10
	var mu sync.Mutex
	committed := map[int]int{}
	var batches []int
	q := eventstore.NewCommitQueue(4, maxBatch, func(j int) int { return 1 + j%3 }, func(jobs []int, outcomes []eventstore.Outcome) {
		time.Sleep(200 * time.Microsecond) // a commit takes a while: others queue up
		mu.Lock()
		defer mu.Unlock()
		size := 0
		for i, j := range jobs {
			committed[j]++
			size += 1 + j%3
			outcomes[i] = eventstore.Outcome{Results: []eventstore.AppendResult{{FirstVersion: int64(j)}}}
		}
		batches = append(batches, size)
	})
	var wg sync.WaitGroup
	errs := make(chan error, callers*perCaller)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perCaller {
				j := c*perCaller + k
				res, err := q.Submit(context.Background(), j)
				if err != nil || len(res) != 1 || res[0].FirstVersion != int64(j) {
					errs <- errors.Join(err, errors.New("wrong outcome"))
				}
			}
		}()
	}
	wg.Wait()
	q.Close()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(committed) != callers*perCaller {
		t.Fatalf("%d jobs committed, want %d", len(committed), callers*perCaller)
	}
	for j, n := range committed {
		if n != 1 {
			t.Fatalf("job %d committed %d times", j, n)
		}
	}
	grouped := false
	for _, size := range batches {
		if size > maxBatch {
			t.Fatalf("a batch of %d events, cap %d", size, maxBatch)
		}
		grouped = grouped || size > 3
	}
	if !grouped {
		t.Fatalf("no batch held more than one job: %v", batches)
	}
	if _, err := q.Submit(context.Background(), 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("submit after Close: %v, want ErrClosed", err)
	}
}

// TestCommitQueue_CallerThatGivesUpWhileQueuedIsNeverCommitted: a job whose
// caller's context ends before a committer takes it is skipped; one taken
// already is answered with its outcome even though its caller's context
// ended meanwhile.
func TestCommitQueue_CallerThatGivesUpWhileQueuedIsNeverCommitted(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var mu sync.Mutex
	var committed []string
	q := eventstore.NewCommitQueue(1, 100, func(string) int { return 1 }, func(jobs []string, outcomes []eventstore.Outcome) {
		started <- struct{}{}
		<-release
		mu.Lock()
		committed = append(committed, jobs...)
		mu.Unlock()
	})
	defer q.Close()

	takenCtx, cancelTaken := context.WithCancel(context.Background())
	takenDone := make(chan error, 1)
	go func() {
		_, err := q.Submit(takenCtx, "taken")
		takenDone <- err
	}()
	<-started // the committer holds "taken"

	queuedCtx, cancelQueued := context.WithCancel(context.Background())
	queuedDone := make(chan error, 1)
	go func() {
		_, err := q.Submit(queuedCtx, "abandoned")
		queuedDone <- err
	}()
	time.Sleep(20 * time.Millisecond) // "abandoned" waits in the queue
	cancelQueued()
	if err := <-queuedDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned job: %v, want context.Canceled", err)
	}
	cancelTaken()
	select {
	case err := <-takenDone:
		t.Fatalf("the taken job's caller returned (%v) before its batch was committed", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-takenDone; err != nil {
		t.Fatalf("taken job: %v, want its (successful) outcome", err)
	}
	q.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(committed) != 1 || committed[0] != "taken" {
		t.Fatalf("committed %v, want only the taken job", committed)
	}
}
