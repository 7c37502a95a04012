package location_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
)

// Provider details: every decision against the state it is made on, and
// every event folded back into the state. Each case names the field and
// code of each validation error it expects, in the order they are
// reported.

const locID = "1-101"

// registeredAt is a location as support registered it, before any edit.
func registeredAt(t testing.TB) location.Location {
	t.Helper()
	return fold(t, location.Location{}, []any{location.LocationRegistered{
		LocationID: locID, OrganisationID: "1-9", OrganisationName: "Cranberry Care Services", Name: "Cranberry Home Care",
		AddressLine1: "1 Abington Street", Town: "Northampton", Postcode: "NN1 2AJ",
	}})
}

// withEvents is the registered location after evs.
func withEvents(t testing.TB, evs ...any) location.Location {
	t.Helper()
	return fold(t, registeredAt(t), evs)
}

// fieldCodes lists "field:code" of a validation error, nil for any other
// error.
func fieldCodes(err error) []string {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	out := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		out[i] = f.Field + ":" + f.Code
	}
	return out
}

// outcome is what a decision should return: events, or one kind of error.
type outcome struct {
	events  []any
	invalid []string // field:code of a ValidationError
	rule    string   // code of a RuleError
	err     error    // a sentinel (domain.ErrNotFound)
	stale   bool     // a *StaleVersionError
	failed  bool     // any other error
}

func events(evs ...any) outcome            { return outcome{events: evs} }
func invalid(fieldCodes ...string) outcome { return outcome{invalid: fieldCodes} }

var (
	notFound = outcome{err: domain.ErrNotFound}
	stale    = outcome{stale: true}
)

func confirmed(section string) outcome {
	return events(location.DetailsConfirmed{LocationID: locID, Section: section})
}

// check compares a decision with its expected outcome; on events, it also
// folds them into l (through JSON and Decode) and returns the new state.
func (want outcome) check(t *testing.T, l location.Location, evs []any, err error) location.Location {
	t.Helper()
	var (
		st   *location.StaleVersionError
		rule *domain.RuleError
	)
	switch {
	case want.invalid != nil:
		if got := fieldCodes(err); !slices.Equal(got, want.invalid) {
			t.Fatalf("error = %v (%v), want the invalid fields %v", err, got, want.invalid)
		}
	case want.rule != "":
		if !errors.As(err, &rule) || rule.Code != want.rule {
			t.Fatalf("error = %v, want the rule %s", err, want.rule)
		}
	case want.err != nil:
		if !errors.Is(err, want.err) {
			t.Fatalf("error = %v, want %v", err, want.err)
		}
	case want.stale:
		if !errors.As(err, &st) {
			t.Fatalf("error = %v, want a *StaleVersionError", err)
		}
		if !reflect.DeepEqual(st.Current, l) || st.Current.Version != l.Version {
			t.Errorf("stale error carries version %d of %s, want the current location (version %d)",
				st.Current.Version, st.Current.LocationID, l.Version)
		}
		if !strings.Contains(st.Error(), "changed since you read it") {
			t.Errorf("message %q", st.Error())
		}
	case want.failed:
		if err == nil || fieldCodes(err) != nil || errors.As(err, &st) || errors.As(err, &rule) {
			t.Fatalf("error = %v, want a plain error", err)
		}
	default:
		if err != nil {
			t.Fatalf("error = %v, want %s", err, asJSON(t, want.events))
		}
		if !reflect.DeepEqual(evs, want.events) {
			t.Fatalf("events =\n%s\nwant\n%s", asJSON(t, evs), asJSON(t, want.events))
		}
		next := fold(t, l, evs)
		if next.Version != l.Version+int64(len(evs)) {
			t.Errorf("version %d after %d events on %d", next.Version, len(evs), l.Version)
		}
		return next
	}
	if evs != nil {
		t.Errorf("a refused decision returned events %v", evs)
	}
	return l
}

// --- address --------------------------------------------------------------

func address(name, line1, postcode string) location.Address {
	return location.Address{Name: name, Line1: line1, Postcode: postcode}
}

