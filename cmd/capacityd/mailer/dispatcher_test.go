package mailer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer/smtptest"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/eventstore/postgres"
	"github.com/capacitytracker/capacity/eventstore/sqlite"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	testPublicURL = "http://127.0.0.1:8080"
	waitForMail   = 10 * time.Second // a hang guard for messages already sent
)

// harness is one backend with a fresh database.
type harness struct {
	store   projtest.Store
	backend projections.Backend
}

// eachBackend runs the same test against every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, h *harness)) {
	t.Parallel()
	for _, name := range projtest.Backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store, backend := projtest.Open(t, name)
			fn(t, &harness{store: store, backend: backend})
		})
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}

// mailWorld is an event log with the mail_outbox projection running on it,
// and what a test needs to write events and send the outbox.
type mailWorld struct {
	t     *testing.T
	h     *harness
	e     *projections.Engine
	key   []byte
	clock *projtest.Clock
	head  int64 // the position of the last event appended
}

func newMailWorld(t *testing.T, h *harness) *mailWorld {
	t.Helper()
	e, err := projections.NewEngine(h.backend, quietLogger(), mailoutbox.Projection{})
	if err != nil {
		t.Fatal(err)
	}
	return &mailWorld{t: t, h: h, e: e, key: bytes.Repeat([]byte("k"), 32), clock: projtest.NewClock(time.Now())}
}

// start runs the engine until the test ends.
func (w *mailWorld) start() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.e.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("engine run: %v", err)
		}
	})
}

// caughtUp waits until the outbox has applied every event appended.
func (w *mailWorld) caughtUp() {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a hang guard, not a speed check
	for {
		err := w.e.WaitFor(context.Background(), []string{"mail_outbox"}, w.head)
		if err == nil {
			return
		}
		if !errors.Is(err, projections.ErrNotCaughtUp) || time.Now().After(deadline) {
			w.t.Fatalf("the outbox never reached %d: %v", w.head, err)
		}
	}
}

// appendRaw appends events of the given types and data to a stream and
// returns their ids.
func (w *mailWorld) appendRaw(stream string, evs ...eventstore.EventData) []uuid.UUID {
	w.t.Helper()
	ids := make([]uuid.UUID, len(evs))
	for i := range evs {
		evs[i].ID = uuid.New()
		evs[i].Metadata = eventstore.Metadata{Command: "test", CorrelationID: uuid.NewString(), ActorAccountKind: eventstore.AccountSystem}
		ids[i] = evs[i].ID
	}
	res, err := w.h.store.Append(context.Background(), stream, eventstore.Any, evs...)
	if err != nil {
		w.t.Fatalf("append to %s: %v", stream, err)
	}
	w.head = max(w.head, res.LastPosition())
	return ids
}

// appendUser appends account events to a user's stream as the commands do:
// JSON, with the personal fields sealed under the user's key.
func (w *mailWorld) appendUser(user uuid.UUID, evs ...account.Event) []uuid.UUID {
	w.t.Helper()
	return w.appendRaw(account.UserStream(user), w.encode(user, evs)...)
}

func (w *mailWorld) appendLogin(user uuid.UUID, evs ...account.Event) []uuid.UUID {
	w.t.Helper()
	return w.appendRaw(account.LoginStream(user), w.encode(user, evs)...)
}

func (w *mailWorld) encode(user uuid.UUID, evs []account.Event) []eventstore.EventData {
	w.t.Helper()
	out := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			w.t.Fatal(err)
		}
		out[i] = eventstore.EventData{Type: ev.EventType(), Data: data}
		if p, ok := ev.(account.PersonalData); ok {
			for _, path := range p.PersonalPaths() {
				out[i].Personal = append(out[i].Personal, eventstore.PersonalField{Path: path, Subject: account.Subject(user)})
			}
		}
	}
	return out
}

func (w *mailWorld) organisation(id, name string) {
	w.t.Helper()
	data, _ := json.Marshal(location.OrganisationRegistered{OrganisationID: id, Name: name, Type: location.CareHome})
	w.appendRaw(location.OrganisationStream(id), eventstore.EventData{Type: location.TypeOrganisationRegistered, Data: data})
}

func (w *mailWorld) location(id, org, orgName, name string) {
	w.t.Helper()
	data, _ := json.Marshal(location.LocationRegistered{LocationID: id, OrganisationID: org, OrganisationName: orgName,
		Name: name, Town: "Newcastle upon Tyne", Postcode: "NE1 4LP"})
	w.appendRaw(location.LocationStream(id), eventstore.EventData{Type: location.TypeLocationRegistered, Data: data})
}

// approver is a registered manager imported as an active Approver.
func (w *mailWorld) approver(org, loc, email, name string) uuid.UUID {
	w.t.Helper()
	id := uuid.New()
	w.appendUser(id, account.RegisteredManagerImported{UserID: id, Email: email, FullName: name, Phone: "0191 000 0000",
		LocationID: loc, OrganisationID: org})
	return id
}

func (w *mailWorld) support(email, name string) uuid.UUID {
	w.t.Helper()
	id := uuid.New()
	w.appendUser(id, account.SupportUserCreated{UserID: id, Email: email, FullName: name})
	return id
}

