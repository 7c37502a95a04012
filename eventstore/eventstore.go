// Package eventstore is the append-only event log that every state change of
// Capacity Tracker is written to. It defines one narrow Store interface with
// two implementations (PostgreSQL in eventstore/postgres, SQLite in
// eventstore/sqlite) that pass one conformance suite (eventstore/storetest).
//
// The package knows nothing about the domain: it stores typed JSON events in
// streams, enforces optimistic concurrency per stream, keeps a gap-safe global
// order, and encrypts the fields the caller marks as personal data with a key
// per data subject (crypto-shredding). It must not read projections or
// perform any business validation.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Limits enforced by every backend before anything is written.
const (
	MaxEventDataBytes    = 1 << 20 // 1 MiB of JSON per event
	MaxEventsPerAppend   = 1000
	MaxStreamIDLength    = 200
	MaxEventTypeLength   = 200
	MaxStreamsPerRequest = 5000 // a bulk upload touches two streams for each of up to 2,000 locations
)

// Errors returned by every backend. Check them with errors.Is.
var (
	ErrWrongExpectedVersion   = errors.New("wrong expected version")
	ErrInvalidStreamID        = errors.New("invalid stream id")
	ErrInvalidExpectedVersion = errors.New("invalid expected version")
	ErrEventTooLarge          = errors.New("event data too large")
	ErrTooManyEvents          = errors.New("too many events in one append")
	ErrNoEvents               = errors.New("no events to append")
	ErrInvalidEvent           = errors.New("invalid event")
	ErrTooManyStreams         = errors.New("too many streams in one read")
	// ErrDuplicateEventID means some (not all) of the event ids of an append
	// are already stored, or they are stored in another stream: it is not a
	// retry of an earlier append, so nothing was written.
	ErrDuplicateEventID = errors.New("event id already stored by a different append")
)

// ExpectedVersion is the optimistic-concurrency condition of an append.
// Values >= 0 are exact stream versions (0 means the stream has no events).
type ExpectedVersion int64

const (
	// Any appends whatever the stream's version.
	Any ExpectedVersion = -1
	// NoStream requires that the stream has no events yet.
	NoStream ExpectedVersion = -2
	// StreamExists requires that the stream has at least one event.
	StreamExists ExpectedVersion = -3
)

// Exact returns the expected version "the stream is at version v".
func Exact(v int64) ExpectedVersion { return ExpectedVersion(v) }

// Validate rejects values that are neither one of the named conditions nor an
// exact version.
func (e ExpectedVersion) Validate() error {
	if e >= 0 || e == Any || e == NoStream || e == StreamExists {
		return nil
	}
	return fmt.Errorf("%w: %d", ErrInvalidExpectedVersion, int64(e))
}

// Matches reports whether a stream currently at version current satisfies e.
func (e ExpectedVersion) Matches(current int64) bool {
	switch {
	case e == Any:
		return true
	case e == NoStream:
		return current == 0
	case e == StreamExists:
		return current > 0
	default:
		return int64(e) == current
	}
}

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no-stream"
	case StreamExists:
		return "stream-exists"
	default:
		return fmt.Sprintf("%d", int64(e))
	}
}

