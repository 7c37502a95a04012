package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// The two bodies a stranger can send without logging in. The decoders must
// never panic, what they accept must survive a round trip (encoding the
// decoded request and decoding it again gives the same request) and hold
// no NUL character, which PostgreSQL cannot store.

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
		`{"full_name":"Nul\u0000Name","location_ids":["1-\u0000"]}`,
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
		noNUL(t, req)
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
		noNUL(t, req)
		if again := roundTrip(t, req, httpapi.DecodeLogin); again != req {
			t.Fatalf("round trip of %q: %#v, want %#v", body, again, req)
		}
	})
}

// noNUL fails the test when a decoded request holds a NUL character.
func noNUL(t *testing.T, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `\u0000`) {
		t.Fatalf("a request with a NUL character was accepted: %s", data)
	}
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

// nulRoute is one route of the server, as the router's walk finds it.
type nulRoute struct {
	template string
	vars     []string
	methods  []string
}

// everyRoute walks the server's router.
func everyRoute(t *testing.T, srv *httpapi.Server) []nulRoute {
	t.Helper()
	var out []nulRoute
	err := srv.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix
		}
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{http.MethodGet}
		}
		vars, err := route.GetVarNames()
		if err != nil {
			return err
		}
		out = append(out, nulRoute{template: tmpl, vars: vars, methods: methods})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 80 {
		t.Fatalf("the walk found %d routes, fewer than the server has", len(out))
	}
	return out
}

// path fills the route's variables: bad gets value, the others a plain id.
func (r nulRoute) path(bad, value string) string {
	p := r.template
	for _, v := range r.vars {
		fill := "1-112721881"
		if v == bad {
			fill = value
		}
		p = strings.Replace(p, "{"+v+"}", url.PathEscape(fill), 1)
	}
	return p
}

// TestEveryRoute_RejectsANULCharacterBeforeItReachesTheDatabase: a NUL in
// a path variable, a query parameter's value or name, or a JSON body's
// string is a 400 invalid_input naming where it was, on every route and
// method, for a signed-in caller of the widest powers (so that no
// authorisation check answers first). PostgreSQL cannot store a NUL in
// text: before, 16 routes answered 500.
func TestEveryRoute_RejectsANULCharacterBeforeItReachesTheDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		count := w.eventCount()
		wantField := func(r response, field string) {
			t.Helper()
			if strings.HasPrefix(r.req, http.MethodHead+" ") {
				r.want(http.StatusBadRequest) // no body to name the field
				return
			}
			e := r.wantError(http.StatusBadRequest, "invalid_input")
			if len(e.Fields) != 1 || e.Fields[0].Field != field || e.Fields[0].Code != "nul_character" {
				t.Errorf("%s: fields %+v, want one nul_character on %q", r.req, e.Fields, field)
			}
		}
		for _, route := range everyRoute(t, w.server) {
			for _, method := range route.methods {
				for _, v := range route.vars {
					wantField(support.do(method, "/"+strings.TrimPrefix(route.path(v, "1-1127\x0021881"), "/"), nil), v)
				}
				base := route.path("", "")
				wantField(support.do(method, base+"?q=sr2%00&min_position=0", nil), "q")
				wantField(support.do(method, base+"?page=1&x%00y=1", nil), "query")
				if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
					r := support.do(method, base, rawBody{strings.NewReader(`{"name": "Rose\u0000hill", "answers": {"other_issues": "\u0000"}}`), "application/json"})
					if r.status >= 500 {
						t.Errorf("%s with a NUL in its JSON body = %d %s", r.req, r.status, r.body)
					}
				}
			}
		}
		// The public bodies a stranger can send name the field.
		anon := w.newClient()
		for _, tc := range []struct{ path, body, field string }{
			{"/api/v1/registrations", `{"email": "a@example.org", "full_name": "Nul\u0000Name"}`, "full_name"},
			{"/api/v1/sessions", `{"email": "a\u0000@example.org", "password": "x"}`, "email"},
			{"/api/v1/password-resets", `{"email": "\u0000"}`, "email"},
			{"/api/v1/password-links", `{"token": "t", "password": "Tide-\u0000-Orchard"}`, "password"},
			{"/api/v1/registrations", `{"location_ids": ["1-1", "1-\u0000"]}`, "location_ids.1"},
		} {
			wantField(anon.do(http.MethodPost, tc.path, rawBody{strings.NewReader(tc.body), "application/json"}), tc.field)
		}
		w.unchanged("requests with a NUL character", count)
	})
}
