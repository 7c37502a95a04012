package queries_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

var (
	benchLocations = flag.Int("analytics-locations", 25_000, "locations of the analytics benchmark's fixture")
	benchDays      = flag.Int("analytics-days", 365, "days of updates of the analytics benchmark's fixture")
	benchBackend   = flag.String("analytics-backend", "", "run the analytics benchmark on this backend only (postgres, sqlite)")
)

// BenchmarkAnalytics measures the analytics queries on a view of 25,000
// locations (England's register of home care and care homes) with a year
// of daily updates (-analytics-locations, -analytics-days), on each
// backend: the totals of one NHS region, local authority and CCG, and of
// England, for every day of the year (the target is p99 < 50 ms for one
// region); a page of the per-location rows; a page of the compliance
// list. It reports the 99th percentile as p99-ms.
//
// The fixture is filled through the projection's own ApplyBatch in
// batches of 10,000 made-up events, as a rebuild fills it (see
// analyticsFixture), which takes minutes:
//
//	go test ./queries -run '^$' -bench Analytics -benchtime 200x -timeout 2h
func BenchmarkAnalytics(b *testing.B) {
	for _, bc := range backends {
		if *benchBackend != "" && bc.name != *benchBackend {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			v, first, last := analyticsFixture(b, bc, *benchLocations, *benchDays)
			ctx := context.Background()
			regions := location.NHSRegions()
			for _, c := range []struct {
				name string
				run  func(i int) error
			}{
				{"RegionYear", func(i int) error {
					_, err := v.q.AnalyticsDaily(ctx, commissioner, queries.AnalyticsDailyQuery{From: first, To: last,
						AreaType: "nhs_region", Area: regions[i%len(regions)]})
					return err
				}},
				{"LocalAuthorityYear", func(i int) error {
					_, err := v.q.AnalyticsDaily(ctx, commissioner, queries.AnalyticsDailyQuery{From: first, To: last,
						AreaType: "local_authority", Area: fmt.Sprintf("Council %d", i%150)})
					return err
				}},
				{"CCGYear", func(i int) error {
					_, err := v.q.AnalyticsDaily(ctx, commissioner, queries.AnalyticsDailyQuery{From: first, To: last,
						AreaType: "ccg", Area: fmt.Sprintf("NHS CCG %d", i%42)})
					return err
				}},
				{"EnglandYear", func(int) error {
					_, err := v.q.AnalyticsDaily(ctx, commissioner, queries.AnalyticsDailyQuery{From: first, To: last})
					return err
				}},
				{"RegionDayLocationsPage", func(i int) error {
					_, err := v.q.AnalyticsLocations(ctx, commissioner, queries.AnalyticsLocationsQuery{From: last, To: last,
						AreaType: "nhs_region", Area: regions[i%len(regions)], Page: 3, PageSize: 50})
					return err
				}},
				{"ComplianceEnglandWeek", func(int) error {
					_, err := v.q.Compliance(ctx, support, queries.ComplianceQuery{Today: last, Days: 7, PageSize: 50})
					return err
				}},
				{"ComplianceRegionToday", func(i int) error {
					_, err := v.q.Compliance(ctx, commissioner, queries.ComplianceQuery{Today: last, AreaType: "nhs_region",
						Area: regions[i%len(regions)], Page: 2, PageSize: 25})
					return err
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					durations := make([]time.Duration, 0, b.N)
					i := 0
					for b.Loop() {
						start := time.Now()
						if err := c.run(i); err != nil {
							b.Fatal(err)
						}
						durations = append(durations, time.Since(start))
						i++
					}
					slices.Sort(durations)
					p99 := durations[min(len(durations)-1, len(durations)*99/100)]
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
				})
			}
		})
	}
}

