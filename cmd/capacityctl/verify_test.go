package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/cmd/internal/app"
)

// TestVerify_NamesTheEventEditedInTheDatabase: a clean log verifies; after
// one event's row is edited directly in the database (as someone with
// database access but not the server's key would), verify exits 1 naming
// that event's position.
func TestVerify_NamesTheEventEditedInTheDatabase(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{app.KindPostgres, app.KindSQLite} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := newCtlDB(t, backend)
			db.must("gp", "import", gpSampleFile)
			// On PostgreSQL a checkpoint covers the gap-safe head, which
			// trails while any transaction of the cluster (other tests'
			// included) is open: sign once it has caught up with all 10
			// events, not just some of them.
			b := db.open()
			for deadline := time.Now().Add(30 * time.Second); ; {
				evs, err := b.Store.ReadAll(context.Background(), 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) == 10 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			b.Close()
			out := db.must("checkpoint")
			if !strings.HasPrefix(out, "checkpoint 1 signed: 10 events") {
				t.Fatalf("checkpoint printed %q", out)
			}
			if out := db.must("checkpoint"); out != "nothing appended since the last checkpoint\n" {
				t.Fatalf("second checkpoint printed %q", out)
			}
			if out := db.must("verify"); !strings.Contains(out, "10 events in 10 streams, 1 checkpoints") || !strings.Contains(out, "OK:") {
				t.Fatalf("verify of a clean log printed %q", out)
			}

			// Rename the fifth event's practice in the stored row.
			b = db.open()
			var pos int64
			const pick = `SELECT position FROM events ORDER BY position LIMIT 1 OFFSET 4`
			switch s := b.ChainStore().(type) {
			case interface{ Pool() *pgxpool.Pool }:
				err := s.Pool().QueryRow(context.Background(), `UPDATE events SET data = jsonb_set(data, '{name}', '"Forged Surgery"')
					WHERE position = (`+pick+`) RETURNING position`).Scan(&pos)
				if err != nil {
					t.Fatal(err)
				}
			case interface{ DB() *sql.DB }:
				err := s.DB().QueryRow(`UPDATE events SET data = json_set(data, '$.name', 'Forged Surgery')
					WHERE position = (` + pick + `) RETURNING position`).Scan(&pos)
				if err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("no way to reach the rows of %T", s)
			}
			b.Close()

			out, errOut := db.fails("verify")
			want := fmt.Sprintf("TAMPERED: event at position %d ", pos)
			if !strings.Contains(out, want) || !strings.Contains(errOut, "tampered with") {
				t.Fatalf("verify after the edit printed %q / %q, want %q", out, errOut, want)
			}
		})
	}
}
