// Package commands is the write side: each command authorises its caller,
// loads the aggregates it needs from the event log, lets the domain decide,
// and appends the resulting events (with any secret rows, in the same
// transaction). It never reads the projections' read models.
package commands

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

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

// Service is the write side of the whole application: every command of
// accounts, organisations, locations, daily updates, surveys, bulk updates,
// imports and erasure is a method of it, in the file of its feature.
type Service struct {
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

// New loads (creating it on first use) the server's link key.
// clock nil means time.Now.
func New(ctx context.Context, store Store, cfg Config, clock func() time.Time, logger *slog.Logger) (*Service, error) {
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
	return &Service{store: store, clock: clock, cfg: cfg, logger: logger, linkKey: key, dummyHash: dummy,
		hashGate: newHashGate(cfg.HashConcurrency, cfg.Hash)}, nil
}

// LinkKey is the key that signs password links, for the mail outbox.
func (a *Service) LinkKey() []byte { return a.linkKey }

// Config is the rules in force.
func (a *Service) Config() Config { return a.cfg }

func (a *Service) now() time.Time { return a.clock().UTC() }

// Now is the commands' clock: the instant a command issued now would be
// decided at (the test clock in tests).
func (a *Service) Now() time.Time { return a.now() }

// serverKey reads a named 32-byte key, generating it the first time.
func serverKey(ctx context.Context, store eventstore.Transactor, name string) ([]byte, error) {
	return eventstore.ServerKey(ctx, store, name)
}
