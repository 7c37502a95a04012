package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain"
)

// Deactivating a leaver asks first: the person loses every way in at once.
// The confirmation page names them and takes an optional reason; the post
// calls the API's Deactivate command.

func (h *Handler) showDeactivate(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderDeactivate(w, r, http.StatusOK, s, newForm())
}

func (h *Handler) renderDeactivate(w http.ResponseWriter, r *http.Request, status int, s *session, f *form) {
	id, ok := h.userAction(w, r)
	if !ok {
		return
	}
	org := r.PathValue("org")
	v := httpapi.Viewer(s.actor)
	// The list's own check first: a user of an organisation the viewer
	// does not approve for is not shown through another's address.
	if _, err := h.queries.OrganisationDashboard(r.Context(), v, org, 0); err != nil || !(v.Support || slices.Contains(v.ApproverOf, org)) {
		if err == nil {
			err = domain.ErrForbidden
		}
		h.fail(w, r, err)
		return
	}
	u, err := h.queries.User(r.Context(), v, id.String(), 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The page of the list the person came from, to go back to.
	page, _ := pageNumber(r)
	h.render(w, r, status, "user-deactivate", view{Title: "Deactivate " + u.FullName, User: s.user(), CSRF: s.csrf(), Form: f,
		Data: map[string]any{"Person": u, "Back": pagePath(usersPath(org), page), "Page": page,
			"Action": usersPath(org) + "/" + id.String() + "/deactivate"}})
}

func (h *Handler) submitDeactivate(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := h.userAction(w, r)
	if !ok {
		return
	}
	f := newForm()
	f.Values["reason"] = r.PostForm.Get("reason")
	res, err := h.commands.Deactivate(r.Context(), s.actor, id, f.Values["reason"])
	var rule *domain.RuleError
	switch {
	case f.addValidation(err, nil):
	case errors.As(err, &rule) && rule.Code != "disclaimer_required" && rule.Code != "password_change_required":
		// Deactivated meanwhile, or yourself: said on the list.
		h.afterUserCommand(w, r, s, "", 0, err)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		page, _ := pageNumber(r)
		redirect(w, r, backToList(usersPath(r.PathValue("org")), "deactivated", res.Position, page))
		return
	}
	h.renderDeactivate(w, r, http.StatusUnprocessableEntity, s, f)
}
