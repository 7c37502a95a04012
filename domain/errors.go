// Package domain holds what the product's aggregates share: the errors a
// decision can return, as values the caller can show a person. Its
// subpackages are the aggregates (account, location): pure Go, no I/O, no
// SQL, no HTTP.
package domain

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a request at once (422).
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records an invalid field.
func (e *ValidationError) Add(field, code, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Code: code, Message: message})
}

// Merge adds the fields of err when it is a *ValidationError, under prefix
// ("locations[2]." say), and reports whether it was one.
func (e *ValidationError) Merge(prefix string, err error) bool {
	var v *ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, f := range v.Fields {
		e.Add(prefix+f.Field, f.Code, f.Message)
	}
	return true
}

// Has reports whether field was found invalid.
func (e *ValidationError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Err is nil when no field was added, else e.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Invalid is a ValidationError of one field.
func Invalid(field, code, message string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Code: code, Message: message}}}
}

// RuleError is a request that is well formed but that the current state does
// not allow (422): approving a request that was decided already, say.
type RuleError struct {
	Code    string
	Message string
}

func (e *RuleError) Error() string { return e.Message }

// Rule returns a RuleError.
func Rule(code, format string, args ...any) error {
	return &RuleError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ConflictError is a request that collides with existing state (409): an
// email address that is registered already, say.
type ConflictError struct {
	Code    string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: the thing does not exist, or the caller may not know
	// that it does.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: the caller is not logged in, or the login failed.
	ErrUnauthenticated = errors.New("unauthenticated")
)
