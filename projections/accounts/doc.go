// Package accounts is the read models of user accounts, and their read
// SQL:
//
//   - Users: tables users (one row per account: profile, role, status,
//     login state, password expiry) and user_locations (the users with
//     access per location, with a copy of the user's name);
//   - PendingApprovals: tables access_requests (each organisation's part
//     of an access request, with a copy of the requester's details) and
//     approval_requesters (the view's own copy of those details);
//   - Sessions: table user_sessions (one row per login, and how it ended);
//   - ApproverCounts: tables organisation_approvers (the active Approvers
//     of each organisation), approver_users and approver_memberships.
//
// Each owns its tables' DDL, its fold and its writes. The typed readers
// (OrganisationUsers, User, Sessions, ListPendingApprovals, ...) are the
// only SQL on these tables: package queries decides what a viewer may see
// and calls them. The readers that join the location directory's tables
// (locations, organisations) name them by their constants in package
// projections.
package accounts

import "github.com/capacitytracker/capacity/projections"

// Projections returns the account views: users, pending approvals,
// sessions and approver counts. Their readers of organisations' names
// also need the location directory, which is not among them.
func Projections() []projections.Projection {
	return []projections.Projection{Users{}, PendingApprovals{}, Sessions{}, ApproverCounts{}}
}
