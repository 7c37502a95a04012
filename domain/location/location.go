// Package location is the organisation and location aggregates: a location
// (a provider's site, with its CQC location id) belongs to an organisation
// (the registered provider). Pure Go: no I/O.
//
// This package holds what accounts need of them (ids, names, organisation
// type, postcode, local authority, CCG) and CQC's record of each location
// (cqc.go), with the parsers of CQC's files (cqcparse.go).
package location

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain"
)

// Stream ids.
func OrganisationStream(id string) string { return "organisation-" + id }
func LocationStream(id string) string     { return "location-" + id }

// idPattern is a CQC-style id ("1-101641286") or any short id of letters,
// digits and - . _ that can be part of a stream id: organisation and
// location ids (ParseID), contact and note ids, GP practice codes.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ID is an organisation or location id, checked once where it comes in
// (ParseID): a function that holds an ID never checks it again. The zero
// ID is no id.
type ID struct{ s string }

// ErrInvalidID is the error of ParseID: the text cannot be an organisation
// or location id, so no stream is named after it.
var ErrInvalidID = errors.New("not an organisation or location id")

// ParseID checks an organisation or location id: 1 to 64 letters, digits,
// dots, dashes or underscores, starting with a letter or digit.
func ParseID(s string) (ID, error) {
	if !idPattern.MatchString(s) {
		return ID{}, fmt.Errorf("%q: %w", s, ErrInvalidID)
	}
	return ID{s: s}, nil
}

func (id ID) String() string { return id.s }

// IsZero reports whether id is no id.
func (id ID) IsZero() bool { return id.s == "" }

// LocationStream is the stream of the location of this id.
func (id ID) LocationStream() string { return LocationStream(id.s) }

// OrganisationStream is the stream of the organisation of this id.
func (id ID) OrganisationStream() string { return OrganisationStream(id.s) }

// Postcode is a UK postcode in its canonical form: upper case, one space
// before the inward code ("NN1 1NN").
type Postcode struct{ s string }

// postcodePattern is a UK postcode without its space: one of the six
// outward forms (A9, A99, AA9, AA99, A9A, AA9A) and the inward code 9AA,
// with the letters each position may hold, or GIR 0AA (Girobank).
//   - first position: any letter but Q, V, X
//   - second position, when a letter: any but I, J, Z
//   - third position of A9A: A B C D E F G H J K P S T U W
//   - fourth position of AA9A: A B E H M N P R V W X Y
//   - the inward code's letters: any but C I K M O V
var postcodePattern = regexp.MustCompile(`^(?:GIR0AA|(?:` +
	`[A-PR-UWYZ][0-9]{1,2}|` + // A9, A99
	`[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|` + // AA9, AA99
	`[A-PR-UWYZ][0-9][A-HJKPSTUW]|` + // A9A
	`[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]` + // AA9A
	`)[0-9][ABD-HJLNP-UW-Z]{2})$`)

// ParsePostcode normalises and checks a full UK postcode.
func ParsePostcode(s string) (Postcode, error) {
	c := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(c) < 5 || len(c) > 7 || !postcodePattern.MatchString(c) {
		return Postcode{}, domain.Invalid("postcode", "invalid_postcode", "Enter a full UK postcode, like NN1 1NN")
	}
	return Postcode{s: c[:len(c)-3] + " " + c[len(c)-3:]}, nil
}

func (p Postcode) String() string { return p.s }

// Compact is the postcode without its space, the key of postcode searches.
func (p Postcode) Compact() string { return strings.ReplaceAll(p.s, " ", "") }

