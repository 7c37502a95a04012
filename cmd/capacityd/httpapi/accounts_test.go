package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// The subtests of one world run in order: each may leave state that a
// later one builds on, and those that move the clock come last.

func TestRegistration(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		anon := w.newClient()
		support := w.loginAs(w.support)
		approverA := w.loginAs(w.approverA)

		w.run(t, "CreatesAPendingUserWhoseRequestGoesToTheApprovers", func(t *testing.T) {
			r := anon.post("/api/v1/registrations", registration("Nia Newcomer", "nia.newcomer@rosehill.example.org", orgA.loc(0))).
				want(http.StatusCreated)
			var reg registered
			r.decode(&reg)
			if reg.Status != string(account.Pending) || reg.UserID.String() == "" || reg.RequestID.String() == "" || reg.Position == 0 {
				t.Fatalf("registration = %s, want a pending user with request and position", r.body)
			}
			if msg, _ := r.object()["message"].(string); !strings.Contains(msg, "Approvers") {
				t.Errorf("message = %q, want it to say the request went to the Approvers", msg)
			}
			if u := support.user(reg.UserID, reg.Position); u.Status != string(account.Pending) || u.Email != "nia.newcomer@rosehill.example.org" {
				t.Errorf("user = %+v, want pending with the email", u)
			}
			if _, ok := approvalOf(approverA.approvals(reg.Position), reg.RequestID, orgA.ID); !ok {
				t.Errorf("approver of A does not see the request")
			}
		})

		w.run(t, "ReportsEveryInvalidFieldAtOnce", func(t *testing.T) {
			count := w.eventCount()
			e := anon.post("/api/v1/registrations", map[string]any{
				"email": "not-an-email", "full_name": "", "phone": "call me", "job_title": "",
				"user_type": "boss", "organisation_type": "castle", "location_ids": []string{}, "terms_accepted": false,
			}).wantError(http.StatusUnprocessableEntity, "validation_failed")
			want := []string{"email", "full_name", "phone", "job_title", "user_type", "organisation_type", "location_ids", "terms_accepted"}
			if got := fieldNames(e); !slices.Equal(got, want) {
				t.Errorf("fields = %v, want %v", fieldCodes(e), want)
			}
			for _, f := range e.Fields {
				if f.Code == "" || f.Message == "" {
					t.Errorf("field %s has no code or message: %+v", f.Field, f)
				}
			}
			w.unchanged("an invalid registration", count)
		})

		w.run(t, "RefusesAnEmailRegisteredAlready_WhateverItsCaseAndSpacing", func(t *testing.T) {
			count := w.eventCount()
			e := anon.post("/api/v1/registrations", registration("Stan Again", "  STAN.Dard@Rosehill.Example.ORG ", orgA.loc(1))).
				wantError(http.StatusConflict, "username_taken")
			for _, contact := range []string{"0191 691 3729", "necsu.capacitytracker@nhs.net"} {
				if !strings.Contains(e.Message, contact) {
					t.Errorf("message %q lacks the support contact %s", e.Message, contact)
				}
			}
			w.unchanged("a duplicate registration", count)
		})

		w.run(t, "ReportsAnUnknownLocation", func(t *testing.T) {
			count := w.eventCount()
			e := anon.post("/api/v1/registrations", registration("Una Known", "una.known@rosehill.example.org",
				"1-999999999", orgA.loc(0), "../../etc/passwd")).wantError(http.StatusUnprocessableEntity, "validation_failed")
			want := []string{"location_ids[0]:unknown_location", "location_ids[2]:unknown_location"}
			if got := fieldCodes(e); !slices.Equal(got, want) {
				t.Errorf("fields = %v, want %v", got, want)
			}
			w.unchanged("a registration for an unknown location", count)
		})

		w.run(t, "DeregisteredLocationsAreNotOffered", func(t *testing.T) {
			open := location.CQCRecord{LocationID: "1-777000001", ProviderID: orgA.ID, Name: "Harbour View Care",
				AddressLine1: "2 Harbour Road", Town: "Sunderland", Postcode: "SR6 0AB", RegistrationStatus: "Registered"}
			closed := open
			closed.LocationID, closed.Name, closed.AddressLine1, closed.RegistrationStatus = "1-777000002", "Harbour Old Care", "4 Harbour Road", "Deregistered"
			w.importCQCRecord(open)
			w.importCQCRecord(closed)
			var body struct {
				Locations []struct {
					LocationID string `json:"location_id"`
				} `json:"locations"`
			}
			anon.get("/api/v1/locations/by-postcode?postcode=SR6%200AB").want(http.StatusOK).decode(&body)
			if len(body.Locations) != 1 || body.Locations[0].LocationID != open.LocationID {
				t.Errorf("locations at SR6 0AB = %+v, want %s only", body.Locations, open.LocationID)
			}
			count := w.eventCount()
			e := anon.post("/api/v1/registrations", registration("Dee Registered", "dee.registered@rosehill.example.org",
				open.LocationID, closed.LocationID)).wantError(http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldCodes(e); !slices.Equal(got, []string{"location_ids[1]:deregistered_location"}) {
				t.Errorf("fields = %v, want the deregistered location", got)
			}
			w.unchanged("a registration for a deregistered location", count)
		})

		w.run(t, "PostcodeLookupIsPublicAndIgnoresCaseAndSpacing", func(t *testing.T) {
			for _, pc := range []string{"SR2 7JX", "sr27jx", " sR2  7jX "} {
				var body struct {
					Locations []struct {
						LocationID       string `json:"location_id"`
						Name             string `json:"name"`
						OrganisationID   string `json:"organisation_id"`
						OrganisationName string `json:"organisation_name"`
						Postcode         string `json:"postcode"`
					} `json:"locations"`
				}
				anon.get("/api/v1/locations/by-postcode?postcode=" + strings.ReplaceAll(pc, " ", "%20")).want(http.StatusOK).decode(&body)
				if len(body.Locations) != 1 {
					t.Fatalf("postcode %q: %+v, want Rosehill only", pc, body.Locations)
				}
				l := body.Locations[0]
				if l.LocationID != orgA.loc(0) || l.Name != "Rosehill" || l.OrganisationID != orgA.ID ||
					l.OrganisationName != orgA.Name || l.Postcode != "SR2 7JX" {
					t.Errorf("postcode %q: %+v, want Rosehill of %s", pc, l, orgA.Name)
				}
			}
			if r := anon.get("/api/v1/locations/by-postcode?postcode=SW1A%201AA").want(http.StatusOK); !bytes.Contains(r.body, []byte(`"locations":[]`)) {
				t.Errorf("a postcode without locations = %s, want an empty list", r.body)
			}
			e := anon.get("/api/v1/locations/by-postcode?postcode=12345").wantError(http.StatusUnprocessableEntity, "validation_failed")
			if got := fieldNames(e); !slices.Equal(got, []string{"postcode"}) {
				t.Errorf("fields = %v, want postcode", got)
			}
			var types struct {
				OrganisationTypes []struct{ Code, Label string } `json:"organisation_types"`
			}
			anon.get("/api/v1/organisation-types").want(http.StatusOK).decode(&types)
			if len(types.OrganisationTypes) == 0 || types.OrganisationTypes[0].Code != "care_home" {
				t.Errorf("organisation types = %+v, want Care Home first", types.OrganisationTypes)
			}
		})

		w.run(t, "RefusesAnOversizedBodyWith413", func(t *testing.T) {
			count := w.eventCount()
			big := registration("Big Body", "big.body@rosehill.example.org", orgA.loc(0))
			big["job_title"] = strings.Repeat("x", maxBody)
			anon.post("/api/v1/registrations", big).wantError(http.StatusRequestEntityTooLarge, "body_too_large")
			// Without a Content-Length (chunked), the limit bites while the
			// body is read.
			chunked := io.MultiReader(strings.NewReader(`{"job_title":"`), strings.NewReader(strings.Repeat("x", 2*maxBody)), strings.NewReader(`"}`))
			anon.post("/api/v1/registrations", rawBody{data: chunked, contentType: "application/json"}).
				wantError(http.StatusRequestEntityTooLarge, "body_too_large")
			w.unchanged("an oversized registration", count)
		})

		w.run(t, "RefusesMalformedJSONAndUnknownFieldsWith400", func(t *testing.T) {
			count := w.eventCount()
			cases := []struct {
				name, body, code, inMessage string
			}{
				{"truncated", `{"email":`, "invalid_json", ""},
				{"unknown field", `{"emial":"x@example.org"}`, "invalid_json", "emial"},
				{"two objects", `{} {}`, "invalid_json", "nothing after"},
				{"array", `[1,2]`, "invalid_json", ""},
				{"wrong type", `{"terms_accepted":"yes"}`, "invalid_json", "terms_accepted"},
				{"empty", ``, "empty_body", ""},
				{"spaces only", "  \n ", "empty_body", ""},
			}
			for _, tc := range cases {
				e := anon.post("/api/v1/registrations", rawBody{data: strings.NewReader(tc.body), contentType: "application/json"}).
					wantError(http.StatusBadRequest, tc.code)
				if !strings.Contains(e.Message, tc.inMessage) {
					t.Errorf("%s: message %q, want it to mention %q", tc.name, e.Message, tc.inMessage)
				}
			}
			w.unchanged("malformed registrations", count)
		})

		w.run(t, "RefusesABodyThatIsNotJSONWith415", func(t *testing.T) {
			count := w.eventCount()
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;;"} {
				anon.post("/api/v1/registrations", rawBody{data: strings.NewReader(`{}`), contentType: ct}).
					wantError(http.StatusUnsupportedMediaType, "unsupported_media_type")
			}
			w.unchanged("registrations that are not JSON", count)
			body := `{"email":"cara.charset@rosehill.example.org","full_name":"Cara Charset","phone":"0191 691 0000",` +
				`"job_title":"Nurse","location_ids":["` + orgA.loc(0) + `"],"terms_accepted":true}`
			anon.post("/api/v1/registrations", rawBody{data: strings.NewReader(body), contentType: "application/json; charset=utf-8"}).
				want(http.StatusCreated)
		})
	})
}

