package commands_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// raceOnRead is a store on which another writer changes the log right after
// an import has read its chunk's streams, once: the chunk's append then
// finds a stream at another version than it read.
type raceOnRead struct {
	commands.Store
	mu    sync.Mutex
	race  func()
	raced bool
}

func (s *raceOnRead) ReadStreams(ctx context.Context, streams []string) (map[string][]eventstore.Event, error) {
	got, err := s.Store.ReadStreams(ctx, streams)
	s.mu.Lock()
	race := s.race
	s.race = nil
	s.mu.Unlock()
	if race != nil {
		race()
		s.mu.Lock()
		s.raced = true
		s.mu.Unlock()
	}
	return got, err
}

func TestImportCQC_AChunkThatLosesARaceGoesAgainRecordByRecord(t *testing.T) {
	eachImportWorld(t, func(t *testing.T, w importWorld) {
		store, other := w.racing()
		ctx, a, sys := w.ctx, newAccounts(t, store), w.sys
		recs := cqcSample(t)
		first := recs[9]
		// Support registers the provider of one record between the
		// chunk's read and its append.
		store.race = func() {
			if _, err := other.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: first.ProviderID,
				Name: "Support's Name", Type: "care_home"}); err != nil {
				t.Error(err)
			}
		}

		sum, err := a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		if !store.raced {
			t.Fatal("the import read no chunk")
		}
		wantSummary(t, sum, 20, 0, 0, 0)
		versions := streamVersions(t, store)
		if len(versions) != 20+18 || total(versions) != 38 {
			t.Errorf("%d streams, %d events: %v", len(versions), total(versions), versions)
		}
		// Support's organisation stays as support registered it; the
		// record's location is imported under it.
		got := organisationEvents(t, store, first.ProviderID)
		if len(got) != 1 || got[0].(location.OrganisationRegistered).Name != "Support's Name" {
			t.Errorf("organisation %s: %+v", first.ProviderID, got)
		}
		for _, r := range recs {
			if types := eventTypes(t, store, location.LocationStream(r.LocationID)); len(types) != 1 || types[0] != location.TypeCQCLocationImported {
				t.Errorf("location %s: %v", r.LocationID, types)
			}
		}
		if head := lastPosition(t, store); sum.Position != head {
			t.Errorf("position %d, the log's last is %d", sum.Position, head)
		}

		sum, err = a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 0, 0, 20, 0)
		if again := streamVersions(t, store); !maps.Equal(again, versions) {
			t.Fatal("a second identical import changed the log")
		}
	})
}

func TestImportGPPractices_AChunkThatLosesARaceGoesAgainRowByRow(t *testing.T) {
	eachImportWorld(t, func(t *testing.T, w importWorld) {
		store, other := w.racing()
		ctx, a, sys := w.ctx, newAccounts(t, store), w.sys
		// A care home takes a practice's code between the chunk's
		// read and its append: row by row, that row is refused as
		// it would have been had the care home come first.
		store.race = func() {
			if _, err := other.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "A81004",
				Name: "Acklam Care Home", Type: "care_home"}); err != nil {
				t.Error(err)
			}
		}
		sum, err := a.ImportGPPractices(ctx, sys, gpRows())
		if err != nil {
			t.Fatal(err)
		}
		if !store.raced {
			t.Fatal("the import read no chunk")
		}
		wantSummary(t, sum, 3, 0, 0, 2)
		if !strings.HasPrefix(sum.Errors[0], "line 4: organisation A81004 exists and is of type Care Home") ||
			!strings.HasPrefix(sum.Errors[1], "line 5: postcode: ") {
			t.Errorf("errors %q", sum.Errors)
		}
		if n := len(organisationEvents(t, store, "A81004")); n != 1 {
			t.Errorf("the care home has %d events", n)
		}
		if got := streamVersions(t, store); len(got) != 4 || total(got) != 4 {
			t.Errorf("streams %v", got)
		}
	})
}

