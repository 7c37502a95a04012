package queries_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	accountviews "github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

// accounts is one backend with the account projections running, and the
// events of a small world of organisations, locations and users appended
// to its log as the commands would append them.
type accounts struct {
	*projtest.World
	t *testing.T
	q queries.Service

	orgOf    map[string]string                    // location -> organisation
	requests map[uuid.UUID]map[string][]string    // request -> organisation -> locations
	status   map[uuid.UUID]account.Status         // user -> status
	sessions map[uuid.UUID]map[uuid.UUID]struct{} // user -> sessions
}

// accountProjections are the account views with the location directory,
// whose organisations and locations they name.
func accountProjections() []projections.Projection {
	return append([]projections.Projection{directory.Projection{}}, accountviews.Projections()...)
}

func newAccounts(t *testing.T, bc backendCase, projs ...projections.Projection) *accounts {
	t.Helper()
	if len(projs) == 0 {
		projs = accountProjections()
	}
	w := projtest.NewWorld(t, bc.name, projs...)
	return &accounts{
		World: w, t: t,
		q:        queries.Service{ReadModels: w.ReadModels, Waiter: w.Engine},
		orgOf:    map[string]string{},
		requests: map[uuid.UUID]map[string][]string{},
		status:   map[uuid.UUID]account.Status{},
		sessions: map[uuid.UUID]map[uuid.UUID]struct{}{},
	}
}

// eachAccountsBackend runs fn on every backend, in parallel.
func eachAccountsBackend(t *testing.T, fn func(t *testing.T, a *accounts)) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newAccounts(t, bc))
		})
	}
}

// emit appends events to a stream in one append, JSON-encoded, with the
// personal fields of account events sealed under the stream's user.
func (a *accounts) emit(stream string, md eventstore.Metadata, evs ...any) {
	a.t.Helper()
	if md.Command == "" {
		md.Command = "test"
	}
	data := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		var typ string
		var personal []eventstore.PersonalField
		switch e := ev.(type) {
		case location.OrganisationRegistered:
			typ = location.TypeOrganisationRegistered
		case location.LocationRegistered:
			typ = location.TypeLocationRegistered
		case account.Event:
			typ = e.EventType()
			if p, ok := e.(account.PersonalData); ok {
				for _, path := range p.PersonalPaths() {
					personal = append(personal, eventstore.PersonalField{Path: path, Subject: stream})
				}
			}
		default:
			a.t.Fatalf("no event type for %T", ev)
		}
		d, err := eventstore.NewEvent(typ, ev, md, personal...)
		if err != nil {
			a.t.Fatal(err)
		}
		data[i] = d
	}
	a.Append(stream, data...)
}

func (a *accounts) organisation(id, name string) {
	a.emit(location.OrganisationStream(id), eventstore.Metadata{},
		location.OrganisationRegistered{OrganisationID: id, Name: name, Type: location.CareHome})
}

func (a *accounts) location(id, org, name, postcode, localAuthority, ccg string) {
	a.orgOf[id] = org
	a.emit(location.LocationStream(id), eventstore.Metadata{}, location.LocationRegistered{
		LocationID: id, OrganisationID: org, Name: name, AddressLine1: "1 High Street", Town: "Town",
		Postcode: postcode, LocalAuthority: localAuthority, CCG: ccg,
	})
}

func (a *accounts) grants(locations []string) []account.LocationGrant {
	out := make([]account.LocationGrant, len(locations))
	for i, l := range locations {
		out[i] = account.LocationGrant{LocationID: l, OrganisationID: a.orgOf[l]}
	}
	return out
}

func (a *accounts) remember(request uuid.UUID, locations []string) {
	parts := map[string][]string{}
	for _, l := range locations {
		parts[a.orgOf[l]] = append(parts[a.orgOf[l]], l)
	}
	a.requests[request] = parts
}

// register is a self-registration for locations: the user and the request.
func (a *accounts) register(role account.Role, name string, locations ...string) (user, request uuid.UUID) {
	user, request = uuid.New(), uuid.New()
	a.remember(request, locations)
	a.status[user] = account.Pending
	a.emit(account.UserStream(user), eventstore.Metadata{},
		account.UserRegistered{
			UserID: user, Email: strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.nhs.uk", FullName: name,
			Phone: "0191 000 0000", JobTitle: "Manager", Role: role, OrganisationType: string(location.CareHome),
			TermsAccepted: true,
		},
		account.AccessRequested{RequestID: request, Locations: a.grants(locations), Via: "registration", DeclarationAccepted: true})
	return user, request
}

// requestAccess is My Access.
func (a *accounts) requestAccess(user uuid.UUID, locations ...string) uuid.UUID {
	request := uuid.New()
	a.remember(request, locations)
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: user.String()},
		account.AccessRequested{RequestID: request, Locations: a.grants(locations), Via: "my_access", DeclarationAccepted: true})
	return request
}

func (a *accounts) importManager(locationID, name string) uuid.UUID {
	user := uuid.New()
	a.status[user] = account.Active
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: "system"},
		account.RegisteredManagerImported{UserID: user, Email: strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.org",
			FullName: name, LocationID: locationID, OrganisationID: a.orgOf[locationID]},
		account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkSetPassword, ExpiresAt: time.Now().Add(72 * time.Hour)})
	return user
}

