package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/survey"
)

func TestWeb_SurveyShowsEveryErrorAtOnceThenTheLatestAnswers(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		c := s.signedIn(rosa, "/")

		c.get("/locations/1-200/surveys").wantPage(t, http.StatusOK, "Surveys for Cranberry Home Care")
		if p := c.get("/locations/1-200/surveys"); !strings.Contains(p.Body, survey.NoSurveysMessage) {
			t.Fatalf("no survey, and the page does not say so:\n%s", p.Body)
		}

		id := s.openSurvey("Syringe driver supplies")
		list := c.get("/locations/1-200/surveys").wantPage(t, http.StatusOK, "Surveys for Cranberry Home Care")
		path := "/locations/1-200/surveys/" + id
		if !strings.Contains(list.Body, `href="`+path+`">Syringe driver supplies</a>`) || !strings.Contains(list.Body, "Not answered") {
			t.Fatalf("the list does not link the survey:\n%s", list.Body)
		}
		c.get(path).wantPage(t, http.StatusOK, "Syringe driver supplies")

		// Every error at once, in the questions' order, the input kept.
		csrf := c.csrf(path)
		p := c.post(path, url.Values{"csrf_token": {csrf}, "q-staff": {"lots"}, "q-notes": {strings.Repeat("x", 21)}}).
			wantPage(t, http.StatusUnprocessableEntity, "Syringe driver supplies")
		want := [][2]string{
			{"q-staff", survey.MsgWholeNumber},
			{"q-drivers", survey.MsgRequired},
			{"q-ordering", survey.MsgRequired},
			{"q-notes", "Enter at most 20 characters"},
		}
		if got := p.summary(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
			t.Fatalf("errors %q, want %q", got, want)
		}
		if !strings.HasPrefix(p.title(), "Error: ") || !strings.Contains(p.Body, `value="lots"`) {
			t.Fatalf("the page lost the input or its title's Error: %q", p.title())
		}
		p = c.post(path, url.Values{"csrf_token": {csrf}, "q-staff": {"101"}, "q-drivers": {"yes"}, "q-ordering": {"Weekly"}}).
			wantPage(t, http.StatusUnprocessableEntity, "Syringe driver supplies")
		if got := p.summary(); len(got) != 1 || got[0] != [2]string{"q-staff", "Enter a number of at most 100"} {
			t.Fatalf("errors %q", got)
		}
		if !strings.Contains(p.Body, `id="q-ordering-2" name="q-ordering" type="radio" value="Weekly" checked`) {
			t.Fatalf("the choice was not kept:\n%s", p.Body)
		}

		before := s.eventCount()
		res := c.post(path, url.Values{"csrf_token": {csrf}, "q-staff": {"12"}, "q-drivers": {"no"}, "q-ordering": {"Daily"},
			"q-notes": {"Order more"}})
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), path+"?done=saved&position=") {
			t.Fatalf("saved: %d to %q:\n%s", res.Status, res.Header.Get("Location"), res.Body)
		}
		if s.eventCount() != before+1 {
			t.Fatalf("%d events appended, want 1", s.eventCount()-before)
		}
		// Revisited: the latest answers. The page waits up to 2 s for its
		// views (the position in its address); on a loaded machine they
		// may be later, so look once they have caught up.
		c.get(res.Header.Get("Location")).wantPage(t, http.StatusOK, "Syringe driver supplies")
		s.settle()
		p = c.get(res.Header.Get("Location")).wantPage(t, http.StatusOK, "Syringe driver supplies")
		for _, want := range []string{"Your answers have been saved.", "You last answered it on", `name="q-staff" type="text" inputmode="numeric" spellcheck="false" value="12"`,
			`id="q-drivers-no" name="q-drivers" type="radio" value="no" checked`, `name="q-ordering" type="radio" value="Daily" checked`, ">Order more</textarea>"} {
			if !strings.Contains(p.Body, want) {
				t.Fatalf("the page after saving lacks %q:\n%s", want, p.Body)
			}
		}
		if list := c.get("/locations/1-200/surveys"); !strings.Contains(list.Body, "Last answered on") {
			t.Fatalf("the list does not say it was answered:\n%s", list.Body)
		}

		// A survey that is not open for the location is not found.
		c.get("/locations/1-200/surveys/00000000-0000-4000-8000-000000000000").wantPage(t, http.StatusNotFound, "Page not found")
		c.post("/locations/1-200/surveys/00000000-0000-4000-8000-000000000000", url.Values{"csrf_token": {csrf}, "q-staff": {"1"}}).
			wantPage(t, http.StatusNotFound, "Page not found")
		c.get("/locations/1-999/surveys").wantPage(t, http.StatusNotFound, "Page not found")
		// Without the form's token: refused, nothing saved.
		before = s.eventCount()
		c.post(path, url.Values{"q-staff": {"12"}, "q-drivers": {"no"}, "q-ordering": {"Daily"}}).wantPage(t, http.StatusForbidden, "You cannot do this")
		if s.eventCount() != before {
			t.Fatal("a post without the form token appended events")
		}
	})
}
