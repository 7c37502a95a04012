// Package web is the web port of capacityd: the server-rendered HTML pages
// people use in a browser, in the NHS design system (nhsuk-frontend,
// embedded). It sits beside httpapi and, like it, calls commands and
// queries: a page handler parses its form, calls one command or query, and
// redirects (POST-redirect-GET) or renders the form again with the errors.
//
// It must not hold business rules (the messages of a form's errors come
// from domain/ through the commands), open databases, or depend on
// JavaScript: every journey works with plain forms.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/queries"
)

// DefaultMaxBodyBytes bounds a form's body when Options.MaxBodyBytes is 0:
// the account forms are a few fields.
const DefaultMaxBodyBytes = 64 << 10

// Options are the dependencies of the web port.
type Options struct {
	Logger   *slog.Logger
	Commands *commands.Service
	Queries  *queries.Service
	// SecureCookies marks cookies Secure and sends Strict-Transport-Security
	// even when the request did not arrive over TLS (behind a
	// TLS-terminating proxy).
	SecureCookies bool
	// MaxBodyBytes bounds request bodies (the 413 page beyond it).
	MaxBodyBytes int64
	// Limiter counts the forms that Limits limit, with the API's policies
	// and keys (ratelimit.go); nil limits nothing.
	Limiter *ratelimit.Limiter
	Limits  ratelimit.Limits
	// AfterAnswer runs the work of answers that must not wait for it (the
	// forgotten-password form): the API server's, so that its Drain at
	// shutdown waits for the pages' work too. Required.
	AfterAnswer *httpapi.AfterAnswer
}

// Handler serves the web pages.
type Handler struct {
	logger        *slog.Logger
	commands      *commands.Service
	queries       *queries.Service
	secureCookies bool
	maxBody       int64
	limiter       *ratelimit.Limiter
	limits        ratelimit.Limits
	afterAnswer   *httpapi.AfterAnswer

	assets  *assets
	pages   *pages
	mux     *http.ServeMux
	handler http.Handler
	gzip    *gzipPool
	// markedUp keeps the marked-up copies of rejected bulk uploads.
	markedUp *markedUpFiles
}

// New builds the web port.
func New(opts Options) (*Handler, error) {
	if opts.Logger == nil || opts.Commands == nil || opts.Queries == nil || opts.AfterAnswer == nil {
		return nil, errors.New("web: Logger, Commands, Queries and AfterAnswer are required")
	}
	h := &Handler{
		logger:        opts.Logger,
		commands:      opts.Commands,
		queries:       opts.Queries,
		secureCookies: opts.SecureCookies,
		maxBody:       opts.MaxBodyBytes,
		limiter:       opts.Limiter,
		limits:        opts.Limits,
		afterAnswer:   opts.AfterAnswer,
		mux:           http.NewServeMux(),
		gzip:          newGzipPool(),
		markedUp:      newMarkedUpFiles(opts.Commands.Now),
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	h.assets = a
	p, err := loadPages(a)
	if err != nil {
		return nil, err
	}
	h.pages = p
	h.routes()

	// Cross-site form posts are refused before any handler runs (Go's
	// Sec-Fetch-Site / Origin check); signed-in forms also carry the
	// session's token (session.go).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusForbidden)
	}))
	// Outermost first: headers on every answer, then the body limit, the
	// compression, the cross-origin check, the refusal of NUL characters
	// (nul.go) and the routes. None of them replaces the request, so the
	// ServeMux's pattern reaches the metrics of httpapi (which label
	// requests by it).
	h.handler = h.securityHeaders(h.limitBody(h.compress(cop.Handler(h.recoverPanics(h.rejectNUL(h.mux))))))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// routes is every page, in one place.
