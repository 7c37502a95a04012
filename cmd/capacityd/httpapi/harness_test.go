package httpapi_test

// The harness of the black-box API tests: a real server (commands, the
// projection engine, queries and the HTTP layer) over a real store of either
// backend, driven over HTTP by clients that behave like a browser (cookie
// jar, CSRF header) or a machine (Bearer token). Time is a fake clock that
// tests advance; waits are bounded (engine.WaitFor, ?min_position=), never
// sleeps.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
	"github.com/capacitytracker/capacity/queries"
)

// maxBody is the servers' body limit in these tests.
const maxBody = 64 << 10

// eachBackend runs fn on a fresh world of every backend, in parallel.
func eachBackend(t *testing.T, fn func(t *testing.T, w *world)) {
	t.Helper()
	t.Parallel()
	for _, b := range projtest.Backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newWorld(t, b))
		})
	}
}

// newClock is the commands' clock: tests move it forward to expire
// sessions, links, locks and passwords. The store's own recorded-at
// times stay real.
func newClock() *projtest.Clock {
	return projtest.NewClock(time.Now().UTC().Truncate(time.Second))
}

// --- the server -------------------------------------------------------------

// api is one running server over one store.
type api struct {
	t        *testing.T
	store    commands.Store
	engine   *projections.Engine
	accounts *commands.Service
	clock    *projtest.Clock
	url      string
	server   *httpapi.Server
	secrets  *secretSet
	// mail sends the outbox's emails to an in-process SMTP server.
	mail *mailbox
}

// openStore opens a fresh store of the backend with its projection backend.
func openStore(t *testing.T, backend string) (commands.Store, projections.Backend) {
	return projtest.Open(t, backend)
}

// testConfig is the product's account rules with cheap password hashing
// (password.FastParams): the API tests hash dozens of passwords, and the
// cost parameters are not what they test. Every other rule is the
// product's.
func testConfig() commands.Config {
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	return cfg
}

