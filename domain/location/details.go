package location

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain"
)

// Provider details: what a location's own users keep current on the Edit
// Provider page (address, contact directory, linked GP practices,
// ownership type, note log, PAMMS). Every edit is decided against the
// version of the stream the user last saw, and appends field-level events
// carrying the values before and after. CQC's fields (cqc.go) are never
// edited here.

// Sections of the Edit Provider and Care Quality pages. A save of a section
// that changes nothing appends DetailsConfirmed naming it.
const (
	SectionAddress        = "address"
	SectionContacts       = "contacts"
	SectionGPPractices    = "gp_practices"
	SectionClassification = "classification"
	SectionNotes          = "notes"
	SectionPAMMS          = "pamms"
)

// CQCOwnedFields are the fields that come from CQC, named as the API
// names them: an edit that names one is refused (ErrCQCOwned), never
// applied or ignored.
var CQCOwnedFields = []string{
	"registration_status", "registration_date", "deregistration_date", "dormant", "dormant_since",
	"service_types", "specialisms", "inspection_categories", "ratings", "cqc_ratings", "overall", "safe", "effective",
	"caring", "responsive", "well_led", "report_date", "last_report_date", "last_inspection_date",
	"report_url", "cqc_report_url", "public_url", "cqc_region", "nhs_region", "location_id", "provider_id",
}

// IsCQCOwned reports whether a field name is one of CQCOwnedFields.
func IsCQCOwned(field string) bool { return slices.Contains(CQCOwnedFields, field) }

// CQCOwnedError is an attempt to change fields that come from CQC (403).
type CQCOwnedError struct{ Fields []string }

func (e *CQCOwnedError) Error() string {
	return fmt.Sprintf("%s come from CQC and cannot be changed here: if they are wrong, ask CQC to correct them and the next import will bring the correction",
		strings.Join(e.Fields, ", "))
}

// StaleVersionError is an edit decided on a version of the location that
// is no longer current (409): the caller shows the current state and lets
// the user edit again.
type StaleVersionError struct {
	Expected int64
	Current  Location
}

func (e *StaleVersionError) Error() string {
	return fmt.Sprintf("location %s changed since you read it (you edited version %d; it is now at version %d): reload it and edit again",
		e.Current.LocationID, e.Expected, e.Current.Version)
}

// checkVersion is the first step of every edit: the location exists and
// the caller saw its current version.
func checkVersion(l Location, expected int64) error {
	if !l.Exists() {
		return domain.ErrNotFound
	}
	if expected != l.Version {
		return &StaleVersionError{Expected: expected, Current: l}
	}
	return nil
}

// --- state ---------------------------------------------------------------

// Address is a location's name and address as its users keep them.
type Address struct {
	Name      string `json:"name"`
	ShortName string `json:"short_name"`
	Line1     string `json:"address_line1"`
	Line2     string `json:"address_line2"`
	Line3     string `json:"address_line3"`
	Line4     string `json:"address_line4"`
	Line5     string `json:"address_line5"`
	Postcode  string `json:"postcode"`
}

// addressFields names the fields of Address as in its JSON, in form order.
var addressFields = []struct {
	name string
	ptr  func(*Address) *string
}{
	{"name", func(a *Address) *string { return &a.Name }},
	{"short_name", func(a *Address) *string { return &a.ShortName }},
	{"address_line1", func(a *Address) *string { return &a.Line1 }},
	{"address_line2", func(a *Address) *string { return &a.Line2 }},
	{"address_line3", func(a *Address) *string { return &a.Line3 }},
	{"address_line4", func(a *Address) *string { return &a.Line4 }},
	{"address_line5", func(a *Address) *string { return &a.Line5 }},
	{"postcode", func(a *Address) *string { return &a.Postcode }},
}

// Contact is one entry of a location's contact directory. Phones lists its
// UK numbers (at most 5), each as written but trimmed. (Until the .v2
// contact events, Phones was one string of numbers joined by ", ": see
// upcast.go.)
type Contact struct {
	ContactID        string   `json:"contact_id"`
	Role             string   `json:"role"`
	Name             string   `json:"name"`
	OrganisationName string   `json:"organisation_name"`
	Phones           []string `json:"phones"`
	Email            string   `json:"email"`
	Address          string   `json:"address"`
	Public           bool     `json:"public"`
}

// PhoneList is the contact's numbers joined by ", ", for one line of text.
func (c Contact) PhoneList() string { return strings.Join(c.Phones, ", ") }

// ContactSubject is the data subject of a contact's personal fields.
func ContactSubject(contactID string) string { return "contact-" + contactID }

