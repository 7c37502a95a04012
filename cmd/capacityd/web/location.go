package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/queries"
)

// A location's dashboard (/locations/{id}): what needs doing there, its
// last daily update and its CQC ratings (queries.LocationDashboard, the
// API's GET /locations/{id}/dashboard), with the links to the location's
// other pages. It is also where a daily update's Save leads: it waits for
// the views up to the update (the redirect's position), as the API's
// min_position does, so that the update is on it.

// locationPath is the dashboard of a location; the location's pages are
// under it.
func locationPath(id string) string { return "/locations/" + url.PathEscape(id) }

// need is one thing the dashboard asks to be done, with where to do it.
type need struct {
	Text     string
	LinkText string
	Href     string
}

// needsOf words the dashboard's needs (queries' Need constants).
func needsOf(e queries.DashboardEntry, v queries.Viewer) []need {
	base := locationPath(e.LocationID)
	var out []need
	for _, n := range e.Needs {
		switch n {
		case queries.NeedManagerContact:
			out = append(out, need{Text: "There is no Manager in the contact directory.", LinkText: "Add the Manager", Href: base + "/edit#contacts"})
		case queries.NeedEmail:
			out = append(out, need{Text: "No contact has an email address.", LinkText: "Add an email address", Href: base + "/edit#contacts"})
		case queries.NeedApprovers:
			nd := need{Text: "The organisation has " + strconv.Itoa(e.ActiveApprovers) + " active " + plural(e.ActiveApprovers, "Approver", "Approvers") +
				": it needs at least " + strconv.Itoa(queries.MinApprovers) + ", so that someone can approve users during holidays or sickness."}
			if approves(v, e.OrganisationID) {
				nd.LinkText, nd.Href = "Make another user an Approver", usersPath(e.OrganisationID)
			}
			out = append(out, nd)
		case queries.NeedPendingApprovals:
			nd := need{Text: strconv.Itoa(e.PendingApprovals) + " " + plural(e.PendingApprovals, "request", "requests") + " for access waiting for a decision."}
			if approves(v, e.OrganisationID) {
				nd.LinkText, nd.Href = "Approve or reject users", "/approvals"
			}
			out = append(out, nd)
		case queries.NeedDailyUpdate:
			out = append(out, need{Text: "Today's COVID-19 update is missing.", LinkText: "Update it now", Href: base + "/daily-update"})
		case queries.NeedConfirmDetails:
			out = append(out, need{Text: "The details were last changed or confirmed on " + londonDate(e.DetailsUpdatedAt) +
				": check they are up to date, and save each section, changed or not.", LinkText: "Check the details", Href: base + "/edit"})
		}
	}
	return out
}

// approves reports whether the viewer decides the access requests of an
// organisation (the pages the needs link to).
func approves(v queries.Viewer, org string) bool {
	return v.Support || slices.Contains(v.ApproverOf, org)
}

// londonTime is a time as the pages show it: "14:05 on 7 December 2026",
// in the daily update's time zone.
func londonTime(t time.Time) string {
	return t.In(dailyupdate.London).Format("15:04 on 2 January 2006")
}

// londonDate is a day as the pages show it: "7 December 2026".
func londonDate(t time.Time) string { return t.In(dailyupdate.London).Format("2 January 2006") }

// ratingRows are the dashboard's CQC ratings, as Care Quality shows them.
func ratingRows(r queries.Ratings) []ratingRow {
	rows := []ratingRow{{"CQC Overall", r.Overall, ""}, {"Safe", r.Safe, ""}, {"Effective", r.Effective, ""},
		{"Caring", r.Caring, ""}, {"Responsive", r.Responsive, ""}, {"Well-led", r.WellLed, ""}}
	for i := range rows {
		rows[i].Rating = ratingLabel(rows[i].Rating)
		rows[i].TagClass = ratingTag(rows[i].Rating)
	}
	return rows
}

// saved is the confirmation panel after a daily update.
type saved struct {
	At       string // when, as londonTime; "" when the view is not there yet
	Replaced bool   // it replaced an earlier update of the same day
}

func (h *Handler) showLocation(w http.ResponseWriter, r *http.Request, s *session) {
	v := httpapi.Viewer(s.actor)
	id := r.PathValue("id")
	q := r.URL.Query()
	pos, _ := strconv.ParseInt(q.Get("position"), 10, 64)
	now := h.commands.Now()
	e, err := h.queries.LocationDashboard(r.Context(), v, id, now, max(pos, 0))
	caughtUp := true
	if errors.Is(err, projections.ErrNotCaughtUp) {
		// Behind the change just made (the wait is bounded): show the
		// dashboard as it is.
		caughtUp = false
		e, err = h.queries.LocationDashboard(r.Context(), v, id, now, 0)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data := map[string]any{"Location": e, "Path": locationPath(id), "Needs": needsOf(e, v), "Ratings": ratingRows(e.Ratings)}
	if e.LastDailyUpdateAt != nil {
		data["LastUpdate"] = londonTime(*e.LastDailyUpdateAt)
	}
	if !e.DetailsUpdatedAt.IsZero() {
		data["DetailsUpdated"] = londonTime(e.DetailsUpdatedAt)
	}
	if done := q.Get("done"); done == "daily-update" || done == "daily-update-replaced" {
		sv := saved{Replaced: done == "daily-update-replaced"}
		if caughtUp && e.LastDailyUpdateAt != nil {
			sv.At = londonTime(*e.LastDailyUpdateAt)
		}
		data["Saved"] = sv
	}
	h.render(w, r, http.StatusOK, "location", view{Title: e.Name, User: s.user(), CSRF: s.csrf(), Data: data})
}