// newAPI starts a server over a fresh store of the backend.
func newAPI(t *testing.T, backend string) *api {
	t.Helper()
	ctx := context.Background()
	store, pb := openStore(t, backend)
	logs := &projtest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (warnings and errors):\n%s", logs.String())
		}
	})

	a := &api{t: t, store: store, clock: newClock(), secrets: &secretSet{}}
	// Whatever a test did, no secret it handled may be in the log. (This
	// runs after the server and the engine have stopped, before the store
	// closes.)
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, leak := range a.leaks() {
			t.Error(leak)
		}
	})
	accounts, err := commands.New(ctx, store, testConfig(), a.clock.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	a.accounts = accounts
	// Default includes the mail outbox, which the mailbox sends.
	engine, err := projections.NewEngine(pb, logger, views.Default()...)
	if err != nil {
		t.Fatal(err)
	}
	a.engine = engine
	projtest.RunEngine(t, engine)
	a.mail = startMailbox(t, a, pb, logger)

	srv, err := httpapi.New(httpapi.Options{
		Logger:       logger,
		Registry:     prometheus.NewRegistry(),
		MaxBodyBytes: maxBody,
		Commands:     accounts,
		Queries: &queries.Service{
			ReadModels: projections.NewReadModels(pb),
			Waiter:     engine,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the server stops, then its work after
	// answers ends, then the engine and the store.
	t.Cleanup(func() { settleBackground(t, srv) })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	a.url, a.server = hs.URL, srv
	return a
}

// run runs a subtest of a world's test. Until it returns, the harness and
// the clients report to the subtest's t, so that a failed request fails
// the subtest it belongs to. The subtests of a world run one after another.
func (a *api) run(t *testing.T, name string, fn func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		parent := a.t
		a.t = t
		defer func() { a.t = parent }()
		fn(t)
	})
}

// sync waits, bounded, until every projection has applied the log up to
// pos. A busy shared PostgreSQL server can hold the gap-safe head back for
// longer than one WaitFor (2 s): only ErrNotCaughtUp is worth asking again.
func (a *api) sync(pos int64) {
	a.t.Helper()
	// A liveness bound, not a speed check: under -race on two busy cores the
	// eight SQLite projections took over 30 s to fold 600 imports once.
	projtest.WaitFor(a.t, a.engine, pos, 2*time.Minute)
}

// logState counts the events of the log and finds the highest position,
// committed or not yet gap-safe. (HeadPosition is gap-safe: on a
// PostgreSQL server shared with other tests it can lag behind this
// test's own writes.)
func (a *api) logState() (count, last int64) {
	a.t.Helper()
	err := a.store.InTx(context.Background(), func(tx eventstore.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT count(*), coalesce(max(position), 0) FROM events`)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return errors.New("no row")
		}
		return rows.Scan(&count, &last)
	})
	if err != nil {
		a.t.Fatalf("count events: %v", err)
	}
	return count, last
}

// last is the position of the last event appended so far.
func (a *api) last() int64 {
	a.t.Helper()
	_, last := a.logState()
	return last
}

// eventCount is the number of events in the log.
func (a *api) eventCount() int64 {
	a.t.Helper()
	n, _ := a.logState()
	return n
}

// stream reads a stream's events (none for a stream that does not exist).
func (a *api) stream(id string) []eventstore.Event {
	a.t.Helper()
	evs, err := a.store.ReadStream(context.Background(), id, eventstore.ReadStreamOptions{})
	if err != nil {
		a.t.Fatalf("read %s: %v", id, err)
	}
	return evs
}

// version is a stream's version, 0 when it does not exist.
func (a *api) version(id string) int64 { return int64(len(a.stream(id))) }

// allEvents reads every event of every stream.
func (a *api) allEvents() []eventstore.Event {
	a.t.Helper()
	var out []eventstore.Event
	after := ""
	for {
		streams, err := a.store.ListStreams(context.Background(), eventstore.ListStreamsOptions{After: after, Limit: 500})
		if err != nil {
			a.t.Fatal(err)
		}
		if len(streams) == 0 {
			return out
		}
		for _, s := range streams {
			out = append(out, a.stream(s.StreamID)...)
		}
		after = streams[len(streams)-1].StreamID
	}
}

// userIDByEmail is the holder of an address, from its email stream (the
// import commands do not return the user id they create).
func (a *api) userIDByEmail(email string) uuid.UUID {
	a.t.Helper()
	var id uuid.UUID
	for _, ev := range a.stream(account.EmailStream(account.MustEmail(email))) {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			a.t.Fatal(err)
		}
		switch e := d.(type) {
		case account.EmailClaimed:
			id = e.UserID
		case account.EmailReleased:
			id = uuid.Nil
		}
	}
	if id == uuid.Nil {
		a.t.Fatalf("no user holds %s", email)
	}
	return id
}

// linkToken is the token of the user's latest password link, computed as
// the mail outbox computes it for the email: from the PasswordLinkIssued
// event's link id and the server's link key. The tests that follow the
// whole flow take the link from the email instead (mailbox.link).
func (a *api) linkToken(userID uuid.UUID) string {
	a.t.Helper()
	var linkID uuid.UUID
	for _, ev := range a.stream(account.UserStream(userID)) {
		if ev.Type != "PasswordLinkIssued" {
			continue
		}
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			a.t.Fatal(err)
		}
		linkID = d.(account.PasswordLinkIssued).LinkID
	}
	if linkID == uuid.Nil {
		a.t.Fatalf("user %s has no password link", userID)
	}
	tok := account.LinkToken(a.accounts.LinkKey(), userID, linkID)
	a.secrets.add("link token", tok)
	return tok
}

// --- secrets ------------------------------------------------------------------

// secretSet is every secret the harness handled: passwords, session and
// API tokens, link tokens. None may ever be found in an event.
type secretSet struct {
	mu sync.Mutex
	m  map[string]string // secret -> what it is
}

func (s *secretSet) add(what, secret string) {
	// Strings too short or common for the policy to let anyone use as a
	// password (a test's refused candidates) cannot be told apart from
	// ordinary text in events.
	if len(secret) < 10 || password.IsCommon(secret) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	if _, known := s.m[secret]; !known {
		s.m[secret] = what // the first name it was handled under
	}
}

func (s *secretSet) all() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// --- clients -----------------------------------------------------------------

// client is one browser (or machine): its own cookie jar and connection
// pool, the CSRF token of its last login, optionally a Bearer token, a
// User-Agent and a source address.
type client struct {
	api       *api
	hc        *http.Client
	userAgent string
	csrf      string
	bearer    string
	// sessionID and userID are those of the last successful login.
	sessionID string
	userID    string
}

// newClient is a client connecting from 127.0.0.1 with a default agent.
func (a *api) newClient() *client { return a.newClientFrom("127.0.0.1", "api-test/1.0") }

// newClientFrom is a client connecting from the given loopback address
// (any of 127.0.0.0/8 reaches the test server on Linux) with a User-Agent.
func (a *api) newClientFrom(ip, userAgent string) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	a.t.Cleanup(tr.CloseIdleConnections)
	return &client{
		api:       a,
		hc:        &http.Client{Jar: jar, Transport: tr, Timeout: 60 * time.Second},
		userAgent: userAgent,
	}
}

// response is an answer, read in full.
type response struct {
	t      *testing.T
	req    string // "METHOD path", for messages
	status int
	header http.Header
	body   []byte
}

// want fails the test unless the answer has the status.
func (r response) want(status int) response {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s = %d %s, want %d", r.req, r.status, r.body, status)
	}
	return r
}

// decode reads the JSON body into v.
func (r response) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("%s: body %q: %v", r.req, r.body, err)
	}
}

// object is the body as a JSON object.
func (r response) object() map[string]any {
	r.t.Helper()
	var m map[string]any
	r.decode(&m)
	return m
}

// position is the "position" of a write's answer.
func (r response) position() int64 {
	r.t.Helper()
	var p struct {
		Position int64 `json:"position"`
	}
	r.decode(&p)
	return p.Position
}

// wantError fails the test unless the answer is an error with the status
// and code; it returns the error.
func (r response) wantError(status int, code string) httpapi.ErrorDetail {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s = %d %s, want %d %s", r.req, r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.t.Fatalf("%s: Content-Type %q, want JSON", r.req, ct)
	}
	var eb httpapi.ErrorBody
	r.decode(&eb)
	if eb.Error.Code != code || eb.Error.Status != status || eb.Error.Message == "" {
		r.t.Fatalf("%s = %s, want code %s", r.req, r.body, code)
	}
	return eb.Error
}

// rawBody is a request body sent as is.
type rawBody struct {
	data        io.Reader
	contentType string // "" sends no Content-Type
}

// do sends a request. body is nil (none), a rawBody, or a value sent as
// JSON. extra are header name/value pairs.
func (c *client) do(method, path string, body any, extra ...string) response {
	c.api.t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, contentType = b.data, b.contentType
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.api.t.Fatal(err)
		}
		rd, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, c.api.url+path, rd)
	if err != nil {
		c.api.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.csrf != "" {
		req.Header.Set(httpapi.CSRFHeader, c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			req.Header.Del(extra[i])
		} else {
			req.Header.Set(extra[i], extra[i+1])
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.api.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.api.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	// What a request does after its answer (a forgotten-password
	// request's lookup and link) is done before the test goes on.
	settleBackground(c.api.t, c.api.server)
	return response{t: c.api.t, req: method + " " + path, status: resp.StatusCode, header: resp.Header, body: data}
}

func (c *client) get(path string) response { c.api.t.Helper(); return c.do(http.MethodGet, path, nil) }
func (c *client) post(path string, body any) response {
	c.api.t.Helper()
	return c.do(http.MethodPost, path, body)
}
func (c *client) put(path string, body any) response {
	c.api.t.Helper()
	return c.do(http.MethodPut, path, body)
}
func (c *client) delete(path string) response {
	c.api.t.Helper()
	return c.do(http.MethodDelete, path, nil)
}

// getAt is a read-your-writes GET: it sends ?min_position=pos and asks
// again, for a bounded time, while the answer is 503 not_caught_up (each
// answer has waited up to 2 s already).
func (c *client) getAt(path string, pos int64) response {
	c.api.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	full := fmt.Sprintf("%s%smin_position=%d", path, sep, pos)
	// A liveness bound, not a speed check: under -race on two busy cores the
	// eight SQLite projections took over 30 s to fold 600 imports once.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := c.get(full)
		if r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return r
		}
	}
}

// cookie is the value of a cookie the client holds for the server.
func (c *client) cookie(name string) string {
	u, err := url.Parse(c.api.url)
	if err != nil {
		c.api.t.Fatal(err)
	}
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// loginBody is the answer to a successful login.
type loginBody struct {
	SessionID              string    `json:"session_id"`
	UserID                 string    `json:"user_id"`
	ExpiresAt              time.Time `json:"expires_at"`
	IdleTimeoutSeconds     int64     `json:"idle_timeout_seconds"`
	CSRFToken              string    `json:"csrf_token"`
	DisclaimerRequired     bool      `json:"disclaimer_required"`
	Disclaimer             string    `json:"disclaimer"`
	PasswordChangeRequired bool      `json:"password_change_required"`
	MustChangePassword     bool      `json:"must_change_password"`
	PasswordExpired        bool      `json:"password_expired"`
	Position               int64     `json:"position"`
}

// login posts credentials; on success the client remembers the session's
// CSRF token and ids.
func (c *client) login(email, pw string, remember bool) response {
	c.api.t.Helper()
	c.api.secrets.add("password", pw)
	r := c.post("/api/v1/sessions", map[string]any{"email": email, "password": pw, "remember_me": remember})
	if r.status == http.StatusCreated {
		var lb loginBody
		r.decode(&lb)
		c.csrf, c.sessionID, c.userID = lb.CSRFToken, lb.SessionID, lb.UserID
		c.api.secrets.add("session token", c.cookie(httpapi.SessionCookie))
	}
	return r
}

// loginAs is a new client logged in as u (without "remember me").
func (a *api) loginAs(u user) *client {
	a.t.Helper()
	c := a.newClient()
	c.login(u.Email, u.Password, false).want(http.StatusCreated)
	return c
}

// --- people and places -----------------------------------------------------------

// user is a fixture's account.
type user struct {
	ID       uuid.UUID
	Email    string
	Name     string
	Password string
}

// newPassword is a policy-compliant password nobody else has.
func newPassword() string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "Tide-" + hex.EncodeToString(b) + "-Orchard"
}

// org is an organisation with two locations (from the CQC sample in
// /work/shared/data/cqc-locations-sample.json).
type org struct {
	ID, Name  string
	Locations []location.RegisterLocation
}

func (o org) loc(i int) string { return o.Locations[i].LocationID }

var (
	orgA = org{ID: "1-101613599", Name: "Rosehill and Thorndale Care", Locations: []location.RegisterLocation{
		{LocationID: "1-112721881", Name: "Rosehill", AddressLine1: "31 Thornholme Road", Town: "Sunderland",
			Postcode: "SR2 7JX", LocalAuthority: "Sunderland", CCG: "NHS Sunderland CCG"},
		{LocationID: "1-112721895", Name: "Thorndale", AddressLine1: "8 Thornhill Park", Town: "Sunderland",
			Postcode: "SR2 7JZ", LocalAuthority: "Sunderland", CCG: "NHS Sunderland CCG"},
	}}
	orgB = org{ID: "1-101643246", Name: "Independence Homes Limited", Locations: []location.RegisterLocation{
		{LocationID: "1-112747080", Name: "Independence Homes Limited - 37 Foxley Lane", AddressLine1: "37 Foxley Lane",
			Town: "Purley", Postcode: "CR8 3EH", LocalAuthority: "Croydon", CCG: "NHS South West London CCG"},
		{LocationID: "1-112747096", Name: "Independence Homes Limited - 7 Hall Road", AddressLine1: "7 Hall Road",
			Town: "Wallington", Postcode: "SM6 0RT", LocalAuthority: "Sutton", CCG: "NHS South West London CCG"},
	}}
	// orgC has no Approver: only support can decide its requests.
	orgC = org{ID: "1-101645306", Name: "Pilton House Trust", Locations: []location.RegisterLocation{
		{LocationID: "1-112717753", Name: "Pilton House Trust", AddressLine1: "Pilton House", Town: "Barnstaple",
			Postcode: "EX31 1PQ", LocalAuthority: "Devon", CCG: "NHS Devon CCG"},
	}}
)

// world is a server with organisations A, B (two locations each) and C
// (one location, no Approver), and these accounts:
//
//   - support: the central support team.
//   - approverA, approverB: imported registered managers of A's and B's
//     first location, with passwords set through their links.
//   - standardA: registered for A's first location, approved by
//     approverA, password set through the link.
//   - genericA: a generic account of A (both locations), created by
//     support; never logged in, so its initial password is unchanged.
//   - deactivated: a Standard user of A, deactivated by approverA.
//   - locked: a Standard user of A, locked by 5 wrong passwords.
//   - pendingA: a registration for A's second location, undecided.
type world struct {
	*api
	support, approverA, approverB, standardA, genericA, deactivated, locked user
	pendingA                                                                registered
	// seeded is the log position at the end of the setup.
	seeded int64
}

// registered is an answer to a registration.
type registered struct {
	UserID    uuid.UUID `json:"user_id"`
	RequestID uuid.UUID `json:"request_id"`
	Status    string    `json:"status"`
	Position  int64     `json:"position"`
	Email     string    `json:"-"`
}

func newWorld(t *testing.T, backend string) *world {
	t.Helper()
	a := newAPI(t, backend)
	w := &world{api: a}
	ctx := context.Background()
	sys := commands.System("test")
	for _, o := range []org{orgA, orgB, orgC} {
		if _, err := a.accounts.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{
			OrganisationID: o.ID, Name: o.Name, Type: string(location.CareHome)}); err != nil {
			t.Fatal(err)
		}
		for _, l := range o.Locations {
			l.OrganisationID = o.ID
			if _, err := a.accounts.RegisterLocation(ctx, sys, l); err != nil {
				t.Fatal(err)
			}
		}
	}

	w.support = user{Email: "sam.support@necsu.example.nhs.uk", Name: "Sam Support", Password: newPassword()}
	reg, err := a.accounts.CreateSupportUser(ctx, sys, w.support.Email, w.support.Name)
	if err != nil {
		t.Fatal(err)
	}
	w.support.ID = reg.UserID
	a.setPasswordByLink(a.linkToken(w.support.ID), w.support.Password).want(http.StatusOK)

	w.approverA = a.importManager(orgA.loc(0), "Rosa Hill", "rosa.hill@rosehill.example.org")
	w.approverB = a.importManager(orgB.loc(0), "Ian Foxley", "ian.foxley@independence.example.org")

	approverA := a.loginAs(w.approverA)
	w.standardA = a.activeUser(approverA, "Stan Dard", "stan.dard@rosehill.example.org", orgA.ID, orgA.loc(0))
	w.deactivated = a.activeUser(approverA, "Lea Ver", "lea.ver@rosehill.example.org", orgA.ID, orgA.loc(1))
	w.locked = a.activeUser(approverA, "Lock Ed", "lock.ed@rosehill.example.org", orgA.ID, orgA.loc(0))

	support := a.loginAs(w.support)
	w.genericA = user{Email: "rosehill.office@rosehill.example.org", Name: "Rosehill Office"}
	r := support.post("/api/v1/generic-accounts", map[string]any{
		"email": w.genericA.Email, "display_name": w.genericA.Name, "organisation_id": orgA.ID,
		"location_ids": []string{orgA.loc(0), orgA.loc(1)},
	}).want(http.StatusCreated)
	var gen commands.GenericCreated
	r.decode(&gen)
	w.genericA.ID, w.genericA.Password = gen.UserID, gen.InitialPassword
	a.secrets.add("initial password", gen.InitialPassword)

	approverA.post("/api/v1/users/"+w.deactivated.ID.String()+"/deactivate", map[string]string{"reason": "left"}).want(http.StatusOK)
	for range 5 {
		a.newClient().login(w.locked.Email, "Wrong-password-123", false).wantError(http.StatusUnauthorized, "login_failed")
	}
	w.pendingA = a.register(registration("Penny Ending", "penny.ending@rosehill.example.org", orgA.loc(1)))

	w.seeded = a.last()
	a.sync(w.seeded)
	return w
}

// importManager imports a location's registered manager (an active
// Approver) and sets their password through the link.
func (a *api) importManager(locationID, name, email string) user {
	a.t.Helper()
	u := user{Email: email, Name: name, Password: newPassword()}
	if _, _, err := a.accounts.ImportManager(context.Background(), commands.System("test"), account.ImportManager{
		LocationID: locationID, FullName: name, Email: email, Phone: "0191 555 0100"}); err != nil {
		a.t.Fatal(err)
	}
	u.ID = a.userIDByEmail(email)
	a.setPasswordByLink(a.linkToken(u.ID), u.Password).want(http.StatusOK)
	return u
}

// registration is a valid registration body for locations.
func registration(name, email string, locationIDs ...string) map[string]any {
	return map[string]any{
		"email": email, "full_name": name, "phone": "0191 691 0000", "job_title": "Care Home Manager",
		"user_type": "standard", "organisation_type": "care_home", "location_ids": locationIDs,
		"terms_accepted": true, "communications_opt_in": false,
	}
}

// register registers anonymously and wants 201.
func (a *api) register(body map[string]any) registered {
	a.t.Helper()
	r := a.newClient().post("/api/v1/registrations", body).want(http.StatusCreated)
	var reg registered
	r.decode(&reg)
	reg.Email, _ = body["email"].(string)
	return reg
}

// decide posts an approver's decision on an organisation's part of a
// request.
func (c *client) decide(reg registered, orgID, decision, reason string) response {
	c.api.t.Helper()
	return c.post(fmt.Sprintf("/api/v1/users/%s/access-requests/%s/organisations/%s/decision", reg.UserID, reg.RequestID, orgID),
		map[string]string{"decision": decision, "reason": reason})
}

// setPasswordByLink posts a link's token and a new password.
func (a *api) setPasswordByLink(token, pw string) response {
	a.t.Helper()
	a.secrets.add("password", pw)
	a.secrets.add("link token", token)
	return a.newClient().post("/api/v1/password-links", map[string]string{"token": token, "password": pw})
}

// activeUser registers a Standard user for a location, has the approver
// approve it, and sets the password through the link.
func (a *api) activeUser(approver *client, name, email, orgID, locationID string) user {
	a.t.Helper()
	reg := a.register(registration(name, email, locationID))
	approver.decide(reg, orgID, "approve", "").want(http.StatusOK)
	u := user{ID: reg.UserID, Email: email, Name: name, Password: newPassword()}
	a.setPasswordByLink(a.linkToken(u.ID), u.Password).want(http.StatusOK)
	return u
}

// tokenHash is the SHA-256 under which the server stores session and API
// tokens: it must not be in the events either.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// --- reads ---------------------------------------------------------------------

// meBody is the answer of GET /me.
type meBody struct {
	UserID                 string                  `json:"user_id"`
	Email                  string                  `json:"email"`
	FullName               string                  `json:"full_name"`
	UserType               string                  `json:"user_type"`
	Kind                   string                  `json:"kind"`
	Status                 string                  `json:"status"`
	CommunicationsOptIn    bool                    `json:"communications_opt_in"`
	Locations              []account.LocationGrant `json:"locations"`
	ApproverOf             []string                `json:"approver_of"`
	SessionID              string                  `json:"session_id"`
	DisclaimerPending      bool                    `json:"disclaimer_pending"`
	Disclaimer             string                  `json:"disclaimer"`
	PasswordChangeRequired bool                    `json:"password_change_required"`
}

func (c *client) me() meBody {
	c.api.t.Helper()
	var m meBody
	c.get("/api/v1/me").want(http.StatusOK).decode(&m)
	return m
}

func (c *client) approvals(pos int64) []queries.PendingApproval {
	c.api.t.Helper()
	var body struct {
		Approvals []queries.PendingApproval `json:"approvals"`
	}
	c.getAt("/api/v1/approvals", pos).want(http.StatusOK).decode(&body)
	return body.Approvals
}

// approvalOf is the pending part of a request for an organisation in the
// list, if there.
func approvalOf(list []queries.PendingApproval, requestID uuid.UUID, orgID string) (queries.PendingApproval, bool) {
	for _, p := range list {
		if p.RequestID == requestID.String() && p.OrganisationID == orgID {
			return p, true
		}
	}
	return queries.PendingApproval{}, false
}

func (c *client) user(id uuid.UUID, pos int64) queries.UserSummary {
	c.api.t.Helper()
	var u queries.UserSummary
	c.getAt("/api/v1/users/"+id.String(), pos).want(http.StatusOK).decode(&u)
	return u
}

func (c *client) orgUsers(orgID string, pos int64) []queries.UserSummary {
	c.api.t.Helper()
	var body struct {
		Users []queries.UserSummary `json:"users"`
	}
	c.getAt("/api/v1/organisations/"+orgID+"/users", pos).want(http.StatusOK).decode(&body)
	return body.Users
}

func (c *client) sessions(userID uuid.UUID, pos int64) []queries.SessionSummary {
	c.api.t.Helper()
	var body struct {
		Sessions []queries.SessionSummary `json:"sessions"`
	}
	c.getAt("/api/v1/users/"+userID.String()+"/sessions", pos).want(http.StatusOK).decode(&body)
	return body.Sessions
}

func (c *client) dashboard(orgID string, pos int64) queries.Dashboard {
	c.api.t.Helper()
	var d queries.Dashboard
	c.getAt("/api/v1/organisations/"+orgID+"/dashboard", pos).want(http.StatusOK).decode(&d)
	return d
}

// userIDs lists the ids of users.
func userIDs(us []queries.UserSummary) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.UserID
	}
	return out
}

// fieldNames lists the fields of a 422 answer's error.
func fieldNames(e httpapi.ErrorDetail) []string {
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Field
	}
	return out
}

// fieldCodes lists "field:code" of a 422 answer's error.
func fieldCodes(e httpapi.ErrorDetail) []string {
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Field + ":" + f.Code
	}
	return out
}

// unchanged fails the test when events were appended since the log held
// count events.
func (a *api) unchanged(what string, count int64) {
	a.t.Helper()
	if now := a.eventCount(); now != count {
		a.t.Errorf("%s appended %d events; want none", what, now-count)
	}
}
