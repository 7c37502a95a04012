package projections

import (
	"encoding/json"
	"strings"

	"github.com/capacitytracker/capacity/eventstore"
)

// ErasedText is what the views show for a personal field whose data
// subject was erased (its key destroyed: the store reads it as null).
const ErasedText = "[erased]"

// MarkErased returns the event's data with each erased personal field
// (ev.Erased, null in ev.Data) set to ErasedText, or to a list holding it
// for a list of phone numbers, so that a view shows that something was
// there and was erased rather than an empty field. Events without erased
// fields come back as they are.
func MarkErased(ev eventstore.Event) []byte {
	if len(ev.Erased) == 0 {
		return ev.Data
	}
	var root map[string]any
	if err := json.Unmarshal(ev.Data, &root); err != nil {
		return ev.Data
	}
	for _, path := range ev.Erased {
		keys := strings.Split(path, ".")
		obj := root
		for _, k := range keys[:len(keys)-1] {
			next, ok := obj[k].(map[string]any)
			if !ok {
				obj = nil
				break
			}
			obj = next
		}
		last := keys[len(keys)-1]
		if obj == nil || obj[last] != nil {
			continue
		}
		if last == "phones" {
			obj[last] = []string{ErasedText}
		} else {
			obj[last] = ErasedText
		}
	}
	data, err := json.Marshal(root)
	if err != nil {
		return ev.Data
	}
	return data
}