// registration is a registered user and their access request.
type registration struct {
	user, request, requestEvent uuid.UUID
}

func (w *mailWorld) register(email, name, jobTitle string, locs ...account.LocationGrant) registration {
	w.t.Helper()
	r := registration{user: uuid.New(), request: uuid.New()}
	ids := w.appendUser(r.user,
		account.UserRegistered{UserID: r.user, Email: email, FullName: name, Phone: "0191 111 1111", JobTitle: jobTitle,
			Role: account.Standard, OrganisationType: string(location.CareHome), TermsAccepted: true},
		account.AccessRequested{RequestID: r.request, Locations: locs, Via: "registration", DeclarationAccepted: true})
	r.requestEvent = ids[1]
	return r
}

// approve approves the organisation's part of a pending registration, as
// the commands do: the user becomes active and gets a set-password link.
func (w *mailWorld) approve(r registration, org string, locs []string, link uuid.UUID, expires time.Time) {
	w.t.Helper()
	w.appendUser(r.user,
		account.AccessApproved{RequestID: r.request, OrganisationID: org, LocationIDs: locs},
		account.UserApproved{},
		account.PasswordLinkIssued{LinkID: link, Purpose: account.LinkSetPassword, ExpiresAt: expires})
}

func grant(loc, org string) account.LocationGrant {
	return account.LocationGrant{LocationID: loc, OrganisationID: org}
}

// dispatcher sends w's outbox through sender at w's clock.
func (w *mailWorld) dispatcher(sender mailer.Sender, opts ...func(*mailer.Config)) *mailer.Dispatcher {
	return w.dispatcherOn(w.h.backend, sender, opts...)
}

