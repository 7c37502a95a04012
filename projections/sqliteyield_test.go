package projections

import (
	"testing"
	"time"
)

// TestSQLiteYield_LetsInEveryAppendThatWaitedThroughTheBatch simulates
// SQLite's busy handler (sqliteDefaultBusyCallback: 1, 2, 5, 10, 15, 20,
// 25, 25, 25, 50, 50 ms, then 100 ms) for a writer that began waiting at
// every millisecond of a rebuild batch that held the write lock, and checks
// that its next retry falls within the pause sqliteYield leaves after the
// batch, with the 10 ms margin to spare.
func TestSQLiteYield_LetsInEveryAppendThatWaitedThroughTheBatch(t *testing.T) {
	delays := []time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50}
	nextRetry := func(waited time.Duration) time.Duration { // after waited, how long until the next try
		var at time.Duration
		for i := 0; ; i++ {
			d := 100 * time.Millisecond
			if i < len(delays) {
				d = delays[i] * time.Millisecond
			}
			if at+d > waited {
				return at + d - waited
			}
			at += d
		}
	}
	for took := time.Millisecond; took <= 600*time.Millisecond; took += time.Millisecond {
		pause := sqliteYield(took)
		if pause > 110*time.Millisecond {
			t.Fatalf("sqliteYield(%v) = %v, more than the longest retry delay and the margin", took, pause)
		}
		for began := time.Duration(0); began < took; began += time.Millisecond {
			if next := nextRetry(took - began); next+10*time.Millisecond > pause {
				t.Fatalf("batch of %v: a writer that began waiting at %v retries %v after it, the pause is %v",
					took, began, next, pause)
			}
		}
	}
	if got := sqliteYield(sqliteBatchTime); got != 60*time.Millisecond {
		t.Errorf("sqliteYield(%v) = %v, want 60ms (retries at most 50 ms apart before 228 ms)", sqliteBatchTime, got)
	}
}
