package queries_test

import (
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
)

// accountViews are the account projections with the location directory,
// whose organisations and locations their queries join.
func accountViews() []projections.Projection {
	return append([]projections.Projection{directory.Projection{}}, projections.AccountProjections()...)
}
