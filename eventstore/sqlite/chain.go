package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/capacitytracker/capacity/eventstore"
)

var _ eventstore.ChainStore = (*Store)(nil)

const readStoredQuery = `SELECT position, stream_id, stream_version, event_id, event_type, data, metadata,
	coalesce(subjects, ''), recorded_at, hash FROM events`

func scanStored(rows *sql.Rows) ([]eventstore.RawEvent, error) {
	defer rows.Close()
	var out []eventstore.RawEvent
	for rows.Next() {
		var e eventstore.RawEvent
		if err := rows.Scan(&e.Position, &e.StreamID, &e.Version, &e.EventID, &e.Type, &e.Data, &e.Metadata,
			&e.Subjects, &e.RecordedAt, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStored implements eventstore.ChainStore: the rows exactly as stored.
func (s *Store) ReadStored(ctx context.Context, after, upTo int64, limit int) ([]eventstore.RawEvent, error) {
	rows, err := s.reader.QueryContext(ctx, readStoredQuery+` WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`, after, upTo, limit)
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	out, err := scanStored(rows)
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	return out, nil
}

// MaxPosition implements eventstore.ChainStore; on SQLite it is the head.
func (s *Store) MaxPosition(ctx context.Context) (int64, error) { return s.HeadPosition(ctx) }

// CountEvents implements eventstore.ChainStore.
func (s *Store) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Checkpoints implements eventstore.ChainStore.
func (s *Store) Checkpoints(ctx context.Context) ([]eventstore.ChainCheckpoint, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT seq, position, events, digest, signature, created_at
  FROM event_chain_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []eventstore.ChainCheckpoint
	for rows.Next() {
		var (
			c  eventstore.ChainCheckpoint
			at string
		)
		if err := rows.Scan(&c.Seq, &c.Position, &c.Events, &c.Digest, &c.Signature, &at); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		if c.CreatedAt, err = time.Parse(TimeLayout, at); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddCheckpoint implements eventstore.ChainStore.
func (s *Store) AddCheckpoint(ctx context.Context, c eventstore.ChainCheckpoint) error {
	tx, err := beginWrite(ctx, s.reader)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, `INSERT INTO event_chain_checkpoints (seq, position, events, digest, signature, created_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`, c.Seq, c.Position, c.Events, c.Digest, c.Signature, c.CreatedAt.UTC().Format(TimeLayout))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return eventstore.ErrCheckpointTaken
	}
	return tx.Commit()
}

// hashUnchained hashes the events stored before the chain existed
// (migration 0006), stream by stream in version order, and records each
// stream's head. It does nothing once every event has its hash.
func (s *Store) hashUnchained(ctx context.Context) error {
	var pending int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events WHERE hash IS NULL LIMIT 1)`).Scan(&pending); err != nil {
		return err
	}
	if pending == 0 {
		return nil
	}
	tx, err := beginWrite(ctx, s.writer)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, readStoredQuery+` ORDER BY stream_id, stream_version`)
	if err != nil {
		return err
	}
	evs, err := scanStored(rows)
	if err != nil {
		return err
	}
	var (
		stream string
		head   []byte
	)
	flush := func() error {
		if stream == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE streams SET head_hash = ? WHERE stream_id = ?`, head, stream)
		return err
	}
	for _, e := range evs {
		if e.StreamID != stream {
			if err := flush(); err != nil {
				return err
			}
			stream, head = e.StreamID, nil
		}
		head = eventstore.EventHash(head, e)
		if _, err := tx.ExecContext(ctx, `UPDATE events SET hash = ? WHERE position = ?`, head, e.Position); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return tx.Commit()
}
