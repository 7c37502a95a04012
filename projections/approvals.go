package projections

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
)

// PendingApprovals is the Approvals page: the access requests waiting for a
// decision, for support (every organisation) and for the Approvers of each
// organisation. Table access_requests holds one row per organisation's part
// of a request (pending, approved or rejected) with a copy of the
// requester's details, kept current, so that the page reads one table.
// Table approval_requesters is the projection's own copy of those details,
// from the user events, for the requests still to come.
type PendingApprovals struct{}

// Tables of PendingApprovals.
const (
	AccessRequestsTable     = "access_requests"
	ApprovalRequestersTable = "approval_requesters"
)

// Statuses of an access_requests row.
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestRejected = "rejected"
)

func (PendingApprovals) Name() string { return "pending_approvals" }

func (PendingApprovals) Tables() []string {
	return []string{AccessRequestsTable, ApprovalRequestersTable}
}

func (PendingApprovals) Schema(d Dialect, table func(string) string) []string {
	r, q := table(AccessRequestsTable), table(ApprovalRequestersTable)
	ts := d.TimestampType()
	return []string{
		fmt.Sprintf(`CREATE TABLE %[1]s (
    request_id      TEXT  NOT NULL,
    organisation_id TEXT  NOT NULL,
    user_id         TEXT  NOT NULL,
    via             TEXT  NOT NULL,
    location_ids    TEXT  NOT NULL,
    status          TEXT  NOT NULL,
    reason          TEXT  NOT NULL,
    requested_at    %[2]s NOT NULL,
    decided_at      %[2]s,
    decided_by      TEXT  NOT NULL,
    email           TEXT  NOT NULL,
    full_name       TEXT  NOT NULL,
    job_title       TEXT  NOT NULL,
    phone           TEXT  NOT NULL,
    role            TEXT  NOT NULL,
    user_status     TEXT  NOT NULL,
    PRIMARY KEY (request_id, organisation_id)
)`, r, ts),
		fmt.Sprintf(`CREATE INDEX %s_organisation_status ON %s (organisation_id, status)`, r, r),
		// Support's pages of the country's pending requests, in the order
		// they were asked (queries.PendingApprovalsPage): read in index
		// order, a page at a time, not all of them sorted.
		fmt.Sprintf(`CREATE INDEX %s_status_requested ON %s (status, requested_at, request_id, organisation_id)`, r, r),
		fmt.Sprintf(`CREATE INDEX %s_user_id ON %s (user_id)`, r, r),
		fmt.Sprintf(`CREATE TABLE %s (
    user_id   TEXT PRIMARY KEY,
    email     TEXT NOT NULL,
    full_name TEXT NOT NULL,
    job_title TEXT NOT NULL,
    phone     TEXT NOT NULL,
    role      TEXT NOT NULL,
    status    TEXT NOT NULL
)`, q),
	}
}

// requester is what a request row copies of its user.
type requester struct {
	email, fullName, jobTitle, phone string
	role                             account.Role
	status                           account.Status
}

// Apply applies the events of the user-<id> streams.
func (p PendingApprovals) Apply(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event) error {
	if done, err := ApplyErasure(ctx, tx, table, ev, p); done {
		return err
	}
	if ev.Category() != "user" {
		return nil
	}
	e, err := account.Decode(ev.Type, MarkErased(ev))
	if err != nil || e == nil {
		return err
	}
	userID := StreamEntity(ev.StreamID)
	d := tx.Dialect()
	if r, ok := newRequester(e); ok {
		return putRequester(ctx, tx, table, userID, r)
	}
	switch e := e.(type) {
	case account.RoleChanged:
		return updateRequester(ctx, tx, table, userID, "role", "role", string(e.To))
	case account.UserApproved, account.UserReactivated:
		return updateRequester(ctx, tx, table, userID, "status", "user_status", string(account.Active))
	case account.RegistrationRejected:
		return updateRequester(ctx, tx, table, userID, "status", "user_status", string(account.Rejected))
	case account.UserDeactivated:
		return updateRequester(ctx, tx, table, userID, "status", "user_status", string(account.Deactivated))
	case account.AccessRequested:
		return insertRequest(ctx, tx, table, userID, e, ev)
	case account.AccessApproved:
		return decideRequest(ctx, tx, table, e.RequestID.String(), e.OrganisationID, RequestApproved, e.Reason, d.Time(ev.RecordedAt), ev.Metadata.ActorUserID)
	case account.AccessRejected:
		return decideRequest(ctx, tx, table, e.RequestID.String(), e.OrganisationID, RequestRejected, e.Reason, d.Time(ev.RecordedAt), ev.Metadata.ActorUserID)
	}
	return nil
}

// newRequester is the copy of a user made from an account-creating event;
// ok is false for any other event.
func newRequester(e account.Event) (requester, bool) {
	switch e := e.(type) {
	case account.UserRegistered:
		return requester{e.Email, e.FullName, e.JobTitle, e.Phone, e.Role, account.Pending}, true
	case account.RegisteredManagerImported:
		return requester{e.Email, e.FullName, "", e.Phone, account.Approver, account.Active}, true
	case account.SupportUserCreated:
		return requester{e.Email, e.FullName, "", "", account.Support, account.Active}, true
	case account.GenericAccountCreated:
		return requester{e.Email, e.DisplayName, "", "", account.Standard, account.Active}, true
	}
	return requester{}, false
}

