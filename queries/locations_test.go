package queries_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
	"github.com/capacitytracker/capacity/queries"
)

// newViewsAccounts is newAccounts with the location search running too.
func newViewsAccounts(t *testing.T, bc backendCase) *accounts {
	t.Helper()
	return newAccounts(t, bc, append(accountProjections(), search.Projection{})...)
}

// eachViewsBackend runs fn on a fresh world of views on every backend.
func eachViewsBackend(t *testing.T, fn func(t *testing.T, a *accounts)) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newViewsAccounts(t, bc))
		})
	}
}

// emitLocation appends organisation or location events to a stream.
func (a *accounts) emitLocation(stream string, evs ...projtest.Event) {
	a.t.Helper()
	a.Emit(stream, eventstore.Metadata{}, evs...)
}

// site is a location of the views' world.
type site struct {
	id, org, name, shortName, postcode, cqcRegion, localAuthority, ccg string
	rating                                                             location.Rating
	ownership                                                          string
	deregistered                                                       bool
}

var (
	acorn = struct{ id, name string }{"1-1", "Acorn Care Ltd"}
	birch = struct{ id, name string }{"1-2", "Birch Homes"}
	cedar = struct{ id, name string }{"1-3", "Cedar Trust"}
	zeta  = struct{ id, name string }{"1-4", "Zeta Group"}

	sites = []site{
		{"1-11", acorn.id, "Acorn Home Care North", "", "NN1 1NN", "East Midlands", "Northampton", "NHS Northamptonshire ICB", location.RatingGood, "Independent", false},
		{"1-12", acorn.id, "Acorn Home Care South", "", "SW1A 1AA", "London", "Westminster", "NHS North West London ICB", location.RatingOutstanding, "Voluntary / Not for profit", false},
		{"1-21", birch.id, "Birch House", "", "LS1 4AP", "Yorkshire & Humberside", "Leeds", "NHS West Yorkshire ICB", location.RatingRequiresImprovement, "Local Authority", false},
		{"1-22", birch.id, "Birch Lodge", "", "LS2 7EW", "Yorkshire & Humberside", "Leeds", "NHS West Yorkshire ICB", "", "", false},
		{"1-31", cedar.id, "Cedar Court", "", "NN2 6AA", "East Midlands", "Northampton", "NHS Northamptonshire ICB", location.RatingInadequate, "NHS", true},
		{"1-32", cedar.id, "cedar view", "CV Short", "M1 1AE", "North West", "Manchester", "NHS Greater Manchester ICB", location.RatingGood, "Independent", false},
	}
)

func siteIDs(ss ...site) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.id
	}
	return out
}

// addSite appends a site as the CQC import and its users would.
func (a *accounts) addSite(s site) {
	a.t.Helper()
	a.orgOf[s.id] = s.org
	rec := location.CQCRecord{LocationID: s.id, ProviderID: s.org, Name: s.name, AddressLine1: "1 Road", Town: "Town",
		Postcode: s.postcode, CQCRegion: s.cqcRegion, LocalAuthority: s.localAuthority, CCGName: s.ccg,
		RegistrationStatus: location.StatusRegistered, Ratings: location.CQCRatings{Overall: s.rating, ReportDate: "2024-01-15"},
	}.Normalised()
	evs := []interface{ EventType() string }{location.CQCLocationImported{LocationID: s.id, Record: rec}}
	if s.deregistered {
		evs = append(evs, location.LocationDeregistered{LocationID: s.id})
	}
	if s.ownership != "" {
		evs = append(evs, location.OwnershipTypeChanged{LocationID: s.id, After: s.ownership})
	}
	if s.shortName != "" {
		evs = append(evs, location.AddressChanged{LocationID: s.id, Changes: []location.FieldChange{
			{Field: "short_name", Before: "", After: s.shortName}}})
	}
	a.emitLocation(location.LocationStream(s.id), evs...)
}

