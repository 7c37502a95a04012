package projections

import (
	"context"
	"fmt"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/eventstore"
)

// An erasure (erasure.PersonErased) deletes the person's data-subject key
// in the transaction that appends it: from then on every personal field
// sealed under the key reads as erased in the log. The views still hold
// the copies they made before; each projection whose tables hold personal
// data implements Eraser and, when PersonErased reaches it, rewrites in
// place the rows that hold the person's data, to exactly what a rebuild
// after the erasure would write (the values re-read from the log, now
// erased). It does so in the transaction of that event with the
// checkpoint, like any event: no rebuild, and the work is the size of the
// person's rows, not of the log.

// PersonalColumns declares the columns of a table that hold data
// subjects' personal data, and where each row keeps the ids of the
// subjects those columns belong to: Subjects names columns of the table
// (user_id, whose subject is account.Subject(user_id)), or a field of the
// JSON entries of a column ("contacts[].contact_id": each contact's
// location.ContactSubject).
type PersonalColumns struct {
	Table    string
	Subjects []string
	Columns  []string
}

// Eraser is implemented by every projection whose tables hold personal
// data (TestProjections_EveryPersonalColumnIsDeclared checks that none
// forgets). Personal declares those columns; Erase applies a
// PersonErased event: it is called from Apply, and from ApplyBatch at the
// event's place in the batch, in the batch's transaction.
type Eraser interface {
	Personal() []PersonalColumns
	Erase(ctx context.Context, tx Tx, tables func(string) string, ev eventstore.Event, e erasure.PersonErased) error
}

// personErased returns the PersonErased of an event of an erasure stream;
// ok is false for every other event.
func personErased(ev eventstore.Event) (erasure.PersonErased, bool, error) {
	if ev.Category() != "erasure" {
		return erasure.PersonErased{}, false, nil
	}
	d, err := erasure.Decode(ev.Type, ev.Data)
	if err != nil {
		return erasure.PersonErased{}, false, err
	}
	e, ok := d.(erasure.PersonErased)
	return e, ok, nil
}

// ApplyErasure calls p.Erase when ev is an erasure; done reports whether
// it was (or could not be decoded), and Apply has nothing more to do.
func ApplyErasure(ctx context.Context, tx Tx, tables func(string) string, ev eventstore.Event, p Eraser) (done bool, err error) {
	e, ok, err := personErased(ev)
	if err != nil || !ok {
		return err != nil, err
	}
	if err := p.Erase(ctx, tx, tables, ev, e); err != nil {
		return true, fmt.Errorf("erasure %s: %w", e.ErasureID, err)
	}
	return true, nil
}

// ApplyAroundErasures hands batch the runs of evs between erasures and
// erase each erasure, in log order, so that an ApplyBatch has the same
// effect as Apply event by event: the rows a batch holds in memory are
// written before an erasure rewrites them. With withErasures, the run
// before an erasure ends with it (a view that records every event, such
// as the audit, records the erasure too).
func ApplyAroundErasures(evs []eventstore.Event, withErasures bool, batch func([]eventstore.Event) error,
	erase func(eventstore.Event, erasure.PersonErased) error) error {
	start := 0
	for i, ev := range evs {
		e, ok, err := personErased(ev)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		end := i
		if withErasures {
			end = i + 1
		}
		if end > start {
			if err := batch(evs[start:end]); err != nil {
				return err
			}
		}
		if err := erase(ev, e); err != nil {
			return fmt.Errorf("erasure %s: %w", e.ErasureID, err)
		}
		start = i + 1
	}
	if start < len(evs) {
		return batch(evs[start:])
	}
	return nil
}

// ReadStreamUpTo reads a stream's events up to position upTo (the
// erasure's) from the log, through the projection's transaction, with
// their personal fields opened as the store opens them: those of erased
// subjects read as null (Event.Erased).
func ReadStreamUpTo(ctx context.Context, tx Tx, streamID string, upTo int64) ([]eventstore.Event, error) {
	log := tx.events()
	rows, err := tx.QueryContext(ctx, log.EventColumns()+`WHERE e.stream_id = ? AND e.position <= ? ORDER BY e.stream_version`, streamID, upTo)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", streamID, err)
	}
	defer rows.Close()
	var out []eventstore.Event
	for rows.Next() {
		ev, err := log.ScanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", streamID, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", streamID, err)
	}
	return out, rows.Close()
}

// ErasedUser is the user of a user erasure: the user id, and the events of
// their account's stream up to the erasure, read from the log again (so
// with the personal fields erased). ok is false for any other erasure.
func ErasedUser(ctx context.Context, tx Tx, ev eventstore.Event, e erasure.PersonErased) (string, []eventstore.Event, bool, error) {
	if e.Kind != erasure.KindUser || e.UserID == "" {
		return "", nil, false, nil
	}
	evs, err := ReadStreamUpTo(ctx, tx, "user-"+e.UserID, ev.Position)
	if err != nil {
		return "", nil, false, err
	}
	return e.UserID, evs, true, nil
}

// UserCreations calls fn with each account-creating event of a user's
// stream, decoded from data (the event's data as the projection reads
// it: with or without markErased).
func UserCreations(evs []eventstore.Event, data func(eventstore.Event) []byte, fn func(account.Event)) error {
	for _, ev := range evs {
		d, err := account.Decode(ev.Type, data(ev))
		if err != nil {
			return err
		}
		switch d.(type) {
		case account.UserRegistered, account.RegisteredManagerImported, account.SupportUserCreated, account.GenericAccountCreated:
			fn(d)
		}
	}
	return nil
}

// RawData is an event's data as the store opened it (erased fields null).
func RawData(ev eventstore.Event) []byte { return ev.Data }
