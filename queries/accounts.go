package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
)

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

// UserSummary is a user account as a list or details page shows it.
type UserSummary struct {
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

// SessionSummary is one login of a user.
type SessionSummary struct {
	SessionID                string     `json:"session_id"`
	StartedAt                time.Time  `json:"started_at"`
	ExpiresAt                *time.Time `json:"expires_at,omitempty"`
	RememberMe               bool       `json:"remember_me"`
	ClientIP                 string     `json:"client_ip"`
	UserAgent                string     `json:"user_agent"`
	DisclaimerRequired       bool       `json:"disclaimer_required"`
	DisclaimerAcknowledgedAt *time.Time `json:"disclaimer_acknowledged_at,omitempty"`
	EndedAt                  *time.Time `json:"ended_at,omitempty"`
	EndReason                string     `json:"end_reason,omitempty"` // logout, revoked or deactivated
}

// Dashboard is an organisation's account summary.
type Dashboard struct {
	OrganisationID  string `json:"organisation_id"`
	Name            string `json:"name"`
	ActiveApprovers int    `json:"active_approvers"`
	// NeedsMoreApprovers: fewer than MinApprovers active Approvers.
	NeedsMoreApprovers bool `json:"needs_more_approvers"`
}

// MinApprovers is the number of active Approvers an organisation should
// have, so that requests are decided while one of them is away.
const MinApprovers = 2

// PendingApprovals lists the parts of access requests waiting for a
// decision that the viewer may decide: every one for support, those of
// their organisations for an Approver (but not their own, which others
// decide), none for anybody else. Requests of users who were deactivated
// meanwhile wait, unlisted, until they are reactivated (they cannot be
// decided before).
func (q Service) PendingApprovals(ctx context.Context, v Viewer, minPosition int64) ([]PendingApproval, error) {
	out := []PendingApproval{}
	if !v.Support && len(v.ApproverOf) == 0 {
		return out, nil
	}
	if err := q.wait(ctx, minPosition, projections.PendingApprovals{}, projections.ApproverCounts{}, directory.Projection{}); err != nil {
		return nil, err
	}
	from, args := pendingFrom(v, false)
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, pendingColumns+from+pendingOrder, args...)
		out, err = projections.Collect(rows, err, out, scanPendingApproval)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pending approvals: %w", err)
	}
	return out, nil
}

// ApprovalsQuery asks for a page of PendingApprovalsPage.
type ApprovalsQuery struct {
	Page     int // from 1; 0 is the first
	PageSize int // one of PageSizes(); 0 is DefaultPageSize
	// WithoutApprover keeps only the requests of organisations with no
	// active Approver: support's queue, which nobody else can decide.
	WithoutApprover bool
	MinPosition     int64
}

