// Package storetest is the conformance suite that every eventstore.Store
// implementation must pass. A backend's test calls Run with a constructor of
// fresh, empty stores; each case runs as a parallel subtest on its own store.
//
// The suite drives the store only through the eventstore.Store interface,
// plus one optional hook (Options.RawData) for looking at a stored row as the
// database holds it. It must not depend on any backend.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

// Options adapts the suite to a backend.
type Options struct {
	// RawData returns the data of a stored event exactly as the database
	// holds it, before any decryption. The suite uses it to check that
	// personal fields are not stored in plain text; when it is nil that one
	// check is left out.
	RawData func(t *testing.T, store eventstore.Store, eventID uuid.UUID) []byte
	// Exec runs a statement (? placeholders) directly on the store's
	// database, bypassing the store: the tamper tests edit stored rows
	// with it. When it is nil those tests are left out.
	Exec func(t *testing.T, store eventstore.Store, query string, args ...any)
}

// Run runs the conformance suite. newStore returns a fresh, empty store and
// registers its own cleanup on the t it is given.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store, opts Options) {
	cases := []struct {
		name string
		test func(t *testing.T, s eventstore.Store, opts Options)
	}{
		{"ExpectedVersion", testExpectedVersion},
		{"IdempotentRetry_ReturnsOriginalResult", testIdempotentRetry},
		{"IdempotentRetry_AppendMany", testIdempotentRetryMany},
		{"PartlyStoredEventIDs_AreRejected", testPartialOverlap},
		{"FailingMultiEventAppend_WritesNothing", testAtomicAppend},
		{"FailingAppendMany_WritesNoStream", testAtomicAppendMany},
		{"AppendMany_AppendsToEveryStream", testAppendMany},
		{"ReadAll_IsInPositionOrderAndPages", testOrdering},
		{"ReadStream_Bounds", testReadStreamBounds},
		{"ReadStreams_ReadsEachStreamAsReadStream", testReadStreams},
		{"ReadCategory", testReadCategory},
		{"ListStreams", testListStreams},
		{"HeadPosition", testHeadPosition},
		{"Limits", testLimits},
		{"Metadata_RoundTrips", testMetadata},
		{"PersonalData_IsSealedAndShredded", testPersonalData},
		{"ConcurrentWriters_ReaderSeesEveryEventOnce", testConcurrency},
		{"InTx_RowsAndEventsCommitTogether", testInTxCommits},
		{"InTx_FailureRollsBackRowsAndEvents", testInTxRollsBack},
		{"InTx_VersionConflictIsWrongExpectedVersion", testInTxVersionConflict},
		{"InTx_ForgetSubjectCommitsOrRollsBackWithTheTransaction", testInTxForgetSubject},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, newStore(t), opts)
		})
	}
	t.Run("Chain", func(t *testing.T) {
		t.Parallel()
		testChain(t, newStore, opts)
	})
}

// --- helpers ---------------------------------------------------------------

func newEvent(eventType, data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: eventType, Data: json.RawMessage(data)}
}

func numbered(n int) []eventstore.EventData {
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = newEvent("Numbered", fmt.Sprintf(`{"n": %d}`, i+1))
	}
	return evs
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %s): %v", len(evs), stream, expected, err)
	}
	if res.StreamID != stream || len(res.Positions) != len(evs) || res.LastVersion-res.FirstVersion+1 != int64(len(evs)) {
		t.Fatalf("append to %s: inconsistent result %+v for %d events", stream, res, len(evs))
	}
	return res
}

func readStream(t *testing.T, s eventstore.Store, stream string, opts eventstore.ReadStreamOptions) []eventstore.Event {
	t.Helper()
	evs, err := s.ReadStream(context.Background(), stream, opts)
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	return evs
}

