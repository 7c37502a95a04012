package account_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
)

func supportUser() account.User {
	return fold(account.SupportUserCreated{UserID: uuid.New(), Email: "s@x.com", FullName: "Sup Port"})
}

// activeStandard is an approved Standard user of organisation A.
func activeStandard(orgType string) account.User {
	id, req := uuid.New(), uuid.New()
	return fold(
		account.UserRegistered{UserID: id, Email: "u@x.com", FullName: "U Ser", Role: account.Standard, OrganisationType: orgType},
		account.AccessRequested{RequestID: req, Via: "registration", Locations: []account.LocationGrant{{LocationID: "1-1", OrganisationID: "A"}}},
		account.AccessApproved{RequestID: req, OrganisationID: "A", LocationIDs: []string{"1-1"}},
		account.UserApproved{},
	)
}

func ruleCode(err error) string {
	var r *domain.RuleError
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

func TestDecideGrantAuditor_OnlySupportGrantsOrRevokes(t *testing.T) {
	target := activeStandard("care_home")
	commissioner := activeStandard("ccg")
	if !commissioner.IsCommissioner() {
		t.Fatal("fixture: the CCG user is no commissioner")
	}
	generic := fold(account.GenericAccountCreated{UserID: uuid.New(), Email: "g@x.com", DisplayName: "Gen", OrganisationID: "A",
		Locations: []account.LocationGrant{{LocationID: "1-1", OrganisationID: "A"}}})
	auditor := account.Evolve(activeStandard("care_home"), account.AuditorRoleGranted{})
	deactivatedSupport := account.Evolve(supportUser(), account.UserDeactivated{})
	for _, c := range []struct {
		name  string
		actor account.User
	}{
		{"approver of the user's organisation", approverOf("A", "1-1")},
		{"standard user", activeStandard("care_home")},
		{"commissioner", commissioner},
		{"generic account", generic},
		{"the user themself", target},
		{"an auditor", auditor},
		{"deactivated support", deactivatedSupport},
		{"nobody", account.User{}},
	} {
		if evs, err := account.DecideGrantAuditor(target, c.actor); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s grants: %#v, %v; want ErrForbidden", c.name, evs, err)
		}
		if evs, err := account.DecideRevokeAuditor(auditor, c.actor); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s revokes: %#v, %v; want ErrForbidden", c.name, evs, err)
		}
		// Refused before the user is looked at: no one but support learns
		// whether a user exists.
		if _, err := account.DecideGrantAuditor(account.User{}, c.actor); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s grants to nobody: %v; want ErrForbidden", c.name, err)
		}
	}
	if _, err := account.DecideGrantAuditor(account.User{}, supportUser()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("support grants to nobody: %v; want ErrNotFound", err)
	}
	if _, err := account.DecideRevokeAuditor(account.User{}, supportUser()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("support revokes from nobody: %v; want ErrNotFound", err)
	}
}

func TestDecideGrantAuditor_OnlyAnActivePersonalAccount(t *testing.T) {
	support := supportUser()
	pending, _ := pendingUser()
	deactivated := account.Evolve(activeStandard("care_home"), account.UserDeactivated{Reason: "left"})
	generic := fold(account.GenericAccountCreated{UserID: uuid.New(), Email: "g@x.com", DisplayName: "Gen", OrganisationID: "A",
		Locations: []account.LocationGrant{{LocationID: "1-1", OrganisationID: "A"}}})
	for _, c := range []struct {
		name string
		user account.User
		code string
	}{
		{"pending", pending, "not_active"},
		{"deactivated", deactivated, "not_active"},
		{"generic", generic, "not_personal"},
	} {
		evs, err := account.DecideGrantAuditor(c.user, support)
		if got := ruleCode(err); got != c.code || evs != nil {
			t.Errorf("%s: %#v, %v; want rule %s", c.name, evs, err, c.code)
		}
	}
	for _, u := range []account.User{activeStandard("care_home"), approverOf("A", "1-1"), supportUser()} {
		if evs, err := account.DecideGrantAuditor(u, support); err != nil || len(evs) != 1 {
			t.Errorf("active %s: %#v, %v", u.Role, evs, err)
		}
	}
	// Support cannot make themself an auditor: another member must.
	if evs, err := account.DecideGrantAuditor(support, support); ruleCode(err) != "own_account" || evs != nil {
		t.Errorf("support grants themself: %#v, %v; want rule own_account", evs, err)
	}
}

