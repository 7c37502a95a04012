package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// The access table: every role against every endpoint that reads or
// changes another user's or organisation's data. A refused change must
// leave the log untouched; a read that is allowed must show its target only
// to the roles that may see it.

// outcome is what a role gets from an endpoint.
type outcome struct {
	status int
	code   string // of an error answer
	sees   bool   // a 2xx read shows the target
}

var (
	sees       = outcome{status: http.StatusOK, sees: true}
	blind      = outcome{status: http.StatusOK} // 200, but without the target
	changed    = outcome{status: http.StatusOK}
	created    = outcome{status: http.StatusCreated}
	forbidden  = outcome{status: http.StatusForbidden, code: "forbidden"}
	mustChange = outcome{status: http.StatusForbidden, code: "password_change_required"}
	notFound   = outcome{status: http.StatusNotFound, code: "not_found"}
	unauth     = outcome{status: http.StatusUnauthorized, code: "unauthenticated"}
)

func (o outcome) refused() bool { return o.status >= 400 }

// The roles, in the order of the table's columns.
const (
	roleStandardA = iota
	roleApproverA
	roleApproverB
	roleSupport
	roleGenericA
	roleDeactivated
	roleLocked
	roleExpired
	roleAnonymous
	roleCount
)

var roleNames = [roleCount]string{
	"StandardA", "ApproverA", "ApproverB", "Support", "GenericA", "Deactivated", "Locked", "ExpiredPassword", "Anonymous",
}

// target is what one cell of the table acts on.
type target struct {
	path   string
	body   any
	stream string // the stream a change would append to ("" for reads)
	marker string // what a read that sees the target shows
}

// endpoint is a row of the table.
type endpoint struct {
	name   string
	method string
	// target prepares the cell's target: changes get a fresh one each, so
	// that an allowed change does not alter what the next role finds.
	target func(t *testing.T, w *roleWorld) target
	want   [roleCount]outcome
}

