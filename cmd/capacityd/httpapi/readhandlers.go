package httpapi

import (
	"context"
	"net/http"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/queries"
)

// The read handlers' one shape: parse the request into a query, run it
// for the viewer, then answer 200 with the result as JSON, or stream its
// rows into a download. A failure of the parse or the query is answered by
// writeErr. The viewer V is a queries.Viewer on a logged-in route
// (viewed), or a *queries.Viewer on a public one (maybeAuthed, nil for the
// public); the queries are methods of queries.Service, bound to s.queries
// when the routes are registered.

// viewed serves a handler of a logged-in caller's viewer: authed, then the
// actor's viewer.
func (s *Server) viewed(h func(w http.ResponseWriter, r *http.Request, v queries.Viewer)) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, a commands.Actor) { h(w, r, viewer(a)) })
}

// serveRead answers 200 with run's result for the parsed query as JSON,
// or the error of either.
func serveRead[Q, T any](s *Server, w http.ResponseWriter, r *http.Request, parse func(*http.Request) (Q, error),
	run func(Q) (T, error)) {
	q, err := parse(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out, err := run(q)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// jsonRead serves a read answered as JSON: the parsed query, run by query
// (such as queries.Service.Compliance) for the viewer.
func jsonRead[V, Q, T any](s *Server, parse func(*http.Request) (Q, error),
	query func(context.Context, V, Q) (T, error)) func(http.ResponseWriter, *http.Request, V) {
	return func(w http.ResponseWriter, r *http.Request, v V) {
		serveRead(s, w, r, parse, func(q Q) (T, error) { return query(r.Context(), v, q) })
	}
}

// fileRead serves a read answered as a download of the format (writeFile):
// the rows of the parsed query, streamed by each (such as
// queries.Service.EachCompliance) for the viewer into the columns. A
// failure before the first row is answered as JSON (writeFile).
func fileRead[V, Q, T any](s *Server, format fileFormat, sheet, prefix string, cols []column[T],
	parse func(*http.Request) (Q, error),
	each func(context.Context, V, Q, func(T) error) error) func(http.ResponseWriter, *http.Request, V) {
	return func(w http.ResponseWriter, r *http.Request, v V) {
		q, err := parse(r)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		writeFile(s, w, r, format, sheet, prefix, cols, func(fn func(T) error) error {
			return each(r.Context(), v, q, fn)
		})
	}
}

// readFunc answers a read of the read models for a logged-in viewer, with
// the min_position of read-your-writes: the shape of the reads whose query
// is a path parameter and min_position, or little more.
type readFunc func(r *http.Request, v queries.Viewer, minPosition int64) (any, error)

// read serves a readFunc: 200 with its result, or its error.
func (s *Server) read(fn readFunc) http.HandlerFunc {
	return s.viewed(func(w http.ResponseWriter, r *http.Request, v queries.Viewer) {
		serveRead(s, w, r, minPosition, func(pos int64) (any, error) { return fn(r, v, pos) })
	})
}

// fileFormat is the format of a download.
type fileFormat int

const (
	xlsxFile fileFormat = iota
	csvFile
)

// writeFile answers with a download of the format.
func writeFile[T any](s *Server, w http.ResponseWriter, r *http.Request, format fileFormat, sheet, prefix string,
	cols []column[T], each func(fn func(T) error) error) {
	if format == csvFile {
		writeCSV(s, w, r, prefix, cols, each)
		return
	}
	writeXLSX(s, w, r, sheet, prefix, cols, each)
}
