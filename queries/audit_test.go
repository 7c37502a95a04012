package queries_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	accountviews "github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/audit"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// --- the fixture: real commands, the audit view's projections running ---------------

// auditWorld is one backend where the commands have made organisations A
// (locations a1, a2) and B (b1), their imported managers (Approvers), a
// generic account of A that logged in twice, and edits of every kind:
//
//   - approverA adds a contact at a1 and changes its email, submits a1's
//     daily update and uploads a bulk file changing the contact's phone;
//   - approverB changes b1's address;
//   - the generic account, in its first login (10.1.1.1, "reception-pc"),
//     acknowledges the disclaimer, changes its password and edits a2's
//     address; in its second (10.2.2.2, "night-shift") adds a note at a1.
type auditWorld struct {
	*projtest.World
	t        *testing.T
	accounts *commands.Service
	q        queries.Service

	approverA, approverB, generic auditPerson
	// genericSessions are the generic account's logins, in order.
	genericSessions []string
	uploadID        string
}

type auditPerson struct {
	id    uuid.UUID
	email string
	actor commands.Actor
}

const (
	auditOrgA, auditOrgB = "1-100", "1-200"
	auditA1, auditA2     = "1-101", "1-102"
	auditB1              = "1-201"
)

func newAuditWorld(t *testing.T, backend string) *auditWorld {
	t.Helper()
	ctx := context.Background()
	pw := projtest.NewWorld(t, backend, audit.Projection{}, accountviews.Sessions{})
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	accounts, err := commands.New(ctx, pw.Store, cfg, time.Now, pw.Logger)
	if err != nil {
		t.Fatal(err)
	}
	w := &auditWorld{World: pw, t: t, accounts: accounts,
		q: queries.Service{ReadModels: pw.ReadModels, Waiter: pw.Engine}}

	sys := commands.System("test")
	for _, o := range []struct {
		id, name string
		locs     []string
	}{{auditOrgA, "Acorn Care", []string{auditA1, auditA2}}, {auditOrgB, "Birch Care", []string{auditB1}}} {
		w.at(accounts.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: o.id, Name: o.name,
			Type: string(location.CareHome)}))
		for i, l := range o.locs {
			w.at(accounts.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: l, OrganisationID: o.id,
				Name: fmt.Sprintf("%s %d", o.name, i+1), AddressLine1: "1 High Street", Town: "Sunderland",
				Postcode: "SR2 7JX", LocalAuthority: "Sunderland", CCG: "NHS Sunderland CCG"}))
		}
	}
	w.approverA = w.manager(auditA1, "Rosa Hill", "rosa.hill@acorn.example.org")
	w.approverB = w.manager(auditB1, "Ian Birch", "ian.birch@birch.example.org")

	// approverA: a contact, its new email, a daily update, a bulk upload.
	a := w.approverA.actor
	added, err := accounts.AddContact(ctx, a, location.AddContact{LocationID: auditA1, ExpectedVersion: w.version(auditA1),
		Contact: location.ContactInput{Role: "Manager", Name: "Mary Major", Email: "mary.major@acorn.example.org"}})
	w.at(added, err)
	w.at(accounts.UpdateContact(ctx, a, location.UpdateContact{LocationID: auditA1, ExpectedVersion: added.Version,
		ContactID: added.ID, Contact: location.ContactInput{Role: "Manager", Name: "Mary Major",
			Email: "mary.m@acorn.example.org"}}))
	w.at(accounts.SubmitDailyUpdate(ctx, a, dailyupdate.Submit{LocationID: auditA1, Form: dailyupdate.Form{
		ServiceUsers: "10", Confirmed: "1", Suspected: "0", CareStaff: "8", StaffNotWorking: "1",
		PPE: string(dailyupdate.PPEMoreThanWeek), CanProvideExtra: "no", ExtraHoursPerWeek: "0"}}))
	up, err := accounts.ApplyBulkUpload(ctx, a, commands.BulkUpload{FileName: "bulk.xlsx", SHA256: strings.Repeat("ab", 32),
		Size: 1000, Managers: []commands.BulkManager{{BulkRow: commands.BulkRow{Sheet: commands.SheetContacts, Row: 2,
			LocationID: auditA1}, Name: "Mary Major", Phones: "0191 555 0101", Email: "mary.m@acorn.example.org"}}})
	w.at(up, err)
	w.uploadID = up.UploadID

	// approverB: b1's address.
	w.at(accounts.EditAddress(ctx, w.approverB.actor, location.EditAddress{LocationID: auditB1,
		ExpectedVersion: w.version(auditB1), Address: location.Address{Name: "Birch Care 1", Line1: "2 Low Street",
			Postcode: "SR2 7JZ"}}))

	// The generic account of A, logged in twice.
	gen, err := accounts.CreateGenericAccount(ctx, sys, account.CreateGeneric{Email: "office@acorn.example.org",
		DisplayName: "Acorn Office", OrganisationID: auditOrgA, LocationIDs: []string{auditA1, auditA2}})
	w.at(gen, err)
	w.generic = auditPerson{id: gen.UserID, email: "office@acorn.example.org"}
	first := commands.Request{ClientIP: "10.1.1.1", UserAgent: "reception-pc"}
	g, token := w.login(w.generic.email, gen.InitialPassword, first)
	w.at(accounts.AcknowledgeDisclaimer(ctx, g))
	newPassword := "Tide-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10] + "-Orchard"
	w.at(accounts.ChangePassword(ctx, w.reauth(token, first), gen.InitialPassword, newPassword))
	w.at(accounts.EditAddress(ctx, w.reauth(token, first), location.EditAddress{LocationID: auditA2,
		ExpectedVersion: w.version(auditA2), Address: location.Address{Name: "Acorn Care 2", Line1: "3 Mill Lane",
			Postcode: "SR2 7JX"}}))
	second := commands.Request{ClientIP: "10.2.2.2", UserAgent: "night-shift"}
	g2, token2 := w.login(w.generic.email, newPassword, second)
	w.at(accounts.AcknowledgeDisclaimer(ctx, g2))
	w.at(accounts.AddNote(ctx, w.reauth(token2, second), location.AddNote{LocationID: auditA1,
		ExpectedVersion: w.version(auditA1), Text: "Night shift: all quiet"}))
	w.genericSessions = []string{g.SessionID, g2.SessionID}
	w.Sync()
	return w
}

