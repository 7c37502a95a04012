package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/history"
)

// historyRoutes is time travel for auditors: a stream's state at a version
// or instant, the diff between two points, and its timeline, all folded
// from the event log (commands.StreamHistory says who may see which).
func (s *Server) historyRoutes(api *mux.Router) {
	const path = "/history/{stream_id}"
	api.HandleFunc(path, s.authed(s.handleReplay)).Methods(http.MethodGet)
	api.HandleFunc(path+"/diff", s.authed(s.handleDiff)).Methods(http.MethodGet)
	api.HandleFunc(path+"/timeline", s.authed(s.handleTimeline)).Methods(http.MethodGet)
}

// parsePoint reads a point of a stream's history: a version number, or an
// RFC 3339 instant. Empty is the latest version.
func parsePoint(v *domain.ValidationError, field, s string) history.Point {
	s = strings.TrimSpace(s)
	if s == "" {
		return history.AtVersion(1 << 62)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return history.AtVersion(n)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return history.AsOf(t)
	}
	v.Add(field, "invalid_point", "Give a version (0, 1, 2, ...) or an instant like 2026-11-24T09:30:00Z")
	return history.Point{}
}

func (s *Server) streamHistory(w http.ResponseWriter, r *http.Request, a commands.Actor) (string, []history.Event, bool) {
	id := mux.Vars(r)["stream_id"]
	evs, err := s.commands.StreamHistory(r.Context(), a, id)
	if err != nil {
		s.writeErr(w, r, err)
		return "", nil, false
	}
	return id, evs, true
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	q := r.URL.Query()
	var v domain.ValidationError
	p := parsePoint(&v, "version", q.Get("version"))
	if q.Has("as_of") {
		if q.Has("version") {
			v.Add("as_of", "one_point", "Give version or as_of, not both")
		}
		p = parsePoint(&v, "as_of", q.Get("as_of"))
	}
	if err := v.Err(); err != nil {
		s.writeErr(w, r, err)
		return
	}
	id, evs, ok := s.streamHistory(w, r, a)
	if !ok {
		return
	}
	st, err := history.Replay(id, evs, p)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// DiffBody is the answer of a diff: the two points and the fields that
// differ between them.
type DiffBody struct {
	From    history.State    `json:"from"`
	To      history.State    `json:"to"`
	Changes []history.Change `json:"changes"`
}

func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	q := r.URL.Query()
	var v domain.ValidationError
	from, to := parsePoint(&v, "from", q.Get("from")), parsePoint(&v, "to", q.Get("to"))
	if strings.TrimSpace(q.Get("from")) == "" {
		v.Add("from", "required", "Give the earlier point: a version or an instant")
	}
	if err := v.Err(); err != nil {
		s.writeErr(w, r, err)
		return
	}
	id, evs, ok := s.streamHistory(w, r, a)
	if !ok {
		return
	}
	var body DiffBody
	var err error
	if body.From, err = history.Replay(id, evs, from); err == nil {
		if body.To, err = history.Replay(id, evs, to); err == nil {
			body.Changes, err = history.Diff(body.From.State, body.To.State)
		}
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if body.Changes == nil {
		body.Changes = []history.Change{}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	id, evs, ok := s.streamHistory(w, r, a)
	if !ok {
		return
	}
	tl, err := history.Timeline(id, evs)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream_id": id, "entries": tl})
}
