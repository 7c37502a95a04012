package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// LocationDirectory is the directory of organisations and their locations:
// the postcode search of the registration form, My Access's search by
// postcode, local authority or CCG, and the names shown next to every
// location id. Tables organisations (organisation_id, name, type, and a GP
// practice's postcode) and locations (location_id, its organisation and
// address, postcode_compact: the postcode upper case without spaces, the key
// of postcode searches; from the CQC import, its NHS and CQC regions and
// registration status).
//
// A location's name and address follow its users' edits (AddressChanged):
// once they have saved it (address_edited), CQC's later changes of the name
// and address no longer replace theirs, as in the location's own state.
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
    -- From the CQC import: empty for a location it has not seen.
    nhs_region          TEXT NOT NULL DEFAULT '',
    cqc_region          TEXT NOT NULL DEFAULT '',
    registration_status TEXT NOT NULL DEFAULT '',
    -- The location's users saved its address: CQC's name and address
    -- no longer replace it.
    address_edited BOOLEAN NOT NULL DEFAULT FALSE
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

// Apply records a registered organisation or location, and keeps them
// current with the CQC import.
func (LocationDirectory) Apply(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event) error {
	switch ev.Type {
	case location.TypeCQCLocationImported, location.TypeCQCDetailsChanged, location.TypeLocationDeregistered,
		location.TypeLocationReregistered, location.TypeOrganisationRenamed, location.TypeOrganisationPostcodeChanged,
		location.TypeAddressChanged:
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		return applyCQC(ctx, tx, table, d)
	case location.TypeOrganisationRegistered, location.TypeLocationRegistered:
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return fmt.Errorf("decode %s: %w", ev.Type, err)
		}
		switch e := d.(type) {
		case location.OrganisationRegistered:
			return applyOrganisation(ctx, tx, table, e)
		case location.LocationRegistered:
			return applyLocation(ctx, tx, table, e)
		}
	}
	return nil
}

func applyOrganisation(ctx context.Context, tx Tx, table func(string) string, e location.OrganisationRegistered) error {
	o, l := table(OrganisationsTable), table(LocationsTable)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (organisation_id, name, type, postcode) VALUES (?, ?, ?, ?)
ON CONFLICT (organisation_id) DO UPDATE SET name = excluded.name, type = excluded.type, postcode = excluded.postcode`, o),
		e.OrganisationID, e.Name, string(e.Type), e.Postcode); err != nil {
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
    name = CASE WHEN %[1]s.address_edited THEN %[1]s.name ELSE excluded.name END,
    address_line1 = CASE WHEN %[1]s.address_edited THEN %[1]s.address_line1 ELSE excluded.address_line1 END,
    town = CASE WHEN %[1]s.address_edited THEN %[1]s.town ELSE excluded.town END,
    postcode = CASE WHEN %[1]s.address_edited THEN %[1]s.postcode ELSE excluded.postcode END,
    postcode_compact = CASE WHEN %[1]s.address_edited THEN %[1]s.postcode_compact ELSE excluded.postcode_compact END,
    local_authority = excluded.local_authority,
    ccg = excluded.ccg`, l, o),
		e.LocationID, e.OrganisationID, e.OrganisationName, e.OrganisationID, e.Name,
		e.AddressLine1, e.Town, e.Postcode, CompactPostcode(e.Postcode), e.LocalAuthority, e.CCG)
	if err != nil {
		return fmt.Errorf("location %s: %w", e.LocationID, err)
	}
	return nil
}

// cqcColumns are the directory's columns that the CQC record's fields
// (named as in its JSON) keep current.
var cqcColumns = map[string]string{
	"name": "name", "address_line1": "address_line1", "town": "town", "postcode": "postcode",
	"local_authority": "local_authority", "ccg_name": "ccg", "nhs_region": "nhs_region", "cqc_region": "cqc_region",
	"registration_status": "registration_status",
}

