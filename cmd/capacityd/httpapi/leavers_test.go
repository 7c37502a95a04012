package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
)

// A user who works for A and B leaves A: A's Approver removes the access to
// A's locations, the account stays for B; B's Approver then deactivates it.
func TestLeaver_ApproverOfOneOrganisationRemovesOnlyItsAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA, approverB := w.loginAs(w.approverA), w.loginAs(w.approverB)
		body := registration("Dual Worker", "dual.worker@rosehill.example.org", orgA.loc(0), orgB.loc(0))
		body["user_type"] = "approver"
		reg := w.register(body)
		approverA.decide(reg, orgA.ID, "approve", "").want(http.StatusOK)
		pos := approverB.decide(reg, orgB.ID, "approve", "").want(http.StatusOK).position()
		if n := approverA.dashboard(orgA.ID, pos).ActiveApprovers; n != 2 {
			t.Fatalf("A has %d active approvers with the dual worker, want 2", n)
		}
		dual := user{ID: reg.UserID, Email: reg.Email, Password: newPassword()}
		w.setPasswordByLink(w.linkToken(dual.ID), dual.Password).want(http.StatusOK)
		session := w.loginAs(dual)

		userPath := "/api/v1/users/" + dual.ID.String()
		pos = approverA.post(userPath+"/deactivate", map[string]string{"reason": "left A"}).want(http.StatusOK).position()
		if d := approverA.dashboard(orgA.ID, pos); d.ActiveApprovers != 1 || !d.NeedsMoreApprovers {
			t.Errorf("A after the leaver: %+v, want 1 active approver, flagged", d)
		}
		if n := approverB.dashboard(orgB.ID, pos).ActiveApprovers; n != 2 {
			t.Errorf("B has %d active approvers, want 2 (the dual worker stays)", n)
		}
		if ids := userIDs(approverA.orgUsers(orgA.ID, pos)); slices.Contains(ids, dual.ID.String()) {
			t.Errorf("A still lists the leaver: %v", ids)
		}
		if ids := userIDs(approverB.orgUsers(orgB.ID, pos)); !slices.Contains(ids, dual.ID.String()) {
			t.Errorf("B no longer lists the user: %v", ids)
		}
		me := session.me() // the session lives on: the account is B's too
		if me.Status != "active" || len(me.Locations) != 1 || me.Locations[0].OrganisationID != orgB.ID {
			t.Fatalf("after leaving A: status %s, locations %v", me.Status, me.Locations)
		}
		approverA.post(userPath+"/deactivate", nil).wantError(http.StatusNotFound, "not_found")

		approverB.post(userPath+"/deactivate", map[string]string{"reason": "left B"}).want(http.StatusOK)
		session.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
	})
}