func (w *mailWorld) dispatcherOn(b projections.Backend, sender mailer.Sender, opts ...func(*mailer.Config)) *mailer.Dispatcher {
	w.t.Helper()
	cfg := mailer.Config{
		Sender:    sender,
		From:      mailer.Address{Name: "Capacity Tracker", Email: "no-reply@capacitytracker.example.nhs.uk"},
		PublicURL: testPublicURL,
		LinkKey:   w.key,
		Clock:     w.clock.Now,
		TimeZone:  london(w.t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := mailer.New(mailoutbox.NewDeliveries(b), cfg, quietLogger())
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func dispatch(t *testing.T, d *mailer.Dispatcher) int {
	t.Helper()
	n, err := d.DispatchOnce(context.Background())
	if err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	return n
}

func london(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	return loc
}

func smtpSender(t *testing.T, srv *smtptest.Server) *mailer.SMTPSender {
	t.Helper()
	s, err := mailer.NewSMTPSender(mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// byRecipient files received messages under their one envelope recipient.
func byRecipient(t *testing.T, msgs []smtptest.Received) map[string][]smtptest.Received {
	t.Helper()
	out := map[string][]smtptest.Received{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("message to %v: want one recipient", m.To)
		}
		out[m.To[0]] = append(out[m.To[0]], m)
	}
	return out
}

func messageID(m smtptest.Received) string {
	if m.Msg == nil {
		return ""
	}
	return m.Msg.Header.Get("Message-Id")
}

func wantMessageID(id string) string { return "<" + id + "@capacity-tracker.local>" }

func assertContains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}

func assertLacks(t *testing.T, what, text string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(text, w) {
			t.Errorf("%s contains %q:\n%s", what, w, text)
		}
	}
}

// delivery is a mail_deliveries row.
type delivery struct {
	status      string
	attempts    int
	nextAttempt int64
	lastError   string
	sentAt      *int64
}

func readDelivery(t *testing.T, h *harness, id string) (delivery, bool) {
	t.Helper()
	var d delivery
	found := false
	err := projections.NewReadModels(h.backend).Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(),
			`SELECT status, attempts, next_attempt_at, last_error, sent_at FROM mail_deliveries WHERE message_id = ?`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			found = true
			if err := rows.Scan(&d.status, &d.attempts, &d.nextAttempt, &d.lastError, &d.sentAt); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, found
}

// outboxParams returns the params of every mail_outbox row.
func outboxParams(t *testing.T, h *harness) []string {
	t.Helper()
	var out []string
	err := projections.NewReadModels(h.backend).Query(context.Background(), func(q projections.Querier) error {
		rows, err := q.QueryContext(context.Background(), `SELECT params FROM mail_outbox`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// switchSender sends through a real SMTPSender that the test can swap
// (a relay that recovers), and counts the attempts per recipient.
type switchSender struct {
	mu       sync.Mutex
	sender   *mailer.SMTPSender
	attempts map[string]int
}

func (s *switchSender) set(sender *mailer.SMTPSender) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sender = sender
}

func (s *switchSender) Send(ctx context.Context, m mailer.Message) error {
	s.mu.Lock()
	if s.attempts == nil {
		s.attempts = map[string]int{}
	}
	for _, to := range m.To {
		s.attempts[to.Email]++
	}
	sender := s.sender
	s.mu.Unlock()
	return sender.Send(ctx, m)
}

func (s *switchSender) tries(email string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[email]
}

// --- tests ------------------------------------------------------------------

func TestMailOutbox_AccessRequestGoesToActiveApproversOrElseSupport(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		w.organisation("ORG-1", "Sunrise Care Ltd")
		w.location("LOC-1", "ORG-1", "Sunrise Care Ltd", "Rose House")
		w.organisation("ORG-2", "Meadow Homes")
		w.location("LOC-2", "ORG-2", "Meadow Homes", "Oak Lodge")
		ann := w.approver("ORG-1", "LOC-1", "ann.approver@example.nhs.uk", "Ann Approver")
		w.approver("ORG-1", "LOC-1", "bob.approver@example.nhs.uk", "Bob Approver")
		gone := w.approver("ORG-1", "LOC-1", "gone.approver@example.nhs.uk", "Gone Approver")
		w.appendUser(gone, account.UserDeactivated{Reason: "left"})
		shared := uuid.New()
		w.appendUser(shared, account.GenericAccountCreated{UserID: shared, Email: "rose.house@example.nhs.uk",
			DisplayName: "Rose House", OrganisationID: "ORG-1", Locations: []account.LocationGrant{grant("LOC-1", "ORG-1")}})
		sam := w.support("sam.support@example.nhs.uk", "Sam Support")
		r := w.register("rita.requester@example.com", "Rita Requester", "Care Manager", grant("LOC-1", "ORG-1"), grant("LOC-2", "ORG-2"))
		w.caughtUp()

		srv := smtptest.Start(t)
		d := w.dispatcher(smtpSender(t, srv))
		if n := dispatch(t, d); n != 3 {
			t.Fatalf("sent %d messages, want 3 (two Approvers of ORG-1, support for ORG-2)", n)
		}
		got := byRecipient(t, srv.WaitFor(t, 3, waitForMail))
		if len(got) != 3 || len(got["ann.approver@example.nhs.uk"]) != 1 || len(got["bob.approver@example.nhs.uk"]) != 1 ||
			len(got["sam.support@example.nhs.uk"]) != 1 {
			t.Fatalf("recipients %v: want Ann, Bob and Sam once each", keys(got))
		}
		for _, to := range []string{"ann.approver@example.nhs.uk", "bob.approver@example.nhs.uk"} {
			m := got[to][0]
			if m.Subject != "Capacity Tracker: Rita Requester has asked for access to Sunrise Care Ltd" {
				t.Errorf("subject to %s: %q", to, m.Subject)
			}
			assertContains(t, "request to "+to, m.Text, "Rita Requester", "rita.requester@example.com", "Care Manager",
				"Rose House (LOC-1)", "Sunrise Care Ltd", "log in to the Capacity Tracker at "+testPublicURL, "Approve/Reject Users")
			assertLacks(t, "request to "+to, m.Text, "Oak Lodge", "no active Approver")
		}
		if id, want := messageID(got["ann.approver@example.nhs.uk"][0]),
			wantMessageID(mailoutbox.MessageID(r.requestEvent, mailoutbox.AccessRequest, ann.String(), "ORG-1")); id != want {
			t.Errorf("Message-ID %q, want %q", id, want)
		}
		if from := got["ann.approver@example.nhs.uk"][0].Msg.Header.Get("From"); from != `"Capacity Tracker" <no-reply@capacitytracker.example.nhs.uk>` {
			t.Errorf("From %q", from)
		}
		if to := got["ann.approver@example.nhs.uk"][0].Msg.Header.Get("To"); to != `"Ann Approver" <ann.approver@example.nhs.uk>` {
			t.Errorf("To %q", to)
		}
		m := got["sam.support@example.nhs.uk"][0]
		if m.Subject != "Capacity Tracker: Rita Requester has asked for access to Meadow Homes" {
			t.Errorf("subject to support: %q", m.Subject)
		}
		assertContains(t, "request to support", m.Text, "Dear Sam Support,", "Oak Lodge (LOC-2)",
			"Meadow Homes has no active Approver", "Approve/Reject Users")
		assertLacks(t, "request to support", m.Text, "Rose House")
		if _, ok := readDelivery(t, h, mailoutbox.MessageID(r.requestEvent, mailoutbox.AccessRequest, sam.String(), "ORG-1")); ok {
			t.Error("support got ORG-1's part, which has Approvers")
		}
	})
}

// TestMailOutbox_NamesALocationAsItsUsersRenamedIt: once a location's
// users save its name (AddressChanged), emails use theirs, and CQC's later
// renames no longer replace it, as on every other view of the location.
func TestMailOutbox_NamesALocationAsItsUsersRenamedIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		w.organisation("ORG-1", "Sunrise Care Ltd")
		w.location("LOC-1", "ORG-1", "Sunrise Care Ltd", "Rose House")
		cqc := func(name string) eventstore.EventData {
			data, _ := json.Marshal(location.CQCDetailsChanged{LocationID: "LOC-1", Changes: []location.FieldChange{
				{Field: "name", Before: "", After: name}}})
			return eventstore.EventData{Type: location.TypeCQCDetailsChanged, Data: data}
		}
		edit, _ := json.Marshal(location.AddressChanged{LocationID: "LOC-1", Changes: []location.FieldChange{
			{Field: "name", Before: "CQC's Rose House", After: "Rose Court"}}})
		w.appendRaw(location.LocationStream("LOC-1"), cqc("CQC's Rose House"),
			eventstore.EventData{Type: location.TypeAddressChanged, Data: edit}, cqc("CQC's Later Name"))
		w.approver("ORG-1", "LOC-1", "ann.approver@example.nhs.uk", "Ann Approver")
		w.register("rita.requester@example.com", "Rita Requester", "Care Manager", grant("LOC-1", "ORG-1"))
		w.caughtUp()

		srv := smtptest.Start(t)
		if n := dispatch(t, w.dispatcher(smtpSender(t, srv))); n != 1 {
			t.Fatalf("sent %d messages, want 1", n)
		}
		m := srv.WaitFor(t, 1, waitForMail)[0]
		assertContains(t, "request", m.Text, "Rose Court (LOC-1)")
		assertLacks(t, "request", m.Text, "Rose House", "CQC's Later Name")
	})
}

