package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/google/uuid"
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

// importer is what an import (CQC's register, a GP practices file) knows
// of its records; runImport does the rest, the same way for every import.
// R is a record as it comes in, P a record checked.
type importer[R, P any] struct {
	// command names the import in the events' metadata.
	command string
	// where names record i of the import (counting from 0) in errors.
	where func(i int, r R) string
	// check normalises and checks a record before any stream is named
	// after it, and lists the streams its decision reads.
	check func(r R) (P, []string, error)
	// decide decides a checked record on the state of its streams: the
	// events of each stream it changes, in the order they are to be
	// appended, and whether the record is new to the tracker.
	decide func(s *importStreams, p P) (parts []importPart, created bool, err error)
}

// importPart is the events a record decided for one stream.
type importPart struct {
	stream string
	evs    []any
}

// runImport brings each record up to date (support or an operator). The
// records go in chunks of importChunkSize: the chunk's streams are read in
// one go, each record is decided on the state the records before it left
// (as if each were appended on its own), and the chunk's events are
// appended in one atomic AppendMany at the versions read. A refused record
// is counted and the import goes on. When a stream changed under the
// chunk (another writer won the race), nothing of it was written and the
// chunk is imported again record by record, each record decided and
// appended on its own with retries. It stops at the first failure of the
// store or the context, returning what the chunks before it did. An
// identical import appends nothing.
func runImport[R, P any](ctx context.Context, a *Service, actor Actor, imp importer[R, P], recs []R) (ImportSummary, error) {
	var sum ImportSummary
	if err := a.supportOnly(actor); err != nil {
		return sum, err
	}
	meta := actor.metadata(imp.command)
	// One correlation id for the whole import: the audit trail can show
	// everything one import changed.
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}
	for start := 0; start < len(recs); start += importChunkSize {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		chunk := recs[start:min(start+importChunkSize, len(recs))]
		part, err := importChunk(ctx, a, meta, imp, start, chunk)
		if redoAlone(err) {
			part, err = importAlone(ctx, a, meta, imp, start, chunk)
		}
		sum.add(part)
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// importChunk decides a chunk of records, the first of them record first
// of the import, on the state of their streams, read in one go, and
// appends what they decided in one AppendMany. On an error nothing of the
// chunk was written and its summary is empty; after one that redoAlone
// accepts the chunk can go again record by record.
func importChunk[R, P any](ctx context.Context, a *Service, meta eventstore.Metadata, imp importer[R, P], first int, recs []R) (ImportSummary, error) {
	var sum ImportSummary
	checked := make([]P, len(recs))
	invalid := make([]error, len(recs))
	var names []string
	for i, r := range recs {
		var streams []string
		if checked[i], streams, invalid[i] = imp.check(r); invalid[i] == nil {
			names = append(names, streams...)
		}
	}
	read, err := a.readStreams(ctx, names)
	if err != nil {
		return ImportSummary{}, err
	}
	wanted := make(map[string]bool, len(names))
	for _, n := range names {
		wanted[n] = true
	}
	state := newImportStreams(func(stream string) ([]eventstore.Event, error) {
		if !wanted[stream] {
			return nil, fmt.Errorf("read %s: not one of the chunk's streams", stream)
		}
		return read[stream], nil
	})
	var out chunkAppend
	outcomes := make([]string, len(recs))
	for i, p := range checked {
		if invalid[i] != nil {
			sum.reject(imp.where(first+i, recs[i]), invalid[i])
			continue
		}
		parts, created, err := imp.decide(state, p)
		if err != nil {
			if !refusedRecord(err) {
				return ImportSummary{}, fmt.Errorf("%s: %w", imp.where(first+i, recs[i]), err)
			}
			sum.reject(imp.where(first+i, recs[i]), err)
			continue
		}
		changed := false
		for _, part := range parts {
			data, err := encode(meta, "", part.evs...)
			if err != nil {
				return ImportSummary{}, fmt.Errorf("%s: %w", imp.where(first+i, recs[i]), err)
			}
			out.add(part.stream, state.version[part.stream], data)
			if err := state.apply(part.stream, data); err != nil {
				return ImportSummary{}, fmt.Errorf("%s: %w", imp.where(first+i, recs[i]), err)
			}
			changed = changed || len(data) > 0
		}
		outcomes[i] = outcome(changed, created)
	}
	var pos int64
	if len(out.reqs) > 0 {
		res, err := a.store.AppendMany(ctx, out.reqs)
		if err != nil {
			last := len(recs) - 1
			return ImportSummary{}, fmt.Errorf("%s to %s: %w", imp.where(first, recs[0]), imp.where(first+last, recs[last]), err)
		}
		pos = lastPosition(res)
	}
	for _, o := range outcomes {
		if o != "" {
			sum.tally(o, 0)
		}
	}
	sum.Position = pos
	return sum, nil
}

// importAlone imports a chunk of records one by one, each decided and
// appended on its own at the versions it reads, with retries.
func importAlone[R, P any](ctx context.Context, a *Service, meta eventstore.Metadata, imp importer[R, P], first int, recs []R) (ImportSummary, error) {
	var sum ImportSummary
	for i, r := range recs {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		outcome, pos, err := importOne(ctx, a, meta, imp, r)
		if err != nil {
			if !refusedRecord(err) {
				return sum, fmt.Errorf("%s: %w", imp.where(first+i, r), err)
			}
			sum.reject(imp.where(first+i, r), err)
			continue
		}
		sum.tally(outcome, pos)
	}
	return sum, nil
}

// importOne reads, decides and appends one record on its own, deciding
// again when it loses a race.
func importOne[R, P any](ctx context.Context, a *Service, meta eventstore.Metadata, imp importer[R, P], r R) (string, int64, error) {
	p, _, err := imp.check(r)
	if err != nil {
		return "", 0, err
	}
	result, pos := "", int64(0)
	err = retry(ctx, func() error {
		state := newImportStreams(func(stream string) ([]eventstore.Event, error) {
			evs, err := a.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", stream, err)
			}
			return evs, nil
		})
		parts, created, err := imp.decide(state, p)
		if err != nil {
			return err
		}
		var reqs []eventstore.AppendRequest
		for _, part := range parts {
			if len(part.evs) == 0 {
				continue
			}
			data, err := encode(meta, "", part.evs...)
			if err != nil {
				return err
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: part.stream, Expected: expect(state.version[part.stream]), Events: data})
		}
		if len(reqs) == 0 {
			result = importUnchanged
			return nil
		}
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return err
		}
		result, pos = outcome(true, created), lastPosition(res)
		return nil
	})
	return result, pos, err
}

