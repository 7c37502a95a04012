package projections_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// The openings and closings the tests of the views through the real
// commands share: the property tests (views, directory, analytics), the
// erasure test and its benchmark.

// newCommands is the real commands over store, with cheap password
// hashing (its cost is not what is tested); now is their clock (nil: the
// real one).
func newCommands(tb testing.TB, store commands.Store, now func() time.Time) *commands.Service {
	tb.Helper()
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	acc, err := commands.New(context.Background(), store, cfg, now, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return acc
}

// commandsWorld is a world of projs with the real commands over its
// store, on the real clock.
func commandsWorld(t *testing.T, backend string, projs ...projections.Projection) (*projtest.World, *commands.Service) {
	t.Helper()
	w := projtest.NewWorld(t, backend, projs...)
	return w, newCommands(t, w.Store, nil)
}

// clockedCommandsWorld is commandsWorld with the commands on the world's
// Clock, which the test moves.
func clockedCommandsWorld(t *testing.T, backend string, projs ...projections.Projection) (*projtest.World, *commands.Service) {
	t.Helper()
	w := projtest.NewWorld(t, backend, projs...)
	return w, newCommands(t, w.Store, w.Clock.Now)
}

// runCommands runs step n times (i counting from 0), each a random command
// that returns its name and error, and counts the outcomes ("Name ok",
// "Name refused"). An error other than an expected refusal fails the test.
func runCommands(t *testing.T, n int, step func(i int) (string, error)) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		name, err := step(i)
		outcome := "ok"
		if err != nil {
			outcome = "refused"
			if !expectedRefusal(err) {
				t.Fatalf("%s: unexpected error: %v", name, err)
			}
		}
		counts[name+" "+outcome]++
	}
	t.Logf("commands: %v", counts)
	return counts
}

// wantCoverage fails the test for each outcome the sequence never had, when
// it was long enough to have them all.
func wantCoverage(t *testing.T, counts map[string]int, longEnough bool, outcomes ...string) {
	t.Helper()
	if !longEnough {
		return
	}
	for _, want := range outcomes {
		if counts[want] == 0 {
			t.Errorf("the sequence never ran %q: the generator lost coverage", want)
		}
	}
}