func TestMailOutbox_PasswordLinksCarryTheTokenAndExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		w.organisation("ORG-1", "Sunrise Care Ltd")
		w.location("LOC-1", "ORG-1", "Sunrise Care Ltd", "Rose House")
		w.approver("ORG-1", "LOC-1", "ann.approver@example.nhs.uk", "Ann Approver")
		r := w.register("rita.requester@example.com", "Rita Requester", "Care Manager", grant("LOC-1", "ORG-1"))
		now := time.Now().UTC()
		setLink, resetLink := uuid.New(), uuid.New()
		setExpires, resetExpires := now.Add(72*time.Hour), now.Add(time.Hour)
		w.approve(r, "ORG-1", []string{"LOC-1"}, setLink, setExpires)
		w.appendUser(r.user, account.PasswordLinkIssued{LinkID: resetLink, Purpose: account.LinkResetPassword, ExpiresAt: resetExpires})
		w.caughtUp()

		srv := smtptest.Start(t)
		d := w.dispatcher(smtpSender(t, srv))
		if n := dispatch(t, d); n != 3 {
			t.Fatalf("sent %d messages, want 3 (the request, the set and the reset link)", n)
		}
		got := byRecipient(t, srv.WaitFor(t, 3, waitForMail))
		rita := got["rita.requester@example.com"]
		if len(rita) != 2 {
			t.Fatalf("Rita got %d messages, want the set and the reset link (and no access granted: she was pending)", len(rita))
		}
		loc := london(t)
		set, reset := rita[0], rita[1]
		if set.Subject != "Capacity Tracker: set your password" || reset.Subject != "Capacity Tracker: reset your password" {
			t.Fatalf("subjects %q, %q", set.Subject, reset.Subject)
		}
		setToken := account.LinkToken(w.key, r.user, setLink)
		resetToken := account.LinkToken(w.key, r.user, resetLink)
		assertContains(t, "set link", set.Text, "Dear Rita Requester,", "approved",
			testPublicURL+"/set-password?token="+setToken, "valid for 72 hours",
			setExpires.In(loc).Format("15:04 on Monday 2 January 2006"))
		assertContains(t, "reset link", reset.Text, testPublicURL+"/set-password?token="+resetToken, "valid for 1 hour",
			resetExpires.In(loc).Format("15:04 on Monday 2 January 2006"), "your password has not been changed")
		assertLacks(t, "set link", set.Text, resetToken)
		for _, p := range outboxParams(t, h) {
			assertLacks(t, "outbox params", p, setToken, resetToken)
		}
	})
}

