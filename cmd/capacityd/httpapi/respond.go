package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/capacitytracker/capacity/domain"
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
