package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// signInAttackers is how many clients send failed sign-ins at once, each
// as fast as it gets answers, during BenchmarkMeDuringSignInBurst.
const signInAttackers = 16

// BenchmarkMeDuringSignInBurst measures a signed-in user's GET
// /api/v1/me, one request after another, while signInAttackers clients
// at one address send sign-ins with wrong passwords for unknown emails
// (each costs one argon2id verification at the product's parameters,
// password.DefaultParams), on each backend:
//
//   - unprotected: no rate limits, no bound on concurrent hashing (the
//     server before issue 14);
//   - hash-bound: the argon2id gate at its default (GOMAXPROCS / 2 lanes),
//     no rate limits: what an attack from many addresses still meets;
//   - limited: the gate and capacityd's default rate limits;
//   - no-burst: the same without attackers, for comparison.
//
// It reports the median and 95th percentile of /me's latency and the
// sign-in attempts answered per second (refused ones included).
//
//	go test ./cmd/capacityd/httpapi -run '^$' -bench MeDuringSignInBurst -benchtime 100x
func BenchmarkMeDuringSignInBurst(b *testing.B) {
	for _, backend := range projtest.Backends() {
		for _, mode := range []struct {
			name      string
			limits    bool
			hashBound int
			attackers int
		}{
			{"unprotected", false, -1, signInAttackers},
			{"hash-bound", false, 0, signInAttackers},
			{"limited", true, 0, signInAttackers},
			{"no-burst", true, 0, 0},
		} {
			b.Run(backend+"/"+mode.name, func(b *testing.B) {
				benchMeDuringSignInBurst(b, backend, mode.limits, mode.hashBound, mode.attackers)
			})
		}
	}
}

func benchMeDuringSignInBurst(b *testing.B, backend string, limited bool, hashBound, attackers int) {
	ctx := context.Background()
	store, pb := projtest.Open(b, backend)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := commands.DefaultConfig()
	cfg.HashConcurrency = hashBound
	accounts, err := commands.New(ctx, store, cfg, nil, logger)
	if err != nil {
		b.Fatal(err)
	}
	opts := httpapi.Options{
		Logger: logger, Registry: prometheus.NewRegistry(), Commands: accounts,
		Queries: &queries.Service{ReadModels: projections.NewReadModels(pb)},
	}
	if limited {
		switch s := store.(type) {
		case *postgres.Store:
			opts.Limiter = ratelimit.NewPostgres(s.Pool())
		case *sqlite.Store:
			opts.Limiter = ratelimit.NewSQLite(s)
		}
		opts.Limits = ratelimit.DefaultLimits()
	}
	srv, err := httpapi.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	// The signed-in user: a generic account, whose first password comes
	// back from the command.
	sys := commands.System("bench")
	org := orgA
	if _, err := accounts.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{
		OrganisationID: org.ID, Name: org.Name, Type: string(location.CareHome)}); err != nil {
		b.Fatal(err)
	}
	l := org.Locations[0]
	l.OrganisationID = org.ID
	if _, err := accounts.RegisterLocation(ctx, sys, l); err != nil {
		b.Fatal(err)
	}
	gen, err := accounts.CreateGenericAccount(ctx, sys, account.CreateGeneric{
		Email: "office@rosehill.example.org", DisplayName: "Rosehill Office", OrganisationID: org.ID, LocationIDs: []string{l.LocationID}})
	if err != nil {
		b.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	user := &http.Client{Jar: jar, Timeout: time.Minute}
	if code := postJSON(b, user, hs.URL+"/api/v1/sessions", map[string]any{"email": "office@rosehill.example.org", "password": gen.InitialPassword}); code != http.StatusCreated {
		b.Fatalf("sign-in = %d", code)
	}

	attackCtx, stopAttack := context.WithCancel(ctx)
	var (
		attempts, refused atomic.Int64
		wg                sync.WaitGroup
	)
	for i := range attackers {
		wg.Go(func() {
			c := &http.Client{Timeout: time.Minute}
			for n := 0; attackCtx.Err() == nil; n++ {
				body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("guess%d-%d@example.org", i, n), "password": "Wrong-password-123"})
				req, err := http.NewRequestWithContext(attackCtx, http.MethodPost, hs.URL+"/api/v1/sessions", bytes.NewReader(body))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				attempts.Add(1)
				if resp.StatusCode == http.StatusTooManyRequests {
					refused.Add(1)
				}
			}
		})
	}
	// Let the burst reach its steady state before measuring.
	time.Sleep(time.Second)

	lat := make([]time.Duration, 0, b.N)
	startAttempts := attempts.Load()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		t0 := time.Now()
		resp, err := user.Get(hs.URL + "/api/v1/me")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET /me = %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopAttack()
	wg.Wait()

	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "me-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*95/100]), "me-p95-ms")
	b.ReportMetric(float64(attempts.Load()-startAttempts)/elapsed.Seconds(), "sign-ins/s")
	b.Logf("%d sign-in attempts answered, %d of them 429", attempts.Load(), refused.Load())
}

// postJSON posts v and returns the status.
func postJSON(b *testing.B, c *http.Client, url string, v any) int {
	b.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
