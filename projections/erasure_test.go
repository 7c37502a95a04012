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
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
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
				cols, err := projtest.Columns(q, table)
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
	projs := views.Default()
	eachCommandsWorld(t, projs, func(t *testing.T, _ string, pw *projtest.World, acc *commands.Service) {
		ctx := context.Background()
		store, e := pw.Store, pw.Engine
		system := commands.System("erasure-test")
		person := newErasurePerson(t, acc, system)
		rec, reg := person.rec, person.reg
		version := func() int64 {
			evs, err := store.ReadStream(ctx, location.LocationStream(rec.LocationID), eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return int64(len(evs))
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
		// An update keeps the contact's data in the audit's before
		// and after.
		if _, err := acc.UpdateContact(ctx, system, location.UpdateContact{LocationID: rec.LocationID, ExpectedVersion: version(),
			ContactID: person.contactID, Contact: location.ContactInput{Role: location.RoleManager, Name: "Ottoline Vexworth",
				Phones: "01632 960733", Email: "ottoline.vexworth@quill.example.org", Address: "7 Vexworth Lane, Northampton"}}); err != nil {
			t.Fatal(err)
		}
		rm := pw.ReadModels
		waitAll(t, e, lastPosition(t, rm))

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
			{Kind: erasure.KindContact, LocationID: rec.LocationID, ContactID: person.contactID, RequestedBy: "the contact", Reason: "right to erasure"},
			{Kind: erasure.KindUser, UserID: reg.UserID.String(), RequestedBy: "the user", Reason: "right to erasure"},
		} {
			if _, err := acc.ErasePerson(ctx, system, req); err != nil {
				t.Fatal(err)
			}
		}
		last := lastPosition(t, rm)
		waitAll(t, e, last)
		for _, needle := range erasureNeedles {
			if found := columnsHolding(t, rm, projs, needle); len(found) > 0 {
				t.Errorf("after the erasure %q is still in %v", needle, found)
			}
		}
		checkEqualsRebuild(t, e, rm, projs, last, nil)
	})
}

// tableColumns lists a table's columns.
func tableColumns(t testing.TB, rm projections.ReadModels, table string) []string {
	t.Helper()
	var cols []string
	if err := rm.Query(context.Background(), func(q projections.Querier) error {
		var err error
		cols, err = projtest.Columns(q, table)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cols
}
