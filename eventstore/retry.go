package eventstore

import "fmt"

// StoredEvent is where an event id was found in the log: what a backend
// reads to answer a retried append.
type StoredEvent struct {
	StreamID string
	Version  int64
	Position int64
}

// Rows is the part of pgx.Rows and *sql.Rows that CollectStored reads.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// CollectStored reads rows of (event id as text, stream id, stream version,
// position). The caller closes rows.
func CollectStored(rows Rows) (map[string]StoredEvent, error) {
	found := map[string]StoredEvent{}
	for rows.Next() {
		var id string
		var st StoredEvent
		if err := rows.Scan(&id, &st.StreamID, &st.Version, &st.Position); err != nil {
			return nil, fmt.Errorf("look up event ids: %w", err)
		}
		found[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up event ids: %w", err)
	}
	return found, nil
}

// MatchRetry answers an append from where its event ids are stored (found,
// by event id as text). ok is true when the append is a retry of one that
// succeeded: every event id of every request is stored, in that request's
// stream, at consecutive versions; then it returns the original results.
// When none is stored it is a new append (ok false, no error). Anything in
// between is ErrDuplicateEventID.
func MatchRetry(reqs []AppendRequest, found map[string]StoredEvent) ([]AppendResult, bool, error) {
	if len(found) == 0 {
		return nil, false, nil
	}
	out := make([]AppendResult, len(reqs))
	for i, r := range reqs {
		res := AppendResult{StreamID: r.StreamID}
		for j, ev := range r.Events {
			st, ok := found[ev.ID.String()]
			if !ok || st.StreamID != r.StreamID || (j > 0 && st.Version != res.LastVersion+1) {
				return nil, false, fmt.Errorf("%w (event %s)", ErrDuplicateEventID, ev.ID)
			}
			if j == 0 {
				res.FirstVersion = st.Version
			}
			res.LastVersion = st.Version
			res.Positions = append(res.Positions, st.Position)
		}
		out[i] = res
	}
	return out, true, nil
}
