package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/projections/mailoutbox"
)

// Defaults of Config.
const (
	DefaultPollInterval = time.Second
	DefaultBatch        = 20
	DefaultMaxAttempts  = 10
	DefaultLease        = 2 * time.Minute
	DefaultMaxAge       = 7 * 24 * time.Hour
)

// Outbox is what the Dispatcher needs of the mail outbox: the messages due,
// read with the names they need, and the record of what became of them.
// mailoutbox.Deliveries is the Outbox of the mail_outbox read model.
type Outbox interface {
	// Claim reserves until leaseUntil up to n messages that are due at
	// now and returns their ids.
	Claim(ctx context.Context, now, leaseUntil time.Time, n int) ([]string, error)
	// Load reads claimed messages and the directory of what they name.
	Load(ctx context.Context, ids []string) ([]mailoutbox.Message, mailoutbox.Directory, error)
	// Record sets a claimed message's outcome and Release gives it back
	// untried; each reports whether the claim (leaseUntil) was still ours.
	Record(ctx context.Context, id string, leaseUntil time.Time, o mailoutbox.Outcome) (bool, error)
	Release(ctx context.Context, id string, leaseUntil time.Time) (bool, error)
}

// Config configures a Dispatcher.
type Config struct {
	// Sender delivers the messages (SMTP, or .eml files). Required.
	Sender Sender
	// From is the sender of every message. Required.
	From Address
	// PublicURL is the address people open the Capacity Tracker at, such as
	// https://capacitytracker.example.nhs.uk; password links are
	// PublicURL/set-password?token=... Required.
	PublicURL string
	// LinkKey is the server's key of password links
	// (commands.Service.LinkKey). Required.
	LinkKey []byte
	// Clock is the time source of leases, backoff and ages (time.Now).
	Clock func() time.Time
	// PollInterval is how long Run waits when there was nothing to send.
	PollInterval time.Duration
	// Batch is how many messages one pass claims.
	Batch int
	// MaxAttempts is how many temporary failures a message gets before it
	// is marked failed.
	MaxAttempts int
	// Backoff is the wait after the attempt-th failure
	// (DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// Lease is how long a claimed message is reserved for its dispatcher.
	// A dispatcher that has not sent it by half the lease gives it back, so
	// it never sends a message another may have claimed.
	Lease time.Duration
	// MaxAge: a message whose event is older than this when it is first
	// claimed is marked failed, not sent. It keeps a new deployment on an
	// old event log from mailing everyone about its history.
	MaxAge time.Duration
	// TimeZone of the times in messages (Europe/London, or UTC when the
	// time zone database is missing).
	TimeZone *time.Location
}

// DefaultBackoff waits 30 seconds after the first failure and twice as
// long after each further one, up to an hour, give or take a fifth so that
// the messages of one outage do not all come back at once.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Dispatcher sends the messages of the mail outbox and records what became
// of them. Any number of dispatchers (servers) may share a database: a
// message is claimed with a lease before it is sent, so no two send it at
// the same time.
//
// A message is recorded as sent once the Sender has taken it. Should the
// server stop between the two, the message is sent again when its lease
// runs out, with the same Message-ID: delivery is at least once, and
// exactly once but for such a crash.
type Dispatcher struct {
	outbox Outbox
	cfg    Config
	logger *slog.Logger
}

// New checks cfg and fills in its defaults.
func New(outbox Outbox, cfg Config, logger *slog.Logger) (*Dispatcher, error) {
	if outbox == nil {
		return nil, errors.New("mail dispatcher: nil outbox")
	}
	if cfg.Sender == nil {
		return nil, errors.New("mail dispatcher: no sender")
	}
	if cfg.From.Email == "" {
		return nil, errors.New("mail dispatcher: no From address")
	}
	if len(cfg.LinkKey) == 0 {
		return nil, errors.New("mail dispatcher: no link key")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mail dispatcher: public URL %q: want http(s)://host", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "mail")
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
		if loc, err := time.LoadLocation("Europe/London"); err == nil {
			cfg.TimeZone = loc
		} else {
			logger.Warn("no time zone database: mail shows times in UTC", "err", err)
		}
	}
	return &Dispatcher{outbox: outbox, cfg: cfg, logger: logger}, nil
}

// Run sends messages until ctx is cancelled, then returns nil. A failed
// pass is logged and tried again after the poll interval.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		claimed, _, err := d.pass(ctx)
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("mail dispatch failed", "err", err)
		}
		wait := d.cfg.PollInterval
		if err == nil && claimed == d.cfg.Batch {
			wait = 0 // there may be more
		}
		timer.Reset(wait)
	}
}

// DispatchOnce claims up to Batch messages that are due, sends them and
// records the outcome. It returns how many were sent.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (sent int, err error) {
	_, sent, err = d.pass(ctx)
	return sent, err
}

func (d *Dispatcher) now() time.Time { return d.cfg.Clock() }

