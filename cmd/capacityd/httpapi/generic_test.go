package httpapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
)

func TestGenericAccount(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		g := w.genericA
		first := w.newClientFrom("127.0.0.1", "Mozilla/5.0 (Windows NT 10.0) Edge/120 reception-pc")
		second := w.newClientFrom("127.0.0.2", "Mozilla/5.0 (iPad) Safari/17 night-shift")
		newPW := newPassword()
		changes := []struct {
			method, path string
			body         any
		}{
			{http.MethodPut, "/api/v1/me/communications", map[string]bool{"opt_in": true}},
			{http.MethodPost, "/api/v1/me/password", map[string]string{"current_password": g.Password, "new_password": newPW}},
			{http.MethodPost, "/api/v1/me/api-tokens", map[string]string{"name": "shared"}},
			{http.MethodPost, "/api/v1/me/access-requests", map[string]any{"location_ids": []string{orgB.loc(0)}, "declaration_accepted": true}},
		}

		w.run(t, "SupportCreatesItWithAFirstPasswordThatMustBeChanged", func(t *testing.T) {
			var lb loginBody
			first.login(g.Email, g.Password, false).want(http.StatusCreated).decode(&lb)
			if !lb.DisclaimerRequired || lb.Disclaimer != commands.Disclaimer || !lb.MustChangePassword || !lb.PasswordChangeRequired {
				t.Errorf("first login = %+v, want the disclaimer and a required password change", lb)
			}
			me := first.me()
			if me.Kind != string(account.Generic) || !me.DisclaimerPending || me.Disclaimer != commands.Disclaimer {
				t.Errorf("me = %+v, want a generic account with the disclaimer pending", me)
			}
		})

		w.run(t, "NothingChangesBeforeTheDisclaimerIsAcknowledged", func(t *testing.T) {
			count := w.eventCount()
			for _, c := range changes {
				first.do(c.method, c.path, c.body).wantError(http.StatusForbidden, "disclaimer_required")
			}
			w.unchanged("changes before the disclaimer", count)
		})

		w.run(t, "AfterTheDisclaimerOnlyThePasswordChangeIsAllowed", func(t *testing.T) {
			first.post("/api/v1/sessions/current/disclaimer", nil).want(http.StatusOK)
			if me := first.me(); me.DisclaimerPending || me.Disclaimer != "" || !me.PasswordChangeRequired {
				t.Errorf("me = %+v, want the disclaimer acknowledged and the password change still required", me)
			}
			first.put("/api/v1/me/communications", map[string]bool{"opt_in": true}).wantError(http.StatusForbidden, "password_change_required")
			w.secrets.add("password", newPW)
			first.post("/api/v1/me/password", changes[1].body).want(http.StatusOK)
			first.put("/api/v1/me/communications", map[string]bool{"opt_in": true}).want(http.StatusOK)
			first.post("/api/v1/me/api-tokens", map[string]string{"name": "shared"}).wantError(http.StatusUnprocessableEntity, "not_personal")
		})

		w.run(t, "TheDisclaimerIsShownAtEveryLogin", func(t *testing.T) {
			for range 2 {
				c := w.newClient()
				var lb loginBody
				c.login(g.Email, newPW, false).want(http.StatusCreated).decode(&lb)
				if !lb.DisclaimerRequired || lb.Disclaimer != commands.Disclaimer || lb.PasswordChangeRequired {
					t.Errorf("login = %+v, want the disclaimer and no password change", lb)
				}
				// Acknowledging it in one session does not cover another.
				c.put("/api/v1/me/communications", map[string]bool{"opt_in": false}).wantError(http.StatusForbidden, "disclaimer_required")
			}
		})

		w.run(t, "EachLoginIsRecordedWithItsOwnSessionAddressAndAgent", func(t *testing.T) {
			second.login(g.Email, newPW, false).want(http.StatusCreated)
			second.post("/api/v1/sessions/current/disclaimer", nil).want(http.StatusOK)
			second.put("/api/v1/me/communications", map[string]bool{"opt_in": false}).want(http.StatusOK)

			type origin struct{ session, ip, agent string }
			want := map[string]origin{
				first.sessionID:  {first.sessionID, "127.0.0.1", first.userAgent},
				second.sessionID: {second.sessionID, "127.0.0.2", second.userAgent},
			}
			check := func(ev eventstore.Event, session string) {
				t.Helper()
				md := ev.Metadata
				o, ok := want[session]
				if !ok {
					return // another login of the test
				}
				if got := (origin{md.SessionID, md.ClientIP, md.UserAgent}); got != o {
					t.Errorf("%s of session %s: metadata %+v, want %+v", ev.Type, session, got, o)
				}
				if md.ActorAccountKind != eventstore.AccountGeneric || md.ActorUserID != g.ID.String() {
					t.Errorf("%s: actor %s %s, want the generic account", ev.Type, md.ActorAccountKind, md.ActorUserID)
				}
			}
			seen := map[string][]string{}
			for _, ev := range w.stream(account.LoginStream(g.ID)) {
				d, err := account.Decode(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				var session string
				switch e := d.(type) {
				case account.LoginSucceeded:
					session = e.SessionID.String()
				case account.DisclaimerAcknowledged:
					session = e.SessionID.String()
				default:
					continue
				}
				check(ev, session)
				seen[session] = append(seen[session], ev.Type)
			}
			for _, ev := range w.stream(account.UserStream(g.ID)) {
				switch ev.Type {
				case "CommunicationsPreferenceChanged", "PasswordSet":
					if ev.Metadata.SessionID != "" {
						check(ev, ev.Metadata.SessionID)
						seen[ev.Metadata.SessionID] = append(seen[ev.Metadata.SessionID], ev.Type)
					}
				}
			}
			wantSeen := map[string][]string{
				first.sessionID:  {"LoginSucceeded", "DisclaimerAcknowledged", "PasswordSet", "CommunicationsPreferenceChanged"},
				second.sessionID: {"LoginSucceeded", "DisclaimerAcknowledged", "CommunicationsPreferenceChanged"},
			}
			for s, types := range wantSeen {
				got := slices.Clone(seen[s])
				slices.Sort(got)
				slices.Sort(types)
				if !slices.Equal(got, types) {
					t.Errorf("events of session %s: %v, want %v", s, seen[s], types)
				}
			}

			support := w.loginAs(w.support)
			byID := map[string]bool{}
			for _, s := range support.sessions(g.ID, w.last()) {
				if s.SessionID == first.sessionID || s.SessionID == second.sessionID {
					byID[s.SessionID] = s.DisclaimerRequired && s.DisclaimerAcknowledgedAt != nil
				}
			}
			if !byID[first.sessionID] || !byID[second.sessionID] {
				t.Errorf("support's session list: acknowledged %v, want both sessions with the disclaimer acknowledged", byID)
			}
		})
	})
}
