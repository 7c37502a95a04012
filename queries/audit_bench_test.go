package queries_test

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/audit"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/queries"
)

var (
	auditBenchEvents  = flag.Int("audit-events", 1_000_000, "events of the audit benchmark's fixture")
	auditBenchBackend = flag.String("audit-backend", "", "run the audit benchmark on this backend only (postgres, sqlite)")
	auditExportLines  = flag.Int("audit-export-lines", 1_000_000, "lines of the audit benchmark's CSV export")
)

// BenchmarkAudit measures the audit queries on a view of a year of
// events (-audit-events, 1,000,000 by default; the target is p99 < 50 ms
// for a filtered page at 10,000,000), on each backend: the newest page,
// a page deep in the log, a page of each filter, a month, and an
// Approver's view of a small (3 locations) and a large (600 locations)
// organisation, alone and with a filter. It reports the 99th percentile
// as p99-ms.
//
// Filling the view through the projection would fold every stream's
// history event by event and take hours at 10,000,000 events: the fixture
// writes its rows straight into the projection's own tables with one
// INSERT ... SELECT per table (auditFixture), 70% daily updates and 20%
// location edits over 30,000 locations of 10,000 organisations, 10%
// account events of 100,000 users, a change each:
//
//	go test ./queries -run '^$' -bench Audit -benchtime 200x -timeout 2h -audit-events 10000000
func BenchmarkAudit(b *testing.B) {
	for _, bc := range backends {
		if *auditBenchBackend != "" && bc.name != *auditBenchBackend {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			n := int64(*auditBenchEvents)
			q := auditFixture(b, bc, n)
			ctx := context.Background()
			year := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
			small := queries.Viewer{UserID: "a", ApproverOf: []string{"o42"}}
			big := queries.Viewer{UserID: "b", ApproverOf: []string{"obig"}}
			for _, c := range []struct {
				name string
				v    queries.Viewer
				f    func(i int) queries.AuditFilter
			}{
				{"Newest", auditor, func(int) queries.AuditFilter { return queries.AuditFilter{} }},
				{"Deep", auditor, func(i int) queries.AuditFilter { return queries.AuditFilter{Before: n/2 + int64(i)} }},
				{"Location", auditor, func(i int) queries.AuditFilter {
					return queries.AuditFilter{LocationID: fmt.Sprintf("1-%d", i*37%30000)}
				}},
				{"Entity", auditor, func(i int) queries.AuditFilter {
					return queries.AuditFilter{EntityType: "user", EntityID: fmt.Sprintf("u%d", i*41%100000)}
				}},
				{"Actor", auditor, func(i int) queries.AuditFilter {
					return queries.AuditFilter{ActorUserID: fmt.Sprintf("u%d", i*43%100000)}
				}},
				{"Session", auditor, func(i int) queries.AuditFilter {
					return queries.AuditFilter{SessionID: fmt.Sprintf("s%d", int64(i*47)%(n/7+1))}
				}},
				{"RareEventType", auditor, func(int) queries.AuditFilter { return queries.AuditFilter{EventType: "AuditorRoleGranted"} }},
				{"BulkUpload", auditor, func(i int) queries.AuditFilter {
					return queries.AuditFilter{BulkUploadID: fmt.Sprintf("up%d", i*53%10000)}
				}},
				{"Month", auditor, func(i int) queries.AuditFilter {
					from := year.AddDate(0, i%12, 0)
					return queries.AuditFilter{From: from, To: from.AddDate(0, 1, 0)}
				}},
				{"LocationMonth", auditor, func(i int) queries.AuditFilter {
					from := year.AddDate(0, i%12, 0)
					return queries.AuditFilter{LocationID: fmt.Sprintf("1-%d", i*37%30000), From: from, To: from.AddDate(0, 1, 0)}
				}},
				{"ApproverSmallOrganisation", small, func(int) queries.AuditFilter { return queries.AuditFilter{} }},
				{"ApproverSmallOrganisationMonth", small, func(i int) queries.AuditFilter {
					from := year.AddDate(0, i%12, 0)
					return queries.AuditFilter{From: from, To: from.AddDate(0, 1, 0)}
				}},
				{"ApproverLargeOrganisation", big, func(int) queries.AuditFilter { return queries.AuditFilter{} }},
				{"ApproverLargeOrganisationLocation", big, func(i int) queries.AuditFilter {
					return queries.AuditFilter{LocationID: fmt.Sprintf("1-%d", i%600)}
				}},
				{"ApproverLargeOrganisationEventType", big, func(int) queries.AuditFilter {
					return queries.AuditFilter{EventType: "ContactUpdated.v2"}
				}},
				// None of the organisation's streams has such an event: the
				// worst case, every candidate is read and refused.
				{"ApproverLargeOrganisationRareEventType", big, func(int) queries.AuditFilter {
					return queries.AuditFilter{EventType: "AuditorRoleGranted"}
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					durations := make([]time.Duration, 0, b.N)
					i := 0
					for b.Loop() {
						start := time.Now()
						if _, err := q.Audit(ctx, c.v, c.f(i)); err != nil {
							b.Fatal(err)
						}
						durations = append(durations, time.Since(start))
						i++
					}
					slices.Sort(durations)
					p99 := durations[min(len(durations)-1, len(durations)*99/100)]
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
				})
			}
			b.Run("ExportCSV", func(b *testing.B) {
				for b.Loop() {
					lines, heap, took := exportAudit(b, q, *auditExportLines)
					b.ReportMetric(float64(lines)/took.Seconds(), "lines/s")
					b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
				}
			})
		})
	}
}

