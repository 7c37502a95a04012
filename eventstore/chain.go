package eventstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// # Tamper evidence
//
// Every event stores a hash over its content and the hash of the event
// before it in its stream (a chain per stream, so that appends to different
// streams never wait for each other): EventHash. Each backend computes it in
// the append transaction from the row exactly as stored, sealed personal
// fields as ciphertext, so that crypto-shredding (deleting a key) leaves
// every hash valid.
//
// A chain per stream does not show an event deleted at a stream's end, or
// events moved in the global order. So a checkpointer (Checkpoint) folds
// the log, in global order, into a chain of signed checkpoints: each
// checkpoint's digest is SHA-256 over the previous digest and the
// (position, hash) of every event after the previous checkpoint, up to its
// own position, signed with HMAC-SHA256 under a server key that is not in
// the event tables. It runs after the appends, never in their way.
//
// Verify walks the whole log, recomputes every event's hash and every
// checkpoint, and reports the first place where anything differs.

// RawEvent is an event row as stored: the input of its hash. Text fields
// are in their stored form (on PostgreSQL the canonical text of the JSONB
// columns; RecordedAt as the backend renders its stored instant).
type RawEvent struct {
	Position   int64
	StreamID   string
	Version    int64
	EventID    string
	Type       string
	Data       string
	Metadata   string
	Subjects   string
	RecordedAt string
	Hash       []byte // nil: stored without a hash
}

// hashField appends one length-prefixed field, so that no two different
// rows hash the same bytes.
func hashField(buf []byte, s []byte) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
	return append(buf, s...)
}

// EventHash is an event's hash: SHA-256 over, each as an 8-byte big-endian
// length and its bytes, the hash of the stream's previous event (empty for
// the first), the stream id, the version in decimal, the event id, its
// type, data, metadata, subjects and recorded-at as stored. PostgreSQL
// computes the same bytes in its eventstore_event_hash function.
func EventHash(prev []byte, e RawEvent) []byte {
	buf := make([]byte, 0, 128+len(e.Data)+len(e.Metadata))
	buf = hashField(buf, prev)
	buf = hashField(buf, []byte(e.StreamID))
	buf = hashField(buf, strconv.AppendInt(nil, e.Version, 10))
	buf = hashField(buf, []byte(e.EventID))
	buf = hashField(buf, []byte(e.Type))
	buf = hashField(buf, []byte(e.Data))
	buf = hashField(buf, []byte(e.Metadata))
	buf = hashField(buf, []byte(e.Subjects))
	buf = hashField(buf, []byte(e.RecordedAt))
	sum := sha256.Sum256(buf)
	return sum[:]
}

// ChainCheckpoint is one signed checkpoint of the global log.
type ChainCheckpoint struct {
	Seq       int64  // 1, 2, 3, ...
	Position  int64  // the last position it covers
	Events    int64  // events it covers since the previous checkpoint
	Digest    []byte // SHA-256(previous digest, then position and hash of each event covered)
	Signature []byte // HMAC-SHA256 of seq, position, events and digest
	CreatedAt time.Time
}

// digestStep folds one event into a checkpoint digest.
func digestStep(h interface{ Write([]byte) (int, error) }, e RawEvent) {
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], uint64(e.Position))
	_, _ = h.Write(p[:])
	_, _ = h.Write(e.Hash)
}

// Sign is the checkpoint's signature under key.
func (c ChainCheckpoint) Sign(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], uint64(c.Seq))
	binary.BigEndian.PutUint64(b[8:], uint64(c.Position))
	binary.BigEndian.PutUint64(b[16:], uint64(c.Events))
	_, _ = m.Write(b[:])
	_, _ = m.Write(c.Digest)
	return m.Sum(nil)
}

