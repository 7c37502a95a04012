package eventstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func decodeOrNil(t *testing.T, data []byte) any {
	t.Helper()
	v, err := decodeJSON(data)
	if err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// FuzzSealOpen: for any JSON object and any marked path, sealing never
// leaves the marked value in plain text, opening with the key gives the
// original document back, and opening without it erases exactly that field.
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte(`{"email":"jo@example.org","n":1}`), "email", "user-1")
	f.Add([]byte(`{"contact":{"name":"Jo Bloggs","phone":"01632 960001"},"x":[1,2]}`), "contact.name", "user-2")
	f.Add([]byte(`{"notes":"free text about a person","tags":{"a":null}}`), "notes", "location-1-101")
	f.Add([]byte(`{"a":{"b":{"c":{"d":"deep"}}}}`), "a.b.c.d", "s")
	f.Add([]byte(`{"missing":true}`), "absent.path", "s")
	f.Add([]byte(`{"n":12345678901234567890}`), "n", "s")
	f.Fuzz(func(t *testing.T, data []byte, path, subject string) {
		if ValidatePersonalPath(path) != nil || ValidateSubject(subject) != nil || !json.Valid(data) || usesReservedKey(data) {
			return
		}
		if _, isObject := decodeOrNil(t, data).(map[string]any); !isObject {
			return
		}
		id := uuid.New()
		key, err := NewSubjectKey()
		if err != nil {
			t.Fatal(err)
		}
		sealed, subjects, err := SealPersonal(id, data, []PersonalField{{Path: path, Subject: subject}},
			func(string) ([]byte, error) { return key, nil })
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		opened, erased, err := OpenPersonal(id, sealed, map[string][]byte{subject: key})
		if err != nil {
			t.Fatalf("open with the key: %v", err)
		}
		if len(erased) != 0 {
			t.Fatalf("opened with the key, yet erased %v", erased)
		}
		if !reflect.DeepEqual(decodeOrNil(t, opened), decodeOrNil(t, data)) {
			t.Fatalf("round trip changed the data:\n in  %s\n out %s", data, opened)
		}
		shredded, erased, err := OpenPersonal(id, sealed, nil)
		if err != nil {
			t.Fatalf("open without the key: %v", err)
		}
		if len(subjects) == 0 {
			if !bytes.Equal(sealed, data) && !reflect.DeepEqual(decodeOrNil(t, sealed), decodeOrNil(t, data)) {
				t.Fatalf("nothing sealed, yet the data changed: %s", sealed)
			}
			return
		}
		if len(erased) != 1 || erased[0] != path {
			t.Fatalf("erased %v, want [%s]", erased, path)
		}
		// The erased document is the original with the field set to null.
		want := decodeOrNil(t, data).(map[string]any)
		parts := strings.Split(path, ".")
		parent := want
		for _, p := range parts[:len(parts)-1] {
			parent = parent[p].(map[string]any)
		}
		parent[parts[len(parts)-1]] = nil
		if !reflect.DeepEqual(decodeOrNil(t, shredded), any(want)) {
			t.Fatalf("shredded document:\n got  %s\n want the original with %s null", shredded, path)
		}
	})
}
