// Package categorystats is the category_stats read model: the events of
// every stream category counted, with the last one's time and position. It
// owns its table's DDL, its fold and its read SQL (List).
package categorystats

import (
	"context"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection counts the events of every stream category: table
// category_stats (category, event_count, last_event_at, last_position).
// It is the engine's smallest real read model (admin dashboard, smoke
// checks) and, being a counter, shows at once any event applied twice.
type Projection struct{}

var _ projections.BatchApplier = Projection{}

// Table is the read-model table of Projection.
const Table = "category_stats"

func (Projection) Name() string { return "category_stats" }

func (Projection) Tables() []string { return []string{Table} }

func (Projection) Schema(d projections.Dialect, table func(string) string) []string {
	t := table(Table)
	return []string{
		fmt.Sprintf(`CREATE TABLE %s (
    category      TEXT   PRIMARY KEY,
    event_count   BIGINT NOT NULL,
    last_event_at %s     NOT NULL,
    last_position BIGINT NOT NULL
)`, t, d.TimestampType()),
		fmt.Sprintf(`CREATE INDEX %s_last_event_at ON %s (last_event_at)`, t, t),
	}
}

// Apply counts one event.
func (Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	return upsertCategory(ctx, tx, table, ev.Category(), 1, ev)
}

// ApplyBatch implements BatchApplier: it counts the batch's events per
// category in memory, then writes one upsert per category, which adds the
// count and sets the category's last event, as Apply per event would.
func (Projection) ApplyBatch(ctx context.Context, tx projections.Tx, table func(string) string, evs []eventstore.Event) error {
	type stat struct {
		category string
		count    int64
		last     int // index in evs of the category's last event
	}
	var stats []stat // in order of first appearance
	index := map[string]int{}
	for i := range evs {
		c := evs[i].Category()
		k, ok := index[c]
		if !ok {
			k = len(stats)
			index[c] = k
			stats = append(stats, stat{category: c})
		}
		stats[k].count++
		stats[k].last = i
	}
	for _, s := range stats {
		if err := upsertCategory(ctx, tx, table, s.category, s.count, evs[s.last]); err != nil {
			return err
		}
	}
	return nil
}

// upsertCategory adds n events to a category whose last event is last.
func upsertCategory(ctx context.Context, tx projections.Tx, table func(string) string, category string, n int64, last eventstore.Event) error {
	t := table(Table)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (category, event_count, last_event_at, last_position)
VALUES (?, ?, ?, ?)
ON CONFLICT (category) DO UPDATE SET
    event_count = %[1]s.event_count + excluded.event_count,
    last_event_at = excluded.last_event_at,
    last_position = excluded.last_position`, t),
		category, n, tx.Dialect().Time(last.RecordedAt), last.Position)
	if err != nil {
		return fmt.Errorf("category %s: %w", category, err)
	}
	return nil
}

// Stat is one stream category's row.
type Stat struct {
	Category     string    `json:"category"`
	EventCount   int64     `json:"event_count"`
	LastEventAt  time.Time `json:"last_event_at"`
	LastPosition int64     `json:"last_position"`
}

// List reads every category, by name.
func List(ctx context.Context, db projections.Querier) ([]Stat, error) {
	rows, err := db.QueryContext(ctx, `SELECT category, event_count, last_event_at, last_position FROM `+Table+` ORDER BY category`)
	return projections.Collect(rows, err, nil, func(rows projections.Rows) (Stat, error) {
		var s Stat
		var at projections.Timestamp
		err := rows.Scan(&s.Category, &s.EventCount, &at, &s.LastPosition)
		s.LastEventAt = at.UTC()
		return s, err
	})
}