// PendingApprovalsPage is a page of PendingApprovals, in the same order,
// with the count of them all: the pages show a bounded part of a list that
// grows with the country (a page beyond the last is empty, with the
// count).
func (q Service) PendingApprovalsPage(ctx context.Context, v Viewer, a ApprovalsQuery) (Page[PendingApproval], error) {
	var verr domain.ValidationError
	page, size := paging(&verr, a.Page, a.PageSize)
	if err := verr.Err(); err != nil {
		return Page[PendingApproval]{}, err
	}
	if !v.Support && len(v.ApproverOf) == 0 {
		return newPage[PendingApproval](nil, 0, page, size), nil
	}
	if err := q.wait(ctx, a.MinPosition, projections.PendingApprovals{}, projections.ApproverCounts{}, directory.Projection{}); err != nil {
		return Page[PendingApproval]{}, err
	}
	from, args := pendingFrom(v, a.WithoutApprover)
	var entries []PendingApproval
	total := 0
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, pendingColumns+from+pendingOrder+projections.LimitOffset(page, size), args...)
		if entries, err = projections.Collect(rows, err, entries, scanPendingApproval); err != nil {
			return err
		}
		if page == 1 && len(entries) < size {
			total = len(entries)
			return nil
		}
		total, err = projections.CountRows(ctx, db, `SELECT count(*)`+from, args...)
		return err
	})
	if err != nil {
		return Page[PendingApproval]{}, fmt.Errorf("pending approvals: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// The parts of PendingApprovals' query: the columns scanPendingApproval
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

// pendingFrom is the FROM and WHERE of the pending parts the viewer may
// decide (support: all; an Approver: their organisations', not their own),
// with its arguments; withoutApprover keeps those of organisations with no
// active Approver.
func pendingFrom(v Viewer, withoutApprover bool) (string, []any) {
	args := []any{projections.RequestPending, "pending", "active"}
	scope := ""
	if !v.Support {
		// An Approver's own request is for others to decide.
		scope = ` AND r.organisation_id IN (` + projections.Marks(len(v.ApproverOf)) + `) AND r.user_id <> ?`
		for _, o := range v.ApproverOf {
			args = append(args, o)
		}
		args = append(args, v.UserID)
	}
	if withoutApprover {
		scope += ` AND COALESCE(c.active_approvers, 0) = 0`
	}
	return fmt.Sprintf(`
FROM %s r
LEFT JOIN %s o ON o.organisation_id = r.organisation_id
LEFT JOIN %s c ON c.organisation_id = r.organisation_id
WHERE r.status = ? AND r.user_status IN (?, ?)%s`,
		projections.AccessRequestsTable, directory.OrganisationsTable, projections.OrganisationApproversTable, scope), args
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

// userColumns are the columns scanUser reads, of users u.
const userColumns = `u.user_id, u.email, u.full_name, u.job_title, u.phone, u.role, u.kind, u.status, u.last_login_at, u.locked_until`

func scanUser(rows projections.Rows) (UserSummary, error) {
	var u UserSummary
	var lastLogin, locked projections.Timestamp
	if err := rows.Scan(&u.UserID, &u.Email, &u.FullName, &u.JobTitle, &u.Phone, &u.Role, &u.Kind, &u.Status, &lastLogin, &locked); err != nil {
		return u, err
	}
	u.LastLoginAt, u.LockedUntil = projections.TimePtr(lastLogin), projections.TimePtr(locked)
	return u, nil
}

// Users lists the users with access to a location of an organisation,
// each with their locations of that organisation: for support and the
// organisation's Approvers only (else domain.ErrForbidden).
func (q Service) Users(ctx context.Context, v Viewer, orgID string, minPosition int64) ([]UserSummary, error) {
	if !v.approves(orgID) {
		return nil, domain.ErrForbidden
	}
	if err := q.wait(ctx, minPosition, projections.Users{}); err != nil {
		return nil, err
	}
	out := []UserSummary{}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT `+userColumns+organisationUsersFrom+organisationUsersOrder, orgID)
		if out, err = projections.Collect(rows, err, out, scanUser); err != nil {
			return err
		}
		return addLocations(ctx, db, out, "", `organisation_id = ?`, orgID)
	})
	if err != nil {
		return nil, fmt.Errorf("users of organisation %s: %w", orgID, err)
	}
	return out, nil
}

// UsersQuery asks for a page of UsersPage.
type UsersQuery struct {
	Page        int // from 1; 0 is the first
	PageSize    int // one of PageSizes(); 0 is DefaultPageSize
	MinPosition int64
}

// UsersPage is a page of Users, in the same order, with the count of them
// all; only the page's users get their locations read. A page beyond the
// last is empty, with the count. The page is read from user_locations'
// copies of the users' names, in the order of its index on
// (organisation_id, full_name, user_id), which the Users view keeps equal
// to users.full_name: an index range walk of the organisation's grants up
// to the page's end, not a sort of all its users; only the page's users
// are then read from users.
func (q Service) UsersPage(ctx context.Context, v Viewer, orgID string, u UsersQuery) (Page[UserSummary], error) {
	var verr domain.ValidationError
	page, size := paging(&verr, u.Page, u.PageSize)
	if err := verr.Err(); err != nil {
		return Page[UserSummary]{}, err
	}
	if !v.approves(orgID) {
		return Page[UserSummary]{}, domain.ErrForbidden
	}
	if err := q.wait(ctx, u.MinPosition, projections.Users{}); err != nil {
		return Page[UserSummary]{}, err
	}
	var entries []UserSummary
	total := 0
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT `+userColumns+` FROM (
    SELECT DISTINCT full_name, user_id FROM `+projections.UserLocationsTable+` WHERE organisation_id = ?
    ORDER BY full_name, user_id`+projections.LimitOffset(page, size)+`) p
JOIN `+projections.UsersTable+` u ON u.user_id = p.user_id
ORDER BY p.full_name, p.user_id`, orgID)
		if entries, err = projections.Collect(rows, err, entries, scanUser); err != nil {
			return err
		}
		if page == 1 && len(entries) < size {
			total = len(entries)
		} else if total, err = projections.CountRows(ctx, db, organisationUsersCount, orgID); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		return addOrganisationLocations(ctx, db, entries, orgID)
	})
	if err != nil {
		return Page[UserSummary]{}, fmt.Errorf("users of organisation %s: %w", orgID, err)
	}
	return newPage(entries, total, page, size), nil
}