func (a *accounts) support(name string) uuid.UUID {
	user := uuid.New()
	a.status[user] = account.Active
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: "system"},
		account.SupportUserCreated{UserID: user, Email: "support." + strings.ToLower(name) + "@nhs.net", FullName: name})
	return user
}

func (a *accounts) generic(org, name string, locations ...string) uuid.UUID {
	user := uuid.New()
	a.status[user] = account.Active
	a.emit(account.UserStream(user), eventstore.Metadata{},
		account.GenericAccountCreated{UserID: user, Email: "shared." + org + "@example.org", DisplayName: name,
			OrganisationID: org, Locations: a.grants(locations)})
	return user
}

// approve approves an organisation's part of a request, as DecideAccess
// does: the first approval of a pending user activates them.
func (a *accounts) approve(actor, user, request uuid.UUID, org string) {
	evs := []any{account.AccessApproved{RequestID: request, OrganisationID: org, LocationIDs: a.requests[request][org]}}
	if a.status[user] == account.Pending {
		a.status[user] = account.Active
		evs = append(evs, account.UserApproved{},
			account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkSetPassword, ExpiresAt: time.Now().Add(72 * time.Hour)})
	}
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: actor.String()}, evs...)
}

// reject rejects an organisation's part of a request; rejecting the last
// open part of a pending registration rejects the registration.
func (a *accounts) reject(actor, user, request uuid.UUID, org string, last bool) {
	evs := []any{account.AccessRejected{RequestID: request, OrganisationID: org, LocationIDs: a.requests[request][org], Reason: "not known here"}}
	if last && a.status[user] == account.Pending {
		a.status[user] = account.Rejected
		evs = append(evs, account.RegistrationRejected{})
	}
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: actor.String()}, evs...)
}

func (a *accounts) deactivate(actor, user uuid.UUID) {
	a.status[user] = account.Deactivated
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: actor.String()}, account.UserDeactivated{Reason: "leaver"})
}

func (a *accounts) reactivate(actor, user uuid.UUID) {
	a.status[user] = account.Active
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: actor.String()}, account.UserReactivated{})
}

func (a *accounts) changeRole(actor, user uuid.UUID, from, to account.Role) {
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: actor.String()}, account.RoleChanged{From: from, To: to})
}

func (a *accounts) setPassword(user uuid.UUID, expires time.Time) {
	a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: user.String()},
		account.PasswordSet{Via: account.SetByLink, LinkID: uuid.New(), ExpiresAt: expires})
}

func (a *accounts) login(user uuid.UUID, ip string) uuid.UUID {
	session := uuid.New()
	a.emit(account.LoginStream(user), eventstore.Metadata{ActorUserID: user.String(), ClientIP: ip, UserAgent: "Firefox/140"},
		account.LoginSucceeded{SessionID: session, ExpiresAt: time.Now().Add(8 * time.Hour)})
	return session
}

