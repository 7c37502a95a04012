package web

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/capacitytracker/capacity/queries"
)

// BenchmarkRender_UsersPage renders a page of 50 users of an organisation
// (the users template alone: no query, no handler), the render half of
// the users page.
func BenchmarkRender_UsersPage(b *testing.B) {
	a, err := loadAssets()
	if err != nil {
		b.Fatal(err)
	}
	p, err := loadPages(a)
	if err != nil {
		b.Fatal(err)
	}
	t := p.views["users"]
	list := make([]orgUser, 50)
	for i := range list {
		u := queries.UserSummary{UserID: fmt.Sprintf("0b6e2c1a-1111-4c3e-8d2f-%012d", i), FullName: fmt.Sprintf("Carer %03d Smith-O'Neil", i),
			Email: fmt.Sprintf("carer.%03d@large.example.org", i), Role: "standard", Kind: "personal", Status: "active",
			Locations: []string{"1-1000000085", "1-1000000086"}}
		list[i] = orgUser{UserID: u.UserID, Email: u.Email, FullName: u.FullName, Locations: "1-1000000085, 1-1000000086",
			UserTypeLabel: "Standard", MayChangeType: true, MayDeactivate: true, StatusLabel: "Active", StatusTagClass: "nhsuk-tag--green"}
	}
	path := usersPath("1-1000000085")
	v := view{Title: "Users of Large Org", Assets: a, User: &viewUser{Name: "Rosa Hill", Email: "rosa.hill@large.example.org"},
		CSRF: "c2VjcmV0LWNzcmYtdG9rZW4tZm9yLWJlbmNobWFyaw", Form: &form{},
		Data: map[string]any{"Organisation": queries.Dashboard{Name: "Large Org", ActiveApprovers: 3}, "Name": "Large Org", "Path": path,
			"Users": list, "Page": queries.Page[queries.UserSummary]{Page: 2, Pages: 20, Total: 971, From: 51, To: 100},
			"Pagination": paginationOf(path, 2, 20), "MinApprovers": queries.MinApprovers}}
	size := 0
	for b.Loop() {
		var buf bytes.Buffer
		if err := t.Execute(&buf, v); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1024, "page-KB")
}