func TestApproval(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		approverA := w.loginAs(w.approverA)
		approverB := w.loginAs(w.approverB)
		pending := w.pendingA

		w.run(t, "TheOrganisationsApproversAndSupportSeeARequest_OtherApproversDoNot", func(t *testing.T) {
			p, ok := approvalOf(approverA.approvals(w.seeded), pending.RequestID, orgA.ID)
			if !ok {
				t.Fatal("approver of A does not see the pending request for A")
			}
			if p.UserID != pending.UserID.String() || p.Email != pending.Email || p.FullName != "Penny Ending" ||
				!slices.Equal(p.LocationIDs, []string{orgA.loc(1)}) || p.OrganisationName != orgA.Name || p.Via != "registration" || p.NoActiveApprover {
				t.Errorf("pending approval = %+v", p)
			}
			if _, ok := approvalOf(approverB.approvals(w.seeded), pending.RequestID, orgA.ID); ok {
				t.Error("approver of B sees the request for A")
			}
			if _, ok := approvalOf(support.approvals(w.seeded), pending.RequestID, orgA.ID); !ok {
				t.Error("support does not see the request for A")
			}
		})

		w.run(t, "ARequestForAnOrganisationWithoutApproversIsFlaggedForSupport", func(t *testing.T) {
			reg := w.register(registration("Pip Ilton", "pip.ilton@pilton.example.org", orgC.loc(0)))
			p, ok := approvalOf(support.approvals(reg.Position), reg.RequestID, orgC.ID)
			if !ok || !p.NoActiveApprover {
				t.Errorf("support's view of the request for C = %+v (listed %v), want it flagged no_active_approver", p, ok)
			}
			for _, c := range []*client{approverA, approverB} {
				if _, ok := approvalOf(c.approvals(reg.Position), reg.RequestID, orgC.ID); ok {
					t.Error("an approver of another organisation sees the request for C")
				}
			}
			subjects := ""
			for _, m := range w.mail.to(w.support.Email) {
				subjects += m.Subject + "\n"
			}
			if !strings.Contains(subjects, "Pip Ilton has asked for access to "+orgC.Name) {
				t.Errorf("support's mail:\n%s\nwant the request for C", subjects)
			}
		})

		w.run(t, "AnApproverOfAnotherOrganisationCannotDecide", func(t *testing.T) {
			before := w.version(account.UserStream(pending.UserID))
			approverB.decide(pending, orgA.ID, "approve", "").wantError(http.StatusForbidden, "forbidden")
			approverB.decide(pending, orgB.ID, "approve", "").wantError(http.StatusNotFound, "not_found")
			if after := w.version(account.UserStream(pending.UserID)); after != before {
				t.Errorf("the refused decisions changed the user's stream from version %d to %d", before, after)
			}
		})

		w.run(t, "RefusesADecisionThatIsNeitherApproveNorReject", func(t *testing.T) {
			e := approverA.decide(pending, orgA.ID, "maybe", "").wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldNames(e), []string{"decision"}) {
				t.Errorf("fields = %v, want decision", fieldCodes(e))
			}
			e = approverA.decide(pending, orgA.ID, "reject", strings.Repeat("r", account.MaxReasonLength+1)).
				wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldNames(e), []string{"reason"}) {
				t.Errorf("fields = %v, want reason", fieldCodes(e))
			}
		})

		w.run(t, "ApprovalActivatesTheUserAndEmailsASetPasswordLinkValidFor72Hours", func(t *testing.T) {
			at := w.clock.Now()
			pos := approverA.decide(pending, orgA.ID, "approve", "").want(http.StatusOK).position()
			u := approverA.user(pending.UserID, pos)
			if u.Status != string(account.Active) || !slices.Equal(u.Locations, []string{orgA.loc(1)}) {
				t.Errorf("approved user = %+v, want active with %s", u, orgA.loc(1))
			}
			if _, ok := approvalOf(approverA.approvals(pos), pending.RequestID, orgA.ID); ok {
				t.Error("the decided request is still listed")
			}
			var issued account.PasswordLinkIssued
			for _, ev := range w.stream(account.UserStream(pending.UserID)) {
				if ev.Type == "PasswordLinkIssued" {
					d, err := account.Decode(ev.Type, ev.Data)
					if err != nil {
						t.Fatal(err)
					}
					issued = d.(account.PasswordLinkIssued)
				}
			}
			if issued.Purpose != account.LinkSetPassword || !issued.ExpiresAt.Equal(at.Add(72*time.Hour)) {
				t.Errorf("link = %+v, want a set-password link expiring at %v", issued, at.Add(72*time.Hour))
			}
			token, subject := w.mail.link(pending.Email)
			if subject != "Capacity Tracker: set your password" {
				t.Errorf("subject = %q", subject)
			}
			pw := newPassword()
			w.setPasswordByLink(token, pw).want(http.StatusOK)
			w.newClient().login(pending.Email, pw, false).want(http.StatusCreated)

			w.run(t, "AndTheLinkWorksOnce", func(t *testing.T) {
				w.setPasswordByLink(token, newPassword()).wantError(http.StatusUnprocessableEntity, "invalid_link")
				w.newClient().login(pending.Email, pw, false).want(http.StatusCreated)
			})
		})

		w.run(t, "ADecidedRequestCannotBeDecidedAgain", func(t *testing.T) {
			count := w.eventCount()
			approverA.decide(pending, orgA.ID, "approve", "").wantError(http.StatusUnprocessableEntity, "already_decided")
			support.decide(pending, orgA.ID, "reject", "changed my mind").wantError(http.StatusUnprocessableEntity, "already_decided")
			w.unchanged("deciding twice", count)
		})

		w.run(t, "RejectionWithAReasonRejectsTheRegistrationAndFreesTheEmail", func(t *testing.T) {
			email := "rory.ject@rosehill.example.org"
			reg := w.register(registration("Rory Ject", email, orgA.loc(0)))
			pos := approverA.decide(reg, orgA.ID, "reject", "Not known at Rosehill").want(http.StatusOK).position()
			if u := support.user(reg.UserID, pos); u.Status != string(account.Rejected) {
				t.Errorf("rejected registration's user = %+v, want status rejected", u)
			}
			msgs := w.mail.to(email)
			if len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1].Text, "Not known at Rosehill") {
				t.Errorf("the rejected person was not emailed the reason (%d messages)", len(msgs))
			}
			again := w.register(registration("Rory Ject", email, orgA.loc(0)))
			if again.UserID == reg.UserID {
				t.Error("registering again reused the rejected user")
			}
		})

		w.run(t, "ASetPasswordLinkRunsOutAfter72Hours", func(t *testing.T) {
			early := w.register(registration("Ed Early", "ed.early@rosehill.example.org", orgA.loc(0)))
			late := w.register(registration("Lou Late", "lou.late@rosehill.example.org", orgA.loc(0)))
			approverA.decide(early, orgA.ID, "approve", "").want(http.StatusOK)
			approverA.decide(late, orgA.ID, "approve", "").want(http.StatusOK)
			earlyLink, lateLink := w.linkToken(early.UserID), w.linkToken(late.UserID)

			w.clock.Advance(72*time.Hour - time.Minute)
			w.setPasswordByLink(earlyLink, newPassword()).want(http.StatusOK)
			w.clock.Advance(2 * time.Minute)
			w.setPasswordByLink(lateLink, newPassword()).wantError(http.StatusUnprocessableEntity, "invalid_link")

			// The way out: the forgotten-password page sends a new link.
			w.newClient().post("/api/v1/password-resets", map[string]string{"email": late.Email}).want(http.StatusAccepted)
			pw := newPassword()
			w.setPasswordByLink(w.linkToken(late.UserID), pw).want(http.StatusOK)
			w.newClient().login(late.Email, pw, false).want(http.StatusCreated)
		})
	})
}

