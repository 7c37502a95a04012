package web_test

// The harness of the web tests: a real capacityd HTTP handler (httpapi with
// the web port mounted at /) over a real store of either backend, with the
// projection engine and the mail outbox sending, through the real SMTP
// sender, to an in-process SMTP server, so that a test follows the link of
// an email as a person would.

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer/smtptest"
	"github.com/capacitytracker/capacity/cmd/capacityd/web"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
	"github.com/capacitytracker/capacity/queries"
)

// maxBody is the web port's body limit in these tests.
const maxBody = 16 << 10

// site is one running server over one store.
type site struct {
	t        testing.TB
	url      string
	store    commands.Store
	accounts *commands.Service
	engine   *projections.Engine
	smtp     *smtptest.Server
	mailer   *mailer.Dispatcher
	logs     *projtest.LogBuffer
	server   *httpapi.Server
	// settleWithin bounds settle: the projections' catch-up.
	settleWithin time.Duration
}

// siteOptions are what a test may set of its site's server.
type siteOptions struct {
	// limits turns the rate limits on, counted by the store's limiter.
	limits ratelimit.Limits
	// secureCookies is -secure-cookies (behind a TLS-terminating proxy).
	secureCookies bool
	// fill, when set, appends to the empty store before the projections
	// and the server start (a benchmark's large data set).
	fill func(ctx context.Context, store eventstore.Store)
	// settleWithin bounds the projections' catch-up (0: 2 minutes).
	settleWithin time.Duration
}

// person is an account with the password it signs in with.
type person struct {
	Email, Name, Password string
}

// eachBackend runs fn on a fresh site of every backend, in parallel.
func eachBackend(t *testing.T, fn func(t *testing.T, s *site)) {
	t.Helper()
	t.Parallel()
	for _, b := range projtest.Backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newSite(t, b))
		})
	}
}

// eachBackendWith is eachBackend with the server set by opts.
func eachBackendWith(t *testing.T, opts siteOptions, fn func(t *testing.T, s *site)) {
	t.Helper()
	t.Parallel()
	for _, b := range projtest.Backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newSiteWith(t, b, opts))
		})
	}
}

func newSite(t testing.TB, backend string) *site {
	t.Helper()
	return newSiteWith(t, backend, siteOptions{})
}

