package directory_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// directoryWorld is one backend with the directory running and a few
// organisations and locations registered.
type directoryWorld struct {
	*projtest.World
	t *testing.T
}

func newDirectoryWorld(t *testing.T, backend string) *directoryWorld {
	t.Helper()
	w := &directoryWorld{World: projtest.NewWorld(t, backend, directory.Projection{}), t: t}
	w.org("A", "Acorn Care")
	w.org("B", "Bramble Homes")
	w.site("a1", "A", "Acorn House", "sw1a 1aa", "Westminster", "NHS North West London")
	w.site("a2", "A", "Acorn Lodge", "SW1A1AA", "westminster", "NHS North West London")
	w.site("a3", "A", "Acorn Court", "SW1A 1AA", "Westminster", "NHS North West London")
	w.site("b1", "B", "Bramble House", "M1 1AE", "Manchester", "NHS Greater Manchester")
	w.emit(location.LocationStream("a3"), location.LocationDeregistered{LocationID: "a3"})
	w.Sync()
	return w
}

func (w *directoryWorld) emit(stream string, evs ...projtest.Event) {
	w.t.Helper()
	w.Emit(stream, eventstore.Metadata{}, evs...)
}

func (w *directoryWorld) org(id, name string) {
	w.t.Helper()
	w.emit(location.OrganisationStream(id), location.OrganisationRegistered{OrganisationID: id, Name: name, Type: "care_home"})
}

func (w *directoryWorld) site(id, org, name, postcode, la, ccg string) {
	w.t.Helper()
	w.emit(location.LocationStream(id), location.LocationRegistered{LocationID: id, OrganisationID: org, Name: name,
		Postcode: postcode, LocalAuthority: la, CCG: ccg})
}

// read runs fn in a read of the read models.
func (w *directoryWorld) read(fn func(ctx context.Context, db projections.Querier) error) {
	w.t.Helper()
	ctx := context.Background()
	if err := w.ReadModels.Query(ctx, func(db projections.Querier) error { return fn(ctx, db) }); err != nil {
		w.t.Fatal(err)
	}
}

func ids(locs []directory.Location) []string {
	out := make([]string, len(locs))
	for i, l := range locs {
		out[i] = l.LocationID
	}
	return out
}

func TestReaders_SearchByOneCriterionAndReadOneLocation(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newDirectoryWorld(t, backend)
			w.read(func(ctx context.Context, db projections.Querier) error {
				for _, c := range []struct {
					by    directory.SearchBy
					value string
					limit int
					want  []string
				}{
					// Any case and spacing; by name; the deregistered a3
					// is not offered.
					{directory.ByPostcode, " sw1a  1AA ", 10, []string{"a1", "a2"}},
					{directory.ByPostcode, "SW1A 1A", 10, []string{}},
					{directory.ByLocalAuthority, "  WESTMINSTER ", 10, []string{"a1", "a2"}},
					{directory.ByLocalAuthority, "Westminster", 1, []string{"a1"}},
					{directory.ByCCG, "nhs greater manchester", 10, []string{"b1"}},
				} {
					got, err := directory.SearchLocations(ctx, db, c.by, c.value, c.limit)
					if err != nil {
						return err
					}
					if got == nil || !slices.Equal(ids(got), c.want) {
						t.Errorf("SearchLocations(%d, %q, %d) = %v, want %v", c.by, c.value, c.limit, ids(got), c.want)
					}
				}
				if _, err := directory.SearchLocations(ctx, db, directory.SearchBy(9), "x", 10); err == nil {
					t.Error("an unknown criterion was accepted")
				}

				l, ok, err := directory.LocationByID(ctx, db, "a2")
				if err != nil {
					return err
				}
				want := directory.Location{LocationID: "a2", Name: "Acorn Lodge", OrganisationID: "A", OrganisationName: "Acorn Care",
					Postcode: "SW1A1AA", LocalAuthority: "westminster", CCG: "NHS North West London"}
				if !ok || l != want {
					t.Errorf("LocationByID(a2) = %+v, %v; want %+v", l, ok, want)
				}
				if l, ok, err := directory.LocationByID(ctx, db, "nowhere"); ok || err != nil || l != (directory.Location{}) {
					t.Errorf("LocationByID(nowhere) = %+v, %v, %v", l, ok, err)
				}

				if org, ok, err := directory.OrganisationOf(ctx, db, "b1"); org != "B" || !ok || err != nil {
					t.Errorf("OrganisationOf(b1) = %q, %v, %v", org, ok, err)
				}
				if org, ok, err := directory.OrganisationOf(ctx, db, "nowhere"); org != "" || ok || err != nil {
					t.Errorf("OrganisationOf(nowhere) = %q, %v, %v", org, ok, err)
				}

				for _, c := range []struct {
					org  string
					locs []string
					want bool
				}{
					{"A", []string{"b1", "a3"}, true},
					{"A", []string{"b1"}, false},
					{"B", []string{"a1", "a2", "b1"}, true},
					{"B", nil, false},
					{"Z", []string{"a1"}, false},
				} {
					got, err := directory.HasLocationIn(ctx, db, c.org, c.locs)
					if err != nil {
						return err
					}
					if got != c.want {
						t.Errorf("HasLocationIn(%s, %v) = %v, want %v", c.org, c.locs, got, c.want)
					}
				}
				return nil
			})
		})
	}
}