// Contact roles of the directory's list, in its order. Any other role is
// free text ("Plumber", say).
const (
	RoleLeadClinician   = "Lead Clinician"
	RoleLeadGP          = "Lead GP"
	RoleLocalAuthority  = "Local Authority"
	RoleManager         = "Manager"
	RoleNHSEmail        = "NHS Email"
	RolePharmacy        = "Pharmacy"
	RolePhysio          = "Physio"
	RoleSocialWorker    = "Social Worker"
	RoleTrustedAssessor = "Trusted Assessor"
)

// ContactRoles lists the directory's roles.
func ContactRoles() []string {
	return []string{RoleLeadClinician, RoleLeadGP, RoleLocalAuthority, RoleManager, RoleNHSEmail, RolePharmacy,
		RolePhysio, RoleSocialWorker, RoleTrustedAssessor}
}

// GPLink is a GP practice linked to a location.
type GPLink struct {
	PracticeCode string `json:"practice_code"`
	Name         string `json:"name"`
	Postcode     string `json:"postcode,omitempty"`
}

// Note is an entry of a location's note log.
type Note struct {
	NoteID      string    `json:"note_id"`
	Text        string    `json:"text"`
	AddedAt     time.Time `json:"added_at"`
	AddedBy     string    `json:"added_by"` // user id
	AddedByName string    `json:"added_by_name"`
	EditedAt    time.Time `json:"edited_at,omitzero"`
}

// PAMMS is the location's latest PAMMS (Provider Assessment and Market
// Management Solution) assessment, a local authorities' quality source.
type PAMMS struct {
	ReportURL  string `json:"report_url"`
	Rating     string `json:"rating"`
	ReportDate string `json:"report_date"`
}

// PAMMS ratings.
var pammsRatings = []string{"Excellent", "Good", "Requires Improvement", "Poor"}

// PAMMSRatings lists PAMMS's ratings, best first.
func PAMMSRatings() []string { return slices.Clone(pammsRatings) }

// Ownership types of a location (Classification and Funding).
var ownershipTypes = []string{"Independent", "Local Authority", "NHS", "Voluntary / Not for profit"}

// OwnershipTypes lists the ownership types.
func OwnershipTypes() []string { return slices.Clone(ownershipTypes) }

// Details are the fields a location's users keep current.
type Details struct {
	OwnershipType string
	Contacts      []Contact
	GPPractices   []GPLink
	Notes         []Note
	PAMMS         PAMMS
}

// Contact returns a contact of the directory.
func (l Location) Contact(id string) (Contact, bool) {
	i := slices.IndexFunc(l.Details.Contacts, func(c Contact) bool { return c.ContactID == id })
	if i < 0 {
		return Contact{}, false
	}
	return l.Details.Contacts[i], true
}

// Note returns a note of the log.
func (l Location) Note(id string) (Note, bool) {
	i := slices.IndexFunc(l.Details.Notes, func(n Note) bool { return n.NoteID == id })
	if i < 0 {
		return Note{}, false
	}
	return l.Details.Notes[i], true
}

// HasManager reports whether the directory has a Manager contact.
func (l Location) HasManager() bool {
	return slices.ContainsFunc(l.Details.Contacts, func(c Contact) bool { return c.Role == RoleManager })
}

// HasEmail reports whether any contact of the directory has an email.
func (l Location) HasEmail() bool {
	return slices.ContainsFunc(l.Details.Contacts, func(c Contact) bool { return c.Email != "" })
}

// --- events --------------------------------------------------------------

// AddressChanged: fields of the address changed. Changes name them as in
// Address's JSON.
type AddressChanged struct {
	LocationID string        `json:"location_id"`
	Changes    []FieldChange `json:"changes"`
}

// ContactAdded: a contact joined the directory.
type ContactAdded struct {
	LocationID string  `json:"location_id"`
	Contact    Contact `json:"contact"`
}

// ContactUpdated: fields of a contact changed; Fields names them as in
// Contact's JSON.
type ContactUpdated struct {
	LocationID string   `json:"location_id"`
	ContactID  string   `json:"contact_id"`
	Fields     []string `json:"fields"`
	Before     Contact  `json:"before"`
	After      Contact  `json:"after"`
}

// ContactRemoved: a contact left the directory.
type ContactRemoved struct {
	LocationID string  `json:"location_id"`
	ContactID  string  `json:"contact_id"`
	Before     Contact `json:"before"`
}

// GPPracticeLinked: a GP practice was linked to the location.
type GPPracticeLinked struct {
	LocationID string `json:"location_id"`
	Practice   GPLink `json:"practice"`
}