// scan reads one row; it reports whether there was one.
func (a *accounts) scan(query string, args []any, dest ...any) bool {
	a.t.Helper()
	found := false
	err := a.ReadModels.Query(context.Background(), func(db projections.Querier) error {
		rows, err := db.QueryContext(context.Background(), query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			found = true
			if err := rows.Scan(dest...); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		a.t.Fatalf("%s: %v", query, err)
	}
	return found
}

// userRow is a row of the users table.
type userRow struct {
	email, fullName, role, kind, status       string
	optIn, mustChange                         bool
	registered, approved, deactivated         projections.Timestamp
	lastLogin, lockedUntil, passwordExpiresAt projections.Timestamp
}

func (a *accounts) userRow(user uuid.UUID) userRow {
	a.t.Helper()
	var r userRow
	if !a.scan(`SELECT email, full_name, role, kind, status, communications_opt_in, must_change_password,
    registered_at, approved_at, deactivated_at, last_login_at, locked_until, password_expires_at
FROM users WHERE user_id = ?`, []any{user.String()},
		&r.email, &r.fullName, &r.role, &r.kind, &r.status, &r.optIn, &r.mustChange,
		&r.registered, &r.approved, &r.deactivated, &r.lastLogin, &r.lockedUntil, &r.passwordExpiresAt) {
		a.t.Fatalf("no users row for %s", user)
	}
	return r
}

// requestRow is a row of access_requests.
type requestRow struct {
	status, decidedBy, role, userStatus, locationIDs, email string
	decidedAt                                               projections.Timestamp
}

func (a *accounts) requestRow(request uuid.UUID, org string) requestRow {
	a.t.Helper()
	var r requestRow
	if !a.scan(`SELECT status, decided_by, role, user_status, location_ids, email, decided_at
FROM access_requests WHERE request_id = ? AND organisation_id = ?`, []any{request.String(), org},
		&r.status, &r.decidedBy, &r.role, &r.userStatus, &r.locationIDs, &r.email, &r.decidedAt) {
		a.t.Fatalf("no access_requests row for %s/%s", request, org)
	}
	return r
}

func (a *accounts) userLocations(user uuid.UUID) []string {
	a.t.Helper()
	var out []string
	err := a.ReadModels.Query(context.Background(), func(db projections.Querier) error {
		rows, err := db.QueryContext(context.Background(),
			`SELECT location_id, organisation_id FROM user_locations WHERE user_id = ? ORDER BY location_id`, user.String())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l, o string
			if err := rows.Scan(&l, &o); err != nil {
				return err
			}
			out = append(out, l+"@"+o)
		}
		return rows.Err()
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

func (a *accounts) approvers(org string) int {
	a.t.Helper()
	d, err := a.q.OrganisationDashboard(context.Background(), queries.Viewer{Support: true}, org, a.Last())
	if err != nil {
		a.t.Fatalf("dashboard of %s: %v", org, err)
	}
	return d.ActiveApprovers
}

// world is two organisations: A with locations a1, a2 and B with b1.
func (a *accounts) world() {
	a.organisation("A", "Acorn Care Ltd")
	a.organisation("B", "Birch Homes")
	a.organisation("C", "Cedar Group")
	a.location("a1", "A", "Acorn House", "SW1A 1AA", "Westminster", "NHS North West London CCG")
	a.location("a2", "A", "Acorn Lodge", "sw1a 2aa", "Westminster", "NHS North West London CCG")
	a.location("b1", "B", "Birch Court", "NE1 4XD", "Newcastle upon Tyne", "NHS Newcastle Gateshead CCG")
	a.location("c1", "C", "Cedar View", "NE1 4XF", "Newcastle upon Tyne", "NHS Newcastle Gateshead CCG")
}

func TestAccountProjections_FollowARegistrationFromRequestToRoleChange(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		manager := a.importManager("a1", "Mary Manager")
		ops := a.support("Sam")
		user, request := a.register(account.Approver, "Uma User", "a1", "b1")
		a.Sync()

		r := a.userRow(user)
		if r.status != "pending" || r.role != "approver" || r.kind != "personal" || r.email != "uma.user@example.nhs.uk" ||
			r.registered.IsZero() || !r.approved.IsZero() {
			t.Fatalf("registered user row %+v: want pending approver, registered, not approved", r)
		}
		if got := a.userLocations(user); len(got) != 0 {
			t.Fatalf("a pending user has locations %v, want none", got)
		}
		for _, org := range []string{"A", "B"} {
			if rr := a.requestRow(request, org); rr.status != "pending" || rr.role != "approver" || rr.email != "uma.user@example.nhs.uk" {
				t.Fatalf("request part %s: %+v, want pending with the requester's details", org, rr)
			}
		}
		if got := a.requestRow(request, "A").locationIDs; got != `["a1"]` {
			t.Errorf("part A's location_ids = %s, want [\"a1\"]", got)
		}
		if n := a.approvers("A"); n != 1 {
			t.Errorf("A has %d approvers while the registration is pending, want 1 (the imported manager)", n)
		}

		a.approve(manager, user, request, "A")
		expires := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
		a.setPassword(user, expires)
		a.Sync()
		r = a.userRow(user)
		if r.status != "active" || r.approved.IsZero() || !r.passwordExpiresAt.Equal(expires) {
			t.Fatalf("approved user row %+v: want active, approved, password expiring at %v", r, expires)
		}
		if got := a.userLocations(user); !slices.Equal(got, []string{"a1@A"}) {
			t.Fatalf("user locations after A's approval: %v, want [a1@A]", got)
		}
		if rr := a.requestRow(request, "A"); rr.status != "approved" || rr.decidedBy != manager.String() || rr.decidedAt.IsZero() {
			t.Fatalf("approved part: %+v, want approved by %s", rr, manager)
		}
		if rr := a.requestRow(request, "B"); rr.status != "pending" || rr.userStatus != "active" {
			t.Fatalf("B's part after A's approval: %+v, want pending for an active user", rr)
		}
		if n := a.approvers("A"); n != 2 {
			t.Errorf("A has %d approvers after the approval, want 2", n)
		}

		first := a.login(user, "192.0.2.1")
		until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		a.emit(account.LoginStream(user), eventstore.Metadata{},
			account.LoginFailed{Reason: account.FailWrongPassword, Consecutive: 5},
			account.AccountLocked{Until: until, Failures: 5})
		a.Sync()
		r = a.userRow(user)
		if r.lastLogin.IsZero() || !r.lockedUntil.Equal(until) {
			t.Fatalf("after a login and a lockout: %+v, want last login and locked until %v", r, until)
		}
		a.emit(account.LoginStream(user), eventstore.Metadata{}, account.AccountUnlocked{Reason: "password_reset"})
		second := a.login(user, "192.0.2.2")
		a.emit(account.LoginStream(user), eventstore.Metadata{}, account.LoggedOut{SessionID: first})
		a.Sync()
		if r = a.userRow(user); !r.lockedUntil.IsZero() {
			t.Fatalf("unlocked user is locked until %v", r.lockedUntil)
		}
		self := queries.Viewer{UserID: user.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}}
		sessions, err := a.q.Sessions(ctx, self, user.String(), a.Last())
		if err != nil {
			t.Fatal(err)
		}
		if len(sessions) != 2 || sessions[0].SessionID != second.String() || sessions[0].EndedAt != nil ||
			sessions[1].EndReason != "logout" || sessions[1].ClientIP != "192.0.2.1" || sessions[1].UserAgent != "Firefox/140" {
			t.Fatalf("sessions %+v: want the second open, the first logged out", sessions)
		}

		a.deactivate(manager, user)
		a.Sync()
		r = a.userRow(user)
		if r.status != "deactivated" || r.deactivated.IsZero() {
			t.Fatalf("deactivated user row %+v", r)
		}
		sessions, err = a.q.Sessions(ctx, queries.Viewer{UserID: ops.String(), Support: true}, user.String(), a.Last())
		if err != nil {
			t.Fatal(err)
		}
		if sessions[0].EndReason != "deactivated" || sessions[0].EndedAt == nil || sessions[1].EndReason != "logout" {
			t.Fatalf("sessions after deactivation %+v: want the open one ended by the deactivation, the other untouched", sessions)
		}
		if n := a.approvers("A"); n != 1 {
			t.Errorf("A has %d approvers after the deactivation, want 1", n)
		}
		if got := a.requestRow(request, "B").userStatus; got != "deactivated" {
			t.Errorf("B's part has user_status %s, want deactivated", got)
		}

		a.reactivate(manager, user)
		a.Sync()
		if r = a.userRow(user); r.status != "active" || !r.deactivated.IsZero() {
			t.Fatalf("reactivated user row %+v: want active, no deactivation time", r)
		}
		if n := a.approvers("A"); n != 2 {
			t.Errorf("A has %d approvers after the reactivation, want 2", n)
		}

		a.changeRole(manager, user, account.Approver, account.Standard)
		a.Sync()
		if r = a.userRow(user); r.role != "standard" {
			t.Fatalf("role after the change: %s, want standard", r.role)
		}
		if got := a.requestRow(request, "B").role; got != "standard" {
			t.Errorf("B's part shows role %s, want the current role standard", got)
		}
		if n := a.approvers("A"); n != 1 {
			t.Errorf("A has %d approvers after the role change, want 1", n)
		}
	})
}

func TestApproverCounts_FollowEveryTransition(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		a.world()
		ops := a.support("Sam")
		var manager, user, standard, other uuid.UUID
		var request, standardRequest, otherRequest uuid.UUID
		steps := []struct {
			name string
			do   func()
			want map[string]int // organisation -> active approvers
		}{
			{"an organisation nobody joined has none", func() {}, map[string]int{"A": 0, "B": 0, "C": 0}},
			{"an imported registered manager counts", func() { manager = a.importManager("a1", "Mary Manager") },
				map[string]int{"A": 1, "B": 0}},
			{"a pending Approver does not count", func() { user, request = a.register(account.Approver, "Uma User", "a2", "b1") },
				map[string]int{"A": 1, "B": 0}},
			{"the approval counts them in the approving organisation only", func() { a.approve(manager, user, request, "A") },
				map[string]int{"A": 2, "B": 0}},
			{"a later approval of a new organisation counts there too", func() { a.approve(ops, user, request, "B") },
				map[string]int{"A": 2, "B": 1}},
			{"deactivation removes them everywhere", func() { a.deactivate(manager, user) },
				map[string]int{"A": 1, "B": 0}},
			{"reactivation brings them back", func() { a.reactivate(manager, user) },
				map[string]int{"A": 2, "B": 1}},
			{"a move to Standard removes them", func() { a.changeRole(manager, user, account.Approver, account.Standard) },
				map[string]int{"A": 1, "B": 0}},
			{"a move back to Approver counts them again", func() { a.changeRole(manager, user, account.Standard, account.Approver) },
				map[string]int{"A": 2, "B": 1}},
			{"an approved Standard user does not count", func() {
				standard, standardRequest = a.register(account.Standard, "Stan Dard", "a1")
				a.approve(manager, standard, standardRequest, "A")
			}, map[string]int{"A": 2}},
			{"a Standard user promoted to Approver counts", func() { a.changeRole(manager, standard, account.Standard, account.Approver) },
				map[string]int{"A": 3}},
			{"a generic account and support do not count", func() { a.generic("A", "Acorn House office", "a1", "a2") },
				map[string]int{"A": 3}},
			{"a rejected Approver registration does not count", func() {
				other, otherRequest = a.register(account.Approver, "Olly Other", "c1")
				a.reject(ops, other, otherRequest, "C", true)
			}, map[string]int{"C": 0}},
			{"deactivating an Approver of two organisations removes them from both", func() { a.deactivate(ops, user) },
				map[string]int{"A": 2, "B": 0}},
			{"an active Approver granted a location of a new organisation counts there", func() {
				r := a.requestAccess(manager, "c1")
				a.approve(ops, manager, r, "C")
			}, map[string]int{"A": 2, "B": 0, "C": 1}},
		}
		for _, s := range steps {
			s.do()
			a.Sync()
			for org, want := range s.want {
				if got := a.approvers(org); got != want {
					t.Errorf("%s: organisation %s has %d active approvers, want %d", s.name, org, got, want)
				}
			}
		}
		d, err := a.q.OrganisationDashboard(context.Background(), queries.Viewer{Support: true}, "B", a.Last())
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "Birch Homes" || d.ActiveApprovers != 0 || !d.NeedsMoreApprovers {
			t.Errorf("dashboard of B: %+v, want Birch Homes, no approvers, needs more", d)
		}
	})
}

