package httpapi_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/account"
)

// setCookies parses an answer's Set-Cookie headers.
func setCookies(r response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

func TestLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		w.run(t, "SetsAnHttpOnlySameSiteLaxSessionCookieAndTheCSRFToken", func(t *testing.T) {
			c := w.newClient()
			at := w.clock.Now()
			r := c.login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated)
			var lb loginBody
			r.decode(&lb)
			cookies := setCookies(r)
			s, csrf := cookies[httpapi.SessionCookie], cookies[httpapi.CSRFCookie]
			if s == nil || csrf == nil {
				t.Fatalf("cookies = %v, want %s and %s", r.header["Set-Cookie"], httpapi.SessionCookie, httpapi.CSRFCookie)
			}
			if !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Path != "/" || !strings.HasPrefix(s.Value, "cts_") {
				t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", s)
			}
			if !s.Expires.IsZero() || s.MaxAge != 0 {
				t.Errorf("session cookie without remember-me = %+v, want a browser-session cookie", s)
			}
			if csrf.HttpOnly || csrf.Value != lb.CSRFToken || lb.CSRFToken == "" || csrf.SameSite != http.SameSiteLaxMode {
				t.Errorf("csrf cookie = %+v, answer's token %q: want a script-readable cookie holding the token", csrf, lb.CSRFToken)
			}
			if bytes.Contains(r.body, []byte(s.Value)) {
				t.Error("the answer's body holds the session token")
			}
			if !lb.ExpiresAt.Equal(at.Add(12*time.Hour)) || lb.IdleTimeoutSeconds != 30*60 || lb.UserID != w.standardA.ID.String() {
				t.Errorf("login = %+v, want a 12-hour session with a 30-minute idle timeout", lb)
			}
			if lb.PasswordChangeRequired || lb.DisclaimerRequired || lb.Disclaimer != "" {
				t.Errorf("login = %+v, want nothing required of a personal account with a fresh password", lb)
			}
			if me := c.me(); me.UserID != w.standardA.ID.String() || me.SessionID != lb.SessionID {
				t.Errorf("me = %+v", me)
			}
		})

		w.run(t, "FailsAlikeForUnknownAddressesAndAccountsWithoutPassword", func(t *testing.T) {
			want := w.newClient().login(w.standardA.Email, "Not-the-password-1", false)
			want.wantError(http.StatusUnauthorized, "login_failed")
			for _, email := range []string{"nobody@rosehill.example.org", "not an email", "", w.pendingA.Email, w.deactivated.Email} {
				r := w.newClient().login(email, "Not-the-password-1", false)
				if r.status != want.status || !bytes.Equal(r.body, want.body) {
					t.Errorf("login as %q = %d %s, want %d %s", email, r.status, r.body, want.status, want.body)
				}
			}
		})

		remembered := w.newClient()
		var rememberedAt time.Time
		w.run(t, "RememberMeGivesA30DaySessionWithoutIdleTimeout", func(t *testing.T) {
			rememberedAt = w.clock.Now()
			r := remembered.login(w.approverA.Email, w.approverA.Password, true).want(http.StatusCreated)
			var lb loginBody
			r.decode(&lb)
			if !lb.ExpiresAt.Equal(rememberedAt.Add(30*24*time.Hour)) || lb.IdleTimeoutSeconds != 0 {
				t.Errorf("login = %+v, want 30 days and no idle timeout", lb)
			}
			s := setCookies(r)[httpapi.SessionCookie]
			if s == nil || !s.Expires.Equal(lb.ExpiresAt) || !s.HttpOnly {
				t.Errorf("session cookie = %+v, want a persistent cookie until %v", s, lb.ExpiresAt)
			}
		})

		w.run(t, "WithoutRememberMeTheSessionEndsAfter30MinutesIdle", func(t *testing.T) {
			c := w.loginAs(w.standardA)
			w.clock.Advance(29 * time.Minute)
			c.get("/api/v1/me").want(http.StatusOK)
			// Use keeps the session alive.
			w.clock.Advance(29 * time.Minute)
			c.get("/api/v1/me").want(http.StatusOK)
			w.clock.Advance(31 * time.Minute)
			c.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			if c.cookie(httpapi.SessionCookie) != "" {
				t.Error("the ended session's cookie was not cleared")
			}
			// The remembered session has no idle timeout.
			remembered.get("/api/v1/me").want(http.StatusOK)
		})

		w.run(t, "WithoutRememberMeTheSessionEndsAfter12HoursHoweverBusy", func(t *testing.T) {
			c := w.loginAs(w.standardA)
			for elapsed := time.Duration(0); elapsed+25*time.Minute < 12*time.Hour; elapsed += 25 * time.Minute {
				w.clock.Advance(25 * time.Minute)
				c.get("/api/v1/me").want(http.StatusOK)
			}
			w.clock.Advance(25 * time.Minute)
			c.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
		})

		w.run(t, "ARememberedSessionEndsAfter30Days", func(t *testing.T) {
			w.clock.Advance(rememberedAt.Add(30*24*time.Hour - time.Minute).Sub(w.clock.Now()))
			remembered.get("/api/v1/me").want(http.StatusOK)
			w.clock.Advance(2 * time.Minute)
			remembered.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
		})
	})
}