// WrongExpectedVersionError carries the stream's current version so that the
// caller can answer 409 with it. It matches ErrWrongExpectedVersion.
type WrongExpectedVersionError struct {
	StreamID       string
	Expected       ExpectedVersion
	CurrentVersion int64
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("stream %s: expected version %s, current version %d", e.StreamID, e.Expected, e.CurrentVersion)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// AccountKind says what kind of login acted.
type AccountKind string

const (
	AccountPersonal AccountKind = "personal"
	AccountGeneric  AccountKind = "generic"
	AccountSystem   AccountKind = "system"
)

// Metadata is stored with every event: who did it, through which login and
// client, as part of which command.
type Metadata struct {
	CorrelationID    string            `json:"correlation_id"`
	CausationID      string            `json:"causation_id"`
	ActorUserID      string            `json:"actor_user_id"`
	ActorAccountKind AccountKind       `json:"actor_account_kind"`
	SessionID        string            `json:"session_id"`
	ClientIP         string            `json:"client_ip"`
	UserAgent        string            `json:"user_agent"`
	Command          string            `json:"command"`
	Extra            map[string]string `json:"extra,omitempty"`
}

// PersonalField marks one field of an event's data as personal data of a data
// subject. Path is a dotted path of JSON object keys ("contact.email"); the
// value found there, whatever its JSON type, is encrypted with the subject's
// key.
type PersonalField struct {
	Path    string `json:"path"`
	Subject string `json:"subject"`
}

// EventData is an event to append.
type EventData struct {
	ID       uuid.UUID // required: the idempotency key of the event
	Type     string
	Data     json.RawMessage
	Metadata Metadata
	Personal []PersonalField
}

// Event is a stored event as read back.
type Event struct {
	Position   int64 // global position: strictly increasing in log order
	StreamID   string
	Version    int64 // stream version: 1, 2, 3, ... without gaps
	ID         uuid.UUID
	Type       string
	Data       json.RawMessage // personal fields decrypted, or null when erased
	Metadata   Metadata
	RecordedAt time.Time // UTC
	// Erased lists the paths of personal fields whose subject's key was
	// deleted; they read as JSON null.
	Erased []string
}

// Category is the stream id's prefix up to its first '-'.
func (e Event) Category() string { return Category(e.StreamID) }

// AppendRequest is one stream's part of an atomic multi-stream append.
type AppendRequest struct {
	StreamID string
	Expected ExpectedVersion
	Events   []EventData
}

// AppendResult tells where the appended events landed.
type AppendResult struct {
	StreamID     string
	FirstVersion int64
	LastVersion  int64
	Positions    []int64 // one per event, in order
}

// LastPosition is the global position of the last appended event.
func (r AppendResult) LastPosition() int64 {
	if len(r.Positions) == 0 {
		return 0
	}
	return r.Positions[len(r.Positions)-1]
}

// ReadStreamOptions bounds a stream read. Zero values mean no bound.
type ReadStreamOptions struct {
	FromVersion int64     // first version to return (inclusive); 0 or 1 = from the start
	ToVersion   int64     // last version to return (inclusive); 0 = to the end
	AsOf        time.Time // only events recorded at or before this instant
}

// StreamInfo describes one stream.
type StreamInfo struct {
	StreamID  string
	Category  string
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ListStreamsOptions filters and pages ListStreams. Streams are ordered by id.
type ListStreamsOptions struct {
	Category string // only streams of this category
	After    string // only stream ids greater than this
	Limit    int    // 0 = 1000
}

// Store is the event log. All methods are safe for concurrent use.
type Store interface {
	// Append appends events to one stream atomically, all or nothing, if the
	// stream's version satisfies expected. Retrying an append whose event ids
	// are all stored already returns the original result and stores nothing.
	Append(ctx context.Context, streamID string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// AppendMany appends to several streams in one atomic step.
	AppendMany(ctx context.Context, reqs []AppendRequest) ([]AppendResult, error)
	// ReadStream returns a stream's events in version order.
	ReadStream(ctx context.Context, streamID string, opts ReadStreamOptions) ([]Event, error)
	// ReadStreams returns the events of several streams in one read, each
	// stream's in version order, keyed by stream id; a stream without
	// events has no key. A stream id may be named more than once; at most
	// MaxStreamsPerRequest distinct streams.
	ReadStreams(ctx context.Context, streamIDs []string) (map[string][]Event, error)
	// ReadAll returns up to limit events with position > from in global order.
	// It never returns an event while an event with a lower position may
	// still be committed (gap safety).
	ReadAll(ctx context.Context, from int64, limit int) ([]Event, error)
	// ReadCategory is ReadAll restricted to the streams of one category.
	ReadCategory(ctx context.Context, category string, from int64, limit int) ([]Event, error)
	// ListStreams lists streams by id.
	ListStreams(ctx context.Context, opts ListStreamsOptions) ([]StreamInfo, error)
	// HeadPosition is the position of the last event that ReadAll can return now.
	HeadPosition(ctx context.Context) (int64, error)
	// ForgetSubject deletes a data subject's key: their personal fields then
	// read as erased everywhere. The caller records the erasure as an event.
	ForgetSubject(ctx context.Context, subject string) error
	Close() error
}

var streamIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*-[A-Za-z0-9][A-Za-z0-9_.:@+-]*$`)

// ValidateStreamID checks the form "category-id": a lower-case category, a
// dash, then an id of letters, digits and _ . : @ + -.
func ValidateStreamID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidStreamID)
	case len(id) > MaxStreamIDLength:
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidStreamID, MaxStreamIDLength)
	case !streamIDPattern.MatchString(id):
		return fmt.Errorf("%w: %q is not of the form category-id", ErrInvalidStreamID, id)
	}
	return nil
}

// Category returns the category of a stream id: its prefix before the first '-'.
func Category(streamID string) string {
	if i := strings.IndexByte(streamID, '-'); i > 0 {
		return streamID[:i]
	}
	return streamID
}

var subjectPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$`)

// ValidateSubject checks a data subject's id (a user id, a stream id):
// letters, digits and _ . : @ + -, at most MaxStreamIDLength characters.
// The id is stored inside sealed values and as the key's name, so it must
// survive JSON and SQL unchanged.
func ValidateSubject(subject string) error {
	if subject == "" || len(subject) > MaxStreamIDLength || !subjectPattern.MatchString(subject) {
		return fmt.Errorf("data subject %q must be 1 to %d letters, digits or _ . : @ + -", subject, MaxStreamIDLength)
	}
	return nil
}

// ValidatePersonalPath checks a personal field's path: JSON object keys
// joined by dots, none of them empty.
func ValidatePersonalPath(path string) error {
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			return fmt.Errorf("personal field path %q must be non-empty keys joined by dots", path)
		}
	}
	return nil
}

var eventTypePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*$`)

// ValidateAppend checks a request against the limits before any I/O.
func ValidateAppend(streamID string, expected ExpectedVersion, events []EventData) error {
	if err := ValidateStreamID(streamID); err != nil {
		return err
	}
	if err := expected.Validate(); err != nil {
		return err
	}
	if len(events) == 0 {
		return ErrNoEvents
	}
	if len(events) > MaxEventsPerAppend {
		return fmt.Errorf("%w: %d events, at most %d", ErrTooManyEvents, len(events), MaxEventsPerAppend)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, ev := range events {
		if ev.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d has no id", ErrInvalidEvent, i)
		}
		if _, dup := seen[ev.ID]; dup {
			return fmt.Errorf("%w: event id %s appears twice", ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = struct{}{}
		if len(ev.Type) > MaxEventTypeLength || !eventTypePattern.MatchString(ev.Type) {
			return fmt.Errorf("%w: event %d has a malformed type %q", ErrInvalidEvent, i, ev.Type)
		}
		if len(ev.Data) > MaxEventDataBytes {
			return fmt.Errorf("%w: event %d has %d bytes of data, at most %d", ErrEventTooLarge, i, len(ev.Data), MaxEventDataBytes)
		}
		if len(ev.Data) == 0 || !json.Valid(ev.Data) {
			return fmt.Errorf("%w: event %d data is not valid JSON", ErrInvalidEvent, i)
		}
		if usesReservedKey(ev.Data) {
			return fmt.Errorf("%w: event %d data uses the reserved key %q", ErrInvalidEvent, i, piiMarker)
		}
		for _, pf := range ev.Personal {
			if err := ValidatePersonalPath(pf.Path); err != nil {
				return fmt.Errorf("%w: event %d: %v", ErrInvalidEvent, i, err)
			}
			if err := ValidateSubject(pf.Subject); err != nil {
				return fmt.Errorf("%w: event %d: %v", ErrInvalidEvent, i, err)
			}
		}
	}
	return nil
}

// ValidateReadStreams checks the stream ids of a ReadStreams call and
// returns them without repeats, in their first order.
func ValidateReadStreams(streamIDs []string) ([]string, error) {
	seen := make(map[string]struct{}, len(streamIDs))
	out := make([]string, 0, len(streamIDs))
	for _, id := range streamIDs {
		if err := ValidateStreamID(id); err != nil {
			return nil, err
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	if len(out) > MaxStreamsPerRequest {
		return nil, fmt.Errorf("%w: %d streams in one read, at most %d", ErrTooManyStreams, len(out), MaxStreamsPerRequest)
	}
	return out, nil
}

// GroupByStream keys events by their stream, keeping their order.
func GroupByStream(evs []Event) map[string][]Event {
	out := make(map[string][]Event)
	for _, ev := range evs {
		out[ev.StreamID] = append(out[ev.StreamID], ev)
	}
	return out
}

// ValidateAppendMany checks a multi-stream append: each part, and that no
// stream appears twice.
func ValidateAppendMany(reqs []AppendRequest) error {
	if len(reqs) == 0 {
		return ErrNoEvents
	}
	if len(reqs) > MaxStreamsPerRequest {
		return fmt.Errorf("%w: %d streams in one append, at most %d", ErrTooManyEvents, len(reqs), MaxStreamsPerRequest)
	}
	streams := make(map[string]struct{}, len(reqs))
	ids := make(map[uuid.UUID]struct{})
	for _, r := range reqs {
		if err := ValidateAppend(r.StreamID, r.Expected, r.Events); err != nil {
			return err
		}
		if _, dup := streams[r.StreamID]; dup {
			return fmt.Errorf("%w: stream %s appears twice in one append", ErrInvalidEvent, r.StreamID)
		}
		streams[r.StreamID] = struct{}{}
		for _, ev := range r.Events {
			if _, dup := ids[ev.ID]; dup {
				return fmt.Errorf("%w: event id %s appears twice", ErrInvalidEvent, ev.ID)
			}
			ids[ev.ID] = struct{}{}
		}
	}
	return nil
}

// NewEvent builds an EventData with a fresh id from a value marshalled as JSON.
func NewEvent(eventType string, data any, md Metadata, personal ...PersonalField) (EventData, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return EventData{}, fmt.Errorf("marshal %s: %w", eventType, err)
	}
	return EventData{ID: uuid.New(), Type: eventType, Data: raw, Metadata: md, Personal: personal}, nil
}
