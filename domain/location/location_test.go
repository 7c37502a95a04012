package location_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/location"
)

func TestParsePostcode_NormalisesUKPostcodes(t *testing.T) {
	for in, want := range map[string]string{
		"nn11nn": "NN1 1NN", " NN1 1NN ": "NN1 1NN", "sw1a1aa": "SW1A 1AA", "M1 1AE": "M1 1AE", "b33 8th": "B33 8TH",
	} {
		pc, err := location.ParsePostcode(in)
		if err != nil || pc.String() != want {
			t.Errorf("ParsePostcode(%q) = %q, %v; want %q", in, pc, err, want)
		}
	}
	for _, bad := range []string{"", "NN1", "12345", "NN1 1NNN", "N@1 1NN", "ZZZZ ZZZ"} {
		if _, err := location.ParsePostcode(bad); err == nil {
			t.Errorf("ParsePostcode(%q) accepted", bad)
		}
	}
}

func TestCompactPostcode_UpperCaseWithoutWhiteSpace(t *testing.T) {
	for in, want := range map[string]string{
		"sw1a 1aa": "SW1A1AA", " SW1A\t1AA\n": "SW1A1AA", "s w 1 a": "SW1A", "": "", "   ": "", "SW1A 1A": "SW1A1A",
	} {
		if got := location.CompactPostcode(in); got != want {
			t.Errorf("CompactPostcode(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParsePostcode(f *testing.F) {
	for _, s := range []string{"NN1 1NN", "sw1a1aa", "", "  ", "A1 1AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pc, err := location.ParsePostcode(s)
		if err != nil {
			return
		}
		again, err := location.ParsePostcode(pc.String())
		if err != nil || again != pc {
			t.Fatalf("canonical form %q does not parse to itself", pc)
		}
	})
}

func TestDecideRegisterLocation_NeedsItsOrganisation(t *testing.T) {
	_, err := location.DecideRegisterLocation(location.Location{}, location.Organisation{}, location.RegisterLocation{
		LocationID: "1-1", OrganisationID: "1-9", Name: "Cranberry Home Care", Postcode: "NN1 1NN"})
	if err == nil {
		t.Fatal("location of an unknown organisation accepted")
	}
	org := location.EvolveOrganisation(location.Organisation{}, location.OrganisationRegistered{OrganisationID: "1-9", Name: "Cranberry Care Services", Type: location.HomeCare})
	ev, err := location.DecideRegisterLocation(location.Location{}, org, location.RegisterLocation{
		LocationID: "1-1", OrganisationID: "1-9", Name: " Cranberry  Home Care ", Postcode: "nn11nn"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "Cranberry Home Care" || ev.Postcode != "NN1 1NN" || ev.OrganisationName != "Cranberry Care Services" {
		t.Errorf("event = %+v", ev)
	}
}

func TestParseID_ChecksOnceAtTheBoundary(t *testing.T) {
	for _, s := range []string{"1-101641286", "A", "org_1.2-3", strings.Repeat("a", 64)} {
		id, err := location.ParseID(s)
		if err != nil || id.String() != s || id.IsZero() {
			t.Errorf("ParseID(%q) = %v, %v", s, id, err)
		}
		if id.LocationStream() != location.LocationStream(s) || id.OrganisationStream() != location.OrganisationStream(s) {
			t.Errorf("ParseID(%q) streams %q, %q", s, id.LocationStream(), id.OrganisationStream())
		}
	}
	for _, s := range []string{"", " 1-1", "-1", ".a", "a b", "a/b", "é", strings.Repeat("a", 65)} {
		if id, err := location.ParseID(s); !errors.Is(err, location.ErrInvalidID) || !id.IsZero() {
			t.Errorf("ParseID(%q) = %v, %v; want ErrInvalidID", s, id, err)
		}
	}
}
