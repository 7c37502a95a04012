package projections_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// erasureNeedles are the personal data of the person erased in the tests
// below, each unlike anything else in their worlds.
var erasureNeedles = []string{"Zebedee Quillfeather", "zebedee.quillfeather@", "Chief Quillwright", "01632 960417",
	"Ottoline Vexworth", "ottoline.vexworth@", "7 Vexworth Lane", "01632 960733"}

// columnsHolding lists, per table of the projections, the columns of which
// some row's text holds needle (case-insensitive).
func columnsHolding(t testing.TB, rm projections.ReadModels, projs []projections.Projection, needle string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	found := map[string][]string{}
	err := rm.Query(ctx, func(q projections.Querier) error {
		for _, p := range projs {
			for _, table := range p.Tables() {
				cols, err := columns(q, table)
				if err != nil {
					return err
				}
				for _, c := range cols {
					rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE lower(CAST(%s AS TEXT)) LIKE ?`, table, c),
						"%"+strings.ToLower(needle)+"%")
					if err != nil {
						return fmt.Errorf("search %s.%s: %w", table, c, err)
					}
					var n int
					rows.Next()
					err = rows.Scan(&n)
					rows.Close()
					if err != nil {
						return err
					}
					if n > 0 {
						found[table] = append(found[table], c)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// commandsWorld is a world of projs with the real commands over its
// store (with cheap password hashing: its cost is not what is tested).
func commandsWorld(t *testing.T, backend string, projs ...projections.Projection) (*projtest.World, *commands.Service) {
	t.Helper()
	w := projtest.NewWorld(t, backend, projs...)
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	acc, err := commands.New(context.Background(), w.Store, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, acc
}

// TestProjections_EveryPersonalColumnIsDeclared: a user (registered,
// approved, the author of a note) and a contact, all through the real
// commands, reach every view; every column in which their name, email,
// phone, job title or address lands is declared by its projection as
// personal (projections.Eraser), so that a new view cannot copy personal
// data without saying how it erases it. Then both are erased: once the
// views have applied the erasures (waiting for its position, no rebuild),
// no table of any projection holds any of it, and every view equals its
// rebuild.
func TestProjections_EveryPersonalColumnIsDeclared(t *testing.T) {
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			projs := projections.Default()
			pw, acc := commandsWorld(t, backend, projs...)
			store, pb, e := pw.Store, pw.Backend, pw.Engine
			system := commands.System("erasure-test")
			rec := location.CQCRecord{LocationID: "1-200000001", ProviderID: "1-100000001", ProviderName: "Quill Care Ltd",
				Name: "Quill Care Northampton", AddressLine1: "1 High Street", Town: "Northampton", Postcode: "NN1 1NN",
				CQCRegion: "East", LocalAuthority: "West Northamptonshire", CCGName: "ICB 1",
				RegistrationStatus: location.StatusRegistered, ServiceTypes: []string{"Homecare agencies"}}
			if _, err := acc.ImportCQC(ctx, system, []location.CQCRecord{rec}); err != nil {
				t.Fatal(err)
			}
			reg, err := acc.Register(ctx, commands.Request{ClientIP: "192.0.2.7", UserAgent: "erasure-test"}, account.Register{
				Email: "zebedee.quillfeather@quill.example.org", FullName: "Zebedee Quillfeather", Phone: "01632 960417",
				JobTitle: "Chief Quillwright", UserType: "approver", OrganisationType: "home_care",
				LocationIDs: []string{rec.LocationID}, TermsAccepted: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := acc.DecideAccess(ctx, system, reg.UserID, reg.RequestID, rec.ProviderID, true, ""); err != nil {
				t.Fatal(err)
			}
			u, err := acc.LoadUser(ctx, reg.UserID)
			if err != nil {
				t.Fatal(err)
			}
			author := commands.Actor{User: u, SessionID: "s-1", Request: commands.Request{ClientIP: "192.0.2.7", UserAgent: "erasure-test"}}
			version := func() int64 {
				evs, err := store.ReadStream(ctx, location.LocationStream(rec.LocationID), eventstore.ReadStreamOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return int64(len(evs))
			}
			if _, err := acc.AddNote(ctx, author, location.AddNote{LocationID: rec.LocationID, ExpectedVersion: version(), Text: "Night visits"}); err != nil {
				t.Fatal(err)
			}
			// A note of theirs recorded by the system, as capacityctl seed
			// writes them: the author is not the event's actor.
			seeded, err := eventstore.NewEvent(location.TypeNoteAdded, location.NoteAdded{LocationID: rec.LocationID,
				Note: location.Note{NoteID: "8d1c2b7e-0f4a-4c1e-9a7b-3e2d1c0b9a88", Text: "Seeded note", AddedAt: time.Now().UTC(),
					AddedBy: reg.UserID.String(), AddedByName: "Zebedee Quillfeather"}},
				eventstore.Metadata{ActorAccountKind: eventstore.AccountSystem, Command: "Seed"},
				eventstore.PersonalField{Path: "note.added_by_name", Subject: account.Subject(reg.UserID)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Append(ctx, location.LocationStream(rec.LocationID), eventstore.Exact(version()), seeded); err != nil {
				t.Fatal(err)
			}
			added, err := acc.AddContact(ctx, system, location.AddContact{LocationID: rec.LocationID, ExpectedVersion: version(),
				Contact: location.ContactInput{Role: location.RoleManager, Name: "Ottoline Vexworth", Phones: "01632 960733",
					Email: "ottoline.vexworth@quill.example.org", Address: "7 Vexworth Lane, Northampton", Public: true}})
			if err != nil {
				t.Fatal(err)
			}
			// An update keeps the contact's data in the audit's before
			// and after.
			if _, err := acc.UpdateContact(ctx, system, location.UpdateContact{LocationID: rec.LocationID, ExpectedVersion: version(),
				ContactID: added.ID, Contact: location.ContactInput{Role: location.RoleManager, Name: "Ottoline Vexworth",
					Phones: "01632 960733", Email: "ottoline.vexworth@quill.example.org", Address: "7 Vexworth Lane, Northampton"}}); err != nil {
				t.Fatal(err)
			}
			rm := projections.NewReadModels(pb)
			waitAll(t, e, head(t, rm))

			personal := map[string]bool{} // "table.column" declared
			for _, p := range projs {
				if er, ok := p.(projections.Eraser); ok {
					for _, pc := range er.Personal() {
						if !slices.Contains(p.Tables(), pc.Table) {
							t.Errorf("%s declares personal columns of %q: not one of its tables", p.Name(), pc.Table)
							continue
						}
						cols := tableColumns(t, rm, pc.Table)
						if len(pc.Subjects) == 0 {
							t.Errorf("%s: %s: personal columns %v without the columns that name their subjects", p.Name(), pc.Table, pc.Columns)
						}
						for _, s := range pc.Subjects {
							if c, _, _ := strings.Cut(s, "[]."); !slices.Contains(cols, c) {
								t.Errorf("%s: %s: subjects in %q: no such column", p.Name(), pc.Table, s)
							}
						}
						for _, c := range pc.Columns {
							if !slices.Contains(cols, c) {
								t.Errorf("%s: %s: personal column %q: no such column", p.Name(), pc.Table, c)
							}
							personal[pc.Table+"."+c] = true
						}
					}
				}
			}
			for _, needle := range erasureNeedles {
				found := columnsHolding(t, rm, projs, needle)
				if len(found) == 0 {
					t.Fatalf("before the erasure no view holds %q: the test proves nothing", needle)
				}
				for table, cols := range found {
					for _, c := range cols {
						if !personal[table+"."+c] {
							t.Errorf("%s.%s holds %q but its projection does not declare it personal (projections.Eraser)", table, c, needle)
						}
					}
				}
			}

			if _, err := acc.Deactivate(ctx, system, reg.UserID, "left"); err != nil {
				t.Fatal(err)
			}
			for _, req := range []erasure.Request{
				{Kind: erasure.KindContact, LocationID: rec.LocationID, ContactID: added.ID, RequestedBy: "the contact", Reason: "right to erasure"},
				{Kind: erasure.KindUser, UserID: reg.UserID.String(), RequestedBy: "the user", Reason: "right to erasure"},
			} {
				if _, err := acc.ErasePerson(ctx, system, req); err != nil {
					t.Fatal(err)
				}
			}
			last := head(t, rm)
			waitAll(t, e, last)
			for _, needle := range erasureNeedles {
				if found := columnsHolding(t, rm, projs, needle); len(found) > 0 {
					t.Errorf("after the erasure %q is still in %v", needle, found)
				}
			}
			for _, p := range projs {
				live := dumpTables(t, rm, p.Tables())
				if err := e.Rebuild(ctx, p.Name(), nil); err != nil {
					t.Fatalf("rebuild %s: %v", p.Name(), err)
				}
				waitAll(t, e, last)
				rebuilt := dumpTables(t, rm, p.Tables())
				for _, table := range p.Tables() {
					diffRows(t, p.Name()+"."+table, live[table], rebuilt[table])
				}
			}
		})
	}
}

// tableColumns lists a table's columns.
func tableColumns(t testing.TB, rm projections.ReadModels, table string) []string {
	t.Helper()
	var cols []string
	if err := rm.Query(context.Background(), func(q projections.Querier) error {
		var err error
		cols, err = columns(q, table)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cols
}

// head is the position of the last event appended.
func head(t testing.TB, rm projections.ReadModels) int64 {
	t.Helper()
	var pos int64
	if err := rm.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), `SELECT COALESCE(MAX(position), 0) FROM events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		rows.Next()
		return rows.Scan(&pos)
	}); err != nil {
		t.Fatal(err)
	}
	return pos
}
