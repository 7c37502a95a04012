package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/analytics"
	"github.com/capacitytracker/capacity/projections/analytics/analyticstest"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// analyticsCommands is the length of the random command sequence of
// TestViews_AnalyticsEqualsRebuildAfterRandomSubmissions: 3,000, or 400 under
// the race detector (-property-commands overrides both).
func analyticsCommands() int { return propertyLength(3_000, 400) }

// TestViews_AnalyticsEqualsRebuildAfterRandomSubmissions runs a random
// sequence of commands through the real commands, with the engine applying
// the log live: daily updates (new answers, "no change" copies, invalid
// forms, several a day so that later ones supersede earlier ones), CQC
// imports that move locations between NHS regions, local authorities and
// CCGs, rename them and their providers, deregister and register them
// again, and new locations registered by support (with no NHS region).
// The fake clock moves forward by minutes, and jumps to a day and a half
// before each of the next two clock changes (March and October), so that
// updates fall on both sides of them. Then the analytics view is rebuilt
// from scratch: it must equal the live one row for row, each of its daily
// rows must be the last submission of its location and day in the log,
// and each total the sum of the rows it counts.
func TestViews_AnalyticsEqualsRebuildAfterRandomSubmissions(t *testing.T) {
	t.Parallel()
	p := analytics.Projection{}
	eachClockedCommandsWorld(t, []projections.Projection{p}, func(t *testing.T, backend string, pw *projtest.World, acc *commands.Service) {
		ctx := context.Background()
		store, pb, e, clock := pw.Store, pw.Backend, pw.Engine, pw.Clock

		w := &analyticsWorld{t: t, acc: acc, clock: clock, rnd: rand.New(rand.NewPCG(uint64(len(backend)), 2027)),
			sys: commands.System("property-test")}
		w.setup(ctx)
		n := analyticsCommands()
		jumps := map[int]time.Time{
			n / 3:     analyticstest.NextClockChange(clock.Now(), time.March).Add(-36 * time.Hour),
			2 * n / 3: analyticstest.NextClockChange(clock.Now(), time.October).Add(-36 * time.Hour),
		}
		days := map[string]bool{}
		counts := runCommands(t, n, func(i int) (string, error) {
			if to, ok := jumps[i]; ok && to.After(clock.Now()) {
				clock.Advance(to.Sub(clock.Now()))
			}
			clock.Advance(time.Duration(w.rnd.IntN(90)) * time.Minute)
			name, err := w.step(ctx)
			if err == nil && name == "Submit" {
				days[dailyupdate.Day(clock.Now())] = true
			}
			return name, err
		})
		wantCoverage(t, counts, n >= 800, "Submit ok", "Submit refused", "Supersede ok", "NoChange ok", "Move ok",
			"Deregister ok", "Reregister ok", "Rename ok", "RegisterLocation ok")
		if n >= 800 {
			for _, change := range []time.Time{analyticstest.NextClockChange(time.Now(), time.March), analyticstest.NextClockChange(time.Now(), time.October)} {
				before, after := change.AddDate(0, 0, -1).Format(time.DateOnly), change.AddDate(0, 0, 1).Format(time.DateOnly)
				if !days[before] || !days[change.Format(time.DateOnly)] || !days[after] {
					t.Errorf("no updates on %s, %s and %s: the clock change is not covered", before, change.Format(time.DateOnly), after)
				}
			}
		}

		rm := pw.ReadModels
		head := lastPosition(t, rm)
		waitAll(t, e, head)
		checkNoPoison(t, e)
		analyticstest.CheckTotalsAreSums(t, rm)
		projtest.DiffRows(t, "analytics_daily_location against the log", w.effectiveRows(ctx, store),
			projtest.ScanStrings(t, projections.NewReadModels(pb), `SELECT location_id || '|' || day || '|' || service_users || '|' || ppe || '|' ||
    submissions || '|' || position FROM analytics_daily_location ORDER BY location_id, day`))

		checkEqualsRebuild(t, e, rm, []projections.Projection{p}, head,
			func(projections.Projection, string) bool { return true })
	})
}

// analyticsWorld is the random world of the analytics property test.
type analyticsWorld struct {
	t       *testing.T
	acc     *commands.Service
	clock   *projtest.Clock
	rnd     *rand.Rand
	sys     commands.Actor
	records []location.CQCRecord // CQC's locations, as last imported
	ids     []string             // every location
}

var (
	analyticsRegions = []string{"North East", "North West", "Yorkshire & Humberside", "East Midlands", "London", "South West"}
	analyticsLAs     = []string{"Sunderland", "Leeds", "Croydon", "Devon", "Sutton"}
	analyticsCCGs    = []string{"NHS Sunderland CCG", "NHS Leeds CCG", "NHS South West London CCG"}
)

func (w *analyticsWorld) pick(n int) int { return w.rnd.IntN(n) }

