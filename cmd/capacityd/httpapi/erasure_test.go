package httpapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/cmd/internal/jobs"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/queries"
)

// tablesHolding lists the tables of the store's database with a row whose
// text holds needle (case-insensitive): every table, the event log and
// the secret tables included.
func (a *api) tablesHolding(needle string) []string {
	a.t.Helper()
	ctx := context.Background()
	needle = strings.ToLower(needle)
	var found []string
	switch s := a.store.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		rows, err := s.Pool().Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
		if err != nil {
			a.t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				a.t.Fatal(err)
			}
			tables = append(tables, t)
		}
		rows.Close()
		for _, t := range tables {
			var n int
			if err := s.Pool().QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q x WHERE lower(x::text) LIKE '%%' || $1 || '%%'`, t), needle).Scan(&n); err != nil {
				a.t.Fatalf("search %s: %v", t, err)
			}
			if n > 0 {
				found = append(found, t)
			}
		}
	case interface{ DB() *sql.DB }:
		db := s.DB()
		rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
		if err != nil {
			a.t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				a.t.Fatal(err)
			}
			tables = append(tables, t)
		}
		rows.Close()
		for _, t := range tables {
			cols, err := db.Query(fmt.Sprintf(`SELECT name FROM pragma_table_info(%q)`, t))
			if err != nil {
				a.t.Fatal(err)
			}
			var exprs []string
			for cols.Next() {
				var c string
				if err := cols.Scan(&c); err != nil {
					a.t.Fatal(err)
				}
				exprs = append(exprs, fmt.Sprintf(`coalesce(CAST(%q AS TEXT), '')`, c))
			}
			cols.Close()
			var n int
			q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE lower(%s) LIKE '%%' || ? || '%%'`, t, strings.Join(exprs, " || '|' || "))
			if err := db.QueryRow(q, needle).Scan(&n); err != nil {
				a.t.Fatalf("search %s: %v", t, err)
			}
			if n > 0 {
				found = append(found, t)
			}
		}
	default:
		a.t.Fatalf("no way to search the tables of %T", s)
	}
	return found
}

// TestErasure_NothingOfThePersonRemainsInAnyTable: support erases a
// contact and a deactivated user; once the views have applied the
// erasures (their positions, from the responses), no table of the
// database, the event log included,
// holds their name or email in plain text, the views show "[erased]" and
// the erasure is on the record, and the log still verifies (the events are
// unchanged: only the keys are gone). Only support may erase, and not an
// active user.
func TestErasure_NothingOfThePersonRemainsInAnyTable(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		loc := orgA.loc(0)
		approver := w.loginAs(w.approverA)
		contact := with(managerContact(), "name", "Ernestine Erasable", "email", "ernestine.erasable@rosehill.example.org",
			"expected_version", w.version(location.LocationStream(loc)))
		var added commands.Edited
		approver.post(locPath(loc, "contacts"), contact).want(http.StatusCreated).decode(&added)
		w.sync(w.last())
		user := w.deactivated // "Lea Ver", lea.ver@rosehill.example.org
		for _, needle := range []string{"Ernestine Erasable", "ernestine.erasable@", user.Email, user.Name} {
			if len(w.tablesHolding(needle)) == 0 {
				t.Fatalf("before the erasure no table holds %q: the search proves nothing", needle)
			}
		}

		// The log is signed before the erasure, and verified after it.
		chain := w.store.(eventstore.ChainStore)
		key := []byte("erasure-test-checkpoint-key-0001")
		if _, ok, err := eventstore.Checkpoint(context.Background(), chain, key, time.Now()); err != nil || !ok {
			t.Fatalf("checkpoint: %v %v", ok, err)
		}

		eraseContact := map[string]any{"kind": "contact", "location_id": loc, "contact_id": added.ID,
			"requested_by": "the contact, by email to support on 20 November 2026", "reason": "right to erasure"}
		eraseUser := map[string]any{"kind": "user", "user_id": user.ID.String(), "requested_by": "the user, by letter",
			"reason": "left the organisation; right to erasure"}
		standard, support := w.loginAs(w.standardA), w.loginAs(w.support)
		count := w.eventCount()
		approver.post("/api/v1/erasures", eraseContact).wantError(http.StatusForbidden, "forbidden")
		standard.post("/api/v1/erasures", eraseContact).wantError(http.StatusForbidden, "forbidden")
		w.newClient().post("/api/v1/erasures", eraseContact).wantError(http.StatusUnauthorized, "unauthenticated")
		support.post("/api/v1/erasures", with(eraseUser, "user_id", w.standardA.ID.String())).wantError(http.StatusUnprocessableEntity, "user_active")
		support.post("/api/v1/erasures", with(eraseContact, "contact_id", "0b9e5f3c-2a1d-4e8f-b7c6-5d4e3f2a1b0c")).wantError(http.StatusNotFound, "not_found")
		support.post("/api/v1/erasures", with(eraseContact, "reason", "")).wantError(http.StatusUnprocessableEntity, "validation_failed")
		w.unchanged("refused erasures", count)

		var erased, erasedUser commands.Erased
		support.post("/api/v1/erasures", eraseContact).want(http.StatusCreated).decode(&erased)
		support.post("/api/v1/erasures", eraseUser).want(http.StatusCreated).decode(&erasedUser)
		evs := w.stream(erasure.Stream(erased.ErasureID))
		if len(evs) != 1 || evs[0].Type != erasure.TypePersonErased || evs[0].Metadata.ActorUserID != w.support.ID.String() {
			t.Fatalf("the erasure's record: %+v", evs)
		}

		// The views redact the person as they apply the erasure: waiting
		// for its position is enough, no rebuild (the erasure job has
		// nothing to do).
		w.sync(max(erased.Position, erasedUser.Position))
		for _, needle := range []string{"Ernestine Erasable", "ernestine.erasable@", user.Email, user.Name} {
			if tables := w.tablesHolding(needle); len(tables) > 0 {
				t.Errorf("once the views reached the erasures %q is still in %v", needle, tables)
			}
		}
		if n, err := jobs.ApplyErasures(context.Background(), w.store, w.engine, time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil || n != 0 {
			t.Fatalf("the erasure job rebuilt the views for %d erasures (%v): the projections apply them", n, err)
		}

		if rep, err := eventstore.Verify(context.Background(), chain, key, nil); err != nil || rep.Tampering != nil || rep.Checkpoints != 1 {
			t.Fatalf("verify after the erasure: %+v %v", rep, err)
		}

		// The views say what was erased.
		var p queries.ProviderPage
		support.getAt("/api/v1/providers?q=rosehill", w.last()).want(http.StatusOK).decode(&p)
		shown := false
		for _, e := range p.Entries {
			for _, c := range e.Contacts {
				if c.ContactID == added.ID {
					shown = c.Name == "[erased]" && c.Email == "[erased]"
				}
			}
		}
		if !shown {
			t.Errorf("the erased contact does not read [erased] in the search: %+v", p.Entries)
		}
	})
}
