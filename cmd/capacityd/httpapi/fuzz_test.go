package httpapi_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// The two bodies a stranger can send without logging in. The decoders must
// never panic, and what they accept must survive a round trip: encoding the
// decoded request and decoding it again gives the same request.

func FuzzDecodeRegistration(f *testing.F) {
	for _, seed := range []string{
		`{"email":"jo.bloggs@rosehill.example.org","full_name":"Jo Bloggs","phone":"0191 691 0000","job_title":"Manager",` +
			`"user_type":"approver","organisation_type":"care_home","location_ids":["1-112721881","1-112721895"],` +
			`"terms_accepted":true,"communications_opt_in":true}`,
		`{"email":"","location_ids":null,"terms_accepted":false}`,
		`{"location_ids":[]}`,
		`{"EMAIL":"upper@example.org","Full_Name":"Case Folded"}`,
		`{"email":"a@b.c","email":"dup@b.c"}`,
		`{"full_name":"Zoë Ní Bhriain \u00e9\ud83d\ude00"}`,
		`{"full_name":"\xff\xfe"}`,
		`{"emial":"typo@example.org"}`,
		`{"terms_accepted":"yes"}`,
		`{"location_ids":[1,2]}`,
		`{} {}`,
		`[]`,
		`null`,
		`{"email":`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := httpapi.DecodeRegistration(body)
		if err != nil {
			return
		}
		again := roundTrip(t, req, httpapi.DecodeRegistration)
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip of %q: %#v, want %#v", body, again, req)
		}
	})
}

func FuzzDecodeLogin(f *testing.F) {
	for _, seed := range []string{
		`{"email":"jo.bloggs@rosehill.example.org","password":"Tide-0123456789-Orchard","remember_me":true}`,
		`{"email":"x","password":""}`,
		`{"password":"\u0000nul inside"}`,
		`{"password":"\ud800"}`,
		`{"remember_me":1}`,
		`{"email":"a","email":"b"}`,
		`{"email":"a"}garbage`,
		`{"Password":"folded"}`,
		`"just a string"`,
		` `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := httpapi.DecodeLogin(body)
		if err != nil {
			return
		}
		if again := roundTrip(t, req, httpapi.DecodeLogin); again != req {
			t.Fatalf("round trip of %q: %#v, want %#v", body, again, req)
		}
	})
}

// roundTrip encodes v as JSON and decodes it with decode, which must
// accept it.
func roundTrip[T any](t *testing.T, v T, decode func([]byte) (T, error)) T {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %#v: %v", v, err)
	}
	again, err := decode(data)
	if err != nil {
		t.Fatalf("decode of the re-encoded %s: %v", data, err)
	}
	return again
}