func TestPendingApprovals_SupportSeesAllApproversTheirOrganisationsOthersNothing(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		ops := a.support("Sam")
		managerA := a.importManager("a1", "Mary Manager")
		managerB := a.importManager("b1", "Bob Boss")
		user, request := a.register(account.Standard, "Uma User", "a1", "a2", "b1", "c1")
		staff, staffRequest := a.register(account.Standard, "Stan Dard", "a1")
		a.approve(managerA, staff, staffRequest, "A")
		a.Sync()

		parts := func(v queries.Viewer) []string {
			t.Helper()
			got, err := a.q.PendingApprovals(ctx, v, a.Last())
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range got {
				if p.RequestID != request.String() || p.UserID != user.String() || p.FullName != "Uma User" || p.JobTitle != "Manager" {
					t.Errorf("pending part %+v: want Uma's request with her details", p)
				}
				out = append(out, fmt.Sprintf("%s:%s:%v:%v", p.OrganisationID, p.OrganisationName, p.LocationIDs, p.NoActiveApprover))
			}
			sort.Strings(out)
			return out
		}
		support := queries.Viewer{UserID: ops.String(), Support: true}
		approverA := queries.Viewer{UserID: managerA.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}}
		approverB := queries.Viewer{UserID: managerB.String(), ApproverOf: []string{"B"}, Locations: []string{"b1"}}
		standardA := queries.Viewer{UserID: staff.String(), Locations: []string{"a1"}}
		cases := []struct {
			viewer string
			v      queries.Viewer
			want   []string
		}{
			{"support", support, []string{"A:Acorn Care Ltd:[a1 a2]:false", "B:Birch Homes:[b1]:false", "C:Cedar Group:[c1]:true"}},
			{"approver of A", approverA, []string{"A:Acorn Care Ltd:[a1 a2]:false"}},
			{"approver of B", approverB, []string{"B:Birch Homes:[b1]:false"}},
			{"standard user of A", standardA, nil},
			{"nobody", queries.Viewer{}, nil},
		}
		for _, c := range cases {
			if got := parts(c.v); !slices.Equal(got, c.want) {
				t.Errorf("%s sees %v, want %v", c.viewer, got, c.want)
			}
		}

		a.approve(managerA, user, request, "A")
		a.reject(managerB, user, request, "B", false)
		a.Sync()
		if got, want := parts(support), []string{"C:Cedar Group:[c1]:true"}; !slices.Equal(got, want) {
			t.Errorf("after A approved and B rejected, support sees %v, want %v", got, want)
		}
		if got := parts(approverA); len(got) != 0 {
			t.Errorf("after A approved, A's approver sees %v, want nothing", got)
		}
		// A deactivated user's request cannot be decided: it is not listed
		// until the user is reactivated.
		a.deactivate(ops, user)
		a.Sync()
		if got := parts(support); len(got) != 0 {
			t.Errorf("support sees %v of a deactivated user, want nothing", got)
		}
		a.reactivate(ops, user)
		a.Sync()
		if got := parts(support); len(got) != 1 {
			t.Errorf("support sees %v after the reactivation, want C's part", got)
		}
	})
}

