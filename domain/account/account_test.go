package account_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func fold(evs ...account.Event) account.User {
	var u account.User
	for _, e := range evs {
		u = account.Evolve(u, e)
	}
	return u
}

func foldLogin(evs ...account.Event) account.Login {
	var l account.Login
	for _, e := range evs {
		l = account.EvolveLogin(l, e)
	}
	return l
}

func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %v is not a validation error", err)
	}
	out := map[string]string{}
	for _, f := range v.Fields {
		out[f.Field] = f.Code
	}
	return out
}

func TestParseEmail_NormalisesAndRejects(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"  Jane.Doe@NHS.net ", "jane.doe@nhs.net", true},
		{"a@b.co", "a@b.co", true},
		{"", "", false},
		{"no-at-sign", "", false},
		{"two@@x.com", "", false},
		{"Jane <jane@x.com>", "", false},
		{"jane@localhost", "", false},
		{"jane@x.com.", "", false},
		{"ja ne@x.com", "", false},
	} {
		e, err := account.ParseEmail(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseEmail(%q) error = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && e.String() != c.want {
			t.Errorf("ParseEmail(%q) = %q, want %q", c.in, e, c.want)
		}
	}
}

func TestEmailStream_IsTheSameForEquivalentAddresses(t *testing.T) {
	a, b := account.MustEmail("Jane@X.com"), account.MustEmail(" jane@x.com")
	if account.EmailStream(a) != account.EmailStream(b) {
		t.Fatal("equivalent addresses map to different streams")
	}
	if account.EmailStream(a) == account.EmailStream(account.MustEmail("john@x.com")) {
		t.Fatal("different addresses map to one stream")
	}
}

func lookupOf(locs ...location.Location) func(string) (location.Location, bool) {
	return func(id string) (location.Location, bool) {
		for _, l := range locs {
			if l.LocationID == id {
				return l, true
			}
		}
		return location.Location{}, false
	}
}

func loc(id, org string) location.Location {
	return location.EvolveLocation(location.Location{}, location.LocationRegistered{LocationID: id, OrganisationID: org, Name: id, Postcode: "NN1 1NN"})
}

func TestValidateRegistration_ReportsEveryInvalidFieldAtOnce(t *testing.T) {
	_, err := account.ValidateRegistration(account.Register{
		Email: "nope", FullName: "J", Phone: "12", JobTitle: "", UserType: "boss", OrganisationType: "castle",
		LocationIDs: []string{"1-404"}, TermsAccepted: false,
	}, lookupOf())
	got := fieldCodes(t, err)
	want := map[string]string{
		"email": "invalid_email", "full_name": "too_short", "phone": "invalid_phone", "job_title": "required",
		"user_type": "invalid_choice", "organisation_type": "invalid_choice", "location_ids[0]": "unknown_location",
		"terms_accepted": "required",
	}
	for f, code := range want {
		if got[f] != code {
			t.Errorf("field %s: code %q, want %q (all: %v)", f, got[f], code, got)
		}
	}
}

