package commands_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

func dailyForm(users int) dailyupdate.Form {
	return dailyupdate.Answers{ServiceUsers: users, Confirmed: 1, Suspected: 0, CareStaff: 12, StaffNotWorking: 2,
		PPE: dailyupdate.PPEMoreThanWeek, CanProvideExtra: true, ExtraHoursPerWeek: 10}.Form()
}

// TestSubmitDailyUpdate_ConcurrentSubmissionsAreAllKept: submissions that
// race on one location all land, each once, in a gapless stream (the
// losers of a race decide again on the new version).
func TestSubmitDailyUpdate_ConcurrentSubmissionsAreAllKept(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, b, password.FastParams())
			ctx := context.Background()
			const n = 12
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.accounts.SubmitDailyUpdate(ctx, commands.System("test"), dailyupdate.Submit{LocationID: f.locID, Form: dailyForm(20 + i)})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			evs, err := f.store.ReadStream(ctx, dailyupdate.Stream(f.locID), eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var users []int
			for i, ev := range evs {
				if ev.Version != int64(i+1) {
					t.Fatalf("event %d has version %d", i, ev.Version)
				}
				d, err := dailyupdate.Decode(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				users = append(users, d.(dailyupdate.DailyUpdateSubmitted).Answers.ServiceUsers)
			}
			slices.Sort(users)
			for i := range n {
				if i >= len(users) || users[i] != 20+i {
					t.Fatalf("stored submissions %v, want each of 20..%d once", users, 20+n-1)
				}
			}
		})
	}
}

// TestSubmitDailyUpdate_RefusesDeregisteredAndUnknownLocations.
func TestSubmitDailyUpdate_RefusesDeregisteredAndUnknownLocations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, b, password.FastParams())
			ctx := context.Background()
			sys := commands.System("test")
			rec := location.CQCRecord{LocationID: "1-999000111", ProviderID: "1-999000222", ProviderName: "Gone Care Ltd",
				Name: "Gone Care", Postcode: "NN1 1NN", RegistrationStatus: location.StatusDeregistered, DeregistrationDate: "2026-01-31",
				ServiceTypes: []string{"Homecare agencies"}}
			if _, err := f.accounts.ImportCQC(ctx, sys, []location.CQCRecord{rec}); err != nil {
				t.Fatal(err)
			}
			_, err := f.accounts.SubmitDailyUpdate(ctx, sys, dailyupdate.Submit{LocationID: rec.LocationID, Form: dailyForm(3)})
			if !errors.Is(err, commands.ErrLocationDeregistered) {
				t.Fatalf("deregistered location: got %v", err)
			}
			_, err = f.accounts.SubmitDailyUpdate(ctx, sys, dailyupdate.Submit{LocationID: "1-404", Form: dailyForm(3)})
			if !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("unknown location: got %v", err)
			}
			for _, id := range []string{rec.LocationID, "1-404"} {
				evs, err := f.store.ReadStream(ctx, dailyupdate.Stream(id), eventstore.ReadStreamOptions{})
				if err != nil || len(evs) != 0 {
					t.Fatalf("refused updates appended %d events (%v)", len(evs), err)
				}
			}
		})
	}
}

// BenchmarkSubmitDailyUpdate_Concurrent submits daily updates from many
// goroutines across 200 locations and reports updates/s and the p99
// latency of one submission (load, decide, append).
func BenchmarkSubmitDailyUpdate_Concurrent(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be, password.FastParams())
			ctx := context.Background()
			sys := commands.System("bench")
			const locations = 200
			for i := range locations {
				if _, err := f.accounts.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: fmt.Sprintf("1-3%05d", i),
					OrganisationID: "1-100", Name: fmt.Sprintf("Branch %d", i), Postcode: "NN1 1NN"}); err != nil {
					b.Fatal(err)
				}
			}
			var (
				mu   sync.Mutex
				lats []time.Duration
				next atomic.Int64
			)
			b.SetParallelism(4) // 4 x GOMAXPROCS submitters
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					i := next.Add(1)
					t0 := time.Now()
					if _, err := f.accounts.SubmitDailyUpdate(ctx, sys, dailyupdate.Submit{
						LocationID: fmt.Sprintf("1-3%05d", i%locations), Form: dailyForm(1 + int(i%50))}); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(lats) == 0 {
				return
			}
			sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
			b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "updates/s")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