func TestImportCQC_ALocationTwiceInOneChunk(t *testing.T) {
	ctx := context.Background()
	store := backends[1].open(t)
	a := newAccounts(t, store)
	recs := cqcSample(t)
	// The second record of a location changes its rating; the second
	// location of the provider finds the organisation the first created.
	again := recs[0]
	again.Ratings.Overall = location.RatingInadequate
	sibling := recs[1]
	sibling.LocationID, sibling.ProviderID = "1-999999991", recs[0].ProviderID
	sum, err := a.ImportCQC(ctx, commands.System("test"), []location.CQCRecord{recs[0], again, sibling, again})
	if err != nil {
		t.Fatal(err)
	}
	wantSummary(t, sum, 2, 1, 1, 0)
	if got := eventTypes(t, store, location.LocationStream(recs[0].LocationID)); strings.Join(got, ",") != "CQCLocationImported,CQCRatingsChanged" {
		t.Errorf("location %s: %v", recs[0].LocationID, got)
	}
	if got := streamVersions(t, store); len(got) != 3 || total(got) != 4 || got[location.OrganisationStream(recs[0].ProviderID)] != 1 {
		t.Errorf("streams %v", got)
	}
}

func TestImportCQC_ManyChunks(t *testing.T) {
	eachImportWorld(t, func(t *testing.T, w importWorld) {
		ctx, store, a, sys := w.ctx, w.store, w.a, w.sys
		recs := syntheticCQC(t, 1100) // three chunks
		recs[700].ProviderID = "1-12" // refused in the middle chunk
		sum, err := a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 1099, 0, 0, 1)
		if !strings.HasPrefix(sum.Errors[0], "index 700: location 1-2000000700: provider_id: ") {
			t.Errorf("error %q", sum.Errors[0])
		}
		versions := streamVersions(t, store)
		if len(versions) != 1099+550 || total(versions) != 1099+550 {
			t.Errorf("%d streams, %d events", len(versions), total(versions))
		}
		if head := lastPosition(t, store); sum.Position != head {
			t.Errorf("position %d, the log's last is %d", sum.Position, head)
		}
		recs[700].ProviderID = recs[701].ProviderID
		sum, err = a.ImportCQC(ctx, sys, recs)
		if err != nil {
			t.Fatal(err)
		}
		wantSummary(t, sum, 1, 0, 1099, 0)
	})
}

// lastPosition is the position of the log's last event.
func lastPosition(t *testing.T, store commands.Store) int64 {
	t.Helper()
	var last int64
	for after := ""; ; {
		list, err := store.ListStreams(context.Background(), eventstore.ListStreamsOptions{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			return last
		}
		ids := make([]string, len(list))
		for i, s := range list {
			ids[i] = s.StreamID
		}
		evs, err := store.ReadStreams(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, stream := range evs {
			last = max(last, stream[len(stream)-1].Position)
		}
		after = list[len(list)-1].StreamID
	}
}

// syntheticCQC is n CQC records made from the shared data's twenty real
// ones: location i is 1-2000000000+i ("index i"), named after its
// template, and each provider has two locations.
func syntheticCQC(tb testing.TB, n int) []location.CQCRecord {
	tb.Helper()
	f, err := os.Open("../domain/location/testdata/cqc-locations-sample.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tpl, bad, err := location.ParseCQCJSON(f)
	if err != nil || len(bad) > 0 || len(tpl) == 0 {
		tb.Fatalf("ParseCQCJSON: %d records, %v, %v", len(tpl), bad, err)
	}
	out := make([]location.CQCRecord, n)
	for i := range out {
		r := tpl[i%len(tpl)]
		r.LocationID = fmt.Sprintf("1-%d", 2000000000+i)
		r.ProviderID = fmt.Sprintf("1-%d", 3000000000+i/2)
		r.Name = fmt.Sprintf("%s %d", r.Name, i)
		r.Origin = fmt.Sprintf("index %d", i)
		out[i] = r
	}
	return out
}

// BenchmarkImportCQC imports CQC_BENCH_RECORDS (default 5,000) synthetic
// locations into an empty log on each backend, reporting records/s and
// the seconds of one import. CQC's full register is about 90,000.
func BenchmarkImportCQC(b *testing.B) {
	n := 5000
	if s := os.Getenv("CQC_BENCH_RECORDS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatalf("CQC_BENCH_RECORDS=%q: %v", s, err)
		}
	}
	recs := syntheticCQC(b, n)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			var secs float64
			for range b.N {
				b.StopTimer()
				store := be.open(b)
				cfg := commands.DefaultConfig()
				cfg.Hash = password.FastParams()
				a, err := commands.New(ctx, store, cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sum, err := a.ImportCQC(ctx, commands.System("bench"), recs)
				if err != nil {
					b.Fatal(err)
				}
				if sum.Created != n {
					b.Fatalf("summary %+v", sum)
				}
			}
			secs = b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(n)/secs, "records/s")
			b.ReportMetric(secs, "s/import")
		})
	}
}