func TestUsers_ListedForSupportAndTheOrganisationsApproversOnly(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		ops := a.support("Sam")
		managerA := a.importManager("a1", "Mary Manager")
		managerB := a.importManager("b1", "Bob Boss")
		user, request := a.register(account.Standard, "Uma User", "a2", "b1")
		a.approve(managerA, user, request, "A")
		a.approve(managerB, user, request, "B")
		a.login(user, "192.0.2.9")
		a.Sync()

		support := queries.Viewer{UserID: ops.String(), Support: true}
		approverA := queries.Viewer{UserID: managerA.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}}
		approverB := queries.Viewer{UserID: managerB.String(), ApproverOf: []string{"B"}, Locations: []string{"b1"}}
		standard := queries.Viewer{UserID: user.String(), Locations: []string{"a2", "b1"}}

		for _, v := range []queries.Viewer{support, approverA} {
			got, err := a.q.Users(ctx, v, "A", a.Last())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].FullName != "Mary Manager" || got[1].FullName != "Uma User" {
				t.Fatalf("users of A for %+v: %+v, want Mary and Uma", v, got)
			}
			uma := got[1]
			if !slices.Equal(uma.Locations, []string{"a2"}) || uma.Email != "uma.user@example.nhs.uk" ||
				uma.Status != "active" || uma.Role != "standard" || uma.LastLoginAt == nil {
				t.Errorf("Uma in A's list: %+v, want her A location only, her details and last login", uma)
			}
		}
		for _, v := range []queries.Viewer{approverB, standard, {}} {
			if _, err := a.q.Users(ctx, v, "A", a.Last()); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("users of A for %+v: %v, want ErrForbidden", v, err)
			}
		}

		// Users with Access: details for approvers, names and roles for
		// the location's users.
		full, err := a.q.LocationUsers(ctx, approverA, "a1", a.Last())
		if err != nil {
			t.Fatal(err)
		}
		if len(full) != 1 || full[0].UserID != managerA.String() || full[0].Email == "" || full[0].Role != "approver" {
			t.Errorf("users of a1 for A's approver: %+v, want Mary with her details", full)
		}
		names, err := a.q.LocationUsers(ctx, standard, "a2", a.Last())
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 1 || !reflect.DeepEqual(names[0], queries.UserSummary{FullName: "Uma User", Role: "standard"}) {
			t.Errorf("users of a2 for its standard user: %+v, want names and roles only", names)
		}
		if _, err := a.q.LocationUsers(ctx, standard, "a1", a.Last()); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("users of a1 for a user without access: %v, want ErrForbidden", err)
		}
		if _, err := a.q.LocationUsers(ctx, approverB, "a1", a.Last()); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("users of a1 for B's approver: %v, want ErrForbidden", err)
		}
		if _, err := a.q.LocationUsers(ctx, support, "nowhere", a.Last()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("users of an unknown location: %v, want ErrNotFound", err)
		}

		// One user: self and support see every location, an Approver the
		// locations of their organisations.
		want := map[string][]string{"self": {"a2", "b1"}, "support": {"a2", "b1"}, "approver of A": {"a2"}, "approver of B": {"b1"}}
		for name, v := range map[string]queries.Viewer{"self": standard, "support": support, "approver of A": approverA, "approver of B": approverB} {
			got, err := a.q.User(ctx, v, user.String(), a.Last())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !slices.Equal(got.Locations, want[name]) || got.FullName != "Uma User" {
				t.Errorf("%s sees %+v, want locations %v", name, got, want[name])
			}
		}
		approverC := queries.Viewer{UserID: uuid.NewString(), ApproverOf: []string{"C"}}
		if _, err := a.q.User(ctx, approverC, user.String(), a.Last()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("an Approver of another organisation reads the user: %v, want ErrNotFound", err)
		}
		if _, err := a.q.User(ctx, support, uuid.NewString(), a.Last()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("an unknown user: %v, want ErrNotFound", err)
		}
		// An Approver of an organisation the user asked to join may read
		// them before deciding.
		a.requestAccess(user, "c1")
		a.Sync()
		if got, err := a.q.User(ctx, approverC, user.String(), a.Last()); err != nil || len(got.Locations) != 0 {
			t.Errorf("C's approver reads a user who asked to join C: %+v, %v; want the user without locations", got, err)
		}
	})
}

