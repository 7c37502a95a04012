// Package httpapi is the HTTP port of capacityd: gorilla/mux routes, the
// middleware every request passes through (metrics, access log, body limit),
// and JSON encoding of answers and errors.
//
// Handlers translate HTTP to calls of the application layer and back; they
// must not hold business rules, open databases or read the event log for
// queries.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/queries"
)

// DefaultMaxBodyBytes bounds request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// Check is one readiness condition. Check returns nil when the condition
// holds; its error text is shown in the /readyz answer.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options are the dependencies of a Server.
type Options struct {
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics, with
	// whatever else was registered in it.
	Registry *prometheus.Registry
	// Ready are the conditions of /readyz, checked in order.
	Ready []Check
	// MaxBodyBytes bounds every request body (413 beyond it). 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ReadyTimeout bounds all readiness checks together. 0 means 5s.
	ReadyTimeout time.Duration
	// Commands and Queries serve /api/v1; without them the server
	// has only its operational endpoints.
	Commands *commands.Service
	Queries  *queries.Service
	// SecureCookies marks cookies Secure even when the request did not
	// arrive over TLS (behind a TLS-terminating proxy).
	SecureCookies bool
	// Limiter counts the requests that Limits limit (ratelimit.go); nil
	// limits nothing.
	Limiter *ratelimit.Limiter
	Limits  ratelimit.Limits
	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (clientaddr.go).
	TrustedProxies []netip.Prefix
	// AfterAnswer runs the work of answers that must not wait for it
	// (afteranswer.go); give the web port the same one, so that Drain
	// waits for both. nil: the server makes its own.
	AfterAnswer *AfterAnswer
	// Web serves every path outside /api/ and the operational endpoints
	// (the web pages, cmd/capacityd/web), with its own body limit and error
	// pages; nil leaves them to the API's JSON 404.
	Web http.Handler
}

// Server is the HTTP handler of capacityd.
type Server struct {
	logger       *slog.Logger
	registry     *prometheus.Registry
	ready        []Check
	readyTimeout time.Duration
	maxBody      int64
	metrics      *httpMetrics
	router       *mux.Router
	handler      http.Handler

	commands      *commands.Service
	queries       *queries.Service
	secureCookies bool

	limiter        *ratelimit.Limiter
	limits         ratelimit.Limits
	trustedProxies []netip.Prefix
	afterAnswer    *AfterAnswer
}

// New builds the server and registers its metrics.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		return nil, errors.New("httpapi: Logger is required")
	}
	if opts.Registry == nil {
		return nil, errors.New("httpapi: Registry is required")
	}
	s := &Server{
		logger:       opts.Logger,
		registry:     opts.Registry,
		ready:        opts.Ready,
		readyTimeout: opts.ReadyTimeout,
		maxBody:      opts.MaxBodyBytes,
		router:       mux.NewRouter(),

		commands:      opts.Commands,
		queries:       opts.Queries,
		secureCookies: opts.SecureCookies,

		limiter:        opts.Limiter,
		limits:         opts.Limits,
		trustedProxies: opts.TrustedProxies,
		afterAnswer:    opts.AfterAnswer,
	}
	if s.afterAnswer == nil {
		s.afterAnswer = NewAfterAnswer(opts.Logger)
	}
	if (s.commands == nil) != (s.queries == nil) {
		return nil, errors.New("httpapi: Commands and Queries go together")
	}
	if s.readyTimeout <= 0 {
		s.readyTimeout = 5 * time.Second
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	m, err := newHTTPMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.routes()
	// The body limit sits outside the router so that an oversized body is
	// refused before any routing or handler work; the security headers
	// outside both, so that every answer of the API carries them
	// (headers.go). The pages set their own.
	s.handler = SecurityHeaders{ContentSecurityPolicy: APIContentSecurityPolicy, AssumeTLS: opts.SecureCookies}.
		Wrap(s.limitBody(s.router))
	if opts.Web != nil {
		api, web := s.handler, s.observe(opts.Web)
		s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if apiPath(r.URL.Path) {
				api.ServeHTTP(w, r)
				return
			}
			web.ServeHTTP(w, r)
		})
	}
	// Both the API and the pages see the client's address as the trusted
	// proxies say it (clientaddr.go).
	s.handler = s.withClientAddress(s.handler)
	return s, nil
}

// Drain waits until the work that requests left running after their
// answers (afteranswer.go) is done, or ctx ends. Call it after
// http.Server.Shutdown, before the database closes.
func (s *Server) Drain(ctx context.Context) error { return s.afterAnswer.Drain(ctx) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// routes is the whole HTTP surface, in one place. Later /api/v1 handlers go
// on a subrouter: api := s.router.PathPrefix("/api/v1").Subrouter().
func (s *Server) routes() {
	r := s.router
	// Middleware of matched routes; mux runs it after routing, so the route
	// template is known.
	r.Use(s.observe)
	// Before any handler can pass a NUL character to SQL (nul.go).
	r.Use(s.rejectNUL)

	r.HandleFunc("/healthz", s.handleHealthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.handleReadyz).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})).Methods(http.MethodGet)

	if s.commands != nil {
		s.accountRoutes(r.PathPrefix("/api/v1").Subrouter())
	}

	// mux does not run middleware for unmatched requests: wrap these
	// handlers explicitly so that they are measured and logged too.
	r.NotFoundHandler = s.observe(http.HandlerFunc(s.handleNotFound))
	r.MethodNotAllowedHandler = s.observe(http.HandlerFunc(s.handleMethodNotAllowed))
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyAnswer is the body of /readyz.
type readyAnswer struct {
	Status string            `json:"status"` // "ready" or "unavailable"
	Checks map[string]string `json:"checks"` // name -> "ok" or the failure
	Failed []string          `json:"failed,omitempty"`
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()
	ans := readyAnswer{Status: "ready", Checks: make(map[string]string, len(s.ready))}
	for _, c := range s.ready {
		if err := c.Check(ctx); err != nil {
			ans.Checks[c.Name] = err.Error()
			ans.Failed = append(ans.Failed, c.Name)
			continue
		}
		ans.Checks[c.Name] = "ok"
	}
	if len(ans.Failed) > 0 {
		ans.Status = "unavailable"
		s.logger.Warn("not ready", "failed", ans.Failed)
		writeJSON(w, http.StatusServiceUnavailable, ans)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	// mux answers "not found" for a known path asked with the wrong
	// method when the route sits on a subrouter among routes of similar
	// paths: ask the router which methods the path takes.
	if allowed := s.allowedMethods(r); len(allowed) > 0 {
		s.methodNotAllowed(w, r, allowed)
		return
	}
	writeError(w, http.StatusNotFound, "not_found", "no resource at "+r.URL.Path)
}

func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.methodNotAllowed(w, r, s.allowedMethods(r))
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed []string) {
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed on "+r.URL.Path)
}

// routeMethods are the methods the API's routes use.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods lists the methods other than r's that a route takes at
// r's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, m := range routeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if s.router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
