package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/capacitytracker/capacity/queries"
)

// The web port (cmd/capacityd/web) shows the home care list and the
// provider search as pages, with the same query parameters and the same
// "Download XLS" as the API's /api/v1/home-care(.xlsx) and
// /api/v1/providers(.xlsx): these are the API's own parsers and
// downloads, exported for it, so that a page's download holds exactly what
// the API's would for the same address.

// The downloads' sheet names and file name prefixes.
const (
	homeCareSheet, homeCarePrefix   = "Home care", "home-care"
	providersSheet, providersPrefix = "Providers", "providers"
)

// ParseHomeCareQuery reads a home care query from the query parameters
// (q, organisation_id, ownership_type, nhs_region, sort, dir, page,
// page_size, min_position); bad numbers are a *domain.ValidationError.
func ParseHomeCareQuery(r *http.Request) (queries.HomeCareQuery, error) { return homeCareQuery(r) }

// ParseProviderSearch reads a provider search from the query parameters,
// as the API's /api/v1/providers.
func ParseProviderSearch(r *http.Request) (queries.ProviderSearch, error) { return providerSearch(r) }

// WriteHomeCareXLSX answers with the home care download of the entries
// each passes on (queries.Service.EachHomeCare for the viewer and query).
// fail answers an error that comes before anything was sent.
func WriteHomeCareXLSX(logger *slog.Logger, w http.ResponseWriter, r *http.Request,
	each func(fn func(queries.HomeCareEntry) error) error, fail func(error)) {
	sendXLSX(logger, w, r, homeCareSheet, homeCarePrefix, homeCareColumns, each, fail)
}

// WriteProvidersXLSX answers with the provider search's download of the
// rows each passes on (queries.Service.EachProvider), as WriteHomeCareXLSX.
func WriteProvidersXLSX(logger *slog.Logger, w http.ResponseWriter, r *http.Request,
	each func(fn func(queries.ProviderRow) error) error, fail func(error)) {
	sendXLSX(logger, w, r, providersSheet, providersPrefix, providerColumns, each, fail)
}