// The FROM and WHERE of an organisation's users (its one argument, the
// organisation), through the index on user_locations(organisation_id) and
// the users' key, and their order.
const (
	organisationUsersFrom = ` FROM ` + projections.UsersTable + ` u
WHERE u.user_id IN (SELECT user_id FROM ` + projections.UserLocationsTable + ` WHERE organisation_id = ?)`
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
	organisationUsersCount = `SELECT count(*) FROM (SELECT DISTINCT full_name, user_id FROM ` + projections.UserLocationsTable +
		` WHERE organisation_id = ?) d`
)

// addOrganisationLocations fills in the Locations of users in one
// organisation. The users' grants are read by the primary key (user_id,
// location_id) and those of other organisations dropped by addLocations:
// with the organisation in the WHERE clause PostgreSQL's generic plan,
// which estimates one grant per organisation, walked every grant of the
// organisation by its index and tested each against the page's user ids
// (14 ms for 50 users of an organisation of 2,000 grants, auto_explain on
// the large benchmark), where the page's own grants are a few index
// lookups.
func addOrganisationLocations(ctx context.Context, db projections.Querier, users []UserSummary, orgID string) error {
	args := make([]any, len(users))
	for i, u := range users {
		args[i] = u.UserID
	}
	return addLocations(ctx, db, users, orgID, `user_id IN (`+projections.Marks(len(users))+`)`, args...)
}

