package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

var (
	timeUTC     = time.UTC
	fixedZone   = time.FixedZone("UTC+5:30", 5*3600+1800)
	millisecond = time.Millisecond
	hour        = time.Hour
)

// sleep separates the timestamps of appends. It is not a timing assertion.
func sleep(t *testing.T, ms int) {
	t.Helper()
	time.Sleep(time.Duration(ms) * time.Millisecond)
}

const (
	concurrentWriters   = 16
	appendsPerWriter    = 150
	contendedStreams    = 4 // exact expected versions, retried on conflict
	sharedAnyStreams    = 6 // Any, shared by all writers
	maxConflictAttempts = 10000
)

type ack struct {
	id       uuid.UUID
	stream   string
	version  int64
	position int64
}

// testConcurrency runs writers against contended and uncontended streams
// while a reader follows the global log, and checks that the reader saw every
// acknowledged event exactly once, in an order that keeps every stream's
// versions consecutive. The run is bounded by the number of appends.
func testConcurrency(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	var (
		mu   sync.Mutex
		acks []ack
	)
	record := func(res eventstore.AppendResult, evs []eventstore.EventData) {
		mu.Lock()
		defer mu.Unlock()
		for i, ev := range evs {
			acks = append(acks, ack{id: ev.ID, stream: res.StreamID, version: res.FirstVersion + int64(i), position: res.Positions[i]})
		}
	}

	writersDone := make(chan struct{})
	var lastAcked int64 // written before writersDone is closed
	type seen struct {
		ev    eventstore.Event
		order int
	}
	seenByID := map[uuid.UUID]seen{}
	readerDone := make(chan struct{})
	go func() { // the reader: follows ReadAll from its last position
		defer close(readerDone)
		var from int64
		lastVersion := map[string]int64{}
		order := 0
		var deadline time.Time
		for {
			evs, err := s.ReadAll(ctx, from, 64)
			if err != nil {
				t.Errorf("reader: read all from %d: %v", from, err)
				return
			}
			for _, ev := range evs {
				if ev.Position <= from {
					t.Errorf("reader: position %d after %d", ev.Position, from)
				}
				from = ev.Position
				if prev, dup := seenByID[ev.ID]; dup {
					t.Errorf("reader: event %s seen twice (positions %d and %d)", ev.ID, prev.ev.Position, ev.Position)
				}
				seenByID[ev.ID] = seen{ev: ev, order: order}
				order++
				if want := lastVersion[ev.StreamID] + 1; ev.Version != want {
					t.Errorf("reader: stream %s version %d at position %d, want version %d next", ev.StreamID, ev.Version, ev.Position, want)
				}
				lastVersion[ev.StreamID] = ev.Version
			}
			if len(evs) > 0 {
				continue
			}
			select {
			case <-writersDone:
				if from >= lastAcked {
					return // every acknowledged event has been read
				}
				if deadline.IsZero() {
					deadline = time.Now().Add(settleTimeout)
				} else if time.Now().After(deadline) {
					t.Errorf("reader: stuck at position %d, the last acknowledged is %d", from, lastAcked)
					return
				}
				time.Sleep(time.Millisecond)
			case <-time.After(time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	for w := 0; w < concurrentWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			known := map[string]int64{} // this writer's idea of each contended stream's version
			for i := 0; i < appendsPerWriter; i++ {
				evs := make([]eventstore.EventData, 1+rng.IntN(3)/2) // mostly one event, sometimes two
				for j := range evs {
					evs[j] = newEvent("Concurrent", fmt.Sprintf(`{"writer": %d, "i": %d, "j": %d}`, w, i, j))
				}
				switch i % 3 {
				case 0: // contended, exact expected version, retried on conflict
					stream := fmt.Sprintf("contended-%d", rng.IntN(contendedStreams))
					for attempt := 0; ; attempt++ {
						if attempt == maxConflictAttempts {
							t.Errorf("writer %d: gave up on %s after %d conflicts", w, stream, attempt)
							return
						}
						res, err := s.Append(ctx, stream, eventstore.Exact(known[stream]), evs...)
						var wrong *eventstore.WrongExpectedVersionError
						if errors.As(err, &wrong) {
							if wrong.CurrentVersion == known[stream] {
								t.Errorf("writer %d: conflict on %s reports the expected version %d as current", w, stream, known[stream])
								return
							}
							known[stream] = wrong.CurrentVersion
							continue
						}
						if err != nil {
							t.Errorf("writer %d: append to %s: %v", w, stream, err)
							return
						}
						if res.FirstVersion != known[stream]+1 {
							t.Errorf("writer %d: append at expected %d got first version %d", w, known[stream], res.FirstVersion)
						}
						known[stream] = res.LastVersion
						record(res, evs)
						break
					}
				case 1: // shared, Any
					stream := fmt.Sprintf("shared-%d", rng.IntN(sharedAnyStreams))
					res, err := s.Append(ctx, stream, eventstore.Any, evs...)
					if err != nil {
						t.Errorf("writer %d: append to %s with Any: %v", w, stream, err)
						return
					}
					record(res, evs)
				default: // the writer's own streams
					stream := fmt.Sprintf("own-w%d.%d", w, rng.IntN(5))
					res, err := s.Append(ctx, stream, eventstore.Any, evs...)
					if err != nil {
						t.Errorf("writer %d: append to %s: %v", w, stream, err)
						return
					}
					record(res, evs)
				}
			}
		}()
	}
	wg.Wait()
	for _, a := range acks {
		lastAcked = max(lastAcked, a.position)
	}
	close(writersDone) // publishes lastAcked to the reader
	<-readerDone
	if t.Failed() {
		return
	}

	perStream := map[string]int{}
	for _, a := range acks {
		perStream[a.stream]++
		got, ok := seenByID[a.id]
		if !ok {
			t.Errorf("acknowledged event %s (%s v%d at %d) never reached the reader", a.id, a.stream, a.version, a.position)
			continue
		}
		if got.ev.Position != a.position || got.ev.StreamID != a.stream || got.ev.Version != a.version {
			t.Errorf("event %s acknowledged as %s v%d at %d, read as %s v%d at %d",
				a.id, a.stream, a.version, a.position, got.ev.StreamID, got.ev.Version, got.ev.Position)
		}
	}
	if len(seenByID) != len(acks) {
		t.Errorf("reader saw %d events, %d were acknowledged", len(seenByID), len(acks))
	}
	for stream, n := range perStream {
		evs := readStream(t, s, stream, eventstore.ReadStreamOptions{})
		if !sameInts(versions(evs), seq(1, int64(n))) {
			t.Errorf("stream %s versions %v, want 1..%d", stream, versions(evs), n)
		}
	}
	head, err := s.HeadPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != lastAcked {
		t.Errorf("head position %d, want the last acknowledged position %d", head, lastAcked)
	}
}