// viewsWorld appends the organisations and sites, the 20 deregistered
// sites of Zeta (for paging), Acorn North's contacts and note, and GP
// practices.
func (a *accounts) viewsWorld() {
	a.t.Helper()
	for _, o := range []struct {
		id, name string
		typ      location.OrganisationType
	}{{acorn.id, acorn.name, location.HomeCare}, {birch.id, birch.name, location.CareHome}, {cedar.id, cedar.name, location.HomeCare},
		{zeta.id, zeta.name, location.HomeCare}} {
		a.emitLocation(location.OrganisationStream(o.id), location.OrganisationRegistered{OrganisationID: o.id, Name: o.name, Type: o.typ})
	}
	for _, s := range sites {
		a.addSite(s)
	}
	for i := range 20 {
		a.addSite(site{id: fmt.Sprintf("1-4%02d", i), org: zeta.id, name: fmt.Sprintf("Zeta %02d", i), postcode: "BS1 4DJ",
			cqcRegion: "South West", localAuthority: "Bristol", ccg: "NHS Bristol ICB", deregistered: true})
	}
	l := location.LocationStream(sites[0].id)
	a.emitLocation(l,
		location.ContactAdded{LocationID: sites[0].id, Contact: location.Contact{ContactID: "c1", Role: location.RoleManager,
			Name: "Mary Manager", Phones: []string{"01604 000000"}, Public: true}},
		location.ContactAdded{LocationID: sites[0].id, Contact: location.Contact{ContactID: "c2", Role: "Plumber",
			Name: "Pete Pipes", Phones: []string{"01604 111111"}}},
		location.NoteAdded{LocationID: sites[0].id, Note: location.Note{NoteID: "n1", Text: "Personal care",
			AddedAt: time.Date(2020, 11, 26, 9, 0, 0, 0, time.UTC), AddedBy: "u1", AddedByName: "Home care Test"}})
	for _, gp := range []struct{ code, name, postcode string }{
		{"A81001", "Acklam Medical Centre", "TS5 8SB"}, {"A81002", "Queenstown Surgery", "TS1 3QA"}, {"B82005", "Acklam Road Practice", "TS17 7BW"},
	} {
		a.emitLocation(location.OrganisationStream(gp.code),
			location.OrganisationRegistered{OrganisationID: gp.code, Name: gp.name, Type: location.GP, Postcode: gp.postcode})
	}
	// Not a practice, though its name matches.
	a.emitLocation(location.OrganisationStream("1-5"),
		location.OrganisationRegistered{OrganisationID: "1-5", Name: "Acklam Care Home", Type: location.CareHome})
	a.Sync()
}

// search runs a provider search that must succeed.
func (a *accounts) search(v *queries.Viewer, p queries.ProviderSearch) queries.ProviderPage {
	a.t.Helper()
	page, err := a.q.SearchProviders(context.Background(), v, p)
	if err != nil {
		a.t.Fatalf("search %+v: %v", p, err)
	}
	return page
}

func providerIDs(rows []queries.ProviderRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.LocationID
	}
	return out
}