// lastPosition is the last position appended (HeadPosition on PostgreSQL
// is the gap-safe head, which trails while any transaction of the cluster
// is open).
func lastPosition(tb testing.TB, rm projections.ReadModels) int64 {
	tb.Helper()
	var head int64
	if err := rm.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), `SELECT COALESCE(MAX(position), 0) FROM events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return errors.New("no row")
		}
		return rows.Scan(&head)
	}); err != nil {
		tb.Fatal(err)
	}
	return head
}

// waitAll waits until every projection has applied the log up to pos (a
// liveness bound, not a speed check).
func waitAll(tb testing.TB, e *projections.Engine, pos int64) {
	tb.Helper()
	projtest.WaitFor(tb, e, pos, 10*time.Minute)
}

// checkNoPoison fails the test for every event a projection could not
// apply live.
func checkNoPoison(t *testing.T, e *projections.Engine) {
	t.Helper()
	sts, err := e.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.PoisonCount > 0 {
			t.Errorf("%s: %d events could not be applied live; the last: %s", st.Name, st.PoisonCount, st.LastPoison)
		}
	}
}

// checkEqualsRebuild rebuilds each projection on its own from the log (up
// to head) and checks each of its tables equals what it held live. A
// table for which mustHold is true must not be empty: the test would
// prove nothing about it.
func checkEqualsRebuild(t *testing.T, e *projections.Engine, rm projections.ReadModels, projs []projections.Projection,
	head int64, mustHold func(p projections.Projection, table string) bool) {
	t.Helper()
	for _, p := range projs {
		live := projtest.DumpTables(t, rm, p.Tables())
		if err := e.Rebuild(context.Background(), p.Name(), nil); err != nil {
			t.Fatalf("rebuild %s: %v", p.Name(), err)
		}
		waitAll(t, e, head)
		rebuilt := projtest.DumpTables(t, rm, p.Tables())
		for _, table := range p.Tables() {
			if len(live[table]) == 0 && mustHold != nil && mustHold(p, table) {
				t.Errorf("%s: table %s is empty: the test proves nothing about it", p.Name(), table)
			}
			projtest.DiffRows(t, p.Name()+"."+table, live[table], rebuilt[table])
		}
	}
}

// erasureRequest is the request of the erasure tests' person, on the
// commands' Request of their registration and sessions.
var erasureRequest = commands.Request{ClientIP: "192.0.2.7", UserAgent: "erasure-test"}

// erasurePerson is what the erasure tests erase (erasureNeedles): a home
// care location imported from CQC, a user who registered for it, was
// approved and wrote a note, and a contact of the location.
type erasurePerson struct {
	rec       location.CQCRecord
	reg       commands.Registered
	author    commands.Actor // the user, signed in
	contactID string
}

// newErasurePerson makes the erasure tests' person through the commands,
// as system.
func newErasurePerson(tb testing.TB, acc *commands.Service, system commands.Actor) erasurePerson {
	tb.Helper()
	ctx := context.Background()
	p := erasurePerson{rec: location.CQCRecord{LocationID: "1-200000001", ProviderID: "1-100000001", ProviderName: "Quill Care Ltd",
		Name: "Quill Care Northampton", AddressLine1: "1 High Street", Town: "Northampton", Postcode: "NN1 1NN",
		CQCRegion: "East", LocalAuthority: "West Northamptonshire", CCGName: "ICB 1",
		RegistrationStatus: location.StatusRegistered, ServiceTypes: []string{"Homecare agencies"}}}
	if _, err := acc.ImportCQC(ctx, system, []location.CQCRecord{p.rec}); err != nil {
		tb.Fatal(err)
	}
	var err error
	p.reg, err = acc.Register(ctx, erasureRequest, account.Register{
		Email: "zebedee.quillfeather@quill.example.org", FullName: "Zebedee Quillfeather", Phone: "01632 960417",
		JobTitle: "Chief Quillwright", UserType: "approver", OrganisationType: "home_care",
		LocationIDs: []string{p.rec.LocationID}, TermsAccepted: true})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := acc.DecideAccess(ctx, system, p.reg.UserID, p.reg.RequestID, p.rec.ProviderID, true, ""); err != nil {
		tb.Fatal(err)
	}
	u, err := acc.LoadUser(ctx, p.reg.UserID)
	if err != nil {
		tb.Fatal(err)
	}
	p.author = commands.Actor{User: u, SessionID: "s-1", Request: erasureRequest}
	if _, err := acc.AddNote(ctx, p.author, location.AddNote{LocationID: p.rec.LocationID, ExpectedVersion: 1,
		Text: "Night visits"}); err != nil {
		tb.Fatal(err)
	}
	added, err := acc.AddContact(ctx, system, location.AddContact{LocationID: p.rec.LocationID, ExpectedVersion: 2,
		Contact: location.ContactInput{Role: location.RoleManager, Name: "Ottoline Vexworth", Phones: "01632 960733",
			Email: "ottoline.vexworth@quill.example.org", Address: "7 Vexworth Lane, Northampton", Public: true}})
	if err != nil {
		tb.Fatal(err)
	}
	p.contactID = added.ID
	return p
}

// worldTest is a test of the views through the real commands.
type worldTest = func(t *testing.T, backend string, pw *projtest.World, acc *commands.Service)

// eachCommandsWorld runs test on a commandsWorld of projs of each
// backend, in parallel.
func eachCommandsWorld(t *testing.T, projs []projections.Projection, test worldTest) {
	t.Helper()
	eachWorld(t, commandsWorld, projs, test)
}

// eachClockedCommandsWorld is eachCommandsWorld with the commands on the
// world's Clock (clockedCommandsWorld).
func eachClockedCommandsWorld(t *testing.T, projs []projections.Projection, test worldTest) {
	t.Helper()
	eachWorld(t, clockedCommandsWorld, projs, test)
}

func eachWorld(t *testing.T, open func(*testing.T, string, ...projections.Projection) (*projtest.World, *commands.Service),
	projs []projections.Projection, test worldTest) {
	t.Helper()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			pw, acc := open(t, backend, projs...)
			test(t, backend, pw, acc)
		})
	}
}