// at records the position of a command's result and fails on its error.
func (w *auditWorld) at(res any, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	var p struct {
		Position int64 `json:"position"`
	}
	data, err := json.Marshal(res)
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.Saw(p.Position)
}

// version is a location's current version.
func (w *auditWorld) version(id string) int64 {
	w.t.Helper()
	p, err := w.accounts.LocationProfile(context.Background(), commands.System("test"), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return p.Version
}

// manager imports a location's registered manager, sets their password
// through the link and logs them in.
func (w *auditWorld) manager(locationID, name, email string) auditPerson {
	w.t.Helper()
	ctx := context.Background()
	_, res, err := w.accounts.ImportManager(ctx, commands.System("test"), account.ImportManager{LocationID: locationID,
		FullName: name, Email: email, Phone: "0191 555 0100"})
	w.at(res, err)
	p := auditPerson{email: email}
	p.id = w.holder(email)
	pw := "Tide-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:10] + "-Orchard"
	w.at(w.accounts.SetPasswordWithLink(ctx, commands.Request{}, w.linkToken(p.id), pw))
	p.actor, _ = w.login(email, pw, commands.Request{ClientIP: "10.0.0.9", UserAgent: "approver-browser"})
	return p
}

func (w *auditWorld) login(email, pw string, r commands.Request) (commands.Actor, string) {
	w.t.Helper()
	res, err := w.accounts.Login(context.Background(), r, email, pw, false)
	w.at(res, err)
	return w.reauth(res.Token, r), res.Token
}

// reauth is the actor of a session as a new request sees it.
func (w *auditWorld) reauth(token string, r commands.Request) commands.Actor {
	w.t.Helper()
	a, err := w.accounts.Authenticate(context.Background(), token, r)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// holder is the user holding an email address.
func (w *auditWorld) holder(email string) uuid.UUID {
	w.t.Helper()
	var id uuid.UUID
	for _, ev := range w.stream(account.EmailStream(account.MustEmail(email))) {
		if d, err := account.Decode(ev.Type, ev.Data); err == nil {
			if c, ok := d.(account.EmailClaimed); ok {
				id = c.UserID
			}
		}
	}
	if id == uuid.Nil {
		w.t.Fatalf("nobody holds %s", email)
	}
	return id
}

// linkToken is the token of the user's latest password link.
func (w *auditWorld) linkToken(userID uuid.UUID) string {
	w.t.Helper()
	var linkID uuid.UUID
	for _, ev := range w.stream(account.UserStream(userID)) {
		if d, err := account.Decode(ev.Type, ev.Data); err == nil {
			if l, ok := d.(account.PasswordLinkIssued); ok {
				linkID = l.LinkID
			}
		}
	}
	return account.LinkToken(w.accounts.LinkKey(), userID, linkID)
}

func (w *auditWorld) stream(id string) []eventstore.Event {
	w.t.Helper()
	evs, err := w.Store.ReadStream(context.Background(), id, eventstore.ReadStreamOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// log is every event up to the last command's, oldest first.
func (w *auditWorld) log() []eventstore.Event {
	w.t.Helper()
	var (
		out   []eventstore.Event
		after int64
	)
	for {
		evs, err := w.Store.ReadAll(context.Background(), after, 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Position <= w.Last() {
				out = append(out, ev)
			}
		}
		if len(evs) == 0 || evs[len(evs)-1].Position >= w.Last() {
			return out
		}
		after = evs[len(evs)-1].Position
	}
}

// pages reads every page of a filter (Limit events each, following
// NextBefore), and returns the positions in the order read. Events after
// the world's last command are left out.
func (w *auditWorld) pages(v queries.Viewer, f queries.AuditFilter) ([]int64, error) {
	w.t.Helper()
	f.Before = w.Last() + 1
	var out []int64
	for range 1000 {
		page, err := w.q.Audit(context.Background(), v, f)
		if err != nil {
			return nil, err
		}
		if f.Limit > 0 && len(page.Entries) > f.Limit {
			w.t.Fatalf("page of %d entries, limit %d", len(page.Entries), f.Limit)
		}
		for _, e := range page.Entries {
			out = append(out, e.Position)
		}
		if page.NextBefore == 0 {
			return out, nil
		}
		if page.NextBefore != page.Entries[len(page.Entries)-1].Position {
			w.t.Fatalf("next_before %d, last entry at %d", page.NextBefore, page.Entries[len(page.Entries)-1].Position)
		}
		f.Before = page.NextBefore
	}
	w.t.Fatal("no last page")
	return nil, nil
}

// positionsWhere are the positions of the log's events that match, newest
// first.
func positionsWhere(evs []eventstore.Event, match func(eventstore.Event) bool) []int64 {
	var out []int64
	for i := len(evs) - 1; i >= 0; i-- {
		if match(evs[i]) {
			out = append(out, evs[i].Position)
		}
	}
	return out
}

func eachAuditWorld(t *testing.T, fn func(t *testing.T, w *auditWorld)) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newAuditWorld(t, bc.name))
		})
	}
}