func TestDecideEditAddress(t *testing.T) {
	l := registeredAt(t)
	v := l.Version
	registered := location.Address{Name: "Cranberry Home Care", Line1: "1 Abington Street", Line3: "Northampton", Postcode: "NN1 2AJ"}
	if got := l.Address; got != registered {
		t.Fatalf("registered address = %+v, want %+v", got, registered)
	}
	long := func(n int) string { return strings.Repeat("é", n) }

	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		address location.Address
		want    outcome
		after   location.Address // the address after the events
	}{
		{"the same address, written differently, is a no-change save", l, v,
			location.Address{Name: " Cranberry  Home Care", Line1: "1 Abington Street ", Line3: "Northampton", Postcode: "nn12aj"},
			confirmed(location.SectionAddress), registered},
		{"changed fields are listed with their values before and after, in the form's order", l, v,
			location.Address{Name: "Cranberry Care at Home", ShortName: "Cranberry", Line1: "1 Abington Street", Line2: "Suite 4",
				Line3: "Northampton", Postcode: "nn1 2aj"},
			events(location.AddressChanged{LocationID: locID, Changes: []location.FieldChange{
				{Field: "name", Before: "Cranberry Home Care", After: "Cranberry Care at Home"},
				{Field: "short_name", Before: "", After: "Cranberry"},
				{Field: "address_line2", Before: "", After: "Suite 4"},
			}}),
			location.Address{Name: "Cranberry Care at Home", ShortName: "Cranberry", Line1: "1 Abington Street", Line2: "Suite 4",
				Line3: "Northampton", Postcode: "NN1 2AJ"}},
		{"every line and the postcode can change; a cleared line is a change to empty", l, v,
			location.Address{Name: "Cranberry Home Care", Line1: "2 Gold Street", Line2: "Upper floor", Line4: "Northamptonshire",
				Line5: "England", Postcode: "NN1 1RS"},
			events(location.AddressChanged{LocationID: locID, Changes: []location.FieldChange{
				{Field: "address_line1", Before: "1 Abington Street", After: "2 Gold Street"},
				{Field: "address_line2", Before: "", After: "Upper floor"},
				{Field: "address_line3", Before: "Northampton", After: ""},
				{Field: "address_line4", Before: "", After: "Northamptonshire"},
				{Field: "address_line5", Before: "", After: "England"},
				{Field: "postcode", Before: "NN1 2AJ", After: "NN1 1RS"},
			}}),
			location.Address{Name: "Cranberry Home Care", Line1: "2 Gold Street", Line2: "Upper floor", Line4: "Northamptonshire",
				Line5: "England", Postcode: "NN1 1RS"}},
		{"limits are in characters, not bytes", l, v,
			location.Address{Name: long(200), ShortName: long(50), Line1: long(100), Line2: long(100), Line3: long(100),
				Line4: long(100), Line5: long(100), Postcode: "NN1 2AJ"},
			events(location.AddressChanged{LocationID: locID, Changes: []location.FieldChange{
				{Field: "name", Before: "Cranberry Home Care", After: long(200)},
				{Field: "short_name", Before: "", After: long(50)},
				{Field: "address_line1", Before: "1 Abington Street", After: long(100)},
				{Field: "address_line2", Before: "", After: long(100)},
				{Field: "address_line3", Before: "Northampton", After: long(100)},
				{Field: "address_line4", Before: "", After: long(100)},
				{Field: "address_line5", Before: "", After: long(100)},
			}}),
			location.Address{Name: long(200), ShortName: long(50), Line1: long(100), Line2: long(100), Line3: long(100),
				Line4: long(100), Line5: long(100), Postcode: "NN1 2AJ"}},
		{"a name of one character", l, v, address("C", "1 Abington Street", "NN1 2AJ"), invalid("name:invalid_length"), registered},
		{"no name", l, v, address("  ", "1 Abington Street", "NN1 2AJ"), invalid("name:invalid_length"), registered},
		{"a name too long", l, v, address(long(201), "1 Abington Street", "NN1 2AJ"), invalid("name:invalid_length"), registered},
		{"a short name too long", l, v,
			location.Address{Name: "Cranberry", ShortName: long(51), Line1: "1 Abington Street", Postcode: "NN1 2AJ"},
			invalid("short_name:too_long"), registered},
		{"no first line", l, v, address("Cranberry", "", "NN1 2AJ"), invalid("address_line1:required"), registered},
		{"address lines too long", l, v,
			location.Address{Name: "Cranberry", Line1: long(101), Line2: long(101), Line3: long(101), Line4: long(101), Line5: long(101),
				Postcode: "NN1 2AJ"},
			invalid("address_line1:too_long", "address_line2:too_long", "address_line3:too_long", "address_line4:too_long",
				"address_line5:too_long"), registered},
		{"no postcode", l, v, address("Cranberry", "1 Abington Street", ""), invalid("postcode:invalid_postcode"), registered},
		{"a postcode that is not one", l, v, address("Cranberry", "1 Abington Street", "NN1 2CI"), invalid("postcode:invalid_postcode"), registered},
		{"every bad field at once", l, v,
			location.Address{ShortName: long(51), Line2: long(101), Postcode: "QQ1 1AA"},
			invalid("name:invalid_length", "short_name:too_long", "address_line2:too_long", "address_line1:required", "postcode:invalid_postcode"),
			registered},
		{"a bad address is reported before the version is checked", l, v - 1, address("", "x", "NN1 2AJ"), invalid("name:invalid_length"), registered},
		{"an old version", l, v - 1, registered, stale, registered},
		{"a version from the future", l, v + 1, registered, stale, registered},
		{"an unknown location", location.Location{}, 0, registered, notFound, location.Address{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideEditAddress(tc.l, location.EditAddress{LocationID: locID, ExpectedVersion: tc.version, Address: tc.address})
			next := tc.want.check(t, tc.l, evs, err)
			if got := next.Address; got != tc.after {
				t.Errorf("address after = %+v, want %+v", got, tc.after)
			}
			if got := next.Profile().Address; got != tc.after {
				t.Errorf("profile's address = %+v, want %+v", got, tc.after)
			}
		})
	}
}

func TestAddress_OnceEditedIsTheUsersNotTheRegisteredOne(t *testing.T) {
	l := withEvents(t, location.AddressChanged{LocationID: locID, Changes: []location.FieldChange{
		{Field: "short_name", Before: "", After: "Cranberry"},
	}})
	// The first edit starts from the registered address: the fields it did
	// not change keep their registered values.
	want := location.Address{Name: "Cranberry Home Care", ShortName: "Cranberry", Line1: "1 Abington Street", Line3: "Northampton", Postcode: "NN1 2AJ"}
	if got := l.Address; got != want || !l.AddressEdited {
		t.Fatalf("address = %+v (edited %v), want %+v", got, l.AddressEdited, want)
	}
	// CQC's later changes of the name and address no longer move what the
	// users saved; its other directory fields still apply.
	l = location.EvolveLocation(l, location.CQCDetailsChanged{LocationID: locID, Changes: []location.FieldChange{
		{Field: "name", Before: "Cranberry Home Care", After: "Renamed By CQC"},
		{Field: "postcode", Before: "NN1 2AJ", After: "NN1 1AA"},
		{Field: "address_line2", Before: "", After: "CQC's second line"},
		{Field: "local_authority", Before: "", After: "West Northamptonshire"},
	}})
	if got := l.Address; got != want || l.LocalAuthority != "West Northamptonshire" {
		t.Errorf("address = %+v, want the users' %+v", got, want)
	}
}

// --- contacts -------------------------------------------------------------

const (
	contactID = "6f1c2a4e-1b7d-4c57-9f55-8d1e2c3b4a50"
	otherID   = "0b9e5f3c-2a1d-4e8f-b7c6-5d4e3f2a1b0c"
)

var manager = location.Contact{
	ContactID: contactID, Role: "Manager", Name: "Cara Berry", OrganisationName: "Cranberry Care Services",
	Phones: []string{"01632 960123", "07700 900123"}, Email: "cara.berry@cranberry.example.org", Address: "1 Abington Street", Public: true,
}

func managerInput() location.ContactInput {
	return location.ContactInput{Role: manager.Role, Name: manager.Name, OrganisationName: manager.OrganisationName,
		Phones: manager.PhoneList(), Email: manager.Email, Address: manager.Address, Public: manager.Public}
}

func withContact(t testing.TB) location.Location {
	t.Helper()
	return withEvents(t, location.ContactAdded{LocationID: locID, Contact: manager})
}

// contactInput modifies a copy of the manager's input.
func contactInput(change func(c *location.ContactInput)) location.ContactInput {
	c := managerInput()
	change(&c)
	return c
}