func newSiteWith(t testing.TB, backend string, opts siteOptions) *site {
	t.Helper()
	ctx := context.Background()
	store, pb := projtest.Open(t, backend)
	if opts.fill != nil {
		opts.fill(ctx, store)
	}
	logs := &projtest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (warnings and errors):\n%s", logs.String())
		}
	})
	cfg := commands.DefaultConfig()
	// Cheap hashing: the parameters are not what these tests test.
	cfg.Hash = password.FastParams()
	accounts, err := commands.New(ctx, store, cfg, time.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := projections.NewEngine(pb, logger, views.Default()...)
	if err != nil {
		t.Fatal(err)
	}
	if opts.fill != nil {
		// A benchmark's large fill: each view replays it through the
		// rebuild's batch path (as `capacityctl projections rebuild`),
		// many times faster than the live path's catch-up, which then
		// starts at the head. The views hold the same rows either way
		// (the projections' rebuild tests compare them).
		started := time.Now()
		if err := engine.RebuildAll(ctx, nil, nil); err != nil {
			t.Fatalf("rebuild all after the fill: %v", err)
		}
		t.Logf("%s: rebuilt %d views over the fill in %s", backend, len(engine.Names()), time.Since(started).Round(time.Second))
	}
	projtest.RunEngine(t, engine)

	// The address is known before the server starts, so that the emails'
	// links lead to it.
	hs := httptest.NewUnstartedServer(nil)
	s := &site{t: t, url: "http://" + hs.Listener.Addr().String(), store: store, accounts: accounts, engine: engine, logs: logs,
		settleWithin: cmp.Or(opts.settleWithin, 2*time.Minute)}

	s.smtp = smtptest.Start(t)
	sender, err := mailer.NewSMTPSender(mailer.SMTPConfig{Host: s.smtp.Host(), Port: s.smtp.Port(), TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	s.mailer, err = mailer.New(mailoutbox.NewDeliveries(pb), mailer.Config{
		Sender: sender, From: mailer.Address{Name: "Capacity Tracker", Email: "noreply@capacitytracker.example.nhs.uk"},
		PublicURL: s.url, LinkKey: accounts.LinkKey(), Clock: time.Now, TimeZone: time.UTC,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}

	aq := &queries.Service{ReadModels: projections.NewReadModels(pb), Waiter: engine}
	var limiter *ratelimit.Limiter
	switch st := store.(type) {
	case *postgres.Store:
		limiter = ratelimit.NewPostgres(st.Pool())
	case *sqlite.Store:
		limiter = ratelimit.NewSQLite(st)
	default:
		t.Fatalf("unknown store %T", store)
	}
	after := httpapi.NewAfterAnswer(logger)
	pages, err := web.New(web.Options{Logger: logger, Commands: accounts, Queries: aq, MaxBodyBytes: maxBody,
		SecureCookies: opts.secureCookies, Limiter: limiter, Limits: opts.limits, AfterAnswer: after})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Options{Logger: logger, Registry: prometheus.NewRegistry(), Commands: accounts,
		Queries: aq, SecureCookies: opts.secureCookies, Limiter: limiter, Limits: opts.limits,
		AfterAnswer: after, Web: pages})
	if err != nil {
		t.Fatal(err)
	}
	s.server = srv
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(hs.Close)
	// Work left running after answers ends before the store closes.
	t.Cleanup(s.drain)

	if _, err := accounts.RegisterOrganisation(ctx, commands.System("test"), location.RegisterOrganisation{
		OrganisationID: "1-100", Name: "Cranberry Care Services", Type: string(location.HomeCare)}); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.RegisterLocation(ctx, commands.System("test"), location.RegisterLocation{
		LocationID: "1-200", OrganisationID: "1-100", Name: "Cranberry Home Care", AddressLine1: "1 High Street",
		Town: "Northampton", Postcode: "NN1 1NN", LocalAuthority: "West Northamptonshire"}); err != nil {
		t.Fatal(err)
	}
	// The postcode search reads a view: it includes the location before
	// any test begins.
	s.settle()
	return s
}

// drain waits, bounded, for the work the requests left running after
// their answers (a forgotten password's lookup and link).
func (s *site) drain() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.server.Drain(ctx); err != nil {
		s.t.Fatalf("work after the answers did not finish: %v", err)
	}
}

// settle waits, bounded, until the projections have applied the whole log.
func (s *site) settle() {
	s.t.Helper()
	deadline := time.Now().Add(s.settleWithin)
	for {
		err := s.engine.WaitFor(context.Background(), nil, s.head())
		if err == nil {
			return
		}
		if !errors.Is(err, projections.ErrNotCaughtUp) || time.Now().After(deadline) {
			s.t.Fatalf("projections did not catch up: %v", err)
		}
	}
}

// newSupport creates a support account whose set-password email has been
// sent; the caller follows its link (linkFor) or has setSupport do it.
func (s *site) newSupport(email, name string) {
	s.t.Helper()
	if _, err := s.accounts.CreateSupportUser(context.Background(), commands.System("test"), email, name); err != nil {
		s.t.Fatal(err)
	}
}

// activeSupport is a support account with a password set through its
// emailed link.
func (s *site) activeSupport(email, name string) person {
	s.t.Helper()
	s.newSupport(email, name)
	p := person{Email: email, Name: name, Password: "Cranberry-sauce-" + name[:3] + "-2026"}
	if _, err := s.accounts.SetPasswordWithLink(context.Background(), commands.Request{}, s.linkToken(email), p.Password); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// genericAccount is an organisation's generic account with its first
// password, issued by support (to be changed at first sign in).
func (s *site) genericAccount(email, name string) person {
	s.t.Helper()
	res, err := s.accounts.CreateGenericAccount(context.Background(), commands.System("test"), account.CreateGeneric{
		Email: email, DisplayName: name, OrganisationID: "1-100", LocationIDs: []string{"1-200"}})
	if err != nil {
		s.t.Fatal(err)
	}
	return person{Email: email, Name: name, Password: res.InitialPassword}
}

// logState walks every stream of the log once: how many events it holds
// and the highest position.
func (s *site) logState() (count int, last int64) {
	s.t.Helper()
	after := ""
	for {
		streams, err := s.store.ListStreams(context.Background(), eventstore.ListStreamsOptions{After: after, Limit: 500})
		if err != nil {
			s.t.Fatal(err)
		}
		if len(streams) == 0 {
			return count, last
		}
		for _, st := range streams {
			evs, err := s.store.ReadStream(context.Background(), st.StreamID, eventstore.ReadStreamOptions{})
			if err != nil {
				s.t.Fatal(err)
			}
			count += len(evs)
			for _, e := range evs {
				last = max(last, e.Position)
			}
		}
		after = streams[len(streams)-1].StreamID
	}
}

// eventCount is the number of events in the log.
func (s *site) eventCount() int {
	s.t.Helper()
	n, _ := s.logState()
	return n
}

// deliver sends what the outbox holds and returns every message received.
func (s *site) deliver() []smtptest.Received {
	s.t.Helper()
	ctx := context.Background()
	// A forgotten password's link is appended after the answer: wait for
	// it; the outbox is a projection: wait until it has seen the log.
	s.drain()
	s.settle()
	for range 100 {
		sent, err := s.mailer.DispatchOnce(ctx)
		if err != nil {
			s.t.Fatalf("dispatch mail: %v", err)
		}
		if sent == 0 {
			return s.smtp.Messages()
		}
	}
	s.t.Fatal("the outbox did not run dry")
	return nil
}

// head is the highest position of the log.
func (s *site) head() int64 {
	s.t.Helper()
	_, last := s.logState()
	return last
}

// link is the latest set-password link emailed to the address, as it is
// in the email.
func (s *site) link(email string) string {
	s.t.Helper()
	pattern := regexp.MustCompile(regexp.QuoteMeta(s.url) + `/set-password\?token=[A-Za-z0-9_%-]+`)
	msgs := s.deliver()
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, rcpt := range msgs[i].To {
			if strings.EqualFold(rcpt, email) {
				if found := pattern.FindString(msgs[i].Text); found != "" {
					return found
				}
			}
		}
	}
	s.t.Fatalf("no set-password link was emailed to %s (%d messages)", email, len(msgs))
	return ""
}

// linkToken is the token of the latest link emailed to the address.
func (s *site) linkToken(email string) string {
	s.t.Helper()
	u, err := url.Parse(s.link(email))
	if err != nil {
		s.t.Fatal(err)
	}
	return u.Query().Get("token")
}

// messagesTo counts the messages delivered to an address.
func (s *site) messagesTo(email string) int {
	s.t.Helper()
	n := 0
	for _, m := range s.deliver() {
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, email) {
				n++
			}
		}
	}
	return n
}