// errEnough stops an export.
var errEnough = errors.New("enough lines")

// exportAudit streams the whole view, oldest first, as CSV to nowhere, up
// to n lines, sampling the heap every 10 ms, and returns the lines
// written, the peak heap in use and the time it took. It is what GET
// /audit.csv does, less the network.
func exportAudit(b *testing.B, q queries.Service, n int) (int, uint64, time.Duration) {
	runtime.GC()
	var peak atomic.Uint64
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	w := csv.NewWriter(io.Discard)
	lines := 0
	start := time.Now()
	err := q.EachAuditChange(context.Background(), auditor, queries.AuditFilter{}, func(l queries.AuditLine) error {
		if lines == n {
			return errEnough
		}
		lines++
		return w.Write([]string{fmt.Sprint(l.Position), l.EventID, l.RecordedAt.Format(time.RFC3339Nano), l.RecordedAtLondon,
			l.Actor.UserID, l.Actor.Email, l.Actor.FullName, l.Actor.AccountKind, l.SessionID, l.ClientIP, l.UserAgent, l.Command,
			l.EntityType, l.EntityID, l.LocationID, l.EventType, l.Field, string(l.Before), string(l.After), l.BulkUploadID})
	})
	w.Flush()
	took := time.Since(start)
	close(done)
	<-sampled
	if err != nil && !errors.Is(err, errEnough) {
		b.Fatal(err)
	}
	return lines, peak.Load(), took
}

