package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
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

func TestChangePassword_EndsEveryOtherSessionAndToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		newToken := func(c *client, name string) (*client, string) {
			var created struct {
				TokenID string `json:"token_id"`
				Token   string `json:"token"`
			}
			c.post("/api/v1/me/api-tokens", map[string]string{"name": name}).want(http.StatusCreated).decode(&created)
			w.secrets.add("API token", created.Token)
			bot := w.newClient()
			bot.bearer = created.Token
			return bot, created.TokenID
		}
		change := func(c *client, u *user) int64 {
			next := newPassword()
			w.secrets.add("password", next)
			pos := c.post("/api/v1/me/password", map[string]string{"current_password": u.Password, "new_password": next}).
				want(http.StatusOK).position()
			u.Password = next
			return pos
		}
		// revoked lists the ids the events after count ended, with their
		// reasons: sessions on the login stream, tokens on the user stream.
		revoked := func(u user, from int) (sessions, tokens map[string]string) {
			sessions, tokens = map[string]string{}, map[string]string{}
			for _, ev := range w.stream(account.LoginStream(u.ID)) {
				d, err := account.Decode(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				if r, ok := d.(account.SessionRevoked); ok {
					sessions[r.SessionID.String()] = r.Reason
				}
			}
			for _, ev := range w.stream(account.UserStream(u.ID))[from:] {
				d, err := account.Decode(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				if r, ok := d.(account.APITokenRevoked); ok {
					tokens[r.TokenID.String()] = r.Reason
				}
			}
			return sessions, tokens
		}

		w.run(t, "FromASession", func(t *testing.T) {
			u := w.activeUser(approverA, "Cora Change", "cora.change@rosehill.example.org", orgA.ID, orgA.loc(0))
			current, other := w.loginAs(u), w.loginAs(u)
			bot, tokenID := newToken(current, "nightly")
			bot.get("/api/v1/me").want(http.StatusOK)
			before := len(w.stream(account.UserStream(u.ID)))
			pos := change(current, &u)

			other.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			bot.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			if me := current.me(); me.SessionID != current.sessionID {
				t.Errorf("the session that changed the password: me = %+v", me)
			}
			current.put("/api/v1/me/communications", map[string]bool{"opt_in": true}).want(http.StatusOK)
			w.newClient().login(u.Email, u.Password, false).want(http.StatusCreated)

			sessions, tokens := revoked(u, before)
			if want := map[string]string{other.sessionID: account.EndedByPasswordChange}; !maps.Equal(sessions, want) {
				t.Errorf("sessions revoked = %v, want %v", sessions, want)
			}
			if want := map[string]string{tokenID: account.EndedByPasswordChange}; !maps.Equal(tokens, want) {
				t.Errorf("tokens revoked = %v, want %v", tokens, want)
			}
			support := w.loginAs(w.support)
			for _, s := range support.sessions(u.ID, pos) {
				switch s.SessionID {
				case other.sessionID:
					if s.EndReason != "revoked" {
						t.Errorf("the other session after the change = %+v, want revoked", s)
					}
				case current.sessionID:
					if s.EndReason != "" {
						t.Errorf("the current session after the change = %+v, want it open", s)
					}
				}
			}
		})

		w.run(t, "FromAnAPIToken", func(t *testing.T) {
			u := w.activeUser(approverA, "Tobias Token", "tobias.token@rosehill.example.org", orgA.ID, orgA.loc(0))
			browser := w.loginAs(u)
			bot, _ := newToken(browser, "the one that changes it")
			spare, spareID := newToken(browser, "another")
			before := len(w.stream(account.UserStream(u.ID)))
			change(bot, &u)

			bot.get("/api/v1/me").want(http.StatusOK)
			browser.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			spare.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			sessions, tokens := revoked(u, before)
			if want := map[string]string{browser.sessionID: account.EndedByPasswordChange}; !maps.Equal(sessions, want) {
				t.Errorf("sessions revoked = %v, want %v", sessions, want)
			}
			if want := map[string]string{spareID: account.EndedByPasswordChange}; !maps.Equal(tokens, want) {
				t.Errorf("tokens revoked = %v, want %v", tokens, want)
			}
		})
	})
}

func TestPasswordLink_OfConcurrentUsesExactlyOneWins(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		u := w.activeUser(approverA, "Rita Race", "rita.race@rosehill.example.org", orgA.ID, orgA.loc(0))
		const users = 6
		for round := range 3 {
			w.clock.Advance(account.ResetLinkInterval)
			w.newClient().post("/api/v1/password-resets", map[string]string{"email": u.Email}).want(http.StatusAccepted)
			token := w.linkToken(u.ID)
			passwords := make([]string, users)
			for i := range passwords {
				passwords[i] = newPassword()
				w.secrets.add("password", passwords[i])
			}
			answers := make([]response, users)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range users {
				c := w.newClient()
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					answers[i] = c.post("/api/v1/password-links", map[string]string{"token": token, "password": passwords[i]})
				}()
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, r := range answers {
				switch {
				case r.status == http.StatusOK && winner < 0:
					winner = i
				case r.status == http.StatusOK:
					t.Errorf("round %d: uses %d and %d both set the password", round, winner, i)
				default:
					r.wantError(http.StatusUnprocessableEntity, "invalid_link")
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: no use of the link won", round)
			}
			w.newClient().login(u.Email, passwords[winner], false).want(http.StatusCreated)
			u.Password = passwords[winner]
		}
	})
}

// TestForgottenPassword_AnswersBeforeLookingTheAddressUp: the answer to a
// forgotten-password request does not wait for the lookup of the address
// or the link's append (which only an active account's address costs),
// so its timing cannot tell who has an account. While another transaction
// keeps every append waiting, a request for an active account's address
// is answered, exactly as one for an unknown address; the link follows
// once the append can go through.
func TestForgottenPassword_AnswersBeforeLookingTheAddressUp(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		_, pg := w.store.(*postgres.Store)
		count := w.eventCount()
		held, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- w.store.InTx(ctx, func(tx eventstore.Tx) error {
				// SQLite's write transaction already keeps every other
				// writer out; PostgreSQL's readers may go on.
				if pg {
					if _, err := tx.Exec(ctx, `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
						return err
					}
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		stop := sync.OnceFunc(func() { close(release) })
		defer stop()
		// A liveness bound: an answer that waited for the append would
		// wait for ever.
		hc := &http.Client{Timeout: 30 * time.Second}
		post := func(email string) (int, []byte) {
			resp, err := hc.Post(w.url+"/api/v1/password-resets", "application/json",
				strings.NewReader(`{"email":"`+email+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, body
		}
		knownStatus, knownBody := post(w.standardA.Email)
		unknownStatus, unknownBody := post("nobody@rosehill.example.org")
		if knownStatus != http.StatusAccepted || knownStatus != unknownStatus || !bytes.Equal(knownBody, unknownBody) {
			t.Errorf("answers while appends wait: known %d %s, unknown %d %s", knownStatus, knownBody, unknownStatus, unknownBody)
		}
		stop()
		if err := <-holder; err != nil {
			t.Fatal(err)
		}
		settleBackground(t, w.server)
		if got := w.eventCount() - count; got != 1 {
			t.Errorf("the resets appended %d events, want 1 (the link)", got)
		}
		evs := w.stream(account.UserStream(w.standardA.ID))
		if last := evs[len(evs)-1]; last.Type != "PasswordLinkIssued" {
			t.Errorf("the user's last event is %s, want the reset link issued after the answer", last.Type)
		}
	})
}
