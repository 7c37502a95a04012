package location_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/location"
)

// TestUpcast_EveryStoredOldShape reads each stored example of an old
// event shape (testdata/upcast/<Type>.v1[.case].json) through the
// upcasters and compares it with the current shape written out by hand
// (<Type>.v2[.case].json); the result decodes and folds like an event of
// the current shape.
func TestUpcast_EveryStoredOldShape(t *testing.T) {
	olds, err := filepath.Glob("testdata/upcast/*.v1*.json")
	if err != nil || len(olds) == 0 {
		t.Fatalf("no stored old shapes: %v", err)
	}
	seen := map[string]bool{}
	for _, oldPath := range olds {
		base := filepath.Base(oldPath)
		oldType, rest, _ := strings.Cut(base, ".v1")
		seen[oldType] = true
		t.Run(base, func(t *testing.T) {
			old, err := os.ReadFile(oldPath)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata/upcast", oldType+".v2"+rest))
			if err != nil {
				t.Fatal(err)
			}
			typ, got, err := location.Upcast(oldType, old)
			if err != nil {
				t.Fatal(err)
			}
			if typ != oldType+".v2" {
				t.Fatalf("upcast to type %q, want %s.v2", typ, oldType)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("upcast\n got %s\nwant %s", got, want)
			}
			// Decoding the old shape gives the event the current shape
			// decodes to.
			fromOld, err := location.Decode(oldType, old)
			if err != nil {
				t.Fatal(err)
			}
			fromNew, err := location.Decode(typ, want)
			if err != nil || fromNew == nil {
				t.Fatalf("the current shape does not decode: %v", err)
			}
			if !reflect.DeepEqual(fromOld, fromNew) {
				t.Fatalf("decoded old %+v, current %+v", fromOld, fromNew)
			}
		})
	}
	for _, typ := range []string{"ContactAdded", "ContactUpdated", "ContactRemoved"} {
		if !seen[typ] {
			t.Errorf("no stored example of the old shape of %s", typ)
		}
	}
	// The current shape passes through untouched.
	cur := []byte(`{"location_id":"1","contact":{"contact_id":"c","phones":["01632 960123"]}}`)
	if typ, got, err := location.Upcast(location.TypeContactAdded, cur); err != nil || typ != location.TypeContactAdded || string(got) != string(cur) {
		t.Fatalf("current shape upcast to %s %s %v", typ, got, err)
	}
}

// TestEvolveLocation_FoldsOldAndNewContactShapes: a stream that holds
// contacts in both shapes folds to one directory of phone lists.
func TestEvolveLocation_FoldsOldAndNewContactShapes(t *testing.T) {
	var l location.Location
	for _, ev := range []struct{ typ, data string }{
		{location.TypeLocationRegistered, `{"location_id":"1-1","organisation_id":"1-2","name":"Cranberry","postcode":"NN1 1NN"}`},
		{"ContactAdded", `{"location_id":"1-1","contact":{"contact_id":"a","role":"Manager","name":"Ann","phones":"01632 960123, 07700 900123"}}`},
		{location.TypeContactAdded, `{"location_id":"1-1","contact":{"contact_id":"b","role":"Pharmacy","organisation_name":"Boots","phones":["01632 960000"]}}`},
		{"ContactUpdated", `{"location_id":"1-1","contact_id":"a","fields":["phones"],"before":{"contact_id":"a","role":"Manager","name":"Ann","phones":"01632 960123, 07700 900123"},"after":{"contact_id":"a","role":"Manager","name":"Ann","phones":"07700 900999"}}`},
	} {
		d, err := location.Decode(ev.typ, []byte(ev.data))
		if err != nil || d == nil {
			t.Fatalf("%s: %v", ev.typ, err)
		}
		l = location.EvolveLocation(l, d)
	}
	a, _ := l.Contact("a")
	b, _ := l.Contact("b")
	if !slices.Equal(a.Phones, []string{"07700 900999"}) || !slices.Equal(b.Phones, []string{"01632 960000"}) {
		t.Fatalf("contacts %+v", l.Details.Contacts)
	}
}
