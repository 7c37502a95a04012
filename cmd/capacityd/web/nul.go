package web

import (
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// rejectNUL answers the 400 page to a request that holds a NUL character
// (U+0000) in its path, its query or its form, before any handler runs:
// PostgreSQL cannot hold one in text, so it must never reach a command or
// a query. The checks are the API's (httpapi/nul.go). Nobody types a NUL,
// so the page, not a field's error, is the answer.
//
// A posted form is read here, within the body limit, so its errors are
// answered here too; the handlers' parseForm then has nothing left to do.
func (h *Handler) rejectNUL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := httpapi.NULInURL(r); ok {
			h.errorPage(w, r, http.StatusBadRequest)
			return
		}
		if r.Method == http.MethodPost {
			if err := parseForm(r); err != nil {
				h.fail(w, r, err)
				return
			}
			if _, ok := httpapi.NULInValues(r.PostForm, "form"); ok {
				h.errorPage(w, r, http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