// settle waits until the global log shows every event committed so far:
// ReadAll may lag behind commits (a backend must hold back events while an
// earlier position can still appear, and on PostgreSQL that includes other
// tests' transactions on the same server). Stream reads do not lag, so the
// last position of every stream tells what to wait for.
func settle(t *testing.T, s eventstore.Store) int64 {
	t.Helper()
	ctx := context.Background()
	var last int64
	after := ""
	for {
		infos, err := s.ListStreams(ctx, eventstore.ListStreamsOptions{After: after, Limit: 1000})
		if err != nil {
			t.Fatalf("list streams: %v", err)
		}
		if len(infos) == 0 {
			break
		}
		for _, si := range infos {
			evs := readStream(t, s, si.StreamID, eventstore.ReadStreamOptions{FromVersion: si.Version})
			if len(evs) > 0 {
				last = max(last, evs[len(evs)-1].Position)
			}
		}
		after = infos[len(infos)-1].StreamID
	}
	deadline := time.Now().Add(settleTimeout)
	for {
		head, err := s.HeadPosition(ctx)
		if err != nil {
			t.Fatalf("head position: %v", err)
		}
		if head >= last {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("head position stays at %d, behind the committed position %d, for %s", head, last, settleTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const settleTimeout = 30 * time.Second

// readAll returns the whole global log once it shows every committed event.
func readAll(t *testing.T, s eventstore.Store) []eventstore.Event {
	t.Helper()
	settle(t, s)
	var out []eventstore.Event
	var from int64
	for {
		evs, err := s.ReadAll(context.Background(), from, 500)
		if err != nil {
			t.Fatalf("read all from %d: %v", from, err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		from = evs[len(evs)-1].Position
	}
}

func versions(evs []eventstore.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Version
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for v := from; v <= to; v++ {
		out = append(out, v)
	}
	return out
}

func sameInts(a, b []int64) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// jsonEqual compares JSON by meaning: PostgreSQL's JSONB reorders keys and
// drops white space.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored data is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("expected data is not JSON: %v: %s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

func wantWrongVersion(t *testing.T, err error, stream string, current int64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("got error %v, want ErrWrongExpectedVersion", err)
	}
	var wrong *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wrong) {
		t.Fatalf("error %v does not carry a *WrongExpectedVersionError", err)
	}
	if wrong.StreamID != stream || wrong.CurrentVersion != current {
		t.Fatalf("wrong expected version error names stream %q at version %d, want %q at %d", wrong.StreamID, wrong.CurrentVersion, stream, current)
	}
}

// --- cases -----------------------------------------------------------------

func testExpectedVersion(t *testing.T, s eventstore.Store, _ Options) {
	cases := []struct {
		name     string
		existing int // events in the stream before the append
		expected eventstore.ExpectedVersion
		wantErr  error // nil, ErrWrongExpectedVersion or ErrInvalidExpectedVersion
	}{
		{"AnyOnMissingStream", 0, eventstore.Any, nil},
		{"AnyOnExistingStream", 2, eventstore.Any, nil},
		{"NoStreamOnMissingStream", 0, eventstore.NoStream, nil},
		{"NoStreamOnExistingStream", 2, eventstore.NoStream, eventstore.ErrWrongExpectedVersion},
		{"StreamExistsOnExistingStream", 2, eventstore.StreamExists, nil},
		{"StreamExistsOnMissingStream", 0, eventstore.StreamExists, eventstore.ErrWrongExpectedVersion},
		{"ExactMatch", 2, eventstore.Exact(2), nil},
		{"ExactZeroOnMissingStream", 0, eventstore.Exact(0), nil},
		{"ExactBehind", 2, eventstore.Exact(1), eventstore.ErrWrongExpectedVersion},
		{"ExactAhead", 2, eventstore.Exact(5), eventstore.ErrWrongExpectedVersion},
		{"ExactZeroOnExistingStream", 2, eventstore.Exact(0), eventstore.ErrWrongExpectedVersion},
		{"ExactOnMissingStream", 0, eventstore.Exact(3), eventstore.ErrWrongExpectedVersion},
		{"InvalidValue", 2, eventstore.ExpectedVersion(-7), eventstore.ErrInvalidExpectedVersion},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stream := fmt.Sprintf("expected-%d", i)
			if c.existing > 0 {
				mustAppend(t, s, stream, eventstore.NoStream, numbered(c.existing)...)
			}
			ev := newEvent("Probed", `{"case": "`+c.name+`"}`)
			res, err := s.Append(context.Background(), stream, c.expected, ev)
			switch {
			case c.wantErr == nil:
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				want := int64(c.existing) + 1
				if res.FirstVersion != want || res.LastVersion != want || len(res.Positions) != 1 {
					t.Fatalf("result %+v, want version %d and one position", res, want)
				}
			case errors.Is(c.wantErr, eventstore.ErrWrongExpectedVersion):
				wantWrongVersion(t, err, stream, int64(c.existing))
			default:
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("got error %v, want %v", err, c.wantErr)
				}
				if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
					t.Fatalf("an invalid expected version must not read as a version conflict: %v", err)
				}
			}
			evs := readStream(t, s, stream, eventstore.ReadStreamOptions{})
			wantLen := c.existing
			if c.wantErr == nil {
				wantLen++
			}
			if !sameInts(versions(evs), seq(1, int64(wantLen))) {
				t.Fatalf("stream versions %v, want 1..%d", versions(evs), wantLen)
			}
		})
	}
}

func testIdempotentRetry(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	mustAppend(t, s, "retry-1", eventstore.NoStream, numbered(2)...)
	batch := numbered(3)
	first := mustAppend(t, s, "retry-1", eventstore.Exact(2), batch...)
	if first.FirstVersion != 3 || first.LastVersion != 5 {
		t.Fatalf("first append %+v, want versions 3..5", first)
	}
	before := len(readAll(t, s))

	for _, expected := range []eventstore.ExpectedVersion{eventstore.Exact(2), eventstore.Any, eventstore.NoStream, eventstore.StreamExists, eventstore.Exact(5)} {
		again, err := s.Append(ctx, "retry-1", expected, batch...)
		if err != nil {
			t.Fatalf("retry with expected %s: %v", expected, err)
		}
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("retry with expected %s returned %+v, want the original %+v", expected, again, first)
		}
	}
	// The stream moved on; a late retry still gets the original answer.
	mustAppend(t, s, "retry-1", eventstore.Any, numbered(1)...)
	again, err := s.Append(ctx, "retry-1", eventstore.Exact(2), batch...)
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("late retry returned %+v, %v; want the original %+v", again, err, first)
	}
	if after := len(readAll(t, s)); after != before+1 {
		t.Fatalf("ReadAll has %d events, want %d: a retry stored something", after, before+1)
	}
	evs := readStream(t, s, "retry-1", eventstore.ReadStreamOptions{})
	if !sameInts(versions(evs), seq(1, 6)) {
		t.Fatalf("stream versions %v, want 1..6", versions(evs))
	}
	for i, ev := range batch {
		if evs[2+i].ID != ev.ID || evs[2+i].Position != first.Positions[i] {
			t.Fatalf("event %d of the batch is %s at %d, want %s at %d", i, evs[2+i].ID, evs[2+i].Position, ev.ID, first.Positions[i])
		}
	}
}

