package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// limitedNode starts another server over the api's database, as another
// node of a deployment would be: its own account commands and its own
// rate limiter, with limits and trusted proxies; the counters are the
// database's, shared with every other node. The limiter runs on the test's
// clock, so that no window ends unless a test moves it. The returned api
// is the original's, reached at the new server's URL and settled by the
// new server's Drain.
func (a *api) limitedNode(limits ratelimit.Limits, trusted ...netip.Prefix) *api {
	a.t.Helper()
	t := a.t
	var (
		limiter *ratelimit.Limiter
		pb      projections.Backend
	)
	switch s := a.store.(type) {
	case *postgres.Store:
		limiter, pb = ratelimit.NewPostgres(s.Pool()), projections.NewPostgresBackend(s)
	case *sqlite.Store:
		limiter, pb = ratelimit.NewSQLite(s), projections.NewSQLiteBackend(s.DB(), s)
	default:
		t.Fatalf("unknown store %T", a.store)
	}
	limiter.SetClock(a.clock.Now)
	logs := &projtest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("limited node's log (warnings and errors):\n%s", logs.String())
		}
	})
	accounts, err := commands.New(context.Background(), a.store, testConfig(), a.clock.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Options{
		Logger: logger, Registry: prometheus.NewRegistry(), MaxBodyBytes: maxBody,
		Commands: accounts,
		Queries:  &queries.Service{ReadModels: projections.NewReadModels(pb), Waiter: a.engine},
		Limiter:  limiter, Limits: limits, TrustedProxies: trusted,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { settleBackground(t, srv) })
	node := *a
	// The node's clients wait for the work the node's requests left
	// running after their answers (the links of forgotten passwords).
	node.url, node.server = hs.URL, srv
	return &node
}

// wantTooMany fails the test unless the answer is 429 in the API's error
// shape, with a Retry-After of whole seconds within the window.
func (r response) wantTooMany(window time.Duration) {
	r.t.Helper()
	r.wantError(http.StatusTooManyRequests, "too_many_requests")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > window {
		r.t.Fatalf("%s: Retry-After %q, want 1..%v seconds", r.req, r.header.Get("Retry-After"), window.Seconds())
	}
}

// rule is one rate limit rule.
func rule(d ratelimit.Dimension, limit int, window time.Duration) ratelimit.Policy {
	return ratelimit.Policy{{Dimension: d, Limit: limit, Window: window}}
}

// loginFailures counts the LoginFailed events of a user.
func (a *api) loginFailures(id fmt.Stringer) int {
	a.t.Helper()
	n := 0
	for _, ev := range a.stream("login-" + id.String()) {
		if ev.Type == "LoginFailed" {
			n++
		}
	}
	return n
}

// lastLoginEvent is the metadata of a user's latest login event.
func (a *api) lastLoginEvent(u user) eventstore.Metadata {
	a.t.Helper()
	evs := a.stream(account.LoginStream(u.ID))
	if len(evs) == 0 {
		a.t.Fatalf("%s has no login events", u.Email)
	}
	return evs[len(evs)-1].Metadata
}

