package commands_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/projections/projtest"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/eventstore/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend names a database the tests run on.
type backend struct{ name string }

// open opens a fresh, migrated database of the backend.
func (b backend) open(tb testing.TB) commands.Store {
	store, _ := projtest.Open(tb, b.name)
	return store
}

var backends = []backend{{projtest.Postgres}, {projtest.SQLite}}

// fixture is an organisation with one location and its Approver, whose
// password is set.
type fixture struct {
	store    commands.Store
	accounts *commands.Service
	approver uuid.UUID
	locID    string
}

const approverPassword = "correct horse battery staple"

func newFixture(tb testing.TB, b backend, params password.Params) fixture {
	tb.Helper()
	ctx := context.Background()
	store := b.open(tb)
	cfg := commands.DefaultConfig()
	cfg.Hash = params
	a, err := commands.New(ctx, store, cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	sys := commands.System("test")
	if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "1-100", Name: "Cranberry Care Services", Type: "home_care"}); err != nil {
		tb.Fatal(err)
	}
	if _, err := a.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: "1-200", OrganisationID: "1-100", Name: "Cranberry Home Care", Postcode: "NN1 1NN"}); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := a.ImportManager(ctx, sys, account.ImportManager{LocationID: "1-200", FullName: "Jane Manager", Email: "jane@cranberry.example"}); err != nil {
		tb.Fatal(err)
	}
	id := userByEmail(tb, a, store, "jane@cranberry.example")
	setPassword(tb, a, store, id, approverPassword)
	return fixture{store: store, accounts: a, approver: id, locID: "1-200"}
}

// userByEmail finds the user holding an address through the email stream.
func userByEmail(tb testing.TB, a *commands.Service, store commands.Store, email string) uuid.UUID {
	tb.Helper()
	evs, err := store.ReadStream(context.Background(), account.EmailStream(account.MustEmail(email)), eventstore.ReadStreamOptions{})
	if err != nil || len(evs) == 0 {
		tb.Fatalf("email stream of %s: %v", email, err)
	}
	ev, err := account.Decode(evs[len(evs)-1].Type, evs[len(evs)-1].Data)
	if err != nil {
		tb.Fatal(err)
	}
	return ev.(account.EmailClaimed).UserID
}

// setPassword uses the user's latest link, as the emailed link would.
func setPassword(tb testing.TB, a *commands.Service, store commands.Store, id uuid.UUID, pw string) {
	tb.Helper()
	ctx := context.Background()
	evs, err := store.ReadStream(ctx, account.UserStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	var link uuid.UUID
	for _, ev := range evs {
		if ev.Type == "PasswordLinkIssued" {
			d, _ := account.Decode(ev.Type, ev.Data)
			link = d.(account.PasswordLinkIssued).LinkID
		}
	}
	if _, err := a.SetPasswordWithLink(ctx, commands.Request{}, account.LinkToken(a.LinkKey(), id, link), pw); err != nil {
		tb.Fatalf("set password: %v", err)
	}
}

func TestLogin_ConcurrentWrongPasswordsLockOnceAndCountEveryAttempt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, b, password.FastParams())
			ctx := context.Background()
			const attempts = 12
			var wg sync.WaitGroup
			errs := make(chan error, attempts)
			for i := range attempts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.accounts.Login(ctx, commands.Request{ClientIP: fmt.Sprintf("10.0.0.%d", i)}, "jane@cranberry.example", "wrong password", false)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, domain.ErrUnauthenticated) {
					t.Fatalf("login error = %v, want ErrUnauthenticated", err)
				}
			}
			evs, err := f.store.ReadStream(ctx, account.LoginStream(f.approver), eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			failed, locked := 0, 0
			for _, ev := range evs {
				switch ev.Type {
				case "LoginFailed":
					failed++
				case "AccountLocked":
					locked++
				}
			}
			if failed != attempts || locked != 1 {
				t.Fatalf("%d LoginFailed and %d AccountLocked, want %d and 1", failed, locked, attempts)
			}
			// Locked: the right password is refused too.
			if _, err := f.accounts.Login(ctx, commands.Request{}, "jane@cranberry.example", approverPassword, false); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("right password on a locked account: %v", err)
			}
		})
	}
}

