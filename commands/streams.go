package commands

// Reading and writing streams, the plumbing every command shares: a
// stream read whole, domain events encoded for the log, the expected
// version of an append, a command retried when it lost a race, and the
// position a command reports.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/eventstore"
)

// encode turns domain events into events to append, sealing their personal
// fields under subject.
func encode(meta eventstore.Metadata, subject string, evs ...any) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, 0, len(evs))
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}
	for _, ev := range evs {
		typed, ok := ev.(interface{ EventType() string })
		if !ok {
			return nil, fmt.Errorf("encode %T: no event type", ev)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", typed.EventType(), err)
		}
		ed := eventstore.EventData{ID: uuid.New(), Type: typed.EventType(), Data: data, Metadata: meta}
		if p, ok := ev.(account.PersonalData); ok && subject != "" {
			for _, path := range p.PersonalPaths() {
				ed.Personal = append(ed.Personal, eventstore.PersonalField{Path: path, Subject: subject})
			}
		}
		out = append(out, ed)
	}
	return out, nil
}

func encodeAccount(meta eventstore.Metadata, subject string, evs []account.Event) ([]eventstore.EventData, error) {
	anys := make([]any, len(evs))
	for i, e := range evs {
		anys[i] = e
	}
	return encode(meta, subject, anys...)
}

func (a *Service) readStream(ctx context.Context, stream string, apply func(ev eventstore.Event) error) error {
	evs, err := a.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	for _, ev := range evs {
		if err := apply(ev); err != nil {
			return fmt.Errorf("%s version %d: %w", stream, ev.Version, err)
		}
	}
	return nil
}

// retry runs a decide-and-append step again when a stream it read changed
// before its append (another request won the race): the step reloads and
// decides on the new state.
func retry(ctx context.Context, step func() error) error {
	var err error
	for attempt := range retryAttempts {
		err = step()
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || ctx.Err() != nil {
			return err
		}
		// A short random pause spreads out requests that keep colliding
		// on one stream (a burst of logins to one account, say).
		pause := time.Duration(mathrand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return err
}

// retryAttempts bounds how often a command decides again after losing a race.
const retryAttempts = 10

// Result is what a command appended: the position of its last event, for
// read-your-writes queries.
type Result struct {
	Position int64 `json:"position"`
}

func lastPosition(rs []eventstore.AppendResult) int64 {
	var p int64
	for _, r := range rs {
		p = max(p, r.LastPosition())
	}
	return p
}

// expect is the expected version of a stream read at version v.
func expect(v int64) eventstore.ExpectedVersion {
	if v == 0 {
		return eventstore.NoStream
	}
	return eventstore.Exact(v)
}
