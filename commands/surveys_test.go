package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
)

// surveyClock is a clock the survey tests move.
type surveyClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *surveyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *surveyClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// surveyFixture has two CQC locations, each with its imported manager:
// a home care agency in the North West and a care home in London, and a
// home care location support registered (no CQC record, so no region).
type surveyFixture struct {
	store commands.Store
	a     *commands.Service
	clock *surveyClock
	sys   commands.Actor
	start time.Time
}

const (
	homeCareLoc = "1-112787350" // home_care, North West
	careHomeLoc = "1-112789029" // care_home, London
	noRegionLoc = "acme-1"      // home_care, region unknown
	homeCareMgr = "hana@homecare.example"
	careHomeMgr = "carl@carehome.example"
)

func newSurveyFixture(t *testing.T, b backend) surveyFixture {
	t.Helper()
	ctx := context.Background()
	store := b.open(t)
	start := time.Now().UTC().Truncate(time.Second)
	clock := &surveyClock{now: start}
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	a, err := commands.New(ctx, store, cfg, clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sys := commands.System("test")
	recs := []location.CQCRecord{
		{LocationID: homeCareLoc, ProviderID: "1-101685791", Name: "Cranberry Home Care", Postcode: "M1 1AE",
			CQCRegion: "North West", ServiceTypes: []string{"Homecare agencies"}, RegistrationStatus: location.StatusRegistered},
		{LocationID: careHomeLoc, ProviderID: "1-101680292", Name: "Rosehill", Postcode: "SW1A 1AA",
			CQCRegion: "London", CareHome: true, RegistrationStatus: location.StatusRegistered},
	}
	if sum, err := a.ImportCQC(ctx, sys, recs); err != nil || sum.Created != 2 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "acme", Name: "Acme Care", Type: "home_care"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: noRegionLoc, OrganisationID: "acme", Name: "Acme Home Care", Postcode: "NN1 1NN"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ loc, name, email string }{{homeCareLoc, "Hana Home", homeCareMgr}, {careHomeLoc, "Carl Care", careHomeMgr}} {
		loc, email := m.loc, m.email
		if _, _, err := a.ImportManager(ctx, sys, account.ImportManager{LocationID: loc, FullName: m.name, Email: email}); err != nil {
			t.Fatal(err)
		}
		setPassword(t, a, store, userByEmail(t, a, store, email), approverPassword)
	}
	return surveyFixture{store: store, a: a, clock: clock, sys: sys, start: start}
}

// actor logs in as a user (again, since the clock may have moved past the
// last session's idle timeout).
func (f surveyFixture) actor(t *testing.T, email string) commands.Actor {
	t.Helper()
	ctx := context.Background()
	login, err := f.a.Login(ctx, commands.Request{}, email, approverPassword, false)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	actor, err := f.a.Authenticate(ctx, login.Token, commands.Request{})
	if err != nil {
		t.Fatal(err)
	}
	return actor
}

// supportActor creates a member of the support team and logs in.
func (f surveyFixture) supportActor(t *testing.T) commands.Actor {
	t.Helper()
	const email = "sam.support@necsu.example.nhs.uk"
	reg, err := f.a.CreateSupportUser(context.Background(), f.sys, email, "Sam Support")
	if err != nil {
		t.Fatal(err)
	}
	setPassword(t, f.a, f.store, reg.UserID, approverPassword)
	return f.actor(t, email)
}

// surveyForm is a survey open from an hour before the fixture's start
// until a day after it, with one required question of each type but free
// text.
func (f surveyFixture) surveyForm(orgTypes, regions []string) survey.Form {
	one, ten := int64(1), int64(10)
	return survey.Form{
		Title: "Syringe driver supplies",
		Questions: []survey.Question{
			{ID: "drivers", Text: "How many syringe drivers do you hold?", Type: survey.WholeNumber, Required: true, Min: &one, Max: &ten},
			{ID: "proxy", Text: "Do you use proxy online ordering?", Type: survey.YesNo, Required: true},
			{ID: "supplier", Text: "Who supplies them?", Type: survey.SingleChoice, Required: true, Options: []string{"NHS", "Private"}},
			{ID: "notes", Text: "Anything else?", Type: survey.FreeText},
		},
		OrganisationTypes: orgTypes,
		NHSRegions:        regions,
		OpensAt:           f.start.Add(-time.Hour).Format(time.RFC3339),
		ClosesAt:          f.start.Add(24 * time.Hour).Format(time.RFC3339),
	}
}

