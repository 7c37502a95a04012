package accounts

import (
	"context"
	"fmt"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
)

// ApproverCounts is the number of active Approvers of each organisation, for
// the organisation's dashboard (which asks for a second Approver when there
// are fewer than two) and for support's Approvals page (which flags the
// requests of organisations without one). Table organisation_approvers
// (organisation_id, active_approvers); an organisation without a row has
// none.
//
// An active Approver of an organisation is, as in the account aggregate,
// an active personal account with the Approver role and access to one of
// the organisation's locations; support is not counted. The projection
// keeps what that takes in two tables of its own, approver_users (user_id,
// role, kind, status) and approver_memberships (user_id, organisation_id),
// and after every event that may change a user's part it counts the
// organisations of that user again.
type ApproverCounts struct{}

// Tables of ApproverCounts.
const (
	OrganisationApproversTable = "organisation_approvers"
	ApproverUsersTable         = "approver_users"
	ApproverMembershipsTable   = "approver_memberships"
)

func (ApproverCounts) Name() string { return "approver_counts" }

func (ApproverCounts) Tables() []string {
	return []string{OrganisationApproversTable, ApproverUsersTable, ApproverMembershipsTable}
}

func (ApproverCounts) Schema(d projections.Dialect, table func(string) string) []string {
	c, u, m := table(OrganisationApproversTable), table(ApproverUsersTable), table(ApproverMembershipsTable)
	return []string{
		fmt.Sprintf(`CREATE TABLE %s (
    organisation_id  TEXT PRIMARY KEY,
    active_approvers INT  NOT NULL
)`, c),
		fmt.Sprintf(`CREATE TABLE %s (
    user_id TEXT PRIMARY KEY,
    role    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    status  TEXT NOT NULL
)`, u),
		fmt.Sprintf(`CREATE TABLE %s (
    user_id         TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    PRIMARY KEY (user_id, organisation_id)
)`, m),
		fmt.Sprintf(`CREATE INDEX %s_organisation_id ON %s (organisation_id)`, m, m),
	}
}

// Apply applies the events of the user-<id> streams.
func (ApproverCounts) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if ev.Category() != "user" {
		return nil
	}
	e, err := account.Decode(ev.Type, ev.Data)
	if err != nil || e == nil {
		return err
	}
	userID := projections.StreamEntity(ev.StreamID)
	switch e := e.(type) {
	case account.UserRegistered:
		err = putApproverUser(ctx, tx, table, userID, e.Role, account.Personal, account.Pending)
	case account.RegisteredManagerImported:
		if err = putApproverUser(ctx, tx, table, userID, account.Approver, account.Personal, account.Active); err == nil {
			err = addMemberships(ctx, tx, table, userID, e.OrganisationID)
		}
	case account.SupportUserCreated:
		err = putApproverUser(ctx, tx, table, userID, account.Support, account.Personal, account.Active)
	case account.GenericAccountCreated:
		if err = putApproverUser(ctx, tx, table, userID, account.Standard, account.Generic, account.Active); err == nil {
			orgs := make([]string, len(e.Locations))
			for i, l := range e.Locations {
				orgs[i] = l.OrganisationID
			}
			err = addMemberships(ctx, tx, table, userID, orgs...)
		}
	case account.AccessApproved:
		err = addMemberships(ctx, tx, table, userID, e.OrganisationID)
	case account.AccessRevoked:
		// The user left the organisation: count it again without them.
		if _, err = tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE user_id = ? AND organisation_id = ?`,
			table(ApproverMembershipsTable)), userID, e.OrganisationID); err == nil {
			err = recountOrganisation(ctx, tx, table, e.OrganisationID)
		}
	case account.UserApproved, account.UserReactivated:
		err = setApproverUser(ctx, tx, table, userID, "status", string(account.Active))
	case account.RegistrationRejected:
		err = setApproverUser(ctx, tx, table, userID, "status", string(account.Rejected))
	case account.UserDeactivated:
		err = setApproverUser(ctx, tx, table, userID, "status", string(account.Deactivated))
	case account.RoleChanged:
		err = setApproverUser(ctx, tx, table, userID, "role", string(e.To))
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("approver %s: %w", userID, err)
	}
	return recountApprovers(ctx, tx, table, userID)
}

func putApproverUser(ctx context.Context, tx projections.Tx, table func(string) string, userID string, role account.Role, kind account.Kind, status account.Status) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (user_id, role, kind, status) VALUES (?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, kind = excluded.kind, status = excluded.status`,
		table(ApproverUsersTable)), userID, string(role), string(kind), string(status))
	return err
}

