package queries_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
	"github.com/capacitytracker/capacity/queries"
)

// BenchmarkSearchProviders measures the provider search at 25,000
// locations (the size of England's CQC register of home care and care
// homes), on each backend: a filtered, sorted, paged query with its count,
// and a free text search. It reports the 99th percentile of the
// queries' durations as p99-ms (the target is under 10 ms).
//
//	go test ./queries -run '^$' -bench SearchProviders -benchtime 500x
func BenchmarkSearchProviders(b *testing.B) {
	for _, bc := range backends {
		b.Run(bc.name, func(b *testing.B) {
			q := searchFixture(b, bc, 25_000)
			for _, c := range []struct {
				name string
				p    queries.ProviderSearch
			}{
				{"FilteredPaged", queries.ProviderSearch{NHSRegion: location.NHSLondon, LocalAuthority: "Council 7", Sort: "name", Page: 3, PageSize: 25}},
				{"RegionByRatingDesc", queries.ProviderSearch{NHSRegion: location.NHSNorthWest, Sort: "overall_rating", Dir: "desc", Page: 2, PageSize: 50}},
				{"AllByName", queries.ProviderSearch{Page: 40, PageSize: 100}},
				{"Text", queries.ProviderSearch{Text: "care 12", PageSize: 10}},
				{"PostcodeText", queries.ProviderSearch{Text: "NN1 2", PageSize: 10}},
			} {
				b.Run(c.name, func(b *testing.B) {
					durations := make([]time.Duration, 0, b.N)
					for b.Loop() {
						start := time.Now()
						if _, err := q.SearchProviders(context.Background(), nil, c.p); err != nil {
							b.Fatal(err)
						}
						durations = append(durations, time.Since(start))
					}
					slices.Sort(durations)
					p99 := durations[min(len(durations)-1, len(durations)*99/100)]
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
				})
			}
		})
	}
}

// searchFixture appends n locations spread over 7 regions, 50 local
// authorities, 5 ratings and 500 organisations, and rebuilds the search
// from them (in batches: far quicker than live delivery).
func searchFixture(b testing.TB, bc backendCase, n int) queries.Service {
	b.Helper()
	ctx := context.Background()
	store, backend := projtest.Open(b, bc.name)
	regions := []string{"London", "North West", "South East", "East", "South West", "East Midlands", "North East"}
	ratings := []location.Rating{"", location.RatingGood, location.RatingOutstanding, location.RatingRequiresImprovement, location.RatingInadequate}
	var reqs []eventstore.AppendRequest
	for i := range n {
		id := fmt.Sprintf("1-5%08d", i)
		rec := location.CQCRecord{LocationID: id, ProviderID: fmt.Sprintf("1-6%05d", i%500),
			ProviderName: fmt.Sprintf("Provider %d Care Ltd", i%500), Name: fmt.Sprintf("Care Site %d", i),
			AddressLine1: fmt.Sprintf("%d High Street", i), Town: "Town", Postcode: fmt.Sprintf("NN%d %dAA", i%20, i%10),
			CQCRegion: regions[i%len(regions)], LocalAuthority: fmt.Sprintf("Council %d", i%50), CCGName: fmt.Sprintf("ICB %d", i%42),
			RegistrationStatus: []string{"Registered", "Registered", "Registered", "Deregistered"}[i%4],
			Ratings:            location.CQCRatings{Overall: ratings[i%len(ratings)], ReportDate: "2024-01-01"}}.Normalised()
		d, err := eventstore.NewEvent(location.TypeCQCLocationImported, location.CQCLocationImported{LocationID: id, Record: rec},
			eventstore.Metadata{Command: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, eventstore.AppendRequest{StreamID: location.LocationStream(id), Expected: eventstore.NoStream, Events: []eventstore.EventData{d}})
	}
	for chunk := range slices.Chunk(reqs, 1000) {
		if _, err := store.AppendMany(ctx, chunk); err != nil {
			b.Fatal(err)
		}
	}
	engine, err := projections.NewEngine(backend, slog.New(slog.NewTextHandler(io.Discard, nil)), search.Projection{})
	if err != nil {
		b.Fatal(err)
	}
	if err := engine.Rebuild(ctx, search.Projection{}.Name(), nil); err != nil {
		b.Fatal(err)
	}
	// The statistics and visibility map that PostgreSQL's autovacuum
	// keeps in production (and SQLite's ANALYZE).
	switch s := store.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE `+search.Table); err != nil {
			b.Fatal(err)
		}
	case interface{ DB() *sql.DB }:
		if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	return queries.Service{ReadModels: projections.NewReadModels(backend), Waiter: engine}
}