func (d *Dispatcher) pass(ctx context.Context) (claimed, sent int, err error) {
	now := d.now()
	// The lease is kept in milliseconds, as the ledger stores it.
	lease := time.UnixMilli(now.Add(d.cfg.Lease).UnixMilli())
	ids, err := d.outbox.Claim(ctx, now, lease, d.cfg.Batch)
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	msgs, dir, err := d.outbox.Load(ctx, ids)
	if err != nil {
		// The leases run out and the messages are claimed again.
		return len(ids), 0, err
	}
	for _, m := range msgs {
		ok, err := d.deliver(ctx, m, dir, lease)
		if err != nil {
			return len(ids), sent, err
		}
		if ok {
			sent++
		}
	}
	return len(ids), sent, nil
}

// deliver renders and sends one claimed message and records the outcome.
// It reports whether the message was sent; an error means the outcome
// could not be recorded or ctx was cancelled.
func (d *Dispatcher) deliver(ctx context.Context, m mailoutbox.Message, dir mailoutbox.Directory, lease time.Time) (bool, error) {
	now := d.now()
	logger := d.logger.With("message_id", m.ID, "template", m.Template, "attempt", m.Attempts+1)
	// Reasons not to send at all.
	skip := ""
	switch {
	case m.To.Email == "":
		skip = "no address" // no such user, or their personal data was erased
	case m.Attempts == 0 && now.Sub(m.CreatedAt) > d.cfg.MaxAge:
		skip = fmt.Sprintf("too old: the event is from %s", m.CreatedAt.Format(time.RFC3339))
	case !m.Params.ExpiresAt.IsZero() && !now.Before(m.Params.ExpiresAt):
		skip = fmt.Sprintf("out of date: expired at %s", m.Params.ExpiresAt.Format(time.RFC3339))
	case !m.Params.LockedUntil.IsZero() && !now.Before(m.Params.LockedUntil):
		skip = fmt.Sprintf("out of date: the lock ended at %s", m.Params.LockedUntil.Format(time.RFC3339))
	}
	if skip != "" {
		logger.Info("mail not sent", "reason", skip)
		return false, d.record(ctx, m.ID, lease, mailoutbox.Outcome{
			Status: mailoutbox.DeliveryFailed, NextAttempt: now, LastError: skip})
	}
	msg, err := d.render(m, dir)
	if err != nil {
		logger.Error("mail cannot be rendered", "err", err)
		return false, d.record(ctx, m.ID, lease, mailoutbox.Outcome{
			Status: mailoutbox.DeliveryFailed, Attempted: true, NextAttempt: now, LastError: err.Error()})
	}
	// Send only with half the lease left at least, and never for longer.
	if now.Add(d.cfg.Lease/2).UnixMilli() > lease.UnixMilli() {
		return false, d.release(ctx, m.ID, lease)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.Lease/2)
	err = d.cfg.Sender.Send(sctx, msg)
	cancel()
	if err == nil {
		sentAt := d.now()
		logger.Info("mail sent")
		return true, d.record(ctx, m.ID, lease, mailoutbox.Outcome{
			Status: mailoutbox.DeliverySent, Attempted: true, NextAttempt: sentAt, SentAt: sentAt})
	}
	if ctx.Err() != nil {
		// Shutting down: give the message back without counting it.
		return false, errors.Join(ctx.Err(), d.release(context.WithoutCancel(ctx), m.ID, lease))
	}
	attempts := m.Attempts + 1
	now = d.now()
	if IsPermanent(err) || attempts >= d.cfg.MaxAttempts {
		logger.Error("mail failed", "err", err, "permanent", IsPermanent(err))
		return false, d.record(ctx, m.ID, lease, mailoutbox.Outcome{
			Status: mailoutbox.DeliveryFailed, Attempted: true, NextAttempt: now, LastError: err.Error()})
	}
	next := now.Add(d.cfg.Backoff(attempts))
	logger.Warn("mail failed, will retry", "err", err, "next_attempt_at", next)
	return false, d.record(ctx, m.ID, lease, mailoutbox.Outcome{
		Status: mailoutbox.DeliveryPending, Attempted: true, NextAttempt: next, LastError: err.Error()})
}

// record sets a claimed message's outcome, if the claim is still ours.
func (d *Dispatcher) record(ctx context.Context, id string, lease time.Time, o mailoutbox.Outcome) error {
	ok, err := d.outbox.Record(ctx, id, lease, o)
	d.leaseLost(id, ok, err)
	return err
}

// release gives a claimed message back untried.
func (d *Dispatcher) release(ctx context.Context, id string, lease time.Time) error {
	ok, err := d.outbox.Release(ctx, id, lease)
	d.leaseLost(id, ok, err)
	return err
}

func (d *Dispatcher) leaseLost(id string, recorded bool, err error) {
	if err == nil && !recorded {
		d.logger.Warn("mail lease lost before the outcome was recorded", "message_id", id)
	}
}