var endpoints = []endpoint{
	{"ListApprovals", http.MethodGet, func(t *testing.T, w *roleWorld) target {
		return target{path: "/api/v1/approvals", marker: w.pendingA.RequestID.String()}
	}, [roleCount]outcome{blind, sees, blind, sees, blind, unauth, unauth, sees, unauth}},

	{"DecideARequestOfA", http.MethodPost, func(t *testing.T, w *roleWorld) target {
		reg := w.register(registration("Dana Cide", w.email("dana.cide"), orgA.loc(0)))
		return target{
			path:   fmt.Sprintf("/api/v1/users/%s/access-requests/%s/organisations/%s/decision", reg.UserID, reg.RequestID, orgA.ID),
			body:   map[string]string{"decision": "approve"},
			stream: account.UserStream(reg.UserID),
		}
	}, [roleCount]outcome{forbidden, changed, forbidden, changed, forbidden, unauth, unauth, mustChange, unauth}},

	{"ListTheUsersOfA", http.MethodGet, func(t *testing.T, w *roleWorld) target {
		return target{path: "/api/v1/organisations/" + orgA.ID + "/users", marker: w.standardA.ID.String()}
	}, [roleCount]outcome{forbidden, sees, forbidden, sees, forbidden, unauth, unauth, sees, unauth}},

	{"ReadStandardA", http.MethodGet, func(t *testing.T, w *roleWorld) target {
		return target{path: "/api/v1/users/" + w.standardA.ID.String(), marker: w.standardA.Email}
	}, [roleCount]outcome{sees, sees, notFound, sees, notFound, unauth, unauth, sees, unauth}},

	{"DeactivateAStandardUserOfA", http.MethodPost, func(t *testing.T, w *roleWorld) target {
		u := w.freshStandardA(t)
		return target{path: "/api/v1/users/" + u.String() + "/deactivate", body: map[string]string{"reason": "left"}, stream: account.UserStream(u)}
	}, [roleCount]outcome{notFound, changed, notFound, changed, notFound, unauth, unauth, mustChange, unauth}},

	{"ChangeTheTypeOfAStandardUserOfA", http.MethodPut, func(t *testing.T, w *roleWorld) target {
		u := w.freshStandardA(t)
		return target{path: "/api/v1/users/" + u.String() + "/user-type", body: map[string]string{"user_type": "approver"}, stream: account.UserStream(u)}
	}, [roleCount]outcome{notFound, changed, notFound, changed, notFound, unauth, unauth, mustChange, unauth}},

	{"ListTheSessionsOfStandardA", http.MethodGet, func(t *testing.T, w *roleWorld) target {
		return target{path: "/api/v1/users/" + w.standardA.ID.String() + "/sessions", marker: w.standardASession}
	}, [roleCount]outcome{sees, notFound, notFound, sees, notFound, unauth, unauth, notFound, unauth}},

	{"RegisterAnOrganisation", http.MethodPost, func(t *testing.T, w *roleWorld) target {
		id := w.id("1-9")
		return target{path: "/api/v1/organisations", body: map[string]string{"organisation_id": id, "name": "New Care Ltd", "type": "care_home"},
			stream: location.OrganisationStream(id)}
	}, [roleCount]outcome{forbidden, forbidden, forbidden, created, forbidden, unauth, unauth, mustChange, unauth}},

	{"RegisterALocationOfA", http.MethodPost, func(t *testing.T, w *roleWorld) target {
		id := w.id("1-8")
		return target{path: "/api/v1/locations", body: map[string]string{"location_id": id, "organisation_id": orgA.ID,
			"name": "Rosehill Annexe", "postcode": "SR2 7JY", "town": "Sunderland"}, stream: location.LocationStream(id)}
	}, [roleCount]outcome{forbidden, forbidden, forbidden, created, forbidden, unauth, unauth, mustChange, unauth}},

	{"CreateAGenericAccountOfA", http.MethodPost, func(t *testing.T, w *roleWorld) target {
		email := w.email("office")
		return target{path: "/api/v1/generic-accounts", body: map[string]any{"email": email, "display_name": "Thorndale Office",
			"organisation_id": orgA.ID, "location_ids": []string{orgA.loc(1)}}, stream: account.EmailStream(account.MustEmail(email))}
	}, [roleCount]outcome{forbidden, forbidden, forbidden, created, forbidden, unauth, unauth, mustChange, unauth}},

	{"ReadTheDashboardOfA", http.MethodGet, func(t *testing.T, w *roleWorld) target {
		return target{path: "/api/v1/organisations/" + orgA.ID + "/dashboard", marker: orgA.Name}
	}, [roleCount]outcome{sees, sees, forbidden, sees, sees, unauth, unauth, sees, unauth}},
}

// roleWorld is a world with a logged-in (or refused) client per role.
type roleWorld struct {
	*world
	clients          map[int]*client
	standardASession string
	n                int
}

// id is a new location or organisation id.
func (w *roleWorld) id(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%08d", prefix, w.n)
}

// email is a new address.
func (w *roleWorld) email(local string) string {
	w.n++
	return fmt.Sprintf("%s.%d@rosehill.example.org", local, w.n)
}