func TestRateLimits_BurstsGet429WithRetryAfterAndAppendNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		const hour = time.Hour
		w.run(t, "sign-in: per address; the account is not locked by a stranger", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{SignIn: rule(ratelimit.Address, 3, hour)})
			stranger := node.newClientFrom("127.0.0.3", "stranger/1.0")
			for range 3 {
				stranger.login(w.standardA.Email, "Wrong-password-123", false).wantError(http.StatusUnauthorized, "login_failed")
			}
			before, failures := w.eventCount(), w.loginFailures(w.standardA.ID)
			for range 10 {
				stranger.login(w.standardA.Email, "Wrong-password-123", false).wantTooMany(hour)
			}
			// Refused before the password is looked at: even the right one.
			stranger.login(w.standardA.Email, w.standardA.Password, false).wantTooMany(hour)
			w.unchanged("refused sign-ins", before)
			if got := w.loginFailures(w.standardA.ID); got != failures {
				t.Fatalf("LoginFailed events went from %d to %d", failures, got)
			}
			// 3 failures are not 5: the owner, elsewhere, still gets in.
			node.newClientFrom("127.0.0.4", "owner/1.0").login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated)
		})
		w.run(t, "sign-in: per account, from any address", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{SignIn: rule(ratelimit.Account, 2, hour)})
			for _, ip := range []string{"127.0.0.5", "127.0.0.6"} {
				node.newClientFrom(ip, "guesser/1.0").login(w.approverB.Email, "Wrong-password-123", false).
					wantError(http.StatusUnauthorized, "login_failed")
			}
			before := w.eventCount()
			for _, ip := range []string{"127.0.0.7", "127.0.0.8", "127.0.0.5"} {
				// The address is the account's, however it is written.
				node.newClientFrom(ip, "guesser/1.0").login(" Ian.Foxley@Independence.example.org ", "Wrong-password-123", false).wantTooMany(hour)
			}
			w.unchanged("refused sign-ins", before)
		})
		w.run(t, "registration: per address, no mail to the Approver", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{Registration: rule(ratelimit.Address, 2, hour)})
			spammer := node.newClientFrom("127.0.0.9", "spammer/1.0")
			for i := range 2 {
				spammer.post("/api/v1/registrations", registration("Spam Mer", fmt.Sprintf("spam%d@example.org", i), orgA.loc(0))).
					want(http.StatusCreated)
			}
			sent := len(w.mail.deliver())
			before := w.eventCount()
			for i := range 10 {
				spammer.post("/api/v1/registrations", registration("Spam Mer", fmt.Sprintf("spam%d@example.org", 10+i), orgA.loc(0))).
					wantTooMany(hour)
			}
			w.unchanged("refused registrations", before)
			if got := len(w.mail.deliver()); got != sent {
				t.Fatalf("refused registrations sent %d emails", got-sent)
			}
		})
		w.run(t, "registration: per account", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{Registration: rule(ratelimit.Account, 1, hour)})
			node.newClientFrom("127.0.0.10", "a/1.0").post("/api/v1/registrations",
				registration("Ann Other", "ann.other@example.org", orgB.loc(1))).want(http.StatusCreated)
			before := w.eventCount()
			node.newClientFrom("127.0.0.11", "b/1.0").post("/api/v1/registrations",
				registration("Ann Other", "ann.other@example.org", orgB.loc(1))).wantTooMany(hour)
			w.unchanged("a refused registration", before)
		})
		w.run(t, "forgotten password: per account and per address", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{PasswordReset: append(rule(ratelimit.Account, 1, hour), rule(ratelimit.Address, 3, hour)...)})
			node.newClientFrom("127.0.0.12", "a/1.0").post("/api/v1/password-resets", map[string]string{"email": w.approverA.Email}).
				want(http.StatusAccepted)
			before := w.eventCount()
			node.newClientFrom("127.0.0.13", "b/1.0").post("/api/v1/password-resets", map[string]string{"email": w.approverA.Email}).
				wantTooMany(hour)
			c := node.newClientFrom("127.0.0.14", "c/1.0")
			for _, e := range []string{"x1@example.org", "x2@example.org", "x3@example.org"} {
				c.post("/api/v1/password-resets", map[string]string{"email": e}).want(http.StatusAccepted)
			}
			c.post("/api/v1/password-resets", map[string]string{"email": w.standardA.Email}).wantTooMany(hour)
			w.unchanged("refused password resets", before)
		})
		w.run(t, "set-password links: per address and per account", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{PasswordLink: append(rule(ratelimit.Address, 2, hour), rule(ratelimit.Account, 1, hour)...)})
			c := node.newClientFrom("127.0.0.15", "a/1.0")
			for range 2 {
				c.post("/api/v1/password-links", map[string]string{"token": "forged", "password": newPassword()}).
					wantError(http.StatusUnprocessableEntity, "invalid_link")
			}
			before := w.eventCount()
			c.post("/api/v1/password-links", map[string]string{"token": "forged", "password": newPassword()}).wantTooMany(hour)
			w.unchanged("a refused link", before)

			// The account: the user a genuine link names.
			u := w.approverB
			node.newClientFrom("127.0.0.16", "b/1.0").post("/api/v1/password-resets", map[string]string{"email": u.Email}).
				want(http.StatusAccepted)
			token := w.linkToken(u.ID)
			node.newClientFrom("127.0.0.17", "c/1.0").post("/api/v1/password-links", map[string]string{"token": token, "password": "short"}).
				wantError(http.StatusUnprocessableEntity, "validation_failed")
			before = w.eventCount()
			pw := newPassword()
			w.secrets.add("password", pw)
			node.newClientFrom("127.0.0.18", "d/1.0").post("/api/v1/password-links", map[string]string{"token": token, "password": pw}).
				wantTooMany(hour)
			w.unchanged("a refused link", before)
		})
		w.run(t, "uploads: per account and per address", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{Upload: append(rule(ratelimit.Account, 1, hour), rule(ratelimit.Address, 3, hour)...)})
			var clients []*client
			for i, u := range []user{w.approverA, w.support, w.approverB} {
				c := node.newClientFrom("127.0.0.19", fmt.Sprintf("uploader%d/1.0", i))
				c.login(u.Email, u.Password, false).want(http.StatusCreated)
				clients = append(clients, c)
			}
			clients[0].upload([]byte("not a workbook")).wantError(http.StatusBadRequest, "not_xlsx")
			before := w.eventCount()
			// The account's second.
			clients[0].upload([]byte("not a workbook")).wantTooMany(hour)
			// Another user at the same address: the address's third
			// (refused requests count too), then its fourth.
			clients[1].upload([]byte("not a workbook")).wantError(http.StatusBadRequest, "not_xlsx")
			clients[2].upload([]byte("not a workbook")).wantTooMany(hour)
			w.unchanged("refused uploads", before)
		})
		// Last: it locks two accounts.
		w.run(t, "sign-in: with the default limits one address locks at most 2 accounts a minute", func(t *testing.T) {
			node := w.limitedNode(ratelimit.Limits{SignIn: ratelimit.DefaultLimits().SignIn})
			stranger := node.newClientFrom("127.0.0.40", "stranger/1.0")
			for _, u := range []user{w.standardA, w.approverB} {
				for range 5 {
					stranger.login(u.Email, "Wrong-password-123", false).wantError(http.StatusUnauthorized, "login_failed")
				}
			}
			before := w.eventCount()
			for range 5 {
				stranger.login(w.approverA.Email, "Wrong-password-123", false).wantTooMany(time.Minute)
			}
			w.unchanged("refused sign-ins", before)
			owner := node.newClientFrom("127.0.0.41", "owner/1.0")
			// The guide's rule holds for the two the stranger reached...
			owner.login(w.standardA.Email, w.standardA.Password, false).wantError(http.StatusUnauthorized, "login_failed")
			// ... and the third was never tried.
			owner.login(w.approverA.Email, w.approverA.Password, false).want(http.StatusCreated)
			// The window ends: the stranger may try again, 10 more.
			w.clock.Advance(time.Minute)
			stranger.login(w.approverA.Email, "Wrong-password-123", false).wantError(http.StatusUnauthorized, "login_failed")
		})
	})
}