// published defines and publishes a survey as support.
func (f surveyFixture) published(t *testing.T, form survey.Form) string {
	t.Helper()
	ctx := context.Background()
	res, err := f.a.DefineSurvey(ctx, f.sys, form)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.PublishSurvey(ctx, f.sys, res.SurveyID); err != nil {
		t.Fatal(err)
	}
	return res.SurveyID
}

func answers(kv ...string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = json.RawMessage(kv[i+1])
	}
	return out
}

var goodAnswers = answers("drivers", `3`, "proxy", `true`, "supplier", `"NHS"`)

func wantRuleCode(t *testing.T, err error, code string) {
	t.Helper()
	var r *domain.RuleError
	if !errors.As(err, &r) || r.Code != code {
		t.Fatalf("error %v, want rule %s", err, code)
	}
}

func TestSurveys_OnlySupportDefinesAmendsPublishesAndCloses(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newSurveyFixture(t, b)
			manager := f.actor(t, homeCareMgr)
			support := f.supportActor(t)

			before := streamVersions(t, f.store)
			if _, err := f.a.DefineSurvey(ctx, manager, f.surveyForm(nil, nil)); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("a manager defines: %v", err)
			}
			res, err := f.a.DefineSurvey(ctx, support, f.surveyForm([]string{"home_care"}, nil))
			if err != nil || res.Version != 1 || !res.Changed || res.Position == 0 {
				t.Fatalf("support defines: %+v, %v", res, err)
			}
			id := res.SurveyID
			afterDefine := streamVersions(t, f.store)
			for _, try := range []struct {
				name string
				call func() error
			}{
				{"publish", func() error { _, err := f.a.PublishSurvey(ctx, manager, id); return err }},
				{"close", func() error { _, err := f.a.CloseSurvey(ctx, manager, id); return err }},
				{"amend", func() error {
					_, err := f.a.AmendSurvey(ctx, manager, survey.Amend{SurveyID: id, ExpectedVersion: 1, Form: f.surveyForm(nil, nil)})
					return err
				}},
			} {
				if err := try.call(); !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("a manager may %s: %v", try.name, err)
				}
			}
			if got := streamVersions(t, f.store); !maps.Equal(got, afterDefine) {
				t.Errorf("refused commands appended: %v, want %v", got, afterDefine)
			}
			if len(afterDefine) != len(before)+1 || afterDefine[survey.Stream(id)] != 1 {
				t.Errorf("define appended to %d new streams", len(afterDefine)-len(before))
			}

			if _, err := f.a.PublishSurvey(ctx, support, id); err != nil {
				t.Fatal(err)
			}
			form := f.surveyForm([]string{"home_care"}, nil)
			form.Title = "Syringe drivers (amended)"
			am, err := f.a.AmendSurvey(ctx, support, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: form})
			if err != nil || am.Version != 3 || !am.Changed {
				t.Fatalf("amend: %+v, %v", am, err)
			}
			// Unchanged: nothing appended. Stale: a conflict.
			if same, err := f.a.AmendSurvey(ctx, support, survey.Amend{SurveyID: id, ExpectedVersion: 3, Form: form}); err != nil ||
				same.Changed || same.Version != 3 || same.Position != 0 {
				t.Errorf("unchanged amendment: %+v, %v", same, err)
			}
			var conflict *domain.ConflictError
			if _, err := f.a.AmendSurvey(ctx, support, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: f.surveyForm(nil, nil)}); !errors.As(err, &conflict) ||
				conflict.Code != "version_conflict" {
				t.Errorf("stale amendment: %v", err)
			}
			if _, err := f.a.CloseSurvey(ctx, f.sys, id); err != nil {
				t.Fatal(err)
			}
			if got := eventTypes(t, f.store, survey.Stream(id)); strings.Join(got, ",") != "SurveyDefined,SurveyPublished,SurveyAmended,SurveyClosed" {
				t.Errorf("events %v", got)
			}
			evs, err := f.store.ReadStream(ctx, survey.Stream(id), eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, cmd := range []string{"DefineSurvey", "PublishSurvey", "AmendSurvey", "CloseSurvey"} {
				if evs[i].Metadata.Command != cmd {
					t.Errorf("event %d: command %q, want %q", i, evs[i].Metadata.Command, cmd)
				}
			}
			if evs[0].Metadata.ActorUserID != support.User.ID.String() {
				t.Errorf("actor %q", evs[0].Metadata.ActorUserID)
			}

			for _, bad := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000001"} {
				if _, err := f.a.PublishSurvey(ctx, support, bad); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("publish %q: %v", bad, err)
				}
			}
			// Another spelling of the id names the same survey, closed.
			_, err = f.a.CloseSurvey(ctx, support, "{"+strings.ToUpper(id)+"}")
			wantRuleCode(t, err, "survey_closed")
		})
	}
}

