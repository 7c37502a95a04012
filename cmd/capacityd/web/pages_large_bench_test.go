package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/internal/seed"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// The size of issue 15's target: `capacityctl seed -locations 25000` and
// 10,000 users.
const (
	largeLocations = 25000
	largeUsers     = 10000
	// Of the users, one in pendingEvery is left waiting for approval; the
	// largest organisation gets one in largeOrgShare of them.
	pendingEvery  = 33
	largeOrgShare = 10
)

// BenchmarkWeb_LargeSitePages measures the server's answer to every page a
// person sees, over the data set of issue 15's target: the seed's 25,000
// CQC locations (and its 2,000 GP practices and year of history) and
// 10,000 users registered through the real commands, spread over the
// organisations, approved by support through the real command, 1 in 33
// still pending. The fixture is built once per backend (minutes); each
// page is then a sub-benchmark reporting the p50 and p99 of its
// iterations:
//
//	go test ./cmd/capacityd/web -run '^$' -bench BenchmarkWeb_LargeSitePages -benchtime 300x -timeout 60m
//
// It runs on both backends; -bench 'BenchmarkWeb_LargeSitePages/sqlite'
// runs one, -bench 'BenchmarkWeb_LargeSitePages/.*/(home-care|find-providers)'
// the provider pages only; -args -large-scale 0.02 a small data set
// (to prove that it works, not to measure).
func BenchmarkWeb_LargeSitePages(b *testing.B) {
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			f := newLargeSite(b, backend)
			anonymous := f.s.client()
			approver := f.s.client()
			approver.signIn(f.approver, "/")
			support := f.s.client()
			support.signIn(f.support, "/")
			search := "/my-access?" + url.Values{"by": {"local_authority"}, "q": {f.localAuthority}}.Encode()
			for _, page := range []struct {
				name string
				c    *browserless
				path string
				want string // in the page: it shows the data, not an empty list
			}{
				{"sign-in", anonymous, "/sign-in", "Sign in"},
				{"main-menu", approver, "/", "Rosa Hill"},
				{"help", approver, "/help", "Help"},
				{"my-details", approver, "/my-details", "rosa.hill@large.example.org"},
				{"change-password", approver, "/change-password", "Change"},
				{"approvals-approver", approver, "/approvals", "@org" + f.largeOrg},
				{"approvals-support", support, "/approvals", "@org"},
				// A later page reads past the pages before it (OFFSET).
				{"approvals-support-page-12", support, "/approvals?page=12", "@org"},
				{"users-large-org", approver, "/organisations/" + f.largeOrg + "/users", "Carer "},
				{"users-large-org-page-20", approver, "/organisations/" + f.largeOrg + "/users?page=20", "Carer "},
				{"my-access-search", approver, search, `name="location_ids"`},
				{"support", support, "/support", "@org"},
				// Home Care Providers (issue 18): the Approver's own
				// locations; support's every location, with each filter,
				// sort, search and a far page (OFFSET).
				{"home-care-approver", approver, "/home-care", `href="/locations/`},
				{"home-care-support", support, "/home-care", `href="/locations/`},
				{"home-care-support-page-100-of-100", support, "/home-care?page_size=100&page=100", `href="/locations/`},
				{"home-care-support-sort-organisation-desc", support, "/home-care?sort=organisation&dir=desc&page=20", `href="/locations/`},
				{"home-care-support-sort-nhs-region", support, "/home-care?sort=nhs_region&page=5", `href="/locations/`},
				{"home-care-support-organisation", support, "/home-care?organisation_id=" + f.largeOrg + "&page_size=50", `href="/locations/`},
				{"home-care-support-nhs-region", support, "/home-care?nhs_region=London&page=3", `href="/locations/`},
				{"home-care-support-search", support, "/home-care?q=care&page=2", `href="/locations/`},
				{"home-care-support-filters", support, "/home-care?nhs_region=Midlands&q=care&sort=organisation", `href="/locations/`},
				// Find Providers: the public's and support's searches.
				{"find-providers-anonymous", anonymous, "/find-providers", "nhsuk-card__heading"},
				{"find-providers-anonymous-page-200", anonymous, "/find-providers?page=200&sort=last_update&dir=desc", "nhsuk-card__heading"},
				{"find-providers-search", anonymous, "/find-providers?q=care&nhs_region=London", "nhsuk-card__heading"},
				{"find-providers-local-authority", anonymous, "/find-providers?" + url.Values{"local_authority": {f.localAuthority}, "sort": {"overall_rating"}}.Encode(), "nhsuk-card__heading"},
				{"find-providers-support-100", support, "/find-providers?page_size=100&sort=organisation", "nhsuk-card__heading"},
			} {
				b.Run(page.name, func(b *testing.B) {
					times := make([]time.Duration, 0, b.N)
					size := 0
					for b.Loop() {
						start := time.Now()
						p := page.c.get(page.path)
						times = append(times, time.Since(start))
						if p.Status != http.StatusOK || !strings.Contains(p.Body, page.want) {
							b.Fatalf("%s: %d without %q:\n%s", page.path, p.Status, page.want, p.Body)
						}
						size = len(p.Body)
					}
					slices.Sort(times)
					ms := func(q int) float64 { return float64(times[(len(times)-1)*q/100].Microseconds()) / 1000 }
					b.ReportMetric(ms(50), "p50-ms")
					b.ReportMetric(ms(99), "p99-ms")
					b.ReportMetric(float64(size)/1024, "page-KB")
				})
			}
		})
	}
}

