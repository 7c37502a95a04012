package seed_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/seed"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// monday is the end of the tests' year of history.
var monday = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func small() seed.Options {
	return seed.Options{Locations: 200, GPPractices: 40, Seed: 1, Now: monday, BatchStreams: 60}
}

// fingerprint is each location stream's id and event types, in order.
type fingerprint struct {
	ids   []string
	types [][]string
}

func typeName(ev any) string { return ev.(interface{ EventType() string }).EventType() }

func generated(t *testing.T, opts seed.Options) (fingerprint, []seed.Stream) {
	t.Helper()
	var (
		fp  fingerprint
		all []seed.Stream
	)
	err := seed.Generate(opts, func(s seed.Stream) error {
		all = append(all, s)
		if s.Kind == seed.KindLocation {
			fp.ids = append(fp.ids, s.ID)
			var types []string
			for _, ev := range s.Events {
				types = append(types, typeName(ev.Data))
			}
			fp.types = append(fp.types, types)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fp, all
}

func TestGenerate_IsDeterministic(t *testing.T) {
	t.Parallel()
	fp, all := generated(t, small())
	if len(fp.ids) != 200 {
		t.Fatalf("%d locations", len(fp.ids))
	}
	_, again := generated(t, small())
	if !reflect.DeepEqual(all, again) {
		t.Fatal("the same options generated another data set")
	}

	// Another week: the same data set, moved in time.
	later := small()
	later.Now = monday.AddDate(0, 0, 7*30)
	if fp2, _ := generated(t, later); !reflect.DeepEqual(fp, fp2) {
		t.Error("a data set generated 30 weeks later has other locations or events")
	}

	other := small()
	other.Seed = 2
	if fp2, _ := generated(t, other); slices.Equal(fp.ids, fp2.ids) {
		t.Error("another seed generated the same locations")
	}
}

func TestOptions_Validate(t *testing.T) {
	t.Parallel()
	for _, o := range []seed.Options{
		{Locations: 0}, {Locations: seed.MaxLocations + 1}, {Locations: 1, GPPractices: -1},
		{Locations: 1, GPPractices: seed.MaxGPPractices + 1}, {Locations: 1, BatchStreams: eventstore.MaxStreamsPerRequest + 1},
	} {
		if o.Validate() == nil {
			t.Errorf("%+v is valid", o)
		}
		if err := seed.Generate(o, func(seed.Stream) error { return nil }); err == nil {
			t.Errorf("Generate(%+v) generated", o)
		}
	}
	if err := (seed.Options{Locations: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

// logStreams is every stream of the log with its events.
func logStreams(t *testing.T, store eventstore.Store) map[string][]eventstore.Event {
	t.Helper()
	ctx := context.Background()
	out := map[string][]eventstore.Event{}
	for after := ""; ; {
		list, err := store.ListStreams(ctx, eventstore.ListStreamsOptions{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			return out
		}
		for _, s := range list {
			evs, err := store.ReadStream(ctx, s.StreamID, eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(evs)) != s.Version {
				t.Errorf("%s: %d events, version %d", s.StreamID, len(evs), s.Version)
			}
			out[s.StreamID] = evs
		}
		after = list[len(list)-1].StreamID
	}
}

func TestRun_AppendsStreamsTheDomainFolds(t *testing.T) {
	want, _ := generated(t, small())
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store, _ := projtest.Open(t, backend)
			var progress []seed.Summary
			sum, err := seed.Run(ctx, store, small(), func(s seed.Summary) { progress = append(progress, s) })
			if err != nil {
				t.Fatal(err)
			}
			if sum.Locations != 200 || sum.GPPractices != 40 || sum.Organisations < 50 || sum.Events < 1000 {
				t.Errorf("summary %+v", sum)
			}
			if len(progress) < 3 || progress[len(progress)-1].Events != sum.Events {
				t.Errorf("progress %+v", progress)
			}

			streams := logStreams(t, store)
			var (
				events      int64
				correlation = map[string]bool{}
				got         fingerprint
				types       = map[string]int{}
				nhsRegions  = map[string]bool{}
				cqcRegions  = map[string]bool{}
				managers    int
				firstOf     = map[string]int64{} // stream -> position of its first event
			)
			orgs := map[string]location.Organisation{}
			for id, evs := range streams {
				events += int64(len(evs))
				firstOf[id] = evs[0].Position
				var (
					l    location.Location
					o    location.Organisation
					seen []string
				)
				for i, ev := range evs {
					md := ev.Metadata
					if ev.Version != int64(i+1) || md.Command != "Seed" || md.ActorAccountKind != eventstore.AccountSystem || len(ev.Erased) > 0 {
						t.Fatalf("%s v%d: %+v, erased %v", id, ev.Version, md, ev.Erased)
					}
					correlation[md.CorrelationID] = true
					d, err := location.Decode(ev.Type, ev.Data)
					if err != nil || d == nil {
						t.Fatalf("%s v%d %s: %v", id, ev.Version, ev.Type, err)
					}
					types[ev.Type]++
					seen = append(seen, ev.Type)
					if strings.HasPrefix(id, "location-") {
						l = location.EvolveLocation(l, d)
					} else {
						o = location.EvolveOrganisation(o, d)
					}
					if n, ok := d.(location.NoteAdded); ok && (n.Note.AddedAt.Before(monday.AddDate(0, 0, -365)) || n.Note.AddedAt.After(monday) ||
						n.Note.AddedByName == "" || n.Note.AddedBy == "") {
						t.Errorf("%s: note %+v", id, n.Note)
					}
				}
				if strings.HasPrefix(id, "organisation-") {
					orgs[o.ID] = o
					continue
				}
				if l.Version != int64(len(evs)) || location.LocationStream(l.LocationID) != id || !l.CQCImported() {
					t.Errorf("%s: folded to version %d of %d, id %s", id, l.Version, len(evs), l.LocationID)
				}
				got.ids = append(got.ids, id)
				got.types = append(got.types, seen)
				nhsRegions[l.CQC.NHSRegion] = true
				cqcRegions[l.CQC.CQCRegion] = true
				if l.HasManager() {
					managers++
				}
				if _, err := location.ParsePostcode(l.Postcode); err != nil || l.CQC.PostcodeInvalid {
					t.Errorf("%s: postcode %q", id, l.Postcode)
				}
			}
			if events != sum.Events {
				t.Errorf("%d events in the log, the summary says %d", events, sum.Events)
			}
			if len(correlation) != 1 {
				t.Errorf("%d correlation ids", len(correlation))
			}
			if len(nhsRegions) != 7 || len(cqcRegions) != 9 {
				t.Errorf("NHS regions %v, CQC regions %v", nhsRegions, cqcRegions)
			}
			if managers < 140 || managers > 190 {
				t.Errorf("%d of 200 locations have a Manager", managers)
			}
			for _, typ := range []string{location.TypeCQCLocationImported, location.TypeContactAdded, location.TypeContactUpdated,
				location.TypeNoteAdded, location.TypeNoteEdited, location.TypeNoteDeleted, location.TypeAddressChanged,
				location.TypeOwnershipTypeChanged, location.TypePAMMSChanged, location.TypeDetailsConfirmed, location.TypeGPPracticeLinked,
				location.TypeCQCRatingsChanged, location.TypeOrganisationRegistered} {
				if types[typ] == 0 {
					t.Errorf("no %s in %v", typ, types)
				}
			}

			// Each provider is appended before its locations, and each
			// linked practice exists.
			gps := 0
			for _, o := range orgs {
				switch o.Type {
				case location.GP:
					gps++
					if o.Postcode == "" || !location.ValidGPPracticeCode(o.ID) {
						t.Errorf("practice %+v", o)
					}
				case location.HomeCare, location.CareHome:
				default:
					t.Errorf("organisation %+v", o)
				}
			}
			if gps != 40 || len(orgs) != 40+sum.Organisations {
				t.Errorf("%d practices, %d organisations", gps, len(orgs))
			}
			for _, id := range got.ids {
				var l location.Location
				for _, ev := range streams[id] {
					d, _ := location.Decode(ev.Type, ev.Data)
					l = location.EvolveLocation(l, d)
				}
				org := location.OrganisationStream(l.OrganisationID)
				if _, ok := streams[org]; !ok || firstOf[org] >= firstOf[id] {
					t.Errorf("%s: organisation %s missing or appended after it", id, org)
				}
				for _, gp := range l.Details.GPPractices {
					if orgs[gp.PracticeCode].Type != location.GP {
						t.Errorf("%s: links %+v", id, gp)
					}
				}
			}

			// The store holds what Generate generates: the same
			// locations, and the same events in each.
			order := make([]int, len(got.ids))
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(a, b int) int { return strings.Compare(got.ids[a], got.ids[b]) })
			var sorted fingerprint
			for _, i := range order {
				sorted.ids, sorted.types = append(sorted.ids, got.ids[i]), append(sorted.types, got.types[i])
			}
			wantOrder := slices.Clone(want.ids)
			slices.Sort(wantOrder)
			if !slices.Equal(sorted.ids, wantOrder) {
				t.Fatal("the log's locations are not Generate's")
			}
			for i, id := range sorted.ids {
				j := slices.Index(want.ids, id)
				if !slices.Equal(sorted.types[i], want.types[j]) {
					t.Errorf("%s: %v, generated %v", id, sorted.types[i], want.types[j])
				}
			}

			// Contacts and notes' authors are personal data: forgetting a
			// contact erases its fields, and only its.
			var contact location.ContactAdded
			for _, id := range got.ids {
				for _, ev := range streams[id] {
					if ev.Type == location.TypeContactAdded && contact.Contact.ContactID == "" {
						d, _ := location.Decode(ev.Type, ev.Data)
						contact = d.(location.ContactAdded)
					}
				}
			}
			if err := store.ForgetSubject(ctx, location.ContactSubject(contact.Contact.ContactID)); err != nil {
				t.Fatal(err)
			}
			evs, err := store.ReadStream(ctx, location.LocationStream(contact.LocationID), eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			erased := 0
			for _, ev := range evs {
				if len(ev.Erased) > 0 {
					erased++
					if !slices.Contains(ev.Erased, "contact.name") && !slices.Contains(ev.Erased, "before.name") {
						t.Errorf("%s erased %v", ev.Type, ev.Erased)
					}
				}
			}
			if erased == 0 {
				t.Error("forgetting a contact erased nothing")
			}

			// A second run refuses, and appends nothing.
			before := len(streams)
			if _, err := seed.Run(ctx, store, small(), nil); !errors.Is(err, seed.ErrNotEmpty) {
				t.Fatalf("a second run: %v", err)
			}
			if after := logStreams(t, store); len(after) != before {
				t.Errorf("the refused run changed the log: %d streams, %d before", len(after), before)
			}
		})
	}
}

func TestRun_RefusesADatabaseWithAnOrganisation(t *testing.T) {
	t.Parallel()
	store, _ := projtest.Open(t, projtest.SQLite)
	ev, err := eventstore.NewEvent(location.TypeOrganisationRegistered,
		location.OrganisationRegistered{OrganisationID: "A81001", Name: "The Densham Surgery", Type: location.GP, Postcode: "TS18 1HU"},
		eventstore.Metadata{ActorAccountKind: eventstore.AccountSystem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), location.OrganisationStream("A81001"), eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Run(context.Background(), store, small(), nil); !errors.Is(err, seed.ErrNotEmpty) || !strings.Contains(err.Error(), "organisation-A81001") {
		t.Fatalf("run on a database with a practice: %v", err)
	}
}

func TestRun_StopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	store, _ := projtest.Open(t, projtest.SQLite)
	ctx, cancel := context.WithCancel(context.Background())
	opts := small()
	opts.BatchStreams = 10
	n := 0
	_, err := seed.Run(ctx, store, opts, func(seed.Summary) {
		if n++; n == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run cancelled after two batches: %v", err)
	}
}
