package projections

import (
	"context"
	"fmt"

	"github.com/capacitytracker/capacity/eventstore"
)

// Default returns the projections the server runs.
func Default() []Projection {
	return []Projection{CategoryStats{}}
}

// CategoryStats counts the events of every stream category: table
// category_stats (category, event_count, last_event_at, last_position).
// It is the engine's smallest real read model (admin dashboard, smoke
// checks) and, being a counter, shows at once any event applied twice.
type CategoryStats struct{}

// CategoryStatsTable is the read-model table of CategoryStats.
const CategoryStatsTable = "category_stats"

func (CategoryStats) Name() string { return "category_stats" }

func (CategoryStats) Tables() []string { return []string{CategoryStatsTable} }

func (CategoryStats) Schema(d Dialect, table func(string) string) []string {
	t := table(CategoryStatsTable)
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

func (CategoryStats) Apply(ctx context.Context, tx Tx, table func(string) string, ev eventstore.Event) error {
	t := table(CategoryStatsTable)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %[1]s (category, event_count, last_event_at, last_position)
VALUES (?, 1, ?, ?)
ON CONFLICT (category) DO UPDATE SET
    event_count = %[1]s.event_count + 1,
    last_event_at = excluded.last_event_at,
    last_position = excluded.last_position`, t),
		ev.Category(), tx.Dialect().Time(ev.RecordedAt), ev.Position)
	return err
}