// contactCases are the validation cases that adding and updating share.
func contactCases() []struct {
	name  string
	input location.ContactInput
	want  []string
} {
	return []struct {
		name  string
		input location.ContactInput
		want  []string
	}{
		{"no role", contactInput(func(c *location.ContactInput) { c.Role = " " }), []string{"role:required"}},
		{"a role of one letter", contactInput(func(c *location.ContactInput) { c.Role = "M" }), []string{"role:invalid_length"}},
		{"a role too long", contactInput(func(c *location.ContactInput) { c.Role = strings.Repeat("r", 101) }), []string{"role:invalid_length"}},
		{"a name too long", contactInput(func(c *location.ContactInput) { c.Name = strings.Repeat("n", 201) }), []string{"name:too_long"}},
		{"an organisation name too long", contactInput(func(c *location.ContactInput) { c.OrganisationName = strings.Repeat("o", 201) }),
			[]string{"organisation_name:too_long"}},
		{"an address too long", contactInput(func(c *location.ContactInput) { c.Address = strings.Repeat("a", 201) }), []string{"address:too_long"}},
		{"a phone number that is not a UK one", contactInput(func(c *location.ContactInput) { c.Phones = "01632 960123, +1 202 555 0123" }),
			[]string{"phones:invalid_phone"}},
		{"six phone numbers", contactInput(func(c *location.ContactInput) {
			c.Phones = strings.Repeat("01632 960123, ", 5) + "07700 900123"
		}), []string{"phones:too_many"}},
		{"an email that is not one", contactInput(func(c *location.ContactInput) { c.Email = "cara at cranberry" }), []string{"email:invalid_email"}},
		{"nothing to reach anyone by", location.ContactInput{Role: "Plumber", Address: "somewhere"}, []string{"name:required"}},
		{"every bad field at once", location.ContactInput{Role: "M", Name: strings.Repeat("n", 201), OrganisationName: strings.Repeat("o", 201),
			Address: strings.Repeat("a", 201), Phones: "12345", Email: "@"},
			[]string{"role:invalid_length", "name:too_long", "organisation_name:too_long", "address:too_long", "phones:invalid_phone", "email:invalid_email"}},
	}
}

func TestDecideAddContact(t *testing.T) {
	l := registeredAt(t)
	full := l
	for i := range location.MaxContacts {
		c := manager
		c.ContactID = fmt.Sprintf("c-%d", i)
		full = fold(t, full, []any{location.ContactAdded{LocationID: locID, Contact: c}})
	}

	type tc struct {
		name    string
		l       location.Location
		version int64
		id      string
		input   location.ContactInput
		want    outcome
	}
	cases := []tc{
		{"a contact joins the directory", l, l.Version, contactID, managerInput(),
			events(location.ContactAdded{LocationID: locID, Contact: manager})},
		{"a role of the list in any case is the list's; fields are cleaned; the email is lower case", l, l.Version, contactID,
			location.ContactInput{Role: " lead  gp ", Name: " Dr  Ann Other ", OrganisationName: "Abington\tSurgery",
				Phones: " 01632  960456 ;; +44 (0)1632 960789 ", Email: " Ann.Other@NHS.net ", Address: " 3 Park  Road "},
			events(location.ContactAdded{LocationID: locID, Contact: location.Contact{ContactID: contactID, Role: "Lead GP",
				Name: "Dr Ann Other", OrganisationName: "Abington Surgery", Phones: []string{"01632 960456", "+44 (0)1632 960789"},
				Email: "ann.other@nhs.net", Address: "3 Park Road"}})},
		{"a role that is not on the list is free text", l, l.Version, contactID,
			location.ContactInput{Role: "Plumber", OrganisationName: "Drip Ltd", Phones: "0808 157 0192"},
			events(location.ContactAdded{LocationID: locID, Contact: location.Contact{ContactID: contactID, Role: "Plumber",
				OrganisationName: "Drip Ltd", Phones: []string{"0808 157 0192"}}})},
		{"an email alone is enough", l, l.Version, contactID, location.ContactInput{Role: "NHS Email", Email: "cranberry@nhs.net"},
			events(location.ContactAdded{LocationID: locID, Contact: location.Contact{ContactID: contactID, Role: "NHS Email", Email: "cranberry@nhs.net"}})},
		{"a full directory", full, full.Version, contactID, managerInput(), outcome{rule: "too_many_contacts"}},
		{"an id that cannot name a contact", l, l.Version, "../x", managerInput(), outcome{failed: true}},
		{"an old version", withContact(t), l.Version, otherID, managerInput(), stale},
		{"an unknown location", location.Location{}, 0, contactID, managerInput(), notFound},
	}
	for _, c := range contactCases() {
		cases = append(cases, tc{c.name, l, l.Version, contactID, c.input, invalid(c.want...)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideAddContact(tc.l, location.AddContact{LocationID: locID, ExpectedVersion: tc.version,
				ContactID: tc.id, Contact: tc.input})
			next := tc.want.check(t, tc.l, evs, err)
			if tc.want.events != nil {
				added := tc.want.events[0].(location.ContactAdded).Contact
				if got, ok := next.Contact(tc.id); !ok || !reflect.DeepEqual(got, added) {
					t.Errorf("contact after = %+v, %v; want %+v", got, ok, added)
				}
			}
		})
	}
}

func TestDecideUpdateContact(t *testing.T) {
	l := withContact(t)
	moved := manager
	moved.Phones, moved.Public = []string{"01632 960999"}, false

	type tc struct {
		name    string
		l       location.Location
		version int64
		id      string
		input   location.ContactInput
		want    outcome
	}
	cases := []tc{
		{"the fields that changed are named, with the contact before and after", l, l.Version, contactID,
			contactInput(func(c *location.ContactInput) { c.Phones, c.Public = "01632 960999", false }),
			events(location.ContactUpdated{LocationID: locID, ContactID: contactID, Fields: []string{"phones", "public"}, Before: manager, After: moved})},
		{"every field can change", l, l.Version, contactID,
			location.ContactInput{Role: "Physio", Name: "Phil Io", OrganisationName: "Moves Ltd", Phones: "07700 900456",
				Email: "phil@moves.example.org", Address: "4 Park Road", Public: false},
			events(location.ContactUpdated{LocationID: locID, ContactID: contactID,
				Fields: []string{"role", "name", "organisation_name", "phones", "email", "address", "public"}, Before: manager,
				After: location.Contact{ContactID: contactID, Role: "Physio", Name: "Phil Io", OrganisationName: "Moves Ltd",
					Phones: []string{"07700 900456"}, Email: "phil@moves.example.org", Address: "4 Park Road"}})},
		{"the same contact, written differently, is a no-change save", l, l.Version, contactID,
			contactInput(func(c *location.ContactInput) {
				c.Role, c.Email, c.Name = "MANAGER", "Cara.Berry@Cranberry.example.org", " Cara  Berry"
			}),
			confirmed(location.SectionContacts)},
		{"an unknown contact", l, l.Version, otherID, managerInput(), notFound},
		{"an old version", l, l.Version - 1, contactID, managerInput(), stale},
		{"an unknown location", location.Location{}, 0, contactID, managerInput(), notFound},
	}
	for _, c := range contactCases() {
		cases = append(cases, tc{c.name, l, l.Version, contactID, c.input, invalid(c.want...)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideUpdateContact(tc.l, location.UpdateContact{LocationID: locID, ExpectedVersion: tc.version,
				ContactID: tc.id, Contact: tc.input})
			next := tc.want.check(t, tc.l, evs, err)
			if len(tc.want.events) == 1 {
				want := manager
				if u, ok := tc.want.events[0].(location.ContactUpdated); ok {
					want = u.After
				}
				if got, _ := next.Contact(contactID); !reflect.DeepEqual(got, want) || len(next.Details.Contacts) != 1 {
					t.Errorf("contacts after = %+v, want [%+v]", next.Details.Contacts, want)
				}
			}
		})
	}
}

