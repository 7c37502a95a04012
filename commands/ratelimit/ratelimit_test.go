package ratelimit_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clock is a settable clock shared by the limiters of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newLimiters opens a fresh database of the backend and n limiters over
// it, as n servers would have.
func newLimiters(t *testing.T, backend string, n int, c *clock) []*ratelimit.Limiter {
	t.Helper()
	ls, _ := newLimitersAndClose(t, backend, n, c)
	return ls
}

// newLimitersAndClose is newLimiters, and a function that closes the
// database under them.
func newLimitersAndClose(t *testing.T, backend string, n int, c *clock) ([]*ratelimit.Limiter, func()) {
	t.Helper()
	store, _ := projtest.Open(t, backend)
	closeDB := func() {}
	out := make([]*ratelimit.Limiter, n)
	for i := range out {
		switch s := store.(type) {
		case *postgres.Store:
			out[i] = ratelimit.NewPostgres(s.Pool())
			closeDB = s.Pool().Close
		case *sqlite.Store:
			out[i] = ratelimit.NewSQLite(s)
			closeDB = func() { _ = s.Close() }
		default:
			t.Fatalf("unknown store %T", store)
		}
		out[i].SetClock(c.Now)
	}
	return out, closeDB
}

func eachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Parallel()
	for _, b := range projtest.Backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func TestAllow_RefusesOverEachLimitUntilItsWindowEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		c := &clock{now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
		l := newLimiters(t, backend, 1, c)[0]
		p := ratelimit.Policy{{ratelimit.Address, 3, time.Minute}, {ratelimit.Account, 2, time.Hour}}
		allow := func(addr, acct string) ratelimit.Decision {
			t.Helper()
			d, err := l.Allow(ctx, "sign-in", p, addr, acct)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		// The account's limit: two requests an hour, whatever the address.
		for i, addr := range []string{"192.0.2.1", "192.0.2.2"} {
			if d := allow(addr, "a@example.org"); !d.Allowed {
				t.Fatalf("request %d refused: %+v", i+1, d)
			}
		}
		c.Advance(10 * time.Minute)
		d := allow("192.0.2.3", "a@example.org")
		if d.Allowed || d.RetryAfter != 50*time.Minute {
			t.Fatalf("third request for the account = %+v, want refused for 50m", d)
		}
		// The address's limit: three a minute, whatever the account.
		for i, acct := range []string{"b@example.org", "c@example.org"} {
			if d := allow("192.0.2.9", acct); !d.Allowed {
				t.Fatalf("address request %d refused: %+v", i+1, d)
			}
		}
		c.Advance(20 * time.Second)
		if d := allow("192.0.2.9", ""); !d.Allowed {
			t.Fatalf("third address request refused: %+v", d)
		}
		d = allow("192.0.2.9", "d@example.org")
		if d.Allowed || d.RetryAfter != 40*time.Second {
			t.Fatalf("fourth address request = %+v, want refused for 40s", d)
		}
		// Other kinds of request have counters of their own.
		if d, err := l.Allow(ctx, "registration", p, "192.0.2.9", "a@example.org"); err != nil || !d.Allowed {
			t.Fatalf("another kind = %+v, %v; want allowed", d, err)
		}
		// When the window ends, a new one starts.
		c.Advance(40 * time.Second)
		if d := allow("192.0.2.9", "e@example.org"); !d.Allowed {
			t.Fatalf("after the address window: %+v, want allowed", d)
		}
		c.Advance(50 * time.Minute)
		if d := allow("192.0.2.4", "a@example.org"); !d.Allowed {
			t.Fatalf("after the account window: %+v, want allowed", d)
		}
	})
}

func TestAllow_CountsAreSharedByEveryServerAndExactUnderABurst(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		c := &clock{now: time.Now()}
		ls := newLimiters(t, backend, 2, c)
		p := ratelimit.Policy{{ratelimit.Address, 10, time.Hour}, {ratelimit.Account, 25, time.Hour}}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				d, err := ls[i%2].Allow(ctx, "sign-in", p, "198.51.100.7", "x@example.org")
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				} else if d.RetryAfter <= 0 || d.RetryAfter > time.Hour {
					t.Errorf("refused with Retry-After %v", d.RetryAfter)
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != 10 {
			t.Fatalf("%d of 40 concurrent requests over two limiters allowed, want exactly 10", got)
		}
	})
}

func TestAllow_RemembersARefusalUntilItsWindowEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		c := &clock{now: time.Now()}
		ls, closeDB := newLimitersAndClose(t, backend, 1, c)
		l := ls[0]
		p := ratelimit.Policy{{ratelimit.Address, 1, time.Minute}}
		for i, want := range []bool{true, false} {
			if d, err := l.Allow(ctx, "sign-in", p, "192.0.2.50", ""); err != nil || d.Allowed != want {
				t.Fatalf("request %d = %+v, %v; want allowed %v", i+1, d, err, want)
			}
		}
		// Without the database, the refused client is still answered
		// (from memory), and anyone else is refused with the error the
		// caller fails closed on.
		closeDB()
		c.Advance(15 * time.Second)
		if d, err := l.Allow(ctx, "sign-in", p, "192.0.2.50", ""); err != nil || d.Allowed || d.RetryAfter != 45*time.Second {
			t.Fatalf("remembered refusal = %+v, %v; want refused for 45s", d, err)
		}
		if d, err := l.Allow(ctx, "sign-in", p, "192.0.2.51", ""); err == nil {
			t.Fatalf("another address with the database closed = %+v, want an error", d)
		}
		// Once the window ended the database is asked again.
		c.Advance(time.Minute)
		if _, err := l.Allow(ctx, "sign-in", p, "192.0.2.50", ""); err == nil {
			t.Fatal("after the window the refusal is still remembered")
		}
	})
}

func TestSweep_DeletesOnlyEndedWindows(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		c := &clock{now: time.Now()}
		l := newLimiters(t, backend, 1, c)[0]
		short := ratelimit.Policy{{ratelimit.Address, 1, time.Minute}}
		long := ratelimit.Policy{{ratelimit.Address, 1, time.Hour}}
		for _, p := range []ratelimit.Policy{short, long} {
			if _, err := l.Allow(ctx, "upload", p, "203.0.113.5", ""); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(2 * time.Minute)
		n, err := l.Sweep(ctx)
		if err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v; want the one ended window", n, err)
		}
		// The hour's counter is still there: its limit still refuses.
		if d, err := l.Allow(ctx, "upload", long, "203.0.113.5", ""); err != nil || d.Allowed {
			t.Fatalf("after the sweep the hour's second request = %+v, %v; want refused", d, err)
		}
	})
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"address:10/1m,address:50/24h,account:10/15m": "address:10/1m,address:50/24h,account:10/15m",
		" account : 3 / 1h ":                          "account:3/1h",
		"off":                                         "off",
		"":                                            "off",
	}
	for in, want := range good {
		p, err := ratelimit.ParsePolicy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"10/1m", "ip:10/1m", "address:0/1m", "address:x/1m", "address:10", "address:10/1ms",
		"address:10/soon", "address:1/1m,address:2/1m"} {
		if p, err := ratelimit.ParsePolicy(in); err == nil {
			t.Errorf("ParsePolicy(%q) = %v, want an error", in, p)
		}
	}
	if got := ratelimit.DefaultLimits().SignIn.String(); got != "address:10/1m,address:50/24h,account:10/15m" {
		t.Errorf("default sign-in limits %s", got)
	}
}
