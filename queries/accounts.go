package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
)

// LocationSummary is a location of the directory.
type LocationSummary struct {
	LocationID       string `json:"location_id"`
	Name             string `json:"name"`
	OrganisationID   string `json:"organisation_id"`
	OrganisationName string `json:"organisation_name"`
	Postcode         string `json:"postcode"`
	LocalAuthority   string `json:"local_authority"`
	CCG              string `json:"ccg"`
}

// LocationSearch is My Access's search: exactly one of Postcode,
// LocalAuthority and CCG.
type LocationSearch struct {
	Postcode       string
	LocalAuthority string // any case
	CCG            string // any case
	Limit          int    // 0: DefaultSearchLimit; at most MaxSearchLimit
}

// Limits of a location search.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 200
)

// PendingApproval is one organisation's part of an access request that
// waits for a decision, with the requester's details.
type PendingApproval = accounts.PendingApproval

// UserSummary is a user account as a list or details page shows it.
type UserSummary = accounts.User

// SessionSummary is one login of a user.
type SessionSummary = accounts.Session

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

const locationColumns = `location_id, name, organisation_id, organisation_name, postcode, local_authority, ccg`

func scanLocation(rows projections.Rows) (LocationSummary, error) {
	var l LocationSummary
	err := rows.Scan(&l.LocationID, &l.Name, &l.OrganisationID, &l.OrganisationName, &l.Postcode, &l.LocalAuthority, &l.CCG)
	return l, err
}

// LocationsByPostcode returns the locations at a postcode, written in any
// case and spacing. It is public: the registration form uses it.
func (q Service) LocationsByPostcode(ctx context.Context, postcode string) ([]LocationSummary, error) {
	if projections.CompactPostcode(postcode) == "" {
		return nil, domain.Invalid("postcode", "required", "Enter a postcode")
	}
	return q.SearchLocations(ctx, LocationSearch{Postcode: postcode, Limit: MaxSearchLimit})
}

// SearchLocations is My Access's search, by postcode (any case and
// spacing) or by the exact name, in any case, of a local authority or CCG.
// Exactly one criterion is required.
func (q Service) SearchLocations(ctx context.Context, s LocationSearch) ([]LocationSummary, error) {
	var where, arg string
	n := 0
	if c := projections.CompactPostcode(s.Postcode); c != "" {
		where, arg = `postcode_compact = ?`, c
		n++
	}
	if la := strings.TrimSpace(s.LocalAuthority); la != "" {
		where, arg = `lower(local_authority) = ?`, strings.ToLower(la)
		n++
	}
	if ccg := strings.TrimSpace(s.CCG); ccg != "" {
		where, arg = `lower(ccg) = ?`, strings.ToLower(ccg)
		n++
	}
	if n != 1 {
		return nil, domain.Invalid("search", "one_criterion", "Search by one of postcode, local authority or CCG")
	}
	limit := s.Limit
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	out := []LocationSummary{}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		// A deregistered location can be neither registered for nor asked
		// for (the command refuses it too): it is not offered.
		rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND registration_status <> 'Deregistered' ORDER BY name, location_id LIMIT %d`,
			locationColumns, projections.LocationsTable, where, limit), arg)
		out, err = projections.Collect(rows, err, out, scanLocation)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search locations: %w", err)
	}
	return out, nil
}

// Location returns one location of the directory, and whether it exists.
func (q Service) Location(ctx context.Context, id string) (LocationSummary, bool, error) {
	var found []LocationSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT `+locationColumns+` FROM `+projections.LocationsTable+` WHERE location_id = ?`, id)
		found, err = projections.Collect(rows, err, found, scanLocation)
		return err
	})
	if err != nil {
		return LocationSummary{}, false, fmt.Errorf("location %s: %w", id, err)
	}
	if len(found) == 0 {
		return LocationSummary{}, false, nil
	}
	return found[0], true, nil
}

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
	if err := q.wait(ctx, minPosition, accounts.PendingApprovals{}, accounts.ApproverCounts{}, projections.LocationDirectory{}); err != nil {
		return nil, err
	}
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = accounts.ListPendingApprovals(ctx, db, approvalScope(v, false), 0, 0)
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
	if err := q.wait(ctx, a.MinPosition, accounts.PendingApprovals{}, accounts.ApproverCounts{}, projections.LocationDirectory{}); err != nil {
		return Page[PendingApproval]{}, err
	}
	scope := approvalScope(v, a.WithoutApprover)
	var entries []PendingApproval
	total := 0
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		if entries, err = accounts.ListPendingApprovals(ctx, db, scope, page, size); err != nil {
			return err
		}
		if page == 1 && len(entries) < size {
			total = len(entries)
			return nil
		}
		total, err = accounts.CountPendingApprovals(ctx, db, scope)
		return err
	})
	if err != nil {
		return Page[PendingApproval]{}, fmt.Errorf("pending approvals: %w", err)
	}
	return newPage(entries, total, page, size), nil
}

