package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/queries"
)

// Users with access, the second half of Approve/Reject Users: the users of
// one organisation, for its Approvers and support (queries.Users decides;
// anyone else gets the 403 page). Deactivating a leaver goes through a
// confirmation page (user_deactivate.go); reactivating and changing the user
// type are one button each. The commands decide what each may do to whom
// (the API's POST /users/{id}/deactivate|reactivate, PUT /users/{id}/user-type).

func usersNotice(key string) string {
	switch key {
	case "deactivated":
		return "The user has been deactivated: they can no longer use your organisation's locations."
	case "reactivated":
		return "The user has been reactivated: they can sign in again."
	case "user-type":
		return "The user type has been changed."
	}
	return ""
}

// usersPath is the page of an organisation's users.
func usersPath(org string) string { return "/organisations/" + url.PathEscape(org) + "/users" }

// orgUser is a user as the page lists them, with the actions offered:
// the commands refuse the others (yourself, a support or generic account's
// fixed type), so the page does not offer them. Its fields are the
// template's, computed here: a page renders 50 of them, and an embedded
// struct's field (reflect's slow FieldByName path) or a template function
// (eq, join, called through reflect) costs per row and per use.
type orgUser struct {
	UserID, Email, FullName string
	Locations               string // joined with ", "
	Self                    bool
	Generic                 bool // a generic account
	Approver                bool // the user type is Approver
	MayChangeType           bool
	MayDeactivate           bool
	MayReactivate           bool
	UserTypeLabel           string
	StatusLabel             string
	StatusTagClass          string
}

func userTypeLabel(role string) string {
	switch role {
	case "approver":
		return "Approver"
	case "support":
		return "Support"
	}
	return "Standard"
}

func (h *Handler) showUsers(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderUsers(w, r, http.StatusOK, s, newForm(), usersNotice(r.URL.Query().Get("done")))
}

// usersPageSize is the number of users a page of an organisation's users
// shows, each with its forms.
const usersPageSize = 50

// pagePath is path with the page number of a list, none for the first.
func pagePath(path string, page int) string {
	if page <= 1 {
		return path
	}
	return path + "?" + url.Values{"page": {strconv.Itoa(page)}}.Encode()
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, status int, s *session, f *form, notice string) {
	v := httpapi.Viewer(s.actor)
	org := r.PathValue("org")
	// A page number that is not one is the 400 page, but only for those
	// who may see the list (the query decides): the others get its 403.
	page, ok := pageNumber(r)
	pos, _ := strconv.ParseInt(r.URL.Query().Get("position"), 10, 64)
	q := queries.UsersQuery{Page: max(page, 1), PageSize: usersPageSize, MinPosition: max(pos, 0)}
	users, err := h.queries.UsersPage(r.Context(), v, org, q)
	if errors.Is(err, projections.ErrNotCaughtUp) {
		// Behind the change just made: show the list as it is.
		q.MinPosition = 0
		users, err = h.queries.UsersPage(r.Context(), v, org, q)
	}
	if err == nil && len(users.Entries) == 0 && page > 1 {
		// Beyond the end: the last page there is.
		q.Page, q.MinPosition = lastPage(users.Pages), 0
		users, err = h.queries.UsersPage(r.Context(), v, org, q)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	dash, err := h.queries.OrganisationDashboard(r.Context(), v, org, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list := make([]orgUser, 0, len(users.Entries))
	for _, u := range users.Entries {
		ou := orgUser{UserID: u.UserID, Email: u.Email, FullName: u.FullName, Locations: strings.Join(u.Locations, ", "),
			Self: u.UserID == v.UserID, Generic: u.Kind == "generic", Approver: u.Role == "approver", UserTypeLabel: userTypeLabel(u.Role)}
		ou.MayChangeType = !ou.Self && u.Kind == "personal" && u.Role != "support" && u.Status == "active"
		ou.MayDeactivate = !ou.Self && u.Status == "active"
		ou.MayReactivate = u.Status == "deactivated"
		switch u.Status {
		case "active":
			ou.StatusLabel, ou.StatusTagClass = "Active", "nhsuk-tag--green"
		case "deactivated":
			ou.StatusLabel, ou.StatusTagClass = "Deactivated", "nhsuk-tag--grey"
		default:
			ou.StatusLabel, ou.StatusTagClass = u.Status, "nhsuk-tag--yellow"
		}
		list = append(list, ou)
	}
	name := dash.Name
	if name == "" {
		name = org
	}
	h.render(w, r, status, "users", view{Title: "Users of " + name, User: s.user(), CSRF: s.csrf(), Form: f, Notice: notice,
		Data: map[string]any{"Organisation": dash, "Name": name, "Path": usersPath(org), "Users": list, "Page": users,
			"Pagination": paginationOf(usersPath(org), users.Page, users.Pages), "MinApprovers": queries.MinApprovers}})
}

// userAction parses the user a posted action names, and checks the page
// of the list it came from; a made-up id or page is the 400 page (false).
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("user"))
	if _, ok := pageNumber(r); err != nil || !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return uuid.Nil, false
	}
	return id, true
}

// afterUserCommand redirects to the list after a command, or renders the
// list again with the command's refusal (a rule such as "you cannot change
// your own user type", or a field error), or fails.
func (h *Handler) afterUserCommand(w http.ResponseWriter, r *http.Request, s *session, done string, position int64, err error) {
	f := newForm()
	var rule *domain.RuleError
	switch {
	case f.addValidation(err, map[string]string{"user_type": "users", "reason": "users"}):
	case errors.As(err, &rule) && rule.Code != "disclaimer_required" && rule.Code != "password_change_required":
		f.add("users", rule.Code, rule.Message)
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		// Back to the page of the list the person was on (checked by
		// the handler before the command).
		page, _ := pageNumber(r)
		redirect(w, r, backToList(usersPath(r.PathValue("org")), done, position, page))
		return
	}
	h.renderUsers(w, r, http.StatusUnprocessableEntity, s, f, "")
}

func (h *Handler) submitUserType(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := h.userAction(w, r)
	if !ok {
		return
	}
	res, err := h.commands.ChangeRole(r.Context(), s.actor, id, r.PostForm.Get("user_type"))
	h.afterUserCommand(w, r, s, "user-type", res.Position, err)
}

func (h *Handler) submitReactivate(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := h.userAction(w, r)
	if !ok {
		return
	}
	res, err := h.commands.Reactivate(r.Context(), s.actor, id)
	h.afterUserCommand(w, r, s, "reactivated", res.Position, err)
}

// findOrganisationUsers is support's way to an organisation's users, by
// its id (a GET form, so it works without JavaScript and is bookmarkable).
func (h *Handler) findOrganisationUsers(w http.ResponseWriter, r *http.Request, s *session) {
	v := httpapi.Viewer(s.actor)
	if !mayApprove(v) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	org := strings.TrimSpace(r.URL.Query().Get("organisation"))
	if org == "" {
		f := newForm()
		f.add("organisation", "required", "Enter an organisation ID")
		h.renderApprovals(w, r, http.StatusUnprocessableEntity, s, f, "")
		return
	}
	if _, err := h.queries.OrganisationDashboard(r.Context(), v, org, 0); errors.Is(err, domain.ErrNotFound) {
		f := newForm()
		f.Values["organisation"] = org
		f.add("organisation", "not_found", "No organisation has this ID")
		h.renderApprovals(w, r, http.StatusUnprocessableEntity, s, f, "")
		return
	} else if err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, usersPath(org))
}