func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.signedIn(h.showHome))
	m.HandleFunc("GET /sign-in", h.showSignIn)
	m.HandleFunc("POST /sign-in", h.submitSignIn)
	m.HandleFunc("POST /sign-out", h.submitSignOut)
	m.HandleFunc("GET /forgotten-password", h.showForgottenPassword)
	m.HandleFunc("POST /forgotten-password", h.submitForgottenPassword)
	m.HandleFunc("GET /forgotten-password/sent", h.showForgottenPasswordSent)
	m.HandleFunc("GET /set-password", h.showSetPassword)
	m.HandleFunc("POST /set-password", h.submitSetPassword)
	m.HandleFunc("GET /change-password", h.signedInUngated(h.showChangePassword))
	m.HandleFunc("POST /change-password", h.signedInUngated(h.submitChangePassword))
	m.HandleFunc("GET /disclaimer", h.signedInUngated(h.showDisclaimer))
	m.HandleFunc("POST /disclaimer", h.signedInUngated(h.submitDisclaimer))
	m.HandleFunc("GET /help", h.showHelp)
	m.HandleFunc("GET /register", h.showRegister)
	m.HandleFunc("POST /register", h.submitRegister)
	m.HandleFunc("GET /register/finished", h.showRegisterFinished)
	m.HandleFunc("GET /my-details", h.signedIn(h.showMyDetails))
	m.HandleFunc("POST /my-details/communications", h.signedIn(h.submitCommunications))
	m.HandleFunc("POST /my-details/api-tokens", h.signedIn(h.submitCreateToken))
	m.HandleFunc("POST /my-details/api-tokens/revoke", h.signedIn(h.submitRevokeToken))
	m.HandleFunc("GET /my-access", h.signedIn(h.showMyAccess))
	m.HandleFunc("POST /my-access", h.signedIn(h.submitMyAccess))
	m.HandleFunc("GET /support", h.signedIn(h.showSupport))
	m.HandleFunc("POST /support/generic-accounts", h.signedIn(h.submitGenericAccount))
	m.HandleFunc("POST /support/auditors", h.signedIn(h.submitAuditorRole))
	m.HandleFunc("GET /approvals", h.signedIn(h.showApprovals))
	m.HandleFunc("POST /approvals", h.signedIn(h.submitApproval))
	m.HandleFunc("GET /organisations/users", h.signedIn(h.findOrganisationUsers))
	m.HandleFunc("GET /organisations/{org}/users", h.signedIn(h.showUsers))
	m.HandleFunc("POST /organisations/{org}/users/{user}/user-type", h.signedIn(h.submitUserType))
	m.HandleFunc("POST /organisations/{org}/users/{user}/reactivate", h.signedIn(h.submitReactivate))
	m.HandleFunc("GET /organisations/{org}/users/{user}/deactivate", h.signedIn(h.showDeactivate))
	m.HandleFunc("POST /organisations/{org}/users/{user}/deactivate", h.signedIn(h.submitDeactivate))

	// Edit Provider and Care Quality (a location's details).
	m.HandleFunc("GET /locations/{id}/edit", h.signedIn(h.showEditProvider))
	m.HandleFunc("POST /locations/{id}/edit/address", h.signedIn(h.submitEditAddress))
	m.HandleFunc("POST /locations/{id}/edit/contacts", h.signedIn(h.submitAddContact))
	m.HandleFunc("GET /locations/{id}/edit/contacts/{contact}", h.signedIn(h.showEditContact))
	m.HandleFunc("POST /locations/{id}/edit/contacts/{contact}", h.signedIn(h.submitEditContact))
	m.HandleFunc("GET /locations/{id}/edit/contacts/{contact}/remove", h.signedIn(h.showRemoveContact))
	m.HandleFunc("POST /locations/{id}/edit/contacts/{contact}/remove", h.signedIn(h.submitRemoveContact))
	m.HandleFunc("POST /locations/{id}/edit/gp-practices", h.signedIn(h.submitLinkGPPractice))
	m.HandleFunc("POST /locations/{id}/edit/gp-practices/{code}/unlink", h.signedIn(h.submitUnlinkGPPractice))
	m.HandleFunc("POST /locations/{id}/edit/classification", h.signedIn(h.submitEditClassification))
	m.HandleFunc("POST /locations/{id}/edit/notes", h.signedIn(h.submitAddNote))
	m.HandleFunc("GET /locations/{id}/edit/notes/{note}", h.signedIn(h.showEditNote))
	m.HandleFunc("POST /locations/{id}/edit/notes/{note}", h.signedIn(h.submitEditNote))
	m.HandleFunc("POST /locations/{id}/edit/notes/{note}/delete", h.signedIn(h.submitDeleteNote))
	m.HandleFunc("GET /locations/{id}/care-quality", h.signedIn(h.showCareQuality))
	m.HandleFunc("POST /locations/{id}/care-quality/pamms", h.signedIn(h.submitPAMMS))

	// The location's dashboard and COVID-19 Update (Daily).
	m.HandleFunc("GET /locations/{id}", h.signedIn(h.showLocation))
	m.HandleFunc("GET /locations/{id}/daily-update", h.signedIn(h.showDailyUpdate))
	m.HandleFunc("POST /locations/{id}/daily-update", h.signedIn(h.submitDailyUpdate))

	// Home Care Providers and Find Providers (homecare.go, findproviders.go).
	m.HandleFunc("GET /home-care", h.signedIn(h.showHomeCare))
	m.HandleFunc("GET /home-care.xlsx", h.signedIn(h.downloadHomeCare))
	m.HandleFunc("GET /find-providers", h.maybeSignedIn(h.showFindProviders))
	m.HandleFunc("GET /find-providers.xlsx", h.maybeSignedIn(h.downloadProviders))

	// Surveys, and Business Continuity & Vacancy Update (bulk).
	m.HandleFunc("GET /locations/{id}/surveys", h.signedIn(h.showSurveys))
	m.HandleFunc("GET /locations/{id}/surveys/{survey}", h.signedIn(h.showSurvey))
	m.HandleFunc("POST /locations/{id}/surveys/{survey}", h.signedIn(h.submitSurvey))
	m.HandleFunc("GET /bulk-update", h.signedIn(h.showBulkUpdate))
	m.HandleFunc("POST /bulk-update", h.signedInUpload(h.submitBulkUpdate))
	m.HandleFunc("GET /bulk-update/template", h.signedIn(h.showBulkTemplate))
	m.HandleFunc("GET /bulk-update/marked-up/{file}", h.signedIn(h.showMarkedUp))

	m.HandleFunc("GET /assets/{hash}/{path...}", h.serveAsset)
	// The design system's compiled CSS names its icons at /assets/images/.
	m.HandleFunc("GET /assets/images/{name}", h.serveCSSImage)
	m.HandleFunc("GET /favicon.ico", h.serveFavicon)
	m.HandleFunc("/", h.notFoundOrMethod)
}

// notFoundOrMethod answers what no route took: 405 with Allow when the
// path exists for another method, otherwise 404, both as pages.
func (h *Handler) notFoundOrMethod(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.errorPage(w, r, http.StatusMethodNotAllowed)
		return
	}
	h.errorPage(w, r, http.StatusNotFound)
}
