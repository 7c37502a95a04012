// Package directory is the directory of organisations and their locations:
// the registration form's postcode search, My Access's search by postcode,
// local authority or CCG, and the names shown next to every location id. It
// owns the DDL and the fold of its tables, organisations and locations, and
// their read SQL (SearchLocations, LocationByID, OrganisationOf,
// HasLocationIn).
package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection is the directory of organisations and their locations:
// the postcode search of the registration form, My Access's search by
// postcode, local authority or CCG, and the names shown next to every
// location id. Tables organisations (organisation_id, name, type, and a GP
// practice's postcode) and locations (location_id, its organisation and
// address, postcode_compact: the postcode upper case without spaces, the key
// of postcode searches; from the CQC import, its NHS and CQC regions and
// registration status).
//
// A location's columns are its directory entry, folded in Go by
// location.Directory.Apply as the location's own state folds it: once its
// users have saved its name and address (address_edited), CQC's later
// changes of them no longer replace theirs.
type Projection struct{}

var _ projections.Projection = Projection{}

// Tables of Projection.
const (
	OrganisationsTable = "organisations"
	LocationsTable     = "locations"
)

func (Projection) Name() string { return "locations" }

func (Projection) Tables() []string { return []string{OrganisationsTable, LocationsTable} }

func (Projection) Schema(d projections.Dialect, table func(string) string) []string {
	o, l := table(OrganisationsTable), table(LocationsTable)
	return []string{
		fmt.Sprintf(`CREATE TABLE %s (
    organisation_id TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL,
    postcode        TEXT NOT NULL DEFAULT ''
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
    ccg               TEXT NOT NULL,
    -- From the CQC import (the regions are CQC's whatever they are, as
    -- location.Directory folds them): empty for a location it has not seen.
    nhs_region          TEXT NOT NULL DEFAULT '',
    cqc_region          TEXT NOT NULL DEFAULT '',
    registration_status TEXT NOT NULL DEFAULT '',
    -- The location's users saved its address: CQC's name and address
    -- no longer replace it.
    address_edited BOOLEAN NOT NULL DEFAULT FALSE
)`, l),
		fmt.Sprintf(`CREATE INDEX %s_organisation_id ON %s (organisation_id)`, l, l),
		fmt.Sprintf(`CREATE INDEX %s_postcode_compact ON %s (postcode_compact)`, l, l),
		// The searches compare case-insensitively (see SearchLocations).
		fmt.Sprintf(`CREATE INDEX %s_local_authority ON %s (lower(local_authority))`, l, l),
		fmt.Sprintf(`CREATE INDEX %s_ccg ON %s (lower(ccg))`, l, l),
	}
}

// Apply records a registered organisation or location, and keeps them
// current with the CQC import and the location's users' edits.
func (Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	switch {
	case slices.Contains(location.DirectoryEventTypes, ev.Type):
	case ev.Type == location.TypeOrganisationRegistered, ev.Type == location.TypeOrganisationRenamed,
		ev.Type == location.TypeOrganisationPostcodeChanged:
	default:
		return nil
	}
	d, err := location.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	o, l := table(OrganisationsTable), table(LocationsTable)
	switch e := d.(type) {
	case location.OrganisationRegistered:
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (organisation_id, name, type, postcode) VALUES (?, ?, ?, ?)
ON CONFLICT (organisation_id) DO UPDATE SET name = excluded.name, type = excluded.type, postcode = excluded.postcode`, o),
			e.OrganisationID, e.Name, string(e.Type), e.Postcode); err != nil {
			return fmt.Errorf("organisation %s: %w", e.OrganisationID, err)
		}
		return renameOrganisationLocations(ctx, tx, l, e.OrganisationID, e.Name)
	case location.OrganisationRenamed:
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET name = ? WHERE organisation_id = ?`, o), e.After, e.OrganisationID); err != nil {
			return fmt.Errorf("organisation %s: %w", e.OrganisationID, err)
		}
		return renameOrganisationLocations(ctx, tx, l, e.OrganisationID, e.After)
	case location.OrganisationPostcodeChanged:
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET postcode = ? WHERE organisation_id = ?`, o), e.After, e.OrganisationID); err != nil {
			return fmt.Errorf("organisation %s: %w", e.OrganisationID, err)
		}
		return nil
	}
	return applyDirectoryEvent(ctx, tx, o, l, projections.StreamEntity(ev.StreamID), d)
}

// renameOrganisationLocations writes an organisation's name onto its
// locations: they carry a copy of it, so that they are listed without a
// join.
func renameOrganisationLocations(ctx context.Context, tx projections.Tx, l, organisationID, name string) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET organisation_name = ? WHERE organisation_id = ?`, l),
		name, organisationID); err != nil {
		return fmt.Errorf("organisation %s: locations: %w", organisationID, err)
	}
	return nil
}

