package web_test

// Helpers of the location pages' tests: the people of the access table
// who are not in harness_test.go, and a daily update's form.

import (
	"context"
	"net/url"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
)

// otherApprover is Lee, the registered manager of Plum Lodge (location
// 1-301 of organisation 1-300): an Approver of another organisation.
func (s *site) otherApprover() person {
	s.t.Helper()
	s.plumLodge()
	const email = "lee.plum@plumtree.example.org"
	if _, _, err := s.accounts.ImportManager(context.Background(), commands.System("test"), account.ImportManager{
		LocationID: "1-301", FullName: "Lee Plum", Email: email, Phone: "0191 555 0200"}); err != nil {
		s.t.Fatal(err)
	}
	p := person{Email: email, Name: "Lee Plum", Password: "Plum-lodge-manager-2026"}
	if _, err := s.accounts.SetPasswordWithLink(context.Background(), commands.Request{}, s.linkToken(email), p.Password); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// genericReady signs in the organisation's generic account, acknowledges
// the disclaimer and changes its first password: a generic account after
// the disclaimer, ready to use the service.
func (s *site) genericReady(t *testing.T, c *browserless, office person) {
	t.Helper()
	c.signIn(office, "/disclaimer")
	c.post("/disclaimer", url.Values{"csrf_token": {c.csrf("/disclaimer")}}).wantRedirect(t, "/change-password")
	c.post("/change-password", url.Values{"csrf_token": {c.csrf("/change-password")}, "current_password": {office.Password},
		"new_password": {"Plum-tree-orchard-2027"}}).wantRedirect(t, "/?done=password-changed")
}

// goodUpdate is a daily update that keeps every rule.
func goodUpdate() url.Values {
	return url.Values{
		"service_users": {"40"}, "confirmed": {"2"}, "suspected": {"3"}, "care_staff": {"25"}, "staff_not_working": {"4"},
		"ppe": {"three_days_to_week"}, "can_provide_extra_hours": {"yes"}, "extra_hours_per_week": {"12"},
		"other_issues": {"Short of aprons"},
	}
}
