// Package views lists the read models the server runs. Each read model is
// a package under projections/ (categorystats, ...) that owns its tables'
// DDL, its fold, its writes and its read SQL; the engine, in package
// projections, runs whatever it is given. The list lives here, beside the
// engine rather than inside it, because the read models import the
// engine's package.
package views

import (
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/accounts"
	"github.com/capacitytracker/capacity/projections/categorystats"
)

// Default returns the projections the server runs: every read model of
// the product.
func Default() []projections.Projection {
	out := []projections.Projection{categorystats.Projection{}, projections.LocationDirectory{},
		accounts.Users{}, accounts.PendingApprovals{}, accounts.Sessions{}, accounts.ApproverCounts{}}
	out = append(out, projections.LocationSearch{})
	out = append(out, projections.SurveyProjections()...)
	out = append(out, projections.AnalyticsProjections()...)
	out = append(out, projections.Audit{})
	return append(out, projections.MailProjections()...)
}
