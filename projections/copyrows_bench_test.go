package projections_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"testing"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/audit"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// auditWriteBatch is the size of BenchmarkAuditBatchWrite's batches:
// go test -run '^$' -bench BenchmarkAuditBatchWrite -benchtime 20x ./projections -args -audit-write-batch 1000
var auditWriteBatch = flag.Int("audit-write-batch", 1000, "events per batch of BenchmarkAuditBatchWrite")

// insertOnly hides a Tx's COPY, so that insertRows writes many-row INSERTs.
type insertOnly struct{ projections.Tx }

// BenchmarkAuditBatchWrite applies batches of -audit-write-batch events
// like those of the event store benchmark (DailyUpdateSubmitted with ten
// fields: one audit_events row and ten audit_changes rows each) to the
// audit view on PostgreSQL, each in a transaction that is then rolled
// back, alternately with the plain inserts through COPY and through
// many-row INSERTs, so that the two rates (events/s-copy,
// events/s-insert) come from the same run and load. The time is the
// view's whole ApplyBatch: its Go work and the database's.
func BenchmarkAuditBatchWrite(b *testing.B) {
	h := openPostgres(b)
	projtest.OpenDirect(b, h.store, audit.Projection{})
	store := h.store.(*postgres.Store)
	db := wsql.BeginnerFromPgx(store.Pool())
	ctx := context.Background()
	evs := make([]eventstore.Event, *auditWriteBatch)
	data := json.RawMessage(`{"location_id":"1-000000001","people_using_service":42,"confirmed":1,"suspected":2,"staff_delivering_care":30,"staff_not_working":3,"ppe":"more_than_a_week","can_provide_extra_hours":true,"extra_hours_per_week":12,"other_issues":""}`)
	at := time.Now().UTC()
	for i := range evs {
		evs[i] = eventstore.Event{ID: uuid.New(), StreamID: fmt.Sprintf("bench-audit.fill.%d", i/100), Version: int64(i%100 + 1),
			Position: int64(i + 1), Type: "DailyUpdateSubmitted", Data: data, RecordedAt: at,
			Metadata: eventstore.Metadata{CorrelationID: "bench", CausationID: "bench", ActorUserID: "user-bench",
				ActorAccountKind: eventstore.AccountPersonal, SessionID: "session-bench", ClientIP: "127.0.0.1",
				UserAgent: "capacityctl bench", Command: "SubmitDailyUpdate"}}
	}
	var took [2]time.Duration // copy, insert
	b.ResetTimer()
	for i := range b.N {
		for j := range 2 {
			k := (i + j) % 2
			wtx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			tx := projections.NewTx(wtx, projections.Postgres, store)
			if k == 1 {
				tx = insertOnly{tx}
			}
			start := time.Now()
			err = audit.Projection{}.ApplyBatch(ctx, tx, projtest.Identity, evs)
			took[k] += time.Since(start)
			_ = wtx.Rollback()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	events := float64(b.N * len(evs))
	b.ReportMetric(events/took[0].Seconds(), "events/s-copy")
	b.ReportMetric(events/took[1].Seconds(), "events/s-insert")
}
