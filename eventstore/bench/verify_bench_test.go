package bench_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
)

var verifyEvents = flag.Int("verify-events", 200_000, "events in the log BenchmarkVerify walks")

// chainBackend is a store with its tamper evidence.
type chainBackend interface {
	eventstore.Store
	eventstore.ChainStore
}

// fillLog appends n events of realistic size (about 400 bytes of data and
// metadata) over n/10 streams, 500 streams per AppendMany.
func fillLog(b *testing.B, s eventstore.Store, n int) {
	b.Helper()
	ctx := context.Background()
	md := eventstore.Metadata{CorrelationID: uuid.NewString(), ActorUserID: uuid.NewString(), ActorAccountKind: eventstore.AccountPersonal,
		SessionID: uuid.NewString(), ClientIP: "192.0.2.10", UserAgent: "Mozilla/5.0 (bench)", Command: "EditAddress"}
	data, _ := json.Marshal(map[string]any{"location_id": "1-101641286", "changes": []map[string]string{
		{"field": "address_line1", "before": "31 Thornholme Road", "after": "33 Thornholme Road"},
		{"field": "postcode", "before": "SR2 7JX", "after": "SR2 7JZ"}}})
	const perStream, streamsPerAppend = 10, 500
	var reqs []eventstore.AppendRequest
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		if _, err := s.AppendMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
		reqs = reqs[:0]
	}
	for i := 0; i < n/perStream; i++ {
		evs := make([]eventstore.EventData, perStream)
		for j := range evs {
			evs[j] = eventstore.EventData{ID: uuid.New(), Type: "AddressChanged", Data: data, Metadata: md}
		}
		reqs = append(reqs, eventstore.AppendRequest{StreamID: fmt.Sprintf("location-1-%09d", i), Expected: eventstore.NoStream, Events: evs})
		if len(reqs) == streamsPerAppend {
			flush()
		}
	}
	flush()
}

// BenchmarkVerify walks a log of -verify-events events (with a signed
// checkpoint over all of it) and reports events/s: what capacityctl verify
// does.
func BenchmarkVerify(b *testing.B) {
	key := []byte("bench-checkpoint-key-0123456789ab")
	for _, backend := range []string{"postgres", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			var s chainBackend
			if backend == "postgres" {
				s, _ = newPostgres(b)
			} else {
				s = newSQLite(b)
			}
			fillLog(b, s, *verifyEvents)
			ctx := context.Background()
			deadline := time.Now().Add(time.Minute)
			for {
				_, ok, err := eventstore.Checkpoint(ctx, s, key, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				if ok || time.Now().After(deadline) {
					break
				}
			}
			b.ResetTimer()
			start := time.Now()
			var walked int64
			for range b.N {
				rep, err := eventstore.Verify(ctx, s, key, nil)
				if err != nil || rep.Tampering != nil {
					b.Fatalf("verify: %+v %v", rep, err)
				}
				walked += rep.Events
			}
			b.ReportMetric(float64(walked)/time.Since(start).Seconds(), "events/s")
		})
	}
}