// LocationUsers lists the users with access to a location (the "Users
// with Access" tab). Support and the Approvers of the location's
// organisation see each user's details and locations there; a user who
// has access to the location sees the names and roles of its active users
// only. Anybody else gets domain.ErrForbidden, and an unknown location is
// domain.ErrNotFound.
func (q Service) LocationUsers(ctx context.Context, v Viewer, locationID string, minPosition int64) ([]UserSummary, error) {
	if err := q.wait(ctx, minPosition, projections.Users{}, directory.Projection{}); err != nil {
		return nil, err
	}
	out := []UserSummary{}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		org, found, err := directory.OrganisationOf(ctx, db, locationID)
		if err != nil {
			return err
		}
		if !found {
			return domain.ErrNotFound
		}
		full := v.approves(org)
		if !full && !slices.Contains(v.Locations, locationID) {
			return domain.ErrForbidden
		}
		cond, args := ``, []any{locationID}
		if !full {
			cond, args = ` AND u.status = ?`, append(args, "active")
		}
		rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s u
WHERE u.user_id IN (SELECT user_id FROM %s WHERE location_id = ?)%s
ORDER BY u.full_name, u.user_id`, userColumns, projections.UsersTable, projections.UserLocationsTable, cond), args...)
		if out, err = projections.Collect(rows, err, out, scanUser); err != nil {
			return err
		}
		if !full {
			for i, u := range out {
				out[i] = UserSummary{FullName: u.FullName, Role: u.Role}
			}
			return nil
		}
		return addLocations(ctx, db, out, "", fmt.Sprintf(`organisation_id = ? AND user_id IN (SELECT user_id FROM %s WHERE location_id = ?)`,
			projections.UserLocationsTable), org, locationID)
	})
	if err != nil {
		return nil, fmt.Errorf("users of location %s: %w", locationID, err)
	}
	return out, nil
}

// User returns one user's details, with all their locations for the user
// and support, and their locations of the organisations an Approver
// approves for an Approver of one of the user's organisations (or of one
// the user asked to join). To anybody else the user does not exist
// (domain.ErrNotFound).
func (q Service) User(ctx context.Context, v Viewer, userID string, minPosition int64) (UserSummary, error) {
	if err := q.wait(ctx, minPosition, projections.Users{}, projections.PendingApprovals{}); err != nil {
		return UserSummary{}, err
	}
	var u UserSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT `+userColumns+` FROM `+projections.UsersTable+` u WHERE u.user_id = ?`, userID)
		found, err := projections.Collect(rows, err, nil, scanUser)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return domain.ErrNotFound
		}
		if v.Support || v.UserID == userID {
			err := addLocations(ctx, db, found, "", `user_id = ?`, userID)
			u = found[0]
			return err
		}
		rows, err = db.QueryContext(ctx, fmt.Sprintf(`SELECT organisation_id FROM %s WHERE user_id = ?
UNION SELECT organisation_id FROM %s WHERE user_id = ?`, projections.UserLocationsTable, projections.AccessRequestsTable), userID, userID)
		orgs, err := projections.Collect(rows, err, nil, projections.ScanString)
		if err != nil {
			return err
		}
		var shared []any
		for _, o := range orgs {
			if v.approves(o) {
				shared = append(shared, o)
			}
		}
		if len(shared) == 0 {
			return domain.ErrNotFound
		}
		err = addLocations(ctx, db, found, "", `user_id = ? AND organisation_id IN (`+projections.Marks(len(shared))+`)`,
			append([]any{userID}, shared...)...)
		u = found[0]
		return err
	})
	if err != nil {
		return UserSummary{}, fmt.Errorf("user %s: %w", userID, err)
	}
	return u, nil
}

// UserByEmail finds a user by their (normalised) email address, for
// support only (else domain.ErrForbidden): support's pages name a person
// by address, as people ask. No user there is domain.ErrNotFound.
func (q Service) UserByEmail(ctx context.Context, v Viewer, email string, minPosition int64) (UserSummary, error) {
	if !v.Support {
		return UserSummary{}, domain.ErrForbidden
	}
	if err := q.wait(ctx, minPosition, projections.Users{}); err != nil {
		return UserSummary{}, err
	}
	var found []UserSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT `+userColumns+` FROM `+projections.UsersTable+` u WHERE u.email = ?`, email)
		found, err = projections.Collect(rows, err, nil, scanUser)
		return err
	})
	if err != nil {
		return UserSummary{}, fmt.Errorf("user by email: %w", err)
	}
	if len(found) == 0 {
		return UserSummary{}, domain.ErrNotFound
	}
	return found[0], nil
}

// Sessions lists a user's sessions, the latest first, for the user and
// support; to anybody else the user does not exist (domain.ErrNotFound).
func (q Service) Sessions(ctx context.Context, v Viewer, userID string, minPosition int64) ([]SessionSummary, error) {
	if !v.Support && (v.UserID == "" || v.UserID != userID) {
		return nil, domain.ErrNotFound
	}
	if err := q.wait(ctx, minPosition, projections.Sessions{}); err != nil {
		return nil, err
	}
	out := []SessionSummary{}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT session_id, started_at, expires_at, remember_me, client_ip, user_agent,
    disclaimer_required, disclaimer_acknowledged_at, ended_at, end_reason
FROM `+projections.SessionsTable+` WHERE user_id = ? ORDER BY started_at DESC, session_id`, userID)
		out, err = projections.Collect(rows, err, out, func(rows projections.Rows) (SessionSummary, error) {
			var s SessionSummary
			var started, expires, acknowledged, ended projections.Timestamp
			if err := rows.Scan(&s.SessionID, &started, &expires, &s.RememberMe, &s.ClientIP, &s.UserAgent,
				&s.DisclaimerRequired, &acknowledged, &ended, &s.EndReason); err != nil {
				return s, err
			}
			s.StartedAt, s.ExpiresAt = started.Time, projections.TimePtr(expires)
			s.DisclaimerAcknowledgedAt, s.EndedAt = projections.TimePtr(acknowledged), projections.TimePtr(ended)
			return s, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sessions of %s: %w", userID, err)
	}
	return out, nil
}

