package jobs_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer/smtptest"
	"github.com/capacitytracker/capacity/cmd/internal/jobs"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/views"
	"github.com/capacitytracker/capacity/queries"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openStore opens a fresh store of the backend with its projection backend.
func openStore(t *testing.T, backend string) (commands.Store, projections.Backend) {
	return projtest.Open(t, backend)
}

// reminderWorld is one backend with the projections running, a location
// with two imported managers whose passwords were set at the same moment
// (so they expire together), one of them deactivated since.
type reminderWorld struct {
	t        *testing.T
	store    commands.Store
	pb       projections.Backend
	engine   *projections.Engine
	accounts *commands.Service
	queries  queries.Service
	clock    *projtest.Clock
	logger   *slog.Logger

	active, deactivated uuid.UUID
	expiresAt           time.Time
}

func newReminderWorld(t *testing.T, backend string) *reminderWorld {
	t.Helper()
	ctx := context.Background()
	store, pb := openStore(t, backend)
	logger := projtest.CaptureLog(t, slog.LevelInfo)
	clock := projtest.NewClock(time.Now().UTC().Truncate(time.Second))
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	a, err := commands.New(ctx, store, cfg, clock.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := projections.NewEngine(pb, logger, views.Default()...)
	if err != nil {
		t.Fatal(err)
	}
	projtest.RunEngine(t, engine)
	w := &reminderWorld{
		t: t, store: store, pb: pb, engine: engine, accounts: a, clock: clock, logger: logger,
		queries: queries.Service{ReadModels: projections.NewReadModels(pb), Waiter: engine},
	}

	sys := commands.System("test")
	if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "1-100", Name: "Cranberry Care Services", Type: "home_care"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: "1-200", OrganisationID: "1-100", Name: "Cranberry Home Care", Postcode: "NN1 1NN"}); err != nil {
		t.Fatal(err)
	}
	w.active = w.manager("Jane Manager", "jane.manager@cranberry.example")
	w.deactivated = w.manager("Lea Ver", "lea.ver@cranberry.example")
	res, err := a.Deactivate(ctx, sys, w.deactivated, "left")
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.LoadUser(ctx, w.active)
	if err != nil {
		t.Fatal(err)
	}
	if !u.HasPassword || !u.PasswordExpiresAt.Equal(clock.Now().Add(cfg.PasswordMaxAge)) {
		t.Fatalf("user = %+v, want a password expiring in %s", u, cfg.PasswordMaxAge)
	}
	w.expiresAt = u.PasswordExpiresAt
	w.sync(res.Position)
	return w
}

// manager imports a registered manager and sets their password through the
// set-password link, as the emailed link would.
func (w *reminderWorld) manager(name, email string) uuid.UUID {
	w.t.Helper()
	ctx := context.Background()
	if _, _, err := w.accounts.ImportManager(ctx, commands.System("test"), account.ImportManager{
		LocationID: "1-200", FullName: name, Email: email, Phone: "01632 960001"}); err != nil {
		w.t.Fatal(err)
	}
	var id uuid.UUID
	for _, ev := range w.stream(account.EmailStream(account.MustEmail(email))) {
		if d, err := account.Decode(ev.Type, ev.Data); err == nil {
			if c, ok := d.(account.EmailClaimed); ok {
				id = c.UserID
			}
		}
	}
	var link uuid.UUID
	for _, ev := range w.stream(account.UserStream(id)) {
		if d, err := account.Decode(ev.Type, ev.Data); err == nil {
			if l, ok := d.(account.PasswordLinkIssued); ok {
				link = l.LinkID
			}
		}
	}
	if id == uuid.Nil || link == uuid.Nil {
		w.t.Fatalf("%s: user %s, link %s", email, id, link)
	}
	if _, err := w.accounts.SetPasswordWithLink(ctx, commands.Request{}, account.LinkToken(w.accounts.LinkKey(), id, link), "Tide-"+uuid.NewString()[:8]+"-Orchard"); err != nil {
		w.t.Fatalf("set the password of %s: %v", email, err)
	}
	return id
}

func (w *reminderWorld) stream(id string) []eventstore.Event {
	w.t.Helper()
	evs, err := w.store.ReadStream(context.Background(), id, eventstore.ReadStreamOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// sync waits, bounded, until every projection has applied the log up to
// pos. A PostgreSQL server shared with other tests can hold the gap-safe
// head back for longer than one WaitFor: only ErrNotCaughtUp is retried.
func (w *reminderWorld) sync(pos int64) {
	w.t.Helper()
	projtest.WaitFor(w.t, w.engine, pos, 30*time.Second)
}

// remind runs the job at the clock's time and returns how many reminders
// it recorded.
func (w *reminderWorld) remind() int {
	w.t.Helper()
	n, err := jobs.PasswordReminders(context.Background(), w.queries, w.accounts, w.clock.Now(), w.logger)
	if err != nil {
		w.t.Fatalf("password reminders: %v", err)
	}
	return n
}

// reminders are the reminder events of a user's stream, in order.
func (w *reminderWorld) reminders(id uuid.UUID) []account.PasswordExpiryReminderDue {
	w.t.Helper()
	var out []account.PasswordExpiryReminderDue
	for _, ev := range w.stream(account.UserStream(id)) {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			w.t.Fatal(err)
		}
		if r, ok := d.(account.PasswordExpiryReminderDue); ok {
			out = append(out, r)
		}
	}
	return out
}

// wantReminders fails the test unless the user's reminders are for the
// days, in order, of the current password.
func (w *reminderWorld) wantReminders(id uuid.UUID, days ...int) {
	w.t.Helper()
	got := w.reminders(id)
	ok := len(got) == len(days)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].DaysBefore == days[i] && got[i].ExpiresAt.Equal(w.expiresAt)
	}
	if !ok {
		w.t.Errorf("reminders of %s = %+v, want days %v before %s", id, got, days, w.expiresAt)
	}
}