// analyticsFixture fills the analytics view with n locations and days of
// updates, through the projection's ApplyBatch, and returns the first and
// last day. The locations are CQC imports spread over the 9 CQC regions
// (the 7 NHS regions), 150 local authorities, 42 CCGs and 2,000
// providers, all known the day before the first. Every day about 85% of
// them submit at 07:00-19:00 London time, 3% of those twice (the second
// supersedes), 10 locations move to another local authority, 3 are
// deregistered and 3 registered again.
func analyticsFixture(b *testing.B, bc backendCase, n, days int) (v *analyticsView, first, last string) {
	b.Helper()
	began := time.Now()
	store, backend := projtest.Open(b, bc.name)
	v = openAnalyticsView(b, store, backend)
	cqcRegions := []string{"North East", "North West", "Yorkshire & Humberside", "East Midlands", "West Midlands", "East",
		"London", "South East", "South West"}
	rnd := rand.New(rand.NewPCG(25, 365))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	day := func(d int) string { return start.AddDate(0, 0, d).Format(time.DateOnly) }
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("1-5%08d", i)
		rec := location.CQCRecord{LocationID: ids[i], ProviderID: fmt.Sprintf("1-6%05d", i%2000),
			ProviderName: fmt.Sprintf("Provider %d Care Ltd", i%2000), Name: fmt.Sprintf("Care Site %d", i),
			AddressLine1: fmt.Sprintf("%d High Street", i), Town: "Town", Postcode: "NN1 1NN",
			CQCRegion: cqcRegions[i%len(cqcRegions)], LocalAuthority: fmt.Sprintf("Council %d", i%150),
			CCGName: fmt.Sprintf("NHS CCG %d", i%42), RegistrationStatus: location.StatusRegistered}.Normalised()
		v.add(location.LocationStream(ids[i]), morning(day(-1)), location.CQCLocationImported{LocationID: ids[i], Record: rec})
	}
	ppes := []dailyupdate.PPE{dailyupdate.PPEMoreThanWeek, dailyupdate.PPEMoreThanWeek, dailyupdate.PPEThreeDaysWeek, dailyupdate.PPETwoDaysOrLess}
	deregistered := map[string]bool{}
	for d := range days {
		today := day(d)
		at := func() time.Time { return morning(today).Add(time.Duration(rnd.IntN(12*60)-2*60) * time.Minute) }
		for range 10 {
			id := ids[rnd.IntN(n)]
			v.add(location.LocationStream(id), at(), location.CQCDetailsChanged{LocationID: id, Changes: []location.FieldChange{
				{Field: "local_authority", After: fmt.Sprintf("Council %d", rnd.IntN(150))}}})
		}
		for range 3 {
			id := ids[rnd.IntN(n)]
			if deregistered[id] {
				continue
			}
			deregistered[id] = true
			v.add(location.LocationStream(id), at(), location.LocationDeregistered{LocationID: id})
		}
		for id := range deregistered {
			if rnd.IntN(len(deregistered)) < 3 {
				delete(deregistered, id)
				v.add(location.LocationStream(id), at(), location.LocationReregistered{LocationID: id})
			}
		}
		for _, id := range ids {
			if deregistered[id] || rnd.IntN(100) >= 85 {
				continue
			}
			submissions := 1
			if rnd.IntN(100) < 3 {
				submissions = 2
			}
			for range submissions {
				users := 5 + rnd.IntN(60)
				a := answersOf(users, ppes[rnd.IntN(len(ppes))], 0)
				if rnd.IntN(4) == 0 {
					a.CanProvideExtra, a.ExtraHoursPerWeek = true, 1+rnd.IntN(40)
				}
				v.add(dailyupdate.Stream(id), at(), dailyupdate.DailyUpdateSubmitted{LocationID: id, Day: today,
					SubmittedAt: at(), Answers: a})
			}
		}
	}
	v.flush()
	filled := time.Since(began)
	// The statistics and visibility map that PostgreSQL's autovacuum
	// keeps in production (and SQLite's ANALYZE).
	ctx := context.Background()
	switch s := store.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
	case interface{ DB() *sql.DB }:
		if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d locations, %d days: %d events applied in %s (%.0f events/s), analysed in %s", bc.name, n, days,
		v.position, filled.Round(time.Second), float64(v.position)/filled.Seconds(), (time.Since(began) - filled).Round(time.Second))
	return v, day(0), day(days - 1)
}
