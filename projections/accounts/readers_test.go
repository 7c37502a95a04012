package accounts_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// readersWorld is organisation A (locations a1, a2, Approvers Mary and
// Vic, Vic deactivated since) and B (b1, no Approver), and Uma's pending
// registration for a2 and b1.
type readersWorld struct {
	*projtest.World
	mary, vic, uma uuid.UUID
	umaRequest     uuid.UUID
	expires        time.Time
}

func newReadersWorld(t *testing.T, backend string) *readersWorld {
	w := &readersWorld{
		World: projtest.NewWorld(t, backend, append([]projections.Projection{directory.Projection{}}, accounts.Projections()...)...),
		mary:  uuid.New(), vic: uuid.New(), uma: uuid.New(), umaRequest: uuid.New(),
		expires: time.Now().Add(time.Hour).UTC(),
	}
	orgOf := map[string]string{"a1": "A", "a2": "A", "b1": "B"}
	for _, o := range []struct{ id, name string }{{"A", "Acorn Care Ltd"}, {"B", "Birch Homes"}} {
		w.Emit(location.OrganisationStream(o.id), eventstore.Metadata{},
			location.OrganisationRegistered{OrganisationID: o.id, Name: o.name, Type: location.CareHome})
	}
	for _, l := range []string{"a1", "a2", "b1"} {
		w.Emit(location.LocationStream(l), eventstore.Metadata{}, location.LocationRegistered{
			LocationID: l, OrganisationID: orgOf[l], Name: "Home " + l, AddressLine1: "1 High Street", Town: "Town",
			Postcode: "NE1 4XD", LocalAuthority: "Newcastle upon Tyne", CCG: "NHS Newcastle Gateshead CCG",
		})
	}
	grants := func(ls ...string) []account.LocationGrant {
		out := make([]account.LocationGrant, len(ls))
		for i, l := range ls {
			out[i] = account.LocationGrant{LocationID: l, OrganisationID: orgOf[l]}
		}
		return out
	}
	w.Emit(account.UserStream(w.mary), eventstore.Metadata{ActorUserID: "system"},
		account.RegisteredManagerImported{UserID: w.mary, Email: "mary@example.org", FullName: "Mary Manager",
			LocationID: "a1", OrganisationID: "A"},
		account.PasswordSet{Via: account.SetByLink, LinkID: uuid.New(), ExpiresAt: w.expires})
	vicRequest := uuid.New()
	w.Emit(account.UserStream(w.vic), eventstore.Metadata{},
		account.UserRegistered{UserID: w.vic, Email: "vic@example.org", FullName: "Vic Approver", Phone: "0191 000 0000",
			JobTitle: "Deputy", Role: account.Approver, OrganisationType: string(location.CareHome), TermsAccepted: true},
		account.AccessRequested{RequestID: vicRequest, Locations: grants("a1"), Via: "registration", DeclarationAccepted: true})
	w.Emit(account.UserStream(w.vic), eventstore.Metadata{ActorUserID: w.mary.String()},
		account.AccessApproved{RequestID: vicRequest, OrganisationID: "A", LocationIDs: []string{"a1"}}, account.UserApproved{})
	w.Emit(account.UserStream(w.uma), eventstore.Metadata{},
		account.UserRegistered{UserID: w.uma, Email: "uma@example.org", FullName: "Uma User", Phone: "0191 000 0001",
			JobTitle: "Carer", Role: account.Standard, OrganisationType: string(location.CareHome), TermsAccepted: true},
		account.AccessRequested{RequestID: w.umaRequest, Locations: grants("a2", "b1"), Via: "registration", DeclarationAccepted: true})
	w.Emit(account.UserStream(w.vic), eventstore.Metadata{ActorUserID: w.mary.String()}, account.UserDeactivated{Reason: "leaver"})
	w.Sync()
	return w
}

// read runs fn in a read of the read models.
func (w *readersWorld) read(t *testing.T, fn func(ctx context.Context, db projections.Querier) error) {
	t.Helper()
	if err := w.ReadModels.Query(context.Background(), func(db projections.Querier) error {
		return fn(context.Background(), db)
	}); err != nil {
		t.Fatal(err)
	}
}

// summaries are users as "name status locations".
func summaries(users []accounts.User) []string {
	out := []string{}
	for _, u := range users {
		out = append(out, u.FullName+" "+u.Status+" "+strings.Join(u.Locations, ","))
	}
	return out
}

