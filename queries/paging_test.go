package queries_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/queries"
)

// pagesOf reads every page of a list of page size 10, from the first
// until one past the last, checking each page's counts, and returns the
// entries of all of them in order.
func pagesOf[T any](t *testing.T, list string, total int, read func(page int) (queries.Page[T], error)) []T {
	t.Helper()
	var all []T
	pages := (total + 9) / 10
	for page := 1; page <= pages+1; page++ {
		p, err := read(page)
		if err != nil {
			t.Fatalf("%s page %d: %v", list, page, err)
		}
		want := min(10, max(total-(page-1)*10, 0))
		from, to := 0, 0
		if want > 0 {
			from, to = (page-1)*10+1, (page-1)*10+want
		}
		if len(p.Entries) != want || p.Total != total || p.Pages != pages || p.Page != page || p.From != from || p.To != to ||
			p.Showing != fmt.Sprintf("Showing %d to %d of %d entries", from, to, total) {
			t.Errorf("%s page %d: %d entries, total %d, %d pages, page %d, %d to %d (%q); want %d of %d in %d pages, %d to %d",
				list, page, len(p.Entries), p.Total, p.Pages, p.Page, p.From, p.To, p.Showing, want, total, pages, from, to)
		}
		all = append(all, p.Entries...)
	}
	return all
}

func TestPendingApprovalsPage_PagesHoldTheListOnceInOrderForEachViewer(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		ops := a.support("Sam")
		managerA := a.importManager("a1", "Mary Manager")
		// 14 requests for A (which has an Approver), 11 for C (which has
		// none), interleaved.
		for i := range 25 {
			if i%2 == 0 && i < 22 {
				a.register(account.Standard, fmt.Sprintf("Cedar Person %02d", i), "c1")
			} else {
				a.register(account.Standard, fmt.Sprintf("Acorn Person %02d", i), "a1")
			}
		}
		a.Sync()
		support := queries.Viewer{UserID: ops.String(), Support: true}
		approverA := queries.Viewer{UserID: managerA.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}}
		for _, c := range []struct {
			name            string
			v               queries.Viewer
			withoutApprover bool
			total           int
			orgs            []string
		}{
			{"support", support, false, 25, []string{"A", "C"}},
			{"support's queue", support, true, 11, []string{"C"}},
			{"approver of A", approverA, false, 14, []string{"A"}},
			{"approver of A, without an approver", approverA, true, 0, nil},
			{"nobody", queries.Viewer{}, false, 0, nil},
		} {
			got := pagesOf(t, c.name, c.total, func(page int) (queries.Page[queries.PendingApproval], error) {
				return a.q.PendingApprovalsPage(ctx, c.v, queries.ApprovalsQuery{Page: page, PageSize: 10, WithoutApprover: c.withoutApprover, MinPosition: a.Last()})
			})
			all, err := a.q.PendingApprovals(ctx, c.v, a.Last())
			if err != nil {
				t.Fatal(err)
			}
			var want []queries.PendingApproval
			for _, p := range all {
				if !c.withoutApprover || p.NoActiveApprover {
					want = append(want, p)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the pages hold %d requests, want the %d of the whole list in its order", c.name, len(got), len(want))
			}
			var orgs []string
			for _, p := range got {
				orgs = append(orgs, p.OrganisationID)
			}
			if o := slices.Compact(slices.Sorted(slices.Values(orgs))); !slices.Equal(o, c.orgs) {
				t.Errorf("%s: requests of %v, want %v", c.name, o, c.orgs)
			}
		}
		for _, bad := range []queries.ApprovalsQuery{{Page: -1}, {PageSize: 7}, {Page: 1_000_001}} {
			var verr *domain.ValidationError
			if _, err := a.q.PendingApprovalsPage(ctx, support, bad); !errors.As(err, &verr) {
				t.Errorf("%+v: %v, want a validation error", bad, err)
			}
		}
	})
}

func TestUsersPage_PagesHoldTheUsersOnceWithTheirLocations(t *testing.T) {
	eachAccountsBackend(t, func(t *testing.T, a *accounts) {
		ctx := context.Background()
		a.world()
		ops := a.support("Sam")
		managerA := a.importManager("a1", "Mary Manager")
		managerB := a.importManager("b1", "Bob Boss")
		// 22 users of A (some of B too, some with two locations of A, some
		// with the same name) and Mary: three pages of 10.
		for i := range 22 {
			locations := []string{"a1"}
			if i%3 == 0 {
				locations = []string{"a2", "b1"}
			} else if i%4 == 1 {
				locations = []string{"a1", "a2"}
			}
			name := fmt.Sprintf("Acorn Person %02d", i)
			if i%5 == 2 {
				name = "Acorn Person Twin"
			}
			user, request := a.register(account.Standard, name, locations...)
			a.approve(managerA, user, request, "A")
			if i%3 == 0 {
				a.approve(managerB, user, request, "B")
			}
		}
		a.register(account.Standard, "Waiting Person", "a1") // pending: has no access yet
		a.Sync()
		support := queries.Viewer{UserID: ops.String(), Support: true}
		approverA := queries.Viewer{UserID: managerA.String(), ApproverOf: []string{"A"}, Locations: []string{"a1"}}
		for _, v := range []queries.Viewer{support, approverA} {
			got := pagesOf(t, "users of A", 23, func(page int) (queries.Page[queries.UserSummary], error) {
				return a.q.UsersPage(ctx, v, "A", queries.UsersQuery{Page: page, PageSize: 10, MinPosition: a.Last()})
			})
			want, err := a.q.Users(ctx, v, "A", a.Last())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the pages hold %+v, want the whole list %+v", got, want)
			}
			if !slices.IsSortedFunc(got, func(x, y queries.UserSummary) int {
				if x.FullName != y.FullName {
					return strings.Compare(x.FullName, y.FullName)
				}
				return strings.Compare(x.UserID, y.UserID)
			}) {
				t.Errorf("the pages are not in the order of name, then id: %+v", got)
			}
			for _, u := range got {
				if u.FullName != "Mary Manager" && !slices.Equal(u.Locations, []string{"a1"}) && !slices.Equal(u.Locations, []string{"a2"}) &&
					!slices.Equal(u.Locations, []string{"a1", "a2"}) {
					t.Errorf("%s has locations %v, want theirs of A only", u.FullName, u.Locations)
				}
			}
		}
		approverB := queries.Viewer{UserID: managerB.String(), ApproverOf: []string{"B"}, Locations: []string{"b1"}}
		for _, v := range []queries.Viewer{approverB, {UserID: uuid.NewString()}} {
			if _, err := a.q.UsersPage(ctx, v, "A", queries.UsersQuery{}); !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("users of A for %+v: %v, want ErrForbidden", v, err)
			}
		}
		var verr *domain.ValidationError
		if _, err := a.q.UsersPage(ctx, support, "A", queries.UsersQuery{PageSize: 30}); !errors.As(err, &verr) {
			t.Errorf("a page size of 30: %v, want a validation error", err)
		}
	})
}