// --- an HTTP client that behaves like a browser without JavaScript ----------

type browserless struct {
	s *site
	c *http.Client
}

func (s *site) client() *browserless {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return &browserless{s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer.
type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browserless) do(req *http.Request) page {
	b.s.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return page{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

func (b *browserless) get(path string) page {
	b.s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.s.url+path, nil)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser does from a page of the site.
func (b *browserless) post(path string, form url.Values, header ...string) page {
	b.s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.s.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.s.url)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the form token of a signed-in page.
func (b *browserless) csrf(path string) string {
	b.s.t.Helper()
	p := b.get(path)
	m := csrfPattern.FindStringSubmatch(p.Body)
	if m == nil {
		b.s.t.Fatalf("GET %s (%d) has no form token:\n%s", path, p.Status, p.Body)
	}
	return m[1]
}

// signIn signs in and wants the redirect to where.
func (b *browserless) signIn(p person, where string) {
	b.s.t.Helper()
	res := b.post("/sign-in", url.Values{"email": {p.Email}, "password": {p.Password}})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != where {
		b.s.t.Fatalf("sign in as %s: %d to %q, want 303 to %q:\n%s", p.Email, res.Status, res.Header.Get("Location"), where, res.Body)
	}
}

// wantPage checks an answer is an HTML page of the status with an h1.
func (p page) wantPage(t *testing.T, status int, h1 string) page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d:\n%s", p.Status, status, p.Body)
	}
	if ct := p.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type %q, want an HTML page", ct)
	}
	if !strings.Contains(p.Body, "<h1>"+h1+"</h1>") {
		t.Fatalf("the page's h1 is not %q:\n%s", h1, p.Body)
	}
	if strings.Count(p.Body, "<h1") != 1 {
		t.Fatalf("the page has %d h1", strings.Count(p.Body, "<h1"))
	}
	return p
}

// wantRedirect checks an answer is a redirect to where.
func (p page) wantRedirect(t *testing.T, where string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != where {
		t.Fatalf("got %d to %q, want 303 to %q:\n%s", p.Status, p.Header.Get("Location"), where, p.Body)
	}
}

var titlePattern = regexp.MustCompile(`<title>([^<]*)</title>`)

func (p page) title() string {
	m := titlePattern.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

// summary is the error summary's messages, in order, with their links.
var summaryItem = regexp.MustCompile(`<li><a href="#([A-Za-z0-9_-]+)">([^<]*)</a></li>`)

func (p page) summary() [][2]string {
	var out [][2]string
	for _, m := range summaryItem.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// approver is the registered manager of location 1-200, imported from
// CQC data (an active Approver of organisation 1-100), with a password
// set through the emailed link.
func (s *site) approver(email, name string) person {
	s.t.Helper()
	if _, _, err := s.accounts.ImportManager(context.Background(), commands.System("test"), account.ImportManager{
		LocationID: "1-200", FullName: name, Email: email, Phone: "0191 555 0100"}); err != nil {
		s.t.Fatal(err)
	}
	p := person{Email: email, Name: name, Password: "Approving-manager-2026"}
	if _, err := s.accounts.SetPasswordWithLink(context.Background(), commands.Request{}, s.linkToken(email), p.Password); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// register is a stranger's registration for location 1-200, as Standard.
func (s *site) register(email, name string) {
	s.t.Helper()
	if _, err := s.accounts.Register(context.Background(), commands.Request{}, account.Register{
		Email: email, FullName: name, Phone: "0191 691 0000", JobTitle: "Care Worker", UserType: "standard",
		OrganisationType: string(location.HomeCare), LocationIDs: []string{"1-200"}, TermsAccepted: true}); err != nil {
		s.t.Fatal(err)
	}
	// The Approver's list is a view: let it, and the emails, catch up.
	s.deliver()
}