func TestApproverDuties(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		approverB := w.loginAs(w.approverB)
		support := w.loginAs(w.support)
		standardA := w.loginAs(w.standardA)
		userPath := "/api/v1/users/" + w.standardA.ID.String()

		w.run(t, "ListsTheUsersOfTheirOrganisationOnly", func(t *testing.T) {
			users := approverA.orgUsers(orgA.ID, w.seeded)
			got := userIDs(users)
			for _, u := range []user{w.approverA, w.standardA, w.genericA, w.deactivated, w.locked} {
				if !slices.Contains(got, u.ID.String()) {
					t.Errorf("users of A lack %s", u.Name)
				}
			}
			for _, u := range []user{w.approverB, w.support} {
				if slices.Contains(got, u.ID.String()) {
					t.Errorf("users of A include %s", u.Name)
				}
			}
			for _, u := range users {
				for _, l := range u.Locations {
					if l != orgA.loc(0) && l != orgA.loc(1) {
						t.Errorf("user %s is listed with location %s, not of A", u.FullName, l)
					}
				}
			}
			approverB.get("/api/v1/organisations/"+orgA.ID+"/users").wantError(http.StatusForbidden, "forbidden")
		})

		w.run(t, "TheDashboardFlagsFewerThanTwoActiveApprovers", func(t *testing.T) {
			d := approverA.dashboard(orgA.ID, w.seeded)
			if d.Name != orgA.Name || d.ActiveApprovers != 1 || !d.NeedsMoreApprovers {
				t.Errorf("dashboard of A = %+v, want 1 active approver, needs more", d)
			}
			if d := support.dashboard(orgC.ID, w.seeded); d.ActiveApprovers != 0 || !d.NeedsMoreApprovers {
				t.Errorf("dashboard of C = %+v, want 0 active approvers, needs more", d)
			}
		})

		w.run(t, "ChangesAUserBetweenStandardAndApprover", func(t *testing.T) {
			pos := approverA.put(userPath+"/user-type", map[string]string{"user_type": "approver"}).want(http.StatusOK).position()
			if u := approverA.user(w.standardA.ID, pos); u.Role != string(account.Approver) {
				t.Errorf("role = %s, want approver", u.Role)
			}
			if d := approverA.dashboard(orgA.ID, pos); d.ActiveApprovers != 2 || d.NeedsMoreApprovers {
				t.Errorf("dashboard = %+v, want 2 active approvers", d)
			}
			// The promotion counts from the user's next request.
			if _, ok := approvalOf(standardA.approvals(pos), w.pendingA.RequestID, orgA.ID); !ok {
				t.Error("the new approver does not see the pending request of A")
			}
			if me := standardA.me(); !slices.Equal(me.ApproverOf, []string{orgA.ID}) {
				t.Errorf("approver_of = %v, want [%s]", me.ApproverOf, orgA.ID)
			}

			pos = approverA.put(userPath+"/user-type", map[string]string{"user_type": "standard"}).want(http.StatusOK).position()
			if d := approverA.dashboard(orgA.ID, pos); d.ActiveApprovers != 1 || !d.NeedsMoreApprovers {
				t.Errorf("dashboard = %+v, want 1 active approver again", d)
			}
			if list := standardA.approvals(pos); len(list) != 0 {
				t.Errorf("a standard user sees approvals %+v", list)
			}

			count := w.eventCount()
			e := approverA.put(userPath+"/user-type", map[string]string{"user_type": "support"}).wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldNames(e), []string{"user_type"}) {
				t.Errorf("fields = %v, want user_type", fieldCodes(e))
			}
			approverA.put("/api/v1/users/"+w.genericA.ID.String()+"/user-type", map[string]string{"user_type": "approver"}).
				wantError(http.StatusUnprocessableEntity, "fixed_role")
			approverA.put("/api/v1/users/"+w.approverA.ID.String()+"/user-type", map[string]string{"user_type": "standard"}).
				wantError(http.StatusUnprocessableEntity, "self")
			approverB.put(userPath+"/user-type", map[string]string{"user_type": "approver"}).wantError(http.StatusNotFound, "not_found")
			w.unchanged("refused user type changes", count)
		})

		w.run(t, "MyAccessRequestForAnotherOrganisationGoesToItsApprovers", func(t *testing.T) {
			r := standardA.post("/api/v1/me/access-requests", map[string]any{
				"location_ids": []string{orgB.loc(0)}, "declaration_accepted": true}).want(http.StatusCreated)
			var req registered
			r.decode(&req)
			req.UserID = w.standardA.ID
			p, ok := approvalOf(approverB.approvals(req.Position), req.RequestID, orgB.ID)
			if !ok || p.Via != "my_access" || p.UserID != w.standardA.ID.String() || !slices.Equal(p.LocationIDs, []string{orgB.loc(0)}) {
				t.Fatalf("approver of B sees %+v (listed %v), want the My Access request", p, ok)
			}
			if _, ok := approvalOf(approverA.approvals(req.Position), req.RequestID, orgB.ID); ok {
				t.Error("approver of A sees the request for B")
			}
			asked := func(email string) bool {
				for _, m := range w.mail.to(email) {
					if strings.Contains(m.Subject, "Stan Dard has asked for access to "+orgB.Name) {
						return true
					}
				}
				return false
			}
			if !asked(w.approverB.Email) || asked(w.approverA.Email) || asked(w.support.Email) {
				t.Errorf("request for B emailed: approver B %v, approver A %v, support %v; want approver B only",
					asked(w.approverB.Email), asked(w.approverA.Email), asked(w.support.Email))
			}

			pos := approverB.decide(req, orgB.ID, "approve", "").want(http.StatusOK).position()
			var locs []string
			for _, l := range standardA.me().Locations {
				locs = append(locs, l.LocationID)
			}
			slices.Sort(locs)
			if want := []string{orgA.loc(0), orgB.loc(0)}; !slices.Equal(locs, want) {
				t.Errorf("locations = %v, want %v", locs, want)
			}
			// Each approver sees the user's locations of their own
			// organisation only.
			if u := approverB.user(w.standardA.ID, pos); !slices.Equal(u.Locations, []string{orgB.loc(0)}) {
				t.Errorf("approver B sees locations %v, want only B's", u.Locations)
			}
			if u := approverA.user(w.standardA.ID, pos); !slices.Equal(u.Locations, []string{orgA.loc(0)}) {
				t.Errorf("approver A sees locations %v, want only A's", u.Locations)
			}
		})

		w.run(t, "MyAccessRefusesAMissingDeclarationAndLocationsHeldAlready", func(t *testing.T) {
			count := w.eventCount()
			e := standardA.post("/api/v1/me/access-requests", map[string]any{"location_ids": []string{orgB.loc(1)}}).
				wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldNames(e), []string{"declaration_accepted"}) {
				t.Errorf("fields = %v", fieldCodes(e))
			}
			e = standardA.post("/api/v1/me/access-requests", map[string]any{"location_ids": []string{orgA.loc(0)}, "declaration_accepted": true}).
				wantError(http.StatusUnprocessableEntity, "validation_failed")
			if !slices.Equal(fieldCodes(e), []string{"location_ids[0]:already_granted"}) {
				t.Errorf("fields = %v", fieldCodes(e))
			}
			w.unchanged("refused access requests", count)
		})

		w.run(t, "OnlySupportChangesTheTypeOfAUserOfSeveralOrganisations", func(t *testing.T) {
			// standardA has locations of A and B now: an Approver of either
			// would otherwise make them an Approver of the other too.
			count := w.eventCount()
			for _, c := range []*client{approverA, approverB} {
				c.put(userPath+"/user-type", map[string]string{"user_type": "approver"}).
					wantError(http.StatusUnprocessableEntity, "other_organisations")
			}
			w.unchanged("role changes by an approver of one of the user's organisations", count)
			support.put(userPath+"/user-type", map[string]string{"user_type": "approver"}).want(http.StatusOK)
			if me := standardA.me(); !slices.Equal(me.ApproverOf, []string{orgA.ID, orgB.ID}) {
				t.Errorf("approver_of = %v, want both organisations", me.ApproverOf)
			}
			support.put(userPath+"/user-type", map[string]string{"user_type": "standard"}).want(http.StatusOK)
		})

		w.run(t, "AnApproverDoesNotDecideTheirOwnRequest", func(t *testing.T) {
			r := approverA.post("/api/v1/me/access-requests", map[string]any{
				"location_ids": []string{orgA.loc(1)}, "declaration_accepted": true}).want(http.StatusCreated)
			var own registered
			r.decode(&own)
			own.UserID = w.approverA.ID
			if _, ok := approvalOf(approverA.approvals(own.Position), own.RequestID, orgA.ID); ok {
				t.Error("an approver is offered their own request")
			}
			count := w.eventCount()
			approverA.decide(own, orgA.ID, "approve", "").wantError(http.StatusUnprocessableEntity, "self")
			w.unchanged("a self-approval", count)
			// A has no other Approver: the request went to support.
			var toSupport bool
			for _, m := range w.mail.to(w.support.Email) {
				toSupport = toSupport || strings.Contains(m.Subject, "Rosa Hill has asked for access to "+orgA.Name)
			}
			if !toSupport {
				t.Error("the approver's own request was not emailed to support")
			}
			if _, ok := approvalOf(support.approvals(own.Position), own.RequestID, orgA.ID); !ok {
				t.Fatal("support does not see the approver's request")
			}
			support.decide(own, orgA.ID, "approve", "").want(http.StatusOK)
		})

		w.run(t, "DeactivationEndsTheUsersSessionsAtOnceAndRefusesLogin", func(t *testing.T) {
			other := w.loginAs(w.standardA)
			// standardA works for A and B now: A's Approver removes only
			// the access to A's locations (see leavers_test.go); B's
			// Approver, the last organisation's, deactivates the account.
			approverA.post(userPath+"/deactivate", map[string]string{"reason": "Left Rosehill"}).want(http.StatusOK)
			if me := standardA.me(); me.Status != string(account.Active) {
				t.Fatalf("after leaving A only: %+v", me)
			}
			pos := approverB.post(userPath+"/deactivate", map[string]string{"reason": "Left Independence"}).want(http.StatusOK).position()
			for _, c := range []*client{standardA, other} {
				c.get("/api/v1/me").wantError(http.StatusUnauthorized, "unauthenticated")
				if c.cookie("ct_session") != "" {
					t.Error("the refused session's cookie was not cleared")
				}
			}
			w.newClient().login(w.standardA.Email, w.standardA.Password, false).wantError(http.StatusUnauthorized, "login_failed")
			if u := approverB.user(w.standardA.ID, pos); u.Status != string(account.Deactivated) {
				t.Errorf("status = %s, want deactivated", u.Status)
			}
			for _, s := range support.sessions(w.standardA.ID, pos) {
				if s.EndedAt == nil {
					t.Errorf("session %s is still open after the deactivation", s.SessionID)
				}
			}

			count := w.eventCount()
			approverB.post(userPath+"/deactivate", nil).wantError(http.StatusUnprocessableEntity, "not_active")
			approverA.post(userPath+"/deactivate", nil).wantError(http.StatusNotFound, "not_found")
			approverB.post("/api/v1/users/"+w.approverB.ID.String()+"/deactivate", nil).wantError(http.StatusUnprocessableEntity, "self")
			w.unchanged("refused deactivations", count)
		})

		w.run(t, "ReactivationLetsTheUserLogInAgainWithTheirPassword", func(t *testing.T) {
			pos := approverB.post(userPath+"/reactivate", nil).want(http.StatusOK).position()
			if u := approverB.user(w.standardA.ID, pos); u.Status != string(account.Active) {
				t.Errorf("status = %s, want active", u.Status)
			}
			c := w.loginAs(w.standardA)
			if me := c.me(); me.Status != string(account.Active) {
				t.Errorf("me = %+v", me)
			}
			approverB.post(userPath+"/reactivate", nil).wantError(http.StatusUnprocessableEntity, "not_deactivated")
		})

		w.run(t, "EventsOfADecisionCarryTheApproversSession", func(t *testing.T) {
			evs := w.stream(account.UserStream(w.standardA.ID))
			var found bool
			for _, ev := range evs {
				if ev.Type == "UserDeactivated" {
					found = true
					md := ev.Metadata
					if md.ActorUserID != w.approverB.ID.String() || md.SessionID != approverB.sessionID ||
						md.ActorAccountKind != eventstore.AccountPersonal || md.Command != "DeactivateUser" || md.ClientIP != "127.0.0.1" {
						t.Errorf("metadata of UserDeactivated = %+v", md)
					}
				}
			}
			if !found {
				t.Error("no UserDeactivated event")
			}
		})
	})
}