// GPPracticeUnlinked: a GP practice was unlinked.
type GPPracticeUnlinked struct {
	LocationID string `json:"location_id"`
	Practice   GPLink `json:"practice"`
}

// OwnershipTypeChanged: the location's ownership type changed.
type OwnershipTypeChanged struct {
	LocationID string `json:"location_id"`
	Before     string `json:"before"`
	After      string `json:"after"`
}

// NoteAdded: a note joined the log. AddedByName is the author's name as
// it was, sealed under the author's data subject.
type NoteAdded struct {
	LocationID string `json:"location_id"`
	Note       Note   `json:"note"`
}

// NoteEdited: a note's text changed.
type NoteEdited struct {
	LocationID string    `json:"location_id"`
	NoteID     string    `json:"note_id"`
	Before     string    `json:"before"`
	After      string    `json:"after"`
	EditedAt   time.Time `json:"edited_at"`
}

// NoteDeleted: a note left the log.
type NoteDeleted struct {
	LocationID string `json:"location_id"`
	NoteID     string `json:"note_id"`
	Before     string `json:"before"`
}

// PAMMSChanged: the location's PAMMS assessment changed.
type PAMMSChanged struct {
	LocationID string `json:"location_id"`
	Before     PAMMS  `json:"before"`
	After      PAMMS  `json:"after"`
}

// DetailsConfirmed: a user saved a section unchanged ("no change"): the
// details were checked and are still right.
type DetailsConfirmed struct {
	LocationID string `json:"location_id"`
	Section    string `json:"section"`
}

// Event type names of provider details.
const (
	TypeAddressChanged = "AddressChanged"
	// The contact events are at their second shape (Phones a list); the
	// first shape's names are read through upcasters (upcast.go).
	TypeContactAdded         = "ContactAdded.v2"
	TypeContactUpdated       = "ContactUpdated.v2"
	TypeContactRemoved       = "ContactRemoved.v2"
	TypeGPPracticeLinked     = "GPPracticeLinked"
	TypeGPPracticeUnlinked   = "GPPracticeUnlinked"
	TypeOwnershipTypeChanged = "OwnershipTypeChanged"
	TypeNoteAdded            = "NoteAdded"
	TypeNoteEdited           = "NoteEdited"
	TypeNoteDeleted          = "NoteDeleted"
	TypePAMMSChanged         = "PAMMSChanged"
	TypeDetailsConfirmed     = "DetailsConfirmed"
)

func (AddressChanged) EventType() string       { return TypeAddressChanged }
func (ContactAdded) EventType() string         { return TypeContactAdded }
func (ContactUpdated) EventType() string       { return TypeContactUpdated }
func (ContactRemoved) EventType() string       { return TypeContactRemoved }
func (GPPracticeLinked) EventType() string     { return TypeGPPracticeLinked }
func (GPPracticeUnlinked) EventType() string   { return TypeGPPracticeUnlinked }
func (OwnershipTypeChanged) EventType() string { return TypeOwnershipTypeChanged }
func (NoteAdded) EventType() string            { return TypeNoteAdded }
func (NoteEdited) EventType() string           { return TypeNoteEdited }
func (NoteDeleted) EventType() string          { return TypeNoteDeleted }
func (PAMMSChanged) EventType() string         { return TypePAMMSChanged }
func (DetailsConfirmed) EventType() string     { return TypeDetailsConfirmed }

// contactPersonal are the personal fields of a contact (its JSON names).
var contactPersonal = []string{"name", "phones", "email", "address"}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// PersonalPaths of the contact events: sealed under ContactSubject.
func (ContactAdded) PersonalPaths() []string { return prefixed("contact.", contactPersonal) }
func (ContactUpdated) PersonalPaths() []string {
	return append(prefixed("before.", contactPersonal), prefixed("after.", contactPersonal)...)
}
func (ContactRemoved) PersonalPaths() []string { return prefixed("before.", contactPersonal) }

// PersonalPaths of NoteAdded: the author's name, sealed under the author's
// subject.
func (NoteAdded) PersonalPaths() []string { return []string{"note.added_by_name"} }