// ChainStore is what the checkpointer and Verify need of a backend.
type ChainStore interface {
	// ReadStored returns up to limit stored events with after < position
	// <= upTo, in position order, without decrypting anything.
	ReadStored(ctx context.Context, after, upTo int64, limit int) ([]RawEvent, error)
	// HeadPosition is the gap-safe head (see Store).
	HeadPosition(ctx context.Context) (int64, error)
	// MaxPosition is the highest position stored, committed or not yet
	// safe to read in order: what Verify walks to.
	MaxPosition(ctx context.Context) (int64, error)
	// CountEvents counts the stored events (for progress reports).
	CountEvents(ctx context.Context) (int64, error)
	// Checkpoints returns every checkpoint in order.
	Checkpoints(ctx context.Context) ([]ChainCheckpoint, error)
	// AddCheckpoint stores the next checkpoint. When one with its Seq
	// exists already (another node signed at the same moment) it stores
	// nothing and returns ErrCheckpointTaken, without the database
	// raising an error (ON CONFLICT DO NOTHING).
	AddCheckpoint(ctx context.Context, c ChainCheckpoint) error
}

// ErrCheckpointTaken is AddCheckpoint's answer when another checkpointer
// stored a checkpoint of the same Seq first. Both chained from the same
// previous checkpoint, so the log stays signed: Checkpoint treats it as
// "nothing to do".
var ErrCheckpointTaken = errors.New("a checkpoint with this sequence number was stored by another checkpointer")

// ChainKeyName is the server secret that signs checkpoints.
const ChainKeyName = "event_chain_checkpoint_hmac"

// ServerKey reads a named 32-byte secret from the server_secrets table,
// generating it the first time. Secrets never go into events.
func ServerKey(ctx context.Context, store Transactor, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	var key []byte
	err := store.InTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return errors.New("key missing after insert")
		}
		return rows.Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("load server key %s: %w", name, err)
	}
	return key, nil
}

// readBatch is how many stored events the checkpointer and Verify read at
// a time.
const readBatch = 5000

// Checkpoint signs a new checkpoint covering the log up to its gap-safe
// head, if anything was appended since the last one. It returns the new
// checkpoint, or ok false when there was nothing to cover or another
// checkpointer (a second capacityd on the database, capacityctl
// checkpoint) stored the next checkpoint first: signing is idempotent
// across processes, and the race is not an error.
func Checkpoint(ctx context.Context, cs ChainStore, key []byte, now time.Time) (ChainCheckpoint, bool, error) {
	cps, err := cs.Checkpoints(ctx)
	if err != nil {
		return ChainCheckpoint{}, false, err
	}
	var last ChainCheckpoint
	if len(cps) > 0 {
		last = cps[len(cps)-1]
	}
	head, err := cs.HeadPosition(ctx)
	if err != nil {
		return ChainCheckpoint{}, false, err
	}
	if head <= last.Position {
		return ChainCheckpoint{}, false, nil
	}
	h := sha256.New()
	_, _ = h.Write(last.Digest)
	next := ChainCheckpoint{Seq: last.Seq + 1, CreatedAt: now.UTC()}
	for from := last.Position; from < head; {
		evs, err := cs.ReadStored(ctx, from, head, readBatch)
		if err != nil {
			return ChainCheckpoint{}, false, err
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			digestStep(h, e)
			next.Events++
			next.Position = e.Position
		}
		from = evs[len(evs)-1].Position
	}
	if next.Events == 0 {
		return ChainCheckpoint{}, false, nil
	}
	next.Digest = h.Sum(nil)
	next.Signature = next.Sign(key)
	if err := cs.AddCheckpoint(ctx, next); err != nil {
		if errors.Is(err, ErrCheckpointTaken) {
			return ChainCheckpoint{}, false, nil
		}
		return ChainCheckpoint{}, false, fmt.Errorf("store checkpoint %d: %w", next.Seq, err)
	}
	return next, true, nil
}

