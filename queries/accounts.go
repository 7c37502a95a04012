package queries

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/directory"
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
	if err := q.wait(ctx, minPosition, accounts.PendingApprovals{}, accounts.ApproverCounts{}, directory.Projection{}); err != nil {
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
	if err := q.wait(ctx, a.MinPosition, accounts.PendingApprovals{}, accounts.ApproverCounts{}, directory.Projection{}); err != nil {
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
	if err := q.wait(ctx, minPosition, accounts.Users{}, directory.Projection{}); err != nil {
		return nil, err
	}
	var out []UserSummary
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
	if err := q.wait(ctx, minPosition, directory.Projection{}, accounts.ApproverCounts{}); err != nil {
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
