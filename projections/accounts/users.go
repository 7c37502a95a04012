package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

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

func (Users) Schema(d projections.Dialect, table func(string) string) []string {
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
func (u Users) QueryIndexes(d projections.Dialect, table func(string) string) []string {
	us, l := table(UsersTable), table(UserLocationsTable)
	return projections.IndexesNamed(u.Schema(d, table), us+"_password_expires_at", l+"_location_id", l+"_organisation_name")
}

// Apply applies the events of the user-<id> and login-<id> streams.
func (p Users) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if done, err := projections.ApplyErasure(ctx, tx, table, ev, p); done {
		return err
	}
	cat := ev.Category()
	if cat != "user" && cat != "login" {
		return nil
	}
	e, err := account.Decode(ev.Type, projections.MarkErased(ev))
	if err != nil || e == nil {
		return err
	}
	userID := projections.StreamEntity(ev.StreamID)
	d := tx.Dialect()
	at := d.Time(ev.RecordedAt)
	u := table(UsersTable)
	if cat == "login" {
		switch e := e.(type) {
		case account.LoginSucceeded:
			return updateUser(ctx, tx, u, userID, `last_login_at = ?, updated_at = ?`, at, at)
		case account.AccountLocked:
			return updateUser(ctx, tx, u, userID, `locked_until = ?, updated_at = ?`, projections.NullTime(d, e.Until), at)
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
			projections.NullTime(d, e.ExpiresAt), e.MustChange, at)
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
func (Users) Personal() []projections.PersonalColumns {
	return []projections.PersonalColumns{
		{Table: UsersTable, Subjects: []string{"user_id"}, Columns: []string{"email", "full_name", "phone", "job_title"}},
		{Table: UserLocationsTable, Subjects: []string{"user_id"}, Columns: []string{"full_name"}},
	}
}

// Erase implements Eraser: the erased user's profile columns are written
// again from the account's creating event, read from the log again (so
// erased), as Apply wrote them.
func (Users) Erase(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event, e erasure.PersonErased) error {
	userID, evs, ok, err := projections.ErasedUser(ctx, tx, ev, e)
	if err != nil || !ok {
		return err
	}
	var r userRow
	found := false
	if err := projections.UserCreations(evs, projections.MarkErased, func(d account.Event) { r, found = newUserRow(userID, d) }); err != nil || !found {
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
func insertUser(ctx context.Context, tx projections.Tx, table func(string) string, r userRow, at time.Time) error {
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
func grantLocations(ctx context.Context, tx projections.Tx, table func(string) string, userID string, grants []account.LocationGrant, at time.Time) error {
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
func updateUser(ctx context.Context, tx projections.Tx, t, userID, set string, args ...any) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE user_id = ?`, t, set), append(args, userID)...); err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	return nil
}

// User is a user account as a list or details page shows it.
type User struct {
	UserID   string `json:"user_id,omitempty"`
	Email    string `json:"email,omitempty"`
	FullName string `json:"full_name"`
	JobTitle string `json:"job_title,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Role     string `json:"role"`
	Kind     string `json:"kind,omitempty"`
	Status   string `json:"status,omitempty"`
	// Locations lists the user's locations that the viewer may know of.
	Locations   []string   `json:"locations,omitempty"`
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
}

// userColumns are the columns scanUser reads, of users u.
const userColumns = `u.user_id, u.email, u.full_name, u.job_title, u.phone, u.role, u.kind, u.status, u.last_login_at, u.locked_until`

func scanUser(rows projections.Rows) (User, error) {
	var u User
	var lastLogin, locked projections.Timestamp
	if err := rows.Scan(&u.UserID, &u.Email, &u.FullName, &u.JobTitle, &u.Phone, &u.Role, &u.Kind, &u.Status, &lastLogin, &locked); err != nil {
		return u, err
	}
	u.LastLoginAt, u.LockedUntil = projections.TimePtr(lastLogin), projections.TimePtr(locked)
	return u, nil
}

// OrganisationUsers reads the users with access to a location of an
// organisation, by name, each with their locations of that organisation
// (never nil).
func OrganisationUsers(ctx context.Context, db projections.Querier, orgID string) ([]User, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+userColumns+organisationUsersFrom+organisationUsersOrder, orgID)
	out, err := projections.Collect(rows, err, []User{}, scanUser)
	if err != nil {
		return out, err
	}
	return out, addLocations(ctx, db, out, "", `organisation_id = ?`, orgID)
}

// OrganisationUsersPage reads a page (from 1) of size of OrganisationUsers,
// in the same order, without their locations (AddOrganisationLocations).
// The page is read from user_locations' copies of the users' names, in the
// order of its index on (organisation_id, full_name, user_id), which the
// Users view keeps equal to users.full_name: an index range walk of the
// organisation's grants up to the page's end, not a sort of all its users;
// only the page's users are then read from users.
func OrganisationUsersPage(ctx context.Context, db projections.Querier, orgID string, page, size int) ([]User, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+userColumns+` FROM (
    SELECT DISTINCT full_name, user_id FROM `+UserLocationsTable+` WHERE organisation_id = ?
    ORDER BY full_name, user_id`+projections.LimitOffset(page, size)+`) p
JOIN `+UsersTable+` u ON u.user_id = p.user_id
ORDER BY p.full_name, p.user_id`, orgID)
	return projections.Collect(rows, err, nil, scanUser)
}

// CountOrganisationUsers counts the users of OrganisationUsers.
func CountOrganisationUsers(ctx context.Context, db projections.Querier, orgID string) (int, error) {
	return projections.CountRows(ctx, db, organisationUsersCount, orgID)
}

// The FROM and WHERE of an organisation's users (its one argument, the
// organisation), through the index on user_locations(organisation_id) and
// the users' key, and their order.
const (
	organisationUsersFrom = ` FROM ` + UsersTable + ` u
WHERE u.user_id IN (SELECT user_id FROM ` + UserLocationsTable + ` WHERE organisation_id = ?)`
	organisationUsersOrder = `
ORDER BY u.full_name, u.user_id`
	// organisationUsersCount counts them from user_locations alone,
	// through its index on organisation_id: every user id there has a
	// users row (the Users view inserts it at the stream's first event,
	// before any grant, and deletes none), so the join with users only
	// cost time (on PostgreSQL a hash of every user).
	//
	// The distinct (full_name, user_id) pairs are the distinct users (a
	// user has one name on all their rows) and come in the order of the
	// index on (organisation_id, full_name, user_id), so PostgreSQL counts
	// them by comparing neighbours for equality; count(DISTINCT user_id)
	// sorted the organisation's grants under the database's collation
	// first (4-6 ms for 2,000 grants, auto_explain on the large benchmark).
	organisationUsersCount = `SELECT count(*) FROM (SELECT DISTINCT full_name, user_id FROM ` + UserLocationsTable +
		` WHERE organisation_id = ?) d`
)

// AddOrganisationLocations fills in the Locations of users in one
// organisation. The users' grants are read by the primary key (user_id,
// location_id) and those of other organisations dropped by addLocations:
// with the organisation in the WHERE clause PostgreSQL's generic plan,
// which estimates one grant per organisation, walked every grant of the
// organisation by its index and tested each against the page's user ids
// (14 ms for 50 users of an organisation of 2,000 grants, auto_explain on
// the large benchmark), where the page's own grants are a few index
// lookups.
func AddOrganisationLocations(ctx context.Context, db projections.Querier, users []User, orgID string) error {
	args := make([]any, len(users))
	for i, u := range users {
		args[i] = u.UserID
	}
	return addLocations(ctx, db, users, orgID, `user_id IN (`+projections.Marks(len(users))+`)`, args...)
}

// LocationUsers reads the users with access to a location, by name (never
// nil): the active ones only if activeOnly. With org not "", each gets
// their locations of the organisation org.
func LocationUsers(ctx context.Context, db projections.Querier, locationID string, activeOnly bool, org string) ([]User, error) {
	cond, args := ``, []any{locationID}
	if activeOnly {
		cond, args = ` AND u.status = ?`, append(args, "active")
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s u
WHERE u.user_id IN (SELECT user_id FROM %s WHERE location_id = ?)%s
ORDER BY u.full_name, u.user_id`, userColumns, UsersTable, UserLocationsTable, cond), args...)
	out, err := projections.Collect(rows, err, []User{}, scanUser)
	if err != nil || org == "" {
		return out, err
	}
	return out, addLocations(ctx, db, out, "", fmt.Sprintf(`organisation_id = ? AND user_id IN (SELECT user_id FROM %s WHERE location_id = ?)`,
		UserLocationsTable), org, locationID)
}

// UserByID reads one user, without their locations (UserLocations), and
// whether there is one.
func UserByID(ctx context.Context, db projections.Querier, userID string) (User, bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+userColumns+` FROM `+UsersTable+` u WHERE u.user_id = ?`, userID)
	return first(projections.Collect(rows, err, nil, scanUser))
}

// UserByEmail reads the user of a (normalised) email address, without
// their locations, and whether there is one.
func UserByEmail(ctx context.Context, db projections.Querier, email string) (User, bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+userColumns+` FROM `+UsersTable+` u WHERE u.email = ?`, email)
	return first(projections.Collect(rows, err, nil, scanUser))
}

// first is the first of found, if any.
func first(found []User, err error) (User, bool, error) {
	if err != nil || len(found) == 0 {
		return User{}, false, err
	}
	return found[0], true, nil
}

// UserOrganisations reads the organisations a user has access to a
// location of, or asked to join.
func UserOrganisations(ctx context.Context, db projections.Querier, userID string) ([]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id FROM %s WHERE user_id = ?
UNION SELECT organisation_id FROM %s WHERE user_id = ?`, UserLocationsTable, AccessRequestsTable), userID, userID)
	return projections.Collect(rows, err, nil, projections.ScanString)
}

// AddUserLocations fills in the Locations of u, a user read by UserByID:
// all of them with orgs nil, else those of the organisations orgs (not
// empty).
func AddUserLocations(ctx context.Context, db projections.Querier, u *User, orgs []string) error {
	users := []User{*u}
	var err error
	if orgs == nil {
		err = addLocations(ctx, db, users, "", `user_id = ?`, u.UserID)
	} else {
		err = addLocations(ctx, db, users, "", `user_id = ? AND organisation_id IN (`+projections.Marks(len(orgs))+`)`,
			append([]any{u.UserID}, projections.AnyList(orgs)...)...)
	}
	*u = users[0]
	return err
}

// PasswordsExpiringBefore reads the active users whose password expires
// before t, the soonest first.
func PasswordsExpiringBefore(ctx context.Context, db projections.Querier, t time.Time) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT user_id FROM `+UsersTable+`
WHERE status = ? AND password_expires_at < ? ORDER BY password_expires_at, user_id`, "active", db.Dialect().Time(t))
	return projections.Collect(rows, err, nil, projections.ScanString)
}

// LocationUser is an active user with access to a location, as a
// location's dashboard lists them.
type LocationUser struct {
	LocationID                    string
	UserID, Email, FullName, Role string
}

// ActiveLocationUsers reads the active users with access to the locations
// locs (not empty), by name.
func ActiveLocationUsers(ctx context.Context, db projections.Querier, locs []string) ([]LocationUser, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT l.location_id, u.user_id, u.email, u.full_name, u.role
FROM %s l JOIN %s u ON u.user_id = l.user_id
WHERE l.location_id IN (%s) AND u.status = ?
ORDER BY u.full_name, u.user_id`, UserLocationsTable, UsersTable, projections.Marks(len(locs))),
		append(projections.AnyList(locs), "active")...)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (LocationUser, error) {
		var a LocationUser
		err := rows.Scan(&a.LocationID, &a.UserID, &a.Email, &a.FullName, &a.Role)
		return a, err
	})
}

// addLocations fills in the Locations of users from the user_locations
// rows that match cond (with args), of the organisation org only unless it
// is ""; rows of other users are ignored.
func addLocations(ctx context.Context, db projections.Querier, users []User, org, cond string, args ...any) error {
	if len(users) == 0 {
		return nil
	}
	index := make(map[string]int, len(users))
	for i, u := range users {
		index[u.UserID] = i
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT user_id, location_id, organisation_id FROM %s WHERE %s ORDER BY user_id, location_id`,
		UserLocationsTable, cond), args...)
	type grant struct{ user, location, org string }
	grants, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (grant, error) {
		var g grant
		err := rows.Scan(&g.user, &g.location, &g.org)
		return g, err
	})
	if err != nil {
		return err
	}
	for _, g := range grants {
		if i, ok := index[g.user]; ok && (org == "" || g.org == org) {
			users[i].Locations = append(users[i].Locations, g.location)
		}
	}
	return nil
}
