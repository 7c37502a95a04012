// Package analyticstest holds what the analytics view's tests share: its
// own tests (package analytics_test) and the property test that drives it
// through the commands (package projections_test).
package analyticstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
)

// Answers are valid answers with users service users: those with an even
// number offer extra hours.
func Answers(users int, ppe dailyupdate.PPE) dailyupdate.Answers {
	a := dailyupdate.Answers{ServiceUsers: users, Confirmed: users / 4, Suspected: users / 5, CareStaff: users + 3,
		StaffNotWorking: 1, PPE: ppe}
	if users > 0 && users%2 == 0 {
		a.CanProvideExtra, a.ExtraHoursPerWeek = true, 2*users
	}
	return a
}

// NextClockChange is the first last Sunday of month after `after`: the
// day London's clocks change in March and October (at 01:00 UTC).
func NextClockChange(after time.Time, month time.Month) time.Time {
	for y := after.Year(); ; y++ {
		d := time.Date(y, month+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		for d.Weekday() != time.Sunday {
			d = d.AddDate(0, 0, -1)
		}
		if d.After(after) {
			return d
		}
	}
}

// CheckTotalsAreSums checks that analytics_daily_area holds exactly the
// sums of analytics_daily_location by area and day.
func CheckTotalsAreSums(t testing.TB, rm projections.ReadModels) {
	t.Helper()
	sums := func(areaType, col string) string {
		return fmt.Sprintf(`SELECT '%s', %s, day, count(*), sum(service_users), sum(confirmed), sum(suspected), sum(care_staff),
    sum(staff_absent), sum(CASE WHEN can_provide_extra THEN 1 ELSE 0 END), sum(extra_hours),
    sum(CASE WHEN ppe = 'more_than_week' THEN 1 ELSE 0 END), sum(CASE WHEN ppe = 'three_days_to_week' THEN 1 ELSE 0 END),
    sum(CASE WHEN ppe = 'two_days_or_less' THEN 1 ELSE 0 END)
FROM analytics_daily_location GROUP BY %s, day`, areaType, col, col)
	}
	query := strings.Join([]string{sums("england", "''"), sums("nhs_region", "nhs_region"),
		sums("local_authority", "local_authority"), sums("ccg", "ccg")}, "\nUNION ALL\n")
	// GROUP BY '' is not allowed everywhere: England groups by day alone.
	query = strings.Replace(query, "GROUP BY '', day", "GROUP BY day", 1)
	want := scanTotals(t, rm, query)
	got := scanTotals(t, rm, `SELECT area_type, area, day, locations_submitted, service_users, confirmed, suspected, care_staff,
    staff_absent, locations_offering_extra, extra_hours, ppe_more_than_week, ppe_three_days_to_week, ppe_two_days_or_less
FROM analytics_daily_area`)
	projtest.DiffRows(t, "analytics_daily_area as sums of analytics_daily_location", got, want)
}

// scanTotals reads rows of an area (type, name, day) and 11 counts as
// sorted "|"-joined text.
func scanTotals(t testing.TB, rm projections.ReadModels, query string) []string {
	t.Helper()
	var out []string
	err := rm.Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), query)
		out, err = projections.Collect(rows, err, nil, func(rows projections.Rows) (string, error) {
			var typ, area, day string
			var n [11]int64
			dest := []any{&typ, &area, &day}
			for i := range n {
				dest = append(dest, &n[i])
			}
			err := rows.Scan(dest...)
			return fmt.Sprint(typ, "|", area, "|", day, "|", n), err
		})
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	slices.Sort(out)
	return out
}
