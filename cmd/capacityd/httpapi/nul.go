package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/domain"
)

// A NUL character (U+0000) is nothing a person types, and PostgreSQL
// cannot hold one in text or JSONB: a query with one fails with "invalid
// byte sequence for encoding UTF8" and the request with a 500. So the
// server refuses it at the edge, in two places that every input passes:
// rejectNUL for the path and the query (every route) and decodeJSONBytes
// for JSON bodies (every JSON handler). The web port refuses it with the
// same checks (NULInURL, NULInValues for its forms), in its own page.

// nulCode is the field code of a NUL character.
const nulCode = "nul_character"

// nulError is a NUL character where Field says: answered 400
// invalid_input with that field.
type nulError struct{ Field string }

func (e *nulError) Error() string { return e.Field + " must not contain a NUL character" }

// writeNUL answers a nulError.
func writeNUL(w http.ResponseWriter, e *nulError) {
	writeJSON(w, http.StatusBadRequest, ErrorBody{Error: ErrorDetail{Status: http.StatusBadRequest, Code: "invalid_input",
		Message: "the request holds a NUL character (%00), which no field may contain",
		Fields:  []domain.FieldError{{Field: e.Field, Code: nulCode, Message: e.Error()}}}})
}

// rejectNUL answers 400 to a request whose path or query string holds a
// NUL character, before any handler runs. It is router middleware, so the
// path's variables are known and named.
func (s *Server) rejectNUL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if field, ok := nulInURL(r); ok {
			writeNUL(w, &nulError{Field: field})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// nulInURL finds a NUL in the decoded path (named by its route variable)
// or in a query parameter (named by the parameter, or "query" when it is
// in a name).
func nulInURL(r *http.Request) (string, bool) {
	if strings.ContainsRune(r.URL.Path, 0) {
		vars := mux.Vars(r)
		names := make([]string, 0, len(vars))
		for name, v := range vars {
			if strings.ContainsRune(v, 0) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return "path", true
		}
		slices.Sort(names)
		return names[0], true
	}
	if !strings.Contains(r.URL.RawQuery, "%00") && !strings.ContainsRune(r.URL.RawQuery, 0) {
		return "", false
	}
	// ParseQuery keeps what it can decode, as r.URL.Query() does for the
	// handlers.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	return NULInValues(q, "query")
}

// NULInURL finds a NUL character in the request's decoded path or query
// string, and names where it is: the path's variable ("path" without
// one), the query parameter, or "query" when it is in a parameter's name.
// The web port calls it for every request, as rejectNUL does for the API.
func NULInURL(r *http.Request) (string, bool) { return nulInURL(r) }

// NULInValues finds a NUL character in a query's or a form's values (named
// by their parameter) or names (named by nameField).
func NULInValues(v url.Values, nameField string) (string, bool) {
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.ContainsRune(name, 0) {
			return nameField, true
		}
		for _, x := range v[name] {
			if strings.ContainsRune(x, 0) {
				return name, true
			}
		}
	}
	return "", false
}

// nulInJSON finds a string holding a NUL in a JSON document (a key or a
// value) and names it by its path: "full_name", "location_ids.1",
// "answers.other_issues". A JSON text can only carry a NUL escaped, so a
// body without `\u0000` needs no walk.
func nulInJSON(body []byte) (string, bool) {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// One level per open container: the key of the value being read
	// (objects) or its index (arrays).
	type level struct {
		array  bool
		keyDue bool
		key    string
		index  int
	}
	var stack []level
	path := func() string {
		parts := make([]string, 0, len(stack))
		for _, l := range stack {
			if l.array {
				parts = append(parts, strconv.Itoa(l.index))
			} else if !l.keyDue {
				parts = append(parts, l.key)
			}
		}
		if p := strings.Join(parts, "."); p != "" {
			return p
		}
		return "body"
	}
	// next moves the innermost container past a value.
	next := func() {
		if len(stack) == 0 {
			return
		}
		if top := &stack[len(stack)-1]; top.array {
			top.index++
		} else {
			top.keyDue = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			// The end, or malformed JSON: the decoder's to describe.
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, level{keyDue: true})
			case '[':
				stack = append(stack, level{array: true})
			default:
				stack = stack[:len(stack)-1]
				next()
			}
		case string:
			if strings.ContainsRune(v, 0) {
				return path(), true
			}
			if top := len(stack) - 1; top >= 0 && stack[top].keyDue {
				stack[top].key, stack[top].keyDue = v, false
				continue
			}
			next()
		default:
			next()
		}
	}
}