func TestDecideRemoveContact(t *testing.T) {
	l := withContact(t)
	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		id      string
		want    outcome
	}{
		{"the contact leaves, with what it was", l, l.Version, contactID,
			events(location.ContactRemoved{LocationID: locID, ContactID: contactID, Before: manager})},
		{"an unknown contact", l, l.Version, otherID, notFound},
		{"an old version", l, l.Version - 1, contactID, stale},
		{"an unknown location", location.Location{}, 0, contactID, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideRemoveContact(tc.l, location.RemoveContact{LocationID: locID, ExpectedVersion: tc.version, ContactID: tc.id})
			next := tc.want.check(t, tc.l, evs, err)
			if tc.want.events != nil {
				if _, ok := next.Contact(contactID); ok || len(next.Details.Contacts) != 0 {
					t.Errorf("contacts after removal = %+v", next.Details.Contacts)
				}
			}
		})
	}
}

// --- GP practices -------------------------------------------------------------

func TestDecideLinkGPPractice(t *testing.T) {
	practice := location.EvolveOrganisation(location.Organisation{}, location.OrganisationRegistered{
		OrganisationID: "A81001", Name: "The Densham Surgery", Type: location.GP, Postcode: "TS18 1HU"})
	careHome := location.EvolveOrganisation(location.Organisation{}, location.OrganisationRegistered{
		OrganisationID: "1-9", Name: "Cranberry Care Services", Type: location.HomeCare})
	link := location.GPLink{PracticeCode: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU"}
	l := registeredAt(t)
	linked := withEvents(t, location.GPPracticeLinked{LocationID: locID, Practice: link})
	full := l
	for i := range location.MaxGPPractices {
		full = fold(t, full, []any{location.GPPracticeLinked{LocationID: locID, Practice: location.GPLink{PracticeCode: fmt.Sprintf("B%05d", i)}}})
	}

	for _, tc := range []struct {
		name     string
		l        location.Location
		practice location.Organisation
		code     string
		version  int64
		want     outcome
	}{
		{"a practice is linked with its name and postcode", l, practice, "A81001", l.Version,
			events(location.GPPracticeLinked{LocationID: locID, Practice: link})},
		{"a practice linked already is a no-change save", linked, practice, "A81001", linked.Version, confirmed(location.SectionGPPractices)},
		{"no code", l, location.Organisation{}, " ", l.Version, invalid("practice_code:required")},
		{"a code that names nothing", l, location.Organisation{}, "Z99999", l.Version, invalid("practice_code:unknown_practice")},
		{"an organisation that is not a GP practice", l, careHome, "1-9", l.Version, invalid("practice_code:unknown_practice")},
		{"too many practices", full, practice, "A81001", full.Version, outcome{rule: "too_many_gp_practices"}},
		{"an old version", linked, practice, "A81001", l.Version, stale},
		{"an unknown location", location.Location{}, practice, "A81001", 0, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideLinkGPPractice(tc.l, tc.practice, location.LinkGPPractice{LocationID: locID,
				ExpectedVersion: tc.version, PracticeCode: tc.code})
			next := tc.want.check(t, tc.l, evs, err)
			if tc.want.events != nil && !slices.Contains(next.Details.GPPractices, link) {
				t.Errorf("practices after = %+v, want %+v among them", next.Details.GPPractices, link)
			}
		})
	}
}

func TestDecideUnlinkGPPractice(t *testing.T) {
	link := location.GPLink{PracticeCode: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU"}
	other := location.GPLink{PracticeCode: "A81002", Name: "Queens Park Medical Centre"}
	l := withEvents(t, location.GPPracticeLinked{LocationID: locID, Practice: link}, location.GPPracticeLinked{LocationID: locID, Practice: other})
	for _, tc := range []struct {
		name    string
		l       location.Location
		code    string
		version int64
		want    outcome
	}{
		{"the practice is unlinked, with what its link was", l, "A81001", l.Version,
			events(location.GPPracticeUnlinked{LocationID: locID, Practice: link})},
		{"a practice that is not linked", l, "A81003", l.Version, notFound},
		{"an old version", l, "A81001", l.Version - 1, stale},
		{"an unknown location", location.Location{}, "A81001", 0, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideUnlinkGPPractice(tc.l, location.UnlinkGPPractice{LocationID: locID, ExpectedVersion: tc.version, PracticeCode: tc.code})
			next := tc.want.check(t, tc.l, evs, err)
			if tc.want.events != nil && !reflect.DeepEqual(next.Details.GPPractices, []location.GPLink{other}) {
				t.Errorf("practices after = %+v, want only %+v", next.Details.GPPractices, other)
			}
		})
	}
}

// --- classification -----------------------------------------------------------

func TestDecideEditClassification(t *testing.T) {
	l := registeredAt(t)
	nhs := withEvents(t, location.OwnershipTypeChanged{LocationID: locID, Before: "", After: "NHS"})
	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		value   string
		want    outcome
		after   string
	}{
		{"a type of the list, in any case and spacing, is the list's", l, l.Version, " voluntary /  NOT for profit ",
			events(location.OwnershipTypeChanged{LocationID: locID, Before: "", After: "Voluntary / Not for profit"}), "Voluntary / Not for profit"},
		{"another type replaces it", nhs, nhs.Version, "Independent",
			events(location.OwnershipTypeChanged{LocationID: locID, Before: "NHS", After: "Independent"}), "Independent"},
		{"empty clears it", nhs, nhs.Version, "", events(location.OwnershipTypeChanged{LocationID: locID, Before: "NHS", After: ""}), ""},
		{"the same type is a no-change save", nhs, nhs.Version, "nhs", confirmed(location.SectionClassification), "NHS"},
		{"none again is a no-change save", l, l.Version, " ", confirmed(location.SectionClassification), ""},
		{"a type that is not on the list", l, l.Version, "Private equity", invalid("ownership_type:invalid_choice"), ""},
		{"an old version", nhs, l.Version, "Independent", stale, "NHS"},
		{"an unknown location", location.Location{}, 0, "NHS", notFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideEditClassification(tc.l, location.EditClassification{LocationID: locID, ExpectedVersion: tc.version,
				OwnershipType: tc.value})
			next := tc.want.check(t, tc.l, evs, err)
			if next.Details.OwnershipType != tc.after || next.Profile().OwnershipType != tc.after {
				t.Errorf("ownership type after = %q, want %q", next.Details.OwnershipType, tc.after)
			}
		})
	}
	if got := location.OwnershipTypes(); !slices.Equal(got, []string{"Independent", "Local Authority", "NHS", "Voluntary / Not for profit"}) {
		t.Errorf("ownership types = %v", got)
	}
}

