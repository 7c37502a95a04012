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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
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

// Request describes where a command came from: the fields of every event's
// metadata that do not depend on who acted.
type Request struct {
	CorrelationID string
	ClientIP      string
	UserAgent     string
}

// Actor is an authenticated caller: the user as loaded at the start of the
// request, and the login it acts through.
type Actor struct {
	User      account.User
	SessionID string // the login session, or "token:<id>" for an API token
	Request
	// DisclaimerPending: a generic account's session that has not
	// acknowledged the disclaimer may not change anything.
	DisclaimerPending bool
	// PasswordChangeRequired: the password expired or was issued by
	// support; the caller may read, but the only change it may make is
	// the password (ChangePassword; Logout ends the session).
	PasswordChangeRequired bool
}

// System is the actor of operator commands (capacityctl).
func System(command string) Actor {
	return Actor{User: account.User{ID: uuid.Nil, Version: 1, Status: account.Active, Role: account.Support}, SessionID: "system:" + command}
}

func (a Actor) isSystem() bool { return a.User.ID == uuid.Nil && a.User.Role == account.Support }

// Errors of the session gate.
var (
	ErrDisclaimerRequired     = &domain.RuleError{Code: "disclaimer_required", Message: "acknowledge the generic account disclaimer before making changes"}
	ErrPasswordChangeRequired = &domain.RuleError{Code: "password_change_required", Message: "change your password before doing anything else"}
)

// mayChange is the gate of every command that changes something.
func (a Actor) mayChange() error {
	switch {
	case a.DisclaimerPending:
		return ErrDisclaimerRequired
	case a.PasswordChangeRequired:
		return ErrPasswordChangeRequired
	}
	return nil
}

func (a Actor) metadata(command string) eventstore.Metadata {
	kind := eventstore.AccountPersonal
	switch {
	case a.isSystem():
		kind = eventstore.AccountSystem
	case a.User.Kind == account.Generic:
		kind = eventstore.AccountGeneric
	}
	actorID := ""
	if a.User.ID != uuid.Nil {
		actorID = a.User.ID.String()
	}
	return eventstore.Metadata{
		CorrelationID:    a.CorrelationID,
		ActorUserID:      actorID,
		ActorAccountKind: kind,
		SessionID:        a.SessionID,
		ClientIP:         a.ClientIP,
		UserAgent:        a.UserAgent,
		Command:          command,
	}
}

// anonymous is the metadata of a command without a login (registration,
// login, password reset).
func anonymous(r Request, command string, userID uuid.UUID) eventstore.Metadata {
	m := eventstore.Metadata{CorrelationID: r.CorrelationID, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
		Command: command, ActorAccountKind: eventstore.AccountPersonal}
	if userID != uuid.Nil {
		m.ActorUserID = userID.String()
	}
	return m
}

// encode turns domain events into events to append, sealing their personal
// fields under subject.
func encode(meta eventstore.Metadata, subject string, evs ...any) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, 0, len(evs))
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}
	for _, ev := range evs {
		typed, ok := ev.(interface{ EventType() string })
		if !ok {
			return nil, fmt.Errorf("encode %T: no event type", ev)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", typed.EventType(), err)
		}
		ed := eventstore.EventData{ID: uuid.New(), Type: typed.EventType(), Data: data, Metadata: meta}
		if p, ok := ev.(account.PersonalData); ok && subject != "" {
			for _, path := range p.PersonalPaths() {
				ed.Personal = append(ed.Personal, eventstore.PersonalField{Path: path, Subject: subject})
			}
		}
		out = append(out, ed)
	}
	return out, nil
}

func encodeAccount(meta eventstore.Metadata, subject string, evs []account.Event) ([]eventstore.EventData, error) {
	anys := make([]any, len(evs))
	for i, e := range evs {
		anys[i] = e
	}
	return encode(meta, subject, anys...)
}

// --- loading aggregates -----------------------------------------------------

func (a *Accounts) readStream(ctx context.Context, stream string, apply func(ev eventstore.Event) error) error {
	evs, err := a.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	for _, ev := range evs {
		if err := apply(ev); err != nil {
			return fmt.Errorf("%s version %d: %w", stream, ev.Version, err)
		}
	}
	return nil
}

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

// retry runs a decide-and-append step again when a stream it read changed
// before its append (another request won the race): the step reloads and
// decides on the new state.
func retry(ctx context.Context, step func() error) error {
	var err error
	for attempt := range retryAttempts {
		err = step()
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || ctx.Err() != nil {
			return err
		}
		// A short random pause spreads out requests that keep colliding
		// on one stream (a burst of logins to one account, say).
		pause := time.Duration(mathrand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return err
}

// retryAttempts bounds how often a command decides again after losing a race.
const retryAttempts = 10

// Result is what a command appended: the position of its last event, for
// read-your-writes queries.
type Result struct {
	Position int64 `json:"position"`
}

func lastPosition(rs []eventstore.AppendResult) int64 {
	var p int64
	for _, r := range rs {
		p = max(p, r.LastPosition())
	}
	return p
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
