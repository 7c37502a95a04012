package commands_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// auditorWorld is the fixture's organisation 1-100 (location 1-200, its
// Approver), a second organisation 1-300 (location 1-400), and these
// actors: support, a Standard user of 1-100, another one (the target of
// the grants) and a commissioner (a CCG user of 1-400).
type auditorWorld struct {
	fixture
	support, standard, target, commissioner, approver commands.Actor
}

func newAuditorWorld(t *testing.T, b backend) auditorWorld {
	t.Helper()
	f := newFixture(t, b, password.FastParams())
	ctx := context.Background()
	sys := commands.System("test")
	if _, err := f.accounts.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "1-300", Name: "Damson Care", Type: "care_home"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.accounts.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: "1-400", OrganisationID: "1-300", Name: "Damson House", Postcode: "NN2 2NN"}); err != nil {
		t.Fatal(err)
	}
	sup, err := f.accounts.CreateSupportUser(ctx, sys, "sam.support@example.nhs.uk", "Sam Support")
	if err != nil {
		t.Fatal(err)
	}
	w := auditorWorld{fixture: f}
	w.support = w.actor(t, sup.UserID)
	w.approver = w.actor(t, f.approver)
	w.standard = w.actor(t, w.activeUser(t, "stan.dard@cranberry.example", "care_home", "1-200", "1-100"))
	w.target = w.actor(t, w.activeUser(t, "tara.get@cranberry.example", "care_home", "1-200", "1-100"))
	w.commissioner = w.actor(t, w.activeUser(t, "cara.commissioner@ccg.example.nhs.uk", "ccg", "1-400", "1-300"))
	if !w.commissioner.User.IsCommissioner() {
		t.Fatal("fixture: the CCG user is no commissioner")
	}
	return w
}

// activeUser registers a Standard user for a location, approved by
// support.
func (w auditorWorld) activeUser(t *testing.T, email, orgType, locID, orgID string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	reg, err := w.accounts.Register(ctx, commands.Request{}, account.Register{
		Email: email, FullName: "Some Body", Phone: "01632 960000", JobTitle: "Care Worker", UserType: "standard",
		OrganisationType: orgType, LocationIDs: []string{locID}, TermsAccepted: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.accounts.DecideAccess(ctx, commands.System("test"), reg.UserID, reg.RequestID, orgID, true, ""); err != nil {
		t.Fatal(err)
	}
	return reg.UserID
}

// actor is the user as Authenticate would load them.
func (w auditorWorld) actor(t *testing.T, id uuid.UUID) commands.Actor {
	t.Helper()
	u, err := w.accounts.LoadUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return commands.Actor{User: u, SessionID: uuid.NewString()}
}

func TestGrantAuditorRole_SupportGrantsAndRevokesIntoTheUserStream(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newAuditorWorld(t, b)
			ctx := context.Background()
			id := w.target.User.ID
			stream := account.UserStream(id)
			before := w.target.User.Version

			got, err := w.accounts.GrantAuditorRole(ctx, w.support, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.UserID != id || !got.Auditor || got.Version != before+1 || got.Position == 0 {
				t.Fatalf("grant = %+v, want auditor at version %d", got, before+1)
			}
			u, err := w.accounts.LoadUser(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !u.IsAuditor() || u.Version != got.Version {
				t.Fatalf("after the grant: IsAuditor %v, version %d", u.IsAuditor(), u.Version)
			}
			evs, err := w.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{FromVersion: got.Version})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Type != "AuditorRoleGranted" || evs[0].Position != got.Position {
				t.Fatalf("user stream from version %d: %+v", got.Version, evs)
			}
			md := evs[0].Metadata
			if md.Command != "GrantAuditorRole" || md.ActorUserID != w.support.User.ID.String() || md.SessionID != w.support.SessionID {
				t.Errorf("metadata of the grant: %+v", md)
			}

			// Granted again: nothing appended, the same version.
			again, err := w.accounts.GrantAuditorRole(ctx, w.support, id)
			if err != nil || again.Position != 0 || again.Version != got.Version || !again.Auditor {
				t.Fatalf("grant again = %+v, %v", again, err)
			}

			revoked, err := w.accounts.RevokeAuditorRole(ctx, w.support, id)
			if err != nil || revoked.Auditor || revoked.Version != got.Version+1 || revoked.Position <= got.Position {
				t.Fatalf("revoke = %+v, %v", revoked, err)
			}
			if u, _ := w.accounts.LoadUser(ctx, id); u.IsAuditor() || u.Auditor {
				t.Fatal("revoked, yet an auditor")
			}
			evs, _ = w.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{FromVersion: revoked.Version})
			if len(evs) != 1 || evs[0].Type != "AuditorRoleRevoked" || evs[0].Metadata.Command != "RevokeAuditorRole" {
				t.Fatalf("the revocation in the stream: %+v", evs)
			}
			if again, err := w.accounts.RevokeAuditorRole(ctx, w.support, id); err != nil || again.Position != 0 || again.Version != revoked.Version {
				t.Fatalf("revoke again = %+v, %v", again, err)
			}

			// The operator's tool acts as support.
			if _, err := w.accounts.GrantAuditorRole(ctx, commands.System("test"), id); err != nil {
				t.Fatalf("system actor: %v", err)
			}
		})
	}
}