var auditor = queries.Viewer{UserID: "auditor", Auditor: true}

func inStreams(ids ...string) func(eventstore.Event) bool {
	return func(ev eventstore.Event) bool { return slices.Contains(ids, ev.StreamID) }
}

// --- the tests ------------------------------------------------------------------------

// TestAudit_EachFilterNarrowsToItsEventsAndPagesGiveEachOnce: for each
// filter, alone and combined, the pages (of 2, 3 and the default 50)
// list exactly the log's matching events, newest first, each once.
func TestAudit_EachFilterNarrowsToItsEventsAndPagesGiveEachOnce(t *testing.T) {
	eachAuditWorld(t, func(t *testing.T, w *auditWorld) {
		log := w.log()
		mid := log[len(log)/3].RecordedAt
		late := log[2*len(log)/3].RecordedAt
		orgB := inStreams(location.OrganisationStream(auditOrgB), location.LocationStream(auditB1),
			account.UserStream(w.approverB.id), account.LoginStream(w.approverB.id))
		for _, c := range []struct {
			name  string
			f     queries.AuditFilter
			match func(eventstore.Event) bool
		}{
			{"everything", queries.AuditFilter{}, func(eventstore.Event) bool { return true }},
			{"one entity", queries.AuditFilter{EntityType: "location", EntityID: auditA1}, inStreams(location.LocationStream(auditA1))},
			{"an entity type", queries.AuditFilter{EntityType: "Organisation"}, func(ev eventstore.Event) bool {
				return ev.Category() == "organisation"
			}},
			{"a location and its daily updates", queries.AuditFilter{LocationID: auditA1},
				inStreams(location.LocationStream(auditA1), dailyupdate.Stream(auditA1))},
			{"an actor", queries.AuditFilter{ActorUserID: w.approverA.id.String()}, func(ev eventstore.Event) bool {
				return ev.Metadata.ActorUserID == w.approverA.id.String()
			}},
			{"an organisation", queries.AuditFilter{OrganisationID: auditOrgB}, orgB},
			{"a session", queries.AuditFilter{SessionID: w.genericSessions[0]}, func(ev eventstore.Event) bool {
				return ev.Metadata.SessionID == w.genericSessions[0]
			}},
			{"an event type", queries.AuditFilter{EventType: location.TypeContactUpdated}, func(ev eventstore.Event) bool {
				return ev.Type == location.TypeContactUpdated
			}},
			{"a bulk upload", queries.AuditFilter{BulkUploadID: w.uploadID}, func(ev eventstore.Event) bool {
				return ev.Metadata.Extra["upload_id"] == w.uploadID
			}},
			{"a time range", queries.AuditFilter{From: mid, To: late}, func(ev eventstore.Event) bool {
				return !ev.RecordedAt.Before(mid) && ev.RecordedAt.Before(late)
			}},
			{"from", queries.AuditFilter{From: mid}, func(ev eventstore.Event) bool { return !ev.RecordedAt.Before(mid) }},
			{"to", queries.AuditFilter{To: mid}, func(ev eventstore.Event) bool { return ev.RecordedAt.Before(mid) }},
			{"a location by an actor", queries.AuditFilter{LocationID: auditA1, ActorUserID: w.generic.id.String()},
				func(ev eventstore.Event) bool {
					return ev.StreamID == location.LocationStream(auditA1) && ev.Metadata.ActorUserID == w.generic.id.String()
				}},
			{"an organisation's event type", queries.AuditFilter{OrganisationID: auditOrgB, EventType: location.TypeAddressChanged},
				func(ev eventstore.Event) bool { return orgB(ev) && ev.Type == location.TypeAddressChanged }},
		} {
			want := positionsWhere(log, c.match)
			if len(want) == 0 || (c.name != "everything" && len(want) == len(log)) {
				t.Fatalf("%s: %d of %d events match: the world does not test the filter", c.name, len(want), len(log))
			}
			for _, limit := range []int{2, 3, 0} {
				f := c.f
				f.Limit = limit
				got, err := w.pages(auditor, f)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s, pages of %d: positions %v, want %v", c.name, limit, got, want)
				}
			}
		}
	})
}

