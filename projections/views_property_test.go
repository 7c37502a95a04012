package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
)

// propertyCommands is the length of the random command sequence of
// TestViews_EqualRebuildAfterRandomCommands: 10,000, or 500 under the race
// detector, which makes the run several times slower (the suite runs it
// with -race for the engine's concurrency, and without -race for the full
// length; see the README's test command).
var propertyCommands = flag.Int("property-commands", 0, "random commands of the views' property tests (0: 10,000, or 500 with -race; the analytics one: 3,000, or 400)")

func commandsToRun() int { return propertyLength(10_000, 500) }

// propertyLength is the length of a property test's random sequence: full,
// or underRace under the race detector; -property-commands overrides both.
func propertyLength(full, underRace int) int {
	switch {
	case *propertyCommands > 0:
		return *propertyCommands
	case raceDetector:
		return underRace
	}
	return full
}

// TestViews_EqualRebuildAfterRandomCommands runs a random sequence of
// commands across locations and accounts (CQC imports, every provider-details
// edit, stale and invalid edits, registrations, approvals, role changes,
// deactivations, erasures of contacts and users) through the real commands
// while the engine applies the log live, then rebuilds every projection
// from scratch: each read model must equal its rebuild row for row (so a
// view's in-place redaction of an erased person equals what a rebuild
// reads from the log), and a rebuild of all of them in one pass
// (RebuildAll) must equal the rebuild of each alone.
func TestViews_EqualRebuildAfterRandomCommands(t *testing.T) {
	projs := views.Default()
	eachCommandsWorld(t, projs, func(t *testing.T, backend string, pw *projtest.World, acc *commands.Service) {
		ctx := context.Background()
		store, e := pw.Store, pw.Engine

		w := newWorldGen(t, acc, store, rand.New(rand.NewPCG(uint64(len(backend)), 2026)))
		w.setup(ctx)
		n := commandsToRun()
		counts := runCommands(t, n, func(int) (string, error) { return w.step(ctx) })
		wantCoverage(t, counts, n >= 2000, "EditAddress ok", "AddContact ok", "UpdateContact ok", "RemoveContact ok", "LinkGP ok",
			"UnlinkGP ok", "AddNote ok", "EditNote ok", "DeleteNote ok", "EditPAMMS ok", "Classification ok", "ImportCQC ok",
			"Register ok", "DecideAccess ok", "EditAddress refused", "DailyUpdate ok", "DailyUpdate refused", "SurveyAnswer ok", "SurveyAnswer refused",
			"GenericSession ok", "WrongPassword refused", "BulkUpload ok", "EraseContact ok", "EraseUser ok")

		rm := pw.ReadModels
		head := lastPosition(t, rm)
		waitAll(t, e, head)
		checkNoPoison(t, e)
		checkAuditComplete(t, ctx, store, rm)
		checkEqualsRebuild(t, e, rm, projs, head, func(p projections.Projection, table string) bool {
			return p.Name() != "category_stats" && !slices.Contains(allowedEmpty, table)
		})
		// One pass over the log for all of them (rebuild --all) gives
		// each view exactly what its own rebuild gave.
		single := map[string]map[string][]string{}
		for _, p := range projs {
			single[p.Name()] = projtest.DumpTables(t, rm, p.Tables())
		}
		if err := e.RebuildAll(ctx, nil, nil); err != nil {
			t.Fatalf("rebuild all: %v", err)
		}
		waitAll(t, e, head)
		for _, p := range projs {
			all := projtest.DumpTables(t, rm, p.Tables())
			for _, table := range p.Tables() {
				projtest.DiffRows(t, p.Name()+"."+table+" (rebuild all)", single[p.Name()][table], all[table])
			}
		}
	})
}

// allowedEmpty are read-model tables the random commands do not fill.
var allowedEmpty = []string{"mail_recipients", "mail_outbox"}

