package commands

import (
	"context"
	"runtime"

	"github.com/capacitytracker/capacity/domain/password"
)

// hashGate bounds how many argon2id hashes and verifications run at once.
// Each one takes tens of milliseconds of every core its lanes use and 64
// MiB of memory: without a bound a burst of sign-ins would run them all
// together, take every core from the other requests and the memory with
// it. Waiting for a turn ends with the request's context. A nil gate
// bounds nothing.
type hashGate chan struct{}

// newHashGate allows n hashes at once; 0 means enough to fill the cores
// (GOMAXPROCS divided by the lanes of one hash, at least 1), a negative n
// no bound at all.
func newHashGate(n int, p password.Params) hashGate {
	if n < 0 {
		return nil
	}
	if n == 0 {
		n = max(1, runtime.GOMAXPROCS(0)/max(1, int(p.Threads)))
	}
	return make(hashGate, n)
}

// enter waits for a turn; the caller calls the returned function when done.
func (g hashGate) enter(ctx context.Context) (func(), error) {
	if g == nil {
		return func() {}, nil
	}
	select {
	case g <- struct{}{}:
		return func() { <-g }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// verify is password.Verify in its turn.
func (g hashGate) verify(ctx context.Context, pw, hash string) (bool, error) {
	leave, err := g.enter(ctx)
	if err != nil {
		return false, err
	}
	defer leave()
	return password.Verify(pw, hash)
}

// hash is password.Hash in its turn.
func (g hashGate) hash(ctx context.Context, pw string, p password.Params) (string, error) {
	leave, err := g.enter(ctx)
	if err != nil {
		return "", err
	}
	defer leave()
	return password.Hash(pw, p)
}
