package queries

import (
	"context"
	"fmt"
	"strings"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/directory"
)

// LocationSummary is a location of the directory.
type LocationSummary = directory.Location

// LocationSearch is My Access's search: exactly one of Postcode,
// LocalAuthority and CCG.
type LocationSearch struct {
	Postcode       string
	LocalAuthority string // any case
	CCG            string // any case
	Limit          int    // 0: DefaultSearchLimit; at most MaxSearchLimit
}

// Limits of a location search.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 200
)

// LocationsByPostcode returns the locations at a postcode, written in any
// case and spacing. It is public: the registration form uses it.
func (q Service) LocationsByPostcode(ctx context.Context, postcode string) ([]LocationSummary, error) {
	if location.CompactPostcode(postcode) == "" {
		return nil, domain.Invalid("postcode", "required", "Enter a postcode")
	}
	return q.SearchLocations(ctx, LocationSearch{Postcode: postcode, Limit: MaxSearchLimit})
}

// SearchLocations is My Access's search, by postcode (any case and
// spacing) or by the exact name, in any case, of a local authority or CCG.
// Exactly one criterion is required.
func (q Service) SearchLocations(ctx context.Context, s LocationSearch) ([]LocationSummary, error) {
	var (
		by    directory.SearchBy
		value string
	)
	n := 0
	if location.CompactPostcode(s.Postcode) != "" {
		by, value = directory.ByPostcode, s.Postcode
		n++
	}
	if la := strings.TrimSpace(s.LocalAuthority); la != "" {
		by, value = directory.ByLocalAuthority, la
		n++
	}
	if ccg := strings.TrimSpace(s.CCG); ccg != "" {
		by, value = directory.ByCCG, ccg
		n++
	}
	if n != 1 {
		return nil, domain.Invalid("search", "one_criterion", "Search by one of postcode, local authority or CCG")
	}
	limit := s.Limit
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	var out []LocationSummary
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		out, err = directory.SearchLocations(ctx, db, by, value, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search locations: %w", err)
	}
	return out, nil
}

// Location returns one location of the directory, and whether it exists.
func (q Service) Location(ctx context.Context, id string) (LocationSummary, bool, error) {
	var (
		l     LocationSummary
		found bool
	)
	err := q.ReadModels.Query(ctx, func(db projections.Querier) error {
		var err error
		l, found, err = directory.LocationByID(ctx, db, id)
		return err
	})
	if err != nil {
		return LocationSummary{}, false, fmt.Errorf("location %s: %w", id, err)
	}
	return l, found, nil
}