const day = 24 * time.Hour

func TestPasswordReminders_RemindOncePerWindowAndMailTheReminders(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			w := newReminderWorld(t, backend)
			step := func(name string, fn func(t *testing.T)) {
				t.Helper()
				if !t.Run(name, func(t *testing.T) {
					parent := w.t
					w.t = t
					defer func() { w.t = parent }()
					fn(t)
				}) {
					t.FailNow()
				}
			}

			step("NothingIsDueMoreThan14DaysBefore", func(t *testing.T) {
				w.clock.Set(w.expiresAt.Add(-14*day - time.Hour))
				if n := w.remind(); n != 0 {
					t.Errorf("the job recorded %d reminders 14 days and an hour before expiry, want none", n)
				}
				w.wantReminders(w.active)
			})

			for _, days := range []int{14, 7, 1} {
				step("RemindsOnce"+strconv.Itoa(days)+"DaysBefore", func(t *testing.T) {
					w.clock.Set(w.expiresAt.Add(-time.Duration(days)*day + time.Minute))
					if n := w.remind(); n != 1 {
						t.Errorf("the job recorded %d reminders %d days before expiry, want 1", n, days)
					}
					if n := w.remind(); n != 0 {
						t.Errorf("the job run again recorded %d reminders, want none", n)
					}
					// Later in the same window: still nothing new.
					w.clock.Set(w.clock.Now().Add(time.Hour))
					if n := w.remind(); n != 0 {
						t.Errorf("the job an hour later recorded %d reminders, want none", n)
					}
				})
			}
			w.wantReminders(w.active, 14, 7, 1)

			step("ADeactivatedUserGetsNone", func(t *testing.T) {
				w.wantReminders(w.deactivated)
				// Not even when asked for directly, past the read model.
				ok, err := w.accounts.RemindPasswordExpiry(context.Background(), commands.System("test"), w.deactivated)
				if err != nil || ok {
					t.Errorf("RemindPasswordExpiry of a deactivated user = %v, %v; want false", ok, err)
				}
				w.wantReminders(w.deactivated)
			})

			step("TheRemindersAreEmailed", func(t *testing.T) {
				srv := smtptest.Start(t)
				sender, err := mailer.NewSMTPSender(mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSNone})
				if err != nil {
					t.Fatal(err)
				}
				d, err := mailer.New(mailoutbox.NewDeliveries(w.pb), mailer.Config{
					Sender:    sender,
					From:      mailer.Address{Name: "Capacity Tracker", Email: "noreply@capacitytracker.example.nhs.uk"},
					PublicURL: "https://capacitytracker.example.nhs.uk",
					LinkKey:   w.accounts.LinkKey(),
					Clock:     w.clock.Now,
					// The clock is nearly a year ahead of the events'
					// recorded (real) times: without a longer MaxAge
					// every message would be too old to send.
					MaxAge:   2 * 365 * day,
					TimeZone: time.UTC,
				}, w.logger)
				if err != nil {
					t.Fatal(err)
				}
				evs := w.stream(account.UserStream(w.active))
				w.sync(evs[len(evs)-1].Position)
				for range 20 {
					n, err := d.DispatchOnce(context.Background())
					if err != nil {
						t.Fatalf("dispatch: %v", err)
					}
					if n == 0 {
						break
					}
				}
				var subjects []string
				for _, m := range srv.Messages() {
					if !strings.Contains(m.Subject, "password expires") {
						continue
					}
					if len(m.To) != 1 || m.To[0] != "jane.manager@cranberry.example" {
						t.Errorf("a reminder went to %v: %q", m.To, m.Subject)
						continue
					}
					subjects = append(subjects, m.Subject)
					when := w.expiresAt.Format("15:04 on Monday 2 January 2006")
					if !strings.Contains(m.Text, "Dear Jane Manager,") || !strings.Contains(m.Text, "Your Capacity Tracker password expires in ") ||
						!strings.Contains(m.Text, when) || !strings.Contains(m.Text, "https://capacitytracker.example.nhs.uk") {
						t.Errorf("reminder %q says:\n%s\nwant the expiry (%s) and where to change the password", m.Subject, m.Text, when)
					}
				}
				want := []string{
					"Capacity Tracker: your password expires in 14 days",
					"Capacity Tracker: your password expires in 7 days",
					"Capacity Tracker: your password expires in 1 day",
				}
				if strings.Join(subjects, "\n") != strings.Join(want, "\n") {
					t.Errorf("reminder emails = %q, want %q", subjects, want)
				}
			})

			step("NothingIsDueOnceThePasswordHasExpired", func(t *testing.T) {
				w.clock.Set(w.expiresAt.Add(time.Minute))
				if n := w.remind(); n != 0 {
					t.Errorf("the job recorded %d reminders after expiry, want none", n)
				}
				w.wantReminders(w.active, 14, 7, 1)
			})
		})
	}
}
