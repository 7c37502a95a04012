package projections

import (
	"testing"
	"time"
)

func TestLiveBatchSize_ShrinksToTheBudgetAtOnceAndGrowsAtMostDouble(t *testing.T) {
	s := newLiveBatchSize(500, 100*time.Millisecond)
	steps := []struct {
		events int
		took   time.Duration
		want   int
	}{
		{0, time.Second, firstLiveBatch},  // nothing applied: nothing learnt
		{16, 10 * time.Millisecond, 32},   // 160 would fit: at most double
		{32, 10 * time.Millisecond, 64},   //
		{64, 10 * time.Millisecond, 128},  //
		{128, 10 * time.Millisecond, 256}, //
		{256, 10 * time.Millisecond, 500}, // never above the backend's batch
		{500, 5 * time.Second, 10},        // 10 ms an event: 10 fit in the budget
		{3, 10 * time.Millisecond, 20},    // a short batch at low load
		{1, time.Second, 1},               // slower than the budget: one event a batch
		{1, 50 * time.Millisecond, 2},     //
	}
	for i, st := range steps {
		s.record(st.events, st.took)
		if got := s.limit(); got != st.want {
			t.Fatalf("step %d: after %d events in %s the next batch reads %d, want %d", i, st.events, st.took, got, st.want)
		}
	}
}