func TestMailOutbox_DecisionsRemindersAndLocksReachTheUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		w.organisation("ORG-1", "Sunrise Care Ltd")
		w.location("LOC-1", "ORG-1", "Sunrise Care Ltd", "Rose House")
		w.location("LOC-3", "ORG-1", "Sunrise Care Ltd", "Ivy Court")
		w.organisation("ORG-2", "Meadow Homes")
		w.location("LOC-2", "ORG-2", "Meadow Homes", "Oak Lodge")
		w.approver("ORG-1", "LOC-1", "ann.approver@example.nhs.uk", "Ann Approver")
		w.approver("ORG-2", "LOC-2", "mo.approver@example.nhs.uk", "Mo Approver")
		r := w.register("rita.requester@example.com", "Rita Requester", "Care Manager", grant("LOC-1", "ORG-1"))
		now := time.Now().UTC()
		w.approve(r, "ORG-1", []string{"LOC-1"}, uuid.New(), now.Add(72*time.Hour))
		// My Access: more of ORG-1 (approved), and ORG-2 (rejected).
		more, other := uuid.New(), uuid.New()
		w.appendUser(r.user, account.AccessRequested{RequestID: more, Locations: []account.LocationGrant{grant("LOC-3", "ORG-1")},
			Via: "my_access", DeclarationAccepted: true})
		w.appendUser(r.user, account.AccessRequested{RequestID: other, Locations: []account.LocationGrant{grant("LOC-2", "ORG-2")},
			Via: "my_access", DeclarationAccepted: true})
		w.appendUser(r.user, account.AccessApproved{RequestID: more, OrganisationID: "ORG-1", LocationIDs: []string{"LOC-3"}})
		w.appendUser(r.user, account.AccessRejected{RequestID: other, OrganisationID: "ORG-2", LocationIDs: []string{"LOC-2"},
			Reason: "You do not work at Oak Lodge"})
		pwExpires := now.Add(14 * 24 * time.Hour)
		w.appendUser(r.user, account.PasswordExpiryReminderDue{DaysBefore: 14, ExpiresAt: pwExpires})
		lockedUntil := now.Add(24 * time.Hour)
		w.appendLogin(r.user,
			account.LoginFailed{Reason: account.FailWrongPassword, Consecutive: 5},
			account.AccountLocked{Until: lockedUntil, Failures: 5})
		w.caughtUp()

		srv := smtptest.Start(t)
		d := w.dispatcher(smtpSender(t, srv))
		// Ann: the registration and LOC-3; Mo: LOC-2; Rita: set link,
		// granted, rejected, reminder, locked.
		if n := dispatch(t, d); n != 8 {
			t.Fatalf("sent %d messages, want 8", n)
		}
		got := byRecipient(t, srv.WaitFor(t, 8, waitForMail))
		if len(got["ann.approver@example.nhs.uk"]) != 2 || len(got["mo.approver@example.nhs.uk"]) != 1 {
			t.Fatalf("Approvers got %d and %d messages, want 2 and 1", len(got["ann.approver@example.nhs.uk"]), len(got["mo.approver@example.nhs.uk"]))
		}
		assertContains(t, "My Access request", got["ann.approver@example.nhs.uk"][1].Text, "Ivy Court (LOC-3)")
		rita := got["rita.requester@example.com"]
		var subjects []string
		for _, m := range rita {
			subjects = append(subjects, m.Subject)
		}
		want := []string{
			"Capacity Tracker: set your password",
			"Capacity Tracker: your access to Sunrise Care Ltd has been approved",
			"Capacity Tracker: your request for access to Meadow Homes was not approved",
			"Capacity Tracker: your password expires in 14 days",
			"Capacity Tracker: your account has been locked",
		}
		if strings.Join(subjects, "\n") != strings.Join(want, "\n") {
			t.Fatalf("Rita's subjects:\n%s\nwant:\n%s", strings.Join(subjects, "\n"), strings.Join(want, "\n"))
		}
		loc := london(t)
		assertContains(t, "granted", rita[1].Text, "Ivy Court (LOC-3)", "Log in at "+testPublicURL)
		assertLacks(t, "granted", rita[1].Text, "Rose House")
		assertContains(t, "rejected", rita[2].Text, "Oak Lodge (LOC-2)", "The reason given was: You do not work at Oak Lodge")
		assertContains(t, "reminder", rita[3].Text, "expires in 14 days", pwExpires.In(loc).Format("15:04 on Monday 2 January 2006"))
		assertContains(t, "locked", rita[4].Text, "wrong password", lockedUntil.In(loc).Format("15:04 on Monday 2 January 2006"))
		for _, m := range rita {
			assertContains(t, m.Subject, m.Text, "Capacity Tracker Support Centre")
		}
	})
}

func TestMailDispatcher_SendsEachMessageOnceAcrossPassesAndRebuilds(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		w.organisation("ORG-1", "Sunrise Care Ltd")
		w.location("LOC-1", "ORG-1", "Sunrise Care Ltd", "Rose House")
		w.approver("ORG-1", "LOC-1", "ann.approver@example.nhs.uk", "Ann Approver")
		r := w.register("rita.requester@example.com", "Rita Requester", "Care Manager", grant("LOC-1", "ORG-1"))
		w.approve(r, "ORG-1", []string{"LOC-1"}, uuid.New(), time.Now().Add(72*time.Hour))
		w.caughtUp()

		srv := smtptest.Start(t)
		d := w.dispatcher(smtpSender(t, srv))
		if n := dispatch(t, d); n != 2 {
			t.Fatalf("first pass sent %d, want 2", n)
		}
		if n := dispatch(t, d); n != 0 {
			t.Fatalf("second pass sent %d, want 0", n)
		}
		if err := w.e.Rebuild(context.Background(), "mail_outbox", nil); err != nil {
			t.Fatal(err)
		}
		w.caughtUp()
		if got := len(outboxParams(t, h)); got != 2 {
			t.Fatalf("rebuilt outbox has %d rows, want the same 2", got)
		}
		if n := dispatch(t, d); n != 0 {
			t.Fatalf("pass after the rebuild sent %d, want 0", n)
		}
		// What comes after the rebuild is sent as usual.
		reset := w.appendUser(r.user, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
			ExpiresAt: time.Now().Add(time.Hour)})
		w.caughtUp()
		if n := dispatch(t, d); n != 1 {
			t.Fatalf("pass after a new event sent %d, want 1", n)
		}
		msgs := srv.WaitFor(t, 3, waitForMail)
		if len(msgs) != 3 {
			t.Fatalf("server got %d messages, want 3", len(msgs))
		}
		id := mailoutbox.MessageID(reset[0], mailoutbox.ResetPassword, r.user.String(), "")
		if got := messageID(msgs[2]); got != wantMessageID(id) {
			t.Errorf("Message-ID %q, want %q", got, wantMessageID(id))
		}
		dl, ok := readDelivery(t, h, id)
		if !ok || dl.status != mailoutbox.DeliverySent || dl.attempts != 1 || dl.sentAt == nil {
			t.Errorf("delivery %+v (found %v), want sent after 1 attempt", dl, ok)
		}
	})
}