// evolveDetails applies an event of provider details, and reports whether
// it was one.
func (l *Location) evolveDetails(ev any) bool {
	d := &l.Details
	switch e := ev.(type) {
	case AddressChanged: // the directory's (Directory.Apply)
	case ContactAdded:
		d.Contacts = append(slices.Clone(d.Contacts), e.Contact)
	case ContactUpdated:
		d.Contacts = slices.Clone(d.Contacts)
		for i := range d.Contacts {
			if d.Contacts[i].ContactID == e.ContactID {
				d.Contacts[i] = e.After
				d.Contacts[i].ContactID = e.ContactID
			}
		}
	case ContactRemoved:
		d.Contacts = slices.DeleteFunc(slices.Clone(d.Contacts), func(c Contact) bool { return c.ContactID == e.ContactID })
	case GPPracticeLinked:
		d.GPPractices = append(slices.DeleteFunc(slices.Clone(d.GPPractices), func(g GPLink) bool {
			return g.PracticeCode == e.Practice.PracticeCode
		}), e.Practice)
	case GPPracticeUnlinked:
		d.GPPractices = slices.DeleteFunc(slices.Clone(d.GPPractices), func(g GPLink) bool {
			return g.PracticeCode == e.Practice.PracticeCode
		})
	case OwnershipTypeChanged:
		d.OwnershipType = e.After
	case NoteAdded:
		d.Notes = append(slices.Clone(d.Notes), e.Note)
	case NoteEdited:
		d.Notes = slices.Clone(d.Notes)
		for i := range d.Notes {
			if d.Notes[i].NoteID == e.NoteID {
				d.Notes[i].Text, d.Notes[i].EditedAt = e.After, e.EditedAt
			}
		}
	case NoteDeleted:
		d.Notes = slices.DeleteFunc(slices.Clone(d.Notes), func(n Note) bool { return n.NoteID == e.NoteID })
	case PAMMSChanged:
		d.PAMMS = e.After
	case DetailsConfirmed:
	default:
		return false
	}
	return true
}

// --- decisions -----------------------------------------------------------

// Limits of the details.
const (
	MaxNameLength      = 200
	MaxShortNameLength = 50
	MaxAddressLine     = 100
	MaxContactField    = 200
	MaxNoteLength      = 2000
	MaxContacts        = 100
	MaxNotes           = 500
	MaxGPPractices     = 50
	maxURLLength       = 500
)

// EditAddress is a save of the Address Details section.
type EditAddress struct {
	LocationID      string
	ExpectedVersion int64
	Address         Address
}

// cleanAddress checks an address, naming each bad field as in its JSON.
func cleanAddress(in Address) (Address, error) {
	var v domain.ValidationError
	out := in
	for _, f := range addressFields {
		*f.ptr(&out) = domain.CleanText(*f.ptr(&in))
	}
	if n := utf8.RuneCountInString(out.Name); n < 2 || n > MaxNameLength {
		v.Add("name", "invalid_length", fmt.Sprintf("Enter a name of 2 to %d characters", MaxNameLength))
	}
	if utf8.RuneCountInString(out.ShortName) > MaxShortNameLength {
		v.Add("short_name", "too_long", fmt.Sprintf("A short name has at most %d characters", MaxShortNameLength))
	}
	for _, f := range addressFields[2:7] {
		if utf8.RuneCountInString(*f.ptr(&out)) > MaxAddressLine {
			v.Add(f.name, "too_long", fmt.Sprintf("An address line has at most %d characters", MaxAddressLine))
		}
	}
	if out.Line1 == "" {
		v.Add("address_line1", "required", "Enter the first line of the address")
	}
	if pc, err := ParsePostcode(out.Postcode); err != nil {
		v.Merge("", err)
	} else {
		out.Postcode = pc.String()
	}
	return out, v.Err()
}

// DecideEditAddress returns AddressChanged with the fields that differ, or
// DetailsConfirmed when none does.
func DecideEditAddress(l Location, c EditAddress) ([]any, error) {
	next, err := cleanAddress(c.Address)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	cur := l.Address
	var changes []FieldChange
	for _, f := range addressFields {
		if b, a := *f.ptr(&cur), *f.ptr(&next); b != a {
			changes = append(changes, FieldChange{Field: f.name, Before: b, After: a})
		}
	}
	if len(changes) == 0 {
		return []any{DetailsConfirmed{LocationID: l.LocationID, Section: SectionAddress}}, nil
	}
	return []any{AddressChanged{LocationID: l.LocationID, Changes: changes}}, nil
}

// ContactInput is a contact as a user enters it.
type ContactInput struct {
	Role             string
	Name             string
	OrganisationName string
	Phones           string
	Email            string
	Address          string
	Public           bool
}

