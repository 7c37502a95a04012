package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/history"
	"github.com/capacitytracker/capacity/domain/location"
)

// TestAuditorRole_SupportGrantsAndRevokesOverHTTP: support grants the
// auditor role to standardA (an AuditorRoleGranted event of their stream,
// recorded against support's login) and revokes it; Approvers, Standard
// users and anonymous callers are refused without a trace in the log; an
// unknown user is 404 and a deactivated one 422.
func TestAuditorRole_SupportGrantsAndRevokesOverHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		target := w.standardA.ID
		stream := account.UserStream(target)
		path := "/api/v1/users/" + target.String() + "/auditor"
		support := w.loginAs(w.support)
		approverA := w.loginAs(w.approverA)
		standard := w.loginAs(w.standardA)

		w.run(t, "Refused", func(t *testing.T) {
			before := w.version(stream)
			for name, c := range map[string]*client{"approver of the user's organisation": approverA, "the user themself": standard,
				"another organisation's approver": w.loginAs(w.approverB)} {
				c.post(path, nil).wantError(http.StatusForbidden, "forbidden")
				c.delete(path).wantError(http.StatusForbidden, "forbidden")
				// Whether a user exists is none of their business.
				c.post("/api/v1/users/"+uuid.NewString()+"/auditor", nil).wantError(http.StatusForbidden, "forbidden")
				if v := w.version(stream); v != before {
					t.Fatalf("%s: the user stream went from version %d to %d", name, before, v)
				}
			}
			anonymous := w.newClient()
			anonymous.post(path, nil).wantError(http.StatusUnauthorized, "unauthenticated")
			anonymous.delete(path).wantError(http.StatusUnauthorized, "unauthenticated")
			if v := w.version(stream); v != before {
				t.Fatalf("the user stream went from version %d to %d", before, v)
			}
			if meAuditor(standard) {
				t.Fatal("standardA is an auditor before any grant")
			}
		})

		w.run(t, "Granted", func(t *testing.T) {
			before := w.version(stream)
			var got commands.AuditorChanged
			support.post(path, nil).want(http.StatusOK).decode(&got)
			if got.UserID != target || !got.Auditor || got.Version != before+1 || got.Position == 0 {
				t.Fatalf("grant = %+v, want auditor at version %d", got, before+1)
			}
			evs := w.stream(stream)
			last := evs[len(evs)-1]
			if int64(len(evs)) != got.Version || last.Type != "AuditorRoleGranted" || last.Position != got.Position ||
				last.Metadata.ActorUserID != w.support.ID.String() || last.Metadata.SessionID != support.sessionID ||
				last.Metadata.Command != "GrantAuditorRole" {
				t.Fatalf("the user stream ends with %s %+v", last.Type, last.Metadata)
			}
			if !meAuditor(standard) {
				t.Fatal("GET /me: standardA is no auditor after the grant")
			}
			// The replay of the user stream shows the flag.
			var st history.State
			support.get("/api/v1/history/" + stream).want(http.StatusOK).decode(&st)
			if m, _ := st.State.(map[string]any); m["auditor"] != true {
				t.Fatalf("replay of %s = %+v", stream, st.State)
			}
			// Granted again: nothing appended.
			support.post(path, nil).want(http.StatusOK).decode(&got)
			if got.Position != 0 || got.Version != before+1 || w.version(stream) != before+1 {
				t.Fatalf("grant again = %+v, stream at version %d", got, w.version(stream))
			}
		})

		w.run(t, "AuditorReplaysAnotherOrganisation", func(t *testing.T) {
			other := "/api/v1/history/" + location.LocationStream(orgB.loc(0)) + "/timeline"
			standard.get(other).want(http.StatusOK)
			// The role gives no other power.
			standard.post("/api/v1/users/"+w.approverB.ID.String()+"/auditor", nil).wantError(http.StatusForbidden, "forbidden")
			w.loginAs(w.approverA).get(other).wantError(http.StatusForbidden, "forbidden")
		})

		w.run(t, "Revoked", func(t *testing.T) {
			before := w.version(stream)
			approverA.delete(path).wantError(http.StatusForbidden, "forbidden")
			var got commands.AuditorChanged
			support.delete(path).want(http.StatusOK).decode(&got)
			if got.UserID != target || got.Auditor || got.Version != before+1 || got.Position == 0 {
				t.Fatalf("revoke = %+v", got)
			}
			evs := w.stream(stream)
			if last := evs[len(evs)-1]; last.Type != "AuditorRoleRevoked" || last.Metadata.Command != "RevokeAuditorRole" {
				t.Fatalf("the user stream ends with %s", last.Type)
			}
			standard.get("/api/v1/history/"+location.LocationStream(orgB.loc(0))).wantError(http.StatusForbidden, "forbidden")
		})

		w.run(t, "UnknownAndInactive", func(t *testing.T) {
			support.post("/api/v1/users/"+uuid.NewString()+"/auditor", nil).wantError(http.StatusNotFound, "not_found")
			support.delete("/api/v1/users/not-a-uuid/auditor").wantError(http.StatusNotFound, "not_found")
			before := w.version(account.UserStream(w.deactivated.ID))
			support.post("/api/v1/users/"+w.deactivated.ID.String()+"/auditor", nil).wantError(http.StatusUnprocessableEntity, "not_active")
			support.post("/api/v1/users/"+w.pendingA.UserID.String()+"/auditor", nil).wantError(http.StatusUnprocessableEntity, "not_active")
			if v := w.version(account.UserStream(w.deactivated.ID)); v != before {
				t.Fatalf("refused grant appended: version %d to %d", before, v)
			}
		})
	})
}

// meAuditor is the "auditor" flag of the client's GET /me.
func meAuditor(c *client) bool {
	c.api.t.Helper()
	return c.get("/api/v1/me").want(http.StatusOK).object()["auditor"] == true
}
