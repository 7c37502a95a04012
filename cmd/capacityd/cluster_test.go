package main

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/cmd/internal/proctest"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
)

// postgresCluster is what the tests of several capacityd nodes on one
// PostgreSQL database start from: the two binaries (built without the race
// detector: several servers under it would only make the tests slower), a
// migrated and seeded database of its own, and the test's own way in to it.
type postgresCluster struct {
	ctl, bin, url string
	env           []string // DATABASE_URL for the processes
	pool          *pgxpool.Pool
	store         *postgres.Store
	acc           *commands.Service
}

// newPostgresCluster builds the binaries and migrates and seeds a new
// database with capacityctl (locations and GP practices).
func newPostgresCluster(t *testing.T, locations, gpPractices int) postgresCluster {
	t.Helper()
	ctx := context.Background()
	c := postgresCluster{
		ctl: proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityctl", false),
		bin: proctest.Build(t, "github.com/capacitytracker/capacity/cmd/capacityd", false),
		url: pgtest.NewDatabase(t),
	}
	c.env = proctest.Env("DATABASE_URL=" + c.url)
	for _, args := range [][]string{{"migrate"}, {"seed", "-locations", strconv.Itoa(locations), "-gp-practices", strconv.Itoa(gpPractices)}} {
		p := proctest.Start(t, t.TempDir(), c.env, c.ctl, args...)
		if code := p.Wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("capacityctl %v: exit %d", args, code)
		}
	}
	pool, err := pgxpool.New(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c.pool, c.store = pool, postgres.New(pool)
	if c.acc, err = commands.New(ctx, c.store, commands.DefaultConfig(), time.Now, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return c
}
