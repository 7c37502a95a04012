package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// Register New account, in the guide's three steps: Your Details »
// Organisation Details » Finished. A stranger has no session, so each step
// posts every value so far (hidden fields) and the server answers with the
// next step; the registration is one command at the end. Each step's
// errors are the domain's validation (account.ValidateRegistration) of the
// fields that step shows.

// The fields of each step, in page order.
func detailsFields() []string {
	return []string{"email", "full_name", "phone", "job_title", "user_type"}
}
func organisationFields() []string { return []string{"organisation_type", "postcode", "location_ids"} }
func termsFields() []string        { return []string{"terms", "communications"} }

// registration is the form of every step.
type registration struct {
	form      *form
	locations []string
}

func parseRegistration(r *http.Request) registration {
	f := newForm()
	for _, name := range slices.Concat(detailsFields(), organisationFields(), termsFields()) {
		f.Values[name] = strings.TrimSpace(r.PostForm.Get(name))
	}
	if f.Values["user_type"] == "" {
		f.Values["user_type"] = string(account.Standard)
	}
	var locs []string
	for _, id := range r.PostForm["location_ids"] {
		if id != "" && !slices.Contains(locs, id) {
			locs = append(locs, id)
		}
	}
	return registration{form: f, locations: locs}
}

func (g registration) command() account.Register {
	v := g.form.Values
	return account.Register{Email: v["email"], FullName: v["full_name"], Phone: v["phone"], JobTitle: v["job_title"],
		UserType: v["user_type"], OrganisationType: v["organisation_type"], LocationIDs: g.locations,
		TermsAccepted: v["terms"] == "agree", CommunicationsOptIn: v["communications"] == "agree"}
}

// check validates the registration so far and keeps the errors of the
// fields named.
func (g registration) check(fields ...string) {
	_, err := account.ValidateRegistration(g.command(), func(string) (location.Location, bool) { return location.Location{}, true })
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return
	}
	for _, fe := range v.Fields {
		if slices.Contains(fields, strings.SplitN(fe.Field, "[", 2)[0]) {
			g.form.Errors = append(g.form.Errors, fe)
		}
	}
	g.form.order(fields...)
}

func (h *Handler) showRegister(w http.ResponseWriter, r *http.Request) {
	g := registration{form: newForm()}
	g.form.Values["user_type"] = string(account.Standard)
	h.renderRegister(w, r, http.StatusOK, "details", g, nil)
}

func (h *Handler) renderRegister(w http.ResponseWriter, r *http.Request, status int, step string, g registration, found []queries.LocationSummary) {
	// The chosen locations, named, stay ticked across searches.
	chosen, err := h.namedLocations(r, g.locations)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	found = slices.DeleteFunc(found, func(l queries.LocationSummary) bool { return slices.Contains(g.locations, l.LocationID) })
	if status == http.StatusOK && g.form.HasErrors() {
		status = http.StatusUnprocessableEntity
	}
	h.render(w, r, status, "register", view{Title: "Register New account", Form: g.form, Data: map[string]any{
		"Step": step, "OrganisationTypes": location.OrganisationTypes(), "Chosen": chosen, "Found": found,
		"Locations": g.locations, "Searched": r.PostForm.Get("action") == "search",
	}})
}

func (h *Handler) submitRegister(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		h.fail(w, r, err)
		return
	}
	g := parseRegistration(r)
	action := r.PostForm.Get("action")
	switch r.PostForm.Get("step") {
	case "details":
		if g.check(detailsFields()...); g.form.HasErrors() {
			h.renderRegister(w, r, http.StatusOK, "details", g, nil)
			return
		}
		h.renderRegister(w, r, http.StatusOK, "organisation", g, nil)
	case "organisation":
		switch action {
		case "back":
			h.renderRegister(w, r, http.StatusOK, "details", g, nil)
		case "search":
			pc, err := location.ParsePostcode(g.form.Values["postcode"])
			if g.form.addValidation(err, nil) {
				h.renderRegister(w, r, http.StatusOK, "organisation", g, nil)
				return
			}
			found, err := h.queries.LocationsByPostcode(r.Context(), pc.String())
			if err != nil {
				h.fail(w, r, err)
				return
			}
			h.renderRegister(w, r, http.StatusOK, "organisation", g, found)
		default:
			if g.check("organisation_type", "location_ids"); g.form.HasErrors() {
				h.renderRegister(w, r, http.StatusOK, "organisation", g, nil)
				return
			}
			h.renderRegister(w, r, http.StatusOK, "terms", g, nil)
		}
	case "terms":
		if action == "back" {
			h.renderRegister(w, r, http.StatusOK, "organisation", g, nil)
			return
		}
		// The submit that registers is counted, as every request to the
		// API's registrations is, whether or not it is valid.
		if !h.allow(w, r, ratelimit.Registration, h.limits.Registration, httpapi.EmailAccount(g.form.Values["email"])) {
			return
		}
		for _, f := range []struct{ name, message string }{
			{"terms", "Select whether you agree to the Terms of Use"},
			{"communications", "Select whether you agree to receive communications"},
		} {
			if v := g.form.Values[f.name]; v != "agree" && v != "disagree" {
				g.form.add(f.name, "required", f.message)
			}
		}
		if !g.form.HasErrors() {
			g.check("terms_accepted")
			for i := range g.form.Errors {
				g.form.Errors[i].Field = "terms"
			}
		}
		if g.form.HasErrors() {
			h.renderRegister(w, r, http.StatusOK, "terms", g, nil)
			return
		}
		_, err := h.commands.Register(r.Context(), httpapi.RequestInfo(r), g.command())
		var conflict *domain.ConflictError
		switch {
		case errors.As(err, &conflict):
			// Username taken: back to the address, with the support
			// centre's contacts the domain's message gives.
			g.form.add("email", conflict.Code, conflict.Message)
			h.renderRegister(w, r, http.StatusConflict, "details", g, nil)
		case g.form.addValidation(err, nil):
			// A location that went away meanwhile.
			for i := range g.form.Errors {
				g.form.Errors[i].Field = "location_ids"
			}
			h.renderRegister(w, r, http.StatusUnprocessableEntity, "organisation", g, nil)
		case err != nil:
			h.fail(w, r, err)
		default:
			redirect(w, r, "/register/finished")
		}
	default:
		h.errorPage(w, r, http.StatusBadRequest)
	}
}

func (h *Handler) showRegisterFinished(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "register-finished", view{Title: "Your request has been sent"})
}

// namedLocations is the directory's summary of each location, in order; a
// location the directory does not hold (yet) goes by its id.
func (h *Handler) namedLocations(r *http.Request, ids []string) ([]queries.LocationSummary, error) {
	out := make([]queries.LocationSummary, 0, len(ids))
	for _, id := range ids {
		l, ok, err := h.queries.Location(r.Context(), id)
		if err != nil {
			return nil, err
		}
		if !ok {
			l = queries.LocationSummary{LocationID: id, Name: id}
		}
		out = append(out, l)
	}
	return out, nil
}