// cleanContact checks a contact: a role (one of ContactRoles in any case,
// or free text), at least a name, an organisation name, a phone number or
// an email, valid UK phone numbers and a valid email.
func cleanContact(in ContactInput) (Contact, error) {
	var v domain.ValidationError
	c := Contact{
		Role: domain.CleanText(in.Role), Name: domain.CleanText(in.Name), OrganisationName: domain.CleanText(in.OrganisationName),
		Address: domain.CleanText(in.Address), Public: in.Public,
	}
	switch n := utf8.RuneCountInString(c.Role); {
	case n == 0:
		v.Add("role", "required", "Choose a role from the list or type one")
	case n < 2 || n > 100:
		v.Add("role", "invalid_length", "A role has 2 to 100 characters")
	}
	for _, r := range ContactRoles() {
		if strings.EqualFold(r, c.Role) {
			c.Role = r
		}
	}
	for _, f := range []struct{ field, value string }{
		{"name", c.Name}, {"organisation_name", c.OrganisationName}, {"address", c.Address},
	} {
		if utf8.RuneCountInString(f.value) > MaxContactField {
			v.Add(f.field, "too_long", fmt.Sprintf("At most %d characters", MaxContactField))
		}
	}
	phones, err := ParsePhones(in.Phones)
	if err != nil {
		v.Merge("", err)
	}
	c.Phones = phones
	if e := strings.TrimSpace(in.Email); e != "" {
		norm, ok := domain.NormaliseEmail(e)
		if !ok {
			v.Add("email", "invalid_email", "Enter an email address like name@example.nhs.uk")
		}
		c.Email = norm
	}
	if c.Name == "" && c.OrganisationName == "" && len(c.Phones) == 0 && c.Email == "" && len(v.Fields) == 0 {
		v.Add("name", "required", "Enter a name, an organisation name, a phone number or an email")
	}
	return c, v.Err()
}

// ParsePhones checks one or more UK phone numbers separated by commas or
// semicolons: 10 or 11 digits starting with 0, or +44 and the number
// without its 0, with spaces, dashes and brackets allowed. It returns them
// each as written but trimmed; none when s is blank.
func ParsePhones(s string) ([]string, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' })
	var out []string
	for _, p := range parts {
		p = domain.CleanText(p)
		if p == "" {
			continue
		}
		if !ValidUKPhone(p) {
			return nil, domain.Invalid("phones", "invalid_phone",
				fmt.Sprintf("%q is not a UK phone number: use 10 or 11 digits starting with 0, like 01632 960123, or +44", truncate(p)))
		}
		out = append(out, p)
	}
	if len(out) > 5 {
		return nil, domain.Invalid("phones", "too_many", "Enter at most 5 phone numbers")
	}
	return out, nil
}

// phoneExtension is an extension at the end of a phone number: "ext 12",
// "ext. 12", "extension 12", "x12", "X 12".
var phoneExtension = regexp.MustCompile(`(?i)\s*(?:extension|ext\.?|x)\s*[0-9]{1,6}$`)

// ValidUKPhone reports whether s is a UK phone number: after removing
// spaces, dashes, dots and brackets, 0 and 9 or 10 digits, or +44 (or
// 0044) and 9 or 10 digits, the first of which is not 0 unless it is the
// bracketed trunk 0 of "+44 (0)1632 960123"; an extension ("ext 123",
// "x123") may follow.
func ValidUKPhone(s string) bool {
	s = strings.TrimSpace(s)
	if loc := phoneExtension.FindStringIndex(s); loc != nil {
		s = s[:loc[0]]
	}
	for _, cc := range []string{"+44", "0044"} {
		if rest, ok := strings.CutPrefix(s, cc); ok {
			if national, ok := strings.CutPrefix(strings.TrimLeft(rest, " "), "(0)"); ok {
				s = cc + national
			}
			break
		}
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ', r == '-', r == '(', r == ')', r == '.':
		default:
			return false
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "+44"):
		d = "0" + d[3:]
	case strings.HasPrefix(d, "0044"):
		d = "0" + d[4:]
	case strings.HasPrefix(d, "+"):
		return false
	}
	if len(d) < 10 || len(d) > 11 || d[0] != '0' {
		return false
	}
	// UK numbers begin 01, 02, 03, 05, 07, 08 or 09.
	return strings.ContainsRune("1235789", rune(d[1]))
}

// AddContact adds a contact; ContactID is the new contact's id (the caller
// generates it).
type AddContact struct {
	LocationID      string
	ExpectedVersion int64
	ContactID       string
	Contact         ContactInput
}

// DecideAddContact returns ContactAdded.
func DecideAddContact(l Location, c AddContact) ([]any, error) {
	contact, err := cleanContact(c.Contact)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	if len(l.Details.Contacts) >= MaxContacts {
		return nil, domain.Rule("too_many_contacts", "a location has at most %d contacts: remove one first", MaxContacts)
	}
	if !idPattern.MatchString(c.ContactID) {
		return nil, fmt.Errorf("contact id %q is not valid", c.ContactID)
	}
	contact.ContactID = c.ContactID
	return []any{ContactAdded{LocationID: l.LocationID, Contact: contact}}, nil
}