func (w *analyticsWorld) setup(ctx context.Context) {
	for i := range 40 {
		rec := location.CQCRecord{
			LocationID: fmt.Sprintf("1-30%08d", i), ProviderID: fmt.Sprintf("1-40%08d", i%5),
			ProviderName: fmt.Sprintf("Provider %d Ltd", i%5), Name: fmt.Sprintf("Care Site %d", i),
			AddressLine1: fmt.Sprintf("%d High Street", i+1), Town: "Town", Postcode: "NN1 1NN",
			CQCRegion: analyticsRegions[i%len(analyticsRegions)], LocalAuthority: analyticsLAs[i%len(analyticsLAs)],
			CCGName: analyticsCCGs[i%len(analyticsCCGs)], RegistrationStatus: location.StatusRegistered,
			ServiceTypes: []string{"Homecare agencies"},
		}
		w.records = append(w.records, rec)
		w.ids = append(w.ids, rec.LocationID)
	}
	if _, err := w.acc.ImportCQC(ctx, w.sys, w.records); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.acc.RegisterOrganisation(ctx, w.sys, location.RegisterOrganisation{OrganisationID: "support-org",
		Name: "Support Registered Ltd", Type: string(location.HomeCare)}); err != nil {
		w.t.Fatal(err)
	}
}

// form is a random valid form, or now and then an invalid one.
func (w *analyticsWorld) form() dailyupdate.Form {
	users := w.pick(60)
	ppe := dailyupdate.PPEChoices()[w.pick(3)].Code
	f := analyticstest.Answers(users, ppe).Form()
	if w.pick(20) == 0 {
		f.Confirmed = fmt.Sprint(users + 1) // more cases than users
	}
	return f
}

func (w *analyticsWorld) step(ctx context.Context) (string, error) {
	id := w.ids[w.pick(len(w.ids))]
	switch k := w.pick(100); {
	case k < 70:
		s := dailyupdate.Submit{LocationID: id, Form: w.form()}
		if w.pick(8) == 0 {
			s.Form, s.NoChange = dailyupdate.Form{}, true
		}
		res, err := w.acc.SubmitDailyUpdate(ctx, w.sys, s)
		switch {
		case err != nil:
			return "Submit", err
		case res.Superseded:
			return "Supersede", nil
		case res.NoChange:
			return "NoChange", nil
		}
		return "Submit", nil
	case k < 97:
		i := w.pick(len(w.records))
		rec := w.records[i]
		name := "Move"
		switch w.pick(7) {
		case 0:
			rec.LocalAuthority = analyticsLAs[w.pick(len(analyticsLAs))]
		case 1:
			rec.CCGName = analyticsCCGs[w.pick(len(analyticsCCGs))]
		case 2:
			rec.CQCRegion = analyticsRegions[w.pick(len(analyticsRegions))]
		case 3:
			name = "Rename"
			rec.Name = fmt.Sprintf("Renamed Site %d", w.pick(100))
			rec.ProviderName = fmt.Sprintf("Renamed Provider %d", w.pick(10))
		default:
			// Deregistrations are rarer than registrations again, so
			// that most locations can submit; else the same record again,
			// which changes nothing.
			name = "Reimport"
			switch {
			case rec.RegistrationStatus == location.StatusDeregistered:
				name, rec.RegistrationStatus, rec.DeregistrationDate = "Reregister", location.StatusRegistered, ""
			case w.pick(3) == 0:
				name, rec.RegistrationStatus, rec.DeregistrationDate = "Deregister", location.StatusDeregistered, "2026-01-01"
			}
		}
		w.records[i] = rec
		_, err := w.acc.ImportCQC(ctx, w.sys, []location.CQCRecord{rec})
		return name, err
	default:
		id := fmt.Sprintf("support-%d", len(w.ids))
		_, err := w.acc.RegisterLocation(ctx, w.sys, location.RegisterLocation{LocationID: id, OrganisationID: "support-org",
			Name: "Support Site " + id, AddressLine1: "2 Low Road", Town: "Town", Postcode: "LS1 4AP",
			LocalAuthority: analyticsLAs[w.pick(len(analyticsLAs))], CCG: analyticsCCGs[w.pick(len(analyticsCCGs))]})
		if err == nil {
			w.ids = append(w.ids, id)
		}
		return "RegisterLocation", err
	}
}

// effectiveRows are the daily rows the log says: for each location and
// day, its last submission and how many the day had.
func (w *analyticsWorld) effectiveRows(ctx context.Context, store eventstore.Store) []string {
	var out []string
	for _, id := range w.ids {
		evs, err := store.ReadStream(ctx, dailyupdate.Stream(id), eventstore.ReadStreamOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		type effective struct {
			ev          dailyupdate.DailyUpdateSubmitted
			position    int64
			submissions int
		}
		byDay := map[string]*effective{}
		for _, ev := range evs {
			d, err := dailyupdate.Decode(ev.Type, ev.Data)
			if err != nil {
				w.t.Fatal(err)
			}
			e := d.(dailyupdate.DailyUpdateSubmitted)
			cur := byDay[e.Day]
			if cur == nil {
				cur = &effective{}
				byDay[e.Day] = cur
			}
			cur.ev, cur.position = e, ev.Position
			cur.submissions++
		}
		for day, e := range byDay {
			out = append(out, fmt.Sprintf("%s|%s|%d|%s|%d|%d", id, day, e.ev.Answers.ServiceUsers, e.ev.Answers.PPE,
				e.submissions, e.position))
		}
	}
	slices.Sort(out)
	return out
}