func TestMailDispatcher_RetriesTemporaryFailureAfterBackoffButNotPermanentOne(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		links := map[string]uuid.UUID{} // message id by email
		for _, email := range []string{"ok@example.nhs.uk", "busy@example.nhs.uk", "unknown@example.nhs.uk"} {
			u := w.support(email, "Someone")
			ids := w.appendUser(u, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
				ExpiresAt: time.Now().Add(time.Hour)})
			links[email] = uuid.MustParse(mailoutbox.MessageID(ids[0], mailoutbox.ResetPassword, u.String(), ""))
		}
		w.caughtUp()

		refusing := smtptest.StartWithOptions(t, smtptest.Options{RejectRcpt: map[string]int{
			"busy@example.nhs.uk": 451, "unknown@example.nhs.uk": 550}})
		sender := &switchSender{}
		sender.set(smtpSender(t, refusing))
		d := w.dispatcher(sender, func(c *mailer.Config) {
			c.Backoff = func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute }
		})
		start := w.clock.Now()
		if n := dispatch(t, d); n != 1 {
			t.Fatalf("sent %d, want 1 (ok@)", n)
		}
		busy, _ := readDelivery(t, h, links["busy@example.nhs.uk"].String())
		if busy.status != mailoutbox.DeliveryPending || busy.attempts != 1 ||
			busy.nextAttempt != start.Add(time.Minute).UnixMilli() || !strings.Contains(busy.lastError, "451") {
			t.Fatalf("busy@ after a 451: %+v, want pending, 1 attempt, retry in a minute", busy)
		}
		unknown, _ := readDelivery(t, h, links["unknown@example.nhs.uk"].String())
		if unknown.status != mailoutbox.DeliveryFailed || unknown.attempts != 1 || !strings.Contains(unknown.lastError, "550") {
			t.Fatalf("unknown@ after a 550: %+v, want failed", unknown)
		}

		// Nothing is due before the backoff has passed.
		w.clock.Advance(59 * time.Second)
		if n := dispatch(t, d); n != 0 || sender.tries("busy@example.nhs.uk") != 1 {
			t.Fatalf("before the backoff: sent %d, busy@ tried %d times, want 0 and 1", n, sender.tries("busy@example.nhs.uk"))
		}
		// The second try fails too and waits twice as long.
		w.clock.Advance(time.Second)
		if n := dispatch(t, d); n != 0 || sender.tries("busy@example.nhs.uk") != 2 {
			t.Fatalf("after the backoff: sent %d, busy@ tried %d times, want 0 and 2", n, sender.tries("busy@example.nhs.uk"))
		}
		busy, _ = readDelivery(t, h, links["busy@example.nhs.uk"].String())
		if busy.attempts != 2 || busy.nextAttempt != w.clock.Now().Add(2*time.Minute).UnixMilli() {
			t.Fatalf("busy@ after the second 451: %+v", busy)
		}
		// The relay recovers.
		accepting := smtptest.Start(t)
		sender.set(smtpSender(t, accepting))
		w.clock.Advance(2 * time.Minute)
		if n := dispatch(t, d); n != 1 {
			t.Fatalf("after the relay recovered: sent %d, want 1", n)
		}
		got := accepting.WaitFor(t, 1, waitForMail)
		if len(got) != 1 || got[0].To[0] != "busy@example.nhs.uk" {
			t.Fatalf("the recovered relay got %d messages (%v), want busy@'s", len(got), got)
		}
		if id := messageID(got[0]); id != wantMessageID(links["busy@example.nhs.uk"].String()) {
			t.Errorf("retried message has Message-ID %q", id)
		}
		busy, _ = readDelivery(t, h, links["busy@example.nhs.uk"].String())
		if busy.status != mailoutbox.DeliverySent || busy.attempts != 3 {
			t.Errorf("busy@ after the retry: %+v, want sent after 3 attempts", busy)
		}
		// The permanent refusal is never tried again.
		w.clock.Advance(30 * time.Minute)
		if n := dispatch(t, d); n != 0 || sender.tries("unknown@example.nhs.uk") != 1 {
			t.Fatalf("sent %d, unknown@ tried %d times, want 0 and 1", n, sender.tries("unknown@example.nhs.uk"))
		}
		if len(refusing.Messages()) != 1 || len(accepting.Messages()) != 1 {
			t.Errorf("relays got %d and %d messages, want 1 each", len(refusing.Messages()), len(accepting.Messages()))
		}
	})
}

