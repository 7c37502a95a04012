// Package seed is `capacityctl seed`: it generates a realistic national
// data set (CQC providers and their locations across England's regions,
// GP practices, and a year of what the locations' users did to their
// details) and appends it to an empty event store, for demos and
// benchmarks.
//
// Every stream is built by the domain's own decisions (the Decide*
// functions of domain/location) folded with its Evolve functions, at the
// versions the real commands would have expected, so the data set is one
// the product could have produced. Generation is deterministic: the same
// options give the same ids, names and event sequences (event ids and the
// run's correlation id excepted). It must never write to a database that
// holds locations or organisations already.
package seed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/eventstore"
)

// Defaults and bounds of the options.
const (
	DefaultLocations    = 25000
	DefaultGPPractices  = 2000
	DefaultBatchStreams = 250
	DefaultWorkers      = 4
	MaxWorkers          = 32
	MaxLocations        = 1_000_000
	MaxGPPractices      = 20_000
	// maxBatchEvents bounds the events of one AppendMany, whatever the
	// number of streams.
	maxBatchEvents = 5000
)

// Options say what to generate.
type Options struct {
	Locations   int    // CQC locations, spread over providers of 1 to a few hundred
	GPPractices int    // GP practices (organisations of type GP)
	Seed        uint64 // the same seed gives the same data set
	// Now is the end of the year of history. Zero means the start of the
	// current week (Monday 00:00 UTC): every date is drawn as a span
	// before Now and the weekends fall on the same days, so the same seed
	// gives the same data set, moved by whole weeks, whenever it runs.
	Now time.Time
	// BatchStreams is the number of streams appended by one AppendMany
	// (0: DefaultBatchStreams).
	BatchStreams int
	// Workers is the number of batches of locations appended at once
	// (0: DefaultWorkers).
	Workers int
}

func (o Options) withDefaults() Options {
	if o.Now.IsZero() {
		today := time.Now().UTC().Truncate(24 * time.Hour)
		o.Now = today.AddDate(0, 0, -(int(today.Weekday())+6)%7)
	}
	o.Now = o.Now.UTC().Truncate(time.Second)
	if o.BatchStreams == 0 {
		o.BatchStreams = DefaultBatchStreams
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	return o
}

// Validate checks the options' bounds.
func (o Options) Validate() error {
	switch {
	case o.Locations < 1 || o.Locations > MaxLocations:
		return fmt.Errorf("the number of locations must be 1 to %d, not %d", MaxLocations, o.Locations)
	case o.GPPractices < 0 || o.GPPractices > MaxGPPractices:
		return fmt.Errorf("the number of GP practices must be 0 to %d, not %d", MaxGPPractices, o.GPPractices)
	case o.BatchStreams < 0 || o.BatchStreams > eventstore.MaxStreamsPerRequest:
		return fmt.Errorf("the streams of a batch must be 1 to %d, not %d", eventstore.MaxStreamsPerRequest, o.BatchStreams)
	case o.Workers < 0 || o.Workers > MaxWorkers:
		return fmt.Errorf("the workers must be 1 to %d, not %d", MaxWorkers, o.Workers)
	}
	return nil
}

// Kind is what a stream is.
type Kind int

// The kinds of streams of the data set.
const (
	KindGPPractice Kind = iota + 1 // organisation-<practice code>, of type GP
	KindProvider                   // organisation-<CQC provider id>
	KindLocation                   // location-<CQC location id>
)

// Stream is a generated stream, whole: it is appended at NoStream.
type Stream struct {
	ID     string
	Kind   Kind
	Events []Event
}

// Event is a domain event of package location and the data subject its
// personal fields are sealed under ("" for none).
type Event struct {
	Data    any
	Subject string
}

// Summary counts what a run appended.
type Summary struct {
	Locations     int
	Organisations int // CQC providers
	GPPractices   int
	Events        int64
	Elapsed       time.Duration
}

// ErrNotEmpty: the database holds locations or organisations already.
var ErrNotEmpty = errors.New("the database is not empty: seed fills only a database without locations or organisations (use a fresh database or data directory)")

// Run generates the data set and appends it, a batch of streams per
// AppendMany, calling progress (when not nil, never concurrently) after
// each batch. Organisations are appended in order, each batch before the
// locations that follow it; batches of locations are appended by
// opts.Workers at once (their streams are independent), so that the
// round trips of one overlap the others'. It refuses a database that
// holds a location or organisation stream. A failure leaves the batches
// appended until then.
func Run(ctx context.Context, store eventstore.Store, opts Options, progress func(Summary)) (Summary, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return Summary{}, err
	}
	for _, category := range []string{"location", "organisation"} {
		list, err := store.ListStreams(ctx, eventstore.ListStreamsOptions{Category: category, Limit: 1})
		if err != nil {
			return Summary{}, fmt.Errorf("list %s streams: %w", category, err)
		}
		if len(list) > 0 {
			return Summary{}, fmt.Errorf("%w: it has %s", ErrNotEmpty, list[0].StreamID)
		}
	}
	meta := eventstore.Metadata{
		CorrelationID:    uuid.NewString(),
		ActorAccountKind: eventstore.AccountSystem,
		SessionID:        "system:seed",
		Command:          "Seed",
	}
	started := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Generating and encoding (JSON) runs beside the appends.
	batches := make(chan batch, opts.Workers)
	generated := make(chan error, 1)
	go func() {
		defer close(batches)
		generated <- encodeBatches(ctx, opts, meta, batches)
	}()

	var (
		mu       sync.Mutex
		sum      Summary
		firstErr error
	)
	appendBatch := func(b batch) {
		_, err := store.AppendMany(ctx, b.reqs)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("append streams %s to %s: %w", b.reqs[0].StreamID, b.reqs[len(b.reqs)-1].StreamID, err)
				cancel()
			}
			return
		}
		sum.Locations += b.sum.Locations
		sum.Organisations += b.sum.Organisations
		sum.GPPractices += b.sum.GPPractices
		sum.Events += b.sum.Events
		sum.Elapsed = time.Since(started)
		if progress != nil {
			progress(sum)
		}
	}
	locations := make(chan batch)
	var workers sync.WaitGroup
	for range opts.Workers {
		workers.Go(func() {
			for b := range locations {
				appendBatch(b)
			}
		})
	}
	for b := range batches {
		switch {
		case ctx.Err() != nil: // failed: let the generator stop
		case b.locations:
			select {
			case locations <- b:
			case <-ctx.Done():
			}
		default:
			// Organisations: appended before anything that follows.
			appendBatch(b)
		}
	}
	close(locations)
	workers.Wait()
	genErr := <-generated
	mu.Lock()
	defer mu.Unlock()
	switch {
	case firstErr != nil:
		return sum, firstErr
	case genErr != nil:
		return sum, genErr
	}
	sum.Elapsed = time.Since(started)
	return sum, nil
}