func TestSessions_ShownToTheUserAndSupportOnly(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		ops := a.support("Sam")
		manager := a.importManager("a1", "Mary Manager")
		generic := a.generic("A", "Acorn office", "a1")
		session := a.login(generic, "198.51.100.7")
		a.emit(account.LoginStream(generic), eventstore.Metadata{}, account.DisclaimerAcknowledged{SessionID: session})
		revoked := a.login(generic, "198.51.100.8")
		a.emit(account.LoginStream(generic), eventstore.Metadata{ActorUserID: ops.String()},
			account.SessionRevoked{SessionID: revoked, Reason: "support"})
		a.Sync()

		for name, v := range map[string]queries.Viewer{
			"self":    {UserID: generic.String(), Locations: []string{"a1"}},
			"support": {UserID: ops.String(), Support: true},
		} {
			got, err := a.q.Sessions(ctx, v, generic.String(), a.Last())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(got) != 2 {
				t.Fatalf("%s sees %d sessions, want 2", name, len(got))
			}
			byID := map[string]queries.SessionSummary{got[0].SessionID: got[0], got[1].SessionID: got[1]}
			if s := byID[session.String()]; s.DisclaimerAcknowledgedAt == nil || s.EndedAt != nil {
				t.Errorf("%s: acknowledged session %+v, want acknowledged and open", name, s)
			}
			if s := byID[revoked.String()]; s.EndReason != "revoked" || s.EndedAt == nil {
				t.Errorf("%s: revoked session %+v", name, s)
			}
		}
		for name, v := range map[string]queries.Viewer{
			"the organisation's approver": {UserID: manager.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}},
			"nobody":                      {},
		} {
			if _, err := a.q.Sessions(ctx, v, generic.String(), a.Last()); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("%s reads the sessions: %v, want ErrNotFound", name, err)
			}
		}
	})
}

func TestUserByEmail_FindsAUserForSupportOnly(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		ops := a.support("Sam")
		manager := a.importManager("a1", "Mary Manager")
		a.Sync()

		support := queries.Viewer{UserID: ops.String(), Support: true}
		got, err := a.q.UserByEmail(ctx, support, "mary.manager@example.org", a.Last())
		if err != nil || got.UserID != manager.String() || got.FullName != "Mary Manager" {
			t.Fatalf("support finds %+v, %v; want Mary Manager", got, err)
		}
		if _, err := a.q.UserByEmail(ctx, support, "nobody@example.org", a.Last()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("an unknown address: %v, want ErrNotFound", err)
		}
		approver := queries.Viewer{UserID: manager.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}}
		if _, err := a.q.UserByEmail(ctx, approver, "mary.manager@example.org", a.Last()); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("an Approver looks up an address: %v, want ErrForbidden", err)
		}
	})
}