// expectedRefusal: the errors a random command may meet by design (stale
// versions, invalid input, rules); anything else fails the test.
func expectedRefusal(err error) bool {
	var (
		v     *domain.ValidationError
		r     *domain.RuleError
		c     *domain.ConflictError
		stale *location.StaleVersionError
	)
	var bulk *commands.BulkRejectedError
	return errors.As(err, &v) || errors.As(err, &r) || errors.As(err, &c) || errors.As(err, &stale) || errors.As(err, &bulk) ||
		errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrForbidden) || errors.Is(err, domain.ErrUnauthenticated)
}

// --- the random world ----------------------------------------------------

type worldGen struct {
	t         *testing.T
	acc       *commands.Service
	rnd       *rand.Rand
	system    commands.Actor
	records   []location.CQCRecord // the CQC record of each location, as last imported
	practices []string
	managers  []uuid.UUID // active users with access, by location index
	pending   []commands.Registered
	users     []uuid.UUID
	store     eventstore.Store
	cache     map[string]location.Location
	surveys   []string
	generics  []genericAccount
}

// genericAccount is a shared login of an organisation, for two of its
// locations (indices of records).
type genericAccount struct {
	email, password string
	locations       []int
}

func newWorldGen(t *testing.T, acc *commands.Service, store eventstore.Store, rnd *rand.Rand) *worldGen {
	return &worldGen{t: t, acc: acc, store: store, rnd: rnd, system: commands.System("property-test"), cache: map[string]location.Location{}}
}

