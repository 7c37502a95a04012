package audit

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// TestAudit_ApplyTakesPreparedRowsOnlyForTheirOwnEvent: an event of a
// stream without a replay gets the rows Prepare made for it when the batch
// carries them, and its own rows when what is prepared at its position is
// another event's (a batch read again after a rebuild was restarted, say).
func TestAudit_ApplyTakesPreparedRowsOnlyForTheirOwnEvent(t *testing.T) {
	ev := eventstore.Event{ID: uuid.New(), StreamID: "login-" + uuid.NewString(), Version: 1, Position: 7,
		Type: "SignedIn", Data: []byte(`{"outcome":"ok","attempt":2}`), RecordedAt: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC),
		Metadata: eventstore.Metadata{ActorUserID: "u1", Command: "SignIn"}}
	own := prepareUnfolded(projections.SQLite, ev)
	if own.err != nil || len(own.changes) != 2 || own.event[len(own.event)-1] != 2 {
		t.Fatalf("prepareUnfolded = %+v, want two changes", own)
	}
	prepared := Projection{}.Prepare(projections.SQLite, []eventstore.Event{ev}).(preparedRows)
	if !reflect.DeepEqual(prepared[ev.Position], own) {
		t.Errorf("Prepare gave %+v, want %+v", prepared[ev.Position], own)
	}

	// A prepared result is what apply writes: marked, to tell it apart.
	marked := own
	marked.changes = [][]any{{ev.Position, 1, "marked", nil, `"prepared"`}}
	b := &auditBatch{d: projections.SQLite, hours: map[int64][2]int64{}, prepared: preparedRows{ev.Position: marked}}
	if err := b.apply(ev); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.changes, marked.changes) {
		t.Errorf("with its own prepared rows, apply wrote %v, want %v", b.changes, marked.changes)
	}

	// Another event's rows at the same position are not taken.
	other := marked
	other.id = uuid.New()
	b = &auditBatch{d: projections.SQLite, hours: map[int64][2]int64{}, prepared: preparedRows{ev.Position: other}}
	if err := b.apply(ev); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.changes, own.changes) || !reflect.DeepEqual(b.events, [][]any{own.event}) {
		t.Errorf("with another event's prepared rows, apply wrote %v %v, want %v %v", b.events, b.changes, [][]any{own.event}, own.changes)
	}

	// Bad data fails the event, prepared or not.
	bad := ev
	bad.Data = []byte(`{"outcome":`)
	for _, prep := range []preparedRows{nil, Projection{}.Prepare(projections.SQLite, []eventstore.Event{bad}).(preparedRows)} {
		b = &auditBatch{d: projections.SQLite, hours: map[int64][2]int64{}, prepared: prep}
		if err := b.apply(bad); err == nil {
			t.Errorf("apply of invalid data (prepared %v) succeeded", prep != nil)
		}
	}
}
