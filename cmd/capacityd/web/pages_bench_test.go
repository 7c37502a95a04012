package web_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/projections/projtest"
)

// BenchmarkWeb_Pages measures the server's answer to each page (render
// with the session check and the page's query), over a real server on
// SQLite, and reports the p99 of the iterations:
//
//	go test ./cmd/capacityd/web -run '^$' -bench BenchmarkWeb_Pages -benchtime 2000x
func BenchmarkWeb_Pages(b *testing.B) {
	for _, page := range []struct {
		name, path string
		signedIn   bool
	}{
		{"sign-in", "/sign-in", false},
		{"help", "/help", false},
		{"main-menu", "/", true},
		{"change-password", "/change-password", true},
		{"approvals-10-pending", "/approvals", true},
	} {
		b.Run(page.name, func(b *testing.B) {
			s, rosa := newBenchSite(b)
			c := s.client()
			if page.signedIn {
				c.signIn(rosa, "/")
			}
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				p := c.get(page.path)
				times = append(times, time.Since(start))
				if p.Status != http.StatusOK {
					b.Fatalf("%s: %d", page.path, p.Status)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// newBenchSite is a SQLite site with an Approver and 10 pending requests.
func newBenchSite(b *testing.B) (*site, person) {
	s := newSite(b, projtest.SQLite)
	rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
	for i := range 10 {
		s.register(fmt.Sprintf("carer%d@cranberry.example.org", i), "Carer "+string(rune('A'+i))+". Smith")
	}
	return s, rosa
}
