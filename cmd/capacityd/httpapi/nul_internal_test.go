package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNulInJSON_NamesThePath(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"a": "x"}`, ""},
		{`{"a": "x\\u0000"}`, ""}, // an escaped backslash, then text
		{`{"a": "\u0000"}`, "a"},
		{`{"a": 1, "b": [true, null, "\u0000"]}`, "b.2"},
		{`{"a": {"b": {"c": "x"}, "d": ["\u0000"]}}`, "a.d.0"},
		{`{"k\u0000": 1}`, "body"}, // a key: named by where it is
		{`{"a": {"k\u0000": 1}}`, "a"},
		{`["x", {"y": "\u0000"}]`, "1.y"},
		{`"\u0000"`, "body"},
		{`{"a": [[1], [2, "\u0000"]]}`, "a.1.1"},
		{`{"": "x", "b": {"c": 1, "d": "\u0000"}}`, "b.d"},
		{`{"a": "\u0000`, ""}, // malformed: the decoder describes it
	} {
		got, ok := nulInJSON([]byte(tc.body))
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("nulInJSON(%s) = %q %v, want %q", tc.body, got, ok, tc.want)
		}
	}
}

// FuzzNulInJSON: a JSON document is refused exactly when one of its
// strings (keys included) holds a NUL.
func FuzzNulInJSON(f *testing.F) {
	for _, s := range []string{`{"a":"\u0000"}`, `[1,"\u0000x"]`, `{"\u0000":1}`, `{"a":"\\u0000"}`, `{"a":[{"b":"c"}]}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return
		}
		_, found := nulInJSON(body)
		if want := holdsNUL(v); found != want {
			t.Fatalf("nulInJSON(%q) found %v, want %v", body, found, want)
		}
	})
}

func holdsNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsRune(x, 0)
	case []any:
		for _, e := range x {
			if holdsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) || holdsNUL(e) {
				return true
			}
		}
	}
	return false
}
