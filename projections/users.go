package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
)

// AccountProjections returns the read models of user accounts: users,
// pending approvals, sessions and approver counts. The location directory,
// which their queries join, is package projections/directory.
func AccountProjections() []Projection {
	return []Projection{Users{}, PendingApprovals{}, Sessions{}, ApproverCounts{}}
}

// Users is the list of user accounts, for the pages that manage them
// (support's and an Approver's list of their organisation's users, a
// user's own details, the password expiry reminders): table users, one row
// per account with its profile, role, status and login state, and table
// user_locations, the users with access per location, each with a copy of
// the user's name: an organisation's users page walks its index on
// (organisation_id, full_name, user_id) in the page's order instead of
// sorting all the organisation's users for every page.
type Users struct{}

// Tables of Users.
const (
	UsersTable         = "users"
	UserLocationsTable = "user_locations"
)

func (Users) Name() string { return "users" }

func (Users) Tables() []string { return []string{UsersTable, UserLocationsTable} }

func (Users) Schema(d Dialect, table func(string) string) []string {
	u, l := table(UsersTable), table(UserLocationsTable)
	ts := d.TimestampType()
	return []string{
		fmt.Sprintf(`CREATE TABLE %[1]s (
    user_id               TEXT    PRIMARY KEY,
    email                 TEXT    NOT NULL,
    full_name             TEXT    NOT NULL,
    phone                 TEXT    NOT NULL,
    job_title             TEXT    NOT NULL,
    role                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    organisation_type     TEXT    NOT NULL,
    communications_opt_in BOOLEAN NOT NULL,
    home_organisation     TEXT    NOT NULL,
    registered_at         %[2]s   NOT NULL,
    approved_at           %[2]s,
    deactivated_at        %[2]s,
    last_login_at         %[2]s,
    locked_until          %[2]s,
    password_expires_at   %[2]s,
    must_change_password  BOOLEAN NOT NULL,
    updated_at            %[2]s   NOT NULL
)`, u, ts),
		fmt.Sprintf(`CREATE INDEX %s_password_expires_at ON %s (password_expires_at)`, u, u),
		fmt.Sprintf(`CREATE TABLE %s (
    user_id         TEXT NOT NULL,
    location_id     TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    full_name       TEXT NOT NULL,
    granted_at      %s   NOT NULL,
    PRIMARY KEY (user_id, location_id)
)`, l, ts),
		fmt.Sprintf(`CREATE INDEX %s_location_id ON %s (location_id)`, l, l),
		fmt.Sprintf(`CREATE INDEX %s_organisation_name ON %s (organisation_id, full_name, user_id)`, l, l),
	}
}

// QueryIndexes implements QueryIndexer: every secondary index. Apply and
// Erase read and write users and user_locations by user id, the first
// column of both primary keys.
func (u Users) QueryIndexes(d Dialect, table func(string) string) []string {
	us, l := table(UsersTable), table(UserLocationsTable)
	return IndexesNamed(u.Schema(d, table), us+"_password_expires_at", l+"_location_id", l+"_organisation_name")
}

