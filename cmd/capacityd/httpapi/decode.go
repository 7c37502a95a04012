package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// errBody is a request body the server cannot read: answered 400 (or 413
// or 415) with its message.
type errBody struct {
	status int
	code   string
	msg    string
}

func (e *errBody) Error() string { return e.msg }

// decodeJSON reads exactly one JSON object into dst, refusing unknown
// fields, trailing data and bodies that are not JSON.
func decodeJSON(r *http.Request, dst any) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	return decodeJSONBytes(body, dst)
}

// readJSONBody reads a request body sent as JSON (or without a
// Content-Type), within the server's size limit.
func readJSONBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &errBody{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json"}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &errBody{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds the limit of %d bytes", tooBig.Limit)}
		}
		return nil, &errBody{http.StatusBadRequest, "unreadable_body", "the request body could not be read"}
	}
	return body, nil
}

// decodeJSONBytes is decodeJSON's parser, on its own for fuzzing.
func decodeJSONBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &errBody{http.StatusBadRequest, "empty_body", "send a JSON object"}
	}
	// Checked before the decoder's own errors (an unknown field, say),
	// so that a NUL always gets the same answer (nul.go).
	if field, ok := nulInJSON(body); ok {
		return &nulError{Field: field}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return &errBody{http.StatusBadRequest, "invalid_json", describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &errBody{http.StatusBadRequest, "invalid_json", "the body must hold one JSON object and nothing after it"}
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be a JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return "the body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}