// largeSite is the benchmark's site and what its pages need.
type largeSite struct {
	s                 *site
	approver, support person
	largeOrg          string // the organisation with the most locations
	localAuthority    string // of one of its locations: My Access's search
	// largeOrgLocations are its locations; the approver is the
	// registered manager of the first.
	largeOrgLocations []string
}

// seededOrg is an organisation of the seed with its registered locations.
type seededOrg struct {
	id        string
	orgType   string
	locations []string
}

func newLargeSite(b *testing.B, backend string) *largeSite {
	b.Helper()
	started := time.Now()
	opts := seed.Options{Locations: scaled(largeLocations), GPPractices: seed.DefaultGPPractices, Seed: 15,
		Now: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
	s := newSiteWith(b, backend, siteOptions{settleWithin: 30 * time.Minute, fill: func(ctx context.Context, store eventstore.Store) {
		sum, err := seed.Run(ctx, store, opts, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: seed appended %d events (%d locations, %d providers, %d GP practices) in %s", backend,
			sum.Events, sum.Locations, sum.Organisations, sum.GPPractices, sum.Elapsed.Round(time.Second))
	}})
	seeded := time.Since(started)

	// The same options generate the same streams: the organisations and
	// their locations, as the store has them.
	byID := map[string]*seededOrg{}
	var orgs []*seededOrg
	localAuthority := map[string]string{}
	if err := seed.Generate(opts, func(st seed.Stream) error {
		if st.Kind != seed.KindLocation {
			return nil
		}
		var l location.Location
		for _, e := range st.Events {
			l = location.EvolveLocation(l, e.Data)
		}
		if l.Deregistered() {
			return nil
		}
		o := byID[l.OrganisationID]
		if o == nil {
			o = &seededOrg{id: l.OrganisationID, orgType: string(location.CQCOrganisationType(l.CQC))}
			byID[o.id] = o
			orgs = append(orgs, o)
		}
		o.locations = append(o.locations, l.LocationID)
		localAuthority[l.LocationID] = l.CQC.LocalAuthority
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	large := slices.MaxFunc(orgs, func(x, y *seededOrg) int { return len(x.locations) - len(y.locations) })

	// The people who sign in, before the crowd: their set-password links
	// are the only emails delivered.
	ctx := context.Background()
	f := &largeSite{s: s, largeOrg: large.id, localAuthority: localAuthority[large.locations[0]], largeOrgLocations: large.locations}
	if _, _, err := s.accounts.ImportManager(ctx, commands.System("bench"), account.ImportManager{
		LocationID: large.locations[0], FullName: "Rosa Hill", Email: "rosa.hill@large.example.org", Phone: "0191 555 0100"}); err != nil {
		b.Fatal(err)
	}
	f.approver = person{Email: "rosa.hill@large.example.org", Name: "Rosa Hill", Password: "Approving-manager-2026"}
	if _, err := s.accounts.SetPasswordWithLink(ctx, commands.Request{}, s.linkToken(f.approver.Email), f.approver.Password); err != nil {
		b.Fatal(err)
	}
	f.support = s.activeSupport("sam.support@capacitytracker.example.nhs.uk", "Sam Support")

	// The crowd: each registers for one to three locations of its
	// organisation (one in largeOrgShare of them the largest; the others
	// by turn), and support approves all but one in pendingEvery, a few
	// at once as the requests of many people would come.
	registerStarted := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				if err := registerUser(ctx, s.accounts, i, large, orgs); err != nil {
					mu.Lock()
					firstErr = keepFirst(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range scaled(largeUsers) {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	registered := time.Since(registerStarted)
	s.settle()
	// What a production PostgreSQL keeps and the test server does not
	// (its autovacuum is off): the dead row versions of the approvals
	// reclaimed (every approved request's row was updated from pending)
	// and the planner's statistics. A production SQLite runs no ANALYZE:
	// its file is left as the server leaves it.
	if pg, ok := s.store.(*postgres.Store); ok {
		vacuumed := time.Now()
		if _, err := pg.Pool().Exec(ctx, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: VACUUM ANALYZE in %s", backend, time.Since(vacuumed).Round(time.Second))
	}
	b.Logf("%s: seeded and projected %d locations in %s, registered %d users in %s, all projected after %s; largest organisation %s (%d locations)",
		backend, scaled(largeLocations), seeded.Round(time.Second), scaled(largeUsers), registered.Round(time.Second),
		time.Since(started).Round(time.Second), large.id, len(large.locations))
	return f
}

// keepFirst keeps the first error.
func keepFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// registerUser registers user i and, unless it is one left pending,
// approves its request as support.
func registerUser(ctx context.Context, accounts *commands.Service, i int, large *seededOrg, orgs []*seededOrg) error {
	org := large
	if i%largeOrgShare != 0 {
		org = orgs[i%len(orgs)]
	}
	n := min(1+i%3, len(org.locations))
	ids := make([]string, 0, n)
	for j := range n {
		ids = append(ids, org.locations[(i/largeOrgShare+j)%len(org.locations)])
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	role := "standard"
	if i%20 == 0 {
		role = "approver"
	}
	reg, err := accounts.Register(ctx, commands.Request{}, account.Register{
		Email: fmt.Sprintf("carer%05d@org%s.example.org", i, org.id), FullName: "Carer " + letters(i) + " Smith",
		Phone: "0191 691 0000", JobTitle: "Care Worker", UserType: role, OrganisationType: org.orgType,
		LocationIDs: ids, TermsAccepted: true})
	if err != nil {
		return fmt.Errorf("register user %d: %w", i, err)
	}
	if i%pendingEvery == 0 {
		return nil
	}
	if _, err := accounts.DecideAccess(ctx, commands.System("bench"), reg.UserID, reg.RequestID, org.id, true, ""); err != nil {
		return fmt.Errorf("approve user %d: %w", i, err)
	}
	return nil
}

// letters spells i in the letters a to z: names hold no digits.
func letters(i int) string {
	out := []byte{'A'}
	for ; i > 0; i /= 26 {
		out = append(out, byte('a'+i%26))
	}
	return string(out)
}
