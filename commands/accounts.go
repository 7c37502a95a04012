// Package commands is the write side: each command authorises its caller,
// loads the aggregates it needs from the event log, lets the domain decide,
// and appends the resulting events (with any secret rows, in the same
// transaction). It never reads the projections' read models.
package commands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// Config holds the account rules that operators may tune.
type Config struct {
	MaxFailedLogins int           // consecutive wrong passwords that lock an account (5)
	LockFor         time.Duration // how long a lock lasts (24h)
	PasswordMaxAge  time.Duration // password expiry (365 days)
	SetLinkTTL      time.Duration // set-password link after approval (72h)
	ResetLinkTTL    time.Duration // forgotten-password link (1h)
	SessionTTL      time.Duration // a session without "remember me" (12h)
	IdleTimeout     time.Duration // ... ends after this long unused (30 min)
	RememberTTL     time.Duration // a "remember me" session (30 days)
	APITokenTTL     time.Duration // a personal API token (365 days)
	Hash            password.Params
	Policy          password.Policy
	// HashConcurrency bounds the argon2id hashes and verifications that
	// run at once (hashgate.go): 0 fills the cores, negative is no bound.
	HashConcurrency int
}

// DefaultConfig is the product's rules.
func DefaultConfig() Config {
	return Config{
		MaxFailedLogins: 5,
		LockFor:         24 * time.Hour,
		PasswordMaxAge:  365 * 24 * time.Hour,
		SetLinkTTL:      72 * time.Hour,
		ResetLinkTTL:    time.Hour,
		SessionTTL:      12 * time.Hour,
		IdleTimeout:     30 * time.Minute,
		RememberTTL:     30 * 24 * time.Hour,
		APITokenTTL:     365 * 24 * time.Hour,
		Hash:            password.DefaultParams(),
		Policy:          password.DefaultPolicy(),
	}
}

// Store is what the commands need of the event store: the log and
// transactions that also write the secret tables.
type Store interface {
	eventstore.Store
	eventstore.Transactor
}

// Accounts runs the account and location commands.
type Accounts struct {
	store   Store
	clock   func() time.Time
	cfg     Config
	logger  *slog.Logger
	linkKey []byte
	// dummyHash is verified against when a login names no account, so that
	// such a login costs as much time as any other.
	dummyHash string
	hashGate  hashGate
}

// NewAccounts loads (creating it on first use) the server's link key.
// clock nil means time.Now.
func NewAccounts(ctx context.Context, store Store, cfg Config, clock func() time.Time, logger *slog.Logger) (*Accounts, error) {
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key, err := serverKey(ctx, store, "password_link_hmac")
	if err != nil {
		return nil, err
	}
	dummy, err := password.Hash(uuid.NewString(), cfg.Hash)
	if err != nil {
		return nil, err
	}
	return &Accounts{store: store, clock: clock, cfg: cfg, logger: logger, linkKey: key, dummyHash: dummy,
		hashGate: newHashGate(cfg.HashConcurrency, cfg.Hash)}, nil
}

// LinkKey is the key that signs password links, for the mail outbox.
func (a *Accounts) LinkKey() []byte { return a.linkKey }

// Config is the rules in force.
func (a *Accounts) Config() Config { return a.cfg }

func (a *Accounts) now() time.Time { return a.clock().UTC() }

// Now is the commands' clock: the instant a command issued now would be
// decided at (the test clock in tests).
func (a *Accounts) Now() time.Time { return a.now() }

// serverKey reads a named 32-byte key, generating it the first time.
func serverKey(ctx context.Context, store eventstore.Transactor, name string) ([]byte, error) {
	return eventstore.ServerKey(ctx, store, name)
}

// --- loading aggregates -----------------------------------------------------

// LoadUser folds a user's stream.
func (a *Accounts) LoadUser(ctx context.Context, id uuid.UUID) (account.User, error) {
	u := account.User{ID: id}
	err := a.readStream(ctx, account.UserStream(id), func(ev eventstore.Event) error {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		u = account.Evolve(u, d)
		return nil
	})
	return u, err
}

func (a *Accounts) loadLogin(ctx context.Context, id uuid.UUID) (account.Login, error) {
	var l account.Login
	err := a.readStream(ctx, account.LoginStream(id), func(ev eventstore.Event) error {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		l = account.EvolveLogin(l, d)
		return nil
	})
	return l, err
}

func (a *Accounts) loadEmail(ctx context.Context, e account.Email) (account.EmailOwner, error) {
	var o account.EmailOwner
	err := a.readStream(ctx, account.EmailStream(e), func(ev eventstore.Event) error {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		o = account.EvolveEmail(o, d)
		return nil
	})
	return o, err
}

func (a *Accounts) loadLocation(ctx context.Context, id string) (location.Location, error) {
	var l location.Location
	if !location.ValidID(id) {
		return l, nil
	}
	err := a.readStream(ctx, location.LocationStream(id), func(ev eventstore.Event) error {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		l = location.EvolveLocation(l, d)
		return nil
	})
	return l, err
}

func (a *Accounts) loadOrganisation(ctx context.Context, id string) (location.Organisation, error) {
	var o location.Organisation
	if !location.ValidID(id) {
		return o, nil
	}
	err := a.readStream(ctx, location.OrganisationStream(id), func(ev eventstore.Event) error {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		o = location.EvolveOrganisation(o, d)
		return nil
	})
	return o, err
}

// loadLocations loads the named locations, for a lookup function of the
// domain's validation.
func (a *Accounts) loadLocations(ctx context.Context, ids []string) (func(string) (location.Location, bool), error) {
	found := map[string]location.Location{}
	if len(ids) > account.MaxLocationsPerRequest {
		ids = ids[:account.MaxLocationsPerRequest+1]
	}
	for _, id := range ids {
		if _, done := found[id]; done {
			continue
		}
		l, err := a.loadLocation(ctx, id)
		if err != nil {
			return nil, err
		}
		found[id] = l
	}
	return func(id string) (location.Location, bool) {
		l, ok := found[id]
		return l, ok && l.Exists()
	}, nil
}

// randomToken returns a new secret token with a prefix, and its SHA-256 as
// stored.
func randomToken(prefix string) (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token), nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func millis(t time.Time) int64 { return t.UnixMilli() }