// outcome is a record's outcome: whether it appended anything, and
// whether it was new to the tracker.
func outcome(changed, created bool) string {
	switch {
	case !changed:
		return importUnchanged
	case created:
		return importCreated
	default:
		return importChanged
	}
}

// importStreams is the state an import record is decided on: the
// locations and organisations it names, folded from their streams (read
// by read, once each), then with the events of the records before it, and
// the version each stream was read at, which its append expects.
type importStreams struct {
	read    func(stream string) ([]eventstore.Event, error)
	locs    map[string]location.Location
	orgs    map[string]location.Organisation
	version map[string]int64
}

func newImportStreams(read func(stream string) ([]eventstore.Event, error)) *importStreams {
	return &importStreams{read: read, locs: map[string]location.Location{}, orgs: map[string]location.Organisation{},
		version: map[string]int64{}}
}

// location is the state of a location.
func (s *importStreams) location(id location.ID) (location.Location, error) {
	stream := id.LocationStream()
	if l, ok := s.locs[stream]; ok {
		return l, nil
	}
	evs, err := s.read(stream)
	if err != nil {
		return location.Location{}, err
	}
	l, err := foldStream(location.Location{}, location.EvolveLocation, stream, evs)
	if err != nil {
		return location.Location{}, fmt.Errorf("read %s: %w", stream, err)
	}
	s.locs[stream], s.version[stream] = l, l.Version
	return l, nil
}

// organisation is the state of an organisation.
func (s *importStreams) organisation(id location.ID) (location.Organisation, error) {
	stream := id.OrganisationStream()
	if o, ok := s.orgs[stream]; ok {
		return o, nil
	}
	evs, err := s.read(stream)
	if err != nil {
		return location.Organisation{}, err
	}
	o, err := foldStream(location.Organisation{}, location.EvolveOrganisation, stream, evs)
	if err != nil {
		return location.Organisation{}, fmt.Errorf("read %s: %w", stream, err)
	}
	s.orgs[stream], s.version[stream] = o, o.Version
	return o, nil
}

// apply folds the events about to be appended to a stream, so that a
// later record of the same chunk decides on the state it would read had
// each record been appended on its own.
func (s *importStreams) apply(stream string, data []eventstore.EventData) error {
	var err error
	if l, ok := s.locs[stream]; ok {
		s.locs[stream], err = foldStream(l, location.EvolveLocation, stream, pending(data))
	} else if o, ok := s.orgs[stream]; ok {
		s.orgs[stream], err = foldStream(o, location.EvolveOrganisation, stream, pending(data))
	}
	return err
}

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

// readStreams reads the streams of a chunk in one round trip.
func (a *Service) readStreams(ctx context.Context, streams []string) (map[string][]eventstore.Event, error) {
	evs, err := a.store.ReadStreams(ctx, streams)
	if err != nil {
		return nil, fmt.Errorf("read %d streams: %w", len(streams), err)
	}
	return evs, nil
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
// later record of the same chunk folds.
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
