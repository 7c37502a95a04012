package web

import (
	"net/http"
	"net/url"
	"strconv"
)

// Paging of the long lists (the pending requests, an organisation's
// users): a page number in the address (?page=N, plain links that work
// without JavaScript), the NHS design system's numbered pagination
// (templates/partials/pagination.html) and "Showing X to Y of N".

// maxPageNumber bounds the page number a person may ask for, as
// queries' paging does.
const maxPageNumber = 1_000_000

// pageNumber reads the page number of a list: the address's page on a GET,
// the form's on a POST (the page the person acted on). None is the first;
// anything else than a number from 1 to maxPageNumber is not (false),
// which the page answers with 400.
func pageNumber(r *http.Request) (int, bool) {
	s := r.URL.Query().Get("page")
	if r.Method == http.MethodPost {
		s = r.PostForm.Get("page")
	}
	if s == "" {
		return 1, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageNumber {
		return 0, false
	}
	return n, true
}

// lastPage is the page to show when the one asked for is beyond the end
// (the last request of the last page was just decided): the last, or the
// first of an empty list.
func lastPage(pages int) int { return max(pages, 1) }

// pagination is the pagination component's content: nil for a list of
// one page.
type pagination struct {
	Previous, Next string // "" on the first and last page
	Items          []pageItem
}

// pageItem is one numbered link, or an ellipsis between them.
type pageItem struct {
	Number   int
	Href     string
	Current  bool
	Ellipsis bool
}

// paginationOf builds the links of page of pages for the list at path:
// the first and last page, the current one and its neighbours, and an
// ellipsis for each gap of more than one page (a gap of one is its
// number), as the design system's numbered example.
func paginationOf(path string, page, pages int) *pagination {
	return paginationWith(path, nil, page, pages)
}

// paginationWith is paginationOf for a list whose address also holds its
// filters: each link keeps params (without their page).
func paginationWith(path string, params url.Values, page, pages int) *pagination {
	if pages <= 1 {
		return nil
	}
	href := func(n int) string {
		q := url.Values{}
		for k, v := range params {
			if k != "page" {
				q[k] = v
			}
		}
		if n > 1 {
			q.Set("page", strconv.Itoa(n))
		}
		if len(q) == 0 {
			return path
		}
		return path + "?" + q.Encode()
	}
	p := &pagination{}
	if page > 1 {
		p.Previous = href(page - 1)
	}
	if page < pages {
		p.Next = href(page + 1)
	}
	for n := 1; n <= pages; n++ {
		switch {
		case n == 1 || n == pages || (n >= page-1 && n <= page+1) || (n == 2 && page == 4) || (n == pages-1 && page == pages-3):
			p.Items = append(p.Items, pageItem{Number: n, Href: href(n), Current: n == page})
		case n == page-2 || n == page+2:
			p.Items = append(p.Items, pageItem{Ellipsis: true})
		}
	}
	return p
}

// backToList is the address a list's page redirects to after a command:
// what was done, the log position to wait for (read-your-writes), and the
// page the person was on.
func backToList(path, done string, position int64, page int) string {
	return path + "?done=" + url.QueryEscape(done) + "&position=" + strconv.FormatInt(position, 10) + "&page=" + strconv.Itoa(page)
}