// setApproverUser sets the user's role or status.
func setApproverUser(ctx context.Context, tx projections.Tx, table func(string) string, userID, column, value string) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE user_id = ?`, table(ApproverUsersTable), column),
		value, userID)
	return err
}

func addMemberships(ctx context.Context, tx projections.Tx, table func(string) string, userID string, orgs ...string) error {
	for _, org := range orgs {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (user_id, organisation_id) VALUES (?, ?)
ON CONFLICT (user_id, organisation_id) DO NOTHING`, table(ApproverMembershipsTable)), userID, org); err != nil {
			return err
		}
	}
	return nil
}

// recountApprovers counts again the active Approvers of every organisation
// of the user: the only counts the user's event can have changed (an
// organisation the user left is recounted by recountOrganisation).
func recountApprovers(ctx context.Context, tx projections.Tx, table func(string) string, userID string) error {
	c, u, m := table(OrganisationApproversTable), table(ApproverUsersTable), table(ApproverMembershipsTable)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (organisation_id, active_approvers)
SELECT mine.organisation_id, (
    SELECT count(*) FROM %[3]s other JOIN %[2]s u ON u.user_id = other.user_id
    WHERE other.organisation_id = mine.organisation_id AND u.status = ? AND u.role = ? AND u.kind = ?)
FROM %[3]s mine WHERE mine.user_id = ?
ON CONFLICT (organisation_id) DO UPDATE SET active_approvers = excluded.active_approvers`, c, u, m),
		string(account.Active), string(account.Approver), string(account.Personal), userID)
	if err != nil {
		return fmt.Errorf("count the approvers of %s's organisations: %w", userID, err)
	}
	return nil
}

// recountOrganisation counts again the active Approvers of one
// organisation.
func recountOrganisation(ctx context.Context, tx projections.Tx, table func(string) string, org string) error {
	c, u, m := table(OrganisationApproversTable), table(ApproverUsersTable), table(ApproverMembershipsTable)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (organisation_id, active_approvers)
SELECT ?, (SELECT count(*) FROM %[3]s m JOIN %[2]s u ON u.user_id = m.user_id
    WHERE m.organisation_id = ? AND u.status = ? AND u.role = ? AND u.kind = ?)
ON CONFLICT (organisation_id) DO UPDATE SET active_approvers = excluded.active_approvers`, c, u, m),
		org, org, string(account.Active), string(account.Approver), string(account.Personal))
	if err != nil {
		return fmt.Errorf("count the approvers of %s: %w", org, err)
	}
	return nil
}

// ActiveApprovers reads the number of active Approvers of each of the
// organisations orgs (not empty); an organisation without any is not in
// the map.
func ActiveApprovers(ctx context.Context, db projections.Querier, orgs []string) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT organisation_id, active_approvers FROM `+OrganisationApproversTable+
		` WHERE organisation_id IN (`+projections.Marks(len(orgs))+`)`, projections.AnyList(orgs)...)
	return scanCounts(rows, err)
}

// OrganisationApprovers is an organisation of the location directory with
// its number of active Approvers.
type OrganisationApprovers struct {
	OrganisationID  string
	Name            string
	ActiveApprovers int
}

// Organisation reads an organisation's name, from the location directory's
// organisations, with its number of active Approvers, and whether the
// organisation exists.
func Organisation(ctx context.Context, db projections.Querier, orgID string) (OrganisationApprovers, bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT o.name, COALESCE(c.active_approvers, 0) FROM `+directory.OrganisationsTable+` o
LEFT JOIN `+OrganisationApproversTable+` c ON c.organisation_id = o.organisation_id
WHERE o.organisation_id = ?`, orgID)
	found, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (OrganisationApprovers, error) {
		o := OrganisationApprovers{OrganisationID: orgID}
		err := rows.Scan(&o.Name, &o.ActiveApprovers)
		return o, err
	})
	if err != nil || len(found) == 0 {
		return OrganisationApprovers{}, false, err
	}
	return found[0], true, nil
}