// --- notes ---------------------------------------------------------------------

var (
	noteAt  = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	noteID  = "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e"
	note    = location.Note{NoteID: noteID, Text: "24 hour service", AddedAt: noteAt, AddedBy: "user-1", AddedByName: "Home Care Test"}
	london  = time.FixedZone("BST", 3600)
	noteAdd = location.AddNote{LocationID: locID, NoteID: noteID, Text: "24 hour service", At: noteAt.In(london),
		AuthorID: "user-1", AuthorName: "Home Care Test"}
)

func TestDecideAddNote(t *testing.T) {
	l := registeredAt(t)
	full := l
	for i := range location.MaxNotes {
		n := note
		n.NoteID = fmt.Sprintf("n-%d", i)
		full = fold(t, full, []any{location.NoteAdded{LocationID: locID, Note: n}})
	}
	withText := func(text string) location.AddNote { c := noteAdd; c.Text = text; return c }
	at2000 := strings.Repeat("é", location.MaxNoteLength)
	noted := func(text string) outcome {
		n := note
		n.Text = text
		return events(location.NoteAdded{LocationID: locID, Note: n})
	}

	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		c       location.AddNote
		want    outcome
	}{
		{"a note is dated in UTC and signed", l, l.Version, noteAdd, noted("24 hour service")},
		{"lines are cleaned, with at most one blank line between paragraphs", l, l.Version,
			withText("\r\n\n  Personal care \r\n\r\n\r\n\n\tAccessible  entrance\n\n"), noted("Personal care\n\nAccessible entrance")},
		{"2,000 characters is the most", l, l.Version, withText(at2000), noted(at2000)},
		{"2,001 characters is too many", l, l.Version, withText(at2000 + "x"), invalid("text:too_long")},
		{"an empty note", l, l.Version, withText(""), invalid("text:required")},
		{"a note of blank lines", l, l.Version, withText(" \n\t\n "), invalid("text:required")},
		{"a full log", full, full.Version, noteAdd, outcome{rule: "too_many_notes"}},
		{"an id that cannot name a note", l, l.Version, func() location.AddNote { c := noteAdd; c.NoteID = ""; return c }(), outcome{failed: true}},
		{"an old version", l, l.Version + 3, noteAdd, stale},
		{"an unknown location", location.Location{}, 0, noteAdd, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.ExpectedVersion = tc.version
			evs, err := location.DecideAddNote(tc.l, c)
			next := tc.want.check(t, tc.l, evs, err)
			if tc.want.events != nil {
				want := tc.want.events[0].(location.NoteAdded).Note
				if got, ok := next.Note(noteID); !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("note after = %+v, want %+v", got, want)
				}
			}
		})
	}
}

func TestDecideEditNote(t *testing.T) {
	l := withEvents(t, location.NoteAdded{LocationID: locID, Note: note})
	editedAt := noteAt.Add(48 * time.Hour)
	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		id      string
		text    string
		want    outcome
	}{
		{"the text changes, with its text before and after", l, l.Version, noteID, "24 hour service, 7 days a week",
			events(location.NoteEdited{LocationID: locID, NoteID: noteID, Before: "24 hour service", After: "24 hour service, 7 days a week", EditedAt: editedAt})},
		{"the same text, written differently, is a no-change save", l, l.Version, noteID, "  24  hour service\n", confirmed(location.SectionNotes)},
		{"an empty text", l, l.Version, noteID, "", invalid("text:required")},
		{"a text too long", l, l.Version, noteID, strings.Repeat("x", location.MaxNoteLength+1), invalid("text:too_long")},
		{"an unknown note", l, l.Version, "other", "text", notFound},
		{"an old version", l, l.Version - 1, noteID, "text", stale},
		{"an unknown location", location.Location{}, 0, noteID, "text", notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideEditNote(tc.l, location.EditNote{LocationID: locID, ExpectedVersion: tc.version, NoteID: tc.id,
				Text: tc.text, At: editedAt.In(london)})
			next := tc.want.check(t, tc.l, evs, err)
			if e, ok := firstEvent[location.NoteEdited](tc.want.events); ok {
				want := note
				want.Text, want.EditedAt = e.After, editedAt
				if got, _ := next.Note(noteID); !reflect.DeepEqual(got, want) {
					t.Errorf("note after = %+v, want %+v (the author and date stay)", got, want)
				}
			}
		})
	}
}

func TestDecideDeleteNote(t *testing.T) {
	l := withEvents(t, location.NoteAdded{LocationID: locID, Note: note})
	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		id      string
		want    outcome
	}{
		{"the note leaves, with its text", l, l.Version, noteID, events(location.NoteDeleted{LocationID: locID, NoteID: noteID, Before: "24 hour service"})},
		{"an unknown note", l, l.Version, "other", notFound},
		{"an old version", l, l.Version - 1, noteID, stale},
		{"an unknown location", location.Location{}, 0, noteID, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideDeleteNote(tc.l, location.DeleteNote{LocationID: locID, ExpectedVersion: tc.version, NoteID: tc.id})
			next := tc.want.check(t, tc.l, evs, err)
			if tc.want.events != nil {
				if _, ok := next.Note(noteID); ok || len(next.Details.Notes) != 0 {
					t.Errorf("notes after deletion = %+v", next.Details.Notes)
				}
			}
		})
	}
}

func firstEvent[E any](evs []any) (E, bool) {
	for _, ev := range evs {
		if e, ok := ev.(E); ok {
			return e, true
		}
	}
	var zero E
	return zero, false
}

// --- PAMMS ------------------------------------------------------------------------