// CompactPostcode is the key of a postcode search of any text: upper case,
// without any white space. The directory's and the search's views key
// their rows by it, and the searches normalise their input with it.
func CompactPostcode(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// OrganisationType is the kind of organisation a user registers from.
type OrganisationType string

// The organisation types of the registration form, in its order.
const (
	CareHome               OrganisationType = "care_home"
	HomeCare               OrganisationType = "home_care"
	NHSAcute               OrganisationType = "nhs_acute"
	Community              OrganisationType = "community"
	SubstanceMisuse        OrganisationType = "substance_misuse"
	Hospice                OrganisationType = "hospice"
	CCG                    OrganisationType = "ccg"
	LocalAuthority         OrganisationType = "local_authority"
	LocalAuthorityRegional OrganisationType = "local_authority_regional"
	NHSENDXCSU             OrganisationType = "nhse_ndx_csu"
	GP                     OrganisationType = "gp"
	Other                  OrganisationType = "other"
	SearchOnly             OrganisationType = "search_only"
)

// OrganisationTypes lists every type with its label, in the form's order.
func OrganisationTypes() []struct {
	Code  OrganisationType `json:"code"`
	Label string           `json:"label"`
} {
	return []struct {
		Code  OrganisationType `json:"code"`
		Label string           `json:"label"`
	}{
		{CareHome, "Care Home"}, {HomeCare, "Home Care"}, {NHSAcute, "NHS Acute"}, {Community, "Community"},
		{SubstanceMisuse, "Substance Misuse"}, {Hospice, "Hospice"}, {CCG, "CCG"}, {LocalAuthority, "Local Authority"},
		{LocalAuthorityRegional, "Local Authority (Regional / LRF)"}, {NHSENDXCSU, "NHSE/NDX & CSU"}, {GP, "GP"},
		{Other, "Other"}, {SearchOnly, "Search Only"},
	}
}

// ParseOrganisationType checks a type code; empty means CareHome, the
// form's default.
func ParseOrganisationType(s string) (OrganisationType, bool) {
	if s == "" {
		return CareHome, true
	}
	for _, t := range OrganisationTypes() {
		if string(t.Code) == s {
			return t.Code, true
		}
	}
	return "", false
}

// OrganisationRegistered creates an organisation.
type OrganisationRegistered struct {
	OrganisationID string           `json:"organisation_id"`
	Name           string           `json:"name"`
	Type           OrganisationType `json:"type"`
	// Postcode is a GP practice's (see capacityctl gp import).
	Postcode string `json:"postcode,omitempty"`
}

// LocationRegistered creates a location of an organisation.
type LocationRegistered struct {
	LocationID       string `json:"location_id"`
	OrganisationID   string `json:"organisation_id"`
	OrganisationName string `json:"organisation_name"`
	Name             string `json:"name"`
	AddressLine1     string `json:"address_line1,omitempty"`
	Town             string `json:"town,omitempty"`
	Postcode         string `json:"postcode"`
	LocalAuthority   string `json:"local_authority,omitempty"`
	CCG              string `json:"ccg,omitempty"`
}

// Event type names.
const (
	TypeOrganisationRegistered = "OrganisationRegistered"
	TypeLocationRegistered     = "LocationRegistered"
)

func (OrganisationRegistered) EventType() string { return TypeOrganisationRegistered }
func (LocationRegistered) EventType() string     { return TypeLocationRegistered }

// events is the registry of the organisation and location streams'
// events, bringing older shapes to the current one first (Upcast).
var events = domain.NewRegistry(
	domain.EventOf(func(e OrganisationRegistered) OrganisationRegistered {
		// Imports once named a provider whose name the source lacked
		// after its id: a placeholder, not a name.
		if e.Name == e.OrganisationID {
			e.Name = ""
		}
		return e
	}),
	domain.EventOf(func(e OrganisationRenamed) OrganisationRenamed {
		if e.Before == e.OrganisationID {
			e.Before = ""
		}
		return e
	}),
	domain.EventOf[LocationRegistered](),
	domain.EventOf[CQCLocationImported](),
	domain.EventOf[CQCDetailsChanged](),
	domain.EventOf[CQCRatingsChanged](),
	domain.EventOf[LocationDeregistered](),
	domain.EventOf[LocationReregistered](),
	domain.EventOf[LocationDormancyChanged](),
	domain.EventOf[OrganisationPostcodeChanged](),
	domain.EventOf[AddressChanged](),
	domain.EventOf[ContactAdded](),
	domain.EventOf[ContactUpdated](),
	domain.EventOf[ContactRemoved](),
	domain.EventOf[GPPracticeLinked](),
	domain.EventOf[GPPracticeUnlinked](),
	domain.EventOf[OwnershipTypeChanged](),
	domain.EventOf[NoteAdded](),
	domain.EventOf[NoteEdited](),
	domain.EventOf[NoteDeleted](),
	domain.EventOf[PAMMSChanged](),
	domain.EventOf[DetailsConfirmed](),
).Upcasting(Upcast)

// Events is the package's event registry: its type names and decoders.
func Events() domain.Registry { return events }

// Decode reads an event of the organisation and location streams from its
// type name and JSON, by the rules of domain.Registry.Decode, bringing
// older shapes to the current one first (Upcast). Unknown types return
// (nil, nil): newer events are skipped by older code.
func Decode(eventType string, data []byte) (domain.Event, error) {
	return events.Decode(eventType, data)
}

// Organisation is the state of an organisation stream.
type Organisation struct {
	ID       string
	Name     string
	Type     OrganisationType
	Postcode string
	Version  int64
}

// Location is the state of a location stream: its directory entry (as
// support registered it, kept current by CQC's import until its users
// save their own name and address: Directory), CQC's record of it, empty
// until the first import, and the details its users keep (details.go).
type Location struct {
	Directory
	CQC     CQCRecord
	Details Details
	Version int64
}

// Exists reports whether the location was registered.
func (l Location) Exists() bool { return l.Version > 0 }

// OrganisationRef is the id of the location's organisation, as an ID: it
// was checked when the event that set it was decided.
func (l Location) OrganisationRef() ID { return ID{s: l.OrganisationID} }

// Exists reports whether the organisation was registered.
func (o Organisation) Exists() bool { return o.Version > 0 }

// EvolveOrganisation applies an event.
func EvolveOrganisation(o Organisation, ev any) Organisation {
	switch e := ev.(type) {
	case OrganisationRegistered:
		o.ID, o.Name, o.Type, o.Postcode = e.OrganisationID, e.Name, e.Type, e.Postcode
	case OrganisationRenamed:
		o.Name = e.After
	case OrganisationPostcodeChanged:
		o.Postcode = e.After
	}
	o.Version++
	return o
}

// EvolveLocation applies an event.
func EvolveLocation(l Location, ev any) Location {
	l.Directory = l.Directory.Apply(ev)
	if rec, ok := evolveCQC(l.CQC, ev); ok {
		l.CQC = rec
	} else {
		l.evolveDetails(ev)
	}
	l.Version++
	return l
}

// RegisterOrganisation is the support command that creates an organisation.
type RegisterOrganisation struct {
	OrganisationID string
	Name           string
	Type           string
}

// DecideRegisterOrganisation validates the command against the state.
func DecideRegisterOrganisation(o Organisation, c RegisterOrganisation) (OrganisationRegistered, error) {
	var v domain.ValidationError
	if _, err := ParseID(c.OrganisationID); err != nil {
		v.Add("organisation_id", "invalid_id", "Use 1 to 64 letters, digits, dots, dashes or underscores")
	}
	name := domain.CleanText(c.Name)
	if l := utf8.RuneCountInString(name); l < 2 || l > 200 {
		v.Add("name", "invalid_length", "Enter a name of 2 to 200 characters")
	}
	t, ok := ParseOrganisationType(c.Type)
	if !ok {
		v.Add("type", "invalid_choice", "Choose one of the organisation types")
	}
	if err := v.Err(); err != nil {
		return OrganisationRegistered{}, err
	}
	if o.Exists() {
		return OrganisationRegistered{}, &domain.ConflictError{Code: "organisation_exists", Message: "organisation " + c.OrganisationID + " exists already"}
	}
	return OrganisationRegistered{OrganisationID: c.OrganisationID, Name: name, Type: t}, nil
}

// RegisterLocation is the support command that creates a location.
type RegisterLocation struct {
	LocationID     string
	OrganisationID string
	Name           string
	AddressLine1   string
	Town           string
	Postcode       string
	LocalAuthority string
	CCG            string
}

// DecideRegisterLocation validates the command against the location and its
// organisation.
func DecideRegisterLocation(l Location, org Organisation, c RegisterLocation) (LocationRegistered, error) {
	var v domain.ValidationError
	if _, err := ParseID(c.LocationID); err != nil {
		v.Add("location_id", "invalid_id", "Use 1 to 64 letters, digits, dots, dashes or underscores")
	}
	if !org.Exists() {
		v.Add("organisation_id", "unknown_organisation", "No organisation has this id")
	}
	name := domain.CleanText(c.Name)
	if n := utf8.RuneCountInString(name); n < 2 || n > 200 {
		v.Add("name", "invalid_length", "Enter a name of 2 to 200 characters")
	}
	pc, err := ParsePostcode(c.Postcode)
	if err != nil {
		v.Merge("", err)
	}
	for _, f := range []struct{ field, value string }{
		{"address_line1", c.AddressLine1}, {"town", c.Town}, {"local_authority", c.LocalAuthority}, {"ccg", c.CCG},
	} {
		if utf8.RuneCountInString(domain.CleanText(f.value)) > 200 {
			v.Add(f.field, "too_long", "At most 200 characters")
		}
	}
	if err := v.Err(); err != nil {
		return LocationRegistered{}, err
	}
	if l.Exists() {
		return LocationRegistered{}, &domain.ConflictError{Code: "location_exists", Message: "location " + c.LocationID + " exists already"}
	}
	return LocationRegistered{
		LocationID: c.LocationID, OrganisationID: org.ID, OrganisationName: org.Name, Name: name,
		AddressLine1: domain.CleanText(c.AddressLine1), Town: domain.CleanText(c.Town), Postcode: pc.String(),
		LocalAuthority: domain.CleanText(c.LocalAuthority), CCG: domain.CleanText(c.CCG),
	}, nil
}