// directoryColumns are the columns of a location's row that hold its
// directory entry, in the order applyDirectoryEvent scans them.
var directoryColumns = []string{"location_id", "organisation_id", "organisation_name", "name", "address_line1", "town",
	"postcode", "local_authority", "ccg", "nhs_region", "cqc_region", "registration_status", "address_edited"}

// applyDirectoryEvent folds an event of a location's stream into its
// directory entry (location.Directory.Apply, as the location's state folds
// it), in Go, and writes the row's columns from the result. A location
// the directory does not know yet starts with its registration or its
// first CQC import; its organisation's name, when its events name none,
// is the directory's copy of the organisation's.
func applyDirectoryEvent(ctx context.Context, tx projections.Tx, o, l, id string, ev any) error {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE location_id = ?`,
		strings.Join(directoryColumns, ", "), l), id)
	if err != nil {
		return fmt.Errorf("location %s: %w", id, err)
	}
	var cur location.Directory
	found := false
	err = projections.ScanAll(rows, func() error {
		found = true
		return rows.Scan(&cur.LocationID, &cur.OrganisationID, &cur.OrganisationName, &cur.Name, &cur.Line1, &cur.Line3,
			&cur.Postcode, &cur.LocalAuthority, &cur.CCG, &cur.NHSRegion, &cur.CQCRegion, &cur.RegistrationStatus,
			&cur.AddressEdited)
	})
	if err != nil {
		return fmt.Errorf("location %s: %w", id, err)
	}
	if !found {
		if !location.StartsLocation(ev) {
			return nil
		}
		cur = location.Directory{LocationID: id}
	}
	next := cur.Apply(ev)
	if found && next == cur {
		return nil
	}
	if next.OrganisationName == "" {
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT name FROM %s WHERE organisation_id = ?`, o), next.OrganisationID)
		if err != nil {
			return fmt.Errorf("location %s: organisation %s: %w", id, next.OrganisationID, err)
		}
		if err := projections.ScanAll(rows, func() error { return rows.Scan(&next.OrganisationName) }); err != nil {
			return fmt.Errorf("location %s: organisation %s: %w", id, next.OrganisationID, err)
		}
	}
	cols := append(slices.Clone(directoryColumns), "postcode_compact")
	sets := make([]string, 0, len(cols)-1)
	for _, c := range cols[1:] {
		sets = append(sets, c+" = excluded."+c)
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)
ON CONFLICT (location_id) DO UPDATE SET %s`, l, strings.Join(cols, ", "), projections.Marks(len(cols)), strings.Join(sets, ", ")),
		id, next.OrganisationID, next.OrganisationName, next.Name, next.Line1, next.Line3, next.Postcode,
		next.LocalAuthority, next.CCG, next.NHSRegion, next.CQCRegion, next.RegistrationStatus, next.AddressEdited,
		location.CompactPostcode(next.Postcode))
	if err != nil {
		return fmt.Errorf("location %s: %w", id, err)
	}
	return nil
}