func TestDecideEditPAMMS(t *testing.T) {
	today := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	good := location.PAMMS{ReportURL: "https://pamms.example.gov.uk/reports/123", Rating: "Good", ReportDate: "2026-03-02"}
	l := registeredAt(t)
	rated := withEvents(t, location.PAMMSChanged{LocationID: locID, After: good})

	for _, tc := range []struct {
		name    string
		l       location.Location
		version int64
		pamms   location.PAMMS
		want    outcome
	}{
		{"an assessment is recorded, the rating in the list's spelling", l, l.Version,
			location.PAMMS{ReportURL: " https://pamms.example.gov.uk/reports/123 ", Rating: "good", ReportDate: "2026-03-02"},
			events(location.PAMMSChanged{LocationID: locID, After: good})},
		{"a new one replaces it, with the one before", rated, rated.Version,
			location.PAMMS{ReportURL: "http://pamms.example.gov.uk/r/9", Rating: "Requires improvement", ReportDate: "2025-12-31"},
			events(location.PAMMSChanged{LocationID: locID, Before: good,
				After: location.PAMMS{ReportURL: "http://pamms.example.gov.uk/r/9", Rating: "Requires Improvement", ReportDate: "2025-12-31"}})},
		{"clearing every field clears it", rated, rated.Version, location.PAMMS{}, events(location.PAMMSChanged{LocationID: locID, Before: good})},
		{"the same assessment is a no-change save", rated, rated.Version, good, confirmed(location.SectionPAMMS)},
		{"nothing again is a no-change save", l, l.Version, location.PAMMS{}, confirmed(location.SectionPAMMS)},
		{"a report address that is not a web address", l, l.Version, location.PAMMS{ReportURL: "pamms report 123"}, invalid("report_url:invalid_url")},
		{"a report address of another scheme", l, l.Version, location.PAMMS{ReportURL: "ftp://pamms.example.gov.uk/r"}, invalid("report_url:invalid_url")},
		{"a report address too long", l, l.Version, location.PAMMS{ReportURL: "https://pamms.example.gov.uk/" + strings.Repeat("r", 500)},
			invalid("report_url:invalid_url")},
		{"a rating that is not PAMMS's", l, l.Version, location.PAMMS{Rating: "Outstanding"}, invalid("rating:invalid_choice")},
		{"a date that is not one", l, l.Version, location.PAMMS{ReportDate: "02/03/2026"}, invalid("report_date:invalid_date")},
		{"a date in the future", l, l.Version, location.PAMMS{ReportDate: "2026-03-03"}, invalid("report_date:in_future")},
		{"every bad field at once", l, l.Version, location.PAMMS{ReportURL: "javascript:alert(1)", Rating: "Great", ReportDate: "2026-02-30"},
			invalid("report_url:invalid_url", "rating:invalid_choice", "report_date:invalid_date")},
		{"an old version", rated, l.Version, good, stale},
		{"an unknown location", location.Location{}, 0, good, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := location.DecideEditPAMMS(tc.l, location.EditPAMMS{LocationID: locID, ExpectedVersion: tc.version, PAMMS: tc.pamms}, today)
			next := tc.want.check(t, tc.l, evs, err)
			if e, ok := firstEvent[location.PAMMSChanged](tc.want.events); ok && (next.Details.PAMMS != e.After || next.Profile().PAMMS != e.After) {
				t.Errorf("PAMMS after = %+v, want %+v", next.Details.PAMMS, e.After)
			}
		})
	}
	if got := location.PAMMSRatings(); !slices.Equal(got, []string{"Excellent", "Good", "Requires Improvement", "Poor"}) {
		t.Errorf("PAMMS ratings = %v", got)
	}
}

// --- CQC's fields -------------------------------------------------------------------

func TestCQCOwnedFields_AreRefusedWithAMessageSayingTheyComeFromCQC(t *testing.T) {
	for _, f := range []string{"service_types", "specialisms", "ratings", "overall", "well_led", "report_date", "report_url", "public_url",
		"registration_status"} {
		if !location.IsCQCOwned(f) {
			t.Errorf("%s is not CQC's", f)
		}
	}
	for _, f := range []string{"name", "postcode", "ownership_type", "text", "phones", "Service_Types"} {
		if location.IsCQCOwned(f) {
			t.Errorf("%s is CQC's", f)
		}
	}
	msg := (&location.CQCOwnedError{Fields: []string{"service_types", "public_url"}}).Error()
	if !strings.Contains(msg, "service_types, public_url come from CQC") || !strings.Contains(msg, "ask CQC") {
		t.Errorf("message %q", msg)
	}
}

// --- postcodes --------------------------------------------------------------------

func TestParsePostcode_AcceptsEachUKFormatAndNormalisesIt(t *testing.T) {
	for _, tc := range []struct{ format, in, want string }{
		{"A9 9AA", "m11ae", "M1 1AE"},
		{"A99 9AA", "B33 8TH", "B33 8TH"},
		{"AA9 9AA", " cr2  6xh ", "CR2 6XH"},
		{"AA99 9AA", "DN551PT", "DN55 1PT"},
		{"A9A 9AA", "w1a 0ax", "W1A 0AX"},
		{"AA9A 9AA", "ec1a1bb", "EC1A 1BB"},
		{"AA9A 9AA", "SW1A 2AA", "SW1A 2AA"},
		{"Girobank", "gir0aa", "GIR 0AA"},
		{"tab and newline", "NN1\t2AJ\n", "NN1 2AJ"},
	} {
		pc, err := location.ParsePostcode(tc.in)
		if err != nil || pc.String() != tc.want || pc.Compact() != strings.ReplaceAll(tc.want, " ", "") {
			t.Errorf("%s: ParsePostcode(%q) = %q, %v; want %q", tc.format, tc.in, pc, err, tc.want)
		}
	}
}

func TestParsePostcode_RejectsLettersNoPostcodeHasInTheirPosition(t *testing.T) {
	for _, tc := range []struct{ why, in string }{
		{"Q first", "QA1 1AA"}, {"V first", "V1 1AA"}, {"X first", "X11 1AA"},
		{"I second", "AI1 1AA"}, {"J second", "AJ12 1AA"}, {"Z second", "AZ1A 1AA"},
		{"I third of A9A", "W1I 1AA"}, {"L third of A9A", "W1L 1AA"}, {"Q third of A9A", "E1Q 1AA"}, {"V third of A9A", "E1V 1AA"},
		{"Z third of A9A", "E1Z 1AA"}, {"C fourth of AA9A", "EC1C 1AA"}, {"D fourth of AA9A", "SW1D 1AA"}, {"Z fourth of AA9A", "SW1Z 1AA"},
		{"K fourth of AA9A", "SW1K 1AA"},
		{"C inward", "M1 1CA"}, {"I inward", "M1 1AI"}, {"K inward", "M1 1KA"}, {"M inward", "M1 1AM"}, {"O inward", "M1 1OA"},
		{"V inward", "M1 1AV"},
		{"GIR with another inward code", "GIR 0AB"},
		{"a letter for the inward digit", "M1 AAA"}, {"a digit for an inward letter", "M1 1A1"},
		{"no digit in the outward code", "MA 1AA"}, {"three outward letters", "ABC1 1AA"}, {"three outward digits", "M111 1AA"},
		{"outward code only", "SW1A"}, {"inward code only", "1AA"}, {"too long", "SW1A 1AAA"}, {"empty", ""}, {"punctuation", "M1-1AE"},
		{"a letter that only looks Latin", "М1 1AE"},
	} {
		if pc, err := location.ParsePostcode(tc.in); err == nil {
			t.Errorf("%s: ParsePostcode(%q) = %q, want an error", tc.why, tc.in, pc)
		} else if got := fieldCodes(err); !slices.Equal(got, []string{"postcode:invalid_postcode"}) {
			t.Errorf("%s: error %v, want postcode:invalid_postcode", tc.why, got)
		}
	}
}

