package web

import (
	"net/http"
	"strconv"

	"github.com/capacitytracker/capacity/domain/location"
)

// Care Quality: the guide's "Care Quality Dashboard" of a location. CQC's
// overall rating and its five key questions as tags (read-only: CQC's to
// correct), CQC's latest report, and the PAMMS assessment, which the
// location's users keep (the API's PUT /locations/{id}/care-quality/pamms,
// with the same version and conflict as Edit Provider).

func careQualityPath(id string) string { return locationPath(id) + "/care-quality" }

// ratingRow is one CQC rating as Care Quality and the dashboard show it:
// an NHS tag.
type ratingRow struct {
	Label, Rating, TagClass string
}

// ratingTag is the design system's tag colour of a CQC rating.
func ratingTag(r string) string {
	switch r {
	case "Outstanding":
		return "nhsuk-tag--blue"
	case "Good":
		return "nhsuk-tag--green"
	case "Requires improvement":
		return "nhsuk-tag--orange"
	case "Inadequate":
		return "nhsuk-tag--red"
	}
	return "nhsuk-tag--grey"
}

// ratingLabel is a rating in the guide's words ("Unknown Rating").
func ratingLabel(r string) string {
	if r == "" || r == location.Rating("").String() {
		return "Unknown Rating"
	}
	return r
}

var pammsForm = []fieldDef{
	{"pamms_report_url", "Latest PAMMS Report"}, {"pamms_rating", "PAMMS Rating"}, {"pamms_report_date", "PAMMS report date"},
}

var pammsRename = map[string]string{"report_url": "pamms_report_url", "rating": "pamms_rating", "report_date": "pamms_report_date"}

func pammsValue(p location.PAMMS, name string) string {
	switch name {
	case "pamms_report_url":
		return p.ReportURL
	case "pamms_rating":
		return p.Rating
	case "pamms_report_date":
		return p.ReportDate
	}
	return ""
}

func careQualityNotice(done string) string {
	switch done {
	case sectionPAMMS:
		return "The PAMMS assessment has been saved."
	case sectionPAMMS + "-confirmed":
		return "No changes were made to the PAMMS assessment: we have recorded that you confirmed it as up to date."
	}
	return ""
}

func (h *Handler) showCareQuality(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderCareQuality(w, r, s, editState{form: newForm(), status: http.StatusOK, notice: careQualityNotice(r.URL.Query().Get("done"))})
}

func (h *Handler) renderCareQuality(w http.ResponseWriter, r *http.Request, s *session, st editState) {
	id := r.PathValue("id")
	p, err := h.commands.LocationProfile(r.Context(), s.actor, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := st.form
	f.Values["version"] = strconv.FormatInt(p.Version, 10)
	orig := map[string]string{}
	for _, fd := range pammsForm {
		orig[fd.name] = pammsValue(p.PAMMS, fd.name)
		if st.entered == "" {
			f.Values[fd.name] = orig[fd.name]
		}
	}
	if st.entered != "" && st.conflict == nil {
		f.Values["version"] = r.PostForm.Get("version")
		for k := range orig {
			orig[k] = r.PostForm.Get("orig_" + k)
		}
	}
	rows := make([]ratingRow, 0, 6)
	for _, k := range []struct{ key, label string }{
		{"overall", "CQC Overall"}, {"safe", "Safe"}, {"effective", "Effective"}, {"caring", "Caring"},
		{"responsive", "Responsive"}, {"well_led", "Well-led"},
	} {
		rating := ratingLabel(p.CQC.Ratings[k.key])
		rows = append(rows, ratingRow{Label: k.label, Rating: rating, TagClass: ratingTag(rating)})
	}
	h.render(w, r, st.status, "care-quality", view{Title: "Care Quality Dashboard for " + p.Address.Name, User: s.user(), CSRF: s.csrf(),
		Form: f, Notice: st.notice, Data: map[string]any{
			"Profile": p, "Ratings": rows, "PAMMSRatings": location.PAMMSRatings(), "Conflict": st.conflict, "Orig": orig,
			"LocationPath": locationPath(id), "Path": careQualityPath(id),
		}})
}

func (h *Handler) submitPAMMS(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	keep(r, f, pammsForm)
	id := r.PathValue("id")
	res, err := h.commands.EditPAMMS(r.Context(), s.actor, location.EditPAMMS{LocationID: id, ExpectedVersion: v,
		PAMMS: location.PAMMS{ReportURL: f.Value("pamms_report_url"), Rating: f.Value("pamms_rating"), ReportDate: f.Value("pamms_report_date")}})
	if err == nil {
		done := sectionPAMMS
		if !res.Changed {
			done += "-confirmed"
		}
		redirect(w, r, careQualityPath(id)+"?done="+done+"#"+sectionPAMMS)
		return
	}
	h.saved(w, r, s, sectionPAMMS, sectionPAMMS, f, res, err, pammsRename, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionPAMMS, Changes: diffFields(r, pammsForm, func(n string) string { return pammsValue(cur.PAMMS, n) })}
	}, func(st editState) { h.renderCareQuality(w, r, s, st) })
}