// batch is the streams of one AppendMany: organisations only, or
// locations only.
type batch struct {
	locations bool
	reqs      []eventstore.AppendRequest
	sum       Summary
}

func (b *batch) count(k Kind, events int) {
	switch k {
	case KindLocation:
		b.sum.Locations++
	case KindProvider:
		b.sum.Organisations++
	case KindGPPractice:
		b.sum.GPPractices++
	}
	b.sum.Events += int64(events)
}

// encodeBatches generates the data set, encodes its events and sends them
// in batches.
func encodeBatches(ctx context.Context, opts Options, meta eventstore.Metadata, out chan<- batch) error {
	var cur batch
	send := func() error {
		if len(cur.reqs) == 0 {
			return nil
		}
		select {
		case out <- cur:
			cur = batch{}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := Generate(opts, func(s Stream) error {
		if isLocation := s.Kind == KindLocation; isLocation != cur.locations {
			if err := send(); err != nil {
				return err
			}
			cur.locations = isLocation
		}
		data := make([]eventstore.EventData, 0, len(s.Events))
		for _, ev := range s.Events {
			ed, err := commands.EncodeEvents(meta, ev.Subject, ev.Data)
			if err != nil {
				return fmt.Errorf("stream %s: %w", s.ID, err)
			}
			data = append(data, ed...)
		}
		cur.reqs = append(cur.reqs, eventstore.AppendRequest{StreamID: s.ID, Expected: eventstore.NoStream, Events: data})
		cur.count(s.Kind, len(data))
		if len(cur.reqs) >= opts.BatchStreams || cur.sum.Events >= maxBatchEvents {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return send()
}

// chunkLocations is about how many locations' providers Generate emits
// before those locations: it holds a chunk's CQC records at a time.
const chunkLocations = 2000

// Generate builds the data set and hands each stream to emit, in the
// order to append them: the GP practices, then chunks of providers, each
// chunk's provider streams before its location streams (so that every
// organisation a location names, and every practice it links, is in the
// log before it). It does no I/O.
func Generate(opts Options, emit func(Stream) error) error {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	g := newGenerator(opts)
	for range opts.GPPractices {
		s, err := g.gpPractice()
		if err != nil {
			return err
		}
		if err := emit(s); err != nil {
			return err
		}
	}
	// A few national groups of hundreds of locations (one for each
	// 5,000), then providers of one to twenty, most of them single-site.
	groups := min(opts.Locations/5000, len(nationalGroups))
	for remaining, i := opts.Locations, 0; remaining > 0; {
		var chunk []provider
		for n := 0; n < chunkLocations && remaining > 0; i++ {
			var org *organisation
			if i < groups {
				org = g.nationalGroup(i, min(100+g.r.IntN(300), remaining))
			} else {
				org = g.localProvider(min(g.providerSize(), remaining))
			}
			n, remaining = n+org.size, remaining-org.size
			chunk = append(chunk, g.provider(org))
		}
		for _, p := range chunk {
			if err := emit(p.stream); err != nil {
				return err
			}
		}
		for _, p := range chunk {
			for j, rec := range p.recs {
				s, err := g.locationStream(p.org, rec, p.refs[j])
				if err != nil {
					return fmt.Errorf("location %s: %w", rec.LocationID, err)
				}
				if err := emit(s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// newUUID is a version 4 UUID drawn from the generator's source, so that
// ids are the same on every run with the same seed.
func newUUID(r *rand.Rand) uuid.UUID {
	var u uuid.UUID
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			u[i+j] = byte(v >> (8 * j))
		}
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}