// --- phones -------------------------------------------------------------------------

func TestValidUKPhone(t *testing.T) {
	for _, p := range []string{
		"01632 960123", "01632960123", "020 7946 0018", "(020) 7946 0018", "01697 71234", "0113 496 0000",
		"07700 900123", "07700-900-123", "07700.900.123", "0300 123 4567", "0808 157 0192", "0500 123456", "0909 879 0000",
		"+44 7700 900123", "+447700900123", "+44 (0)20 7946 0018", "+44(0)1632 960123", "0044 7700 900123", "0044 (0) 1632 960123",
		"01632 960123 ext 12", "01632 960123 ext. 12", "01632 960123 extension 4321", "01632 960123 x12", "01632960123x123456",
		"01632 960123 EXT 9",
	} {
		if !location.ValidUKPhone(p) {
			t.Errorf("ValidUKPhone(%q) = false, want true", p)
		}
	}
	for why, p := range map[string]string{
		"9 digits":                    "016329601",
		"12 digits":                   "016329601234",
		"04":                          "04632 960123",
		"06":                          "06632 960123",
		"00 at the start":             "00632 960123",
		"no leading 0":                "1632 960123",
		"+44 and a 0":                 "+4401632960123",
		"+44 and 8 digits":            "+44 1632 9601",
		"+44 and 11 digits":           "+44 07700 900123",
		"another country":             "+1 202 555 0123",
		"0044 and 04":                 "0044 4632 960123",
		"a letter":                    "01632 96O123",
		"words":                       "call the office",
		"+ in the middle":             "01632 +960123",
		"two +":                       "++44 7700 900123",
		"an extension without digits": "01632 960123 ext",
		"a 7-digit extension":         "01632 960123 ext 1234567",
		"an extension alone":          "x123",
		"empty":                       "",
		"spaces":                      "   ",
		"a slash":                     "01632/960123",
	} {
		if location.ValidUKPhone(p) {
			t.Errorf("%s: ValidUKPhone(%q) = true, want false", why, p)
		}
	}
}