// auditFixture fills the audit view's tables with n events over 2029
// (see BenchmarkAudit) and returns the queries over them.
func auditFixture(b *testing.B, bc backendCase, n int64) queries.Service {
	b.Helper()
	began := time.Now()
	store, backend := projtest.Open(b, bc.name)
	d := projtest.OpenDirect(b, store, audit.Projection{})
	// Event g: a daily update (70%), a location edit (20%) or an account
	// event (10%), by a user, in a session of 7 events; 5% in bulk
	// uploads.
	const ms = int64(365 * 24 * 3600 * 1000)
	step := max(ms/n, 1)
	pg := d.Dialect == projections.Postgres
	series, at := fmt.Sprintf("generate_series(1::bigint, %d) g", n),
		fmt.Sprintf("timestamptz '2029-01-01' + g * %d * interval '1 millisecond'", step)
	if !pg {
		series = fmt.Sprintf("(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < %d) SELECT g FROM s)", n)
		at = fmt.Sprintf("strftime('%%Y-%%m-%%dT%%H:%%M:%%f', '2029-01-01', '+' || (g * %d / 1000.0) || ' seconds') || '000000Z'", step)
	}
	hour := "date_trunc('hour', recorded_at)"
	if !pg {
		hour = "substr(recorded_at, 1, 13) || ':00:00.000000000Z'"
	}
	loc := "'1-' || (g * 7919 % 30000)"
	user := "'u' || (g * 104729 % 100000)"
	statements := []string{
		fmt.Sprintf(`INSERT INTO %[1]s (position, event_id, stream_id, stream_version, event_type, recorded_at, entity_type,
    entity_id, location_id, actor_user_id, actor_account_kind, session_id, client_ip, user_agent, command, correlation_id,
    bulk_upload_id, summary, change_count)
SELECT g, 'e' || g,
    CASE WHEN g %% 10 < 7 THEN 'dailyupdate-' || %[3]s WHEN g %% 10 < 9 THEN 'location-' || %[3]s ELSE 'user-' || %[4]s END,
    g / 30000 + 1,
    CASE WHEN g %% 10 < 7 THEN 'DailyUpdateSubmitted' WHEN g %% 10 < 9 THEN 'ContactUpdated.v2'
        WHEN g %% 1000 = 9 THEN 'AuditorRoleGranted' ELSE 'LoginSucceeded' END,
    %[2]s,
    CASE WHEN g %% 10 < 7 THEN 'dailyupdate' WHEN g %% 10 < 9 THEN 'location' ELSE 'user' END,
    CASE WHEN g %% 10 < 9 THEN %[3]s ELSE %[4]s END,
    CASE WHEN g %% 10 < 9 THEN %[3]s ELSE '' END,
    'u' || (g * 31 %% 100000), 'personal', 's' || (g / 7), '10.0.0.1', 'Mozilla/5.0', 'SubmitDailyUpdate', 'c' || g,
    CASE WHEN g %% 20 = 0 THEN 'up' || (g / 20 %% 10000) ELSE '' END, 'A change', 1
FROM %[5]s`, audit.EventsTable, at, loc, user, series),
		fmt.Sprintf(`INSERT INTO %s (position, seq, field, before_value, after_value)
SELECT position, 1, 'contacts[0].email', '"a@example.org"', '"b@example.org"' FROM %s`,
			audit.ChangesTable, audit.EventsTable),
		// Location l belongs to organisation o(l % 10000); obig has 600
		// locations more, and every user one organisation.
		fmt.Sprintf(`INSERT INTO %s (stream_id, organisation_id)
SELECT c || '-1-' || l, 'o' || (l %% 10000) FROM (SELECT l FROM %s) ls, (SELECT 'location' AS c UNION ALL SELECT 'dailyupdate') cs
UNION ALL SELECT c || '-1-' || l, 'obig' FROM (SELECT l FROM %s) ls, (SELECT 'location' AS c UNION ALL SELECT 'dailyupdate') cs
WHERE l < 600
UNION ALL SELECT 'user-u' || l, 'o' || (l %% 10000) FROM (SELECT l FROM %s) us`, audit.EntityOrgsTable,
			numbers(pg, "l", 30000), numbers(pg, "l", 30000), numbers(pg, "l", 100000)),
		fmt.Sprintf(`INSERT INTO %s (hour, min_position, max_position)
SELECT %s, min(position), max(position) FROM %s GROUP BY 1`, audit.HoursTable, hour,
			audit.EventsTable),
		fmt.Sprintf(`INSERT INTO %s (user_id, email, full_name, kind)
SELECT 'u' || l, 'u' || l || '@example.org', 'User ' || l, 'personal' FROM (SELECT l FROM %s) us`,
			audit.UsersTable, numbers(pg, "l", 100000)),
	}
	d.InTx(func(tx projections.Tx) error {
		for _, s := range statements {
			if _, err := tx.ExecContext(context.Background(), s); err != nil {
				return fmt.Errorf("%w\n%s", err, s)
			}
		}
		return nil
	})
	filled := time.Since(began)
	// The statistics and visibility map that PostgreSQL's autovacuum
	// keeps in production. The server never runs SQLite's ANALYZE, and
	// neither does the fixture: with its statistics SQLite may choose a
	// skip-scan of a few-valued index (event_type) and a sort over a
	// month's events rather than the positions' own order.
	if s, ok := store.(interface{ Pool() *pgxpool.Pool }); ok {
		if _, err := s.Pool().Exec(context.Background(), `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d events written in %s, analysed in %s", bc.name, n, filled.Round(time.Second),
		(time.Since(began) - filled).Round(time.Second))
	return queries.Service{ReadModels: projections.NewReadModels(backend)}
}

// numbers is a table of the numbers 0 to n-1 in column col.
func numbers(pg bool, col string, n int) string {
	if pg {
		return fmt.Sprintf("generate_series(0, %d) %s", n-1, col)
	}
	return fmt.Sprintf("(WITH RECURSIVE s(%[1]s) AS (SELECT 0 UNION ALL SELECT %[1]s + 1 FROM s WHERE %[1]s < %[2]d) SELECT %[1]s FROM s)", col, n-1)
}
