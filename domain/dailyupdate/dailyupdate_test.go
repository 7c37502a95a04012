package dailyupdate_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
)

// valid is a form that keeps every rule; cases change one thing.
func valid() dailyupdate.Form {
	return dailyupdate.Form{ServiceUsers: "10", Confirmed: "2", Suspected: "1", CareStaff: "8", StaffNotWorking: "1",
		PPE: "more_than_week", CanProvideExtra: "yes", ExtraHoursPerWeek: "12", OtherIssues: "Short of gloves"}
}

// fieldErrors is "field:code" of every failure, in order.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("want a *domain.ValidationError, got %v", err)
	}
	var out []string
	for _, f := range v.Fields {
		out = append(out, f.Field+":"+f.Code)
	}
	return out
}

func TestValidate_EveryRuleAtItsBoundaries(t *testing.T) {
	cases := []struct {
		name string
		edit func(f *dailyupdate.Form)
		want []string // nil: valid
	}{
		{"valid", func(f *dailyupdate.Form) {}, nil},
		{"zero everything, no extra care", func(f *dailyupdate.Form) {
			*f = dailyupdate.Form{ServiceUsers: "0", Confirmed: "0", Suspected: "0", CareStaff: "0", StaffNotWorking: "0",
				PPE: "two_days_or_less", CanProvideExtra: "no", ExtraHoursPerWeek: "0"}
		}, nil},
		// confirmed + suspected <= people using the service
		{"confirmed+suspected equal to users", func(f *dailyupdate.Form) { f.Confirmed, f.Suspected = "6", "4" }, nil},
		{"confirmed+suspected one more than users", func(f *dailyupdate.Form) { f.Confirmed, f.Suspected = "6", "5" },
			[]string{"confirmed:users_with_covid_exceed_users", "suspected:users_with_covid_exceed_users"}},
		{"confirmed alone above users", func(f *dailyupdate.Form) { f.Confirmed, f.Suspected = "11", "0" },
			[]string{"confirmed:users_with_covid_exceed_users", "suspected:users_with_covid_exceed_users"}},
		// staff not working <= staff delivering care
		{"absent equal to staff", func(f *dailyupdate.Form) { f.StaffNotWorking = "8" }, nil},
		{"absent one more than staff", func(f *dailyupdate.Form) { f.StaffNotWorking = "9" },
			[]string{"staff_not_working:staff_absent_exceed_staff"}},
		// extra hours: 0 when no, > 0 when yes
		{"no extra care and 0 hours", func(f *dailyupdate.Form) { f.CanProvideExtra, f.ExtraHoursPerWeek = "no", "0" }, nil},
		{"no extra care and 1 hour", func(f *dailyupdate.Form) { f.CanProvideExtra, f.ExtraHoursPerWeek = "no", "1" },
			[]string{"extra_hours_per_week:extra_hours_not_zero"}},
		{"extra care and 0 hours", func(f *dailyupdate.Form) { f.ExtraHoursPerWeek = "0" },
			[]string{"extra_hours_per_week:extra_hours_zero"}},
		{"extra care and 1 hour", func(f *dailyupdate.Form) { f.ExtraHoursPerWeek = "1" }, nil},
		// whole numbers >= 0
		{"negative count", func(f *dailyupdate.Form) { f.CareStaff = "-1" }, []string{"care_staff:whole_number"}},
		{"fraction", func(f *dailyupdate.Form) { f.ServiceUsers = "10.5" }, []string{"service_users:whole_number"}},
		{"word", func(f *dailyupdate.Form) { f.Suspected = "one" }, []string{"suspected:whole_number"}},
		{"whole number written as a decimal", func(f *dailyupdate.Form) { f.ServiceUsers = "10.0" }, nil},
		{"number typed with spaces", func(f *dailyupdate.Form) { f.ServiceUsers = " 10 " }, nil},
		{"largest count", func(f *dailyupdate.Form) { f.ServiceUsers, f.CareStaff = "1000000", "1000000" }, nil},
		{"count above the largest", func(f *dailyupdate.Form) { f.CareStaff = "1000001" }, []string{"care_staff:too_large"}},
		{"huge exponent", func(f *dailyupdate.Form) { f.CareStaff = "1e400" }, []string{"care_staff:whole_number"}},
		// required
		{"every question unanswered", func(f *dailyupdate.Form) { *f = dailyupdate.Form{} }, []string{
			"service_users:required", "confirmed:required", "suspected:required", "care_staff:required",
			"staff_not_working:required", "ppe:required", "can_provide_extra_hours:required", "extra_hours_per_week:required"}},
		{"free text may be blank", func(f *dailyupdate.Form) { f.OtherIssues = "" }, nil},
		{"unknown PPE level", func(f *dailyupdate.Form) { f.PPE = "plenty" }, []string{"ppe:invalid_choice"}},
		{"PPE by its template label", func(f *dailyupdate.Form) { f.PPE = "between 3 days and a WEEK" }, nil},
		{"PPE by the form's label", func(f *dailyupdate.Form) { f.PPE = "We have enough PPE to last 2 days or less" }, nil},
		{"yes/no neither", func(f *dailyupdate.Form) { f.CanProvideExtra = "maybe" }, []string{"can_provide_extra_hours:invalid_choice"}},
		// free text up to 2,000 characters
		{"other issues of 2,000 characters", func(f *dailyupdate.Form) { f.OtherIssues = strings.Repeat("é", 2000) }, nil},
		{"other issues of 2,001 characters", func(f *dailyupdate.Form) { f.OtherIssues = strings.Repeat("é", 2001) },
			[]string{"other_issues:too_long"}},
		// all errors at once
		{"several fields wrong", func(f *dailyupdate.Form) {
			f.ServiceUsers, f.StaffNotWorking, f.PPE, f.CanProvideExtra, f.ExtraHoursPerWeek = "x", "9", "", "no", "3"
		}, []string{"service_users:whole_number", "staff_not_working:staff_absent_exceed_staff", "ppe:required",
			"extra_hours_per_week:extra_hours_not_zero"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := valid()
			c.edit(&f)
			a, err := f.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if again, err := a.Form().Validate(); err != nil || again != a {
					t.Fatalf("answers do not survive their form: %+v vs %+v (%v)", again, a, err)
				}
				return
			}
			if got := fieldErrors(t, err); !slices.Equal(got, c.want) {
				t.Fatalf("errors\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestValidate_UsesTheGuidesWording(t *testing.T) {
	f := valid()
	f.Confirmed, f.StaffNotWorking, f.CanProvideExtra, f.ExtraHoursPerWeek = "20", "9", "no", "5"
	_, err := f.Validate()
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		t.Fatal(err)
	}
	want := map[string]string{
		"confirmed":            "The total sum of service users with coronavirus or suspected with coronavirus cannot be more than the total number of people using the service.",
		"staff_not_working":    "The number of staff who are unable to deliver care due to coronavirus cannot be more than the number of staff delivering care in the organisation",
		"extra_hours_per_week": "If unable to provide additional hours place 0 in the box",
	}
	for _, fe := range v.Fields {
		if msg, ok := want[fe.Field]; ok && fe.Message != msg {
			t.Errorf("%s: message %q, want the guide's %q", fe.Field, fe.Message, msg)
		}
		delete(want, fe.Field)
	}
	if len(want) > 0 {
		t.Errorf("no error for %v", want)
	}
}

func TestFormFromJSON_ReadsNumbersStringsAndBooleans(t *testing.T) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(`{"service_users": 10, "confirmed": "2", "suspected": 0, "care_staff": 8e0,
		"staff_not_working": null, "ppe": "three_days_to_week", "can_provide_extra_hours": false,
		"extra_hours_per_week": 0}`), &obj); err != nil {
		t.Fatal(err)
	}
	f, err := dailyupdate.FormFromJSON(obj)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Validate()
	if got := fieldErrors(t, err); !slices.Equal(got, []string{"staff_not_working:required"}) {
		t.Fatalf("null is an unanswered question: got %v", got)
	}
	if err := json.Unmarshal([]byte(`{"service_users": [1], "colour": "red"}`), &obj); err != nil {
		t.Fatal(err)
	}
	_, err = dailyupdate.FormFromJSON(obj)
	got := fieldErrors(t, err)
	slices.Sort(got)
	if !slices.Equal(got, []string{"colour:unknown_field", "service_users:invalid_type"}) {
		t.Fatalf("got %v", got)
	}
}

func TestDay_IsTheCalendarDayInLondonAcrossClockChanges(t *testing.T) {
	cases := []struct {
		utc  string
		want string
	}{
		// Winter: London is UTC.
		{"2026-01-15T23:59:59Z", "2026-01-15"},
		{"2026-01-16T00:00:00Z", "2026-01-16"},
		// Clocks go forward at 01:00 UTC on Sunday 29 March 2026: from
		// then London is UTC+1, so 23:00 UTC is already tomorrow.
		{"2026-03-28T23:59:59Z", "2026-03-28"}, // 23:59:59 GMT
		{"2026-03-29T00:59:59Z", "2026-03-29"}, // 00:59:59 GMT
		{"2026-03-29T22:59:59Z", "2026-03-29"}, // 23:59:59 BST
		{"2026-03-29T23:00:00Z", "2026-03-30"}, // 00:00 BST
		// Clocks go back at 01:00 UTC on Sunday 25 October 2026.
		{"2026-10-24T22:59:59Z", "2026-10-24"}, // 23:59:59 BST
		{"2026-10-24T23:00:00Z", "2026-10-25"}, // 00:00 BST
		{"2026-10-25T00:30:00Z", "2026-10-25"}, // 01:30 BST
		{"2026-10-25T01:30:00Z", "2026-10-25"}, // 01:30 GMT, the hour again
		{"2026-10-25T23:59:59Z", "2026-10-25"}, // 23:59:59 GMT: a 25-hour day
		{"2026-10-26T00:00:00Z", "2026-10-26"},
	}
	for _, c := range cases {
		at, err := time.Parse(time.RFC3339, c.utc)
		if err != nil {
			t.Fatal(err)
		}
		if got := dailyupdate.Day(at); got != c.want {
			t.Errorf("Day(%s) = %s, want %s", c.utc, got, c.want)
		}
	}
	start, err := dailyupdate.StartOfDay("2026-10-25")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := dailyupdate.StartOfDay("2026-10-26")
	if h := end.Sub(start); h != 25*time.Hour {
		t.Errorf("the day the clocks go back lasts %v, want 25h", h)
	}
}

func TestDecide_NoChangeCopiesTheLastAnswers(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	if _, err := dailyupdate.Decide(dailyupdate.State{}, dailyupdate.Submit{LocationID: "L1", NoChange: true, Now: now}); !errors.Is(err, dailyupdate.ErrNothingToCopy) {
		t.Fatalf("no change with nothing to copy: got %v", err)
	}
	first, err := dailyupdate.Decide(dailyupdate.State{}, dailyupdate.Submit{LocationID: "L1", Form: valid(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	s := dailyupdate.Evolve(dailyupdate.State{}, first)
	next, err := dailyupdate.Decide(s, dailyupdate.Submit{LocationID: "L1", NoChange: true, Now: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !next.NoChange || next.Answers != first.Answers || next.Day != "2026-11-25" {
		t.Fatalf("no change submission: %+v", next)
	}
	f := valid()
	if _, err := dailyupdate.Decide(s, dailyupdate.Submit{LocationID: "L1", NoChange: true, Form: f, Now: now}); err == nil {
		t.Fatal("no change with answers of its own was accepted")
	}
}
