package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Event is a fact of an aggregate's streams. Its type name is stable: a
// change of shape gets a new name, and an upcaster from the old one.
type Event interface {
	EventType() string
}

// EventDecoder is one entry of a Registry: an event's type name and how its
// stored JSON becomes the event. Build it with EventOf.
type EventDecoder struct {
	name   string
	decode func(data []byte) (Event, error)
}

// EventOf registers the event type T under the name T's zero value gives
// (so a name and its type can never disagree). Each normalise function
// then corrects a decoded value, for stored shapes the type still reads
// but no longer writes.
func EventOf[T Event](normalise ...func(T) T) EventDecoder {
	var zero T
	return EventDecoder{name: zero.EventType(), decode: func(data []byte) (Event, error) {
		var v T
		if len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, &v); err != nil {
				return nil, err
			}
		}
		for _, n := range normalise {
			v = n(v)
		}
		return v, nil
	}}
}

// Upcaster brings an event stored under an older type name or shape to the
// current one; a type it does not know comes back unchanged.
type Upcaster func(eventType string, data []byte) (string, []byte, error)

// Registry is one aggregate's events: each type name and its decoder. It
// is built once, at package initialisation, and only read afterwards.
type Registry struct {
	types  map[string]func([]byte) (Event, error)
	upcast Upcaster
}

// NewRegistry lists an aggregate's event types. A name registered twice is
// a programming error and panics.
func NewRegistry(types ...EventDecoder) Registry {
	r := Registry{types: make(map[string]func([]byte) (Event, error), len(types))}
	for _, t := range types {
		if t.name == "" {
			panic("domain: event type without a name")
		}
		if _, dup := r.types[t.name]; dup {
			panic("domain: event type " + t.name + " registered twice")
		}
		r.types[t.name] = t.decode
	}
	return r
}

// Upcasting returns the registry with an upcaster run before every decode.
func (r Registry) Upcasting(u Upcaster) Registry {
	r.upcast = u
	return r
}

// Decode reads an event from its stored type name and JSON, the same way
// for every aggregate:
//   - an unknown type name is (nil, nil): another aggregate's event on a
//     shared stream, or a newer one older code skips;
//   - empty data (nothing, or only white space) and JSON null are the
//     type's zero value (events without fields, stored before they had any);
//   - anything else must be exactly one JSON value of the event's shape:
//     a syntax error, a field of the wrong type or trailing bytes after the
//     value are an error naming the type.
func (r Registry) Decode(eventType string, data []byte) (Event, error) {
	if r.upcast != nil {
		var err error
		if eventType, data, err = r.upcast(eventType, data); err != nil {
			return nil, err
		}
	}
	decode, ok := r.types[eventType]
	if !ok {
		return nil, nil
	}
	ev, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return ev, nil
}

// Types lists the registered type names, sorted.
func (r Registry) Types() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
