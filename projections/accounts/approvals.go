package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
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

func (PendingApprovals) Schema(d projections.Dialect, table func(string) string) []string {
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
func (p PendingApprovals) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if done, err := projections.ApplyErasure(ctx, tx, table, ev, p); done {
		return err
	}
	if ev.Category() != "user" {
		return nil
	}
	e, err := account.Decode(ev.Type, projections.MarkErased(ev))
	if err != nil || e == nil {
		return err
	}
	userID := projections.StreamEntity(ev.StreamID)
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
func (PendingApprovals) Personal() []projections.PersonalColumns {
	cols := []string{"email", "full_name", "job_title", "phone"}
	return []projections.PersonalColumns{
		{Table: ApprovalRequestersTable, Subjects: []string{"user_id"}, Columns: cols},
		{Table: AccessRequestsTable, Subjects: []string{"user_id"}, Columns: cols},
	}
}

// Erase implements Eraser: the erased user's copies are written again
// from the account's creating event, read from the log again (so erased).
func (PendingApprovals) Erase(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event, e erasure.PersonErased) error {
	userID, evs, ok, err := projections.ErasedUser(ctx, tx, ev, e)
	if err != nil || !ok {
		return err
	}
	var r requester
	found := false
	if err := projections.UserCreations(evs, projections.MarkErased, func(d account.Event) { r, found = newRequester(d) }); err != nil || !found {
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

func putRequester(ctx context.Context, tx projections.Tx, table func(string) string, userID string, r requester) error {
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
func updateRequester(ctx context.Context, tx projections.Tx, table func(string) string, userID, column, requestColumn, value string) error {
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
func insertRequest(ctx context.Context, tx projections.Tx, table func(string) string, userID string, e account.AccessRequested, ev eventstore.Event) error {
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
func readRequester(ctx context.Context, tx projections.Tx, t, userID string) (requester, error) {
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

func decideRequest(ctx context.Context, tx projections.Tx, table func(string) string, requestID, org, status, reason string, at any, by string) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET status = ?, reason = ?, decided_at = ?, decided_by = ?
WHERE request_id = ? AND organisation_id = ?`, table(AccessRequestsTable)),
		status, reason, at, by, requestID, org)
	if err != nil {
		return fmt.Errorf("request %s of %s: %w", requestID, org, err)
	}
	return nil
}

// PendingApproval is one organisation's part of an access request that
// waits for a decision, with the requester's details.
type PendingApproval struct {
	RequestID        string    `json:"request_id"`
	OrganisationID   string    `json:"organisation_id"`
	OrganisationName string    `json:"organisation_name"`
	LocationIDs      []string  `json:"location_ids"`
	Via              string    `json:"via"`
	RequestedAt      time.Time `json:"requested_at"`
	UserID           string    `json:"user_id"`
	Email            string    `json:"email"`
	FullName         string    `json:"full_name"`
	JobTitle         string    `json:"job_title"`
	Phone            string    `json:"phone"`
	Role             string    `json:"role"`
	// NoActiveApprover: the organisation has no active Approver, so only
	// support can decide.
	NoActiveApprover bool `json:"no_active_approver"`
}

// ApprovalScope chooses the pending parts of requests to read. Requests
// of users who were deactivated meanwhile are never read (they wait until
// the user is reactivated).
type ApprovalScope struct {
	// All reads every organisation's parts; else those of Organisations
	// (not empty), except the requests of the user Approver.
	All           bool
	Organisations []string
	Approver      string
	// WithoutApprover keeps only the parts of organisations with no
	// active Approver.
	WithoutApprover bool
}

// The parts of ListPendingApprovals' query: the columns scanPendingApproval
// reads, then what pendingFrom chooses, then the order. Support's list
// follows the index on (status, requested_at, request_id,
// organisation_id) in this order; an Approver's reads its organisations'
// rows through the one on (organisation_id, status).
const (
	pendingColumns = `SELECT r.request_id, r.organisation_id, COALESCE(o.name, ''),
    r.location_ids, r.via, r.requested_at, r.user_id, r.email, r.full_name, r.job_title, r.phone, r.role,
    COALESCE(c.active_approvers, 0)`
	pendingOrder = `
ORDER BY r.requested_at, r.request_id, r.organisation_id`
)

// ListPendingApprovals reads the pending parts of requests of the scope,
// in the order they were asked, with their organisations' names (from the
// location directory's organisations) and Approver counts: all of them
// with size 0, else the page (from 1) of size.
func ListPendingApprovals(ctx context.Context, db projections.Querier, s ApprovalScope, page, size int) ([]PendingApproval, error) {
	from, args := pendingFrom(s)
	query := pendingColumns + from + pendingOrder
	if size > 0 {
		query += projections.LimitOffset(page, size)
	}
	rows, err := db.QueryContext(ctx, query, args...)
	return projections.Collect(rows, err, []PendingApproval{}, scanPendingApproval)
}

// CountPendingApprovals counts the pending parts of requests of the scope.
func CountPendingApprovals(ctx context.Context, db projections.Querier, s ApprovalScope) (int, error) {
	from, args := pendingFrom(s)
	return projections.CountRows(ctx, db, `SELECT count(*)`+from, args...)
}

// pendingFrom is the FROM and WHERE of the pending parts of the scope,
// with its arguments.
func pendingFrom(s ApprovalScope) (string, []any) {
	args := []any{RequestPending, "pending", "active"}
	scope := ""
	if !s.All {
		scope = ` AND r.organisation_id IN (` + projections.Marks(len(s.Organisations)) + `) AND r.user_id <> ?`
		args = append(append(args, projections.AnyList(s.Organisations)...), s.Approver)
	}
	if s.WithoutApprover {
		scope += ` AND COALESCE(c.active_approvers, 0) = 0`
	}
	return fmt.Sprintf(`
FROM %s r
LEFT JOIN %s o ON o.organisation_id = r.organisation_id
LEFT JOIN %s c ON c.organisation_id = r.organisation_id
WHERE r.status = ? AND r.user_status IN (?, ?)%s`,
		AccessRequestsTable, directory.OrganisationsTable, OrganisationApproversTable, scope), args
}

func scanPendingApproval(rows projections.Rows) (PendingApproval, error) {
	var p PendingApproval
	var ids string
	var at projections.Timestamp
	var approvers int
	if err := rows.Scan(&p.RequestID, &p.OrganisationID, &p.OrganisationName, &ids, &p.Via, &at,
		&p.UserID, &p.Email, &p.FullName, &p.JobTitle, &p.Phone, &p.Role, &approvers); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(ids), &p.LocationIDs); err != nil {
		return p, fmt.Errorf("request %s: location ids: %w", p.RequestID, err)
	}
	p.RequestedAt, p.NoActiveApprover = at.Time, approvers == 0
	return p, nil
}

// PendingCounts reads how many parts of requests wait for a decision in
// each of the organisations orgs (not empty), as ListPendingApprovals
// lists them for support; an organisation without any is not in the map.
func PendingCounts(ctx context.Context, db projections.Querier, orgs []string) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT organisation_id, count(*) FROM `+AccessRequestsTable+`
WHERE status = ? AND user_status IN (?, ?) AND organisation_id IN (`+projections.Marks(len(orgs))+`)
GROUP BY organisation_id`, append([]any{RequestPending, "pending", "active"}, projections.AnyList(orgs)...)...)
	return scanCounts(rows, err)
}

// scanCounts reads rows of (organisation_id, count).
func scanCounts(rows projections.Rows, err error) (map[string]int, error) {
	type orgCount struct {
		org string
		n   int
	}
	counts, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (orgCount, error) {
		var c orgCount
		err := rows.Scan(&c.org, &c.n)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(counts))
	for _, c := range counts {
		out[c.org] = c.n
	}
	return out, nil
}
