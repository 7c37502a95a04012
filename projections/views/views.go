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
	"github.com/capacitytracker/capacity/projections/analytics"
	"github.com/capacitytracker/capacity/projections/audit"
	"github.com/capacitytracker/capacity/projections/categorystats"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
	"github.com/capacitytracker/capacity/projections/search"
	"github.com/capacitytracker/capacity/projections/surveys"
)

// Default returns the projections the server runs: every read model of
// the product.
func Default() []projections.Projection {
	out := []projections.Projection{categorystats.Projection{}, directory.Projection{}}
	out = append(out, accounts.Projections()...)
	return append(out, search.Projection{}, surveys.Projection{}, analytics.Projection{}, audit.Projection{},
		mailoutbox.Projection{})
}
