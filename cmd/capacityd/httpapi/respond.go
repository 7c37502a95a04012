package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code for programs and a message
// for people.
type ErrorDetail struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fields lists every invalid field of a 422 answer.
	Fields []domain.FieldError `json:"fields,omitempty"`
	// CurrentVersion is the stream's version in a 409 answer to a stale
	// expected version.
	CurrentVersion *int64 `json:"current_version,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status line is sent: an encoding error can only be a broken
	// connection, which there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Status: status, Code: code, Message: message}})
}

// writeErr answers an error of the application layer with its status.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var (
		body     *errBody
		nul      *nulError
		invalid  *domain.ValidationError
		conflict *domain.ConflictError
		rule     *domain.RuleError
		version  *eventstore.WrongExpectedVersionError
		stale    *location.StaleVersionError
		cqc      *location.CQCOwnedError
	)
	switch {
	case errors.As(err, &stale):
		writeStale(w, stale)
	case errors.As(err, &cqc):
		writeError(w, http.StatusForbidden, "cqc_owned", cqc.Error())
	case errors.As(err, &body):
		writeError(w, body.status, body.code, body.msg)
	case errors.As(err, &nul):
		writeNUL(w, nul)
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, ErrorBody{Error: ErrorDetail{Status: http.StatusUnprocessableEntity,
			Code: "validation_failed", Message: "some fields are not valid", Fields: invalid.Fields}})
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, conflict.Code, conflict.Message)
	case errors.As(err, &rule):
		status := http.StatusUnprocessableEntity
		if rule.Code == commands.ErrDisclaimerRequired.Code || rule.Code == commands.ErrPasswordChangeRequired.Code {
			status = http.StatusForbidden
		}
		writeError(w, status, rule.Code, rule.Message)
	case errors.As(err, &version):
		v := version.CurrentVersion
		writeJSON(w, http.StatusConflict, ErrorBody{Error: ErrorDetail{Status: http.StatusConflict, Code: "version_conflict",
			Message: "the resource was changed by someone else: reload it and try again", CurrentVersion: &v}})
	case errors.Is(err, domain.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first: the session is missing, expired or ended")
	case errors.Is(err, domain.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", "you may not do this")
	case errors.Is(err, domain.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such resource, or you may not see it")
	case errors.Is(err, projections.ErrNotCaughtUp):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not_caught_up", "the view has not caught up with your change yet: retry")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, 499, "client_closed", "request cancelled")
	default:
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "something went wrong on our side; it has been logged")
	}
}