func TestLockout(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)

		w.run(t, "FiveWrongPasswordsInARowLockTheAccount", func(t *testing.T) {
			u := w.activeUser(approverA, "Wren Ong", "wren.ong@rosehill.example.org", orgA.ID, orgA.loc(0))
			for range 4 {
				w.newClient().login(u.Email, "Wrong-password-1", false).wantError(http.StatusUnauthorized, "login_failed")
			}
			// Four are not enough, and a success starts the count afresh.
			w.newClient().login(u.Email, u.Password, false).want(http.StatusCreated)
			for range 4 {
				w.newClient().login(u.Email, "Wrong-password-1", false).wantError(http.StatusUnauthorized, "login_failed")
			}
			w.newClient().login(u.Email, u.Password, false).want(http.StatusCreated)
			for range 5 {
				w.newClient().login(u.Email, "Wrong-password-1", false).wantError(http.StatusUnauthorized, "login_failed")
			}
			w.newClient().login(u.Email, u.Password, false).wantError(http.StatusUnauthorized, "login_failed")
			got := approverA.user(u.ID, w.last())
			if got.LockedUntil == nil || !got.LockedUntil.Equal(w.clock.Now().Add(24*time.Hour)) {
				t.Errorf("locked_until = %v, want %v", got.LockedUntil, w.clock.Now().Add(24*time.Hour))
			}
			var subjects []string
			for _, m := range w.mail.to(u.Email) {
				subjects = append(subjects, m.Subject)
			}
			if !slices.Contains(subjects, "Capacity Tracker: your account has been locked") {
				t.Errorf("mail to the locked user: %q, want the lock notice", subjects)
			}

			w.run(t, "AndAPasswordResetLiftsTheLock", func(t *testing.T) {
				w.newClient().post("/api/v1/password-resets", map[string]string{"email": u.Email}).want(http.StatusAccepted)
				token, _ := w.mail.link(u.Email)
				pw := newPassword()
				w.setPasswordByLink(token, pw).want(http.StatusOK)
				w.newClient().login(u.Email, pw, false).want(http.StatusCreated)
				if got := approverA.user(u.ID, w.last()); got.LockedUntil != nil {
					t.Errorf("locked_until = %v after the reset, want none", got.LockedUntil)
				}
			})
		})

		w.run(t, "ALockedAccountAnswersExactlyAsAWrongPasswordOrAnUnknownAddress", func(t *testing.T) {
			type answer struct {
				status int
				ct     string
				body   string
				cookie bool
			}
			try := func(email, pw string) answer {
				r := w.newClient().login(email, pw, false)
				return answer{r.status, r.header.Get("Content-Type"), string(r.body), len(r.header["Set-Cookie"]) > 0}
			}
			right := try(w.locked.Email, w.locked.Password)
			if right.status != http.StatusUnauthorized || right.cookie {
				t.Fatalf("locked account with the right password = %+v, want 401 without cookies", right)
			}
			others := map[string]answer{
				"locked account, wrong password": try(w.locked.Email, "Wrong-password-1"),
				"unknown address":                try("nobody.here@rosehill.example.org", w.locked.Password),
				"active account, wrong password": try(w.standardA.Email, "Wrong-password-1"),
			}
			for name, a := range others {
				if a != right {
					t.Errorf("%s = %+v, want the locked account's answer %+v", name, a, right)
				}
			}
		})

		w.run(t, "TheLockIsLiftedAfter24Hours", func(t *testing.T) {
			w.clock.Advance(24*time.Hour - time.Minute)
			w.newClient().login(w.locked.Email, w.locked.Password, false).wantError(http.StatusUnauthorized, "login_failed")
			w.clock.Advance(2 * time.Minute)
			w.newClient().login(w.locked.Email, w.locked.Password, false).want(http.StatusCreated)
			// The count starts afresh: one wrong password does not lock again.
			w.newClient().login(w.locked.Email, "Wrong-password-1", false).wantError(http.StatusUnauthorized, "login_failed")
			w.newClient().login(w.locked.Email, w.locked.Password, false).want(http.StatusCreated)
		})
	})
}

func TestPasswordExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		w.run(t, "APasswordIsGoodFor364Days", func(t *testing.T) {
			w.clock.Advance(364 * 24 * time.Hour)
			var lb loginBody
			w.newClient().login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated).decode(&lb)
			if lb.PasswordChangeRequired || lb.PasswordExpired {
				t.Errorf("login = %+v, want no change required", lb)
			}
		})

		w.clock.Advance(2 * 24 * time.Hour)
		c := w.newClient()
		w.run(t, "AfterAYearLoginRequiresAPasswordChange", func(t *testing.T) {
			var lb loginBody
			c.login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated).decode(&lb)
			if !lb.PasswordChangeRequired || !lb.PasswordExpired || lb.MustChangePassword {
				t.Errorf("login = %+v, want password_change_required and password_expired", lb)
			}
			if me := c.me(); !me.PasswordChangeRequired {
				t.Errorf("me = %+v, want password_change_required", me)
			}
		})

		w.run(t, "EveryOtherChangeIsRefusedUntilThePasswordIsChanged", func(t *testing.T) {
			other := w.newClient()
			other.login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated)
			approverA := w.loginAs(w.approverA)
			support := w.loginAs(w.support)
			count := w.eventCount()
			refused := []struct {
				c            *client
				method, path string
				body         any
			}{
				{c, http.MethodPut, "/api/v1/me/communications", map[string]bool{"opt_in": true}},
				{c, http.MethodPost, "/api/v1/me/api-tokens", map[string]string{"name": "reports"}},
				{c, http.MethodPost, "/api/v1/me/access-requests", map[string]any{"location_ids": []string{orgB.loc(0)}, "declaration_accepted": true}},
				{c, http.MethodDelete, "/api/v1/users/" + w.standardA.ID.String() + "/sessions/" + other.sessionID, nil},
				{approverA, http.MethodPost, "/api/v1/users/" + w.pendingA.UserID.String() + "/access-requests/" + w.pendingA.RequestID.String() +
					"/organisations/" + orgA.ID + "/decision", map[string]string{"decision": "approve"}},
				{approverA, http.MethodPost, "/api/v1/users/" + w.standardA.ID.String() + "/deactivate", nil},
				{approverA, http.MethodPut, "/api/v1/users/" + w.standardA.ID.String() + "/user-type", map[string]string{"user_type": "approver"}},
				{support, http.MethodPost, "/api/v1/organisations", map[string]string{"organisation_id": "1-999", "name": "New Org", "type": "care_home"}},
			}
			for _, r := range refused {
				r.c.do(r.method, r.path, r.body).wantError(http.StatusForbidden, "password_change_required")
			}
			w.unchanged("changes by sessions that must change their password", count)
			// Reading is allowed.
			c.get("/api/v1/users/" + w.standardA.ID.String()).want(http.StatusOK)
		})

		w.run(t, "ChangingThePasswordLiftsTheRequirement", func(t *testing.T) {
			e := c.post("/api/v1/me/password", map[string]string{"current_password": "Wrong-password-1", "new_password": newPassword()}).
				wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldCodes(e), []string{"current_password:incorrect"}) {
				t.Errorf("fields = %v", fieldCodes(e))
			}
			e = c.post("/api/v1/me/password", map[string]string{"current_password": w.standardA.Password, "new_password": w.standardA.Password}).
				wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldCodes(e), []string{"new_password:not_recent"}) {
				t.Errorf("fields = %v, want the current password refused as recent", fieldCodes(e))
			}
			pw := newPassword()
			w.secrets.add("password", pw)
			c.post("/api/v1/me/password", map[string]string{"current_password": w.standardA.Password, "new_password": pw}).want(http.StatusOK)
			c.put("/api/v1/me/communications", map[string]bool{"opt_in": true}).want(http.StatusOK)
			var lb loginBody
			w.newClient().login(w.standardA.Email, pw, false).want(http.StatusCreated).decode(&lb)
			if lb.PasswordChangeRequired || lb.PasswordExpired {
				t.Errorf("login with the new password = %+v, want nothing required", lb)
			}
			w.newClient().login(w.standardA.Email, w.standardA.Password, false).wantError(http.StatusUnauthorized, "login_failed")
		})
	})
}

func TestSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		firefox := w.newClientFrom("127.0.0.1", "Mozilla/5.0 Firefox/128.0")
		safari := w.newClientFrom("127.0.0.2", "Mozilla/5.0 Safari/17.0")
		firefox.login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated)
		pos := safari.login(w.standardA.Email, w.standardA.Password, true).want(http.StatusCreated).position()
		support := w.loginAs(w.support)
		sessionsPath := "/api/v1/users/" + w.standardA.ID.String() + "/sessions"

		w.run(t, "AUserAndSupportListTheUsersSessions", func(t *testing.T) {
			for _, c := range []*client{firefox, support} {
				list := c.sessions(w.standardA.ID, pos)
				byID := map[string]int{}
				for i, s := range list {
					byID[s.SessionID] = i
				}
				fi, okF := byID[firefox.sessionID]
				si, okS := byID[safari.sessionID]
				if len(list) != 2 || !okF || !okS {
					t.Fatalf("sessions = %+v, want the two logins", list)
				}
				f, s := list[fi], list[si]
				if f.ClientIP != "127.0.0.1" || f.UserAgent != firefox.userAgent || f.RememberMe || f.EndedAt != nil {
					t.Errorf("firefox session = %+v", f)
				}
				if s.ClientIP != "127.0.0.2" || s.UserAgent != safari.userAgent || !s.RememberMe || s.EndedAt != nil {
					t.Errorf("safari session = %+v", s)
				}
			}
		})

		w.run(t, "NobodyElseSeesThem", func(t *testing.T) {
			for _, u := range []user{w.approverA, w.approverB} {
				w.loginAs(u).get(sessionsPath).wantError(http.StatusNotFound, "not_found")
			}
		})

		w.run(t, "AUserRevokesTheirOtherSession", func(t *testing.T) {
			pos := firefox.delete(sessionsPath + "/" + safari.sessionID).want(http.StatusOK).position()
			safari.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			firefox.get("/api/v1/me").want(http.StatusOK)
			for _, s := range firefox.sessions(w.standardA.ID, pos) {
				if s.SessionID == safari.sessionID && (s.EndedAt == nil || s.EndReason != "revoked") {
					t.Errorf("revoked session = %+v, want ended (revoked)", s)
				}
			}
			firefox.delete(sessionsPath+"/"+safari.sessionID).wantError(http.StatusNotFound, "not_found")
		})

		w.run(t, "OnlyTheUserAndSupportRevokeSessions", func(t *testing.T) {
			approverA := w.loginAs(w.approverA)
			count := w.eventCount()
			approverA.delete(sessionsPath+"/"+firefox.sessionID).wantError(http.StatusNotFound, "not_found")
			w.unchanged("an approver revoking a session", count)
			support.delete(sessionsPath + "/" + firefox.sessionID).want(http.StatusOK)
			firefox.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
		})

		w.run(t, "LogoutEndsTheSessionOnTheServer", func(t *testing.T) {
			c := w.loginAs(w.standardA)
			token := c.cookie(httpapi.SessionCookie)
			r := c.delete("/api/v1/sessions/current").want(http.StatusNoContent)
			if ck := setCookies(r)[httpapi.SessionCookie]; ck == nil || ck.MaxAge >= 0 {
				t.Errorf("logout's session cookie = %+v, want it deleted", ck)
			}
			replay := w.newClient()
			u, _ := url.Parse(w.url)
			replay.hc.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.SessionCookie, Value: token, Path: "/"}})
			replay.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			for _, s := range support.sessions(w.standardA.ID, w.last()) {
				if s.SessionID == c.sessionID && s.EndReason != "logout" {
					t.Errorf("session after logout = %+v, want ended by logout", s)
				}
			}
		})
	})
}

func TestCSRFAndAPITokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		c := w.loginAs(w.standardA)
		other := w.loginAs(w.approverA)
		optIn := map[string]bool{"opt_in": true}

		w.run(t, "ACookieRequestThatChangesStateNeedsTheSessionsCSRFHeader", func(t *testing.T) {
			count := w.eventCount()
			c.do(http.MethodPut, "/api/v1/me/communications", optIn, httpapi.CSRFHeader, "").wantError(http.StatusForbidden, "csrf_failed")
			c.do(http.MethodPut, "/api/v1/me/communications", optIn, httpapi.CSRFHeader, "forged").wantError(http.StatusForbidden, "csrf_failed")
			c.do(http.MethodPut, "/api/v1/me/communications", optIn, httpapi.CSRFHeader, other.csrf).wantError(http.StatusForbidden, "csrf_failed")
			c.do(http.MethodPost, "/api/v1/me/api-tokens", map[string]string{"name": "x"}, httpapi.CSRFHeader, "").wantError(http.StatusForbidden, "csrf_failed")
			c.do(http.MethodDelete, "/api/v1/sessions/current", nil, httpapi.CSRFHeader, "").wantError(http.StatusForbidden, "csrf_failed")
			w.unchanged("requests without the CSRF header", count)
			// Reads need no header.
			c.do(http.MethodGet, "/api/v1/me", nil, httpapi.CSRFHeader, "").want(http.StatusOK)
			c.put("/api/v1/me/communications", optIn).want(http.StatusOK)
		})

		var created struct {
			TokenID   string    `json:"token_id"`
			Token     string    `json:"token"`
			Name      string    `json:"name"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		bot := w.newClient()
		w.run(t, "AnAPITokenAuthenticatesWithoutCSRF", func(t *testing.T) {
			at := w.clock.Now()
			c.post("/api/v1/me/api-tokens", map[string]string{"name": "  Nightly  report "}).want(http.StatusCreated).decode(&created)
			w.secrets.add("API token", created.Token)
			if !strings.HasPrefix(created.Token, "ctk_") || created.Name != "Nightly report" || !created.ExpiresAt.Equal(at.Add(365*24*time.Hour)) {
				t.Fatalf("token = %+v", created)
			}
			bot.bearer = created.Token
			if me := bot.me(); me.UserID != w.standardA.ID.String() || me.SessionID != "token:"+created.TokenID {
				t.Errorf("me with the token = %+v", me)
			}
			bot.put("/api/v1/me/communications", map[string]bool{"opt_in": false}).want(http.StatusOK)
			// The Bearer scheme is case-insensitive.
			bot.do(http.MethodGet, "/api/v1/me", nil, "Authorization", "bearer "+created.Token).want(http.StatusOK)
		})

		w.run(t, "AnAPITokenIsShownOnlyOnce", func(t *testing.T) {
			for _, r := range []response{c.get("/api/v1/me"), bot.get("/api/v1/me"), c.get("/api/v1/users/" + w.standardA.ID.String())} {
				if bytes.Contains(r.body, []byte(created.Token)) {
					t.Errorf("%s shows the token: %s", r.req, r.body)
				}
			}
		})

		w.run(t, "AnAPITokenCannotManageSessionsOrTokens", func(t *testing.T) {
			bot.post("/api/v1/me/api-tokens", map[string]string{"name": "child"}).wantError(http.StatusUnprocessableEntity, "not_a_session")
			bot.delete("/api/v1/sessions/current").wantError(http.StatusUnprocessableEntity, "not_a_session")
		})

		w.run(t, "AMalformedAuthorizationHeaderIsRefused", func(t *testing.T) {
			anon := w.newClient()
			for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer ctk_nonsense", "Bearer " + strings.Repeat("a", 300)} {
				anon.do(http.MethodGet, "/api/v1/me", nil, "Authorization", h).wantError(http.StatusUnauthorized, "unauthenticated")
			}
		})

		w.run(t, "ARevokedAPITokenIsRefused", func(t *testing.T) {
			c.delete("/api/v1/me/api-tokens/" + created.TokenID).want(http.StatusOK)
			bot.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			c.delete("/api/v1/me/api-tokens/"+"0b5e0f7c-7a32-4b8e-9d2e-6c1f0e7d1a11").wantError(http.StatusNotFound, "not_found")
		})

		w.run(t, "DeactivationRevokesAPITokensForGood", func(t *testing.T) {
			var tok struct {
				Token string `json:"token"`
			}
			c.post("/api/v1/me/api-tokens", map[string]string{"name": "second"}).want(http.StatusCreated).decode(&tok)
			w.secrets.add("API token", tok.Token)
			bot2 := w.newClient()
			bot2.bearer = tok.Token
			bot2.get("/api/v1/me").want(http.StatusOK)
			userPath := "/api/v1/users/" + w.standardA.ID.String()
			other.post(userPath+"/deactivate", nil).want(http.StatusOK)
			bot2.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			other.post(userPath+"/reactivate", nil).want(http.StatusOK)
			bot2.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
			if u := w.loginAs(w.standardA).me(); u.Status != string(account.Active) {
				t.Errorf("me = %+v", u)
			}
		})
	})
}
