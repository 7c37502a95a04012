package queries

import (
	"context"
	"slices"

	"github.com/capacitytracker/capacity/projections"
)

// Viewer is the caller of a query, as the HTTP layer knows it from
// the caller's own (authenticated, active) account: the queries decide what
// it may see from this alone.
type Viewer struct {
	UserID  string
	Support bool
	// Commissioner: an active user of a commissioning organisation (see
	// account.User.IsCommissioner).
	Commissioner bool
	// Auditor: an active user support made an auditor (see
	// account.User.IsAuditor).
	Auditor bool
	// ApproverOf lists the organisations the viewer is an active Approver
	// of.
	ApproverOf []string
	// Locations lists the locations the viewer has access to.
	Locations []string
}

// approves reports whether the viewer manages the users of an organisation.
func (v Viewer) approves(org string) bool { return v.Support || slices.Contains(v.ApproverOf, org) }

// Service is the read side of the whole application: every question of the
// pages and the API (directory, users and approvals, locations, daily
// updates, surveys, search, analytics, audit) is a method of it, in the
// file of its feature. Authorisation happens here: every query that is not public takes the
// Viewer and returns only what it may see.
type Service struct {
	ReadModels projections.ReadModels
	Waiter     Waiter
}

// wait gives read-your-writes: with minPosition > 0 it waits until the
// projections have applied the log up to it.
func (q Service) wait(ctx context.Context, minPosition int64, projs ...projections.Projection) error {
	if minPosition <= 0 {
		return nil
	}
	names := make([]string, len(projs))
	for i, p := range projs {
		names[i] = p.Name()
	}
	return q.Waiter.WaitFor(ctx, names, minPosition)
}