func testIdempotentRetryMany(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	reqs := []eventstore.AppendRequest{
		{StreamID: "retrymany-a", Expected: eventstore.NoStream, Events: numbered(2)},
		{StreamID: "retrymany-b", Expected: eventstore.NoStream, Events: numbered(1)},
	}
	first, err := s.AppendMany(ctx, reqs)
	if err != nil {
		t.Fatalf("append many: %v", err)
	}
	again, err := s.AppendMany(ctx, reqs)
	if err != nil {
		t.Fatalf("retry append many: %v", err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("retry returned %+v, want the original %+v", again, first)
	}
	if n := len(readAll(t, s)); n != 3 {
		t.Fatalf("ReadAll has %d events after a retry, want 3", n)
	}
}

func testPartialOverlap(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	stored := numbered(2)
	mustAppend(t, s, "overlap-1", eventstore.NoStream, stored...)
	fresh := newEvent("Fresh", `{}`)

	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"SomeStoredSomeNew", "overlap-1", []eventstore.EventData{stored[1], fresh}},
		{"NewThenStored", "overlap-1", []eventstore.EventData{fresh, stored[0]}},
		{"StoredInAnotherOrder", "overlap-1", []eventstore.EventData{stored[1], stored[0]}},
		{"StoredInAnotherStream", "overlap-2", []eventstore.EventData{stored[0]}},
		{"AllStoredInAnotherStream", "overlap-2", stored},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, eventstore.Any, c.events...)
		if !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Errorf("%s: got error %v, want ErrDuplicateEventID", c.name, err)
		}
	}
	_, err := s.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "overlap-3", Expected: eventstore.Any, Events: []eventstore.EventData{fresh}},
		{StreamID: "overlap-1", Expected: eventstore.Any, Events: []eventstore.EventData{stored[0]}},
	})
	if !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Errorf("AppendMany with one stored event: got error %v, want ErrDuplicateEventID", err)
	}
	all := readAll(t, s)
	if len(all) != 2 {
		t.Fatalf("ReadAll has %d events, want the 2 first stored", len(all))
	}
	for _, ev := range all {
		if ev.ID == fresh.ID {
			t.Fatalf("the new event of a rejected append was stored")
		}
	}
}

func testAtomicAppend(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	mustAppend(t, s, "atomic-1", eventstore.NoStream, numbered(1)...)
	other := mustAppend(t, s, "atomic-2", eventstore.NoStream, numbered(1)...)
	otherID := readStream(t, s, "atomic-2", eventstore.ReadStreamOptions{})[0].ID

	// Wrong expected version: none of the events is written.
	_, err := s.Append(ctx, "atomic-1", eventstore.Exact(0), numbered(5)...)
	wantWrongVersion(t, err, "atomic-1", 1)

	// The last event's id is stored in another stream: the first ones must
	// not be written either.
	evs := numbered(3)
	evs = append(evs, eventstore.EventData{ID: otherID, Type: "Numbered", Data: json.RawMessage(`{}`)})
	if _, err := s.Append(ctx, "atomic-1", eventstore.Any, evs...); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("got error %v, want ErrDuplicateEventID", err)
	}

	// An invalid event anywhere in the batch rejects the whole batch.
	evs = numbered(3)
	evs[2].Data = json.RawMessage(`{"broken":`)
	if _, err := s.Append(ctx, "atomic-1", eventstore.Any, evs...); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("got error %v, want ErrInvalidEvent", err)
	}

	if got := versions(readStream(t, s, "atomic-1", eventstore.ReadStreamOptions{})); !sameInts(got, []int64{1}) {
		t.Fatalf("stream versions %v after failed appends, want [1]", got)
	}
	settle(t, s)
	head, err := s.HeadPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != other.LastPosition() {
		t.Fatalf("head position %d, want %d", head, other.LastPosition())
	}
	// The stream still takes the next version without a gap.
	res := mustAppend(t, s, "atomic-1", eventstore.Exact(1), numbered(2)...)
	if res.FirstVersion != 2 || res.LastVersion != 3 {
		t.Fatalf("append after failures got versions %d..%d, want 2..3", res.FirstVersion, res.LastVersion)
	}
}

func testAtomicAppendMany(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	mustAppend(t, s, "many-c", eventstore.NoStream, numbered(2)...)
	_, err := s.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "many-a", Expected: eventstore.NoStream, Events: numbered(2)},
		{StreamID: "many-b", Expected: eventstore.Any, Events: numbered(1)},
		{StreamID: "many-c", Expected: eventstore.Exact(1), Events: numbered(1)},
	})
	wantWrongVersion(t, err, "many-c", 2)

	// The conflict is in the first request this time.
	_, err = s.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "many-c", Expected: eventstore.NoStream, Events: numbered(1)},
		{StreamID: "many-a", Expected: eventstore.NoStream, Events: numbered(2)},
	})
	wantWrongVersion(t, err, "many-c", 2)

	// An invalid request anywhere rejects all of them.
	bad := numbered(1)
	bad[0].ID = uuid.Nil
	_, err = s.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "many-a", Expected: eventstore.NoStream, Events: numbered(2)},
		{StreamID: "many-b", Expected: eventstore.Any, Events: bad},
	})
	if !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("got error %v, want ErrInvalidEvent", err)
	}

	streams, err := s.ListStreams(ctx, eventstore.ListStreamsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 1 || streams[0].StreamID != "many-c" || streams[0].Version != 2 {
		t.Fatalf("streams after failed appends: %+v, want only many-c at version 2", streams)
	}
	if n := len(readAll(t, s)); n != 2 {
		t.Fatalf("ReadAll has %d events, want 2", n)
	}
}