func TestParsePhones(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{" , ; ", ""},
		{"01632 960123", "01632 960123"},
		{"  01632   960123 ,07700 900123;+44 20 7946 0018 ", "01632 960123, 07700 900123, +44 20 7946 0018"},
		{strings.Repeat("01632 960123,", 5), strings.Repeat("01632 960123, ", 4) + "01632 960123"},
	} {
		list, err := location.ParsePhones(tc.in)
		if got := strings.Join(list, ", "); err != nil || got != tc.want {
			t.Errorf("ParsePhones(%q) = %q, %v; want %q", tc.in, list, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, code, inMessage string }{
		{"01632 960123, 12345", "invalid_phone", `"12345"`},
		{"phone me", "invalid_phone", "phone me"},
		{strings.Repeat("01632 960123, ", 6), "too_many", "5"},
	} {
		_, err := location.ParsePhones(tc.in)
		var v *domain.ValidationError
		if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != "phones" || v.Fields[0].Code != tc.code ||
			!strings.Contains(v.Fields[0].Message, tc.inMessage) {
			t.Errorf("ParsePhones(%q) = %v, want phones:%s mentioning %s", tc.in, err, tc.code, tc.inMessage)
		}
	}
}

// --- Evolve and the profile ----------------------------------------------------------

func TestEvolveLocation_FoldsEveryDetailsEvent(t *testing.T) {
	other := location.Contact{ContactID: otherID, Role: "Pharmacy", OrganisationName: "Boots", Phones: []string{"01632 960000"}}
	updated := manager
	updated.Public = false
	link := location.GPLink{PracticeCode: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU"}
	second := note
	second.NoteID, second.Text = "n-2", "Personal care"
	editedAt := noteAt.Add(time.Hour)
	pamms := location.PAMMS{ReportURL: "https://pamms.example.gov.uk/r/1", Rating: "Excellent", ReportDate: "2025-01-31"}

	steps := []struct {
		event any
		want  func(d *location.Details)
	}{
		{location.AddressChanged{LocationID: locID, Changes: []location.FieldChange{{Field: "address_line2", Before: "", After: "Suite 4"}}},
			func(d *location.Details) {}}, // the directory's: see the profile below
		{location.AddressChanged{LocationID: locID, Changes: []location.FieldChange{{Field: "postcode", Before: "NN1 2AJ", After: "NN1 1RS"}}},
			func(d *location.Details) {}},
		{location.ContactAdded{LocationID: locID, Contact: manager}, func(d *location.Details) { d.Contacts = []location.Contact{manager} }},
		{location.ContactAdded{LocationID: locID, Contact: other}, func(d *location.Details) { d.Contacts = []location.Contact{manager, other} }},
		{location.ContactUpdated{LocationID: locID, ContactID: contactID, Fields: []string{"public"}, Before: manager, After: updated},
			func(d *location.Details) { d.Contacts = []location.Contact{updated, other} }},
		{location.ContactRemoved{LocationID: locID, ContactID: otherID, Before: other}, func(d *location.Details) { d.Contacts = []location.Contact{updated} }},
		{location.GPPracticeLinked{LocationID: locID, Practice: link}, func(d *location.Details) { d.GPPractices = []location.GPLink{link} }},
		{location.OwnershipTypeChanged{LocationID: locID, Before: "", After: "Independent"}, func(d *location.Details) { d.OwnershipType = "Independent" }},
		{location.NoteAdded{LocationID: locID, Note: note}, func(d *location.Details) { d.Notes = []location.Note{note} }},
		{location.NoteAdded{LocationID: locID, Note: second}, func(d *location.Details) { d.Notes = []location.Note{note, second} }},
		{location.NoteEdited{LocationID: locID, NoteID: noteID, Before: note.Text, After: "Night service", EditedAt: editedAt},
			func(d *location.Details) { d.Notes[0].Text, d.Notes[0].EditedAt = "Night service", editedAt }},
		{location.NoteDeleted{LocationID: locID, NoteID: "n-2", Before: second.Text}, func(d *location.Details) { d.Notes = d.Notes[:1] }},
		{location.PAMMSChanged{LocationID: locID, After: pamms}, func(d *location.Details) { d.PAMMS = pamms }},
		{location.DetailsConfirmed{LocationID: locID, Section: location.SectionAddress}, func(d *location.Details) {}},
		{location.GPPracticeUnlinked{LocationID: locID, Practice: link}, func(d *location.Details) { d.GPPractices = []location.GPLink{} }},
	}
	l := registeredAt(t)
	var want location.Details
	for i, s := range steps {
		before := l
		prevDetails := cloneDetails(l.Details)
		l = fold(t, l, []any{s.event})
		s.want(&want)
		if l.Version != before.Version+1 {
			t.Errorf("step %d (%T): version %d, want %d", i, s.event, l.Version, before.Version+1)
		}
		if !detailsEqual(l.Details, want) {
			t.Fatalf("step %d (%T): details =\n%s\nwant\n%s", i, s.event, asJSON(t, l.Details), asJSON(t, want))
		}
		// Evolve never changes the state it was given: loading and
		// deciding may share slices.
		if !detailsEqual(before.Details, prevDetails) {
			t.Fatalf("step %d (%T) changed the state before it", i, s.event)
		}
		if _, address := s.event.(location.AddressChanged); !address && l.Directory != before.Directory || !reflect.DeepEqual(l.CQC, before.CQC) {
			t.Errorf("step %d (%T) changed the directory or CQC's record", i, s.event)
		}
	}

	p := l.Profile()
	wantProfile := location.Profile{
		LocationID: locID, OrganisationID: "1-9", OrganisationName: "Cranberry Care Services", Version: l.Version,
		Address:  location.Address{Name: "Cranberry Home Care", Line1: "1 Abington Street", Line2: "Suite 4", Line3: "Northampton", Postcode: "NN1 1RS"},
		Contacts: []location.Contact{updated}, GPPractices: []location.GPLink{}, OwnershipType: "Independent",
		Notes: []location.Note{{NoteID: noteID, Text: "Night service", AddedAt: noteAt, AddedBy: "user-1", AddedByName: "Home Care Test", EditedAt: editedAt}},
		PAMMS: pamms,
		CQC: location.CQCProfile{ServiceTypes: []string{}, Specialisms: []string{}, Ratings: map[string]string{
			"overall": "Unknown rating", "safe": "Unknown rating", "effective": "Unknown rating", "caring": "Unknown rating",
			"responsive": "Unknown rating", "well_led": "Unknown rating"}},
		Needs: []string{},
	}
	if asJSON(t, p) != asJSON(t, wantProfile) {
		t.Errorf("profile =\n%s\nwant\n%s", asJSON(t, p), asJSON(t, wantProfile))
	}
}

func cloneDetails(d location.Details) location.Details {
	d.Contacts = slices.Clone(d.Contacts)
	d.GPPractices = slices.Clone(d.GPPractices)
	d.Notes = slices.Clone(d.Notes)
	return d
}

// detailsEqual compares details, an empty list equal to none.
func detailsEqual(a, b location.Details) bool {
	norm := func(d location.Details) location.Details {
		d = cloneDetails(d)
		if len(d.Contacts) == 0 {
			d.Contacts = nil
		}
		if len(d.GPPractices) == 0 {
			d.GPPractices = nil
		}
		if len(d.Notes) == 0 {
			d.Notes = nil
		}
		return d
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestProfile_ListsWhatTheDirectoryLacks(t *testing.T) {
	l := registeredAt(t)
	p := l.Profile()
	if !slices.Equal(p.Needs, []string{"manager_contact", "email"}) {
		t.Errorf("needs of an empty directory = %v", p.Needs)
	}
	if p.Contacts == nil || p.GPPractices == nil || p.Notes == nil || p.CQC.ServiceTypes == nil || p.CQC.Specialisms == nil {
		t.Errorf("a profile's lists encode as []: %s", asJSON(t, p))
	}
	if got := asJSON(t, p.CQC.Ratings); got != `{"caring":"Unknown rating","effective":"Unknown rating","overall":"Unknown rating",`+
		`"responsive":"Unknown rating","safe":"Unknown rating","well_led":"Unknown rating"}` {
		t.Errorf("ratings without CQC's = %s", got)
	}
	plumber := location.Contact{ContactID: otherID, Role: "Plumber", Email: "drip@example.org"}
	if got := withEvents(t, location.ContactAdded{LocationID: locID, Contact: plumber}).Profile().Needs; !slices.Equal(got, []string{"manager_contact"}) {
		t.Errorf("needs with an email but no manager = %v", got)
	}
	if got := withContact(t).Profile().Needs; len(got) != 0 {
		t.Errorf("needs with a manager who has an email = %v", got)
	}
}

func TestContactEvents_MarkTheContactsPersonalFields(t *testing.T) {
	for _, tc := range []struct {
		ev   interface{ PersonalPaths() []string }
		want []string
	}{
		{location.ContactAdded{}, []string{"contact.name", "contact.phones", "contact.email", "contact.address"}},
		{location.ContactUpdated{}, []string{"before.name", "before.phones", "before.email", "before.address",
			"after.name", "after.phones", "after.email", "after.address"}},
		{location.ContactRemoved{}, []string{"before.name", "before.phones", "before.email", "before.address"}},
		{location.NoteAdded{}, []string{"note.added_by_name"}},
	} {
		if got := tc.ev.PersonalPaths(); !slices.Equal(got, tc.want) {
			t.Errorf("%T: %v, want %v", tc.ev, got, tc.want)
		}
	}
	if got := location.ContactSubject(contactID); got != "contact-"+contactID {
		t.Errorf("subject %q", got)
	}
}

// --- fuzz -------------------------------------------------------------------------------

// FuzzParsePhones: what ParsePhones accepts is at most 5 valid UK numbers,
// and its output parses to itself.
func FuzzParsePhones(f *testing.F) {
	for _, s := range []string{
		"01632 960123", "01632 960123, 07700 900123", "+44 (0)20 7946 0018; 0044 7700 900123", "01632 960123 ext 12",
		"01632960123x123456", " , ;", "", "12345", "04632 960123", "+4401632960123", strings.Repeat("0808 157 0192,", 6),
		"0163\x00296 0123", "０１６３２ ９６０１２３", "01632 960123 x", "+44 7700 900123 extension 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := location.ParsePhones(s)
		if err != nil {
			if fieldCodes(err) == nil {
				t.Fatalf("ParsePhones(%q): %v is not a validation error", s, err)
			}
			return
		}
		if len(out) == 0 {
			return
		}
		parts := out
		if len(parts) > 5 {
			t.Fatalf("ParsePhones(%q) = %q: more than 5 numbers", s, out)
		}
		for _, p := range parts {
			if !location.ValidUKPhone(p) {
				t.Fatalf("ParsePhones(%q) = %q: %q is not valid", s, out, p)
			}
		}
		again, err := location.ParsePhones(strings.Join(out, ", "))
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("ParsePhones(%q) = %q, which parses to %q, %v", s, out, again, err)
		}
	})
}
