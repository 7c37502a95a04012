package web

import (
	"net/http"
	"runtime/debug"
)

// limitBody answers 413 with a page when a body is larger than the limit:
// at once when Content-Length says so, and otherwise when the form parser
// reads past it (parseForm). The limit is the port's, except for the bulk
// upload's file, which has the API's (bulk.go).
func (h *Handler) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := h.maxBody
		if isBulkUpload(r) {
			limit = max(limit, bulkUploadBodyBytes)
		}
		if r.ContentLength > limit {
			// The unread body would otherwise be read to keep the
			// connection: close it instead.
			w.Header().Set("Connection", "close")
			if isBulkUpload(r) {
				h.bulkTooLarge(w, r)
				return
			}
			h.errorPage(w, r, http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics answers a handler's panic with the 500 page instead of a
// dropped connection, and logs it with its stack for us (never for the
// person).
func (h *Handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.logger.ErrorContext(r.Context(), "web handler panicked", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				h.errorPage(w, r, http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