func TestMailDispatcher_GivesUpAfterMaxAttempts(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		u := w.support("busy@example.nhs.uk", "Busy Person")
		ids := w.appendUser(u, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
			ExpiresAt: time.Now().Add(time.Hour)})
		id := mailoutbox.MessageID(ids[0], mailoutbox.ResetPassword, u.String(), "")
		w.caughtUp()
		srv := smtptest.StartWithOptions(t, smtptest.Options{RejectRcpt: map[string]int{"busy@example.nhs.uk": 421}})
		sender := &switchSender{}
		sender.set(smtpSender(t, srv))
		d := w.dispatcher(sender, func(c *mailer.Config) {
			c.MaxAttempts = 3
			c.Backoff = func(int) time.Duration { return time.Second }
		})
		for range 5 {
			dispatch(t, d)
			w.clock.Advance(time.Second)
		}
		if n := sender.tries("busy@example.nhs.uk"); n != 3 {
			t.Errorf("tried %d times, want 3", n)
		}
		if dl, _ := readDelivery(t, h, id); dl.status != mailoutbox.DeliveryFailed || dl.attempts != 3 {
			t.Errorf("delivery %+v, want failed after 3 attempts", dl)
		}
	})
}

func TestMailDispatcher_ConcurrentDispatchersSendEachMessageOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		const users = 30
		for i := range users {
			u := w.support(fmt.Sprintf("user%02d@example.nhs.uk", i), fmt.Sprintf("User %02d", i))
			w.appendUser(u, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
				ExpiresAt: time.Now().Add(time.Hour)})
		}
		w.caughtUp()
		srv := smtptest.Start(t)
		// Two servers: each its own connection pool.
		var second projections.Backend
		switch s := h.store.(type) {
		case *postgres.Store:
			pool, err := pgxpool.New(context.Background(), s.Pool().Config().ConnString())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			second = projections.NewPostgresBackend(postgres.New(pool))
		case *sqlite.Store:
			second = projections.NewSQLiteBackend(s.DB(), s)
		default:
			t.Fatalf("store %T", h.store)
		}
		small := func(c *mailer.Config) { c.Batch = 4 }
		ds := []*mailer.Dispatcher{
			w.dispatcher(smtpSender(t, srv), small),
			w.dispatcherOn(second, smtpSender(t, srv), small),
		}
		var wg sync.WaitGroup
		sent := make([]int, len(ds))
		errs := make([]error, len(ds))
		for i, d := range ds {
			wg.Go(func() {
				for {
					n, err := d.DispatchOnce(context.Background())
					if err != nil {
						errs[i] = err
						return
					}
					if n == 0 {
						return
					}
					sent[i] += n
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		// One may have stopped while the other still held leases.
		for {
			n := dispatch(t, ds[0])
			if n == 0 {
				break
			}
			sent[0] += n
		}
		t.Logf("dispatchers sent %d and %d", sent[0], sent[1])
		if sent[0]+sent[1] != users {
			t.Errorf("dispatchers sent %d + %d, want %d in all", sent[0], sent[1], users)
		}
		msgs := srv.WaitFor(t, users, waitForMail)
		seen := map[string]bool{}
		for _, m := range msgs {
			if seen[messageID(m)] {
				t.Errorf("message %s sent twice", messageID(m))
			}
			seen[messageID(m)] = true
		}
		if len(msgs) != users {
			t.Errorf("server got %d messages, want %d", len(msgs), users)
		}
	})
}

func TestMailDispatcher_DirSenderWritesMessagesAsEmlFiles(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		u := w.support("sam.support@example.nhs.uk", "Sam Support")
		link := uuid.New()
		ids := w.appendUser(u, account.PasswordLinkIssued{LinkID: link, Purpose: account.LinkSetPassword,
			ExpiresAt: time.Now().Add(72 * time.Hour)})
		w.caughtUp()
		dir := filepath.Join(t.TempDir(), "data", "mail")
		d := w.dispatcher(mailer.DirSender{Dir: dir})
		if n := dispatch(t, d); n != 1 {
			t.Fatalf("sent %d, want 1", n)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
		if err != nil || len(files) != 1 {
			t.Fatalf("files %v (%v), want one .eml", files, err)
		}
		raw, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("parse %s: %v", files[0], err)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "sam.support@example.nhs.uk" || to[0].Name != "Sam Support" {
			t.Errorf("To %v (%v)", to, err)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if subject != "Capacity Tracker: set your password" {
			t.Errorf("Subject %q", subject)
		}
		if got, want := msg.Header.Get("Message-Id"), wantMessageID(mailoutbox.MessageID(ids[0], mailoutbox.SetPassword, u.String(), "")); got != want {
			t.Errorf("Message-ID %q, want %q", got, want)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		assertContains(t, "eml body", string(body), testPublicURL+"/set-password?token="+account.LinkToken(w.key, u, link))
	})
}

func TestMailDispatcher_SkipsErasedOldAndOutOfDateMessages(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		// Erased before the projection ever saw the address.
		erased := w.support("erased@example.nhs.uk", "Erased Person")
		ids := w.appendUser(erased, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
			ExpiresAt: time.Now().Add(time.Hour)})
		erasedID := mailoutbox.MessageID(ids[0], mailoutbox.ResetPassword, erased.String(), "")
		if err := h.store.ForgetSubject(context.Background(), account.Subject(erased)); err != nil {
			t.Fatal(err)
		}
		w.start()
		sam := w.support("sam.support@example.nhs.uk", "Sam Support")
		ids = w.appendUser(sam, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
			ExpiresAt: time.Now().Add(time.Hour)})
		expiredID := mailoutbox.MessageID(ids[0], mailoutbox.ResetPassword, sam.String(), "")
		ids = w.appendLogin(sam, account.AccountLocked{Until: time.Now().Add(24 * time.Hour), Failures: 5})
		lockedID := mailoutbox.MessageID(ids[0], mailoutbox.AccountLocked, sam.String(), "")
		w.caughtUp()

		srv := smtptest.Start(t)
		d := w.dispatcher(smtpSender(t, srv), func(c *mailer.Config) { c.MaxAge = 3 * time.Hour })
		w.clock.Advance(2 * time.Hour) // the reset links have run out
		if n := dispatch(t, d); n != 1 {
			t.Fatalf("sent %d, want 1 (the lock)", n)
		}
		for id, want := range map[string]string{erasedID: "no address", expiredID: "out of date"} {
			if dl, _ := readDelivery(t, h, id); dl.status != mailoutbox.DeliveryFailed || !strings.Contains(dl.lastError, want) {
				t.Errorf("delivery %+v, want failed: %s", dl, want)
			}
		}
		if dl, _ := readDelivery(t, h, lockedID); dl.status != mailoutbox.DeliverySent {
			t.Errorf("lock's delivery %+v, want sent", dl)
		}
		// An event older than MaxAge is not sent.
		w.clock.Advance(2 * time.Hour)
		ids = w.appendLogin(sam, account.AccountLocked{Until: time.Now().Add(24 * time.Hour), Failures: 5})
		w.caughtUp()
		if n := dispatch(t, d); n != 0 {
			t.Fatalf("sent %d, want 0", n)
		}
		if dl, _ := readDelivery(t, h, mailoutbox.MessageID(ids[0], mailoutbox.AccountLocked, sam.String(), "")); dl.status != mailoutbox.DeliveryFailed || !strings.Contains(dl.lastError, "too old") {
			t.Errorf("old event's delivery %+v, want failed: too old", dl)
		}
		if got := srv.Messages(); len(got) != 1 {
			t.Errorf("server got %d messages, want 1", len(got))
		}
	})
}