// UpdateContact is a save of one contact.
type UpdateContact struct {
	LocationID      string
	ExpectedVersion int64
	ContactID       string
	Contact         ContactInput
}

// DecideUpdateContact returns ContactUpdated with the fields that differ,
// or DetailsConfirmed when none does.
func DecideUpdateContact(l Location, c UpdateContact) ([]any, error) {
	next, err := cleanContact(c.Contact)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	cur, ok := l.Contact(c.ContactID)
	if !ok {
		return nil, domain.ErrNotFound
	}
	next.ContactID = cur.ContactID
	var fields []string
	for _, f := range []struct {
		name string
		diff bool
	}{
		{"role", cur.Role != next.Role}, {"name", cur.Name != next.Name},
		{"organisation_name", cur.OrganisationName != next.OrganisationName}, {"phones", !slices.Equal(cur.Phones, next.Phones)},
		{"email", cur.Email != next.Email}, {"address", cur.Address != next.Address}, {"public", cur.Public != next.Public},
	} {
		if f.diff {
			fields = append(fields, f.name)
		}
	}
	if len(fields) == 0 {
		return []any{DetailsConfirmed{LocationID: l.LocationID, Section: SectionContacts}}, nil
	}
	return []any{ContactUpdated{LocationID: l.LocationID, ContactID: cur.ContactID, Fields: fields, Before: cur, After: next}}, nil
}

// RemoveContact removes a contact.
type RemoveContact struct {
	LocationID      string
	ExpectedVersion int64
	ContactID       string
}

// DecideRemoveContact returns ContactRemoved.
func DecideRemoveContact(l Location, c RemoveContact) ([]any, error) {
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	cur, ok := l.Contact(c.ContactID)
	if !ok {
		return nil, domain.ErrNotFound
	}
	return []any{ContactRemoved{LocationID: l.LocationID, ContactID: cur.ContactID, Before: cur}}, nil
}

// LinkGPPractice links a GP practice (an organisation of type GP).
type LinkGPPractice struct {
	LocationID      string
	ExpectedVersion int64
	PracticeCode    string
}