func TestAuditorRole_GrantAndRevokeFoldAndRepeatsDecideNothing(t *testing.T) {
	support := supportUser()
	u := activeStandard("care_home")
	if u.IsAuditor() {
		t.Fatal("a new user is an auditor")
	}
	apply := func(evs []account.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			u = account.Evolve(u, e)
		}
	}
	nothing := func(what string) func([]account.Event, error) {
		return func(evs []account.Event, err error) {
			t.Helper()
			if err != nil || len(evs) != 0 {
				t.Errorf("%s: %#v, %v; want nothing decided", what, evs, err)
			}
		}
	}

	nothing("revoke from a non-auditor")(account.DecideRevokeAuditor(u, support))
	evs, err := account.DecideGrantAuditor(u, support)
	if _, ok := onlyEvent(evs).(account.AuditorRoleGranted); !ok || err != nil {
		t.Fatalf("grant: %#v, %v", evs, err)
	}
	v := u.Version
	apply(evs, err)
	if !u.Auditor || !u.IsAuditor() || u.Version != v+1 {
		t.Fatalf("after the grant: auditor %v, IsAuditor %v, version %d", u.Auditor, u.IsAuditor(), u.Version)
	}
	nothing("grant to an auditor")(account.DecideGrantAuditor(u, support))

	// Deactivation keeps the flag but ends the role; reactivation brings
	// it back, and support may revoke it meanwhile.
	u = account.Evolve(u, account.UserDeactivated{Reason: "left"})
	if !u.Auditor || u.IsAuditor() {
		t.Fatalf("deactivated: auditor %v, IsAuditor %v", u.Auditor, u.IsAuditor())
	}
	u = account.Evolve(u, account.UserReactivated{})
	if !u.IsAuditor() {
		t.Fatal("reactivated auditor is no auditor")
	}
	u = account.Evolve(u, account.UserDeactivated{})
	evs, err = account.DecideRevokeAuditor(u, support)
	if _, ok := onlyEvent(evs).(account.AuditorRoleRevoked); !ok || err != nil {
		t.Fatalf("revoke from a deactivated auditor: %#v, %v", evs, err)
	}
	apply(evs, err)
	u = account.Evolve(u, account.UserReactivated{})
	if u.Auditor || u.IsAuditor() {
		t.Fatal("revoked, yet an auditor")
	}
	nothing("revoke again")(account.DecideRevokeAuditor(u, support))
}

func TestAuditorEvents_DecodeByTheirStableNames(t *testing.T) {
	for _, ev := range []account.Event{account.AuditorRoleGranted{}, account.AuditorRoleRevoked{}} {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// The events carry nothing: who granted the role is the event's
		// metadata, and no secret can leak through an empty body.
		if string(data) != "{}" {
			t.Errorf("%s encodes as %s", ev.EventType(), data)
		}
		got, err := account.Decode(ev.EventType(), data)
		if err != nil || got != ev {
			t.Errorf("Decode(%s) = %#v, %v", ev.EventType(), got, err)
		}
	}
	if ev, _ := account.Decode("AuditorRoleGranted", nil); ev != (account.AuditorRoleGranted{}) {
		t.Errorf("Decode without data = %#v", ev)
	}
}

// onlyEvent is the one event of evs, or nil.
func onlyEvent(evs []account.Event) account.Event {
	if len(evs) != 1 {
		return nil
	}
	return evs[0]
}