var (
	propRegions = []string{"North East", "North West", "Yorkshire & Humberside", "East Midlands", "West Midlands", "East",
		"London", "South East", "South West"}
	propRatings  = []location.Rating{"", location.RatingOutstanding, location.RatingGood, location.RatingRequiresImprovement, location.RatingInadequate}
	propPostcode = []string{"NN1 1NN", "LS1 4AP", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A 1BB", "W1A 0AX", "SW1A 1AA", "BS1 4DJ"}
)

func (w *worldGen) pick(n int) int { return w.rnd.IntN(n) }

func (w *worldGen) setup(ctx context.Context) {
	t := w.t
	for i := range 120 {
		provider := fmt.Sprintf("1-10%08d", i%12)
		rec := location.CQCRecord{
			LocationID: fmt.Sprintf("1-20%08d", i), ProviderID: provider, ProviderName: fmt.Sprintf("Provider %d Ltd", i%12),
			Name: fmt.Sprintf("Care Site %d", i), AddressLine1: fmt.Sprintf("%d High Street", i+1), Town: "Northampton",
			Postcode: propPostcode[i%len(propPostcode)], CQCRegion: propRegions[i%len(propRegions)], LocalAuthority: "Council " + fmt.Sprint(i%4),
			CCGName: "ICB " + fmt.Sprint(i%3), RegistrationStatus: location.StatusRegistered, ServiceTypes: []string{"Homecare agencies"},
			Ratings: location.CQCRatings{Overall: propRatings[i%len(propRatings)], ReportDate: "2025-03-01"},
		}
		w.records = append(w.records, rec)
	}
	if _, err := w.acc.ImportCQC(ctx, w.system, w.records); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		code := fmt.Sprintf("A8100%d", i)
		if _, err := w.acc.RegisterOrganisation(ctx, w.system, location.RegisterOrganisation{OrganisationID: code, Name: fmt.Sprintf("Practice %d Surgery", i), Type: "gp"}); err != nil {
			t.Fatal(err)
		}
		w.practices = append(w.practices, code)
	}
	// Two open surveys: one for home care everywhere, one for two NHS
	// regions.
	now := time.Now().UTC()
	for _, regions := range [][]string{nil, location.NHSRegions()[:2]} {
		form := survey.Form{Title: "Syringe driver supplies", OrganisationTypes: []string{"home_care"}, NHSRegions: regions,
			OpensAt: now.Add(-time.Hour).Format(time.RFC3339), ClosesAt: now.Add(30 * 24 * time.Hour).Format(time.RFC3339),
			Questions: []survey.Question{
				{ID: "drivers", Text: "How many syringe drivers do you have?", Type: survey.WholeNumber, Required: true},
				{ID: "short", Text: "Are you short of supplies?", Type: survey.YesNo},
			}}
		res, err := w.acc.DefineSurvey(ctx, w.system, form)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.acc.PublishSurvey(ctx, w.system, res.SurveyID); err != nil {
			t.Fatal(err)
		}
		w.surveys = append(w.surveys, res.SurveyID)
	}
	for i, rec := range w.records {
		reg, err := w.acc.Register(ctx, commands.Request{}, account.Register{
			Email: fmt.Sprintf("manager%d@care.example.org", i), FullName: fmt.Sprintf("Manager Number %c%c", 'A'+i%26, 'A'+i/26),
			Phone: "01632 960000", JobTitle: "Registered Manager", UserType: "approver", OrganisationType: "home_care",
			LocationIDs: []string{rec.LocationID}, TermsAccepted: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.acc.DecideAccess(ctx, w.system, reg.UserID, reg.RequestID, rec.ProviderID, true, ""); err != nil {
			t.Fatal(err)
		}
		w.managers = append(w.managers, reg.UserID)
		w.users = append(w.users, reg.UserID)
	}
	// Generic accounts of six providers, each for two of its locations,
	// with their first-issued password changed at a first login.
	for g := range 6 {
		acct := genericAccount{email: fmt.Sprintf("office%d@care.example.org", g), password: fmt.Sprintf("Kestrel-Orchard-Lantern-%d", 2026+g),
			locations: []int{g, g + 12}}
		created, err := w.acc.CreateGenericAccount(ctx, w.system, account.CreateGeneric{Email: acct.email, DisplayName: fmt.Sprintf("Office %d", g),
			OrganisationID: w.records[g].ProviderID, LocationIDs: []string{w.records[g].LocationID, w.records[g+12].LocationID}})
		if err != nil {
			t.Fatal(err)
		}
		actor, err := w.login(ctx, acct.email, created.InitialPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.acc.ChangePassword(ctx, actor, created.InitialPassword, acct.password); err != nil {
			t.Fatal(err)
		}
		w.generics = append(w.generics, acct)
	}
}

// login logs in from a random client and acknowledges a generic
// account's disclaimer.
func (w *worldGen) login(ctx context.Context, email, pw string) (commands.Actor, error) {
	req := commands.Request{ClientIP: fmt.Sprintf("198.51.100.%d", 1+w.pick(250)),
		UserAgent: []string{"Mozilla/5.0 (Windows NT 10.0)", "Mozilla/5.0 (iPad)", "Mozilla/5.0 (X11; Linux)"}[w.pick(3)]}
	res, err := w.acc.Login(ctx, req, email, pw, false)
	if err != nil {
		return commands.Actor{}, err
	}
	actor, err := w.acc.Authenticate(ctx, res.Token, req)
	if err != nil {
		return commands.Actor{}, err
	}
	if actor.DisclaimerPending {
		if _, err := w.acc.AcknowledgeDisclaimer(ctx, actor); err != nil {
			return commands.Actor{}, err
		}
		actor.DisclaimerPending = false
	}
	return actor, nil
}

// genericSession logs in to a generic account (now and then with a wrong
// password), edits its locations through that login and sometimes logs
// out.
func (w *worldGen) genericSession(ctx context.Context) (string, error) {
	g := w.generics[w.pick(len(w.generics))]
	if w.pick(4) == 0 {
		_, err := w.login(ctx, g.email, g.password+"x")
		return "WrongPassword", err
	}
	actor, err := w.login(ctx, g.email, g.password)
	if err != nil {
		return "GenericSession", err
	}
	for range 1 + w.pick(3) {
		id := w.records[g.locations[w.pick(len(g.locations))]].LocationID
		_, v := w.version(ctx, id)
		if _, err := w.acc.AddNote(ctx, actor, location.AddNote{LocationID: id, ExpectedVersion: v,
			Text: w.text("Office", "Rota", "Keys", "Parking") + " note"}); err != nil {
			return "GenericSession", err
		}
	}
	if w.pick(2) == 0 {
		_, err = w.acc.Logout(ctx, actor)
	}
	return "GenericSession", err
}

// bulkUpload uploads a location's daily update and Manager contact as a
// bulk upload.
func (w *worldGen) bulkUpload(ctx context.Context, i int, id string) (string, error) {
	users, staff := w.pick(30), 5+w.pick(20)
	up := commands.BulkUpload{FileName: "capacity-tracker-bulk.xlsx", SHA256: fmt.Sprintf("%064x", w.rnd.Uint64()), Size: 9000,
		DailyUpdates: []commands.BulkDailyUpdate{{BulkRow: commands.BulkRow{Sheet: "Home Care", Row: 2, LocationID: id},
			Form: dailyupdate.Answers{ServiceUsers: users, CareStaff: staff, PPE: dailyupdate.PPEChoices()[0].Code}.Form()}},
		Managers: []commands.BulkManager{{BulkRow: commands.BulkRow{Sheet: "Contacts", Row: 2, LocationID: id},
			Name: w.text("Ann", "Bob", "Cat") + " Manager", Phones: "01632 960" + fmt.Sprintf("%03d", w.pick(1000)),
			Email: fmt.Sprintf("manager.%d@care.example.org", w.pick(50)), Public: []string{"yes", "no", ""}[w.pick(3)]}},
	}
	_, err := w.acc.ApplyBulkUpload(ctx, w.actor(ctx, i), up)
	return "BulkUpload", err
}

// actor is a location's manager (reloaded: it may have been deactivated)
// or support.
func (w *worldGen) actor(ctx context.Context, i int) commands.Actor {
	if w.pick(4) == 0 {
		return w.system
	}
	u, err := w.acc.LoadUser(ctx, w.managers[i])
	if err != nil {
		w.t.Fatal(err)
	}
	return commands.Actor{User: u, SessionID: uuid.NewString(), Request: commands.Request{ClientIP: "192.0.2.1", UserAgent: "property-test"}}
}

// version is the location's current state (folded incrementally from its
// stream, as a client caches what it read) and the version to edit at: the
// current one, or a stale one now and then.
func (w *worldGen) version(ctx context.Context, id string) (location.Profile, int64) {
	l := w.cache[id]
	evs, err := w.store.ReadStream(ctx, location.LocationStream(id), eventstore.ReadStreamOptions{FromVersion: l.Version + 1})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, ev := range evs {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			w.t.Fatal(err)
		}
		l = location.EvolveLocation(l, d)
	}
	w.cache[id] = l
	p := l.Profile()
	if w.pick(12) == 0 && p.Version > 1 {
		return p, p.Version - 1
	}
	return p, p.Version
}

func (w *worldGen) text(words ...string) string {
	return words[w.pick(len(words))] + " " + words[w.pick(len(words))]
}

func (w *worldGen) step(ctx context.Context) (string, error) {
	i := w.pick(len(w.records))
	id := w.records[i].LocationID
	if w.pick(10) == 0 {
		return w.dailyUpdate(ctx, i, id)
	}
	if w.pick(25) == 0 {
		return w.surveyStep(ctx, i, id)
	}
	if w.pick(40) == 0 {
		return w.genericSession(ctx)
	}
	if w.pick(60) == 0 {
		return w.bulkUpload(ctx, i, id)
	}
	if w.pick(80) == 0 {
		return w.erase(ctx, id)
	}
	switch k := w.pick(100); {
	case k < 6:
		rec := w.records[i]
		switch w.pick(4) {
		case 0:
			rec.Ratings.Overall = propRatings[w.pick(len(propRatings))]
			rec.Ratings.Safe = propRatings[w.pick(len(propRatings))]
		case 1:
			rec.Name = w.text("Oak", "Elm", "Ash", "Birch") + " Care"
		case 2:
			if rec.RegistrationStatus == location.StatusRegistered {
				rec.RegistrationStatus, rec.DeregistrationDate = location.StatusDeregistered, "2026-01-01"
			} else {
				rec.RegistrationStatus, rec.DeregistrationDate = location.StatusRegistered, ""
			}
		case 3:
			rec.Postcode = propPostcode[w.pick(len(propPostcode))]
			rec.LocalAuthority = "Council " + fmt.Sprint(w.pick(6))
		}
		w.records[i] = rec
		_, err := w.acc.ImportCQC(ctx, w.system, []location.CQCRecord{rec})
		return "ImportCQC", err
	case k < 18:
		_, v := w.version(ctx, id)
		addr := location.Address{Name: w.text("Sunny", "Green", "Kind", "Home") + " Care", ShortName: w.text("SC", "GC", "KC"),
			Line1: fmt.Sprintf("%d %s", 1+w.pick(99), w.text("High", "Mill", "Station")+" Road"), Line3: "Northampton",
			Postcode: propPostcode[w.pick(len(propPostcode))]}
		switch w.pick(10) {
		case 0:
			addr.Postcode = "NOT A POSTCODE"
		case 1:
			p, _ := w.version(ctx, id)
			addr = p.Address // a no-change save
		}
		_, err := w.acc.EditAddress(ctx, w.actor(ctx, i), location.EditAddress{LocationID: id, ExpectedVersion: v, Address: addr})
		return "EditAddress", err
	case k < 30:
		_, v := w.version(ctx, id)
		roles := append(location.ContactRoles(), "Plumber")
		c := location.ContactInput{Role: roles[w.pick(len(roles))], Name: w.text("Ann", "Bob", "Cat", "Dan"),
			Phones: "01632 960" + fmt.Sprintf("%03d", w.pick(1000)), Public: w.pick(2) == 0}
		if w.pick(3) > 0 {
			c.Email = fmt.Sprintf("contact%d@care.example.org", w.pick(1000))
		}
		if w.pick(15) == 0 {
			c.Email = "not-an-email"
		}
		_, err := w.acc.AddContact(ctx, w.actor(ctx, i), location.AddContact{LocationID: id, ExpectedVersion: v, Contact: c})
		return "AddContact", err
	case k < 40, k < 45:
		p, v := w.version(ctx, id)
		if len(p.Contacts) == 0 {
			return "UpdateContact", domain.ErrNotFound
		}
		c := p.Contacts[w.pick(len(p.Contacts))]
		if k >= 40 {
			_, err := w.acc.RemoveContact(ctx, w.actor(ctx, i), location.RemoveContact{LocationID: id, ExpectedVersion: v, ContactID: c.ContactID})
			return "RemoveContact", err
		}
		in := location.ContactInput{Role: c.Role, Name: c.Name, OrganisationName: c.OrganisationName, Phones: c.PhoneList(),
			Email: c.Email, Address: c.Address, Public: c.Public}
		switch w.pick(4) {
		case 0:
			in.Public = !in.Public
		case 1:
			in.Name = w.text("Eve", "Fay", "Gus")
		case 2:
			in.Role = location.RoleManager
		}
		_, err := w.acc.UpdateContact(ctx, w.actor(ctx, i), location.UpdateContact{LocationID: id, ExpectedVersion: v, ContactID: c.ContactID, Contact: in})
		return "UpdateContact", err
	case k < 50:
		_, v := w.version(ctx, id)
		_, err := w.acc.LinkGPPractice(ctx, w.actor(ctx, i), location.LinkGPPractice{LocationID: id, ExpectedVersion: v,
			PracticeCode: w.practices[w.pick(len(w.practices))]})
		return "LinkGP", err
	case k < 53:
		p, v := w.version(ctx, id)
		if len(p.GPPractices) == 0 {
			return "UnlinkGP", domain.ErrNotFound
		}
		_, err := w.acc.UnlinkGPPractice(ctx, w.actor(ctx, i), location.UnlinkGPPractice{LocationID: id, ExpectedVersion: v,
			PracticeCode: p.GPPractices[w.pick(len(p.GPPractices))].PracticeCode})
		return "UnlinkGP", err
	case k < 57:
		_, v := w.version(ctx, id)
		types := append(location.OwnershipTypes(), "")
		_, err := w.acc.EditClassification(ctx, w.actor(ctx, i), location.EditClassification{LocationID: id, ExpectedVersion: v,
			OwnershipType: types[w.pick(len(types))]})
		return "Classification", err
	case k < 66:
		_, v := w.version(ctx, id)
		_, err := w.acc.AddNote(ctx, w.actor(ctx, i), location.AddNote{LocationID: id, ExpectedVersion: v,
			Text: w.text("Personal care", "24 hour service", "Night visits", "Dementia care")})
		return "AddNote", err
	case k < 72:
		p, v := w.version(ctx, id)
		if len(p.Notes) == 0 {
			return "EditNote", domain.ErrNotFound
		}
		n := p.Notes[w.pick(len(p.Notes))]
		if w.pick(3) == 0 {
			_, err := w.acc.DeleteNote(ctx, w.actor(ctx, i), location.DeleteNote{LocationID: id, ExpectedVersion: v, NoteID: n.NoteID})
			return "DeleteNote", err
		}
		_, err := w.acc.EditNote(ctx, w.actor(ctx, i), location.EditNote{LocationID: id, ExpectedVersion: v, NoteID: n.NoteID,
			Text: w.text("Weekend visits", "Live-in care", "Reablement")})
		return "EditNote", err
	case k < 76:
		_, v := w.version(ctx, id)
		ratings := append(location.PAMMSRatings(), "")
		_, err := w.acc.EditPAMMS(ctx, w.actor(ctx, i), location.EditPAMMS{LocationID: id, ExpectedVersion: v, PAMMS: location.PAMMS{
			Rating: ratings[w.pick(len(ratings))], ReportDate: "2025-0" + fmt.Sprint(1+w.pick(9)) + "-15",
			ReportURL: "https://pamms.example.gov.uk/report/" + fmt.Sprint(w.pick(50))}})
		return "EditPAMMS", err
	case k < 84:
		locs := []string{id}
		if j := w.pick(len(w.records)); j != i && w.pick(3) == 0 {
			locs = append(locs, w.records[j].LocationID)
		}
		n := len(w.users)
		reg, err := w.acc.Register(ctx, commands.Request{ClientIP: "192.0.2.9", UserAgent: "property-test"}, account.Register{
			Email: fmt.Sprintf("user%d@care.example.org", n), FullName: "Registered User " + string(rune('A'+n%26)),
			Phone: "01632 961234", JobTitle: "Care Coordinator", UserType: []string{"standard", "approver"}[w.pick(2)],
			OrganisationType: "home_care", LocationIDs: locs, TermsAccepted: true,
		})
		if err == nil {
			w.pending = append(w.pending, reg)
			w.users = append(w.users, reg.UserID)
		}
		return "Register", err
	case k < 92:
		if len(w.pending) == 0 {
			return "DecideAccess", domain.ErrNotFound
		}
		j := w.pick(len(w.pending))
		reg := w.pending[j]
		w.pending = slices.Delete(w.pending, j, j+1)
		u, err := w.acc.LoadUser(ctx, reg.UserID)
		if err != nil {
			w.t.Fatal(err)
		}
		req, ok := u.Requests[reg.RequestID]
		if !ok {
			return "DecideAccess", domain.ErrNotFound
		}
		var err2 error
		for org := range req.Parts {
			_, err2 = w.acc.DecideAccess(ctx, w.system, reg.UserID, reg.RequestID, org, w.pick(4) > 0, "not known to us")
		}
		return "DecideAccess", err2
	case k < 96:
		u := w.users[w.pick(len(w.users))]
		_, err := w.acc.ChangeRole(ctx, w.system, u, []string{"standard", "approver"}[w.pick(2)])
		return "ChangeRole", err
	default:
		u := w.users[w.pick(len(w.users))]
		if w.pick(2) == 0 {
			_, err := w.acc.Deactivate(ctx, w.system, u, "left the organisation")
			return "Deactivate", err
		}
		_, err := w.acc.Reactivate(ctx, w.system, u)
		return "Reactivate", err
	}
}

// erase erases a contact of the location, or a user (deactivated first:
// an active user cannot be erased), as support does: the views redact them
// in place, and must still equal their rebuilds.
func (w *worldGen) erase(ctx context.Context, id string) (string, error) {
	if w.pick(2) == 0 {
		p, _ := w.version(ctx, id)
		if len(p.Contacts) == 0 {
			return "EraseContact", domain.ErrNotFound
		}
		c := p.Contacts[w.pick(len(p.Contacts))]
		_, err := w.acc.ErasePerson(ctx, w.system, erasure.Request{Kind: erasure.KindContact, LocationID: id, ContactID: c.ContactID,
			RequestedBy: "the contact", Reason: "right to erasure"})
		return "EraseContact", err
	}
	u := w.users[w.pick(len(w.users))]
	if _, err := w.acc.Deactivate(ctx, w.system, u, "erasure requested"); err != nil && !expectedRefusal(err) {
		return "EraseUser", err
	}
	_, err := w.acc.ErasePerson(ctx, w.system, erasure.Request{Kind: erasure.KindUser, UserID: u.String(),
		RequestedBy: "the user", Reason: "right to erasure"})
	return "EraseUser", err
}

// dailyUpdate submits a location's daily update: valid answers, a "no
// change" copy, or now and then answers that break a rule.
func (w *worldGen) dailyUpdate(ctx context.Context, i int, id string) (string, error) {
	c := dailyupdate.Submit{LocationID: id}
	switch w.pick(6) {
	case 0:
		c.NoChange = true
	default:
		users := w.pick(40)
		staff := w.pick(30)
		extra := w.pick(2) == 0
		hours := 0
		if extra {
			hours = 1 + w.pick(60)
		}
		c.Form = dailyupdate.Answers{ServiceUsers: users, Confirmed: w.pick(users/4 + 1), Suspected: w.pick(users/4 + 1),
			CareStaff: staff, StaffNotWorking: w.pick(staff + 1), PPE: dailyupdate.PPEChoices()[w.pick(3)].Code,
			CanProvideExtra: extra, ExtraHoursPerWeek: hours}.Form()
		if w.pick(10) == 0 {
			c.Form.StaffNotWorking = fmt.Sprint(staff + 1) // more absent than employed
		}
	}
	_, err := w.acc.SubmitDailyUpdate(ctx, w.actor(ctx, i), c)
	return "DailyUpdate", err
}

// surveyStep answers one of the surveys for a location (now and then with
// an invalid answer, or for a location the survey does not target), and
// rarely amends a survey's title.
func (w *worldGen) surveyStep(ctx context.Context, i int, id string) (string, error) {
	sid := w.surveys[w.pick(len(w.surveys))]
	if w.pick(20) == 0 {
		evs, err := w.store.ReadStream(ctx, survey.Stream(sid), eventstore.ReadStreamOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		var s survey.Survey
		for _, ev := range evs {
			d, err := survey.Decode(ev.Type, ev.Data)
			if err != nil {
				w.t.Fatal(err)
			}
			s = survey.Evolve(s, d)
		}
		form := s.Form()
		form.Title = w.text("Syringe driver", "Proxy ordering", "Oxygen") + " supplies"
		_, err = w.acc.AmendSurvey(ctx, w.system, survey.Amend{SurveyID: sid, ExpectedVersion: s.Version, Form: form})
		return "AmendSurvey", err
	}
	drivers := fmt.Sprint(w.pick(20))
	if w.pick(10) == 0 {
		drivers = "-1"
	}
	answers := map[string]json.RawMessage{"drivers": json.RawMessage(drivers), "short": json.RawMessage([]string{"true", "false"}[w.pick(2)])}
	_, err := w.acc.SubmitSurveyResponse(ctx, w.actor(ctx, i), sid, id, answers)
	return "SurveyAnswer", err
}