// TestMailDispatcher_SendsNothingToAPersonErasedAfterTheirMailWasQueued:
// the outbox saw the user's address and queued a message; then the user is
// erased (their key deleted, PersonErased appended). Once the projection
// applied the erasure its directory holds no address of them, and the
// queued message is never sent.
func TestMailDispatcher_SendsNothingToAPersonErasedAfterTheirMailWasQueued(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		w.start()
		gone := w.support("gone.soon@example.nhs.uk", "Gone Soon")
		ids := w.appendUser(gone, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
			ExpiresAt: time.Now().Add(time.Hour)})
		queued := mailoutbox.MessageID(ids[0], mailoutbox.ResetPassword, gone.String(), "")
		w.caughtUp()

		if err := h.store.ForgetSubject(context.Background(), account.Subject(gone)); err != nil {
			t.Fatal(err)
		}
		id := uuid.NewString()
		ev, err := eventstore.NewEvent(erasure.TypePersonErased, erasure.PersonErased{ErasureID: id, Kind: erasure.KindUser,
			Subject: account.Subject(gone), UserID: gone.String(), RequestedBy: "the user", Reason: "right to erasure"},
			eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		w.appendRaw(erasure.Stream(id), ev)
		w.caughtUp()

		srv := smtptest.Start(t)
		if n := dispatch(t, w.dispatcher(smtpSender(t, srv))); n != 0 {
			t.Fatalf("sent %d messages, want none", n)
		}
		if dl, _ := readDelivery(t, h, queued); dl.status != mailoutbox.DeliveryFailed || !strings.Contains(dl.lastError, "no address") {
			t.Errorf("the queued message's delivery %+v, want failed: no address", dl)
		}
		if got := srv.Messages(); len(got) != 0 {
			t.Errorf("the server got %d messages", len(got))
		}
	})
}

func TestMailDispatcher_RunSendsUntilCancelled(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *harness) {
		w := newMailWorld(t, h)
		srv := smtptest.Start(t)
		d := w.dispatcher(smtpSender(t, srv), func(c *mailer.Config) {
			c.Clock = time.Now
			c.PollInterval = 20 * time.Millisecond
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		// Started before the projection has created its tables.
		go func() { done <- d.Run(ctx) }()
		w.start()
		u := w.support("sam.support@example.nhs.uk", "Sam Support")
		w.appendUser(u, account.PasswordLinkIssued{LinkID: uuid.New(), Purpose: account.LinkResetPassword,
			ExpiresAt: time.Now().Add(time.Hour)})
		got := srv.WaitFor(t, 1, waitForMail)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got[0].Subject != "Capacity Tracker: reset your password" {
			t.Errorf("subject %q", got[0].Subject)
		}
	})
}

func TestDefaultMailBackoff_DoublesFromThirtySecondsUpToAnHour(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		attempt int
		base    time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {7, 32 * time.Minute}, {8, time.Hour}, {9, time.Hour}, {50, time.Hour}} {
		base := min(c.base, time.Hour)
		for range 100 {
			d := mailer.DefaultBackoff(c.attempt)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("attempt %d: backoff %v, want %v give or take a fifth", c.attempt, d, base)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
