package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// importChunkSize is how many records of an import (CQC's register, a GP
// practices file) are decided together: their streams are read in one
// ReadStreams and their events appended in one AppendMany, instead of two
// or three round trips per record. A chunk of CQC records touches at most
// two streams per record, well under eventstore.MaxStreamsPerRequest.
const importChunkSize = 500

// Outcomes of one record of an import.
const (
	importCreated   = "created"
	importChanged   = "changed"
	importUnchanged = "unchanged"
)

// chunkAppend gathers the events a chunk of import records decided: one
// request per stream, expecting the version the chunk read, in the order
// the chunk first touched the streams (an organisation before the first
// location that names it).
type chunkAppend struct {
	reqs  []eventstore.AppendRequest
	index map[string]int
}

// add queues events for a stream read at version read.
func (c *chunkAppend) add(stream string, read int64, evs []eventstore.EventData) {
	if len(evs) == 0 {
		return
	}
	if c.index == nil {
		c.index = map[string]int{}
	}
	i, ok := c.index[stream]
	if !ok {
		i = len(c.reqs)
		c.index[stream] = i
		c.reqs = append(c.reqs, eventstore.AppendRequest{StreamID: stream, Expected: expect(read)})
	}
	c.reqs[i].Events = append(c.reqs[i].Events, evs...)
}

// redoAlone tells an error of a chunk's AppendMany after which the chunk
// is imported again record by record, each record on its own at the
// versions it reads then: a stream changed since the chunk read it (another
// writer won the race), or one record's events broke a limit of the store
// that, appended alone, refuses that record only. Nothing of the chunk was
// written: AppendMany is all or nothing.
func redoAlone(err error) bool {
	return errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, eventstore.ErrEventTooLarge) ||
		errors.Is(err, eventstore.ErrInvalidEvent) || errors.Is(err, eventstore.ErrTooManyEvents)
}

// readStreams reads the streams of a chunk in one round trip.
func (a *Service) readStreams(ctx context.Context, streams []string) (map[string][]eventstore.Event, error) {
	evs, err := a.store.ReadStreams(ctx, streams)
	if err != nil {
		return nil, fmt.Errorf("read %d streams: %w", len(streams), err)
	}
	return evs, nil
}

// foldOrganisation is an organisation's state after evs, as
// loadOrganisation reads it.
func foldOrganisation(o location.Organisation, stream string, evs []eventstore.Event) (location.Organisation, error) {
	return foldStream(o, location.EvolveOrganisation, stream, evs)
}

// foldLocation is a location's state after evs, as loadLocation reads it.
func foldLocation(l location.Location, stream string, evs []eventstore.Event) (location.Location, error) {
	return foldStream(l, location.EvolveLocation, stream, evs)
}

// foldStream is a state after the events evs of stream, each decoded as
// the organisation and location streams' events are, folded by evolve.
func foldStream[S any](s S, evolve func(S, any) S, stream string, evs []eventstore.Event) (S, error) {
	for _, ev := range evs {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return s, fmt.Errorf("%s version %d: %w", stream, ev.Version, err)
		}
		s = evolve(s, d)
	}
	return s, nil
}

// pending turns events about to be appended into the stored shape that a
// later record of the same chunk folds, so that it decides on the state
// it would read had each record been appended on its own.
func pending(data []eventstore.EventData) []eventstore.Event {
	out := make([]eventstore.Event, len(data))
	for i, d := range data {
		out[i] = eventstore.Event{Type: d.Type, Data: d.Data}
	}
	return out
}

// tally counts one record's outcome.
func (s *ImportSummary) tally(outcome string, pos int64) {
	switch outcome {
	case importCreated:
		s.Created++
	case importChanged:
		s.Changed++
	default:
		s.Unchanged++
	}
	s.Position = max(s.Position, pos)
}

// reject counts a refused record.
func (s *ImportSummary) reject(where string, err error) {
	s.Rejected++
	s.Errors = append(s.Errors, where+": "+reason(err))
}

// add adds another part's counts.
func (s *ImportSummary) add(o ImportSummary) {
	s.Created += o.Created
	s.Changed += o.Changed
	s.Unchanged += o.Unchanged
	s.Rejected += o.Rejected
	s.Errors = append(s.Errors, o.Errors...)
	s.Position = max(s.Position, o.Position)
}