// TestAudit_EntriesSayWhoChangedWhatHowAndWhere: the contact edit's entry
// has its actor (with name and kind), login, client, command, entity and
// the email before and after; the bulk upload's has its id; the generic
// account's its kind; times are UTC and London's.
func TestAudit_EntriesSayWhoChangedWhatHowAndWhere(t *testing.T) {
	eachAuditWorld(t, func(t *testing.T, w *auditWorld) {
		ctx := context.Background()
		page, err := w.q.Audit(ctx, auditor, queries.AuditFilter{EventType: location.TypeContactUpdated, Before: w.Last() + 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != 2 {
			t.Fatalf("%d ContactUpdated entries, want 2 (the edit and the bulk upload's)", len(page.Entries))
		}
		bulk, edit := page.Entries[0], page.Entries[1]
		if edit.Actor != (queries.AuditActor{UserID: w.approverA.id.String(), Email: w.approverA.email, FullName: "Rosa Hill",
			AccountKind: "personal"}) {
			t.Errorf("actor %+v", edit.Actor)
		}
		if edit.SessionID != w.approverA.actor.SessionID || edit.ClientIP != "10.0.0.9" || edit.UserAgent != "approver-browser" ||
			edit.Command != "UpdateContact" || edit.EntityType != "location" || edit.EntityID != auditA1 ||
			edit.LocationID != auditA1 || edit.StreamID != location.LocationStream(auditA1) || edit.BulkUploadID != "" ||
			edit.EventID == "" || edit.StreamVersion == 0 || edit.Summary == "" {
			t.Errorf("entry %+v", edit)
		}
		if !hasChange(edit.Changes, "email", `"mary.major@acorn.example.org"`, `"mary.m@acorn.example.org"`) ||
			edit.ChangeCount != len(edit.Changes) {
			t.Errorf("changes %s (count %d), want the email before and after", changesText(edit.Changes), edit.ChangeCount)
		}
		if bulk.BulkUploadID != w.uploadID || bulk.Command != "BulkUpload" ||
			!hasChange(bulk.Changes, "phones", "", "") {
			t.Errorf("bulk entry %+v, changes %s", bulk, changesText(bulk.Changes))
		}
		if edit.RecordedAt.Location() != time.UTC || edit.RecordedAt.IsZero() {
			t.Errorf("recorded at %v, want UTC", edit.RecordedAt)
		}
		if london, err := time.Parse(time.RFC3339, edit.RecordedAtLondon); err != nil || !london.Equal(edit.RecordedAt.Truncate(time.Second)) {
			t.Errorf("London time %q (%v) is not %v", edit.RecordedAtLondon, err, edit.RecordedAt)
		}

		page, err = w.q.Audit(ctx, auditor, queries.AuditFilter{EventType: location.TypeNoteAdded, Before: w.Last() + 1})
		if err != nil || len(page.Entries) != 1 {
			t.Fatalf("notes: %+v, %v", page, err)
		}
		if a := page.Entries[0].Actor; a.AccountKind != "generic" || a.FullName != "Acorn Office" {
			t.Errorf("the generic account's note is by %+v", a)
		}
	})
}

// hasChange reports whether a field whose path ends with field changed
// from before to after (JSON; "" matches anything).
func hasChange(cs []queries.AuditChange, field, before, after string) bool {
	for _, c := range cs {
		if strings.HasSuffix(c.Field, field) && (before == "" || string(c.Before) == before) &&
			(after == "" || string(c.After) == after) {
			return true
		}
	}
	return false
}

func changesText(cs []queries.AuditChange) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", c.Field, c.Before, c.After))
	}
	return strings.Join(parts, "; ")
}