func TestSubmitSurveyResponse_OnlyTargetedLocations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newSurveyFixture(t, b)
			cases := []struct {
				name             string
				orgTypes, nhs    []string
				targetedLocation []string
			}{
				{"everyone", nil, nil, []string{homeCareLoc, careHomeLoc, noRegionLoc}},
				{"home care", []string{"home_care"}, nil, []string{homeCareLoc, noRegionLoc}},
				{"care homes", []string{"care_home"}, nil, []string{careHomeLoc}},
				{"North West", nil, []string{"North West"}, []string{homeCareLoc}},
				{"London home care", []string{"home_care"}, []string{"London"}, nil},
				{"London or North West care homes and home care", []string{"care_home", "home_care"}, []string{"London", "North West"},
					[]string{homeCareLoc, careHomeLoc}},
			}
			for _, c := range cases {
				id := f.published(t, f.surveyForm(c.orgTypes, c.nhs))
				for _, loc := range []string{homeCareLoc, careHomeLoc, noRegionLoc} {
					_, err := f.a.SubmitSurveyResponse(ctx, f.sys, id, loc, goodAnswers)
					if slices.Contains(c.targetedLocation, loc) {
						if err != nil {
							t.Errorf("%s: %s refused: %v", c.name, loc, err)
						}
						continue
					}
					var r *domain.RuleError
					if !errors.As(err, &r) || r.Code != "survey_not_for_location" {
						t.Errorf("%s: %s answered: %v", c.name, loc, err)
					}
					if n := len(eventTypes(t, f.store, survey.ResponseStream(id, loc))); n != 0 {
						t.Errorf("%s: %s refused, yet %d events", c.name, loc, n)
					}
				}
			}
		})
	}
}

func TestSubmitSurveyResponse_ResubmitUntilTheSurveyCloses(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newSurveyFixture(t, b)
			id := f.published(t, f.surveyForm([]string{"home_care"}, nil))
			mgr := f.actor(t, homeCareMgr)

			first, err := f.a.SubmitSurveyResponse(ctx, mgr, id, homeCareLoc, goodAnswers)
			if err != nil || first.Submissions != 1 || !first.SubmittedAt.Equal(f.start) || string(first.Answers["proxy"]) != "true" {
				t.Fatalf("first answer: %+v, %v", first, err)
			}
			second, err := f.a.SubmitSurveyResponse(ctx, mgr, id, homeCareLoc,
				answers("drivers", `"10"`, "proxy", `"no"`, "supplier", `"private"`, "notes", `" Short of  stock "`))
			if err != nil || second.Submissions != 2 || second.Position <= first.Position {
				t.Fatalf("second answer: %+v, %v", second, err)
			}
			want := survey.Answers{"drivers": json.RawMessage(`10`), "proxy": json.RawMessage(`false`),
				"supplier": json.RawMessage(`"Private"`), "notes": json.RawMessage(`"Short of stock"`)}
			evs, err := f.store.ReadStream(ctx, survey.ResponseStream(id, homeCareLoc), eventstore.ReadStreamOptions{})
			if err != nil || len(evs) != 2 {
				t.Fatalf("response stream: %d events, %v", len(evs), err)
			}
			ev, err := survey.Decode(evs[1].Type, evs[1].Data)
			if err != nil {
				t.Fatal(err)
			}
			got := ev.(survey.SurveyResponseSubmitted)
			if !maps.EqualFunc(got.Answers, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) ||
				got.SurveyVersion != 2 || got.LocationID != homeCareLoc || evs[1].Metadata.ActorUserID != mgr.User.ID.String() {
				t.Errorf("latest submission %+v", got)
			}

			// Another location's manager may not answer for this one.
			other := f.actor(t, careHomeMgr)
			count := len(streamVersions(t, f.store))
			if _, err := f.a.SubmitSurveyResponse(ctx, other, id, homeCareLoc, goodAnswers); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("another location's manager: %v", err)
			}
			for _, c := range []struct{ survey, loc string }{{id, "1-999999999"}, {id, "bad/id"}, {"no-such-survey", homeCareLoc},
				{"6f1c1b8e-0000-4000-8000-000000000000", homeCareLoc}} {
				if _, err := f.a.SubmitSurveyResponse(ctx, f.sys, c.survey, c.loc, goodAnswers); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("survey %q location %q: %v", c.survey, c.loc, err)
				}
			}
			// A draft is not found by the locations.
			draft, err := f.a.DefineSurvey(ctx, f.sys, f.surveyForm(nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.a.SubmitSurveyResponse(ctx, mgr, draft.SurveyID, homeCareLoc, goodAnswers); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("a draft: %v", err)
			}
			// Every invalid answer at once, nothing appended.
			_, err = f.a.SubmitSurveyResponse(ctx, mgr, id, homeCareLoc, answers("drivers", `0`, "supplier", `"Council"`, "extra", `1`))
			var v *domain.ValidationError
			if !errors.As(err, &v) || len(v.Fields) != 4 || !v.Has("answers.drivers") || !v.Has("answers.proxy") ||
				!v.Has("answers.supplier") || !v.Has("answers.extra") {
				t.Errorf("invalid answers: %v", err)
			}
			if n := len(streamVersions(t, f.store)); n != count+1 { // the draft's stream
				t.Errorf("%d streams, want %d", n, count+1)
			}

			if _, err := f.a.CloseSurvey(ctx, f.sys, id); err != nil {
				t.Fatal(err)
			}
			_, err = f.a.SubmitSurveyResponse(ctx, mgr, id, homeCareLoc, goodAnswers)
			wantRuleCode(t, err, "survey_not_open")
			if n := len(eventTypes(t, f.store, survey.ResponseStream(id, homeCareLoc))); n != 2 {
				t.Errorf("%d submissions after the close, want 2", n)
			}
		})
	}
}