// DecideLinkGPPractice returns GPPracticeLinked, or DetailsConfirmed when
// the practice is linked already.
func DecideLinkGPPractice(l Location, practice Organisation, c LinkGPPractice) ([]any, error) {
	if strings.TrimSpace(c.PracticeCode) == "" {
		return nil, domain.Invalid("practice_code", "required", "Enter the GP practice's code")
	}
	if !practice.Exists() || practice.Type != GP {
		return nil, domain.Invalid("practice_code", "unknown_practice", "No GP practice has this code")
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(l.Details.GPPractices, func(g GPLink) bool { return g.PracticeCode == practice.ID }) {
		return []any{DetailsConfirmed{LocationID: l.LocationID, Section: SectionGPPractices}}, nil
	}
	if len(l.Details.GPPractices) >= MaxGPPractices {
		return nil, domain.Rule("too_many_gp_practices", "a location links at most %d GP practices: unlink one first", MaxGPPractices)
	}
	return []any{GPPracticeLinked{LocationID: l.LocationID, Practice: GPLink{PracticeCode: practice.ID, Name: practice.Name, Postcode: practice.Postcode}}}, nil
}

// UnlinkGPPractice unlinks a GP practice.
type UnlinkGPPractice struct {
	LocationID      string
	ExpectedVersion int64
	PracticeCode    string
}

// DecideUnlinkGPPractice returns GPPracticeUnlinked.
func DecideUnlinkGPPractice(l Location, c UnlinkGPPractice) ([]any, error) {
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(l.Details.GPPractices, func(g GPLink) bool { return g.PracticeCode == c.PracticeCode })
	if i < 0 {
		return nil, domain.ErrNotFound
	}
	return []any{GPPracticeUnlinked{LocationID: l.LocationID, Practice: l.Details.GPPractices[i]}}, nil
}

// EditClassification is a save of the provider's part of Classification
// and Funding: the ownership type ("" for none).
type EditClassification struct {
	LocationID      string
	ExpectedVersion int64
	OwnershipType   string
}

// DecideEditClassification returns OwnershipTypeChanged, or
// DetailsConfirmed when it is unchanged.
func DecideEditClassification(l Location, c EditClassification) ([]any, error) {
	t := domain.CleanText(c.OwnershipType)
	if t != "" {
		i := slices.IndexFunc(ownershipTypes, func(o string) bool { return strings.EqualFold(o, t) })
		if i < 0 {
			return nil, domain.Invalid("ownership_type", "invalid_choice", "Choose one of: "+strings.Join(ownershipTypes, ", "))
		}
		t = ownershipTypes[i]
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	if t == l.Details.OwnershipType {
		return []any{DetailsConfirmed{LocationID: l.LocationID, Section: SectionClassification}}, nil
	}
	return []any{OwnershipTypeChanged{LocationID: l.LocationID, Before: l.Details.OwnershipType, After: t}}, nil
}

// cleanNote keeps a note's line breaks (at most two in a row) and cleans
// each line.
func cleanNote(s string) (string, error) {
	text := domain.CleanMultiline(s)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return "", domain.Invalid("text", "required", "Enter the note")
	case n > MaxNoteLength:
		return "", domain.Invalid("text", "too_long", fmt.Sprintf("A note has at most %d characters (this one has %d)", MaxNoteLength, n))
	}
	return text, nil
}

// AddNote adds a note; NoteID, At and the author come from the caller.
type AddNote struct {
	LocationID      string
	ExpectedVersion int64
	NoteID          string
	Text            string
	At              time.Time
	AuthorID        string
	AuthorName      string
}

// DecideAddNote returns NoteAdded.
func DecideAddNote(l Location, c AddNote) ([]any, error) {
	text, err := cleanNote(c.Text)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	if len(l.Details.Notes) >= MaxNotes {
		return nil, domain.Rule("too_many_notes", "a location has at most %d notes: delete one first", MaxNotes)
	}
	if !idPattern.MatchString(c.NoteID) {
		return nil, fmt.Errorf("note id %q is not valid", c.NoteID)
	}
	return []any{NoteAdded{LocationID: l.LocationID, Note: Note{
		NoteID: c.NoteID, Text: text, AddedAt: c.At.UTC(), AddedBy: c.AuthorID, AddedByName: c.AuthorName,
	}}}, nil
}

// EditNote changes a note's text.
type EditNote struct {
	LocationID      string
	ExpectedVersion int64
	NoteID          string
	Text            string
	At              time.Time
}

// DecideEditNote returns NoteEdited, or DetailsConfirmed when the text is
// unchanged.
func DecideEditNote(l Location, c EditNote) ([]any, error) {
	text, err := cleanNote(c.Text)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	n, ok := l.Note(c.NoteID)
	if !ok {
		return nil, domain.ErrNotFound
	}
	if n.Text == text {
		return []any{DetailsConfirmed{LocationID: l.LocationID, Section: SectionNotes}}, nil
	}
	return []any{NoteEdited{LocationID: l.LocationID, NoteID: n.NoteID, Before: n.Text, After: text, EditedAt: c.At.UTC()}}, nil
}

// DeleteNote deletes a note.
type DeleteNote struct {
	LocationID      string
	ExpectedVersion int64
	NoteID          string
}

// DecideDeleteNote returns NoteDeleted.
func DecideDeleteNote(l Location, c DeleteNote) ([]any, error) {
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	n, ok := l.Note(c.NoteID)
	if !ok {
		return nil, domain.ErrNotFound
	}
	return []any{NoteDeleted{LocationID: l.LocationID, NoteID: n.NoteID, Before: n.Text}}, nil
}

// EditPAMMS is a save of the PAMMS fields (all empty: none).
type EditPAMMS struct {
	LocationID      string
	ExpectedVersion int64
	PAMMS           PAMMS
}

// DecideEditPAMMS returns PAMMSChanged, or DetailsConfirmed when nothing
// changed. today bounds the report date.
func DecideEditPAMMS(l Location, c EditPAMMS, today time.Time) ([]any, error) {
	var v domain.ValidationError
	p := PAMMS{ReportURL: strings.TrimSpace(c.PAMMS.ReportURL), Rating: domain.CleanText(c.PAMMS.Rating),
		ReportDate: strings.TrimSpace(c.PAMMS.ReportDate)}
	if p.ReportURL != "" {
		u, err := url.Parse(p.ReportURL)
		if err != nil || len(p.ReportURL) > maxURLLength || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.Add("report_url", "invalid_url", "Enter the report's web address, starting https://")
		}
	}
	if p.Rating != "" {
		i := slices.IndexFunc(pammsRatings, func(r string) bool { return strings.EqualFold(r, p.Rating) })
		if i < 0 {
			v.Add("rating", "invalid_choice", "Choose one of: "+strings.Join(pammsRatings, ", "))
		} else {
			p.Rating = pammsRatings[i]
		}
	}
	if p.ReportDate != "" {
		d, err := time.Parse(time.DateOnly, p.ReportDate)
		switch {
		case err != nil:
			v.Add("report_date", "invalid_date", "Enter the date as YYYY-MM-DD")
		case d.After(today):
			v.Add("report_date", "in_future", "The report date cannot be in the future")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := checkVersion(l, c.ExpectedVersion); err != nil {
		return nil, err
	}
	if p == l.Details.PAMMS {
		return []any{DetailsConfirmed{LocationID: l.LocationID, Section: SectionPAMMS}}, nil
	}
	return []any{PAMMSChanged{LocationID: l.LocationID, Before: l.Details.PAMMS, After: p}}, nil
}

// --- the Edit Provider page ---------------------------------------------

// Profile is a location as its Edit Provider and Care Quality pages show
// it: the details its users keep, and CQC's read-only fields. Version is
// the version to edit it at (its ETag).
type Profile struct {
	LocationID       string     `json:"location_id"`
	OrganisationID   string     `json:"organisation_id"`
	OrganisationName string     `json:"organisation_name"`
	Version          int64      `json:"version"`
	Address          Address    `json:"address"`
	Contacts         []Contact  `json:"contacts"`
	GPPractices      []GPLink   `json:"gp_practices"`
	OwnershipType    string     `json:"ownership_type"`
	Notes            []Note     `json:"notes"`
	PAMMS            PAMMS      `json:"pamms"`
	CQC              CQCProfile `json:"cqc"`
	// Needs lists what the dashboard flags: "manager_contact" (no
	// Manager in the directory), "email" (no contact has an email).
	Needs []string `json:"needs"`
}

// CQCProfile is CQC's part of a profile, read-only: Misc. Details,
// Classification and Funding and the CQC ratings of Care Quality. Ratings
// read "Unknown rating" when CQC published none.
type CQCProfile struct {
	Imported           bool              `json:"imported"`
	RegistrationStatus string            `json:"registration_status"`
	RegistrationDate   string            `json:"registration_date"`
	DeregistrationDate string            `json:"deregistration_date"`
	Dormant            bool              `json:"dormant"`
	ServiceTypes       []string          `json:"service_types"`
	Specialisms        []string          `json:"specialisms"`
	Ratings            map[string]string `json:"ratings"`
	ReportDate         string            `json:"report_date"`
	ReportURL          string            `json:"report_url"`
	PublicURL          string            `json:"public_url"`
	CQCRegion          string            `json:"cqc_region"`
	NHSRegion          string            `json:"nhs_region"`
	LocalAuthority     string            `json:"local_authority"`
	CCG                string            `json:"ccg"`
}

// View names each rating as the Care Quality page does.
func (r CQCRatings) View() map[string]string {
	return map[string]string{
		"overall": r.Overall.String(), "safe": r.Safe.String(), "effective": r.Effective.String(),
		"caring": r.Caring.String(), "responsive": r.Responsive.String(), "well_led": r.WellLed.String(),
	}
}

// Needs lists what the location's directory lacks (see Profile.Needs).
func (l Location) Needs() []string {
	needs := []string{}
	if !l.HasManager() {
		needs = append(needs, "manager_contact")
	}
	if !l.HasEmail() {
		needs = append(needs, "email")
	}
	return needs
}

// Profile returns the location's profile.
func (l Location) Profile() Profile {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	p := Profile{
		LocationID: l.LocationID, OrganisationID: l.OrganisationID, OrganisationName: l.OrganisationName, Version: l.Version,
		Address: l.Address, Contacts: slices.Clone(l.Details.Contacts), GPPractices: slices.Clone(l.Details.GPPractices),
		OwnershipType: l.Details.OwnershipType, Notes: slices.Clone(l.Details.Notes), PAMMS: l.Details.PAMMS,
		CQC: CQCProfile{
			Imported: l.CQCImported(), RegistrationStatus: l.CQC.RegistrationStatus, RegistrationDate: l.CQC.RegistrationDate,
			DeregistrationDate: l.CQC.DeregistrationDate, Dormant: l.CQC.Dormant,
			ServiceTypes: nonNil(slices.Clone(l.CQC.ServiceTypes)), Specialisms: nonNil(slices.Clone(l.CQC.Specialisms)),
			Ratings: l.CQC.Ratings.View(), ReportDate: l.CQC.Ratings.ReportDate, ReportURL: l.CQC.ReportURL,
			PublicURL: l.CQC.PublicURL, CQCRegion: l.CQC.CQCRegion, NHSRegion: l.CQC.NHSRegion,
			LocalAuthority: l.LocalAuthority, CCG: l.CCG,
		},
		Needs: l.Needs(),
	}
	if p.Contacts == nil {
		p.Contacts = []Contact{}
	}
	if p.GPPractices == nil {
		p.GPPractices = []GPLink{}
	}
	if p.Notes == nil {
		p.Notes = []Note{}
	}
	return p
}
