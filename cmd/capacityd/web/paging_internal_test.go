package web

import (
	"fmt"
	"strings"
	"testing"
)

func TestPaginationOf_FirstLastCurrentAndNeighboursWithEllipses(t *testing.T) {
	// Each item: its number, * for the current page, … for an ellipsis.
	for _, c := range []struct {
		page, pages    int
		want           string
		previous, next string
	}{
		{1, 1, "", "", ""},
		{1, 2, "1* 2", "", "/l?page=2"},
		{2, 2, "1 2*", "/l", ""},
		{1, 7, "1* 2 … 7", "", "/l?page=2"},
		{3, 7, "1 2 3* 4 … 7", "/l?page=2", "/l?page=4"},
		{4, 7, "1 2 3 4* 5 6 7", "/l?page=3", "/l?page=5"},
		{5, 9, "1 … 4 5* 6 … 9", "/l?page=4", "/l?page=6"},
		{9, 9, "1 … 8 9*", "/l?page=8", ""},
	} {
		p := paginationOf("/l", c.page, c.pages)
		if p == nil {
			if c.want != "" {
				t.Errorf("page %d of %d: no pagination, want %q", c.page, c.pages, c.want)
			}
			continue
		}
		var got []string
		for _, it := range p.Items {
			switch {
			case it.Ellipsis:
				got = append(got, "…")
			case it.Current:
				got = append(got, fmt.Sprintf("%d*", it.Number))
			default:
				got = append(got, fmt.Sprint(it.Number))
			}
			if !it.Ellipsis && it.Href != pagePath("/l", it.Number) {
				t.Errorf("page %d of %d: item %d links to %q", c.page, c.pages, it.Number, it.Href)
			}
		}
		if g := strings.Join(got, " "); g != c.want || p.Previous != c.previous || p.Next != c.next {
			t.Errorf("page %d of %d: %q previous %q next %q, want %q, %q, %q", c.page, c.pages, g, p.Previous, p.Next, c.want, c.previous, c.next)
		}
	}
}
