package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/queries"
)

// Support: the central team's page. The approval queue (requests of
// organisations without an active Approver, which the team decides on
// Approve/Reject Users), a generic account for an organisation (its first
// password shown this once), and the auditor role, granted and revoked.
// Only support sees it: everyone else gets the 403 page, and the commands
// (the API's POST /generic-accounts, POST|DELETE /users/{id}/auditor)
// refuse them too.

func supportNotice(key string) string {
	switch key {
	case "auditor-granted":
		return "The auditor role has been granted."
	case "auditor-revoked":
		return "The auditor role has been revoked."
	case "auditor-unchanged":
		return "Nothing changed: the user already had that role, or did not have it."
	}
	return ""
}

// supportQueueSize is the number of the queue's requests the Support page
// lists, the oldest first.
const supportQueueSize = 10

// genericFields are the generic account form's fields, in page order.
var genericFields = []string{"generic_email", "display_name", "organisation_id", "location_ids"}

func (h *Handler) showSupport(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderSupport(w, r, http.StatusOK, s, newForm(), supportNotice(r.URL.Query().Get("done")), nil)
}

func (h *Handler) renderSupport(w http.ResponseWriter, r *http.Request, status int, s *session, f *form, notice string, created *genericCreated) {
	v := httpapi.Viewer(s.actor)
	if !v.Support {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	// The queue grows with the country: the page shows how many wait and
	// the oldest few; Approve/Reject Users pages through them all.
	queue, err := h.queries.PendingApprovalsPage(r.Context(), v, queries.ApprovalsQuery{PageSize: supportQueueSize, WithoutApprover: true})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "support", view{Title: "Support", User: s.user(), CSRF: s.csrf(), Form: f, Notice: notice,
		Data: map[string]any{"Queue": queue, "Created": created}})
}

// genericCreated is what the page shows of a new generic account.
type genericCreated struct {
	Email, Password string
}

// submitGenericAccount answers with the page itself, not a redirect: the
// first password is shown this once and must not travel in an address.
func (h *Handler) submitGenericAccount(w http.ResponseWriter, r *http.Request, s *session) {
	if !httpapi.Viewer(s.actor).Support {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	f := newForm()
	for _, name := range genericFields {
		f.Values[name] = strings.TrimSpace(r.PostForm.Get(name))
	}
	// Location IDs are typed as a list: commas, spaces or lines apart.
	ids := strings.FieldsFunc(f.Values["location_ids"], func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
	res, err := h.commands.CreateGenericAccount(r.Context(), s.actor, account.CreateGeneric{
		Email: f.Values["generic_email"], DisplayName: f.Values["display_name"], OrganisationID: f.Values["organisation_id"], LocationIDs: ids})
	rename := map[string]string{"email": "generic_email"}
	for i := range ids {
		rename["location_ids["+strconv.Itoa(i)+"]"] = "location_ids"
	}
	var conflict *domain.ConflictError
	switch {
	case f.addValidation(err, rename):
		f.order(genericFields...)
	case errors.As(err, &conflict):
		f.add("generic_email", conflict.Code, conflict.Message)
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		h.renderSupport(w, r, http.StatusCreated, s, newForm(), "", &genericCreated{Email: f.Values["generic_email"], Password: res.InitialPassword})
		return
	}
	h.renderSupport(w, r, http.StatusUnprocessableEntity, s, f, "", nil)
}

func (h *Handler) submitAuditorRole(w http.ResponseWriter, r *http.Request, s *session) {
	v := httpapi.Viewer(s.actor)
	if !v.Support {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	var change func(context.Context, commands.Actor, uuid.UUID) (commands.AuditorChanged, error)
	switch r.PostForm.Get("action") {
	case "grant":
		change = h.commands.GrantAuditorRole
	case "revoke":
		change = h.commands.RevokeAuditorRole
	default:
		// Only a made-up form names no action.
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	f.Values["auditor_email"] = strings.TrimSpace(r.PostForm.Get("auditor_email"))
	email, err := account.ParseEmail(f.Values["auditor_email"])
	if f.addValidation(err, map[string]string{"email": "auditor_email"}) {
		h.renderSupport(w, r, http.StatusUnprocessableEntity, s, f, "", nil)
		return
	}
	u, err := h.queries.UserByEmail(r.Context(), v, email.String(), 0)
	if errors.Is(err, domain.ErrNotFound) {
		f.add("auditor_email", "not_found", "No user has this email address")
		h.renderSupport(w, r, http.StatusUnprocessableEntity, s, f, "", nil)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, err := uuid.Parse(u.UserID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := change(r.Context(), s.actor, id)
	var rule *domain.RuleError
	switch {
	case errors.As(err, &rule) && rule.Code != commands.ErrDisclaimerRequired.Code && rule.Code != commands.ErrPasswordChangeRequired.Code:
		// Not active, a generic account, or yourself: said on the field.
		f.add("auditor_email", rule.Code, rule.Message)
		h.renderSupport(w, r, http.StatusUnprocessableEntity, s, f, "", nil)
	case err != nil:
		h.fail(w, r, err)
	case res.Position == 0:
		redirect(w, r, "/support?done=auditor-unchanged")
	case res.Auditor:
		redirect(w, r, "/support?done=auditor-granted")
	default:
		redirect(w, r, "/support?done=auditor-revoked")
	}
}
