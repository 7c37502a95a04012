package httpapi_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
)

func TestPasswordPolicy(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		w.run(t, "TheRulesArePublic", func(t *testing.T) {
			var body struct {
				Rules []struct {
					Code        string `json:"code"`
					Description string `json:"description"`
				} `json:"rules"`
			}
			r := w.newClient().get("/api/v1/password-rules").want(http.StatusOK)
			r.decode(&body)
			var codes []string
			for _, rule := range body.Rules {
				codes = append(codes, rule.Code)
			}
			if want := []string{"min_length", "max_length", "not_common", "not_personal", "not_recent"}; !slices.Equal(codes, want) {
				t.Errorf("rule codes = %v (%s), want %v", codes, r.body, want)
			}
		})

		approverA := w.loginAs(w.approverA)
		reg := w.register(registration("Pat Policy", "pat.policy@rosehill.example.org", orgA.loc(0)))
		approverA.decide(reg, orgA.ID, "approve", "").want(http.StatusOK)
		link := w.linkToken(reg.UserID)

		w.run(t, "ALinksPasswordMustMeetEveryRule", func(t *testing.T) {
			cases := []struct {
				password string
				want     []string
			}{
				{"Sh0rt!", []string{"password:min_length"}},
				{"password", []string{"password:min_length", "password:not_common"}},
				{"1234567890", []string{"password:not_common"}},
				{strings.Repeat("Long-", 26), []string{"password:max_length"}},
				{"my pat.policy@rosehill.example.org", []string{"password:not_personal"}},
				{"hello-pat.policy-2025", []string{"password:not_personal"}},
				{"PatPolicy-2025!", []string{"password:not_personal"}},
			}
			count := w.eventCount()
			for _, tc := range cases {
				e := w.setPasswordByLink(link, tc.password).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if got := fieldCodes(e); !slices.Equal(got, tc.want) {
					t.Errorf("password %q: %v, want %v", tc.password, got, tc.want)
				}
			}
			w.unchanged("refused passwords", count)
		})

		pw := []string{newPassword(), newPassword(), newPassword(), newPassword(), newPassword()}
		w.run(t, "ARefusedPasswordDoesNotSpendTheLink", func(t *testing.T) {
			w.setPasswordByLink(link, pw[0]).want(http.StatusOK)
		})

		w.run(t, "AChangedPasswordMustNotBeOneOfTheLastFour", func(t *testing.T) {
			c := w.newClient()
			c.login(reg.Email, pw[0], false).want(http.StatusCreated)
			change := func(from, to string) response {
				w.secrets.add("password", to)
				return c.post("/api/v1/me/password", map[string]string{"current_password": from, "new_password": to})
			}
			change(pw[0], pw[1]).want(http.StatusOK)
			change(pw[1], pw[2]).want(http.StatusOK)
			change(pw[2], pw[3]).want(http.StatusOK)
			for _, old := range pw[:4] {
				e := change(pw[3], old).wantError(http.StatusUnprocessableEntity, "validation_failed")
				if got := fieldCodes(e); !slices.Equal(got, []string{"new_password:not_recent"}) {
					t.Errorf("back to a recent password: %v", got)
				}
			}
			e := change(pw[3], "password").wantError(http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldCodes(e); !slices.Equal(got, []string{"new_password:min_length", "new_password:not_common"}) {
				t.Errorf("a common password: %v", got)
			}
			e = change(pw[3], "PAT.POLICY@rosehill.example.org!").wantError(http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldCodes(e); !slices.Equal(got, []string{"new_password:not_personal"}) {
				t.Errorf("a password holding the email address: %v", got)
			}
			change(pw[3], pw[4]).want(http.StatusOK)
			// The first is now fifth from last: allowed again.
			change(pw[4], pw[0]).want(http.StatusOK)
			w.newClient().login(reg.Email, pw[0], false).want(http.StatusCreated)
			w.newClient().login(reg.Email, pw[4], false).wantError(http.StatusUnauthorized, "login_failed")
		})
	})
}

func TestForgottenPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		reset := func(email string) response {
			return w.newClient().post("/api/v1/password-resets", map[string]string{"email": email})
		}

		w.run(t, "AnswersTheSameForRegisteredAndUnknownAddresses", func(t *testing.T) {
			count := w.eventCount()
			want := reset(w.standardA.Email).want(http.StatusAccepted)
			if !strings.Contains(string(want.body), "1 hour") {
				t.Errorf("answer = %s, want it to say the link is valid for 1 hour", want.body)
			}
			for _, email := range []string{"nobody@rosehill.example.org", "NOT AN EMAIL", w.deactivated.Email, w.pendingA.Email} {
				r := reset(email)
				if r.status != want.status || !bytes.Equal(r.body, want.body) {
					t.Errorf("reset for %q = %d %s, want %d %s", email, r.status, r.body, want.status, want.body)
				}
			}
			// Only the active account got a link.
			if got := w.eventCount() - count; got != 1 {
				t.Errorf("the resets appended %d events, want 1 (the active account's link)", got)
			}
			evs := w.stream(account.UserStream(w.standardA.ID))
			last := evs[len(evs)-1]
			d, err := account.Decode(last.Type, last.Data)
			if err != nil {
				t.Fatal(err)
			}
			if l, ok := d.(account.PasswordLinkIssued); !ok || l.Purpose != account.LinkResetPassword || !l.ExpiresAt.Equal(w.clock.Now().Add(time.Hour)) {
				t.Errorf("last event = %s %s, want a reset link valid for an hour", last.Type, last.Data)
			}
		})

		w.run(t, "AResetLinkWorksOnce", func(t *testing.T) {
			token, subject := w.mail.link(w.standardA.Email)
			if subject != "Capacity Tracker: reset your password" {
				t.Errorf("subject = %q", subject)
			}
			pw := newPassword()
			w.setPasswordByLink(token, pw).want(http.StatusOK)
			w.setPasswordByLink(token, newPassword()).wantError(http.StatusUnprocessableEntity, "invalid_link")
			w.newClient().login(w.standardA.Email, pw, false).want(http.StatusCreated)
			w.newClient().login(w.standardA.Email, w.standardA.Password, false).wantError(http.StatusUnauthorized, "login_failed")
			w.standardA.Password = pw
		})

		w.run(t, "AResetEndsEverySessionAndLiftsTheLock", func(t *testing.T) {
			u := w.activeUser(approverA, "Rhea Set", "rhea.set@rosehill.example.org", orgA.ID, orgA.loc(0))
			first, second := w.loginAs(u), w.loginAs(u)
			for range 5 {
				w.newClient().login(u.Email, "Wrong-password-1", false).wantError(http.StatusUnauthorized, "login_failed")
			}
			w.newClient().login(u.Email, u.Password, false).wantError(http.StatusUnauthorized, "login_failed")
			reset(u.Email).want(http.StatusAccepted)
			token, _ := w.mail.link(u.Email)
			pw := newPassword()
			pos := w.setPasswordByLink(token, pw).want(http.StatusOK).position()
			first.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			second.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			w.newClient().login(u.Email, pw, false).want(http.StatusCreated)
			support := w.loginAs(w.support)
			for _, s := range support.sessions(u.ID, pos) {
				if (s.SessionID == first.sessionID || s.SessionID == second.sessionID) && s.EndReason != "revoked" {
					t.Errorf("session %s after the reset = %+v, want revoked", s.SessionID, s)
				}
			}
		})

		w.run(t, "AResetLinkRunsOutAfterAnHour", func(t *testing.T) {
			quick := w.activeUser(approverA, "Quin Quick", "quin.quick@rosehill.example.org", orgA.ID, orgA.loc(0))
			slow := w.activeUser(approverA, "Sloane Slow", "sloane.slow@rosehill.example.org", orgA.ID, orgA.loc(0))
			reset(quick.Email).want(http.StatusAccepted)
			reset(slow.Email).want(http.StatusAccepted)
			quickLink, slowLink := w.linkToken(quick.ID), w.linkToken(slow.ID)
			w.clock.Advance(59 * time.Minute)
			w.setPasswordByLink(quickLink, newPassword()).want(http.StatusOK)
			w.clock.Advance(2 * time.Minute)
			w.setPasswordByLink(slowLink, newPassword()).wantError(http.StatusUnprocessableEntity, "invalid_link")
			w.newClient().login(slow.Email, slow.Password, false).want(http.StatusCreated)
		})

		w.run(t, "ALinkTokenThatWasTamperedWithIsRefused", func(t *testing.T) {
			reset(w.standardA.Email).want(http.StatusAccepted)
			token := w.linkToken(w.standardA.ID)
			flipped := []byte(token)
			flipped[len(flipped)-2] ^= 1
			for _, bad := range []string{"", "nonsense", string(flipped), token + "A", strings.Repeat("A", 500)} {
				w.setPasswordByLink(bad, newPassword()).wantError(http.StatusUnprocessableEntity, "invalid_link")
			}
			w.setPasswordByLink(token, newPassword()).want(http.StatusOK)
		})
	})
}
