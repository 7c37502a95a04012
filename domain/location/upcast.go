package location

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Event schema evolution. An event whose shape changes gets a new type
// name (its old name stays in the log forever), and an upcaster turns the
// old shape into the new one when it is read, so that everything after
// Decode (the aggregates' Evolve, the projections, replays) knows only the
// current shape. Upcasters are pure functions of the stored JSON; they never
// rewrite the log (its hashes cover the stored rows).
//
// The changes so far:
//   - ContactAdded, ContactUpdated, ContactRemoved -> .v2: a contact's
//     "phones" was one string of numbers joined by ", " ("0191 496 0123,
//     07700 900123"); it is a list of numbers. An erased (crypto-shredded)
//     phones value stays null.

// upcaster turns the data of an old shape into the next shape.
type upcaster struct {
	to      string
	convert func(data []byte) ([]byte, error)
}

var upcasters = map[string]upcaster{
	"ContactAdded":   {TypeContactAdded, contactPhonesToList("contact")},
	"ContactUpdated": {TypeContactUpdated, contactPhonesToList("before", "after")},
	"ContactRemoved": {TypeContactRemoved, contactPhonesToList("before")},
}

// Upcast brings an event of any older shape to its current type and data,
// through as many upcasters as it takes. Events of the current shape, and
// of types this package does not know, come back unchanged.
func Upcast(eventType string, data []byte) (string, []byte, error) {
	for range 10 { // a chain of versions, never a loop
		u, ok := upcasters[eventType]
		if !ok {
			return eventType, data, nil
		}
		next, err := u.convert(data)
		if err != nil {
			return "", nil, fmt.Errorf("upcast %s to %s: %w", eventType, u.to, err)
		}
		eventType, data = u.to, next
	}
	return "", nil, fmt.Errorf("upcast %s: too many versions", eventType)
}

// contactPhonesToList rewrites "phones" of the contact objects at the given
// keys from one joined string to a list.
func contactPhonesToList(keys ...string) func([]byte) ([]byte, error) {
	return func(data []byte) ([]byte, error) {
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, err
		}
		for _, k := range keys {
			raw, ok := ev[k]
			if !ok || string(raw) == "null" {
				continue
			}
			var contact map[string]json.RawMessage
			if err := json.Unmarshal(raw, &contact); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			phones, ok := contact["phones"]
			if !ok || string(phones) == "null" {
				continue // erased, or absent: nothing to split
			}
			var joined string
			if err := json.Unmarshal(phones, &joined); err != nil {
				return nil, fmt.Errorf("%s.phones: %w", k, err)
			}
			list := []string{}
			for p := range strings.SplitSeq(joined, ",") {
				if p = strings.TrimSpace(p); p != "" {
					list = append(list, p)
				}
			}
			var err error
			if contact["phones"], err = json.Marshal(list); err != nil {
				return nil, err
			}
			if ev[k], err = json.Marshal(contact); err != nil {
				return nil, err
			}
		}
		return json.Marshal(ev)
	}
}