func testAppendMany(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	mustAppend(t, s, "pair-b", eventstore.NoStream, numbered(3)...)
	reqs := []eventstore.AppendRequest{
		{StreamID: "pair-a", Expected: eventstore.NoStream, Events: numbered(2)},
		{StreamID: "pair-b", Expected: eventstore.Exact(3), Events: numbered(2)},
		{StreamID: "solo-c", Expected: eventstore.Any, Events: numbered(1)},
	}
	res, err := s.AppendMany(ctx, reqs)
	if err != nil {
		t.Fatalf("append many: %v", err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("%d results for %d requests", len(res), len(reqs))
	}
	wantVersions := [][2]int64{{1, 2}, {4, 5}, {1, 1}}
	var last int64
	for i, r := range res {
		if r.StreamID != reqs[i].StreamID || r.FirstVersion != wantVersions[i][0] || r.LastVersion != wantVersions[i][1] {
			t.Fatalf("result %d is %+v, want stream %s versions %v", i, r, reqs[i].StreamID, wantVersions[i])
		}
		for _, p := range r.Positions {
			if p <= last {
				t.Fatalf("positions %v are not increasing in request order", res)
			}
			last = p
		}
	}
	all := readAll(t, s)
	if len(all) != 8 {
		t.Fatalf("ReadAll has %d events, want 8", len(all))
	}
	for i, r := range reqs {
		got := readStream(t, s, r.StreamID, eventstore.ReadStreamOptions{FromVersion: res[i].FirstVersion})
		for j, ev := range got {
			if ev.ID != r.Events[j].ID || ev.Position != res[i].Positions[j] {
				t.Fatalf("stream %s version %d: %s at %d, want %s at %d", r.StreamID, ev.Version, ev.ID, ev.Position, r.Events[j].ID, res[i].Positions[j])
			}
		}
	}
}

func testOrdering(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	streams := []string{"order-a", "order-b", "order-c"}
	var appended []eventstore.EventData
	var positions []int64
	for i := 0; i < 21; i++ {
		evs := numbered(1 + i%3)
		res := mustAppend(t, s, streams[i%3], eventstore.Any, evs...)
		appended = append(appended, evs...)
		positions = append(positions, res.Positions...)
	}
	all := readAll(t, s)
	if len(all) != len(appended) {
		t.Fatalf("ReadAll has %d events, want %d", len(all), len(appended))
	}
	for i, ev := range all {
		if ev.ID != appended[i].ID || ev.Position != positions[i] {
			t.Fatalf("event %d: %s at %d, want %s at %d (append order)", i, ev.ID, ev.Position, appended[i].ID, positions[i])
		}
		if i > 0 && ev.Position <= all[i-1].Position {
			t.Fatalf("positions not strictly increasing: %d after %d", ev.Position, all[i-1].Position)
		}
	}
	for _, st := range streams {
		evs := readStream(t, s, st, eventstore.ReadStreamOptions{})
		if !sameInts(versions(evs), seq(1, int64(len(evs)))) || len(evs) == 0 {
			t.Fatalf("stream %s versions %v, want 1..n", st, versions(evs))
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Position <= evs[i-1].Position {
				t.Fatalf("stream %s: version %d has position %d, not after %d", st, evs[i].Version, evs[i].Position, evs[i-1].Position)
			}
		}
	}

	// Paging: pages of 4 concatenate to the whole log.
	var paged []eventstore.Event
	var from int64
	for {
		page, err := s.ReadAll(ctx, from, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 4 {
			t.Fatalf("page of %d events with limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		from = page[len(page)-1].Position
	}
	if len(paged) != len(all) {
		t.Fatalf("paging returned %d events, want %d", len(paged), len(all))
	}
	for i := range paged {
		if paged[i].ID != all[i].ID {
			t.Fatalf("paged event %d differs", i)
		}
	}
	// from is exclusive.
	page, err := s.ReadAll(ctx, all[9].Position, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].ID != all[10].ID || page[2].ID != all[12].ID {
		t.Fatalf("ReadAll(from=position of event 9, 3) did not return events 10..12")
	}
	if page, err := s.ReadAll(ctx, all[len(all)-1].Position, 10); err != nil || len(page) != 0 {
		t.Fatalf("ReadAll past the head returned %d events, %v", len(page), err)
	}
}

func testReadStreamBounds(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	const stream = "bounds-1"
	for i := 0; i < 5; i++ {
		if i > 0 {
			sleep(t, 15)
		}
		mustAppend(t, s, stream, eventstore.Exact(int64(i)), numbered(1)...)
	}
	mustAppend(t, s, "bounds-2", eventstore.NoStream, numbered(2)...)
	all := readStream(t, s, stream, eventstore.ReadStreamOptions{})
	if !sameInts(versions(all), seq(1, 5)) {
		t.Fatalf("versions %v, want 1..5", versions(all))
	}
	for i, ev := range all {
		if ev.RecordedAt.Location() != timeUTC {
			t.Fatalf("RecordedAt %v is not in UTC", ev.RecordedAt)
		}
		if ev.RecordedAt.IsZero() {
			t.Fatalf("RecordedAt is zero")
		}
		if i > 0 && !ev.RecordedAt.After(all[i-1].RecordedAt) {
			t.Fatalf("RecordedAt of version %d (%v) is not after version %d (%v)", ev.Version, ev.RecordedAt, all[i-1].Version, all[i-1].RecordedAt)
		}
	}
	third := all[2].RecordedAt
	cases := []struct {
		name string
		opts eventstore.ReadStreamOptions
		want []int64
	}{
		{"NoBounds", eventstore.ReadStreamOptions{}, seq(1, 5)},
		{"FromVersion1", eventstore.ReadStreamOptions{FromVersion: 1}, seq(1, 5)},
		{"FromVersion", eventstore.ReadStreamOptions{FromVersion: 3}, seq(3, 5)},
		{"FromPastEnd", eventstore.ReadStreamOptions{FromVersion: 6}, nil},
		{"ToVersion", eventstore.ReadStreamOptions{ToVersion: 2}, seq(1, 2)},
		{"ToPastEnd", eventstore.ReadStreamOptions{ToVersion: 9}, seq(1, 5)},
		{"FromTo", eventstore.ReadStreamOptions{FromVersion: 2, ToVersion: 4}, seq(2, 4)},
		{"FromEqualsTo", eventstore.ReadStreamOptions{FromVersion: 4, ToVersion: 4}, []int64{4}},
		{"AsOfExactInstant", eventstore.ReadStreamOptions{AsOf: third}, seq(1, 3)},
		{"AsOfBetween", eventstore.ReadStreamOptions{AsOf: third.Add(5 * millisecond)}, seq(1, 3)},
		{"AsOfOtherZone", eventstore.ReadStreamOptions{AsOf: third.In(fixedZone)}, seq(1, 3)},
		{"AsOfBeforeFirst", eventstore.ReadStreamOptions{AsOf: all[0].RecordedAt.Add(-millisecond)}, nil},
		{"AsOfAfterLast", eventstore.ReadStreamOptions{AsOf: all[4].RecordedAt.Add(hour)}, seq(1, 5)},
		{"AsOfWithVersions", eventstore.ReadStreamOptions{FromVersion: 2, ToVersion: 5, AsOf: all[3].RecordedAt}, seq(2, 4)},
	}
	for _, c := range cases {
		evs, err := s.ReadStream(ctx, stream, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !sameInts(versions(evs), c.want) {
			t.Errorf("%s: versions %v, want %v", c.name, versions(evs), c.want)
		}
		for _, ev := range evs {
			if ev.StreamID != stream {
				t.Errorf("%s: read an event of stream %s", c.name, ev.StreamID)
			}
		}
	}
	if evs := readStream(t, s, "bounds-missing", eventstore.ReadStreamOptions{}); len(evs) != 0 {
		t.Fatalf("a missing stream read %d events", len(evs))
	}
	if _, err := s.ReadStream(ctx, "not a stream", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrInvalidStreamID) {
		t.Fatalf("ReadStream of a malformed id: %v, want ErrInvalidStreamID", err)
	}
}

func testReadStreams(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	mustAppend(t, s, "many-1", eventstore.NoStream, numbered(3)...)
	mustAppend(t, s, "many-10", eventstore.NoStream, numbered(2)...)
	mustAppend(t, s, "other-1", eventstore.NoStream, numbered(1)...)
	mustAppend(t, s, "many-1", eventstore.Exact(3), numbered(2)...)
	sealed := newEvent("Sealed", `{"email": "ann@example.org", "n": 1}`)
	sealed.Personal = []eventstore.PersonalField{{Path: "email", Subject: "user-ann"}}
	mustAppend(t, s, "many-2", eventstore.NoStream, sealed)

	got, err := s.ReadStreams(ctx, []string{"many-2", "many-1", "many-missing", "other-1", "many-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("read %d streams, want many-1, many-2 and other-1: %v", len(got), slices.Sorted(maps.Keys(got)))
	}
	if _, ok := got["many-missing"]; ok {
		t.Error("a stream without events has a key")
	}
	if _, ok := got["many-10"]; ok {
		t.Error("read many-10, which was not asked for")
	}
	for _, stream := range []string{"many-1", "many-2", "other-1"} {
		want := readStream(t, s, stream, eventstore.ReadStreamOptions{})
		if !reflect.DeepEqual(got[stream], want) {
			t.Errorf("ReadStreams of %s:\n%+v\nReadStream:\n%+v", stream, got[stream], want)
		}
	}
	if !sameInts(versions(got["many-1"]), seq(1, 5)) {
		t.Errorf("many-1 versions %v, want 1..5", versions(got["many-1"]))
	}
	if len(got["many-2"]) == 1 && !jsonEqual(t, got["many-2"][0].Data, []byte(`{"email": "ann@example.org", "n": 1}`)) {
		t.Errorf("the sealed event reads %s", got["many-2"][0].Data)
	}

	if none, err := s.ReadStreams(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("ReadStreams of no stream: %v, %v", none, err)
	}
	if _, err := s.ReadStreams(ctx, []string{"many-1", "not a stream"}); !errors.Is(err, eventstore.ErrInvalidStreamID) {
		t.Errorf("ReadStreams with a malformed id: %v, want ErrInvalidStreamID", err)
	}
	ids := make([]string, eventstore.MaxStreamsPerRequest+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("many-%d", i)
	}
	if _, err := s.ReadStreams(ctx, ids); !errors.Is(err, eventstore.ErrTooManyStreams) {
		t.Errorf("ReadStreams of %d streams: %v, want ErrTooManyStreams", len(ids), err)
	}
	if got, err := s.ReadStreams(ctx, ids[:eventstore.MaxStreamsPerRequest]); err != nil || len(got) != 3 {
		t.Errorf("ReadStreams of %d streams: %d streams, %v", eventstore.MaxStreamsPerRequest, len(got), err)
	}
}

func testReadCategory(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	var want []uuid.UUID
	for i := 0; i < 9; i++ {
		stream := []string{"alpha-1", "beta-1", "alpha-2", "alphabet-1"}[i%4]
		evs := numbered(1)
		mustAppend(t, s, stream, eventstore.Any, evs...)
		if eventstore.Category(stream) == "alpha" {
			want = append(want, evs[0].ID)
		}
	}
	settle(t, s)
	got, err := s.ReadCategory(ctx, "alpha", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("category alpha has %d events, want %d", len(got), len(want))
	}
	for i, ev := range got {
		if ev.ID != want[i] || ev.Category() != "alpha" {
			t.Fatalf("event %d of category alpha is %s of %s", i, ev.ID, ev.StreamID)
		}
		if i > 0 && ev.Position <= got[i-1].Position {
			t.Fatalf("category positions not increasing")
		}
	}
	page, err := s.ReadCategory(ctx, "alpha", got[1].Position, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != want[2] || page[1].ID != want[3] {
		t.Fatalf("category page after event 1 with limit 2 is wrong: %d events", len(page))
	}
	for _, cat := range []string{"alp", "gamma", ""} {
		if evs, err := s.ReadCategory(ctx, cat, 0, 100); err != nil || len(evs) != 0 {
			t.Fatalf("category %q returned %d events, %v; want none", cat, len(evs), err)
		}
	}
}

func testListStreams(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	ids := []string{"user-3", "location-b", "user-1", "location-a", "user-2", "userx-1"}
	for i, id := range ids {
		mustAppend(t, s, id, eventstore.NoStream, numbered(1+i%2)...)
	}
	list := func(opts eventstore.ListStreamsOptions) []string {
		t.Helper()
		infos, err := s.ListStreams(ctx, opts)
		if err != nil {
			t.Fatalf("list streams %+v: %v", opts, err)
		}
		out := make([]string, len(infos))
		for i, si := range infos {
			out[i] = si.StreamID
		}
		return out
	}
	cases := []struct {
		opts eventstore.ListStreamsOptions
		want []string
	}{
		{eventstore.ListStreamsOptions{}, []string{"location-a", "location-b", "user-1", "user-2", "user-3", "userx-1"}},
		{eventstore.ListStreamsOptions{Category: "user"}, []string{"user-1", "user-2", "user-3"}},
		{eventstore.ListStreamsOptions{Category: "user", After: "user-1"}, []string{"user-2", "user-3"}},
		{eventstore.ListStreamsOptions{Category: "user", Limit: 2}, []string{"user-1", "user-2"}},
		{eventstore.ListStreamsOptions{After: "location-b", Limit: 2}, []string{"user-1", "user-2"}},
		{eventstore.ListStreamsOptions{After: "userx-1"}, nil},
		{eventstore.ListStreamsOptions{Category: "nothing"}, nil},
	}
	for _, c := range cases {
		if got := list(c.opts); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("ListStreams(%+v) = %v, want %v", c.opts, got, c.want)
		}
	}

	infos, err := s.ListStreams(ctx, eventstore.ListStreamsOptions{Category: "location"})
	if err != nil {
		t.Fatal(err)
	}
	before := infos[0]
	if before.StreamID != "location-a" || before.Category != "location" || before.Version != 2 {
		t.Fatalf("location-a listed as %+v, want category location at version 2", before)
	}
	if before.CreatedAt.IsZero() || before.UpdatedAt.Before(before.CreatedAt) {
		t.Fatalf("location-a times: created %v updated %v", before.CreatedAt, before.UpdatedAt)
	}
	sleep(t, 15)
	mustAppend(t, s, "location-a", eventstore.Exact(2), numbered(3)...)
	infos, err = s.ListStreams(ctx, eventstore.ListStreamsOptions{Category: "location", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	after := infos[0]
	if after.Version != 5 || !after.CreatedAt.Equal(before.CreatedAt) || !after.UpdatedAt.After(before.UpdatedAt) {
		t.Fatalf("after appending, location-a listed as %+v (before: %+v)", after, before)
	}
	if after.CreatedAt.Location() != timeUTC || after.UpdatedAt.Location() != timeUTC {
		t.Fatalf("stream times are not in UTC: %+v", after)
	}
}

func testHeadPosition(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	head, err := s.HeadPosition(ctx)
	if err != nil || head != 0 {
		t.Fatalf("head of an empty store is %d, %v; want 0", head, err)
	}
	var last int64
	for i := 0; i < 4; i++ {
		res := mustAppend(t, s, fmt.Sprintf("head-%d", i%2), eventstore.Any, numbered(2)...)
		settle(t, s)
		head, err := s.HeadPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head != res.LastPosition() || head <= last {
			t.Fatalf("head %d after an append ending at %d (previous head %d)", head, res.LastPosition(), last)
		}
		last = head
	}
	all := readAll(t, s)
	if all[len(all)-1].Position != last {
		t.Fatalf("head %d is not the last position ReadAll returns (%d)", last, all[len(all)-1].Position)
	}
}

func testLimits(t *testing.T, s eventstore.Store, _ Options) {
	ctx := context.Background()
	big := func(n int) json.RawMessage { // a JSON string of exactly n bytes
		return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)
	}
	withData := func(data string) []eventstore.EventData {
		ev := newEvent("Limited", "{}")
		ev.Data = json.RawMessage(data)
		return []eventstore.EventData{ev}
	}
	tooBig := newEvent("Limited", "{}")
	tooBig.Data = big(eventstore.MaxEventDataBytes + 1)
	nilID := newEvent("Limited", "{}")
	nilID.ID = uuid.Nil
	twice := newEvent("Limited", "{}")
	badType := newEvent("has space", "{}")
	withPersonal := func(path, subject string) []eventstore.EventData {
		ev := newEvent("Limited", `{"contact":{"email":"jo@example.org"}}`)
		ev.Personal = []eventstore.PersonalField{{Path: path, Subject: subject}}
		return []eventstore.EventData{ev}
	}

	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
		want   error
	}{
		{"DataTooLarge", "limits-1", []eventstore.EventData{tooBig}, eventstore.ErrEventTooLarge},
		{"TooManyEvents", "limits-1", numbered(eventstore.MaxEventsPerAppend + 1), eventstore.ErrTooManyEvents},
		{"NoEvents", "limits-1", nil, eventstore.ErrNoEvents},
		{"EmptyStreamID", "", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDWithoutCategory", "nocategory", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDWithEmptyCategory", "-1", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDWithEmptyID", "user-", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDUpperCaseCategory", "User-1", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDWithSpace", "user-a b", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDWithSlash", "user-a/b", numbered(1), eventstore.ErrInvalidStreamID},
		{"StreamIDTooLong", "user-" + strings.Repeat("a", eventstore.MaxStreamIDLength), numbered(1), eventstore.ErrInvalidStreamID},
		{"MalformedJSON", "limits-1", withData(`{"a":`), eventstore.ErrInvalidEvent},
		{"TrailingGarbage", "limits-1", withData(`{} {}`), eventstore.ErrInvalidEvent},
		{"EmptyData", "limits-1", withData(``), eventstore.ErrInvalidEvent},
		{"NilEventID", "limits-1", []eventstore.EventData{nilID}, eventstore.ErrInvalidEvent},
		{"SameIDTwice", "limits-1", []eventstore.EventData{twice, twice}, eventstore.ErrInvalidEvent},
		{"MalformedType", "limits-1", []eventstore.EventData{badType}, eventstore.ErrInvalidEvent},
		{"ForgedSealedField", "limits-1", withData(`{"note":{"$pii":{"s":"user-1","c":"AAAA"}}}`), eventstore.ErrInvalidEvent},
		{"ForgedSealedFieldInArray", "limits-1", withData(`{"notes":[{"x":1},{"$pii":"x"}]}`), eventstore.ErrInvalidEvent},
		{"PersonalFieldWithoutSubject", "limits-1", withPersonal("contact.email", ""), eventstore.ErrInvalidEvent},
		{"PersonalSubjectWithSpace", "limits-1", withPersonal("contact.email", "user 1"), eventstore.ErrInvalidEvent},
		{"PersonalSubjectNotUTF8", "limits-1", withPersonal("contact.email", "user-\x84"), eventstore.ErrInvalidEvent},
		{"PersonalPathEmpty", "limits-1", withPersonal("", "user-1"), eventstore.ErrInvalidEvent},
		{"PersonalPathEmptyKey", "limits-1", withPersonal("contact..email", "user-1"), eventstore.ErrInvalidEvent},
	}
	for _, c := range cases {
		if _, err := s.Append(ctx, c.stream, eventstore.Any, c.events...); !errors.Is(err, c.want) {
			t.Errorf("%s: got error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := s.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "limits-2", Expected: eventstore.Any, Events: numbered(1)},
		{StreamID: "limits-2", Expected: eventstore.Any, Events: numbered(1)},
	}); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("AppendMany naming a stream twice: got %v, want ErrInvalidEvent", err)
	}
	if _, err := s.AppendMany(ctx, nil); !errors.Is(err, eventstore.ErrNoEvents) {
		t.Errorf("AppendMany of nothing: got %v, want ErrNoEvents", err)
	}
	if n := len(readAll(t, s)); n != 0 {
		t.Fatalf("rejected appends stored %d events", n)
	}

	// The limits themselves are allowed.
	atLimit := newEvent("Limited", "{}")
	atLimit.Data = big(eventstore.MaxEventDataBytes)
	mustAppend(t, s, "limits-3", eventstore.NoStream, atLimit)
	got := readStream(t, s, "limits-3", eventstore.ReadStreamOptions{})
	if len(got) != 1 || !jsonEqual(t, got[0].Data, atLimit.Data) {
		t.Fatalf("an event of exactly %d bytes did not round-trip", eventstore.MaxEventDataBytes)
	}
	res := mustAppend(t, s, "limits-4", eventstore.NoStream, numbered(eventstore.MaxEventsPerAppend)...)
	if res.LastVersion != eventstore.MaxEventsPerAppend {
		t.Fatalf("an append of %d events ended at version %d", eventstore.MaxEventsPerAppend, res.LastVersion)
	}
	long := "user-" + strings.Repeat("a", eventstore.MaxStreamIDLength-5)
	mustAppend(t, s, long, eventstore.NoStream, numbered(1)...)
}

func testMetadata(t *testing.T, s eventstore.Store, _ Options) {
	kinds := []eventstore.AccountKind{eventstore.AccountPersonal, eventstore.AccountGeneric, eventstore.AccountSystem}
	var sent []eventstore.EventData
	for i, kind := range kinds {
		md := eventstore.Metadata{
			CorrelationID:    uuid.NewString(),
			CausationID:      uuid.NewString(),
			ActorUserID:      fmt.Sprintf("user-%d", i),
			ActorAccountKind: kind,
			SessionID:        "session-" + string(kind),
			ClientIP:         "2001:db8::1",
			UserAgent:        `Mozilla/5.0 "quoted" ünïcode`,
			Command:          "RegisterUser",
		}
		if i == 0 {
			md.Extra = map[string]string{"request_id": "r-1", "note": "a\nb"}
		}
		ev := eventstore.EventData{
			ID:       uuid.New(),
			Type:     "UserRegistrationRequested.v2",
			Data:     json.RawMessage(`{"b": 1, "a": [1, 2.5, "x", null, true], "nested": {"z": {}, "y": []}, "text": "ünïcode \u00e9 <>&"}`),
			Metadata: md,
		}
		sent = append(sent, ev)
	}
	mustAppend(t, s, "meta-1", eventstore.NoStream, sent...)
	got := readStream(t, s, "meta-1", eventstore.ReadStreamOptions{})
	if len(got) != len(sent) {
		t.Fatalf("read %d events, want %d", len(got), len(sent))
	}
	for i, ev := range got {
		if ev.ID != sent[i].ID || ev.Type != sent[i].Type || ev.StreamID != "meta-1" || ev.Category() != "meta" {
			t.Errorf("event %d read as %s %s in %s", i, ev.ID, ev.Type, ev.StreamID)
		}
		if !reflect.DeepEqual(ev.Metadata, sent[i].Metadata) {
			t.Errorf("metadata of event %d:\n got %+v\nwant %+v", i, ev.Metadata, sent[i].Metadata)
		}
		if !jsonEqual(t, ev.Data, sent[i].Data) {
			t.Errorf("data of event %d: got %s, want %s", i, ev.Data, sent[i].Data)
		}
		if len(ev.Erased) != 0 {
			t.Errorf("event %d without personal data reads with erased fields %v", i, ev.Erased)
		}
	}
	all := readAll(t, s)
	if !reflect.DeepEqual(all[0].Metadata, sent[0].Metadata) {
		t.Errorf("ReadAll metadata differs from ReadStream's")
	}
}

func testPersonalData(t *testing.T, s eventstore.Store, opts Options) {
	ctx := context.Background()
	ann, bob := "user-ann-"+uuid.NewString()[:8], "user-bob-"+uuid.NewString()[:8]
	annEvent := eventstore.EventData{
		ID:   uuid.New(),
		Type: "ContactAdded",
		Data: json.RawMessage(`{"name": "Ann Secretname", "contact": {"email": "ann.secret@example.org", "phone": "+44 7700 900123", "address": {"line1": "1 Hidden Road"}},
			"favourite": 42, "role": "manager", "location_id": "1-000001"}`),
		Personal: []eventstore.PersonalField{
			{Path: "name", Subject: ann},
			{Path: "contact.email", Subject: ann},
			{Path: "contact.address", Subject: ann}, // an object
			{Path: "favourite", Subject: ann},       // a number
			{Path: "contact.phone", Subject: bob},   // someone else's data in Ann's event
			{Path: "contact.fax", Subject: ann},     // absent: left alone
		},
	}
	bobEvent := eventstore.EventData{
		ID:       uuid.New(),
		Type:     "ContactAdded",
		Data:     json.RawMessage(`{"name": "Bob Otherperson", "role": "nurse"}`),
		Personal: []eventstore.PersonalField{{Path: "name", Subject: bob}},
	}
	plain := newEvent("Plain", `{"role": "none"}`)
	mustAppend(t, s, "contact-ann", eventstore.NoStream, annEvent, plain)
	mustAppend(t, s, "contact-bob", eventstore.NoStream, bobEvent)

	if opts.RawData != nil {
		raw := opts.RawData(t, s, annEvent.ID)
		for _, secret := range []string{"Ann Secretname", "ann.secret@example.org", "7700 900123", "Hidden Road"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("the stored row holds %q in plain text: %s", secret, raw)
			}
		}
		if !bytes.Contains(raw, []byte("manager")) {
			t.Errorf("the stored row lost a field that is not personal: %s", raw)
		}
		if raw := opts.RawData(t, s, bobEvent.ID); bytes.Contains(raw, []byte("Otherperson")) {
			t.Errorf("the stored row holds Bob's name in plain text: %s", raw)
		}
	} else {
		t.Log("no RawData hook: not checking the stored rows for plain text")
	}

	readOne := func(stream string, id uuid.UUID) eventstore.Event {
		t.Helper()
		for _, ev := range readStream(t, s, stream, eventstore.ReadStreamOptions{}) {
			if ev.ID == id {
				return ev
			}
		}
		t.Fatalf("event %s not found in %s", id, stream)
		return eventstore.Event{}
	}
	got := readOne("contact-ann", annEvent.ID)
	if !jsonEqual(t, got.Data, annEvent.Data) || len(got.Erased) != 0 {
		t.Fatalf("Ann's event reads as %s (erased %v), want %s", got.Data, got.Erased, annEvent.Data)
	}
	if got := readOne("contact-bob", bobEvent.ID); !jsonEqual(t, got.Data, bobEvent.Data) {
		t.Fatalf("Bob's event reads as %s, want %s", got.Data, bobEvent.Data)
	}

	if err := s.ForgetSubject(ctx, ann); err != nil {
		t.Fatalf("forget Ann: %v", err)
	}
	wantErased := `{"name": null, "contact": {"email": null, "phone": "+44 7700 900123", "address": null},
		"favourite": null, "role": "manager", "location_id": "1-000001"}`
	wantPaths := []string{"contact.address", "contact.email", "favourite", "name"}
	got = readOne("contact-ann", annEvent.ID)
	if !jsonEqual(t, got.Data, []byte(wantErased)) {
		t.Errorf("after forgetting Ann her event reads as %s, want %s", got.Data, wantErased)
	}
	if !reflect.DeepEqual(got.Erased, wantPaths) {
		t.Errorf("Erased = %v, want %v", got.Erased, wantPaths)
	}
	// Every read path applies the erasure.
	for _, ev := range append(readAll(t, s), mustCategory(t, s, "contact")...) {
		switch ev.ID {
		case annEvent.ID:
			if !jsonEqual(t, ev.Data, []byte(wantErased)) || !reflect.DeepEqual(ev.Erased, wantPaths) {
				t.Errorf("global read of Ann's event: %s erased %v", ev.Data, ev.Erased)
			}
		case bobEvent.ID:
			if !jsonEqual(t, ev.Data, bobEvent.Data) || len(ev.Erased) != 0 {
				t.Errorf("Bob's event after forgetting Ann: %s erased %v", ev.Data, ev.Erased)
			}
		case plain.ID:
			if !jsonEqual(t, ev.Data, plain.Data) || len(ev.Erased) != 0 {
				t.Errorf("plain event after forgetting Ann: %s erased %v", ev.Data, ev.Erased)
			}
		}
	}
	if err := s.ForgetSubject(ctx, ann); err != nil {
		t.Fatalf("forgetting Ann twice: %v", err)
	}
	if err := s.ForgetSubject(ctx, "user-never-seen"); err != nil {
		t.Fatalf("forgetting an unknown subject: %v", err)
	}

	// A subject that comes back gets a new key; old data stays erased.
	again := eventstore.EventData{ID: uuid.New(), Type: "ContactAdded", Data: json.RawMessage(`{"name": "Ann Returns"}`),
		Personal: []eventstore.PersonalField{{Path: "name", Subject: ann}}}
	mustAppend(t, s, "contact-ann", eventstore.Exact(2), again)
	if got := readOne("contact-ann", again.ID); !jsonEqual(t, got.Data, again.Data) || len(got.Erased) != 0 {
		t.Errorf("Ann's new event reads as %s (erased %v)", got.Data, got.Erased)
	}
	if got := readOne("contact-ann", annEvent.ID); !reflect.DeepEqual(got.Erased, wantPaths) {
		t.Errorf("Ann's old event has erased %v after her return, want %v", got.Erased, wantPaths)
	}

	if err := s.ForgetSubject(ctx, bob); err != nil {
		t.Fatal(err)
	}
	got = readOne("contact-bob", bobEvent.ID)
	if !jsonEqual(t, got.Data, []byte(`{"name": null, "role": "nurse"}`)) || !reflect.DeepEqual(got.Erased, []string{"name"}) {
		t.Errorf("after forgetting Bob his event reads as %s erased %v", got.Data, got.Erased)
	}
}

func mustCategory(t *testing.T, s eventstore.Store, category string) []eventstore.Event {
	t.Helper()
	evs, err := s.ReadCategory(context.Background(), category, 0, 1000)
	if err != nil {
		t.Fatalf("read category %s: %v", category, err)
	}
	return evs
}
