package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/commands"
)

// leaks lists every secret the harness handled that is found in an event's
// data or metadata, as is or (for session and API tokens, stored hashed)
// as its SHA-256.
func (a *api) leaks() []string {
	a.t.Helper()
	secrets := a.secrets.all()
	var out []string
	for _, ev := range a.allEvents() {
		md, err := json.Marshal(ev.Metadata)
		if err != nil {
			a.t.Fatal(err)
		}
		for secret, what := range secrets {
			forms := []string{secret}
			if what == "session token" || what == "API token" {
				forms = append(forms, tokenHash(secret))
			}
			for _, s := range forms {
				for part, b := range map[string][]byte{"data": ev.Data, "metadata": md, "stream id": []byte(ev.StreamID)} {
					if bytes.Contains(b, []byte(s)) {
						out = append(out, fmt.Sprintf("%s found in the %s of %s %s version %d", what, part, ev.Type, ev.StreamID, ev.Version))
					}
				}
			}
		}
	}
	return out
}

func TestAccountLifecycle_FollowsTheEmailedLinksAndLeavesNoSecretInTheLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		approverB := w.loginAs(w.approverB)
		support := w.loginAs(w.support)
		email := "mo.bility@rosehill.example.org"

		// A care worker of both organisations registers.
		reg := w.register(registration("Mo Bility", email, orgA.loc(0), orgB.loc(1)))
		reg.Email = email
		asked := func(to string) bool {
			for _, m := range w.mail.to(to) {
				if strings.HasPrefix(m.Subject, "Capacity Tracker: Mo Bility has asked for access") {
					return true
				}
			}
			return false
		}
		if !asked(w.approverA.Email) || !asked(w.approverB.Email) || asked(w.support.Email) {
			t.Errorf("the request was emailed to approver A %v, approver B %v, support %v; want both approvers only",
				asked(w.approverA.Email), asked(w.approverB.Email), asked(w.support.Email))
		}

		// A approves its part: the account is active and gets its link.
		pos := approverA.decide(reg, orgA.ID, "approve", "Welcome to Rosehill").want(http.StatusOK).position()
		if _, ok := approvalOf(approverB.approvals(pos), reg.RequestID, orgB.ID); !ok {
			t.Error("B's part of the request is no longer pending after A's approval")
		}
		token, subject := w.mail.link(email)
		if subject != "Capacity Tracker: set your password" {
			t.Errorf("subject = %q", subject)
		}
		pw := newPassword()
		w.setPasswordByLink(token, pw).want(http.StatusOK)

		// B approves its part too: the user is told of the new access.
		approverB.decide(reg, orgB.ID, "approve", "").want(http.StatusOK)
		granted := false
		for _, m := range w.mail.to(email) {
			granted = granted || strings.Contains(m.Text, orgB.Locations[1].Name)
		}
		if !granted {
			t.Error("the user was not told of the access to B's location")
		}

		// The user works: session, API token, password change, logout.
		c := w.newClient()
		c.login(email, pw, true).want(http.StatusCreated)
		var locs []string
		for _, l := range c.me().Locations {
			locs = append(locs, l.LocationID)
		}
		slices.Sort(locs)
		if want := []string{orgA.loc(0), orgB.loc(1)}; !slices.Equal(locs, want) {
			t.Errorf("locations = %v, want %v", locs, want)
		}
		var tok commands.TokenCreated
		c.post("/api/v1/me/api-tokens", map[string]string{"name": "Daily export"}).want(http.StatusCreated).decode(&tok)
		w.secrets.add("API token", tok.Token)
		bot := w.newClient()
		bot.bearer = tok.Token
		bot.put("/api/v1/me/communications", map[string]bool{"opt_in": true}).want(http.StatusOK)
		pw2 := newPassword()
		w.secrets.add("password", pw2)
		c.post("/api/v1/me/password", map[string]string{"current_password": pw, "new_password": pw2}).want(http.StatusOK)
		c.delete("/api/v1/sessions/current").want(http.StatusNoContent)

		// Forgotten password: the reset link comes by email.
		w.newClient().post("/api/v1/password-resets", map[string]string{"email": email}).want(http.StatusAccepted)
		resetToken, subject := w.mail.link(email)
		if subject != "Capacity Tracker: reset your password" || resetToken == token {
			t.Errorf("reset mail %q with a new token %v, want a reset link", subject, resetToken != token)
		}
		pw3 := newPassword()
		w.setPasswordByLink(resetToken, pw3).want(http.StatusOK)
		w.loginAs(user{Email: email, Password: pw3})

		// Support deactivates the account; it is refused from then on.
		support.post("/api/v1/users/"+reg.UserID.String()+"/deactivate", map[string]string{"reason": "moved on"}).want(http.StatusOK)
		w.newClient().login(email, pw3, false).wantError(http.StatusUnauthorized, "login_failed")
		bot.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")

		// A generic account's first password, shown once to support.
		g := w.loginAs(w.genericA)
		g.post("/api/v1/sessions/current/disclaimer", nil).want(http.StatusOK)
		gpw := newPassword()
		w.secrets.add("password", gpw)
		g.post("/api/v1/me/password", map[string]string{"current_password": w.genericA.Password, "new_password": gpw}).want(http.StatusOK)

		kinds := map[string]int{}
		for _, what := range w.secrets.all() {
			kinds[what]++
		}
		for _, what := range []string{"password", "initial password", "session token", "API token", "link token"} {
			if kinds[what] == 0 {
				t.Errorf("the flow handled no %s to look for", what)
			}
		}
		for _, leak := range w.leaks() {
			t.Error(leak)
		}
		t.Logf("looked for %d secrets (%v) in %d events", len(w.secrets.all()), kinds, len(w.allEvents()))
	})
}