// Apply applies the events of the user-<id> and login-<id> streams.
func (p Users) Apply(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event) error {
	if done, err := ApplyErasure(ctx, tx, table, ev, p); done {
		return err
	}
	cat := ev.Category()
	if cat != "user" && cat != "login" {
		return nil
	}
	e, err := account.Decode(ev.Type, MarkErased(ev))
	if err != nil || e == nil {
		return err
	}
	userID := StreamEntity(ev.StreamID)
	d := tx.Dialect()
	at := d.Time(ev.RecordedAt)
	u := table(UsersTable)
	if cat == "login" {
		switch e := e.(type) {
		case account.LoginSucceeded:
			return updateUser(ctx, tx, u, userID, `last_login_at = ?, updated_at = ?`, at, at)
		case account.AccountLocked:
			return updateUser(ctx, tx, u, userID, `locked_until = ?, updated_at = ?`, NullTime(d, e.Until), at)
		case account.AccountUnlocked:
			return updateUser(ctx, tx, u, userID, `locked_until = NULL, updated_at = ?`, at)
		}
		return nil
	}
	if r, ok := newUserRow(userID, e); ok {
		return insertUser(ctx, tx, table, r, ev.RecordedAt)
	}
	switch e := e.(type) {
	case account.AccessApproved:
		grants := make([]account.LocationGrant, len(e.LocationIDs))
		for i, l := range e.LocationIDs {
			grants[i] = account.LocationGrant{LocationID: l, OrganisationID: e.OrganisationID}
		}
		if err := grantLocations(ctx, tx, table, userID, grants, ev.RecordedAt); err != nil {
			return err
		}
		return updateUser(ctx, tx, u, userID, `updated_at = ?`, at)
	case account.AccessRevoked:
		for _, l := range e.LocationIDs {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE user_id = ? AND location_id = ? AND organisation_id = ?`,
				table(UserLocationsTable)), userID, l, e.OrganisationID); err != nil {
				return fmt.Errorf("user %s: location %s: %w", userID, l, err)
			}
		}
		return updateUser(ctx, tx, u, userID, `updated_at = ?`, at)
	case account.UserApproved:
		return updateUser(ctx, tx, u, userID, `status = ?, approved_at = ?, updated_at = ?`, string(account.Active), at, at)
	case account.RegistrationRejected:
		return updateUser(ctx, tx, u, userID, `status = ?, updated_at = ?`, string(account.Rejected), at)
	case account.UserDeactivated:
		return updateUser(ctx, tx, u, userID, `status = ?, deactivated_at = ?, updated_at = ?`, string(account.Deactivated), at, at)
	case account.UserReactivated:
		return updateUser(ctx, tx, u, userID, `status = ?, deactivated_at = NULL, updated_at = ?`, string(account.Active), at)
	case account.RoleChanged:
		return updateUser(ctx, tx, u, userID, `role = ?, updated_at = ?`, string(e.To), at)
	case account.CommunicationsPreferenceChanged:
		return updateUser(ctx, tx, u, userID, `communications_opt_in = ?, updated_at = ?`, e.OptIn, at)
	case account.PasswordSet:
		return updateUser(ctx, tx, u, userID, `password_expires_at = ?, must_change_password = ?, updated_at = ?`,
			NullTime(d, e.ExpiresAt), e.MustChange, at)
	}
	return nil
}

// newUserRow is the row of an account-creating event; ok is false for
// any other event.
func newUserRow(userID string, e account.Event) (userRow, bool) {
	switch e := e.(type) {
	case account.UserRegistered:
		return userRow{
			id: userID, email: e.Email, fullName: e.FullName, phone: e.Phone, jobTitle: e.JobTitle,
			role: e.Role, kind: account.Personal, status: account.Pending,
			organisationType: e.OrganisationType, optIn: e.CommunicationsOptIn,
		}, true
	case account.RegisteredManagerImported:
		return userRow{
			id: userID, email: e.Email, fullName: e.FullName, phone: e.Phone,
			role: account.Approver, kind: account.Personal, status: account.Active,
			locations: []account.LocationGrant{{LocationID: e.LocationID, OrganisationID: e.OrganisationID}},
		}, true
	case account.SupportUserCreated:
		return userRow{
			id: userID, email: e.Email, fullName: e.FullName,
			role: account.Support, kind: account.Personal, status: account.Active,
		}, true
	case account.GenericAccountCreated:
		return userRow{
			id: userID, email: e.Email, fullName: e.DisplayName,
			role: account.Standard, kind: account.Generic, status: account.Active,
			homeOrganisation: e.OrganisationID, locations: e.Locations,
		}, true
	}
	return userRow{}, false
}

// Personal implements Eraser: a user's profile, copied from the event that
// created the account.
func (Users) Personal() []PersonalColumns {
	return []PersonalColumns{
		{Table: UsersTable, Subjects: []string{"user_id"}, Columns: []string{"email", "full_name", "phone", "job_title"}},
		{Table: UserLocationsTable, Subjects: []string{"user_id"}, Columns: []string{"full_name"}},
	}
}

// Erase implements Eraser: the erased user's profile columns are written
// again from the account's creating event, read from the log again (so
// erased), as Apply wrote them.
func (Users) Erase(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event, e erasure.PersonErased) error {
	userID, evs, ok, err := ErasedUser(ctx, tx, ev, e)
	if err != nil || !ok {
		return err
	}
	var r userRow
	found := false
	if err := UserCreations(evs, MarkErased, func(d account.Event) { r, found = newUserRow(userID, d) }); err != nil || !found {
		return err
	}
	if err := updateUser(ctx, tx, table(UsersTable), userID, `email = ?, full_name = ?, phone = ?, job_title = ?`,
		r.email, r.fullName, r.phone, r.jobTitle); err != nil {
		return err
	}
	return updateUser(ctx, tx, table(UserLocationsTable), userID, `full_name = ?`, r.fullName)
}

// userRow is a new account.
type userRow struct {
	id, email, fullName, phone, jobTitle string
	role                                 account.Role
	kind                                 account.Kind
	status                               account.Status
	organisationType, homeOrganisation   string
	optIn                                bool
	locations                            []account.LocationGrant
}

// insertUser records a new account. An account that becomes active when it
// is created (imported, support, generic) is approved at once.
func insertUser(ctx context.Context, tx Tx, table func(string) string, r userRow, at time.Time) error {
	d := tx.Dialect()
	var approved any
	if r.status == account.Active {
		approved = d.Time(at)
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (user_id, email, full_name, phone, job_title, role, kind,
    status, organisation_type, communications_opt_in, home_organisation, registered_at, approved_at,
    must_change_password, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?)
ON CONFLICT (user_id) DO UPDATE SET
    email = excluded.email, full_name = excluded.full_name, phone = excluded.phone,
    job_title = excluded.job_title, role = excluded.role, kind = excluded.kind, status = excluded.status,
    organisation_type = excluded.organisation_type, communications_opt_in = excluded.communications_opt_in,
    home_organisation = excluded.home_organisation, registered_at = excluded.registered_at,
    approved_at = excluded.approved_at, updated_at = excluded.updated_at`, table(UsersTable)),
		r.id, r.email, r.fullName, r.phone, r.jobTitle, string(r.role), string(r.kind), string(r.status),
		r.organisationType, r.optIn, r.homeOrganisation, d.Time(at), approved, d.Time(at))
	if err != nil {
		return fmt.Errorf("user %s: %w", r.id, err)
	}
	// An account created again under its id (the upsert above) renames the
	// copies of its name in the grants it already has.
	if err := updateUser(ctx, tx, table(UserLocationsTable), r.id, `full_name = ?`, r.fullName); err != nil {
		return err
	}
	return grantLocations(ctx, tx, table, r.id, r.locations, at)
}

// grantLocations records the user's access to locations, with a copy of
// the user's name from the users row (written before any grant); a
// location granted before keeps its first grant time.
func grantLocations(ctx context.Context, tx Tx, table func(string) string, userID string, grants []account.LocationGrant, at time.Time) error {
	for _, g := range grants {
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (user_id, location_id, organisation_id, full_name, granted_at)
VALUES (?, ?, ?, COALESCE((SELECT full_name FROM %s WHERE user_id = ?), ''), ?) ON CONFLICT (user_id, location_id) DO NOTHING`,
			table(UserLocationsTable), table(UsersTable)),
			userID, g.LocationID, g.OrganisationID, userID, tx.Dialect().Time(at))
		if err != nil {
			return fmt.Errorf("user %s: location %s: %w", userID, g.LocationID, err)
		}
	}
	return nil
}

// updateUser sets columns of a user's row: set is "col = ?, ..." and args
// its values.
func updateUser(ctx context.Context, tx Tx, t, userID, set string, args ...any) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE user_id = ?`, t, set), append(args, userID)...); err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	return nil
}