// Personal implements Eraser: the projection's copy of each user, and the
// copy in each of their requests.
func (PendingApprovals) Personal() []PersonalColumns {
	cols := []string{"email", "full_name", "job_title", "phone"}
	return []PersonalColumns{
		{Table: ApprovalRequestersTable, Subjects: []string{"user_id"}, Columns: cols},
		{Table: AccessRequestsTable, Subjects: []string{"user_id"}, Columns: cols},
	}
}

// Erase implements Eraser: the erased user's copies are written again
// from the account's creating event, read from the log again (so erased).
func (PendingApprovals) Erase(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event, e erasure.PersonErased) error {
	userID, evs, ok, err := ErasedUser(ctx, tx, ev, e)
	if err != nil || !ok {
		return err
	}
	var r requester
	found := false
	if err := UserCreations(evs, MarkErased, func(d account.Event) { r, found = newRequester(d) }); err != nil || !found {
		return err
	}
	for _, t := range []string{ApprovalRequestersTable, AccessRequestsTable} {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET email = ?, full_name = ?, job_title = ?, phone = ? WHERE user_id = ?`,
			table(t)), r.email, r.fullName, r.jobTitle, r.phone, userID); err != nil {
			return fmt.Errorf("requester %s: %w", userID, err)
		}
	}
	return nil
}

func putRequester(ctx context.Context, tx Tx, table func(string) string, userID string, r requester) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (user_id, email, full_name, job_title, phone, role, status)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, full_name = excluded.full_name,
    job_title = excluded.job_title, phone = excluded.phone, role = excluded.role, status = excluded.status`,
		table(ApprovalRequestersTable)),
		userID, r.email, r.fullName, r.jobTitle, r.phone, string(r.role), string(r.status))
	if err != nil {
		return fmt.Errorf("requester %s: %w", userID, err)
	}
	return nil
}

// updateRequester sets the user's role or status, in the projection's copy
// of the user (column) and in every request of the user (requestColumn).
func updateRequester(ctx context.Context, tx Tx, table func(string) string, userID, column, requestColumn, value string) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE user_id = ?`,
		table(ApprovalRequestersTable), column), value, userID); err != nil {
		return fmt.Errorf("requester %s: %w", userID, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE user_id = ?`,
		table(AccessRequestsTable), requestColumn), value, userID); err != nil {
		return fmt.Errorf("requests of %s: %w", userID, err)
	}
	return nil
}

// insertRequest records each organisation's part of a request, pending.
func insertRequest(ctx context.Context, tx Tx, table func(string) string, userID string, e account.AccessRequested, ev eventstore.Event) error {
	r, err := readRequester(ctx, tx, table(ApprovalRequestersTable), userID)
	if err != nil {
		return err
	}
	// The parts in the order of their first location, as the user chose.
	var orgs []string
	locations := map[string][]string{}
	for _, l := range e.Locations {
		if _, seen := locations[l.OrganisationID]; !seen {
			orgs = append(orgs, l.OrganisationID)
		}
		locations[l.OrganisationID] = append(locations[l.OrganisationID], l.LocationID)
	}
	for _, org := range orgs {
		ids, err := json.Marshal(locations[org])
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (request_id, organisation_id, user_id, via, location_ids,
    status, reason, requested_at, decided_by, email, full_name, job_title, phone, role, user_status)
VALUES (?, ?, ?, ?, ?, ?, '', ?, '', ?, ?, ?, ?, ?, ?)
ON CONFLICT (request_id, organisation_id) DO NOTHING`, table(AccessRequestsTable)),
			e.RequestID.String(), org, userID, e.Via, string(ids), RequestPending, tx.Dialect().Time(ev.RecordedAt),
			r.email, r.fullName, r.jobTitle, r.phone, string(r.role), string(r.status))
		if err != nil {
			return fmt.Errorf("request %s of %s: %w", e.RequestID, org, err)
		}
	}
	return nil
}

// readRequester reads the projection's copy of a user; an unknown user
// reads as blank.
func readRequester(ctx context.Context, tx Tx, t, userID string) (requester, error) {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT email, full_name, job_title, phone, role, status FROM %s WHERE user_id = ?`, t), userID)
	if err != nil {
		return requester{}, fmt.Errorf("requester %s: %w", userID, err)
	}
	defer rows.Close()
	var r requester
	if rows.Next() {
		var role, status string
		if err := rows.Scan(&r.email, &r.fullName, &r.jobTitle, &r.phone, &role, &status); err != nil {
			return requester{}, fmt.Errorf("requester %s: %w", userID, err)
		}
		r.role, r.status = account.Role(role), account.Status(status)
	}
	return r, rows.Err()
}

func decideRequest(ctx context.Context, tx Tx, table func(string) string, requestID, org, status, reason string, at any, by string) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET status = ?, reason = ?, decided_at = ?, decided_by = ?
WHERE request_id = ? AND organisation_id = ?`, table(AccessRequestsTable)),
		status, reason, at, by, requestID, org)
	if err != nil {
		return fmt.Errorf("request %s of %s: %w", requestID, org, err)
	}
	return nil
}