// Tampering is the first place where the log differs from what its hashes
// and checkpoints say.
type Tampering struct {
	Position int64  `json:"position"`
	StreamID string `json:"stream_id,omitempty"`
	Version  int64  `json:"version,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	// Checkpoint is the checkpoint that failed, when it was one.
	Checkpoint int64  `json:"checkpoint,omitempty"`
	Reason     string `json:"reason"`
}

func (t *Tampering) Error() string {
	if t.Checkpoint > 0 {
		return fmt.Sprintf("checkpoint %d (position %d): %s", t.Checkpoint, t.Position, t.Reason)
	}
	return fmt.Sprintf("event at position %d (stream %s version %d, id %s): %s", t.Position, t.StreamID, t.Version, t.EventID, t.Reason)
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Events      int64      `json:"events"`
	Streams     int        `json:"streams"`
	Checkpoints int        `json:"checkpoints"`
	Position    int64      `json:"position"` // the last position walked
	Tampering   *Tampering `json:"tampering,omitempty"`
}

// Verify walks the log from the start, recomputes every event's hash and
// every checkpoint's digest and signature, and stops at the first
// difference (report.Tampering). progress, if not nil, is called after each
// batch with the events walked so far.
func Verify(ctx context.Context, cs ChainStore, key []byte, progress func(events int64, position int64)) (VerifyReport, error) {
	var rep VerifyReport
	cps, err := cs.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	for i, c := range cps {
		if c.Seq != int64(i+1) {
			rep.Tampering = &Tampering{Position: c.Position, Checkpoint: int64(i + 1), Reason: fmt.Sprintf("checkpoint %d is missing", i+1)}
			return rep, nil
		}
		if !hmac.Equal(c.Signature, c.Sign(key)) {
			rep.Tampering = &Tampering{Position: c.Position, Checkpoint: c.Seq, Reason: "the signature does not match: the checkpoint was altered"}
			return rep, nil
		}
	}
	end, err := cs.MaxPosition(ctx)
	if err != nil {
		return rep, err
	}
	type head struct {
		version int64
		hash    []byte
	}
	heads := map[string]head{}
	next := 0 // the next checkpoint to reach
	digest := sha256.New()
	covered := int64(0)
	checkpointAt := func() *Tampering {
		c := cps[next]
		got := digest.Sum(nil)
		if covered != c.Events || !bytes.Equal(got, c.Digest) {
			return &Tampering{Position: c.Position, Checkpoint: c.Seq, Reason: fmt.Sprintf(
				"the log up to position %d no longer matches the checkpoint: %d events covered (signed: %d), digest %s (signed: %s): events were inserted, deleted, moved or rehashed",
				c.Position, covered, c.Events, hex.EncodeToString(got), hex.EncodeToString(c.Digest))}
		}
		digest = sha256.New()
		_, _ = digest.Write(c.Digest)
		covered = 0
		next++
		return nil
	}
	for from := int64(0); from < end; {
		evs, err := cs.ReadStored(ctx, from, end, readBatch)
		if err != nil {
			return rep, err
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			// Checkpoints that end before this event must be complete.
			for next < len(cps) && cps[next].Position < e.Position {
				if t := checkpointAt(); t != nil {
					rep.Tampering = t
					return rep, nil
				}
				rep.Checkpoints++
			}
			at := func(reason string) *Tampering {
				return &Tampering{Position: e.Position, StreamID: e.StreamID, Version: e.Version, EventID: e.EventID, Reason: reason}
			}
			h := heads[e.StreamID]
			switch {
			case e.Version != h.version+1:
				rep.Tampering = at(fmt.Sprintf("version %d follows version %d of its stream: events were deleted, inserted or renumbered", e.Version, h.version))
				return rep, nil
			case e.Hash == nil:
				rep.Tampering = at("the event has no hash")
				return rep, nil
			}
			want := EventHash(h.hash, e)
			if !bytes.Equal(want, e.Hash) {
				rep.Tampering = at("its content does not match its hash: the event, or the one before it in its stream, was altered")
				return rep, nil
			}
			heads[e.StreamID] = head{version: e.Version, hash: e.Hash}
			digestStep(digest, e)
			covered++
			rep.Events++
			rep.Position = e.Position
		}
		from = evs[len(evs)-1].Position
		if progress != nil {
			progress(rep.Events, rep.Position)
		}
	}
	for next < len(cps) {
		if t := checkpointAt(); t != nil {
			rep.Tampering = t
			return rep, nil
		}
		rep.Checkpoints++
	}
	rep.Streams = len(heads)
	return rep, nil
}
