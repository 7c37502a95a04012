package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// BenchmarkForgottenPassword times the answer to POST /password-resets
// for an active account's address (which gets a link: the clock moves on
// past the 5 minutes between links before each request) and for an
// unknown one, alternately in the same run, over real HTTP. It reports
// the median of each and their ratio, what a stranger timing the answers
// could learn of who has an account, twice: as the server sends the
// answer (from the request's arrival at the handler until the answer is
// written and flushed: what a client on another machine sees, plus the
// network) and as this in-process client receives it (which on two cores
// also counts the client waiting for a CPU while the server works).
//
//	go test -run '^$' -bench ForgottenPassword -benchtime 200x ./cmd/capacityd/httpapi
func BenchmarkForgottenPassword(b *testing.B) {
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			store, pb := projtest.Open(b, backend)
			logs := &projtest.LogBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			clock := newClock()
			accounts, err := commands.New(ctx, store, testConfig(), clock.Now, logger)
			if err != nil {
				b.Fatal(err)
			}
			benchSupportSession(b, accounts, store)
			engine, err := projections.NewEngine(pb, logger)
			if err != nil {
				b.Fatal(err)
			}
			srv, err := httpapi.New(httpapi.Options{Logger: logger, Registry: prometheus.NewRegistry(), Commands: accounts,
				Queries: &queries.Service{ReadModels: projections.NewReadModels(pb), Waiter: engine}})
			if err != nil {
				b.Fatal(err)
			}
			// sent says how long the server took to send each answer. The
			// client may have the answer before the handler returns (it is
			// flushed whole before the work starts): post waits for this.
			sent := make(chan time.Duration, 1)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				srv.ServeHTTP(w, r)
				sent <- time.Since(start)
			}))
			b.Cleanup(hs.Close)
			known := "bulk.bench@necsu.example.nhs.uk" // benchSupportSession's active account
			post := func(email string) (server, client time.Duration) {
				body := []byte(`{"email":"` + email + `"}`)
				start := time.Now()
				resp, err := hs.Client().Post(hs.URL+"/api/v1/password-resets", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("reset for %s: %d\n%s", email, resp.StatusCode, logs.String())
				}
				server = <-sent
				settleBackground(b, srv)
				return server, took
			}
			// Warm up both paths (connections, statement caches).
			for range 5 {
				clock.Advance(account.ResetLinkInterval)
				post(known)
				post("nobody@necsu.example.nhs.uk")
			}
			var knownServer, knownClient, unknownServer, unknownClient []time.Duration
			add := func(email string, server, client *[]time.Duration) {
				s, c := post(email)
				*server, *client = append(*server, s), append(*client, c)
			}
			b.ResetTimer()
			for i := range b.N {
				clock.Advance(account.ResetLinkInterval)
				// Alternate which goes first, so that neither always
				// follows the other's work.
				if i%2 == 0 {
					add(known, &knownServer, &knownClient)
					add("nobody@necsu.example.nhs.uk", &unknownServer, &unknownClient)
				} else {
					add("nobody@necsu.example.nhs.uk", &unknownServer, &unknownClient)
					add(known, &knownServer, &knownClient)
				}
			}
			b.StopTimer()
			report := func(prefix string, known, unknown []time.Duration) {
				k, u := median(known), median(unknown)
				b.ReportMetric(float64(k.Microseconds())/1000, prefix+"known-ms")
				b.ReportMetric(float64(u.Microseconds())/1000, prefix+"unknown-ms")
				b.ReportMetric(float64(k)/float64(u), prefix+"known/unknown")
			}
			report("sent-", knownServer, unknownServer)
			report("recv-", knownClient, unknownClient)
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