func TestSecrets_NeverReachTheEventLog(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, b, password.FastParams())
			ctx := context.Background()
			login, err := f.accounts.Login(ctx, commands.Request{}, "jane@cranberry.example", approverPassword, false)
			if err != nil {
				t.Fatal(err)
			}
			actor, err := f.accounts.Authenticate(ctx, login.Token, commands.Request{})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := f.accounts.CreateAPIToken(ctx, actor, "bulk upload")
			if err != nil {
				t.Fatal(err)
			}
			newPassword := "a much better passphrase 42"
			if _, err := f.accounts.ChangePassword(ctx, actor, approverPassword, newPassword); err != nil {
				t.Fatal(err)
			}
			// Stream by stream: ReadAll on PostgreSQL waits for every older
			// transaction of the server, other tests' included.
			streams, err := f.store.ListStreams(ctx, eventstore.ListStreamsOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var all []eventstore.Event
			for _, st := range streams {
				evs, err := f.store.ReadStream(ctx, st.StreamID, eventstore.ReadStreamOptions{})
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, evs...)
			}
			if len(all) < 8 {
				t.Fatalf("only %d events", len(all))
			}
			for _, ev := range all {
				blob := string(ev.Data) + fmt.Sprintf("%+v", ev.Metadata)
				for _, secret := range []string{approverPassword, newPassword, login.Token, tok.Token, "$argon2id$"} {
					if strings.Contains(blob, secret) {
						t.Fatalf("event %s (%s) holds a secret", ev.ID, ev.Type)
					}
				}
			}
		})
	}
}

func TestAuthenticate_IdleAndAbsoluteExpiry(t *testing.T) {
	b := backends[1]
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := b.open(t)
	cfg := commands.DefaultConfig()
	cfg.Hash = password.FastParams()
	a, err := commands.New(context.Background(), store, cfg, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sys := commands.System("test")
	if _, err := a.RegisterOrganisation(ctx, sys, location.RegisterOrganisation{OrganisationID: "o1", Name: "Org One"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterLocation(ctx, sys, location.RegisterLocation{LocationID: "l1", OrganisationID: "o1", Name: "Loc One", Postcode: "NN1 1NN"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.ImportManager(ctx, sys, account.ImportManager{LocationID: "l1", FullName: "Jane Manager", Email: "jane@x.example"}); err != nil {
		t.Fatal(err)
	}
	id := userByEmail(t, a, store, "jane@x.example")
	setPassword(t, a, store, id, approverPassword)

	short, err := a.Login(ctx, commands.Request{}, "jane@x.example", approverPassword, false)
	if err != nil {
		t.Fatal(err)
	}
	long, err := a.Login(ctx, commands.Request{}, "jane@x.example", approverPassword, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // used every 20 minutes: stays alive
		advance(20 * time.Minute)
		if _, err := a.Authenticate(ctx, short.Token, commands.Request{}); err != nil {
			t.Fatalf("session used every 20 minutes ended: %v", err)
		}
	}
	advance(31 * time.Minute)
	if _, err := a.Authenticate(ctx, short.Token, commands.Request{}); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("idle session: %v", err)
	}
	advance(29 * 24 * time.Hour)
	if _, err := a.Authenticate(ctx, long.Token, commands.Request{}); err != nil {
		t.Fatalf("remembered session after 29 days: %v", err)
	}
	advance(24 * time.Hour)
	if _, err := a.Authenticate(ctx, long.Token, commands.Request{}); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("remembered session after 30 days: %v", err)
	}
}

// BenchmarkLogin measures one login with the production argon2id
// parameters: the password check dominates.
func BenchmarkLogin(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be, password.DefaultParams())
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.accounts.Login(ctx, commands.Request{}, "jane@cranberry.example", approverPassword, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
		})
	}
}

// BenchmarkRegistrationToFirstLogin measures the whole flow of a new user:
// register, the Approver approves, the user sets a password through the
// link, then logs in (two argon2id hashes: set and verify).
func BenchmarkRegistrationToFirstLogin(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be, password.DefaultParams())
			ctx := context.Background()
			login, err := f.accounts.Login(ctx, commands.Request{}, "jane@cranberry.example", approverPassword, true)
			if err != nil {
				b.Fatal(err)
			}
			approver, err := f.accounts.Authenticate(ctx, login.Token, commands.Request{})
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				email := fmt.Sprintf("carer%d@cranberry.example", i)
				reg, err := f.accounts.Register(ctx, commands.Request{}, account.Register{
					Email: email, FullName: "Carer Person", Phone: "01604 111222", JobTitle: "Carer",
					OrganisationType: "home_care", LocationIDs: []string{f.locID}, TermsAccepted: true,
				})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.accounts.DecideAccess(ctx, approver, reg.UserID, reg.RequestID, "1-100", true, ""); err != nil {
					b.Fatal(err)
				}
				setPassword(b, f.accounts, f.store, reg.UserID, "a long enough passphrase")
				if _, err := f.accounts.Login(ctx, commands.Request{}, email, "a long enough passphrase", false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/flow")
		})
	}
}