func TestGrantAuditorRole_NobodyButSupport(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newAuditorWorld(t, b)
			ctx := context.Background()
			// An auditor to revoke from.
			if _, err := w.accounts.GrantAuditorRole(ctx, w.support, w.standard.User.ID); err != nil {
				t.Fatal(err)
			}
			auditor := w.actor(t, w.standard.User.ID)
			for _, c := range []struct {
				name  string
				actor commands.Actor
			}{
				{"approver", w.approver},
				{"standard user", w.standard},
				{"commissioner", w.commissioner},
				{"the target themself", w.target},
				{"an auditor", auditor},
			} {
				if _, err := w.accounts.GrantAuditorRole(ctx, c.actor, w.target.User.ID); !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("%s grants: %v, want ErrForbidden", c.name, err)
				}
				if _, err := w.accounts.RevokeAuditorRole(ctx, c.actor, w.standard.User.ID); !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("%s revokes: %v, want ErrForbidden", c.name, err)
				}
				if _, err := w.accounts.GrantAuditorRole(ctx, c.actor, uuid.New()); !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("%s grants to an unknown user: %v, want ErrForbidden", c.name, err)
				}
			}
			if u := w.actor(t, w.target.User.ID).User; u.Auditor || u.Version != w.target.User.Version {
				t.Errorf("refused grants changed the target: auditor %v, version %d", u.Auditor, u.Version)
			}
			if u := w.actor(t, w.standard.User.ID).User; !u.IsAuditor() {
				t.Error("refused revocations revoked")
			}

			// Support: an unknown user is not found, an inactive one cannot
			// become an auditor.
			if _, err := w.accounts.GrantAuditorRole(ctx, w.support, uuid.New()); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("unknown user: %v, want ErrNotFound", err)
			}
			if _, err := w.accounts.Deactivate(ctx, w.support, w.target.User.ID, "left"); err != nil {
				t.Fatal(err)
			}
			var rule *domain.RuleError
			if _, err := w.accounts.GrantAuditorRole(ctx, w.support, w.target.User.ID); !errors.As(err, &rule) || rule.Code != "not_active" {
				t.Errorf("deactivated user: %v, want rule not_active", err)
			}
			// A support session that must change its password changes
			// nothing.
			pending := w.support
			pending.PasswordChangeRequired = true
			if _, err := w.accounts.GrantAuditorRole(ctx, pending, w.commissioner.User.ID); !errors.Is(err, commands.ErrPasswordChangeRequired) {
				t.Errorf("support with a password to change: %v", err)
			}
		})
	}
}

func TestStreamHistory_AuditorsReplayEveryOrganisationsStreams(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newAuditorWorld(t, b)
			ctx := context.Background()
			other := location.LocationStream("1-400") // organisation 1-300: neither user's
			for _, a := range []commands.Actor{w.standard, w.target} {
				if _, err := w.accounts.StreamHistory(ctx, a, other); !errors.Is(err, domain.ErrForbidden) {
					t.Fatalf("a plain user replays another organisation's location: %v", err)
				}
			}
			if _, err := w.accounts.GrantAuditorRole(ctx, w.support, w.standard.User.ID); err != nil {
				t.Fatal(err)
			}
			auditor := w.actor(t, w.standard.User.ID)
			for _, stream := range []string{other, location.OrganisationStream("1-300"), account.UserStream(w.commissioner.User.ID),
				account.UserStream(w.support.User.ID)} {
				evs, err := w.accounts.StreamHistory(ctx, auditor, stream)
				if err != nil || len(evs) == 0 {
					t.Errorf("the auditor replays %s: %d events, %v", stream, len(evs), err)
				}
			}
			if _, err := w.accounts.StreamHistory(ctx, w.target, other); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("a plain user, with an auditor in the organisation: %v", err)
			}

			// The role ends with the account, and with its revocation.
			if _, err := w.accounts.Deactivate(ctx, w.support, w.standard.User.ID, "left"); err != nil {
				t.Fatal(err)
			}
			if _, err := w.accounts.StreamHistory(ctx, w.actor(t, w.standard.User.ID), other); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("a deactivated auditor: %v", err)
			}
			if _, err := w.accounts.Reactivate(ctx, w.support, w.standard.User.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := w.accounts.RevokeAuditorRole(ctx, w.support, w.standard.User.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := w.accounts.StreamHistory(ctx, w.actor(t, w.standard.User.ID), other); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("a revoked auditor: %v", err)
			}
		})
	}
}
