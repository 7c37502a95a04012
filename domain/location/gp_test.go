package location

// An internal test, so that the file-size bound can be tested with a
// small bound (parseGPPracticesCSV) rather than 50 MB.

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain"
)

// foldOrganisation is the state of an organisation after its events.
func foldOrganisation(evs ...any) Organisation {
	var o Organisation
	for _, ev := range evs {
		o = EvolveOrganisation(o, ev)
	}
	return o
}

func fieldsOf(err error) []string {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field+"/"+f.Code)
	}
	return out
}

func TestDecideGPPractice(t *testing.T) {
	registered := []any{OrganisationRegistered{OrganisationID: "A81001", Name: "The Densham Surgery", Type: GP, Postcode: "TS18 1HU"}}
	practice := foldOrganisation(registered...)
	careHome := foldOrganisation(OrganisationRegistered{OrganisationID: "A81002", Name: "Queens Park Care Home", Type: CareHome})

	for _, tc := range []struct {
		name string
		o    Organisation
		row  GPPractice
		want []any
	}{
		{"a new practice is registered", Organisation{}, GPPractice{Code: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU"}, registered},
		{"code, name and postcode are normalised", Organisation{},
			GPPractice{Code: " a81001 ", Name: "  The   Densham\tSurgery ", Postcode: "ts181hu"}, registered},
		{"the same row changes nothing", practice, GPPractice{Code: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU"}, nil},
		{"the same row written differently changes nothing", practice, GPPractice{Code: "a81001", Name: "The Densham  Surgery", Postcode: "ts18 1hu"}, nil},
		{"a new name renames", practice, GPPractice{Code: "A81001", Name: "Densham Surgery", Postcode: "TS18 1HU"},
			[]any{OrganisationRenamed{OrganisationID: "A81001", Before: "The Densham Surgery", After: "Densham Surgery"}}},
		{"a new postcode moves", practice, GPPractice{Code: "A81001", Name: "The Densham Surgery", Postcode: "TS18 2AA"},
			[]any{OrganisationPostcodeChanged{OrganisationID: "A81001", Before: "TS18 1HU", After: "TS18 2AA"}}},
		{"both change", practice, GPPractice{Code: "A81001", Name: "Densham Surgery", Postcode: "TS18 2AA"},
			[]any{OrganisationRenamed{OrganisationID: "A81001", Before: "The Densham Surgery", After: "Densham Surgery"},
				OrganisationPostcodeChanged{OrganisationID: "A81001", Before: "TS18 1HU", After: "TS18 2AA"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideGPPractice(tc.o, tc.row)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
			// Deciding again on the state the events make changes nothing.
			o := tc.o
			for _, ev := range got {
				o = EvolveOrganisation(o, ev)
			}
			if again, err := DecideGPPractice(o, tc.row); err != nil || len(again) != 0 {
				t.Fatalf("the same row again: %#v, %v", again, err)
			}
		})
	}

	t.Run("an organisation of another type is refused", func(t *testing.T) {
		_, err := DecideGPPractice(careHome, GPPractice{Code: "A81002", Name: "Queens Park Medical Centre", Postcode: "TS18 2AW"})
		var r *domain.RuleError
		if !errors.As(err, &r) || r.Code != "not_a_gp_practice" || !strings.Contains(r.Message, "Care Home") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDecideGPPractice_RefusesBadRowsNamingEachField(t *testing.T) {
	for _, tc := range []struct {
		row  GPPractice
		want []string
	}{
		{GPPractice{}, []string{"code/required", "name/invalid_length", "postcode/invalid_postcode"}},
		{GPPractice{Code: "A8", Name: "Surgery", Postcode: "TS18 1HU"}, []string{"code/invalid_code"}},
		{GPPractice{Code: "A81001-B", Name: "Surgery", Postcode: "TS18 1HU"}, []string{"code/invalid_code"}},
		{GPPractice{Code: "A8100123456", Name: "Surgery", Postcode: "TS18 1HU"}, []string{"code/invalid_code"}},
		{GPPractice{Code: "A81001", Name: " X ", Postcode: "TS18 1HU"}, []string{"name/invalid_length"}},
		{GPPractice{Code: "A81001", Name: strings.Repeat("x", MaxNameLength+1), Postcode: "TS18 1HU"}, []string{"name/invalid_length"}},
		{GPPractice{Code: "A81001", Name: "Surgery", Postcode: "TS18"}, []string{"postcode/invalid_postcode"}},
	} {
		_, err := DecideGPPractice(Organisation{}, tc.row)
		if got := fieldsOf(err); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v (%v), want %v", tc.row, got, err, tc.want)
		}
	}
}

func TestParseGPPracticesCSV(t *testing.T) {
	// A byte order mark, the columns in another order and case, an extra
	// column, CRLF line ends, a quoted name with a comma and a line
	// break, blank lines, a short row, a repeated code and a bad quote.
	file := "\ufeffPostcode,Extra,CODE , Name\r\n" +
		"TS18 1HU,x,A81001,The Densham Surgery\r\n" +
		"\r\n" +
		"ts18 2aw,,a81002,\"Queens Park Medical Centre, Stockton\"\r\n" +
		"TS18 1HU,x\r\n" +
		"TS20 2ED,,A81004,\"Acklam\nMedical Centre\"\r\n" +
		"TS18 1HU,,A81001,The Densham Surgery again\r\n" +
		"TS18 1HU,,\"A8100\"5,Bad\r\n" +
		"TS18 1HU,,A81006,\r\n"
	got, bad, err := ParseGPPracticesCSV(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []GPPractice{
		{Code: "A81001", Name: "The Densham Surgery", Postcode: "TS18 1HU", Line: 2},
		{Code: "a81002", Name: "Queens Park Medical Centre, Stockton", Postcode: "ts18 2aw", Line: 4},
		{Code: "A81004", Name: "Acklam\nMedical Centre", Postcode: "TS20 2ED", Line: 6},
		// The import, not the parser, refuses the empty name.
		{Code: "A81006", Name: "", Postcode: "TS18 1HU", Line: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("practices\n%+v\nwant\n%+v", got, want)
	}
	wantBad := []string{
		"line 5: 2 columns, want at least 4 as in the header",
		"line 8: practice A81001 appears before, at line 2",
		"line 9: ",
	}
	if len(bad) != len(wantBad) {
		t.Fatalf("row errors %v, want %v", bad, wantBad)
	}
	for i, e := range bad {
		if !strings.HasPrefix(e.Error(), wantBad[i]) {
			t.Errorf("row error %d = %q, want %q...", i, e.Error(), wantBad[i])
		}
	}
}

func TestParseGPPracticesCSV_RefusesAFileWithoutItsHeader(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"", "empty"},
		{"\n\n", "empty"},
		{"A81001,The Densham Surgery,TS18 1HU\n", "no column code, name, postcode"},
		{"code,name\nA81001,The Densham Surgery\n", "no column postcode"},
		{"code,name,postcode,Code\n", "names the column code twice"},
		{"code,\"name,postcode\n", "the header row"},
	} {
		got, bad, err := ParseGPPracticesCSV(strings.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) || got != nil || bad != nil {
			t.Errorf("%q: %v, %v, %v; want an error saying %q", tc.file, got, bad, err, tc.want)
		}
	}
}

func TestParseGPPracticesCSV_RefusesAFileOverTheBound(t *testing.T) {
	file := "code,name,postcode\n" + strings.Repeat("A81001,The Densham Surgery,TS18 1HU\n", 100)
	if _, _, err := parseGPPracticesCSV(strings.NewReader(file), int64(len(file))); err != nil {
		t.Fatalf("a file of exactly the bound: %v", err)
	}
	if _, _, err := parseGPPracticesCSV(strings.NewReader(file+"\n"), int64(len(file))); !errors.Is(err, ErrGPFileTooLarge) {
		t.Fatalf("a file over the bound: %v", err)
	}
}

func FuzzParseGPPracticesCSV(f *testing.F) {
	for _, s := range []string{
		"", "code,name,postcode\n", "code,name,postcode\nA81001,The Densham Surgery,TS18 1HU\n",
		"\ufeffPostcode,Name,Code,Extra\r\nTS18 1HU,\"Densham, Surgery\",a81001,x\r\n,,,\r\nTS18,\"\",A81001\r\n",
		"code,name,postcode\n\"unterminated,x,y\n", "code,name,postcode\nA,B\nA81001,x,y,z\nA81001,x,y\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, bad, err := ParseGPPracticesCSV(bytes.NewReader(data))
		if err != nil && (got != nil || bad != nil) {
			t.Fatalf("an error (%v) with rows %v %v", err, got, bad)
		}
		for _, e := range bad {
			if e.Line < 1 || e.Reason == "" {
				t.Fatalf("row error %+v", e)
			}
		}
		codes := map[string]bool{}
		last := 0
		for _, p := range got {
			if p.Line <= last {
				t.Fatalf("practice %+v after line %d", p, last)
			}
			last = p.Line
			key := strings.ToUpper(strings.TrimSpace(p.Code))
			if key != "" && codes[key] {
				t.Fatalf("code %q twice", key)
			}
			codes[key] = true
			// A row the import accepts is canonical: cleaning it
			// again changes nothing, and its events fold into the
			// state that decides nothing more.
			clean, err := p.Cleaned()
			if err != nil {
				continue
			}
			if again, err := clean.Cleaned(); err != nil || again != clean {
				t.Fatalf("cleaning %+v twice: %+v, %v", clean, again, err)
			}
			evs, err := DecideGPPractice(Organisation{}, p)
			if err != nil || len(evs) != 1 {
				t.Fatalf("a new practice %+v: %v, %v", p, evs, err)
			}
			if again, err := DecideGPPractice(foldOrganisation(evs...), p); err != nil || len(again) != 0 {
				t.Fatalf("the same practice again: %v, %v", again, err)
			}
		}
	})
}