func TestOrganisationDashboard_ForSupportAndTheOrganisationsUsers(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		a.importManager("a1", "Mary Manager")
		a.Sync()
		member := queries.Viewer{UserID: uuid.NewString(), Locations: []string{"b1", "a2"}}
		d, err := a.q.OrganisationDashboard(ctx, member, "A", a.Last())
		if err != nil {
			t.Fatal(err)
		}
		if d != (queries.Dashboard{OrganisationID: "A", Name: "Acorn Care Ltd", ActiveApprovers: 1, NeedsMoreApprovers: true}) {
			t.Errorf("dashboard %+v", d)
		}
		if _, err := a.q.OrganisationDashboard(ctx, member, "C", a.Last()); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("dashboard of another organisation: %v, want ErrForbidden", err)
		}
		if _, err := a.q.OrganisationDashboard(ctx, queries.Viewer{Support: true}, "Z", a.Last()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("dashboard of an unknown organisation: %v, want ErrNotFound", err)
		}
	})
}

func TestLocationsByPostcode_MatchesAnyCaseAndSpacing(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		a.Sync()
		for _, in := range []string{"SW1A 1AA", "sw1a1aa", "  Sw1A   1aA ", "SW1A\t1AA"} {
			got, err := a.q.LocationsByPostcode(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			want := []queries.LocationSummary{{LocationID: "a1", Name: "Acorn House", OrganisationID: "A", OrganisationName: "Acorn Care Ltd",
				Postcode: "SW1A 1AA", LocalAuthority: "Westminster", CCG: "NHS North West London CCG"}}
			if !slices.Equal(got, want) {
				t.Errorf("LocationsByPostcode(%q) = %+v, want %+v", in, got, want)
			}
		}
		// The event's postcode is kept as written; the search key is compact.
		if got, err := a.q.LocationsByPostcode(ctx, "SW1A 2AA"); err != nil || len(got) != 1 || got[0].LocationID != "a2" {
			t.Errorf("a location registered as %q: %+v, %v", "sw1a 2aa", got, err)
		}
		if got, err := a.q.LocationsByPostcode(ctx, "SW1A 1A"); err != nil || len(got) != 0 {
			t.Errorf("a partial postcode: %+v, %v; want no match", got, err)
		}
		var invalid *domain.ValidationError
		if _, err := a.q.LocationsByPostcode(ctx, "  "); !errors.As(err, &invalid) {
			t.Errorf("a blank postcode: %v, want a validation error", err)
		}
		l, ok, err := a.q.Location(ctx, "b1")
		if err != nil || !ok || l.Name != "Birch Court" || l.OrganisationName != "Birch Homes" {
			t.Errorf("Location(b1) = %+v, %v, %v", l, ok, err)
		}
		if _, ok, err := a.q.Location(ctx, "nowhere"); ok || err != nil {
			t.Errorf("Location(nowhere) = %v, %v; want not found", ok, err)
		}
	})
}

func TestSearchLocations_ByOneCriterionCaseInsensitivelyWithinTheLimit(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		a.Sync()
		ids := func(s queries.LocationSearch) []string {
			t.Helper()
			got, err := a.q.SearchLocations(ctx, s)
			if err != nil {
				t.Fatalf("search %+v: %v", s, err)
			}
			var out []string
			for _, l := range got {
				out = append(out, l.LocationID)
			}
			return out
		}
		cases := []struct {
			s    queries.LocationSearch
			want []string
		}{
			{queries.LocationSearch{Postcode: "ne1 4xd"}, []string{"b1"}},
			{queries.LocationSearch{LocalAuthority: "WESTMINSTER"}, []string{"a1", "a2"}},
			{queries.LocationSearch{LocalAuthority: " newcastle upon tyne "}, []string{"b1", "c1"}},
			{queries.LocationSearch{CCG: "nhs newcastle gateshead ccg"}, []string{"b1", "c1"}},
			{queries.LocationSearch{CCG: "nhs newcastle gateshead ccg", Limit: 1}, []string{"b1"}},
			{queries.LocationSearch{CCG: "NHS Newcastle"}, nil},
		}
		for _, c := range cases {
			if got := ids(c.s); !slices.Equal(got, c.want) {
				t.Errorf("search %+v = %v, want %v", c.s, got, c.want)
			}
		}
		for _, s := range []queries.LocationSearch{{}, {Postcode: "NE1 4XD", CCG: "x"}, {LocalAuthority: "a", CCG: "b"}} {
			var invalid *domain.ValidationError
			if _, err := a.q.SearchLocations(ctx, s); !errors.As(err, &invalid) {
				t.Errorf("search %+v: %v, want a validation error (exactly one criterion)", s, err)
			}
		}
	})
}