// TestAudit_WhoMaySeeWhat: auditors see every event; an Approver the
// events of their organisation's locations, of the organisation and of
// its users (the generic account included), never another
// organisation's, and naming another organisation is forbidden; anybody
// else, support without the auditor role included, is forbidden.
func TestAudit_WhoMaySeeWhat(t *testing.T) {
	eachAuditWorld(t, func(t *testing.T, w *auditWorld) {
		ctx := context.Background()
		log := w.log()
		all, err := w.pages(auditor, queries.AuditFilter{Limit: queries.MaxAuditLimit})
		if err != nil || len(all) != len(log) {
			t.Fatalf("the auditor sees %d of %d events (%v)", len(all), len(log), err)
		}
		approverA := queries.Viewer{UserID: w.approverA.id.String(), ApproverOf: []string{auditOrgA}}
		approverB := queries.Viewer{UserID: w.approverB.id.String(), ApproverOf: []string{auditOrgB}}
		streamsOf := func(v queries.Viewer, f queries.AuditFilter) []string {
			t.Helper()
			f.Before, f.Limit = w.Last()+1, queries.MaxAuditLimit
			page, err := w.q.Audit(ctx, v, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range page.Entries {
				if !slices.Contains(out, e.StreamID) {
					out = append(out, e.StreamID)
				}
			}
			slices.Sort(out)
			return out
		}
		wantA := sorted([]string{location.OrganisationStream(auditOrgA), location.LocationStream(auditA1),
			location.LocationStream(auditA2), dailyupdate.Stream(auditA1), account.UserStream(w.approverA.id),
			account.LoginStream(w.approverA.id), account.UserStream(w.generic.id), account.LoginStream(w.generic.id)})
		if got := streamsOf(approverA, queries.AuditFilter{}); !slices.Equal(got, wantA) {
			t.Errorf("approver A sees %q, want %q", got, wantA)
		}
		if got := streamsOf(approverA, queries.AuditFilter{OrganisationID: auditOrgA}); !slices.Equal(got, wantA) {
			t.Errorf("approver A naming A sees %q, want %q", got, wantA)
		}
		wantB := sorted([]string{location.OrganisationStream(auditOrgB), location.LocationStream(auditB1),
			account.UserStream(w.approverB.id), account.LoginStream(w.approverB.id)})
		if got := streamsOf(approverB, queries.AuditFilter{}); !slices.Equal(got, wantB) {
			t.Errorf("approver B sees %q, want %q", got, wantB)
		}
		// Another organisation's location, entity or user: nothing.
		for _, f := range []queries.AuditFilter{{LocationID: auditB1}, {EntityType: "location", EntityID: auditB1},
			{ActorUserID: w.approverB.id.String()}} {
			if got := streamsOf(approverA, f); len(got) != 0 {
				t.Errorf("approver A with %+v sees %q", f, got)
			}
		}
		// Naming another organisation is forbidden.
		if _, err := w.q.Audit(ctx, approverA, queries.AuditFilter{OrganisationID: auditOrgB}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("approver A naming B: %v, want forbidden", err)
		}
		err = w.q.EachAuditChange(ctx, approverA, queries.AuditFilter{OrganisationID: auditOrgB}, func(queries.AuditLine) error { return nil })
		if !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("approver A's download naming B: %v, want forbidden", err)
		}
		for name, v := range map[string]queries.Viewer{
			"a plain user":                     {UserID: "u", Locations: []string{auditA1}},
			"a commissioner":                   {UserID: "c", Commissioner: true},
			"support without the auditor role": {UserID: "s", Support: true},
			"nobody":                           {},
		} {
			if _, err := w.q.Audit(ctx, v, queries.AuditFilter{}); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("%s reads the audit: %v", name, err)
			}
			if err := w.q.EachAuditChange(ctx, v, queries.AuditFilter{}, func(queries.AuditLine) error { return nil }); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("%s downloads the audit: %v", name, err)
			}
			if _, err := w.q.AccountActivity(ctx, v, queries.ActivityQuery{UserID: w.generic.id.String()}); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("%s reads an account's activity: %v", name, err)
			}
		}
		// Support who is also an auditor reads everything.
		if got, err := w.pages(queries.Viewer{Support: true, Auditor: true}, queries.AuditFilter{Limit: queries.MaxAuditLimit}); err != nil || len(got) != len(log) {
			t.Errorf("support with the auditor role sees %d of %d (%v)", len(got), len(log), err)
		}
	})
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestEachAuditChange_OneLinePerChangeInPositionOrder: the download's
// lines are the entries' changes, oldest first, an event without changes
// on one line of its own.
func TestEachAuditChange_OneLinePerChangeInPositionOrder(t *testing.T) {
	eachAuditWorld(t, func(t *testing.T, w *auditWorld) {
		ctx := context.Background()
		page, err := w.q.Audit(ctx, auditor, queries.AuditFilter{Limit: queries.MaxAuditLimit, Before: w.Last() + 1})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := len(page.Entries) - 1; i >= 0; i-- {
			e := page.Entries[i]
			if len(e.Changes) == 0 {
				want = append(want, fmt.Sprintf("%d %s", e.Position, e.EventType))
			}
			for _, c := range e.Changes {
				want = append(want, fmt.Sprintf("%d %s %s %s %s", e.Position, e.EventType, c.Field, c.Before, c.After))
			}
		}
		var got []string
		err = w.q.EachAuditChange(ctx, auditor, queries.AuditFilter{Before: w.Last() + 1}, func(l queries.AuditLine) error {
			if l.Changes != nil {
				t.Errorf("line %d carries changes", l.Position)
			}
			if l.Field == "" {
				got = append(got, fmt.Sprintf("%d %s", l.Position, l.EventType))
			} else {
				got = append(got, fmt.Sprintf("%d %s %s %s %s", l.Position, l.EventType, l.Field, l.Before, l.After))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		stop := errors.New("stop")
		n := 0
		err = w.q.EachAuditChange(ctx, auditor, queries.AuditFilter{}, func(queries.AuditLine) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("fn's error: %v after %d lines, want it returned after 1", err, n)
		}
	})
}

// TestAccountActivity_AGenericAccountLoginByLogin: the generic account's
// two logins, the latest first, each with its address, agent and the
// changes made in it; paged one at a time; for the auditor and A's
// Approver, not B's.
func TestAccountActivity_AGenericAccountLoginByLogin(t *testing.T) {
	eachAuditWorld(t, func(t *testing.T, w *auditWorld) {
		ctx := context.Background()
		approverA := queries.Viewer{UserID: w.approverA.id.String(), ApproverOf: []string{auditOrgA}}
		for _, v := range []queries.Viewer{auditor, approverA} {
			act, err := w.q.AccountActivity(ctx, v, queries.ActivityQuery{UserID: w.generic.id.String(), MinPosition: w.Last()})
			if err != nil {
				t.Fatal(err)
			}
			if act.User != (queries.AuditActor{UserID: w.generic.id.String(), Email: w.generic.email, FullName: "Acorn Office",
				AccountKind: "generic"}) || act.NextBefore != "" || len(act.Sessions) != 2 {
				t.Fatalf("activity %+v", act)
			}
			type line struct{ session, ip, agent, events string }
			var got []line
			for _, s := range act.Sessions {
				var types []string
				for _, e := range s.Entries {
					if e.SessionID != s.SessionID {
						t.Errorf("entry of session %s in %s", e.SessionID, s.SessionID)
					}
					types = append(types, e.EventType)
				}
				if s.StartedAt.IsZero() || s.StartedAtLondon == "" || s.Truncated {
					t.Errorf("session %+v", s)
				}
				got = append(got, line{s.SessionID, s.ClientIP, s.UserAgent, strings.Join(types, " ")})
			}
			want := []line{
				{w.genericSessions[1], "10.2.2.2", "night-shift", "LoginSucceeded DisclaimerAcknowledged NoteAdded"},
				{w.genericSessions[0], "10.1.1.1", "reception-pc", "LoginSucceeded DisclaimerAcknowledged PasswordSet AddressChanged"},
			}
			if !slices.Equal(got, want) {
				t.Errorf("sessions %+v,\nwant %+v", got, want)
			}
			if note := act.Sessions[0].Entries[2]; !hasChange(note.Changes, "text", "", `"Night shift: all quiet"`) {
				t.Errorf("the note's changes: %s", changesText(note.Changes))
			}
		}

		// One at a time.
		first, err := w.q.AccountActivity(ctx, auditor, queries.ActivityQuery{UserID: w.generic.id.String(), Limit: 1})
		if err != nil || len(first.Sessions) != 1 || first.NextBefore == "" || first.Sessions[0].SessionID != w.genericSessions[1] {
			t.Fatalf("first page %+v, %v", first, err)
		}
		second, err := w.q.AccountActivity(ctx, auditor, queries.ActivityQuery{UserID: w.generic.id.String(), Limit: 1,
			Before: first.NextBefore})
		if err != nil || len(second.Sessions) != 1 || second.NextBefore != "" || second.Sessions[0].SessionID != w.genericSessions[0] {
			t.Fatalf("second page %+v, %v", second, err)
		}

		approverB := queries.Viewer{UserID: w.approverB.id.String(), ApproverOf: []string{auditOrgB}}
		if _, err := w.q.AccountActivity(ctx, approverB, queries.ActivityQuery{UserID: w.generic.id.String()}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("approver B reads A's generic account: %v", err)
		}
		if _, err := w.q.AccountActivity(ctx, auditor, queries.ActivityQuery{UserID: uuid.NewString()}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("an unknown user: %v, want not found", err)
		}
		for _, a := range []queries.ActivityQuery{{UserID: w.generic.id.String(), Limit: queries.MaxActivitySessions + 1},
			{UserID: w.generic.id.String(), Before: "yesterday"}} {
			var verr *domain.ValidationError
			if _, err := w.q.AccountActivity(ctx, auditor, a); !errors.As(err, &verr) {
				t.Errorf("%+v: %v, want a validation error", a, err)
			}
		}
	})
}

// TestAudit_InvalidFiltersNameTheirFields.
func TestAudit_InvalidFiltersNameTheirFields(t *testing.T) {
	t.Parallel()
	store, pb := projtest.Open(t, projtest.SQLite)
	_ = store
	q := queries.Service{ReadModels: projections.NewReadModels(pb)}
	now := time.Now()
	for _, c := range []struct {
		f      queries.AuditFilter
		fields []string
	}{
		{queries.AuditFilter{EntityType: "planet"}, []string{"entity_type"}},
		{queries.AuditFilter{EntityID: "1-101"}, []string{"entity_type"}},
		{queries.AuditFilter{From: now, To: now}, []string{"from"}},
		{queries.AuditFilter{From: now, To: now.Add(-time.Hour)}, []string{"from"}},
		{queries.AuditFilter{Limit: queries.MaxAuditLimit + 1}, []string{"limit"}},
		{queries.AuditFilter{Limit: -1, Before: -5}, []string{"limit", "before"}},
		{queries.AuditFilter{SessionID: strings.Repeat("s", 201)}, []string{"session"}},
	} {
		_, err := q.Audit(context.Background(), auditor, c.f)
		var verr *domain.ValidationError
		if !errors.As(err, &verr) {
			t.Errorf("%+v: %v, want a validation error", c.f, err)
			continue
		}
		var fields []string
		for _, f := range verr.Fields {
			fields = append(fields, f.Field)
		}
		if !slices.Equal(sorted(fields), sorted(c.fields)) {
			t.Errorf("%+v: fields %q, want %q", c.f, fields, c.fields)
		}
	}
}

// --- made-up events, straight through the projection ----------------------------------

// auditDirect is a fresh database with the audit view's tables, filled by
// handing the projection made-up events (at the times a test needs).
type auditDirect struct {
	*projtest.Direct
	q        queries.Service
	position int64
	versions map[string]int64
}

func newAuditDirect(t *testing.T, backend string) *auditDirect {
	t.Helper()
	store, pb := projtest.Open(t, backend)
	return &auditDirect{Direct: projtest.OpenDirect(t, store, audit.Projection{}), versions: map[string]int64{},
		q: queries.Service{ReadModels: projections.NewReadModels(pb)}}
}

// add applies events of a stream that has no replay, whose data's fields
// are its changes.
func (d *auditDirect) add(stream string, at time.Time, md eventstore.Metadata, data ...map[string]any) {
	var evs []eventstore.Event
	for _, v := range data {
		raw, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		d.position++
		d.versions[stream]++
		evs = append(evs, eventstore.Event{Position: d.position, StreamID: stream, Version: d.versions[stream],
			ID: uuid.New(), Type: "Recorded", Data: raw, RecordedAt: at.UTC(), Metadata: md})
	}
	d.InTx(func(tx projections.Tx) error {
		return audit.Projection{}.ApplyBatch(context.Background(), tx, projtest.Identity, evs)
	})
}

func eachAuditDirect(t *testing.T, fn func(t *testing.T, d *auditDirect)) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newAuditDirect(t, bc.name))
		})
	}
}