// invalidFields lists the fields of a validation error ("" when err is
// not one).
func invalidFields(err error) []string {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestSearchProviders(t *testing.T) {
	eachViewsBackend(t, func(t *testing.T, a *accounts) {
		a.viewsWorld()
		north, south, house, lodge, court, view := sites[0], sites[1], sites[2], sites[3], sites[4], sites[5]
		ids := func(ss ...site) []string { return siteIDs(ss...) }

		t.Run("FreeTextMatchesNamesOrganisationsAndThePostcodeStart", func(t *testing.T) {
			for _, c := range []struct {
				text string
				want []string
			}{
				{"home care", ids(north, south)},
				{"ACORN north", ids(north)},
				{"birch", ids(house, lodge)}, // names and organisation
				{"trust", ids(view)},         // Cedar Trust; Cedar Court is deregistered
				{"cv short", ids(view)},      // the short name
				{"nn1", ids(north)},          // the postcode's start
				{"LS1 4", ids(house)},        // in any spacing
				{"ls", ids(house, lodge)},    // LS1 and LS2
				{"100%_", nil},               // wildcards are literal
				{"   ", ids(north, south, house, lodge, view)},
			} {
				got := providerIDs(a.search(nil, queries.ProviderSearch{Text: c.text}).Entries)
				if !slices.Equal(got, nilToEmpty(c.want)) {
					t.Errorf("text %q = %v, want %v", c.text, got, c.want)
				}
			}
		})

		t.Run("EachFilter", func(t *testing.T) {
			for _, c := range []struct {
				name string
				p    queries.ProviderSearch
				want []string
			}{
				{"organisation", queries.ProviderSearch{OrganisationID: birch.id}, ids(house, lodge)},
				{"organisation type", queries.ProviderSearch{OrganisationType: "care_home"}, ids(house, lodge)},
				{"ownership type", queries.ProviderSearch{OwnershipType: "independent"}, ids(north, view)},
				{"NHS region", queries.ProviderSearch{NHSRegion: "midlands"}, ids(north)},
				{"CQC region", queries.ProviderSearch{CQCRegion: "LONDON"}, ids(south)},
				{"local authority", queries.ProviderSearch{LocalAuthority: " leeds "}, ids(house, lodge)},
				{"CCG", queries.ProviderSearch{CCG: "nhs greater manchester icb"}, ids(view)},
				{"postcode prefix", queries.ProviderSearch{Postcode: "ls2"}, ids(lodge)},
				{"rating", queries.ProviderSearch{Rating: "good"}, ids(north, view)},
				{"unknown rating", queries.ProviderSearch{Rating: "unknown"}, ids(lodge)},
				{"deregistered", queries.ProviderSearch{RegistrationStatus: "deregistered", OrganisationID: cedar.id}, ids(court)},
				{"all statuses", queries.ProviderSearch{RegistrationStatus: "all", OrganisationID: cedar.id}, ids(court, view)},
				{"combined", queries.ProviderSearch{LocalAuthority: "northampton", RegistrationStatus: "all", Rating: "Inadequate"}, ids(court)},
			} {
				got := providerIDs(a.search(nil, c.p).Entries)
				if !slices.Equal(got, c.want) {
					t.Errorf("%s: %v, want %v", c.name, got, c.want)
				}
			}
		})

		t.Run("InvalidParametersAreFieldErrors", func(t *testing.T) {
			for _, c := range []struct {
				p     queries.ProviderSearch
				field string
			}{
				{queries.ProviderSearch{PageSize: 20}, "page_size"},
				{queries.ProviderSearch{Page: -1}, "page"},
				{queries.ProviderSearch{Sort: "size"}, "sort"},
				{queries.ProviderSearch{Dir: "up"}, "dir"},
				{queries.ProviderSearch{OwnershipType: "Private"}, "ownership_type"},
				{queries.ProviderSearch{NHSRegion: "Wales"}, "nhs_region"},
				{queries.ProviderSearch{OrganisationType: "castle"}, "organisation_type"},
				{queries.ProviderSearch{RegistrationStatus: "gone"}, "registration_status"},
				{queries.ProviderSearch{Postcode: "NN1-"}, "postcode"},
			} {
				_, err := a.q.SearchProviders(context.Background(), nil, c.p)
				if got := invalidFields(err); !slices.Equal(got, []string{c.field}) {
					t.Errorf("%+v: error %v, want a field error on %s", c.p, err, c.field)
				}
				err = a.q.EachProvider(context.Background(), nil, c.p, func(queries.ProviderRow) error { return nil })
				if got := invalidFields(err); !slices.Equal(got, []string{c.field}) {
					t.Errorf("each %+v: error %v, want a field error on %s", c.p, err, c.field)
				}
			}
		})

		t.Run("SortsAscendingAndDescendingWithTiesByName", func(t *testing.T) {
			for _, c := range []struct {
				sort string
				want []string
			}{
				{"", ids(north, south, house, lodge, view)},
				{"name", ids(north, south, house, lodge, view)},
				{"organisation", ids(north, south, house, lodge, view)},
				{"postcode", ids(house, lodge, view, north, south)},
				{"nhs_region", ids(south, north, house, lodge, view)},
				{"local_authority", ids(house, lodge, view, north, south)},
				{"overall_rating", ids(south, north, view, house, lodge)},
				{"last_update", ids(south, house, lodge, view, north)}, // Acorn North's contacts came last
			} {
				asc := providerIDs(a.search(nil, queries.ProviderSearch{Sort: c.sort}).Entries)
				if !slices.Equal(asc, c.want) {
					t.Errorf("sort %q: %v, want %v", c.sort, asc, c.want)
				}
				desc := providerIDs(a.search(nil, queries.ProviderSearch{Sort: c.sort, Dir: "desc"}).Entries)
				slices.Reverse(desc)
				if !slices.Equal(desc, c.want) {
					t.Errorf("sort %q desc, reversed: %v, want %v", c.sort, desc, c.want)
				}
			}
		})

		t.Run("PagesSayWhatTheyShow", func(t *testing.T) {
			p := queries.ProviderSearch{OrganisationID: zeta.id, RegistrationStatus: "all", PageSize: 10}
			for _, c := range []struct {
				page, from, to, n int
				showing           string
			}{
				{1, 1, 10, 10, "Showing 1 to 10 of 20 entries"},
				{2, 11, 20, 10, "Showing 11 to 20 of 20 entries"},
				{3, 0, 0, 0, "Showing 0 to 0 of 20 entries"},
			} {
				p.Page = c.page
				got := a.search(nil, p)
				if got.From != c.from || got.To != c.to || len(got.Entries) != c.n || got.Total != 20 || got.Showing != c.showing || got.Pages != 2 {
					t.Errorf("page %d: from %d to %d, %d entries of %d in %d pages, %q; want %d to %d, %d, %q",
						c.page, got.From, got.To, len(got.Entries), got.Total, got.Pages, got.Showing, c.from, c.to, c.n, c.showing)
				}
				if c.n > 0 && got.Entries[0].Name != fmt.Sprintf("Zeta %02d", c.from-1) {
					t.Errorf("page %d starts with %s", c.page, got.Entries[0].Name)
				}
			}
			empty := a.search(nil, queries.ProviderSearch{Text: "no such provider"})
			if empty.Showing != "Showing 0 to 0 of 0 entries" || empty.Entries == nil || len(empty.Entries) != 0 {
				t.Errorf("empty search = %+v", empty)
			}
			p = queries.ProviderSearch{OrganisationID: zeta.id, RegistrationStatus: "all", PageSize: 25}
			if got := a.search(nil, p); got.Showing != "Showing 1 to 20 of 20 entries" || got.Pages != 1 {
				t.Errorf("page size 25: %q, %d pages", got.Showing, got.Pages)
			}
		})

		t.Run("ContactsArePublicUnlessTheViewerHasAccess", func(t *testing.T) {
			for _, c := range []struct {
				name     string
				v        *queries.Viewer
				contacts []string
				author   string
			}{
				{"public", nil, []string{"c1"}, ""},
				{"another location's user", &queries.Viewer{UserID: "u9", Locations: []string{south.id}}, []string{"c1"}, ""},
				{"an Approver of the organisation without access", &queries.Viewer{UserID: "u8", ApproverOf: []string{acorn.id}, Locations: []string{south.id}}, []string{"c1"}, ""},
				{"a user of the location", &queries.Viewer{UserID: "u1", Locations: []string{north.id}}, []string{"c1", "c2"}, "Home care Test"},
				{"support", &queries.Viewer{UserID: "s", Support: true}, []string{"c1", "c2"}, "Home care Test"},
			} {
				got := a.search(c.v, queries.ProviderSearch{Text: "acorn north"}).Entries
				if len(got) != 1 {
					t.Fatalf("%s: %d entries", c.name, len(got))
				}
				var contacts []string
				for _, ct := range got[0].Contacts {
					contacts = append(contacts, ct.ContactID)
				}
				if !slices.Equal(contacts, c.contacts) || got[0].AllContacts != (len(c.contacts) == 2) {
					t.Errorf("%s sees contacts %v (all: %v), want %v", c.name, contacts, got[0].AllContacts, c.contacts)
				}
				if len(got[0].Notes) != 1 || got[0].Notes[0].Text != "Personal care" || got[0].Notes[0].AddedByName != c.author {
					t.Errorf("%s sees notes %+v, want the note by %q", c.name, got[0].Notes, c.author)
				}
			}
		})

		t.Run("RowsCarryTheLocationsDetails", func(t *testing.T) {
			got := a.search(nil, queries.ProviderSearch{Text: "birch house"}).Entries[0]
			if got.OrganisationName != birch.name || got.OrganisationType != "care_home" || got.OwnershipType != "Local Authority" ||
				got.NHSRegion != location.NHSNorthEastAndYorkshire || got.CQCRegion != "Yorkshire & Humberside" || got.Postcode != "LS1 4AP" ||
				got.Ratings.Overall != "Requires improvement" || got.Ratings.Safe != "Unknown rating" || got.ReportDate != "2024-01-15" ||
				got.PublicURL != "https://www.cqc.org.uk/location/1-21" || got.LastUpdateAt.IsZero() || got.LastDailyUpdateAt != nil ||
				got.Version != 2 || got.RegistrationStatus != location.StatusRegistered {
				t.Errorf("Birch House = %+v", got)
			}
		})

		t.Run("EachProviderWalksWhatThePagesShow", func(t *testing.T) {
			for _, sort := range append(queries.ProviderSorts(), "") {
				for _, dir := range []string{"asc", "desc"} {
					p := queries.ProviderSearch{Sort: sort, Dir: dir, RegistrationStatus: "all", PageSize: 10}
					var paged []string
					for page := 1; ; page++ {
						p.Page = page
						got := a.search(nil, p)
						if len(got.Entries) == 0 {
							break
						}
						paged = append(paged, providerIDs(got.Entries)...)
					}
					var walked []string
					if err := a.q.EachProvider(context.Background(), nil, p, func(r queries.ProviderRow) error {
						walked = append(walked, r.LocationID)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					if len(paged) != 26 || !slices.Equal(walked, paged) {
						t.Errorf("sort %q %s: walked %v, paged %v", sort, dir, walked, paged)
					}
				}
			}
			stop := errors.New("stop")
			n := 0
			err := a.q.EachProvider(context.Background(), nil, queries.ProviderSearch{}, func(queries.ProviderRow) error {
				n++
				return stop
			})
			if !errors.Is(err, stop) || n != 1 {
				t.Errorf("an error of fn: %v after %d rows, want it at once", err, n)
			}
		})

		t.Run("ReadYourWrites", func(t *testing.T) {
			a.addSite(site{id: "1-99", org: acorn.id, name: "Acorn Fresh", postcode: "NN3 3AA", cqcRegion: "East Midlands"})
			got := a.search(nil, queries.ProviderSearch{Text: "acorn fresh", MinPosition: a.Last()})
			if !slices.Equal(providerIDs(got.Entries), []string{"1-99"}) {
				t.Errorf("right after the append: %v", providerIDs(got.Entries))
			}
		})
	})
}

func nilToEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestEachProvider_WalksMoreRowsThanABatchInKeysetOrder(t *testing.T) {
	eachViewsBackend(t, func(t *testing.T, a *accounts) {
		const n = 1234
		a.emitLocation(location.OrganisationStream("1-7"), location.OrganisationRegistered{OrganisationID: "1-7", Name: "Big Group", Type: location.HomeCare})
		var reqs []eventstore.AppendRequest
		regions := []string{"London", "North West", "South East", "East"}
		for i := range n {
			id := fmt.Sprintf("1-7%05d", i)
			// Names repeat, so that ties are broken by location id
			// across batch boundaries.
			rec := location.CQCRecord{LocationID: id, ProviderID: "1-7", Name: fmt.Sprintf("Site %03d", i%300),
				Postcode: "NN1 1NN", CQCRegion: regions[i%len(regions)], RegistrationStatus: "Registered",
				Ratings: location.CQCRatings{Overall: []location.Rating{"", location.RatingGood, location.RatingOutstanding}[i%3]}}.Normalised()
			d, err := eventstore.NewEvent(location.TypeCQCLocationImported, location.CQCLocationImported{LocationID: id, Record: rec},
				eventstore.Metadata{Command: "test"})
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: location.LocationStream(id), Expected: eventstore.NoStream, Events: []eventstore.EventData{d}})
		}
		for chunk := range slices.Chunk(reqs, 500) {
			res, err := a.Store.AppendMany(context.Background(), chunk)
			if err != nil {
				t.Fatal(err)
			}
			a.Saw(res[len(res)-1].LastPosition())
		}
		a.Sync()
		// Pages 11 to 13 are beyond the offset from which a page reads
		// its ids first (the search view's deepOffset): they must hold
		// the same rows, in the same order, as the keyset walk.
		for _, sort := range queries.ProviderSorts() {
			for _, dir := range []string{"asc", "desc"} {
				p := queries.ProviderSearch{Sort: sort, Dir: dir, PageSize: 100}
				var paged []string
				for page := 1; ; page++ {
					p.Page = page
					got := a.search(nil, p)
					if len(got.Entries) == 0 {
						break
					}
					paged = append(paged, providerIDs(got.Entries)...)
				}
				var walked []string
				if err := a.q.EachProvider(context.Background(), nil, p, func(r queries.ProviderRow) error {
					walked = append(walked, r.LocationID)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(walked) != n || !slices.Equal(walked, paged) {
					t.Errorf("sort %s %s: walked %d rows, paged %d; equal: %v", sort, dir, len(walked), len(paged), slices.Equal(walked, paged))
				}
			}
		}
	})
}

func TestHomeCareList(t *testing.T) {
	eachViewsBackend(t, func(t *testing.T, a *accounts) {
		a.viewsWorld()
		north, south, house, court, view := sites[0], sites[1], sites[2], sites[4], sites[5]
		mine := queries.Viewer{UserID: "u1", Locations: []string{view.id, north.id, court.id, house.id}}
		list := func(v queries.Viewer, h queries.HomeCareQuery) queries.HomeCarePage {
			t.Helper()
			p, err := a.q.HomeCareList(context.Background(), v, h)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		ids := func(p queries.HomeCarePage) []string {
			out := make([]string, len(p.Entries))
			for i, e := range p.Entries {
				out[i] = e.LocationID
			}
			return out
		}
		for _, c := range []struct {
			name string
			v    queries.Viewer
			h    queries.HomeCareQuery
			want []string
		}{
			// Deregistered locations are the user's still.
			{"the viewer's locations by name", mine, queries.HomeCareQuery{}, siteIDs(north, house, court, view)},
			{"parent organisation", mine, queries.HomeCareQuery{OrganisationID: cedar.id}, siteIDs(court, view)},
			{"ownership type", mine, queries.HomeCareQuery{OwnershipType: "Independent"}, siteIDs(north, view)},
			{"NHS region", mine, queries.HomeCareQuery{NHSRegion: "Midlands"}, siteIDs(north, court)},
			{"text", mine, queries.HomeCareQuery{Text: "cedar"}, siteIDs(court, view)},
			{"by name, descending", mine, queries.HomeCareQuery{Dir: "desc"}, siteIDs(view, court, house, north)},
			// Ties of the sort's column go by name, in the same direction.
			{"by organisation, descending", mine, queries.HomeCareQuery{Sort: "organisation", Dir: "desc"}, siteIDs(view, court, house, north)},
			{"by NHS region", mine, queries.HomeCareQuery{Sort: "nhs_region"}, siteIDs(north, court, house, view)},
			{"no locations", queries.Viewer{UserID: "u2"}, queries.HomeCareQuery{}, []string{}},
			{"an Approver sees their locations only", queries.Viewer{UserID: "u3", ApproverOf: []string{acorn.id}, Locations: []string{south.id}},
				queries.HomeCareQuery{}, siteIDs(south)},
		} {
			if got := ids(list(c.v, c.h)); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
		all := list(queries.Viewer{UserID: "s", Support: true}, queries.HomeCareQuery{PageSize: 25, Page: 2})
		if all.Total != 26 || all.Showing != "Showing 26 to 26 of 26 entries" {
			t.Errorf("support's list: %d, %q", all.Total, all.Showing)
		}
		first := list(mine, queries.HomeCareQuery{Text: "acorn"}).Entries[0]
		want := queries.HomeCareEntry{LocationID: north.id, Name: north.name, Postcode: "NN1 1NN", Label: "Acorn Home Care North (NN11NN)",
			OrganisationID: acorn.id, OrganisationName: acorn.name, OwnershipType: "Independent", NHSRegion: "Midlands",
			RegistrationStatus: "Registered", Links: queries.LocationLinks{Edit: "/api/v1/locations/1-11",
				DailyUpdate: "/api/v1/locations/1-11/daily-update", CareQuality: "/api/v1/locations/1-11/care-quality"}}
		if first != want {
			t.Errorf("entry = %+v, want %+v", first, want)
		}
		if _, err := a.q.HomeCareList(context.Background(), mine, queries.HomeCareQuery{PageSize: 7}); !slices.Equal(invalidFields(err), []string{"page_size"}) {
			t.Errorf("page size 7: %v", err)
		}
		// The provider search's other sorts are not the list's columns.
		if _, err := a.q.HomeCareList(context.Background(), mine, queries.HomeCareQuery{Sort: "last_update", Dir: "up"}); !slices.Equal(invalidFields(err), []string{"sort", "dir"}) {
			t.Errorf("sort last_update, dir up: %v", err)
		}
		orgs, err := a.q.HomeCareOrganisations(context.Background(), mine)
		if err != nil {
			t.Fatal(err)
		}
		if want := []queries.OrganisationOption{{OrganisationID: acorn.id, Name: acorn.name}, {OrganisationID: birch.id, Name: birch.name}, {OrganisationID: cedar.id, Name: cedar.name}}; !slices.Equal(orgs, want) {
			t.Errorf("organisations = %v, want %v", orgs, want)
		}
		if orgs, err := a.q.HomeCareOrganisations(context.Background(), queries.Viewer{UserID: "s", Support: true}); err != nil || orgs != nil {
			t.Errorf("support's organisations = %v, %v; want none (support names one by id)", orgs, err)
		}
		var walked []string
		if err := a.q.EachHomeCare(context.Background(), mine, queries.HomeCareQuery{}, func(e queries.HomeCareEntry) error {
			walked = append(walked, e.LocationID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(walked, siteIDs(north, house, court, view)) {
			t.Errorf("each: %v", walked)
		}
	})
}

func TestProviderDashboard(t *testing.T) {
	eachViewsBackend(t, func(t *testing.T, a *accounts) {
		a.viewsWorld()
		north, south, house := sites[0], sites[1], sites[2]
		rosa := a.importManager(north.id, "Rosa Hill")
		stan, req := a.register(account.Standard, "Stan Dard", north.id)
		a.approve(rosa, stan, req, acorn.id)
		a.register(account.Standard, "Penny Ending", north.id)
		gone, req := a.register(account.Standard, "Lea Ver", north.id)
		a.approve(rosa, gone, req, acorn.id)
		a.deactivate(rosa, gone)
		a.Sync()

		now := time.Now()
		approver := queries.Viewer{UserID: rosa.String(), ApproverOf: []string{acorn.id}, Locations: []string{north.id}}
		standard := queries.Viewer{UserID: stan.String(), Locations: []string{north.id}}
		dash := func(v queries.Viewer, d queries.DashboardQuery) (queries.DashboardPage, error) {
			d.Now = now
			return a.q.ProviderDashboard(context.Background(), v, d)
		}

		t.Run("WhatNeedsDoing", func(t *testing.T) {
			p, err := dash(approver, queries.DashboardQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Entries) != 1 || p.Showing != "Showing 1 to 1 of 1 entries" {
				t.Fatalf("approver's dashboard = %+v", p)
			}
			e := p.Entries[0]
			// Acorn North has a Manager without an email; one Approver;
			// Penny waits; no daily update yet.
			if !slices.Equal(e.Needs, []string{queries.NeedEmail, queries.NeedApprovers, queries.NeedPendingApprovals, queries.NeedDailyUpdate}) ||
				!e.HasManager || e.HasEmail || e.ActiveApprovers != 1 || !e.FewerThanTwoApprovers || e.PendingApprovals != 1 ||
				e.LastDailyUpdateAt != nil || !e.DailyUpdateMissingToday || e.Ratings.Overall != "Good" || e.Ratings.Caring != "Unknown rating" ||
				e.Links.Edit != "/api/v1/locations/"+north.id || e.OrganisationName != acorn.name {
				t.Errorf("dashboard = %+v", e)
			}
			want := []queries.DashboardUser{
				{UserID: rosa.String(), Email: "rosa.hill@example.org", FullName: "Rosa Hill", Role: "approver", Approver: true},
				{UserID: stan.String(), Email: "stan.dard@example.nhs.uk", FullName: "Stan Dard", Role: "standard"},
			}
			if !slices.Equal(e.Users, want) {
				t.Errorf("users = %+v, want %+v", e.Users, want)
			}
		})

		t.Run("UsersSeeNamesOnly", func(t *testing.T) {
			e, err := a.q.LocationDashboard(context.Background(), standard, north.id, now, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []queries.DashboardUser{{FullName: "Rosa Hill", Role: "approver", Approver: true}, {FullName: "Stan Dard", Role: "standard"}}
			if !slices.Equal(e.Users, want) {
				t.Errorf("users = %+v, want %+v", e.Users, want)
			}
		})

		t.Run("Scope", func(t *testing.T) {
			// An Approver may see the organisation's other locations.
			if p, err := dash(approver, queries.DashboardQuery{LocationIDs: []string{south.id, north.id}}); err != nil || len(p.Entries) != 2 {
				t.Errorf("approver, both of Acorn's: %v, %v", p.Entries, err)
			}
			if _, err := dash(standard, queries.DashboardQuery{LocationIDs: []string{south.id}}); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("standard user, another location: %v, want forbidden", err)
			}
			if _, err := dash(approver, queries.DashboardQuery{LocationIDs: []string{house.id}}); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("approver, another organisation: %v, want forbidden", err)
			}
			if _, err := a.q.LocationDashboard(context.Background(), approver, "1-999", now, 0); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("unknown location: %v, want not found", err)
			}
			if p, err := dash(queries.Viewer{UserID: "x"}, queries.DashboardQuery{}); err != nil || len(p.Entries) != 0 || p.Showing != "Showing 0 to 0 of 0 entries" {
				t.Errorf("a user without locations: %+v, %v", p, err)
			}
			support := queries.Viewer{UserID: "s", Support: true}
			p, err := dash(support, queries.DashboardQuery{PageSize: 10, Page: 3})
			if err != nil || p.Total != 26 || p.Showing != "Showing 21 to 26 of 26 entries" {
				t.Errorf("support: %q, %v", p.Showing, err)
			}
			var walked int
			if err := a.q.EachDashboard(context.Background(), support, queries.DashboardQuery{Now: now}, func(e queries.DashboardEntry) error {
				walked++
				if e.Users == nil || e.Needs == nil {
					t.Errorf("%s: nil lists", e.LocationID)
				}
				return nil
			}); err != nil || walked != 26 {
				t.Errorf("each for support: %d, %v", walked, err)
			}
		})

		t.Run("TodayIsLondonsCalendarDay", func(t *testing.T) {
			// 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
			at := time.Date(2025, 6, 30, 23, 30, 0, 0, time.UTC)
			if got, want := queries.StartOfDay(at), time.Date(2025, 6, 30, 23, 0, 0, 0, time.UTC); !got.Equal(want) {
				t.Errorf("start of day = %v, want %v", got.UTC(), want)
			}
			winter := time.Date(2025, 1, 10, 23, 30, 0, 0, time.UTC)
			if got, want := queries.StartOfDay(winter), time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
				t.Errorf("start of a winter day = %v, want %v", got.UTC(), want)
			}
		})
	})
}

func TestSearchGPPractices(t *testing.T) {
	eachViewsBackend(t, func(t *testing.T, a *accounts) {
		a.viewsWorld()
		for _, c := range []struct {
			text string
			want []string
		}{
			{"acklam", []string{"A81001", "B82005"}}, // not the care home
			{"ACKLAM road", []string{"B82005"}},
			{"a81", []string{"A81001", "A81002"}},
			{"surgery", []string{"A81002"}},
			{"zz", []string{}},
		} {
			got, err := a.q.SearchGPPractices(context.Background(), c.text, 0)
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, g := range got {
				codes = append(codes, g.Code)
			}
			if !slices.Equal(nilToEmpty(codes), c.want) {
				t.Errorf("%q = %v, want %v", c.text, codes, c.want)
			}
		}
		got, err := a.q.SearchGPPractices(context.Background(), "acklam", 1)
		if err != nil || len(got) != 1 || got[0] != (queries.GPPractice{Code: "A81001", Name: "Acklam Medical Centre", Postcode: "TS5 8SB"}) {
			t.Errorf("limit 1: %+v, %v", got, err)
		}
		if _, err := a.q.SearchGPPractices(context.Background(), " a ", 0); !slices.Equal(invalidFields(err), []string{"q"}) {
			t.Errorf("one letter: %v", err)
		}
	})
}
