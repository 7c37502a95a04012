package httpapi_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/location"
)

// FuzzDecodeContactRequest: an edit body is refused for CQC's fields
// before anything else, naming only fields that are CQC's; what is
// accepted survives a round trip.
func FuzzDecodeContactRequest(f *testing.F) {
	for _, seed := range []string{
		`{"role":"Manager","name":"Rosa Hill","organisation_name":"Rosehill","phones":"0191 496 0123, 07700 900123",` +
			`"email":"rosa@rosehill.example.org","address":"31 Thornholme Road","public":true,"expected_version":7}`,
		`{"role":"Plumber","expected_version":null}`,
		`{"service_types":["Homecare agencies"],"bogus":1}`,
		`{"Public_URL":"https://example.org"}`,
		`{"ratings":{"overall":"Good"},"name":"x"}`,
		`{"public":"yes"}`,
		`{"expected_version":-1}`,
		`{"expected_version":1e3}`,
		`{"name":"a","name":"b"}`,
		`{"address":"\u0000"}`,
		`[{"public_url":1}]`,
		`{} {}`,
		`null`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := httpapi.DecodeContactRequest(body)
		var owned *location.CQCOwnedError
		if errors.As(err, &owned) {
			if len(owned.Fields) == 0 {
				t.Fatalf("%q refused for no field", body)
			}
			for _, f := range owned.Fields {
				if !location.IsCQCOwned(f) {
					t.Fatalf("%q refused for %q, which is not CQC's", body, f)
				}
			}
			return
		}
		if err != nil {
			return
		}
		if again := roundTrip(t, req, httpapi.DecodeContactRequest); !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip of %q: %#v, want %#v", body, again, req)
		}
	})
}