// applyCQC applies an event of the CQC import. As in the location's state,
// CQC's known values replace the directory's; an unknown (empty) one
// leaves it as it is.
func applyCQC(ctx context.Context, tx Tx, table func(string) string, ev any) error {
	o, l := table(OrganisationsTable), table(LocationsTable)
	switch e := ev.(type) {
	case location.OrganisationPostcodeChanged:
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET postcode = ? WHERE organisation_id = ?`, o), e.After, e.OrganisationID); err != nil {
			return fmt.Errorf("organisation %s: %w", e.OrganisationID, err)
		}
		return nil
	case location.AddressChanged:
		return applyAddressChanged(ctx, tx, l, e)
	case location.OrganisationRenamed:
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET name = ? WHERE organisation_id = ?`, o), e.After, e.OrganisationID); err != nil {
			return fmt.Errorf("organisation %s: %w", e.OrganisationID, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET organisation_name = ? WHERE organisation_id = ?`, l), e.After, e.OrganisationID); err != nil {
			return fmt.Errorf("organisation %s: locations: %w", e.OrganisationID, err)
		}
		return nil
	case location.CQCLocationImported:
		r := e.Record
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (location_id, organisation_id, organisation_name, name,
    address_line1, town, postcode, postcode_compact, local_authority, ccg)
VALUES (?, ?, '', '', '', '', '', '', '', '') ON CONFLICT (location_id) DO NOTHING`, l), e.LocationID, r.ProviderID); err != nil {
			return fmt.Errorf("location %s: %w", e.LocationID, err)
		}
		// The provider's name when the record has it, else the
		// directory's copy of the organisation.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET organisation_id = ?,
    organisation_name = COALESCE(NULLIF(?, ''), (SELECT name FROM %s WHERE organisation_id = ?), organisation_name)
WHERE location_id = ?`, l, o), r.ProviderID, r.ProviderName, r.ProviderID, e.LocationID); err != nil {
			return fmt.Errorf("location %s: %w", e.LocationID, err)
		}
		return setLocationColumns(ctx, tx, l, e.LocationID, map[string]string{
			"name": r.Name, "address_line1": r.AddressLine1, "town": r.Town, "postcode": r.Postcode,
			"local_authority": r.LocalAuthority, "ccg": r.CCGName, "nhs_region": r.NHSRegion, "cqc_region": r.CQCRegion,
			"registration_status": r.RegistrationStatus,
		})
	case location.CQCDetailsChanged:
		set := map[string]string{}
		for _, c := range e.Changes {
			if col, ok := cqcColumns[c.Field]; ok {
				if v, ok := c.After.(string); ok {
					set[col] = v
				}
			}
		}
		return setLocationColumns(ctx, tx, l, e.LocationID, set)
	case location.LocationDeregistered:
		return setLocationColumns(ctx, tx, l, e.LocationID, map[string]string{"registration_status": location.StatusDeregistered})
	case location.LocationReregistered:
		return setLocationColumns(ctx, tx, l, e.LocationID, map[string]string{"registration_status": location.StatusRegistered})
	}
	return nil
}

// directoryAddressFields maps the fields of an AddressChanged (named as in
// location.Address's JSON) to the directory's columns; the other lines
// and the short name are not in the directory.
var directoryAddressFields = map[string]string{
	"name": "name", "address_line1": "address_line1", "address_line3": "town", "postcode": "postcode",
}

// applyAddressChanged applies the users' edit of the address: from now on
// it is theirs (address_edited).
func applyAddressChanged(ctx context.Context, tx Tx, l string, e location.AddressChanged) error {
	sets, args := []string{"address_edited = TRUE"}, []any{}
	for _, c := range e.Changes {
		col, ok := directoryAddressFields[c.Field]
		if !ok {
			continue
		}
		v, _ := c.After.(string)
		sets, args = append(sets, col+" = ?"), append(args, v)
		if col == "postcode" {
			sets, args = append(sets, "postcode_compact = ?"), append(args, CompactPostcode(v))
		}
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE location_id = ?`, l, strings.Join(sets, ", ")),
		append(args, e.LocationID)...)
	if err != nil {
		return fmt.Errorf("location %s: %w", e.LocationID, err)
	}
	return nil
}

// userAddressColumns are the directory's columns that a location's users
// own once they have saved its address.
var userAddressColumns = []string{"name", "address_line1", "town", "postcode"}

// setLocationColumns sets a location's columns, those of the list below
// that values names with a non-empty value; the postcode keeps its search
// key. The name and address change only while the location's users have
// not saved theirs (address_edited). Column names never come from the
// events.
func setLocationColumns(ctx context.Context, tx Tx, l, locationID string, values map[string]string) error {
	var (
		sets []string
		args []any
	)
	for _, col := range []string{"name", "address_line1", "town", "postcode", "local_authority", "ccg", "nhs_region", "cqc_region", "registration_status"} {
		v, ok := values[col]
		if !ok || v == "" {
			continue
		}
		set := col + " = ?"
		if slices.Contains(userAddressColumns, col) {
			set = fmt.Sprintf("%s = CASE WHEN address_edited THEN %s ELSE ? END", col, col)
		}
		sets, args = append(sets, set), append(args, v)
		if col == "postcode" {
			sets, args = append(sets, "postcode_compact = CASE WHEN address_edited THEN postcode_compact ELSE ? END"),
				append(args, CompactPostcode(v))
		}
	}
	if len(sets) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE location_id = ?`, l, strings.Join(sets, ", ")),
		append(args, locationID)...)
	if err != nil {
		return fmt.Errorf("location %s: %w", locationID, err)
	}
	return nil
}