// OrganisationDashboard returns an organisation's name and active
// Approvers, for support and for the users with access to one of its
// locations (else domain.ErrForbidden); an unknown organisation is
// domain.ErrNotFound.
func (q Service) OrganisationDashboard(ctx context.Context, v Viewer, orgID string, minPosition int64) (Dashboard, error) {
	if err := q.wait(ctx, minPosition, directory.Projection{}, projections.ApproverCounts{}); err != nil {
		return Dashboard{}, err
	}
	var d Dashboard
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		if !v.approves(orgID) {
			if len(v.Locations) == 0 {
				return domain.ErrForbidden
			}
			mine, err := directory.HasLocationIn(ctx, db, orgID, v.Locations)
			if err != nil {
				return err
			}
			if !mine {
				return domain.ErrForbidden
			}
		}
		rows, err := db.QueryContext(ctx, `SELECT o.name, COALESCE(c.active_approvers, 0) FROM `+directory.OrganisationsTable+` o
LEFT JOIN `+projections.OrganisationApproversTable+` c ON c.organisation_id = o.organisation_id
WHERE o.organisation_id = ?`, orgID)
		found, err := projections.Collect(rows, err, nil, func(rows projections.Rows) (Dashboard, error) {
			d := Dashboard{OrganisationID: orgID}
			err := rows.Scan(&d.Name, &d.ActiveApprovers)
			d.NeedsMoreApprovers = d.ActiveApprovers < MinApprovers
			return d, err
		})
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return domain.ErrNotFound
		}
		d = found[0]
		return nil
	})
	if err != nil {
		return Dashboard{}, fmt.Errorf("dashboard of organisation %s: %w", orgID, err)
	}
	return d, nil
}

// PasswordsExpiringBefore lists the active users whose password expires
// before t, the soonest first: the password expiry reminder job's work.
// It is internal: no viewer.
func (q Service) PasswordsExpiringBefore(ctx context.Context, t time.Time) ([]string, error) {
	var out []string
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT user_id FROM `+projections.UsersTable+`
WHERE status = ? AND password_expires_at < ? ORDER BY password_expires_at, user_id`, "active", db.Dialect().Time(t))
		out, err = projections.Collect(rows, err, out, projections.ScanString)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("passwords expiring before %s: %w", t.Format(time.RFC3339), err)
	}
	return out, nil
}

// addLocations fills in the Locations of users from the user_locations
// rows that match cond (with args), of the organisation org only unless it
// is ""; rows of other users are ignored.
func addLocations(ctx context.Context, db projections.Querier, users []UserSummary, org, cond string, args ...any) error {
	if len(users) == 0 {
		return nil
	}
	index := make(map[string]int, len(users))
	for i, u := range users {
		index[u.UserID] = i
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT user_id, location_id, organisation_id FROM %s WHERE %s ORDER BY user_id, location_id`,
		projections.UserLocationsTable, cond), args...)
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
