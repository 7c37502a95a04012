package location

// Directory is a location's directory entry: its name, short name and
// address, its organisation, its areas (NHS and CQC regions, local
// authority, CCG) and its registration status, as every view of the
// location shows them. Apply is the one statement of how they are decided;
// the location's state (EvolveLocation) and every read model that keeps
// these fields fold their events with it, so that they cannot disagree.
//
// The rules: support's registration (LocationRegistered) sets the entry;
// CQC's import then replaces each field with CQC's value when CQC knows it
// (a non-empty one), except the second address line, the county (the
// address's fourth line) and the regions, which are CQC's whatever they
// are. Once the location's users save its address (AddressChanged), the
// name and address are theirs: CQC's later values no longer replace them.
// CQC's deregistration and registration set the status.
//
// A Directory is a comparable value with no reference fields: Apply
// returns a new one and never changes its receiver, so a view can keep the
// entry it read and compare it with the result.
type Directory struct {
	LocationID       string
	OrganisationID   string
	OrganisationName string
	// Address is the name and address: support's or CQC's until the
	// location's users save theirs (AddressEdited).
	Address
	AddressEdited  bool
	LocalAuthority string
	CCG            string
	NHSRegion      string
	CQCRegion      string
	// RegistrationStatus is CQC's, "" until CQC says (see Status).
	RegistrationStatus string
}

// DirectoryEventTypes are the type names of the events Directory.Apply
// folds, for views that skip other events before decoding them.
var DirectoryEventTypes = []string{
	TypeLocationRegistered, TypeCQCLocationImported, TypeCQCDetailsChanged, TypeLocationDeregistered,
	TypeLocationReregistered, TypeAddressChanged,
}

// StartsLocation reports whether an event starts a location's stream: its
// registration by support or CQC's first import of it. A view that does
// not know a location yet makes its entry on one of these only; any other
// event names no location yet.
func StartsLocation(ev any) bool {
	switch ev.(type) {
	case LocationRegistered, CQCLocationImported:
		return true
	}
	return false
}

// Status is the registration status a view shows: CQC's, or Registered
// for a location support registered that CQC has said nothing of.
func (d Directory) Status() string {
	if d.RegistrationStatus == "" {
		return StatusRegistered
	}
	return d.RegistrationStatus
}

// Apply folds an event of the location's stream into its entry; events
// that do not touch the directory leave it as it is.
func (d Directory) Apply(ev any) Directory {
	switch e := ev.(type) {
	case LocationRegistered:
		d.LocationID, d.OrganisationID, d.OrganisationName = e.LocationID, e.OrganisationID, e.OrganisationName
		d.LocalAuthority, d.CCG = e.LocalAuthority, e.CCG
		if !d.AddressEdited {
			d.Name, d.Line1, d.Line3, d.Postcode = e.Name, e.AddressLine1, e.Town, e.Postcode
		}
	case CQCLocationImported:
		r := e.Record
		for _, f := range []struct{ field, value string }{
			{"location_id", r.LocationID}, {"provider_id", r.ProviderID}, {"provider_name", r.ProviderName},
			{"name", r.Name}, {"address_line1", r.AddressLine1}, {"address_line2", r.AddressLine2}, {"town", r.Town},
			{"county", r.County}, {"postcode", r.Postcode}, {"local_authority", r.LocalAuthority},
			{"ccg_name", r.CCGName}, {"nhs_region", r.NHSRegion}, {"cqc_region", r.CQCRegion},
			{"registration_status", r.RegistrationStatus},
		} {
			d.setCQC(f.field, f.value)
		}
	case CQCDetailsChanged:
		for _, c := range e.Changes {
			if v, ok := c.After.(string); ok {
				d.setCQC(c.Field, v)
			}
		}
	case LocationDeregistered:
		d.RegistrationStatus = StatusDeregistered
	case LocationReregistered:
		d.RegistrationStatus = StatusRegistered
	case AddressChanged:
		for _, c := range e.Changes {
			for _, f := range addressFields {
				if f.name == c.Field {
					s, _ := c.After.(string)
					*f.ptr(&d.Address) = s
				}
			}
		}
		d.AddressEdited = true
	}
	return d
}

// setCQC applies a field of CQC's record (named as in its JSON) with the
// rules of Directory.
func (d *Directory) setCQC(field, v string) {
	known := func(dst *string) {
		if v != "" {
			*dst = v
		}
	}
	address := func(dst *string, always bool) {
		if !d.AddressEdited && (always || v != "") {
			*dst = v
		}
	}
	switch field {
	case "location_id":
		known(&d.LocationID)
	case "provider_id":
		known(&d.OrganisationID)
	case "provider_name":
		known(&d.OrganisationName)
	case "name":
		address(&d.Name, false)
	case "address_line1":
		address(&d.Line1, false)
	case "address_line2":
		address(&d.Line2, true)
	case "town":
		address(&d.Line3, false)
	case "county":
		address(&d.Line4, true)
	case "postcode":
		address(&d.Postcode, false)
	case "local_authority":
		known(&d.LocalAuthority)
	case "ccg_name":
		known(&d.CCG)
	case "nhs_region":
		d.NHSRegion = v
	case "cqc_region":
		d.CQCRegion = v
	case "registration_status":
		known(&d.RegistrationStatus)
	}
}
