package queries

import (
	"context"
	"fmt"
	"slices"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/projections"
)

// Paging, for every list: Page[T] and its sizes, the page and size checks
// (paging), and the keyset walk of a streaming download (eachKeyset). The
// SQL of a page and of a keyset's batch is the views' (the readers of the
// packages under projections/).

// eachKeyset walks a list in batches of streamBatch rows: read gets the
// sort keys of the previous batch's last row (nil for the first batch)
// and returns the next batch's rows and the sort keys of its last row.
func eachKeyset[T any](ctx context.Context, rm projections.ReadModels,
	read func(db projections.Querier, after []any) ([]T, []any, error), fn func(T) error) error {
	var last []any
	for {
		after := last
		var batch []T
		err := rm.Query(ctx, func(db projections.Querier) error {
			var err error
			batch, last, err = read(db, after)
			return err
		})
		if err != nil {
			return err
		}
		for _, row := range batch {
			if err := fn(row); err != nil {
				return err
			}
		}
		if len(batch) < streamBatch {
			return nil
		}
	}
}

// PageSizes are the page sizes a list offers ("Show 10/25/50/100
// entries"); DefaultPageSize is the first.
func PageSizes() []int { return []int{10, 25, 50, 100} }

// DefaultPageSize is the page size of a list that names none.
const DefaultPageSize = 10

// maxPage bounds a page number, far beyond the last page of any list.
const maxPage = 1_000_000

// streamBatch is the number of rows a streaming variant reads at a time.
const streamBatch = 500

// Page is one page of a list.
type Page[T any] struct {
	Entries  []T `json:"entries"`
	Total    int `json:"total"`
	From     int `json:"from"` // 1-based index of the first entry, 0 when none
	To       int `json:"to"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
	Pages    int `json:"pages"`
	// Showing is the list's footer: "Showing 1 to 10 of 57 entries".
	Showing string `json:"showing"`
}

// newPage builds a page's counts around its entries.
func newPage[T any](entries []T, total, page, size int) Page[T] {
	if entries == nil {
		entries = []T{}
	}
	p := Page[T]{Entries: entries, Total: total, Page: page, PageSize: size, Pages: (total + size - 1) / size}
	if len(entries) > 0 {
		p.From = (page-1)*size + 1
		p.To = p.From + len(entries) - 1
	}
	p.Showing = fmt.Sprintf("Showing %d to %d of %d entries", p.From, p.To, total)
	return p
}

// paging checks a page and page size (0 means the first page, the default
// size).
func paging(v *domain.ValidationError, page, size int) (int, int) {
	if page == 0 {
		page = 1
	}
	if page < 1 || page > maxPage {
		v.Add("page", "out_of_range", fmt.Sprintf("page is from 1 to %d", maxPage))
	}
	if size == 0 {
		size = DefaultPageSize
	}
	if !slices.Contains(PageSizes(), size) {
		v.Add("page_size", "invalid_choice", "Show 10, 25, 50 or 100 entries")
	}
	return page, size
}
