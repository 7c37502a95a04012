package benchrun

import (
	"context"
	"testing"
	"time"
)

// TestLagObserver_WaitsForTheSlowestProjection: with several projections,
// an event counts as applied (for catch-up and for its lag) only once every
// projection has committed past it.
func TestLagObserver_WaitsForTheSlowestProjection(t *testing.T) {
	o := newLagObserver([]string{"fast", "slow"})
	o.acknowledged(10, time.Now().Add(-time.Second))
	o.Committed("fast", 10, 10)
	if o.committed != 0 || len(o.lags) != 0 {
		t.Fatalf("after the fast projection alone: committed %d, %d lags; want 0 and none", o.committed, len(o.lags))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := o.waitFor(ctx, 10); err == nil {
		t.Fatal("waitFor returned before the slow projection reached 10")
	}
	o.Committed("slow", 12, 12)
	if o.committed != 10 || len(o.lags) != 1 || o.lags[0] < time.Second {
		t.Fatalf("after both: committed %d, lags %v; want 10 and one lag of at least 1s", o.committed, o.lags)
	}
	if err := o.waitFor(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
}