func TestSubmitSurveyResponse_OpenFromOpensAtUntilJustBeforeClosesAt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newSurveyFixture(t, b)
			form := f.surveyForm(nil, nil)
			opensAt, closesAt := f.start.Add(time.Hour), f.start.Add(2*time.Hour)
			form.OpensAt, form.ClosesAt = opensAt.Format(time.RFC3339), closesAt.Format(time.RFC3339)
			id := f.published(t, form) // published before it opens
			for _, c := range []struct {
				at   time.Time
				open bool
			}{
				{opensAt.Add(-time.Second), false},
				{opensAt, true},
				{closesAt.Add(-time.Second), true},
				{closesAt, false},
			} {
				f.clock.Set(c.at)
				_, err := f.a.SubmitSurveyResponse(ctx, f.sys, id, careHomeLoc, goodAnswers)
				if c.open && err != nil {
					t.Errorf("at %v: %v", c.at, err)
				}
				if !c.open {
					var r *domain.RuleError
					if !errors.As(err, &r) || r.Code != "survey_not_open" {
						t.Errorf("at %v: %v, want survey_not_open", c.at, err)
					}
				}
			}
			// Once its closing date has passed it cannot be published
			// (another survey) nor amended to close in the past.
			f.clock.Set(closesAt)
			d, err := f.a.DefineSurvey(ctx, f.sys, form)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.a.PublishSurvey(ctx, f.sys, d.SurveyID)
			wantRuleCode(t, err, "closes_at_passed")
			_, err = f.a.AmendSurvey(ctx, f.sys, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: form})
			var v *domain.ValidationError
			if !errors.As(err, &v) || !v.Has("closes_at") {
				t.Errorf("amend a published survey to close in the past: %v", err)
			}
			// Extended by an amendment, it takes answers again.
			form.ClosesAt = closesAt.Add(time.Hour).Format(time.RFC3339)
			if _, err := f.a.AmendSurvey(ctx, f.sys, survey.Amend{SurveyID: id, ExpectedVersion: 2, Form: form}); err != nil {
				t.Fatal(err)
			}
			if r, err := f.a.SubmitSurveyResponse(ctx, f.sys, id, careHomeLoc, goodAnswers); err != nil || r.Submissions != 3 {
				t.Errorf("after the extension: %+v, %v", r, err)
			}
		})
	}
}
