package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

// chainLog is the log the tamper tests start from, and where its events
// landed.
type chainLog struct {
	store eventstore.Store
	cs    eventstore.ChainStore
	// positions of the events, by stream, in version order.
	positions map[string][]int64
	subject   string
	total     int64
}

var chainKey = []byte("0123456789abcdef0123456789abcdef")

// buildChainLog appends to several streams (one multi-event append, single
// appends, a multi-stream append and an event with sealed personal fields),
// signs a checkpoint, and appends two more events after it.
func buildChainLog(t *testing.T, s eventstore.Store) chainLog {
	t.Helper()
	cs, ok := s.(eventstore.ChainStore)
	if !ok {
		t.Fatalf("%T does not implement eventstore.ChainStore", s)
	}
	ctx := context.Background()
	l := chainLog{store: s, cs: cs, positions: map[string][]int64{}, subject: "user-" + uuid.NewString()[:8]}
	add := func(res eventstore.AppendResult) {
		l.positions[res.StreamID] = append(l.positions[res.StreamID], res.Positions...)
		l.total += int64(len(res.Positions))
	}
	add(mustAppend(t, s, "chain-a", eventstore.NoStream, numbered(3)...))
	add(mustAppend(t, s, "chain-b", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "ContactAdded",
		Data:     json.RawMessage(`{"name": "Ann Chained", "email": "ann.chained@example.org", "role": "Manager"}`),
		Personal: []eventstore.PersonalField{{Path: "name", Subject: l.subject}, {Path: "email", Subject: l.subject}}}))
	add(mustAppend(t, s, "chain-a", eventstore.Exact(3), newEvent("Numbered", `{"n": 4, "text": "naïve – ünïcode"}`)))
	res, err := s.AppendMany(ctx, []eventstore.AppendRequest{
		{StreamID: "chain-c", Expected: eventstore.NoStream, Events: numbered(2)},
		{StreamID: "chain-d", Expected: eventstore.NoStream, Events: numbered(1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		add(r)
	}
	settle(t, s)
	cp, ok, err := eventstore.Checkpoint(ctx, cs, chainKey, time.Now())
	if err != nil || !ok {
		t.Fatalf("checkpoint: %v (signed: %v)", err, ok)
	}
	if cp.Seq != 1 || cp.Events != l.total {
		t.Fatalf("first checkpoint %+v, want seq 1 over %d events", cp, l.total)
	}
	add(mustAppend(t, s, "chain-a", eventstore.Exact(4), numbered(1)...))
	add(mustAppend(t, s, "chain-e", eventstore.NoStream, numbered(1)...))
	return l
}

func (l chainLog) verify(t *testing.T, key []byte) eventstore.VerifyReport {
	t.Helper()
	rep, err := eventstore.Verify(context.Background(), l.cs, key, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// testChain: an untouched log verifies, also after a second checkpoint and
// after crypto-shredding; every kind of tampering is found at the first
// place it shows.
func testChain(t *testing.T, newStore func(t *testing.T) eventstore.Store, opts Options) {
	t.Run("UntouchedLogVerifies", func(t *testing.T) {
		t.Parallel()
		l := buildChainLog(t, newStore(t))
		rep := l.verify(t, chainKey)
		if rep.Tampering != nil || rep.Events != l.total || rep.Checkpoints != 1 || rep.Streams != 5 {
			t.Fatalf("report %+v, want %d events, 5 streams, 1 checkpoint, no tampering", rep, l.total)
		}
		ctx := context.Background()
		settle(t, l.store)
		if _, ok, err := eventstore.Checkpoint(ctx, l.cs, chainKey, time.Now()); err != nil || !ok {
			t.Fatalf("second checkpoint: %v %v", ok, err)
		}
		if _, ok, err := eventstore.Checkpoint(ctx, l.cs, chainKey, time.Now()); err != nil || ok {
			t.Fatalf("a checkpoint with nothing new to cover was signed: %v %v", ok, err)
		}
		if err := l.store.ForgetSubject(ctx, l.subject); err != nil {
			t.Fatal(err)
		}
		rep = l.verify(t, chainKey)
		if rep.Tampering != nil || rep.Checkpoints != 2 || rep.Events != l.total {
			t.Fatalf("after crypto-shredding: %+v, want the log intact", rep)
		}
		if rep := l.verify(t, []byte("another key, not the server's one")); rep.Tampering == nil || rep.Tampering.Checkpoint != 1 {
			t.Fatalf("checkpoints verified under another key: %+v", rep)
		}
	})
	t.Run("ConcurrentSignersAreIdempotent", func(t *testing.T) {
		t.Parallel()
		testConcurrentCheckpointers(t, newStore(t))
	})
	if opts.Exec == nil {
		t.Log("no Exec hook: not tampering with stored rows")
		return
	}
	cases := []struct {
		name string
		// tamper changes the stored log and returns where Verify must stop.
		tamper func(t *testing.T, l chainLog) (position, checkpoint int64, reason string)
	}{
		{"EditedData", func(t *testing.T, l chainLog) (int64, int64, string) {
			p := l.positions["chain-a"][1]
			opts.Exec(t, l.store, `UPDATE events SET data = ? WHERE position = ?`, `{"n": 200}`, p)
			return p, 0, "does not match its hash"
		}},
		{"EditedMetadataAfterTheCheckpoint", func(t *testing.T, l chainLog) (int64, int64, string) {
			p := l.positions["chain-e"][0]
			opts.Exec(t, l.store, `UPDATE events SET metadata = ? WHERE position = ?`, `{"command": "forged"}`, p)
			return p, 0, "does not match its hash"
		}},
		{"EditedCiphertext", func(t *testing.T, l chainLog) (int64, int64, string) {
			p := l.positions["chain-b"][0]
			opts.Exec(t, l.store, `UPDATE events SET event_type = ? WHERE position = ?`, "ContactRemoved", p)
			return p, 0, "does not match its hash"
		}},
		{"DeletedEventInAStream", func(t *testing.T, l chainLog) (int64, int64, string) {
			opts.Exec(t, l.store, `DELETE FROM events WHERE position = ?`, l.positions["chain-a"][1])
			return l.positions["chain-a"][2], 0, "version 3 follows version 1"
		}},
		{"DeletedLastEventOfAStream", func(t *testing.T, l chainLog) (int64, int64, string) {
			opts.Exec(t, l.store, `DELETE FROM events WHERE position = ?`, l.positions["chain-d"][0])
			cps, err := l.cs.Checkpoints(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return cps[0].Position, 1, "no longer matches the checkpoint"
		}},
		{"ForgedCheckpoint", func(t *testing.T, l chainLog) (int64, int64, string) {
			opts.Exec(t, l.store, `UPDATE event_chain_checkpoints SET events = events - 1 WHERE seq = 1`)
			cps, err := l.cs.Checkpoints(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return cps[0].Position, 1, "signature does not match"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := buildChainLog(t, newStore(t))
			pos, cp, reason := c.tamper(t, l)
			rep := l.verify(t, chainKey)
			got := rep.Tampering
			if got == nil {
				t.Fatalf("verify found nothing: %+v", rep)
			}
			if got.Position != pos || got.Checkpoint != cp || !strings.Contains(got.Reason, reason) {
				t.Fatalf("verify reported %v, want position %d checkpoint %d (%q)", got, pos, cp, reason)
			}
		})
	}
}

// testConcurrentCheckpointers: several checkpointers (the capacityd nodes
// of one database) sign at the same moments while the log grows. Losing
// the race to store the next checkpoint is not an error; the checkpoints
// stay numbered without gaps and chain, and the log verifies.
func testConcurrentCheckpointers(t *testing.T, s eventstore.Store) {
	cs, ok := s.(eventstore.ChainStore)
	if !ok {
		t.Fatalf("%T does not implement eventstore.ChainStore", s)
	}
	ctx := context.Background()
	const signers, rounds = 6, 8
	var total int64
	for round := range rounds {
		stream := fmt.Sprintf("signed-%d", round)
		total += int64(len(mustAppend(t, s, stream, eventstore.NoStream, numbered(3)...).Positions))
		settle(t, s)
		start := make(chan struct{})
		errs := make(chan error, signers)
		signed := make(chan bool, signers)
		var wg sync.WaitGroup
		for range signers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, ok, err := eventstore.Checkpoint(ctx, cs, chainKey, time.Now())
				errs <- err
				signed <- ok
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		close(signed)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: a concurrent checkpointer failed: %v", round, err)
			}
		}
		wins := 0
		for ok := range signed {
			if ok {
				wins++
			}
		}
		// Every signer read the same head, so exactly one stored the
		// checkpoint of this round.
		if wins != 1 {
			t.Fatalf("round %d: %d checkpointers report a checkpoint signed, want 1", round, wins)
		}
	}
	cps, err := cs.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != rounds {
		t.Fatalf("%d checkpoints stored, want %d (one a round)", len(cps), rounds)
	}
	rep, err := eventstore.Verify(ctx, cs, chainKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tampering != nil || rep.Checkpoints != rounds || rep.Events != total {
		t.Fatalf("verify after concurrent signing: %+v, want %d events under %d checkpoints, no tampering", rep, total, rounds)
	}
}