// freshStandardA is a new active Standard user of A, approved by support
// through the commands (the roles' own sessions may not be able to).
func (w *roleWorld) freshStandardA(t *testing.T) uuid.UUID {
	t.Helper()
	reg := w.register(registration("Tara Get", w.email("tara.get"), orgA.loc(0)))
	if _, err := w.accounts.DecideAccess(context.Background(), commands.System("test"), reg.UserID, reg.RequestID, orgA.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	return reg.UserID
}

// newRoleWorld logs in the roles of a world. In the expired world the
// clock has passed the fixture passwords' expiry, and the only role is
// approverA with its expired password; the other world has every other
// role.
func newRoleWorld(t *testing.T, backend string, expired bool) *roleWorld {
	t.Helper()
	w := &roleWorld{world: newWorld(t, backend), clients: map[int]*client{}}
	if expired {
		w.clock.Advance(366 * 24 * time.Hour)
		c := w.newClient()
		var lb loginBody
		c.login(w.approverA.Email, w.approverA.Password, false).want(http.StatusCreated).decode(&lb)
		if !lb.PasswordChangeRequired {
			t.Fatalf("login after a year = %+v, want password_change_required", lb)
		}
		w.clients[roleExpired] = c
	} else {
		w.clients[roleApproverA] = w.loginAs(w.approverA)
		w.clients[roleApproverB] = w.loginAs(w.approverB)
		w.clients[roleSupport] = w.loginAs(w.support)

		g := w.newClient()
		g.login(w.genericA.Email, w.genericA.Password, false).want(http.StatusCreated)
		g.post("/api/v1/sessions/current/disclaimer", nil).want(http.StatusOK)
		pw := newPassword()
		w.secrets.add("password", pw)
		g.post("/api/v1/me/password", map[string]string{"current_password": w.genericA.Password, "new_password": pw}).want(http.StatusOK)
		w.clients[roleGenericA] = g

		// A session taken before the account was deactivated.
		leaver := w.activeUser(w.clients[roleApproverA], "Dee Parted", "dee.parted@rosehill.example.org", orgA.ID, orgA.loc(0))
		d := w.loginAs(leaver)
		w.clients[roleApproverA].post("/api/v1/users/"+leaver.ID.String()+"/deactivate", nil).want(http.StatusOK)
		w.clients[roleDeactivated] = d

		// The locked account cannot log in, even with its password.
		l := w.newClient()
		l.login(w.locked.Email, w.locked.Password, false).wantError(http.StatusUnauthorized, "login_failed")
		w.clients[roleLocked] = l

		w.clients[roleAnonymous] = w.newClient()
	}
	s := w.newClient()
	s.login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated)
	w.standardASession = s.sessionID
	if !expired {
		w.clients[roleStandardA] = s
	}
	w.sync(w.last())
	return w
}

func TestRoles_NoRoleReadsOrChangesWhatItShouldNot(t *testing.T) {
	t.Parallel()
	for _, backend := range projtest.Backends() {
		for _, expired := range []bool{false, true} {
			name := backend + "/current"
			if expired {
				name = backend + "/a_year_later"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := newRoleWorld(t, backend, expired)
				for _, ep := range endpoints {
					for role := range roleCount {
						c, ok := w.clients[role]
						if !ok {
							continue
						}
						w.run(t, ep.name+"/"+roleNames[role], func(t *testing.T) {
							checkCell(t, w, ep, role, c)
						})
					}
				}
			})
		}
	}
}

func checkCell(t *testing.T, w *roleWorld, ep endpoint, role int, c *client) {
	tg := ep.target(t, w)
	want := ep.want[role]
	count := w.eventCount()
	var version int64
	if tg.stream != "" {
		version = w.version(tg.stream)
	}

	r := c.do(ep.method, tg.path, tg.body)
	if want.refused() {
		r.wantError(want.status, want.code)
	} else {
		r.want(want.status)
	}

	switch {
	case tg.stream == "":
		w.unchanged(ep.name+" (a read)", count)
		if shows := bytes.Contains(r.body, []byte(tg.marker)); r.status < 300 && shows != want.sees {
			t.Errorf("%s as %s shows %q: %v, want %v (%s)", ep.name, roleNames[role], tg.marker, shows, want.sees, r.body)
		}
	case want.refused():
		w.unchanged(ep.name+" refused", count)
		if v := w.version(tg.stream); v != version {
			t.Errorf("refused %s moved %s from version %d to %d", ep.name, tg.stream, version, v)
		}
	default:
		if v := w.version(tg.stream); v <= version {
			t.Errorf("allowed %s left %s at version %d", ep.name, tg.stream, v)
		}
	}
}