// TestReaders_ReadWhatTheViewsKept calls every reader on one small world,
// on each backend: what they read, in their order, and their scopes.
func TestReaders_ReadWhatTheViewsKept(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newReadersWorld(t, backend)
			w.read(t, func(ctx context.Context, db projections.Querier) error {
				users, err := accounts.OrganisationUsers(ctx, db, "A")
				if err != nil {
					return err
				}
				if got, want := summaries(users), []string{"Mary Manager active a1", "Vic Approver deactivated a1"}; !slices.Equal(got, want) {
					t.Errorf("OrganisationUsers(A) = %q, want %q", got, want)
				}
				if users, err = accounts.OrganisationUsers(ctx, db, "Z"); err != nil || users == nil || len(users) != 0 {
					t.Errorf("OrganisationUsers(Z) = %v, %v, want an empty list", users, err)
				}
				page, err := accounts.OrganisationUsersPage(ctx, db, "A", 2, 1)
				if err != nil {
					return err
				}
				if got, want := summaries(page), []string{"Vic Approver deactivated "}; !slices.Equal(got, want) {
					t.Errorf("OrganisationUsersPage(A, 2, 1) = %q, want %q", got, want)
				}
				if err := accounts.AddOrganisationLocations(ctx, db, page, "A"); err != nil {
					return err
				}
				if got, want := summaries(page), []string{"Vic Approver deactivated a1"}; !slices.Equal(got, want) {
					t.Errorf("page with its locations = %q, want %q", got, want)
				}
				if n, err := accounts.CountOrganisationUsers(ctx, db, "A"); err != nil || n != 2 {
					t.Errorf("CountOrganisationUsers(A) = %d, %v, want 2", n, err)
				}

				all, err := accounts.LocationUsers(ctx, db, "a1", false, "A")
				if err != nil {
					return err
				}
				active, err := accounts.LocationUsers(ctx, db, "a1", true, "")
				if err != nil {
					return err
				}
				if got, want := summaries(all), []string{"Mary Manager active a1", "Vic Approver deactivated a1"}; !slices.Equal(got, want) {
					t.Errorf("LocationUsers(a1) = %q, want %q", got, want)
				}
				if got, want := summaries(active), []string{"Mary Manager active "}; !slices.Equal(got, want) {
					t.Errorf("LocationUsers(a1, active only) = %q, want %q", got, want)
				}
				access, err := accounts.ActiveLocationUsers(ctx, db, []string{"a1", "a2"})
				if err != nil {
					return err
				}
				if want := []accounts.LocationUser{{LocationID: "a1", UserID: w.mary.String(), Email: "mary@example.org",
					FullName: "Mary Manager", Role: "approver"}}; !slices.Equal(access, want) {
					t.Errorf("ActiveLocationUsers(a1, a2) = %+v, want %+v", access, want)
				}

				uma, ok, err := accounts.UserByID(ctx, db, w.uma.String())
				if err != nil || !ok || uma.Email != "uma@example.org" || uma.Status != "pending" || uma.JobTitle != "Carer" {
					t.Errorf("UserByID(uma) = %+v, %v, %v", uma, ok, err)
				}
				orgs, err := accounts.UserOrganisations(ctx, db, w.uma.String())
				if slices.Sort(orgs); err != nil || !slices.Equal(orgs, []string{"A", "B"}) {
					t.Errorf("UserOrganisations(uma) = %q, %v, want A and B (asked)", orgs, err)
				}
				vic, ok, err := accounts.UserByEmail(ctx, db, "vic@example.org")
				if err != nil || !ok || vic.UserID != w.vic.String() || vic.Locations != nil {
					t.Errorf("UserByEmail(vic) = %+v, %v, %v", vic, ok, err)
				}
				if _, ok, err := accounts.UserByEmail(ctx, db, "nobody@example.org"); ok || err != nil {
					t.Errorf("UserByEmail(nobody) found one (%v)", err)
				}
				other := vic
				if err := accounts.AddUserLocations(ctx, db, &vic, nil); err != nil || !slices.Equal(vic.Locations, []string{"a1"}) {
					t.Errorf("AddUserLocations(vic, all) = %q, %v", vic.Locations, err)
				}
				if err := accounts.AddUserLocations(ctx, db, &other, []string{"B"}); err != nil || other.Locations != nil {
					t.Errorf("AddUserLocations(vic, B) = %q, %v, want none", other.Locations, err)
				}

				expiring, err := accounts.PasswordsExpiringBefore(ctx, db, w.expires.Add(time.Minute))
				if err != nil || !slices.Equal(expiring, []string{w.mary.String()}) {
					t.Errorf("PasswordsExpiringBefore(after Mary's) = %q, %v", expiring, err)
				}
				if expiring, err = accounts.PasswordsExpiringBefore(ctx, db, w.expires.Add(-time.Minute)); err != nil || len(expiring) != 0 {
					t.Errorf("PasswordsExpiringBefore(before Mary's) = %q, %v", expiring, err)
				}

				approvers, err := accounts.ActiveApprovers(ctx, db, []string{"A", "B"})
				if err != nil || len(approvers) != 1 || approvers["A"] != 1 {
					t.Errorf("ActiveApprovers(A, B) = %v, %v, want A: 1 (Vic left)", approvers, err)
				}
				org, ok, err := accounts.Organisation(ctx, db, "A")
				if want := (accounts.OrganisationApprovers{OrganisationID: "A", Name: "Acorn Care Ltd", ActiveApprovers: 1}); err != nil || !ok || org != want {
					t.Errorf("Organisation(A) = %+v, %v, %v, want %+v", org, ok, err, want)
				}
				if _, ok, err := accounts.Organisation(ctx, db, "Z"); ok || err != nil {
					t.Errorf("Organisation(Z) found one (%v)", err)
				}
				return nil
			})
		})
	}
}

