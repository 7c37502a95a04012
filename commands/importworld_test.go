package commands_test

import (
	"context"
	"testing"

	"github.com/capacitytracker/capacity/commands"
)

// importWorld is what an import test starts with: a new store of one
// backend, the commands on it and the system actor.
type importWorld struct {
	ctx   context.Context
	store commands.Store
	a     *commands.Service
	sys   commands.Actor
}

// eachImportWorld runs test on a new world of each backend, in parallel.
func eachImportWorld(t *testing.T, test func(t *testing.T, w importWorld)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			store := b.open(t)
			test(t, importWorld{ctx: context.Background(), store: store, a: newAccounts(t, store), sys: commands.System("test")})
		})
	}
}

// racing is the world's store behind a raceOnRead, for the import under
// test, and the commands on the store itself, for the other writer.
func (w importWorld) racing() (*raceOnRead, *commands.Service) {
	return &raceOnRead{Store: w.store}, w.a
}
