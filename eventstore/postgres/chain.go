package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/capacitytracker/capacity/eventstore"
)

var _ eventstore.ChainStore = (*Store)(nil)

// ReadStored implements eventstore.ChainStore: the rows as stored, with the
// canonical text of the JSONB columns and recorded_at in microseconds, as
// the events_chain trigger hashed them.
func (s *Store) ReadStored(ctx context.Context, after, upTo int64, limit int) ([]eventstore.RawEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT position, stream_id, stream_version, event_id::text, event_type, data::text,
	metadata::text, coalesce(array_to_string(subjects, ' '), ''), eventstore_micros(recorded_at)::text, hash
  FROM events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3`, after, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.RawEvent, error) {
		var e eventstore.RawEvent
		err := r.Scan(&e.Position, &e.StreamID, &e.Version, &e.EventID, &e.Type, &e.Data, &e.Metadata, &e.Subjects, &e.RecordedAt, &e.Hash)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	return out, nil
}

// MaxPosition implements eventstore.ChainStore.
func (s *Store) MaxPosition(ctx context.Context) (int64, error) {
	var p int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&p); err != nil {
		return 0, fmt.Errorf("max position: %w", err)
	}
	return p, nil
}

// CountEvents implements eventstore.ChainStore.
func (s *Store) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Checkpoints implements eventstore.ChainStore.
func (s *Store) Checkpoints(ctx context.Context) ([]eventstore.ChainCheckpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, position, events, digest, signature, created_at
  FROM event_chain_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.ChainCheckpoint, error) {
		var c eventstore.ChainCheckpoint
		err := r.Scan(&c.Seq, &c.Position, &c.Events, &c.Digest, &c.Signature, &c.CreatedAt)
		c.CreatedAt = c.CreatedAt.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// AddCheckpoint implements eventstore.ChainStore.
func (s *Store) AddCheckpoint(ctx context.Context, c eventstore.ChainCheckpoint) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO event_chain_checkpoints (seq, position, events, digest, signature, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO NOTHING`, c.Seq, c.Position, c.Events, c.Digest, c.Signature, c.CreatedAt)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return eventstore.ErrCheckpointTaken
	}
	return nil
}
