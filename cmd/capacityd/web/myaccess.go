package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// My Access: a signed-in provider asks for more locations, found by
// postcode, local authority or CCG (queries.SearchLocations, as the API's
// GET /locations/search), each with a checkbox, with the declaration the
// guide quotes (the API's POST /me/access-requests). Its pending requests
// are listed below. "Select all / none" is a submit button that the server
// answers with every box ticked (or none); with JavaScript it toggles the
// boxes in place.

// mayRequestAccess is the page's audience: the command refuses generic
// and support accounts, so the page does too.
func mayRequestAccess(u account.User) bool {
	return u.Kind == account.Personal && u.Role != account.Support
}

// searchKinds are the ways to find locations, in the guide's order.
var searchKinds = []struct{ Value, Label string }{
	{"postcode", "Postcode"}, {"local_authority", "Local Authority"}, {"ccg", "CCG"},
}

func myAccessNotice(key string) string {
	if key == "requested" {
		return "Your request has been sent. An Approver of each organisation will review it, and we will email you their decision."
	}
	return ""
}

// accessSearch is the search of the page: by what, for what, and what it
// found (nil when there was no search).
type accessSearch struct {
	By, Query string
	Found     []queries.LocationSummary
	Searched  bool
	Limited   bool
}

// search runs the page's search from its two fields, adding its errors to
// the form.
func (h *Handler) search(r *http.Request, f *form, by, q string) (accessSearch, error) {
	by, q = strings.TrimSpace(by), strings.TrimSpace(q)
	f.Values["by"], f.Values["q"] = by, q
	s := accessSearch{By: by, Query: q}
	if by == "" && q == "" {
		f.Values["by"] = "postcode"
		return s, nil
	}
	search := queries.LocationSearch{}
	switch by {
	case "postcode":
		pc, err := location.ParsePostcode(q)
		if q == "" {
			f.add("q", "required", "Enter a postcode")
			return s, nil
		}
		if f.addValidation(err, map[string]string{"postcode": "q"}) {
			return s, nil
		}
		search.Postcode = pc.String()
	case "local_authority":
		if q == "" {
			f.add("q", "required", "Enter the name of a local authority")
			return s, nil
		}
		search.LocalAuthority = q
	case "ccg":
		if q == "" {
			f.add("q", "required", "Enter the name of a CCG")
			return s, nil
		}
		search.CCG = q
	default:
		f.add("by", "required", "Choose how to find locations: by postcode, local authority or CCG")
		return s, nil
	}
	found, err := h.queries.SearchLocations(r.Context(), search)
	if err != nil {
		return s, err
	}
	s.Found, s.Searched, s.Limited = found, true, len(found) >= queries.DefaultSearchLimit
	return s, nil
}

func (h *Handler) showMyAccess(w http.ResponseWriter, r *http.Request, s *session) {
	if !mayRequestAccess(s.actor.User) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	f := newForm()
	found, err := h.search(r, f, r.URL.Query().Get("by"), r.URL.Query().Get("q"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if f.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	h.renderMyAccess(w, r, status, s, f, found, nil, myAccessNotice(r.URL.Query().Get("done")))
}

func (h *Handler) renderMyAccess(w http.ResponseWriter, r *http.Request, status int, s *session, f *form, found accessSearch, ticked []string, notice string) {
	u := s.actor.User
	pendingSet := map[string]bool{}
	var pendingIDs []string
	for _, req := range u.Requests {
		for _, p := range req.Parts {
			if p.Decision != account.Undecided {
				continue
			}
			for _, id := range p.LocationIDs {
				if !pendingSet[id] {
					pendingSet[id] = true
					pendingIDs = append(pendingIDs, id)
				}
			}
		}
	}
	pending, err := h.namedLocations(r, pendingIDs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	slices.SortFunc(pending, func(a, b queries.LocationSummary) int {
		return strings.Compare(a.Name+a.LocationID, b.Name+b.LocationID)
	})
	type result struct {
		queries.LocationSummary
		Granted, Pending, Ticked bool
	}
	results := make([]result, 0, len(found.Found))
	for _, l := range found.Found {
		_, granted := u.Locations[l.LocationID]
		results = append(results, result{LocationSummary: l, Granted: granted, Pending: pendingSet[l.LocationID],
			Ticked: slices.Contains(ticked, l.LocationID)})
	}
	h.render(w, r, status, "my-access", view{Title: "My Access", User: s.user(), CSRF: s.csrf(), Form: f, Notice: notice,
		Data: map[string]any{"Kinds": searchKinds, "Search": found, "Results": results, "Pending": pending,
			"Limit": strconv.Itoa(queries.DefaultSearchLimit)}})
}

func (h *Handler) submitMyAccess(w http.ResponseWriter, r *http.Request, s *session) {
	if !mayRequestAccess(s.actor.User) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	f := newForm()
	found, err := h.search(r, f, r.PostForm.Get("by"), r.PostForm.Get("q"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var ids []string
	for _, id := range r.PostForm["location_ids"] {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if r.PostForm.Get("declaration") == "yes" {
		f.Values["declaration"] = "yes"
	}
	switch r.PostForm.Get("action") {
	case "select-all":
		// Every box the search offers ticked, or none if they all were.
		var all []string
		for _, l := range found.Found {
			_, granted := s.actor.User.Locations[l.LocationID]
			if !granted {
				all = append(all, l.LocationID)
			}
		}
		if len(ids) >= len(all) {
			all = nil
		}
		h.renderMyAccess(w, r, http.StatusOK, s, f, found, all, "")
		return
	case "request":
	default:
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	if f.HasErrors() {
		h.renderMyAccess(w, r, http.StatusUnprocessableEntity, s, f, found, ids, "")
		return
	}
	_, err = h.commands.RequestAccess(r.Context(), s.actor, ids, f.Values["declaration"] == "yes")
	rename := map[string]string{"location_ids": "locations", "declaration_accepted": "declaration"}
	for i, id := range ids {
		field := "locations"
		if slices.ContainsFunc(found.Found, func(l queries.LocationSummary) bool { return l.LocationID == id }) {
			field = "location-" + id
		}
		rename["location_ids["+strconv.Itoa(i)+"]"] = field
	}
	switch {
	case f.addValidation(err, rename):
		f.order("q", "locations", "declaration")
		h.renderMyAccess(w, r, http.StatusUnprocessableEntity, s, f, found, ids, "")
	case err != nil:
		h.fail(w, r, err)
	default:
		redirect(w, r, "/my-access?done=requested")
	}
}