// TestAudit_LondonTimeIsBSTInSummerAndGMTInWinter, and From and To bound
// the recorded time half-open.
func TestAudit_LondonTimeIsBSTInSummerAndGMTInWinter(t *testing.T) {
	eachAuditDirect(t, func(t *testing.T, d *auditDirect) {
		summer := time.Date(2030, 7, 1, 23, 30, 0, 0, time.UTC) // 00:30 on 2 July in London
		winter := time.Date(2030, 12, 1, 23, 30, 0, 0, time.UTC)
		d.add("bulkupload-summer", summer, eventstore.Metadata{}, map[string]any{"n": 1})
		d.add("bulkupload-winter", winter, eventstore.Metadata{}, map[string]any{"n": 2})
		page, err := d.q.Audit(context.Background(), auditor, queries.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range page.Entries {
			got = append(got, e.RecordedAt.Format(time.RFC3339)+" "+e.RecordedAtLondon)
		}
		want := []string{"2030-12-01T23:30:00Z 2030-12-01T23:30:00+00:00", "2030-07-01T23:30:00Z 2030-07-02T00:30:00+01:00"}
		if !slices.Equal(got, want) {
			t.Errorf("times %q, want %q", got, want)
		}
		for _, c := range []struct {
			from, to time.Time
			want     []string
		}{
			{summer, winter, []string{"summer"}},
			{summer, winter.Add(time.Nanosecond), []string{"winter", "summer"}},
			{summer.Add(time.Second), time.Time{}, []string{"winter"}},
			{time.Time{}, summer, nil},
		} {
			page, err := d.q.Audit(context.Background(), auditor, queries.AuditFilter{From: c.from, To: c.to})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range page.Entries {
				ids = append(ids, e.EntityID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("[%v, %v): %q, want %q", c.from, c.to, ids, c.want)
			}
		}
	})
}

// TestEachAuditChange_StreamsBatchesOfEventsAndChanges: 2,500 events of
// 3 changes each, one of none and one of 12,000 cross the download's
// batches of events and of changes: every line comes once, in order.
func TestEachAuditChange_StreamsBatchesOfEventsAndChanges(t *testing.T) {
	eachAuditDirect(t, func(t *testing.T, d *auditDirect) {
		at := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
		md := eventstore.Metadata{ActorUserID: "u1", ActorAccountKind: eventstore.AccountPersonal, Command: "Upload"}
		var evs []map[string]any
		for i := range 1200 {
			evs = append(evs, map[string]any{"a": i, "b": fmt.Sprint("x", i), "c": i%2 == 0})
		}
		d.add("bulkupload-one", at, md, evs...)
		d.add("bulkupload-empty", at, md, map[string]any{})
		big := map[string]any{}
		for i := range 12_000 {
			big[fmt.Sprintf("f%05d", i)] = i
		}
		d.add("bulkupload-big", at, md, big)
		d.add("bulkupload-two", at, md, evs[:300]...)
		evs = nil

		wantLines := 1200*3 + 1 + 12_000 + 300*3
		var (
			n        int
			lastPos  int64
			lastKey  string
			perEvent = map[int64]int{}
		)
		err := d.q.EachAuditChange(context.Background(), auditor, queries.AuditFilter{}, func(l queries.AuditLine) error {
			n++
			if l.Position < lastPos || (l.Position == lastPos && l.Field <= lastKey) {
				return fmt.Errorf("line %d: %d %s after %d %s", n, l.Position, l.Field, lastPos, lastKey)
			}
			lastPos, lastKey = l.Position, l.Field
			perEvent[l.Position]++
			if l.EntityID == "empty" && (l.Field != "" || l.Before != nil || l.After != nil) {
				return fmt.Errorf("the empty event's line: %+v", l.AuditChange)
			}
			if l.Actor.UserID != "u1" || l.Command != "Upload" {
				return fmt.Errorf("line %d: %+v", n, l.AuditEntry)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != wantLines || len(perEvent) != 1200+1+1+300 || perEvent[1201] != 1 || perEvent[1202] != 12_000 {
			t.Errorf("%d lines over %d events (the empty one %d, the big one %d), want %d", n, len(perEvent),
				perEvent[1201], perEvent[1202], wantLines)
		}

		// The pages see the same events, each once.
		var seen []int64
		f := queries.AuditFilter{Limit: queries.MaxAuditLimit, EntityType: "bulkupload"}
		for {
			page, err := d.q.Audit(context.Background(), auditor, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entries {
				seen = append(seen, e.Position)
			}
			if page.NextBefore == 0 {
				break
			}
			f.Before = page.NextBefore
		}
		if len(seen) != 1502 || seen[0] != 1502 || seen[len(seen)-1] != 1 || !slices.IsSortedFunc(seen, func(a, b int64) int {
			return int(b - a)
		}) {
			t.Errorf("pages gave %d positions, %v ... %v", len(seen), seen[:3], seen[len(seen)-3:])
		}
	})
}

// TestAudit_ATimeRangeFindsEventsRecordedOutOfPositionOrder: events whose
// recorded times go back and forth by up to 5 hours between positions are
// each found by every range that holds their time, and by no other.
func TestAudit_ATimeRangeFindsEventsRecordedOutOfPositionOrder(t *testing.T) {
	eachAuditDirect(t, func(t *testing.T, d *auditDirect) {
		base := time.Date(2030, 3, 30, 12, 0, 0, 0, time.UTC)
		rng := rand.New(rand.NewPCG(1, 2))
		var times []time.Time
		for i := range 300 {
			at := base.Add(time.Duration(i)*10*time.Minute + time.Duration(rng.IntN(300))*time.Minute - 150*time.Minute)
			times = append(times, at)
			d.add(fmt.Sprintf("erasure-e%d", i), at, eventstore.Metadata{}, map[string]any{"i": i})
		}
		for range 60 {
			from := base.Add(time.Duration(rng.IntN(3200)-100) * time.Minute)
			to := from.Add(time.Duration(rng.IntN(600)+1) * time.Minute)
			if rng.IntN(5) == 0 {
				from = time.Time{}
			} else if rng.IntN(5) == 0 {
				to = time.Time{}
			}
			var want []int64
			for i := len(times) - 1; i >= 0; i-- {
				if (from.IsZero() || !times[i].Before(from)) && (to.IsZero() || times[i].Before(to)) {
					want = append(want, int64(i+1))
				}
			}
			var got []int64
			f := queries.AuditFilter{From: from, To: to, Limit: 7}
			for {
				page, err := d.q.Audit(context.Background(), auditor, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Entries {
					got = append(got, e.Position)
				}
				if page.NextBefore == 0 {
					break
				}
				f.Before = page.NextBefore
			}
			var lines int
			if err := d.q.EachAuditChange(context.Background(), auditor, queries.AuditFilter{From: from, To: to},
				func(queries.AuditLine) error { lines++; return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) || lines != len(want) {
				t.Fatalf("[%v, %v): %v (%d lines), want %v", from, to, got, lines, want)
			}
		}
	})
}
