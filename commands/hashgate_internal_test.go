package commands

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/capacitytracker/capacity/domain/password"
)

func TestHashGate_BoundsHashesAndGivesUpWithTheContext(t *testing.T) {
	t.Parallel()
	p := password.FastParams()
	h, err := password.Hash("Tide-0123456789-Orchard", p)
	if err != nil {
		t.Fatal(err)
	}
	g := newHashGate(1, p)
	leave, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The one turn is taken: a request that ends while waiting gets its
	// context's error, and no verification.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := g.verify(ctx, "Tide-0123456789-Orchard", h); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("verify while the gate is full = %v, %v; want context.Canceled", ok, err)
	}
	if _, err := g.hash(ctx, "x", p); !errors.Is(err, context.Canceled) {
		t.Fatalf("hash while the gate is full: %v, want context.Canceled", err)
	}
	leave()
	if ok, err := g.verify(context.Background(), "Tide-0123456789-Orchard", h); !ok || err != nil {
		t.Fatalf("verify after the turn was given back = %v, %v", ok, err)
	}

	if got, want := cap(newHashGate(0, password.DefaultParams())), max(1, runtime.GOMAXPROCS(0)/2); got != want {
		t.Errorf("default gate allows %d hashes at once, want %d (GOMAXPROCS / 2 lanes)", got, want)
	}
	if newHashGate(-1, p) != nil {
		t.Error("a negative bound must mean no gate")
	}
	if ok, err := hashGate(nil).verify(ctx, "Tide-0123456789-Orchard", h); !ok || err != nil {
		t.Errorf("no gate: verify = %v, %v; want it to run", ok, err)
	}
}