func TestPasswordsExpiringBefore_ListsActiveUsersWhosePasswordRunsOut(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		a.world()
		now := time.Now().UTC()
		soon := a.importManager("a1", "Soon Expiring")
		a.setPassword(soon, now.Add(5*24*time.Hour))
		later := a.importManager("a2", "Later Expiring")
		a.setPassword(later, now.Add(60*24*time.Hour))
		leaver := a.importManager("b1", "Left Already")
		a.setPassword(leaver, now.Add(2*24*time.Hour))
		a.deactivate(soon, leaver)
		a.importManager("c1", "No Password")
		a.Sync()
		got, err := a.q.PasswordsExpiringBefore(context.Background(), now.Add(14*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{soon.String()}) {
			t.Errorf("expiring within 14 days: %v, want only the active user %s", got, soon)
		}
	})
}

func TestAccounts_MinPositionBeyondTheViewsFailsWithNotCaughtUp(t *testing.T) {
	t.Parallel()
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			store, backend := bc.open(t)
			engine, err := projections.NewEngine(backend, slog.New(slog.NewTextHandler(io.Discard, nil)), accountProjections()...)
			if err != nil {
				t.Fatal(err)
			}
			// The engine is not running: the views never reach the write.
			pos := appendN(t, store, "user-1", 1)
			q := queries.Service{ReadModels: projections.NewReadModels(backend), Waiter: engine}
			if _, err := q.PendingApprovals(context.Background(), queries.Viewer{Support: true}, pos); !errors.Is(err, projections.ErrNotCaughtUp) {
				t.Fatalf("got %v, want ErrNotCaughtUp", err)
			}
		})
	}
}

// accountTables are the tables of the account projections with their
// columns, to compare whole tables.
var accountTables = map[string]string{
	"organisations":          "organisation_id, name, type",
	"locations":              "location_id, organisation_id, organisation_name, name, address_line1, town, postcode, postcode_compact, local_authority, ccg",
	"users":                  "user_id, email, full_name, phone, job_title, role, kind, status, organisation_type, communications_opt_in, home_organisation, registered_at, approved_at, deactivated_at, last_login_at, locked_until, password_expires_at, must_change_password, updated_at",
	"user_locations":         "user_id, location_id, organisation_id, full_name, granted_at",
	"access_requests":        "request_id, organisation_id, user_id, via, location_ids, status, reason, requested_at, decided_at, decided_by, email, full_name, job_title, phone, role, user_status",
	"approval_requesters":    "user_id, email, full_name, job_title, phone, role, status",
	"user_sessions":          "session_id, user_id, started_at, expires_at, remember_me, client_ip, user_agent, disclaimer_required, disclaimer_acknowledged_at, ended_at, end_reason",
	"organisation_approvers": "organisation_id, active_approvers",
	"approver_users":         "user_id, role, kind, status",
	"approver_memberships":   "user_id, organisation_id",
}

// dump reads every row of the account tables, as sorted text.
func (a *accounts) dump() map[string][]string {
	a.t.Helper()
	out := map[string][]string{}
	err := a.ReadModels.Query(context.Background(), func(db projections.Querier) error {
		for table, columns := range accountTables {
			rows, err := db.QueryContext(context.Background(), "SELECT "+columns+" FROM "+table)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			n := len(strings.Split(columns, ","))
			for rows.Next() {
				vals := make([]any, n)
				ptrs := make([]any, n)
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				out[table] = append(out[table], fmt.Sprint(vals...))
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			sort.Strings(out[table])
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

func TestAccountProjections_RebuildGivesTheSameRows(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		a.world()
		ops := a.support("Sam")
		manager := a.importManager("a1", "Mary Manager")
		user, request := a.register(account.Approver, "Uma User", "a2", "b1", "c1")
		a.approve(manager, user, request, "A")
		a.reject(ops, user, request, "B", false)
		a.setPassword(user, time.Now().Add(90*24*time.Hour))
		first := a.login(user, "192.0.2.1")
		a.login(user, "192.0.2.2")
		a.emit(account.LoginStream(user), eventstore.Metadata{}, account.LoggedOut{SessionID: first})
		a.emit(account.UserStream(user), eventstore.Metadata{ActorUserID: user.String()}, account.CommunicationsPreferenceChanged{OptIn: true})
		a.deactivate(manager, user)
		a.reactivate(ops, user)
		a.changeRole(manager, user, account.Approver, account.Standard)
		a.generic("A", "Acorn office", "a1", "a2")
		a.Sync()
		before := a.dump()
		for table, rows := range before {
			if len(rows) == 0 {
				t.Fatalf("table %s is empty: the scenario should fill every table", table)
			}
		}
		for _, p := range accountProjections() {
			if err := a.Engine.Rebuild(context.Background(), p.Name(), nil); err != nil {
				t.Fatalf("rebuild %s: %v", p.Name(), err)
			}
		}
		after := a.dump()
		for table := range accountTables {
			if !slices.Equal(before[table], after[table]) {
				t.Errorf("table %s after the rebuild:\n%s\nbefore:\n%s", table,
					strings.Join(after[table], "\n"), strings.Join(before[table], "\n"))
			}
		}
	})
}
