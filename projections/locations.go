package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// LocationDirectory is the directory of organisations and their locations:
// the postcode search of the registration form, My Access's search by
// postcode, local authority or CCG, and the names shown next to every
// location id. Tables organisations (organisation_id, name, type) and
// locations (location_id, its organisation and address, postcode_compact:
// the postcode upper case without spaces, the key of postcode searches).
type LocationDirectory struct{}

// Tables of LocationDirectory.
const (
	OrganisationsTable = "organisations"
	LocationsTable     = "locations"
)

func (LocationDirectory) Name() string { return "locations" }

func (LocationDirectory) Tables() []string { return []string{OrganisationsTable, LocationsTable} }

func (LocationDirectory) Schema(d Dialect, table func(string) string) []string {
	o, l := table(OrganisationsTable), table(LocationsTable)
	return []string{
		fmt.Sprintf(`CREATE TABLE %s (
    organisation_id TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL
)`, o),
		fmt.Sprintf(`CREATE TABLE %s (
    location_id       TEXT PRIMARY KEY,
    organisation_id   TEXT NOT NULL,
    organisation_name TEXT NOT NULL,
    name              TEXT NOT NULL,
    address_line1     TEXT NOT NULL,
    town              TEXT NOT NULL,
    postcode          TEXT NOT NULL,
    postcode_compact  TEXT NOT NULL,
    local_authority   TEXT NOT NULL,
    ccg               TEXT NOT NULL
)`, l),
		fmt.Sprintf(`CREATE INDEX %s_organisation_id ON %s (organisation_id)`, l, l),
		fmt.Sprintf(`CREATE INDEX %s_postcode_compact ON %s (postcode_compact)`, l, l),
		// The searches compare case-insensitively (see queries).
		fmt.Sprintf(`CREATE INDEX %s_local_authority ON %s (lower(local_authority))`, l, l),
		fmt.Sprintf(`CREATE INDEX %s_ccg ON %s (lower(ccg))`, l, l),
	}
}

// CompactPostcode is the key of a postcode search: upper case, without any
// white space. Queries normalise their input with it too.
func CompactPostcode(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// Apply records a registered organisation or location.
func (LocationDirectory) Apply(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event) error {
	switch ev.Type {
	case location.TypeOrganisationRegistered:
		var e location.OrganisationRegistered
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Type, err)
		}
		return applyOrganisation(ctx, tx, table, e)
	case location.TypeLocationRegistered:
		var e location.LocationRegistered
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Type, err)
		}
		return applyLocation(ctx, tx, table, e)
	}
	return nil
}

func applyOrganisation(ctx context.Context, tx Tx, table func(string) string, e location.OrganisationRegistered) error {
	o, l := table(OrganisationsTable), table(LocationsTable)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (organisation_id, name, type) VALUES (?, ?, ?)
ON CONFLICT (organisation_id) DO UPDATE SET name = excluded.name, type = excluded.type`, o),
		e.OrganisationID, e.Name, string(e.Type)); err != nil {
		return fmt.Errorf("organisation %s: %w", e.OrganisationID, err)
	}
	// Locations carry a copy of the name, so that they are listed without
	// a join.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET organisation_name = ? WHERE organisation_id = ?`, l),
		e.Name, e.OrganisationID); err != nil {
		return fmt.Errorf("organisation %s: locations: %w", e.OrganisationID, err)
	}
	return nil
}

func applyLocation(ctx context.Context, tx Tx, table func(string) string, e location.LocationRegistered) error {
	o, l := table(OrganisationsTable), table(LocationsTable)
	// The event names the organisation; if it does not, the directory's
	// own copy of the organisation does.
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (location_id, organisation_id, organisation_name, name,
    address_line1, town, postcode, postcode_compact, local_authority, ccg)
VALUES (?, ?, COALESCE(NULLIF(?, ''), (SELECT name FROM %[2]s WHERE organisation_id = ?), ''), ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (location_id) DO UPDATE SET
    organisation_id = excluded.organisation_id,
    organisation_name = excluded.organisation_name,
    name = excluded.name,
    address_line1 = excluded.address_line1,
    town = excluded.town,
    postcode = excluded.postcode,
    postcode_compact = excluded.postcode_compact,
    local_authority = excluded.local_authority,
    ccg = excluded.ccg`, l, o),
		e.LocationID, e.OrganisationID, e.OrganisationName, e.OrganisationID, e.Name,
		e.AddressLine1, e.Town, e.Postcode, CompactPostcode(e.Postcode), e.LocalAuthority, e.CCG)
	if err != nil {
		return fmt.Errorf("location %s: %w", e.LocationID, err)
	}
	return nil
}
