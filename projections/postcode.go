package projections

import "github.com/capacitytracker/capacity/domain/location"

// CompactPostcode is location.CompactPostcode, the key of a postcode
// search, under the name the views of this package call it by.
func CompactPostcode(s string) string { return location.CompactPostcode(s) }