func TestValidateRegistration_AcceptsAndCleans(t *testing.T) {
	r, err := account.ValidateRegistration(account.Register{
		Email: " Jane@Cranberry.example ", FullName: "  Jane   O'Neill-Smith ", Phone: "+44 (0)1604 123456",
		JobTitle: "Registered Manager", UserType: "", OrganisationType: "home_care",
		LocationIDs: []string{"1-1", "1-1", "1-2"}, TermsAccepted: true,
	}, lookupOf(loc("1-1", "org-a"), loc("1-2", "org-b")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Email.String() != "jane@cranberry.example" || r.Event.FullName != "Jane O'Neill-Smith" || r.Event.Role != account.Standard {
		t.Errorf("cleaned registration = %+v", r)
	}
	if len(r.Locations) != 2 {
		t.Errorf("duplicate location kept: %v", r.Locations)
	}
}

func TestDecideRegister_TakenEmailIsAConflict(t *testing.T) {
	owner := account.EvolveEmail(account.EmailOwner{}, account.EmailClaimed{UserID: uuid.New()})
	_, err := account.DecideRegister(owner, account.ValidRegistration{}, uuid.New(), uuid.New())
	var c *domain.ConflictError
	if !errors.As(err, &c) || c.Code != "username_taken" {
		t.Fatalf("err = %v, want username_taken conflict", err)
	}
	released := account.EvolveEmail(owner, account.EmailReleased{UserID: owner.UserID})
	if _, err := account.DecideRegister(released, account.ValidRegistration{}, uuid.New(), uuid.New()); err != nil {
		t.Fatalf("released address: %v", err)
	}
}

// pendingUser registered for locations of orgs A and B.
func pendingUser() (account.User, uuid.UUID) {
	id, req := uuid.New(), uuid.New()
	return fold(
		account.UserRegistered{UserID: id, Email: "u@x.com", FullName: "U Ser", Role: account.Standard},
		account.AccessRequested{RequestID: req, Via: "registration", Locations: []account.LocationGrant{
			{LocationID: "1-1", OrganisationID: "A"}, {LocationID: "1-2", OrganisationID: "B"}}},
	), req
}

func approverOf(org, locID string) account.User {
	return fold(account.RegisteredManagerImported{UserID: uuid.New(), Email: "m@x.com", FullName: "Man Ager", LocationID: locID, OrganisationID: org})
}

func TestDecideAccess_OnlyApproversOfTheOrganisationOrSupport(t *testing.T) {
	u, req := pendingUser()
	support := fold(account.SupportUserCreated{UserID: uuid.New(), Email: "s@x.com", FullName: "Sup Port"})
	standard := fold(account.GenericAccountCreated{UserID: uuid.New(), Email: "g@x.com", DisplayName: "Gen", OrganisationID: "A",
		Locations: []account.LocationGrant{{LocationID: "1-1", OrganisationID: "A"}}})
	cases := []struct {
		name  string
		actor account.User
		want  error
	}{
		{"approver of A", approverOf("A", "1-1"), nil},
		{"support", support, nil},
		{"approver of B", approverOf("B", "1-2"), domain.ErrForbidden},
		{"approver of C", approverOf("C", "1-3"), domain.ErrForbidden},
		{"generic account of A", standard, domain.ErrForbidden},
	}
	for _, c := range cases {
		_, err := account.DecideAccess(u, c.actor, req, "A", true, "", t0, uuid.New(), 72*time.Hour)
		if !errors.Is(err, c.want) && !(err == nil && c.want == nil) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	deactivated := account.Evolve(approverOf("A", "1-1"), account.UserDeactivated{})
	if _, err := account.DecideAccess(u, deactivated, req, "A", true, "", t0, uuid.New(), time.Hour); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("deactivated approver: err = %v", err)
	}
}

func TestDecideAccess_ApprovalActivatesAndIssuesALink(t *testing.T) {
	u, req := pendingUser()
	link := uuid.New()
	evs, err := account.DecideAccess(u, approverOf("A", "1-1"), req, "A", true, "ok", t0, link, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("events = %#v", evs)
	}
	if l, ok := evs[2].(account.PasswordLinkIssued); !ok || l.LinkID != link || !l.ExpiresAt.Equal(t0.Add(72*time.Hour)) || l.Purpose != account.LinkSetPassword {
		t.Errorf("link event = %#v", evs[2])
	}
	for _, e := range evs {
		u = account.Evolve(u, e)
	}
	if u.Status != account.Active || u.Locations["1-1"] != "A" || u.Locations["1-2"] != "" {
		t.Errorf("after approval by A: status %s, locations %v", u.Status, u.Locations)
	}
}

func TestDecideAccess_DecidedTwiceIsRefused(t *testing.T) {
	u, req := pendingUser()
	a := approverOf("A", "1-1")
	evs, err := account.DecideAccess(u, a, req, "A", false, "not ours", t0, uuid.New(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		u = account.Evolve(u, e)
	}
	_, err = account.DecideAccess(u, a, req, "A", true, "", t0, uuid.New(), time.Hour)
	var r *domain.RuleError
	if !errors.As(err, &r) || r.Code != "already_decided" {
		t.Fatalf("err = %v, want already_decided", err)
	}
}

func TestDecideAccess_LastRejectionRejectsTheRegistration(t *testing.T) {
	u, req := pendingUser()
	evs, _ := account.DecideAccess(u, approverOf("A", "1-1"), req, "A", false, "", t0, uuid.New(), time.Hour)
	if len(evs) != 1 {
		t.Fatalf("first rejection with B still open: %#v", evs)
	}
	u = account.Evolve(u, evs[0])
	evs, _ = account.DecideAccess(u, approverOf("B", "1-2"), req, "B", false, "", t0, uuid.New(), time.Hour)
	if len(evs) != 2 {
		t.Fatalf("last rejection: %#v", evs)
	}
	if _, ok := evs[1].(account.RegistrationRejected); !ok {
		t.Fatalf("want RegistrationRejected, got %#v", evs[1])
	}
}

func activeWithPassword() account.User {
	return fold(
		account.RegisteredManagerImported{UserID: uuid.New(), Email: "m@x.com", FullName: "Man Ager", LocationID: "1-1", OrganisationID: "A"},
		account.PasswordSet{Via: account.SetByLink, ExpiresAt: t0.Add(365 * 24 * time.Hour)},
	)
}

func TestDecideLogin_LocksAfterFiveWrongPasswordsForADay(t *testing.T) {
	u := activeWithPassword()
	p := account.LoginPolicy{MaxFailures: 5, LockFor: 24 * time.Hour}
	var l account.Login
	for i := 1; i <= 5; i++ {
		evs, ok := account.DecideLogin(u, l, account.LoginAttempt{Now: t0}, p)
		if ok {
			t.Fatal("wrong password logged in")
		}
		for _, e := range evs {
			l = account.EvolveLogin(l, e)
		}
		if locked := l.Locked(t0); locked != (i == 5) {
			t.Fatalf("after %d failures locked = %v", i, locked)
		}
	}
	// Locked: the right password fails the same way.
	evs, ok := account.DecideLogin(u, l, account.LoginAttempt{PasswordOK: true, Now: t0.Add(23 * time.Hour)}, p)
	if ok || evs[0].(account.LoginFailed).Reason != account.FailLocked {
		t.Fatalf("locked login: ok=%v %#v", ok, evs)
	}
	// After 24 hours the right password works and the count starts again.
	evs, ok = account.DecideLogin(u, l, account.LoginAttempt{PasswordOK: true, Now: t0.Add(24 * time.Hour)}, p)
	if !ok {
		t.Fatalf("after the lock: %#v", evs)
	}
	evs, _ = account.DecideLogin(u, l, account.LoginAttempt{Now: t0.Add(25 * time.Hour)}, p)
	if f := evs[0].(account.LoginFailed); f.Consecutive != 1 || len(evs) != 1 {
		t.Fatalf("first failure after an expired lock: %#v", evs)
	}
}

func TestDecideLogin_SuccessResetsTheCount(t *testing.T) {
	u := activeWithPassword()
	l := foldLogin(account.LoginFailed{Reason: account.FailWrongPassword, Consecutive: 4})
	evs, ok := account.DecideLogin(u, l, account.LoginAttempt{PasswordOK: true, Now: t0}, account.LoginPolicy{MaxFailures: 5, LockFor: time.Hour})
	if !ok {
		t.Fatal("right password refused")
	}
	l = account.EvolveLogin(l, evs[0])
	if l.Failures != 0 {
		t.Fatalf("failures after success = %d", l.Failures)
	}
}

func TestDecideLogin_ExpiredPasswordAndGenericAccountsAreFlagged(t *testing.T) {
	u := activeWithPassword()
	evs, ok := account.DecideLogin(u, account.Login{}, account.LoginAttempt{PasswordOK: true, Now: t0.Add(365 * 24 * time.Hour)}, account.LoginPolicy{MaxFailures: 5})
	if !ok || !evs[0].(account.LoginSucceeded).PasswordExpired {
		t.Fatalf("expired password: %#v", evs)
	}
	g := fold(account.GenericAccountCreated{UserID: uuid.New(), Email: "g@x.com", DisplayName: "Gen", OrganisationID: "A"},
		account.PasswordSet{Via: account.SetBySupport, MustChange: true, ExpiresAt: t0.Add(time.Hour)})
	evs, ok = account.DecideLogin(g, account.Login{}, account.LoginAttempt{PasswordOK: true, Now: t0}, account.LoginPolicy{MaxFailures: 5})
	s := evs[0].(account.LoginSucceeded)
	if !ok || !s.DisclaimerRequired || !s.MustChangePassword {
		t.Fatalf("generic login: %#v", s)
	}
}

func TestDecideLogin_InactiveAccountsFailWithoutCounting(t *testing.T) {
	u := account.Evolve(activeWithPassword(), account.UserDeactivated{})
	evs, ok := account.DecideLogin(u, account.Login{}, account.LoginAttempt{PasswordOK: true, Now: t0}, account.LoginPolicy{MaxFailures: 5})
	if ok || evs[0].(account.LoginFailed).Reason != account.FailNotActive {
		t.Fatalf("deactivated: %#v", evs)
	}
}

func TestDecideSetPasswordByLink_SingleUseAndExpiring(t *testing.T) {
	link := uuid.New()
	u := fold(account.RegisteredManagerImported{UserID: uuid.New(), Email: "m@x.com", FullName: "Man Ager", LocationID: "1", OrganisationID: "A"},
		account.PasswordLinkIssued{LinkID: link, Purpose: account.LinkSetPassword, ExpiresAt: t0.Add(72 * time.Hour)})
	if _, err := account.DecideSetPasswordByLink(u, link, t0.Add(72*time.Hour), time.Hour); !errors.Is(err, account.ErrLinkInvalid) {
		t.Fatalf("expired link: %v", err)
	}
	evs, err := account.DecideSetPasswordByLink(u, link, t0.Add(71*time.Hour), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u = account.Evolve(u, evs[0])
	if _, err := account.DecideSetPasswordByLink(u, link, t0.Add(71*time.Hour), time.Hour); !errors.Is(err, account.ErrLinkInvalid) {
		t.Fatalf("used link: %v", err)
	}
	if _, err := account.DecideSetPasswordByLink(u, uuid.New(), t0, time.Hour); !errors.Is(err, account.ErrLinkInvalid) {
		t.Fatalf("unknown link: %v", err)
	}
}

func TestLinkToken_RoundTripsAndRejectsForgeries(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	uid, lid := uuid.New(), uuid.New()
	tok := account.LinkToken(key, uid, lid)
	gu, gl, ok := account.ParseLinkToken(key, tok)
	if !ok || gu != uid || gl != lid {
		t.Fatalf("round trip: %v %v %v", gu, gl, ok)
	}
	if _, _, ok := account.ParseLinkToken([]byte("another key of thirty-two bytes!"), tok); ok {
		t.Fatal("token accepted under another key")
	}
	forged := account.LinkToken(key, uuid.New(), lid)
	if _, _, ok := account.ParseLinkToken(key, forged[:43]+tok[43:]); ok {
		t.Fatal("spliced token accepted")
	}
	for _, bad := range []string{"", "x", tok + "A", "!!!!"} {
		if _, _, ok := account.ParseLinkToken(key, bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
}

func TestDecideExpiryReminder_OncePerWindow(t *testing.T) {
	u := activeWithPassword() // expires t0+365d
	exp := u.PasswordExpiresAt
	if evs := account.DecideExpiryReminder(u, exp.Add(-15*24*time.Hour)); evs != nil {
		t.Fatalf("15 days before: %#v", evs)
	}
	for _, c := range []struct {
		before time.Duration
		days   int
	}{{14 * 24 * time.Hour, 14}, {7 * 24 * time.Hour, 7}, {20 * time.Hour, 1}} {
		now := exp.Add(-c.before)
		evs := account.DecideExpiryReminder(u, now)
		if len(evs) != 1 || evs[0].(account.PasswordExpiryReminderDue).DaysBefore != c.days {
			t.Fatalf("%v before: %#v", c.before, evs)
		}
		u = account.Evolve(u, evs[0])
		if again := account.DecideExpiryReminder(u, now); again != nil {
			t.Fatalf("%d-day reminder twice", c.days)
		}
	}
	if evs := account.DecideExpiryReminder(u, exp); evs != nil {
		t.Fatalf("after expiry: %#v", evs)
	}
}

func TestDecideDeactivate_ManagedOnlyAndNotSelf(t *testing.T) {
	target := fold(account.RegisteredManagerImported{UserID: uuid.New(), Email: "t@x.com", FullName: "Tar Get", LocationID: "1-1", OrganisationID: "A"})
	target = account.Evolve(target, account.RoleChanged{From: account.Approver, To: account.Standard})
	if _, err := account.DecideDeactivate(target, approverOf("B", "1-2"), ""); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("approver of another organisation: %v", err)
	}
	a := approverOf("A", "1-1")
	if _, err := account.DecideDeactivate(a, a, ""); err == nil {
		t.Error("self-deactivation allowed")
	}
	evs, err := account.DecideDeactivate(target, a, "left")
	if err != nil || len(evs) != 1 {
		t.Fatalf("deactivate: %v %#v", err, evs)
	}
	target = account.Evolve(target, evs[0])
	if _, err := account.DecideDeactivate(target, a, ""); err == nil {
		t.Error("deactivated twice")
	}
	if evs, err := account.DecideReactivate(target, a); err != nil || len(evs) != 1 {
		t.Errorf("reactivate: %v", err)
	}
}

func TestDecideAccess_NobodyDecidesTheirOwnRequest(t *testing.T) {
	a := approverOf("A", "1-1")
	req := uuid.New()
	a = account.Evolve(a, account.AccessRequested{RequestID: req, Via: "my_access", Locations: []account.LocationGrant{{LocationID: "1-9", OrganisationID: "A"}}})
	_, err := account.DecideAccess(a, a, req, "A", true, "", t0, uuid.New(), time.Hour)
	var r *domain.RuleError
	if !errors.As(err, &r) || r.Code != "self" {
		t.Fatalf("own request: err = %v, want rule self", err)
	}
	if _, err := account.DecideAccess(a, approverOf("A", "1-2"), req, "A", true, "", t0, uuid.New(), time.Hour); err != nil {
		t.Fatalf("another Approver of A: %v", err)
	}
}

func TestDecideChangeRole_NeedsEveryOrganisationOfTheUser(t *testing.T) {
	u, req := pendingUser() // asked for A and B
	for _, org := range []string{"A", "B"} {
		evs, err := account.DecideAccess(u, approverOf(org, "x-"+org), req, org, true, "", t0, uuid.New(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			u = account.Evolve(u, e)
		}
	}
	var r *domain.RuleError
	if _, err := account.DecideChangeRole(u, approverOf("A", "1-1"), "approver"); !errors.As(err, &r) || r.Code != "other_organisations" {
		t.Fatalf("Approver of A only: err = %v, want other_organisations", err)
	}
	support := fold(account.SupportUserCreated{UserID: uuid.New(), Email: "s@x.com", FullName: "Sup Port"})
	evs, err := account.DecideChangeRole(u, support, "approver")
	if err != nil || len(evs) != 1 {
		t.Fatalf("support: %v %#v", err, evs)
	}
}

func TestDecideDeactivate_ApproverOfSomeOrganisationsRemovesOnlyTheirAccess(t *testing.T) {
	u, req := pendingUser() // asked for A (1-1) and B (1-2)
	for _, org := range []string{"A", "B"} {
		evs, err := account.DecideAccess(u, approverOf(org, "x-"+org), req, org, true, "", t0, uuid.New(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			u = account.Evolve(u, e)
		}
	}
	evs, err := account.DecideDeactivate(u, approverOf("A", "1-1"), "left A")
	if err != nil {
		t.Fatal(err)
	}
	rev, ok := evs[0].(account.AccessRevoked)
	if len(evs) != 1 || !ok || rev.OrganisationID != "A" || len(rev.LocationIDs) != 1 || rev.LocationIDs[0] != "1-1" {
		t.Fatalf("events = %#v, want AccessRevoked of A's location", evs)
	}
	u = account.Evolve(u, rev)
	if u.Status != account.Active || len(u.Locations) != 1 || u.Locations["1-2"] != "B" {
		t.Fatalf("after leaving A: status %s, locations %v", u.Status, u.Locations)
	}
	// The Approver of A has nothing left to remove; B's Approver deactivates.
	var r *domain.RuleError
	if _, err := account.DecideDeactivate(u, approverOf("A", "1-1"), ""); !errors.As(err, &r) && !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Approver of A again: %v", err)
	}
	evs, err = account.DecideDeactivate(u, approverOf("B", "1-2"), "left B too")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := evs[0].(account.UserDeactivated); !ok {
		t.Fatalf("last organisation: %#v, want UserDeactivated", evs)
	}
}

func TestDecideRequestAccess_ReportsFieldsByTheirIndexInTheRequest(t *testing.T) {
	u := approverOf("A", "1-1")
	_, err := account.DecideRequestAccess(u, []string{"1-404", "1-1", "1-1"}, true, lookupOf(loc("1-1", "A")), uuid.New())
	got := fieldCodes(t, err)
	if got["location_ids[0]"] != "unknown_location" || got["location_ids[1]"] != "already_granted" || len(got) != 2 {
		t.Fatalf("fields = %v", got)
	}
}

func TestDecideResetLink_AtMostOneEveryFewMinutes(t *testing.T) {
	u := activeWithPassword()
	evs := account.DecideResetLink(u, t0, uuid.New(), time.Hour)
	if len(evs) != 1 {
		t.Fatalf("first request: %#v", evs)
	}
	u = account.Evolve(u, evs[0])
	if again := account.DecideResetLink(u, t0.Add(account.ResetLinkInterval-time.Second), uuid.New(), time.Hour); again != nil {
		t.Fatalf("second request within the interval issued %#v", again)
	}
	if later := account.DecideResetLink(u, t0.Add(account.ResetLinkInterval), uuid.New(), time.Hour); len(later) != 1 {
		t.Fatalf("request after the interval: %#v", later)
	}
}

func TestDecideEndOtherCredentials_KeepsOnlyTheCallersOwn(t *testing.T) {
	keepToken, other, expired, revoked := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	u := fold(
		account.UserRegistered{UserID: uuid.New(), Email: "u@x.com", FullName: "U Ser", Role: account.Standard},
		account.APITokenCreated{TokenID: keepToken, Name: "kept", ExpiresAt: t0.Add(time.Hour)},
		account.APITokenCreated{TokenID: other, Name: "other", ExpiresAt: t0.Add(time.Hour)},
		account.APITokenCreated{TokenID: expired, Name: "expired", ExpiresAt: t0},
		account.APITokenCreated{TokenID: revoked, Name: "revoked", ExpiresAt: t0.Add(time.Hour)},
		account.APITokenRevoked{TokenID: revoked},
	)
	s1, s2 := uuid.New(), uuid.New()

	userEvs, loginEvs := account.DecideEndOtherCredentials(u, []uuid.UUID{s1, s2}, uuid.Nil, keepToken, t0, account.EndedByPasswordChange)
	if len(userEvs) != 1 || userEvs[0] != (account.APITokenRevoked{TokenID: other, Reason: account.EndedByPasswordChange}) {
		t.Errorf("changed with a token: user events %v, want only the other live token revoked", userEvs)
	}
	if len(loginEvs) != 2 {
		t.Errorf("changed with a token: login events %v, want both sessions revoked", loginEvs)
	}

	userEvs, loginEvs = account.DecideEndOtherCredentials(u, []uuid.UUID{s1, s2}, s2, uuid.Nil, t0, account.EndedByPasswordReset)
	if len(userEvs) != 2 {
		t.Errorf("changed in a session: user events %v, want both live tokens revoked", userEvs)
	}
	if len(loginEvs) != 1 || loginEvs[0] != (account.SessionRevoked{SessionID: s1, Reason: account.EndedByPasswordReset}) {
		t.Errorf("changed in a session: login events %v, want only the other session revoked", loginEvs)
	}
}
