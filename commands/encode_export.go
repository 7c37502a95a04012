package commands

import "github.com/capacitytracker/capacity/eventstore"

// EncodeEvents turns domain events into events to append, as the commands
// do: typed by their EventType, each with a fresh id, their personal
// fields (PersonalPaths) sealed under subject. For tools that build
// streams themselves (capacityctl seed).
func EncodeEvents(meta eventstore.Metadata, subject string, evs ...any) ([]eventstore.EventData, error) {
	return encode(meta, subject, evs...)
}
