package projections

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// TestPoller_PacesReadsAfterABatchOnly: on PostgreSQL, a read that follows
// one that found events begins no sooner than livePace after that one
// began; a read that
// follows reads which found nothing (a quiet spell) begins at once.
func TestPoller_PacesReadsAfterABatchOnly(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	if livePace(SQLite) != 0 {
		t.Errorf("SQLite's pace is %v, want none", livePace(SQLite))
	}
	pace := livePace(Postgres)
	p := &poller{every: time.Millisecond, done: done, paceEvery: pace, quickMax: time.Millisecond}
	if w := p.paceWait(time.Now()); w != 0 {
		t.Fatalf("first read waits %v, want 0", w)
	}
	p.pace(context.Background())
	began := p.readBegan
	p.HandleError(watermill.NopLogger{}, false, nil) // the read found events
	if got, want := p.paceWait(began.Add(3*time.Millisecond)), pace-3*time.Millisecond; got != want {
		t.Errorf("3 ms after a batch began the next read waits %v, want %v", got, want)
	}
	if got := p.paceWait(began.Add(pace)); got != 0 {
		t.Errorf("pace after a batch began the next read waits %v, want 0", got)
	}

	// Reads that find nothing do not move the pace on: after a quiet
	// spell longer than pace the next read does not wait.
	p.pace(context.Background())
	p.HandleError(watermill.NopLogger{}, true, nil)
	if !p.batchBegan.Equal(began) {
		t.Errorf("an empty read moved the last batch's start from %v to %v", began, p.batchBegan)
	}
	if got := p.paceWait(began.Add(2 * pace)); got != 0 {
		t.Errorf("after a quiet spell the next read waits %v, want 0", got)
	}

	// pace itself waits out the rest of pace after a batch.
	p.pace(context.Background())
	p.HandleError(watermill.NopLogger{}, false, nil)
	p.pace(context.Background())
	if p.readBegan.Sub(p.batchBegan) < pace {
		t.Errorf("a read began %v after the batch before it, want at least %v", p.readBegan.Sub(p.batchBegan), pace)
	}

	// A cancelled context ends the wait.
	p.HandleError(watermill.NopLogger{}, false, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.paceEvery = time.Hour
	p.pace(ctx) // returns: the test would time out otherwise
}