// approvalScope is the pending parts the viewer may decide (support: all;
// an Approver: their organisations', not their own); withoutApprover
// keeps those of organisations with no active Approver.
func approvalScope(v Viewer, withoutApprover bool) accounts.ApprovalScope {
	return accounts.ApprovalScope{All: v.Support, Organisations: v.ApproverOf, Approver: v.UserID, WithoutApprover: withoutApprover}
}

// Users lists the users with access to a location of an organisation,
// each with their locations of that organisation: for support and the
// organisation's Approvers only (else domain.ErrForbidden).
func (q Service) Users(ctx context.Context, v Viewer, orgID string, minPosition int64) ([]UserSummary, error) {
	if !v.approves(orgID) {
		return nil, domain.ErrForbidden
	}
	if err := q.wait(ctx, minPosition, accounts.Users{}); err != nil {
		return nil, err
	}
	var out []UserSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = accounts.OrganisationUsers(ctx, db, orgID)
		return err
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
// last is empty, with the count (accounts.OrganisationUsersPage says how
// it is read).
func (q Service) UsersPage(ctx context.Context, v Viewer, orgID string, u UsersQuery) (Page[UserSummary], error) {
	var verr domain.ValidationError
	page, size := paging(&verr, u.Page, u.PageSize)
	if err := verr.Err(); err != nil {
		return Page[UserSummary]{}, err
	}
	if !v.approves(orgID) {
		return Page[UserSummary]{}, domain.ErrForbidden
	}
	if err := q.wait(ctx, u.MinPosition, accounts.Users{}); err != nil {
		return Page[UserSummary]{}, err
	}
	var entries []UserSummary
	total := 0
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		if entries, err = accounts.OrganisationUsersPage(ctx, db, orgID, page, size); err != nil {
			return err
		}
		if page == 1 && len(entries) < size {
			total = len(entries)
		} else if total, err = accounts.CountOrganisationUsers(ctx, db, orgID); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		return accounts.AddOrganisationLocations(ctx, db, entries, orgID)
	})
	if err != nil {
		return Page[UserSummary]{}, fmt.Errorf("users of organisation %s: %w", orgID, err)
	}
	return newPage(entries, total, page, size), nil
}