// TestReaders_PendingApprovalsOfEachScope: every organisation's parts,
// an Approver's organisations' without their own, those without an
// Approver, pages and counts.
func TestReaders_PendingApprovalsOfEachScope(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newReadersWorld(t, backend)
			parts := func(ps []accounts.PendingApproval) []string {
				out := []string{}
				for _, p := range ps {
					out = append(out, p.OrganisationID+" "+p.OrganisationName+" "+strings.Join(p.LocationIDs, ",")+" "+p.FullName+
						map[bool]string{true: " no approver", false: ""}[p.NoActiveApprover])
				}
				return out
			}
			w.read(t, func(ctx context.Context, db projections.Querier) error {
				for _, c := range []struct {
					name        string
					scope       accounts.ApprovalScope
					page, size  int
					want        []string
					wantCounted int
				}{
					{"all", accounts.ApprovalScope{All: true}, 0, 0,
						[]string{"A Acorn Care Ltd a2 Uma User", "B Birch Homes b1 Uma User no approver"}, 2},
					{"all, second page", accounts.ApprovalScope{All: true}, 2, 1,
						[]string{"B Birch Homes b1 Uma User no approver"}, 2},
					{"without approver", accounts.ApprovalScope{All: true, WithoutApprover: true}, 0, 0,
						[]string{"B Birch Homes b1 Uma User no approver"}, 1},
					{"Mary of A", accounts.ApprovalScope{Organisations: []string{"A"}, Approver: w.mary.String()}, 1, 10,
						[]string{"A Acorn Care Ltd a2 Uma User"}, 1},
					{"Uma's own", accounts.ApprovalScope{Organisations: []string{"A", "B"}, Approver: w.uma.String()}, 0, 0,
						[]string{}, 0},
				} {
					got, err := accounts.ListPendingApprovals(ctx, db, c.scope, c.page, c.size)
					if err != nil {
						return err
					}
					if !slices.Equal(parts(got), c.want) {
						t.Errorf("%s: ListPendingApprovals = %q, want %q", c.name, parts(got), c.want)
					}
					if n, err := accounts.CountPendingApprovals(ctx, db, c.scope); err != nil || n != c.wantCounted {
						t.Errorf("%s: CountPendingApprovals = %d, %v, want %d", c.name, n, err, c.wantCounted)
					}
				}
				counts, err := accounts.PendingCounts(ctx, db, []string{"A", "B"})
				if err != nil || len(counts) != 2 || counts["A"] != 1 || counts["B"] != 1 {
					t.Errorf("PendingCounts(A, B) = %v, %v, want one each", counts, err)
				}
				return nil
			})
		})
	}
}

// TestReaders_SessionsLatestFirstAndByPages: a user's sessions, and the
// activity's pages before a cursor.
func TestReaders_SessionsLatestFirstAndByPages(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newReadersWorld(t, backend)
			var ids []string
			for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
				s := uuid.New()
				ids = append(ids, s.String())
				w.Emit(account.LoginStream(w.mary), eventstore.Metadata{ActorUserID: w.mary.String(), ClientIP: ip, UserAgent: "Firefox/140"},
					account.LoginSucceeded{SessionID: s, ExpiresAt: time.Now().Add(8 * time.Hour)})
			}
			w.Emit(account.LoginStream(w.mary), eventstore.Metadata{ActorUserID: w.mary.String()},
				account.LoggedOut{SessionID: uuid.MustParse(ids[0])})
			w.Sync()
			slices.Reverse(ids) // the latest first
			w.read(t, func(ctx context.Context, db projections.Querier) error {
				all, err := accounts.UserSessions(ctx, db, w.mary.String())
				if err != nil {
					return err
				}
				var got []string
				for _, s := range all {
					got = append(got, s.SessionID)
				}
				if !slices.Equal(got, ids) || all[2].EndReason != accounts.SessionEndLogout || all[2].EndedAt == nil ||
					all[0].ClientIP != "192.0.2.3" || all[0].UserAgent != "Firefox/140" || all[0].ExpiresAt == nil {
					t.Errorf("UserSessions(mary) = %+v, want %q, the first logged out", all, ids)
				}
				if none, err := accounts.UserSessions(ctx, db, w.uma.String()); err != nil || none == nil || len(none) != 0 {
					t.Errorf("UserSessions(uma) = %v, %v, want an empty list", none, err)
				}
				got = nil
				var before accounts.Session
				for range 3 {
					page, err := accounts.SessionsBefore(ctx, db, w.mary.String(), before.StartedAt, before.SessionID, 2)
					if err != nil {
						return err
					}
					if len(page) == 0 {
						break
					}
					got = append(got, page[0].SessionID)
					before = page[0]
				}
				if !slices.Equal(got, ids) {
					t.Errorf("SessionsBefore, one at a time = %q, want %q", got, ids)
				}
				return nil
			})
		})
	}
}