func TestRateLimits_SharedByTwoServersOnOneDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		limits := ratelimit.Limits{SignIn: rule(ratelimit.Address, 4, time.Hour)}
		nodes := []*api{w.limitedNode(limits), w.limitedNode(limits)}
		for i := range 4 {
			nodes[i%2].newClientFrom("127.0.0.21", "a/1.0").login(fmt.Sprintf("nobody%d@example.org", i), "Wrong-password-123", false).
				wantError(http.StatusUnauthorized, "login_failed")
		}
		before := w.eventCount()
		for _, n := range nodes {
			n.newClientFrom("127.0.0.21", "a/1.0").login(w.standardA.Email, w.standardA.Password, false).wantTooMany(time.Hour)
		}
		w.unchanged("refused sign-ins", before)
	})
}

func TestRateLimits_XForwardedForOnlyFromATrustedProxy(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		proxy := netip.MustParsePrefix("127.0.0.30/32")
		limits := ratelimit.Limits{SignIn: rule(ratelimit.Address, 2, time.Hour)}
		login := func(c *client, u user, forwardedFor string) response {
			t.Helper()
			return c.do(http.MethodPost, "/api/v1/sessions",
				map[string]any{"email": u.Email, "password": "Wrong-password-123"}, "X-Forwarded-For", forwardedFor)
		}
		w.run(t, "untrusted: the peer's address, whatever the header says", func(t *testing.T) {
			node := w.limitedNode(limits, proxy)
			c := node.newClientFrom("127.0.0.31", "a/1.0")
			login(c, w.approverA, "198.51.100.1").wantError(http.StatusUnauthorized, "login_failed")
			if md := w.lastLoginEvent(w.approverA); md.ClientIP != "127.0.0.31" {
				t.Fatalf("LoginFailed from %q, want the peer 127.0.0.31", md.ClientIP)
			}
			login(c, w.approverA, "198.51.100.2").wantError(http.StatusUnauthorized, "login_failed")
			before := w.eventCount()
			login(c, w.approverA, "198.51.100.3").wantTooMany(time.Hour)
			w.unchanged("a refused sign-in", before)
		})
		w.run(t, "trusted: the address the proxy saw, not what the client wrote", func(t *testing.T) {
			node := w.limitedNode(limits, proxy)
			c := node.newClientFrom("127.0.0.30", "a/1.0")
			// Each client address has its own count; what the client
			// wrote to the left of the proxy's entry is not believed.
			for _, real := range []string{"203.0.113.10", "203.0.113.11"} {
				for _, spoofed := range []string{"10.1.1.1", "10.2.2.2"} {
					login(c, w.approverB, spoofed+", "+real).wantError(http.StatusUnauthorized, "login_failed")
					if md := w.lastLoginEvent(w.approverB); md.ClientIP != real {
						t.Fatalf("LoginFailed from %q, want the proxy's client %s", md.ClientIP, real)
					}
				}
			}
			before := w.eventCount()
			login(c, w.approverB, "10.3.3.3, 203.0.113.10").wantTooMany(time.Hour)
			w.unchanged("a refused sign-in", before)
			// A proxy behind the proxy is skipped too.
			login(c, w.standardA, "203.0.113.99, 127.0.0.30").wantError(http.StatusUnauthorized, "login_failed")
			if md := w.lastLoginEvent(w.standardA); md.ClientIP != "203.0.113.99" {
				t.Fatalf("LoginFailed from %q, want 203.0.113.99", md.ClientIP)
			}
		})
	})
}