// LocationUsers lists the users with access to a location (the "Users
// with Access" tab). Support and the Approvers of the location's
// organisation see each user's details and locations there; a user who
// has access to the location sees the names and roles of its active users
// only. Anybody else gets domain.ErrForbidden, and an unknown location is
// domain.ErrNotFound.
func (q Service) LocationUsers(ctx context.Context, v Viewer, locationID string, minPosition int64) ([]UserSummary, error) {
	if err := q.wait(ctx, minPosition, accounts.Users{}, projections.LocationDirectory{}); err != nil {
		return nil, err
	}
	var out []UserSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		rows, err := db.QueryContext(ctx, `SELECT organisation_id FROM `+projections.LocationsTable+` WHERE location_id = ?`, locationID)
		orgs, err := projections.Collect(rows, err, nil, projections.ScanString)
		if err != nil {
			return err
		}
		if len(orgs) == 0 {
			return domain.ErrNotFound
		}
		org := orgs[0]
		full := v.approves(org)
		if !full && !slices.Contains(v.Locations, locationID) {
			return domain.ErrForbidden
		}
		if full {
			// Each user with their locations of the organisation.
			out, err = accounts.LocationUsers(ctx, db, locationID, false, org)
			return err
		}
		// The names and roles of the active users only.
		if out, err = accounts.LocationUsers(ctx, db, locationID, true, ""); err != nil {
			return err
		}
		for i, u := range out {
			out[i] = UserSummary{FullName: u.FullName, Role: u.Role}
		}
		return nil
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
	if err := q.wait(ctx, minPosition, accounts.Users{}, accounts.PendingApprovals{}); err != nil {
		return UserSummary{}, err
	}
	var u UserSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		found, ok, err := accounts.UserByID(ctx, db, userID)
		if err != nil {
			return err
		}
		if !ok {
			return domain.ErrNotFound
		}
		if v.Support || v.UserID == userID {
			err := accounts.AddUserLocations(ctx, db, &found, nil)
			u = found
			return err
		}
		orgs, err := accounts.UserOrganisations(ctx, db, userID)
		if err != nil {
			return err
		}
		var shared []string
		for _, o := range orgs {
			if v.approves(o) {
				shared = append(shared, o)
			}
		}
		if len(shared) == 0 {
			return domain.ErrNotFound
		}
		err = accounts.AddUserLocations(ctx, db, &found, shared)
		u = found
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
	if err := q.wait(ctx, minPosition, accounts.Users{}); err != nil {
		return UserSummary{}, err
	}
	var found UserSummary
	var ok bool
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		found, ok, err = accounts.UserByEmail(ctx, db, email)
		return err
	})
	if err != nil {
		return UserSummary{}, fmt.Errorf("user by email: %w", err)
	}
	if !ok {
		return UserSummary{}, domain.ErrNotFound
	}
	return found, nil
}

// Sessions lists a user's sessions, the latest first, for the user and
// support; to anybody else the user does not exist (domain.ErrNotFound).
func (q Service) Sessions(ctx context.Context, v Viewer, userID string, minPosition int64) ([]SessionSummary, error) {
	if !v.Support && (v.UserID == "" || v.UserID != userID) {
		return nil, domain.ErrNotFound
	}
	if err := q.wait(ctx, minPosition, accounts.Sessions{}); err != nil {
		return nil, err
	}
	var out []SessionSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = accounts.UserSessions(ctx, db, userID)
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
	if err := q.wait(ctx, minPosition, projections.LocationDirectory{}, accounts.ApproverCounts{}); err != nil {
		return Dashboard{}, err
	}
	var d Dashboard
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		if !v.approves(orgID) {
			if len(v.Locations) == 0 {
				return domain.ErrForbidden
			}
			args := []any{orgID}
			for _, l := range v.Locations {
				args = append(args, l)
			}
			rows, err := db.QueryContext(ctx, `SELECT location_id FROM `+projections.LocationsTable+
				` WHERE organisation_id = ? AND location_id IN (`+projections.Marks(len(v.Locations))+`) LIMIT 1`, args...)
			mine, err := projections.Collect(rows, err, nil, projections.ScanString)
			if err != nil {
				return err
			}
			if len(mine) == 0 {
				return domain.ErrForbidden
			}
		}
		o, found, err := accounts.Organisation(ctx, db, orgID)
		if err != nil {
			return err
		}
		if !found {
			return domain.ErrNotFound
		}
		d = Dashboard{OrganisationID: orgID, Name: o.Name, ActiveApprovers: o.ActiveApprovers,
			NeedsMoreApprovers: o.ActiveApprovers < MinApprovers}
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
		var err error
		out, err = accounts.PasswordsExpiringBefore(ctx, db, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("passwords expiring before %s: %w", t.Format(time.RFC3339), err)
	}
	return out, nil
}
