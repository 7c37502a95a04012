package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/queries"
)

// Approve/Reject Users: the pending requests an Approver (for their
// organisations) or support (for all) may decide. The query and the
// command decide who sees and decides what; the page is refused to anyone
// who approves for no organisation, as the Main Menu shows no tile to them.

// mayApprove is the page's audience: the same viewer the query scopes by.
func mayApprove(v queries.Viewer) bool { return v.Support || len(v.ApproverOf) > 0 }

func approvalsNotice(key string) string {
	switch key {
	case "approved":
		return "The request has been approved. We have emailed the person a link to set their password."
	case "rejected":
		return "The request has been rejected. We have emailed the person."
	}
	return ""
}

func (h *Handler) showApprovals(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderApprovals(w, r, http.StatusOK, s, newForm(), approvalsNotice(r.URL.Query().Get("done")))
}

// approvalsPageSize is the number of requests a page of Approve/Reject
// Users shows: support's list is the country's.
const approvalsPageSize = 25

func (h *Handler) renderApprovals(w http.ResponseWriter, r *http.Request, status int, s *session, f *form, notice string) {
	v := httpapi.Viewer(s.actor)
	if !mayApprove(v) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	page, ok := pageNumber(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	// After a decision, the list waits for the views to include it
	// (read-your-writes), bounded by the query.
	pos, _ := strconv.ParseInt(r.URL.Query().Get("position"), 10, 64)
	q := queries.ApprovalsQuery{Page: page, PageSize: approvalsPageSize, MinPosition: max(pos, 0)}
	list, err := h.queries.PendingApprovalsPage(r.Context(), v, q)
	if errors.Is(err, projections.ErrNotCaughtUp) {
		// The view is behind the decision just made: show it as it is
		// rather than no page; deciding the same request again says
		// that it was decided already.
		q.MinPosition = 0
		list, err = h.queries.PendingApprovalsPage(r.Context(), v, q)
	}
	if err == nil && len(list.Entries) == 0 && page > 1 {
		// Beyond the end, as after deciding the last request of the
		// last page: the last page there is.
		q.Page, q.MinPosition = lastPage(list.Pages), 0
		list, err = h.queries.PendingApprovalsPage(r.Context(), v, q)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	orgs, err := h.approvedOrganisations(r, v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "approvals", view{Title: "Approve or reject users", User: s.user(), CSRF: s.csrf(), Form: f,
		Notice: notice, Data: map[string]any{"Requests": list, "Pagination": paginationOf("/approvals", list.Page, list.Pages),
			"Organisations": orgs, "Support": v.Support}})
}

func (h *Handler) submitApproval(w http.ResponseWriter, r *http.Request, s *session) {
	if !mayApprove(httpapi.Viewer(s.actor)) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	page, ok := pageNumber(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	userID, err1 := uuid.Parse(r.PostForm.Get("user_id"))
	requestID, err2 := uuid.Parse(r.PostForm.Get("request_id"))
	decision := r.PostForm.Get("decision")
	if err1 != nil || err2 != nil || (decision != "approve" && decision != "reject") {
		// Only a made-up form names no request or decision.
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	org := r.PostForm.Get("organisation_id")
	// Each request's reason field has its own id on the page.
	field := "reason-" + requestID.String() + "-" + org
	f := newForm()
	f.Values[field] = r.PostForm.Get("reason")
	res, err := h.commands.DecideAccess(r.Context(), s.actor, userID, requestID, org, decision == "approve", r.PostForm.Get("reason"))
	var rule *domain.RuleError
	switch {
	case f.addValidation(err, map[string]string{"reason": field}):
	case errors.As(err, &rule) && rule.Code != "disclaimer_required" && rule.Code != "password_change_required":
		// Decided meanwhile by another Approver, or the person's own
		// request: said on the list, which shows what is left.
		f.add("requests", rule.Code, rule.Message)
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		done := "approved"
		if decision == "reject" {
			done = "rejected"
		}
		// Back to the page the person was on.
		redirect(w, r, backToList("/approvals", done, res.Position, page))
		return
	}
	h.renderApprovals(w, r, http.StatusUnprocessableEntity, s, f, "")
}

// approvedOrganisations are the organisations whose users an Approver
// manages, named, for the links to their users; support, who manages
// every organisation, names one in a search instead.
func (h *Handler) approvedOrganisations(r *http.Request, v queries.Viewer) ([]queries.Dashboard, error) {
	out := make([]queries.Dashboard, 0, len(v.ApproverOf))
	for _, org := range v.ApproverOf {
		d, err := h.queries.OrganisationDashboard(r.Context(), v, org, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
