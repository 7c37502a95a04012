package directory

import (
	"context"
	"fmt"
	"strings"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections"
)

// Location is a location of the directory, as its searches list it.
type Location struct {
	LocationID       string `json:"location_id"`
	Name             string `json:"name"`
	OrganisationID   string `json:"organisation_id"`
	OrganisationName string `json:"organisation_name"`
	Postcode         string `json:"postcode"`
	LocalAuthority   string `json:"local_authority"`
	CCG              string `json:"ccg"`
}

// locationColumns are the columns scanLocation reads.
const locationColumns = `location_id, name, organisation_id, organisation_name, postcode, local_authority, ccg`

func scanLocation(rows projections.Rows) (Location, error) {
	var l Location
	err := rows.Scan(&l.LocationID, &l.Name, &l.OrganisationID, &l.OrganisationName, &l.Postcode, &l.LocalAuthority, &l.CCG)
	return l, err
}

// SearchBy is the column a location search matches.
type SearchBy int

// The criteria of SearchLocations.
const (
	// ByPostcode matches the postcode in any case and spacing.
	ByPostcode SearchBy = iota
	// ByLocalAuthority matches the exact name of a local authority, in
	// any case.
	ByLocalAuthority
	// ByCCG matches the exact name of a CCG, in any case.
	ByCCG
)

// SearchLocations lists at most limit locations (limit > 0, a number the
// caller checked) that match value by one criterion, by name and id. A
// deregistered location can be neither registered for nor asked for (the
// command refuses it too): it is not listed.
func SearchLocations(ctx context.Context, db projections.Querier, by SearchBy, value string, limit int) ([]Location, error) {
	var where, arg string
	switch by {
	case ByPostcode:
		where, arg = `postcode_compact = ?`, location.CompactPostcode(value)
	case ByLocalAuthority:
		// The indexes are on the lower-case names.
		where, arg = `lower(local_authority) = ?`, strings.ToLower(strings.TrimSpace(value))
	case ByCCG:
		where, arg = `lower(ccg) = ?`, strings.ToLower(strings.TrimSpace(value))
	default:
		return nil, fmt.Errorf("unknown location search criterion %d", by)
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND registration_status <> 'Deregistered' ORDER BY name, location_id LIMIT %d`,
		locationColumns, LocationsTable, where, limit), arg)
	return projections.Collect(rows, err, []Location{}, scanLocation)
}

// LocationByID reads one location, and whether it exists.
func LocationByID(ctx context.Context, db projections.Querier, id string) (Location, bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+locationColumns+` FROM `+LocationsTable+` WHERE location_id = ?`, id)
	found, err := projections.Collect(rows, err, nil, scanLocation)
	if err != nil || len(found) == 0 {
		return Location{}, false, err
	}
	return found[0], true, nil
}

// OrganisationOf reads the organisation of a location, and whether the
// location exists.
func OrganisationOf(ctx context.Context, db projections.Querier, locationID string) (string, bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT organisation_id FROM `+LocationsTable+` WHERE location_id = ?`, locationID)
	orgs, err := projections.Collect(rows, err, nil, projections.ScanString)
	if err != nil || len(orgs) == 0 {
		return "", false, err
	}
	return orgs[0], true, nil
}

// HasLocationIn reports whether one of the locations belongs to the
// organisation.
func HasLocationIn(ctx context.Context, db projections.Querier, organisationID string, locationIDs []string) (bool, error) {
	if len(locationIDs) == 0 {
		return false, nil
	}
	args := make([]any, 0, 1+len(locationIDs))
	args = append(args, organisationID)
	for _, l := range locationIDs {
		args = append(args, l)
	}
	rows, err := db.QueryContext(ctx, `SELECT location_id FROM `+LocationsTable+
		` WHERE organisation_id = ? AND location_id IN (`+projections.Marks(len(locationIDs))+`) LIMIT 1`, args...)
	mine, err := projections.Collect(rows, err, nil, projections.ScanString)
	return len(mine) > 0, err
}
