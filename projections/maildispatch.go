package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands/mail"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
)

// Defaults of MailDispatchConfig.
const (
	DefaultMailPollInterval = time.Second
	DefaultMailBatch        = 20
	DefaultMailMaxAttempts  = 10
	DefaultMailLease        = 2 * time.Minute
	DefaultMailMaxAge       = 7 * 24 * time.Hour
)

// Statuses of a mail_deliveries row.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// MailDispatchConfig configures a MailDispatcher.
type MailDispatchConfig struct {
	// Sender delivers the messages (SMTP, or .eml files). Required.
	Sender mail.Sender
	// From is the sender of every message. Required.
	From mail.Address
	// PublicURL is the address people open the Capacity Tracker at, such as
	// https://capacitytracker.example.nhs.uk; password links are
	// PublicURL/set-password?token=... Required.
	PublicURL string
	// LinkKey is the server's key of password links
	// (commands.Accounts.LinkKey). Required.
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
	// (DefaultMailBackoff).
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

// DefaultMailBackoff waits 30 seconds after the first failure and twice as
// long after each further one, up to an hour, give or take a fifth so that
// the messages of one outage do not all come back at once.
func DefaultMailBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// MailDispatcher sends the messages of the mail_outbox read model and
// records in mail_deliveries what became of them. Any number of
// dispatchers (servers) may share a database: a message is claimed with a
// lease before it is sent, so no two send it at the same time.
//
// A message is recorded as sent once the Sender has taken it. Should the
// server stop between the two, the message is sent again when its lease
// runs out, with the same Message-ID: delivery is at least once, and
// exactly once but for such a crash.
type MailDispatcher struct {
	b      *backend
	cfg    MailDispatchConfig
	logger *slog.Logger
	// ready is set once the mail_outbox table exists.
	ready atomic.Bool
}

// NewMailDispatcher checks cfg and fills in its defaults.
func NewMailDispatcher(b Backend, cfg MailDispatchConfig, logger *slog.Logger) (*MailDispatcher, error) {
	if b == nil {
		return nil, errors.New("mail dispatcher: nil backend")
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
		cfg.PollInterval = DefaultMailPollInterval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultMailBatch
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMailMaxAttempts
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultMailBackoff
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultMailLease
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMailMaxAge
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
		if loc, err := time.LoadLocation("Europe/London"); err == nil {
			cfg.TimeZone = loc
		} else {
			logger.Warn("no time zone database: mail shows times in UTC", "err", err)
		}
	}
	return &MailDispatcher{b: b.backend(), cfg: cfg, logger: logger}, nil
}

// Run sends messages until ctx is cancelled, then returns nil. A failed
// pass is logged and tried again after the poll interval.
func (d *MailDispatcher) Run(ctx context.Context) error {
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
func (d *MailDispatcher) DispatchOnce(ctx context.Context) (sent int, err error) {
	_, sent, err = d.pass(ctx)
	return sent, err
}

func (d *MailDispatcher) now() time.Time { return d.cfg.Clock() }

func (d *MailDispatcher) pass(ctx context.Context) (claimed, sent int, err error) {
	if !d.ready.Load() {
		ok, err := d.b.tableExists(ctx, d.b.db, MailOutboxTable)
		if err != nil {
			return 0, 0, fmt.Errorf("look up %s: %w", MailOutboxTable, err)
		}
		if !ok {
			return 0, 0, nil // the projection has not started yet
		}
		d.ready.Store(true)
	}
	now := d.now()
	lease := now.Add(d.cfg.Lease).UnixMilli()
	ids, err := d.claim(ctx, now.UnixMilli(), lease)
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	msgs, dir, err := d.load(ctx, ids)
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

// claim reserves up to Batch due messages until lease: those never tried,
// and those pending whose next attempt is due and whose lease ran out.
// The upsert only takes a row whose lease has run out as it commits, so of
// two dispatchers claiming at once each message goes to one.
func (d *MailDispatcher) claim(ctx context.Context, now, lease int64) ([]string, error) {
	var ids []string
	err := d.b.inTx(ctx, func(tx wsql.Tx) error {
		rows, err := d.b.view(tx).QueryContext(ctx, `WITH due AS (
    SELECT o.id FROM `+MailOutboxTable+` o
    LEFT JOIN mail_deliveries d ON d.message_id = o.id
    WHERE d.message_id IS NULL
       OR (d.status = 'pending' AND d.next_attempt_at <= ? AND d.lease_until <= ?)
    ORDER BY o.position, o.id
    LIMIT ?
)
INSERT INTO mail_deliveries (message_id, status, attempts, next_attempt_at, lease_until, last_error)
SELECT id, 'pending', 0, CAST(? AS BIGINT), CAST(? AS BIGINT), '' FROM due WHERE true
ON CONFLICT (message_id) DO UPDATE SET lease_until = excluded.lease_until
WHERE mail_deliveries.status = 'pending'
  AND mail_deliveries.next_attempt_at <= ?
  AND mail_deliveries.lease_until <= ?
RETURNING message_id`, now, now, d.cfg.Batch, now, lease, now, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	return ids, nil
}

// outboxMessage is a claimed mail_outbox row with its recipient.
type outboxMessage struct {
	id, template, recipientID string
	params                    mailParams
	paramsErr                 error
	createdAt                 time.Time
	attempts                  int
	to                        mailUser
}

type mailUser struct {
	email, fullName, jobTitle string
	role                      account.Role
}

// mailDirectory is what the messages of a batch name: requesters,
// locations and organisations.
type mailDirectory struct {
	users         map[string]mailUser
	locations     map[string]string // name by id
	organisations map[string]string // name by id
}

func (d *MailDispatcher) load(ctx context.Context, ids []string) ([]outboxMessage, mailDirectory, error) {
	dir := mailDirectory{users: map[string]mailUser{}, locations: map[string]string{}, organisations: map[string]string{}}
	var msgs []outboxMessage
	err := NewReadModels(d.b).Query(ctx, func(q Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT o.id, o.template, o.recipient_user_id, o.params, o.created_at, d.attempts,
    coalesce(u.email, ''), coalesce(u.full_name, ''), coalesce(u.role, '')
FROM `+MailOutboxTable+` o
JOIN mail_deliveries d ON d.message_id = o.id
LEFT JOIN `+MailUsersTable+` u ON u.user_id = o.recipient_user_id
WHERE o.id IN (`+marks(len(ids))+`)
ORDER BY o.position, o.id`, anyList(ids)...)
		if err != nil {
			return err
		}
		var users, locations, orgs []string
		for rows.Next() {
			var m outboxMessage
			var params, role string
			var created int64
			if err := rows.Scan(&m.id, &m.template, &m.recipientID, &params, &created, &m.attempts,
				&m.to.email, &m.to.fullName, &role); err != nil {
				rows.Close()
				return err
			}
			m.to.role = account.Role(role)
			m.createdAt = time.UnixMilli(created).UTC()
			if err := json.Unmarshal([]byte(params), &m.params); err != nil {
				m.paramsErr = fmt.Errorf("params: %w", err)
			}
			if m.params.RequesterUserID != "" {
				users = append(users, m.params.RequesterUserID)
			}
			locations = append(locations, m.params.LocationIDs...)
			if m.params.OrganisationID != "" {
				orgs = append(orgs, m.params.OrganisationID)
			}
			msgs = append(msgs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		err = lookup(ctx, q, `SELECT user_id, email, full_name, job_title, role FROM `+MailUsersTable+` WHERE user_id IN`, users,
			func(s func(...any) error) error {
				var id, role string
				var u mailUser
				if err := s(&id, &u.email, &u.fullName, &u.jobTitle, &role); err != nil {
					return err
				}
				u.role = account.Role(role)
				dir.users[id] = u
				return nil
			})
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		err = lookup(ctx, q, `SELECT location_id, name FROM `+MailLocationsTable+` WHERE location_id IN`, locations,
			func(s func(...any) error) error {
				var id, name string
				if err := s(&id, &name); err != nil {
					return err
				}
				dir.locations[id] = name
				return nil
			})
		if err != nil {
			return fmt.Errorf("locations: %w", err)
		}
		err = lookup(ctx, q, `SELECT organisation_id, name FROM `+MailOrganisationsTable+` WHERE organisation_id IN`, orgs,
			func(s func(...any) error) error {
				var id, name string
				if err := s(&id, &name); err != nil {
					return err
				}
				dir.organisations[id] = name
				return nil
			})
		if err != nil {
			return fmt.Errorf("organisations: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, dir, fmt.Errorf("load messages: %w", err)
	}
	return msgs, dir, nil
}

// lookup runs q + " (?, ...)" for the distinct keys, if any, and hands
// every row's Scan to row.
func lookup(ctx context.Context, q Querier, query string, keys []string, row func(scan func(...any) error) error) error {
	seen := map[string]bool{}
	var distinct []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	if len(distinct) == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, query+" ("+marks(len(distinct))+")", anyList(distinct)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// deliver renders and sends one claimed message and records the outcome.
// It reports whether the message was sent; an error means the outcome
// could not be recorded or ctx was cancelled.
func (d *MailDispatcher) deliver(ctx context.Context, m outboxMessage, dir mailDirectory, lease int64) (bool, error) {
	now := d.now()
	logger := d.logger.With("message_id", m.id, "template", m.template, "attempt", m.attempts+1)
	// Reasons not to send at all.
	skip := ""
	switch {
	case m.to.email == "":
		skip = "no address" // no such user, or their personal data was erased
	case m.attempts == 0 && now.Sub(m.createdAt) > d.cfg.MaxAge:
		skip = fmt.Sprintf("too old: the event is from %s", m.createdAt.Format(time.RFC3339))
	case !m.params.ExpiresAt.IsZero() && !now.Before(m.params.ExpiresAt):
		skip = fmt.Sprintf("out of date: expired at %s", m.params.ExpiresAt.Format(time.RFC3339))
	case !m.params.LockedUntil.IsZero() && !now.Before(m.params.LockedUntil):
		skip = fmt.Sprintf("out of date: the lock ended at %s", m.params.LockedUntil.Format(time.RFC3339))
	}
	if skip != "" {
		logger.Info("mail not sent", "reason", skip)
		return false, d.record(ctx, m.id, lease, DeliveryFailed, 0, now, skip, nil)
	}
	msg, err := d.render(m, dir)
	if err != nil {
		logger.Error("mail cannot be rendered", "err", err)
		return false, d.record(ctx, m.id, lease, DeliveryFailed, 1, now, err.Error(), nil)
	}
	// Send only with half the lease left at least, and never for longer.
	if now.Add(d.cfg.Lease/2).UnixMilli() > lease {
		return false, d.release(ctx, m.id, lease)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.Lease/2)
	err = d.cfg.Sender.Send(sctx, msg)
	cancel()
	if err == nil {
		sentAt := d.now()
		logger.Info("mail sent")
		return true, d.record(ctx, m.id, lease, DeliverySent, 1, sentAt, "", &sentAt)
	}
	if ctx.Err() != nil {
		// Shutting down: give the message back without counting it.
		return false, errors.Join(ctx.Err(), d.release(context.WithoutCancel(ctx), m.id, lease))
	}
	attempts := m.attempts + 1
	now = d.now()
	if mail.IsPermanent(err) || attempts >= d.cfg.MaxAttempts {
		logger.Error("mail failed", "err", err, "permanent", mail.IsPermanent(err))
		return false, d.record(ctx, m.id, lease, DeliveryFailed, 1, now, err.Error(), nil)
	}
	next := now.Add(d.cfg.Backoff(attempts))
	logger.Warn("mail failed, will retry", "err", err, "next_attempt_at", next)
	return false, d.record(ctx, m.id, lease, DeliveryPending, 1, next, err.Error(), nil)
}

// record sets a claimed message's outcome, if the claim is still ours: its
// lease_until is the lease we set.
func (d *MailDispatcher) record(ctx context.Context, id string, lease int64, status string, attempts int, nextAttempt time.Time, lastErr string, sentAt *time.Time) error {
	if len(lastErr) > 2000 {
		lastErr = strings.ToValidUTF8(lastErr[:2000], "")
	}
	var sent any
	if sentAt != nil {
		sent = sentAt.UnixMilli()
	}
	return d.update(ctx, id, lease, `status = ?, attempts = attempts + ?, next_attempt_at = ?, lease_until = 0,
    last_error = ?, sent_at = ?`, status, attempts, nextAttempt.UnixMilli(), lastErr, sent)
}

// release gives a claimed message back untried.
func (d *MailDispatcher) release(ctx context.Context, id string, lease int64) error {
	return d.update(ctx, id, lease, `lease_until = 0`)
}

func (d *MailDispatcher) update(ctx context.Context, id string, lease int64, set string, args ...any) error {
	var n int64
	err := d.b.inTx(ctx, func(tx wsql.Tx) error {
		res, err := d.b.view(tx).ExecContext(ctx, `UPDATE mail_deliveries SET `+set+`
WHERE message_id = ? AND lease_until = ?`, append(args, id, lease)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("record message %s: %w", id, err)
	}
	if n == 0 {
		d.logger.Warn("mail lease lost before the outcome was recorded", "message_id", id)
	}
	return nil
}

// render builds the message of a row: plain text, from the directory and
// the row's params. A password link's token is derived from the link id
// here, so it is in no table.
func (d *MailDispatcher) render(m outboxMessage, dir mailDirectory) (mail.Message, error) {
	if m.paramsErr != nil {
		return mail.Message{}, m.paramsErr
	}
	r := mailText{cfg: &d.cfg, m: m, dir: dir}
	var subject string
	switch m.template {
	case MailAccessRequest:
		subject = r.accessRequest()
	case MailSetPassword, MailResetPassword:
		userID, err := uuid.Parse(m.recipientID)
		if err != nil {
			return mail.Message{}, fmt.Errorf("recipient %q: %w", m.recipientID, err)
		}
		linkID, err := uuid.Parse(m.params.LinkID)
		if err != nil {
			return mail.Message{}, fmt.Errorf("link id %q: %w", m.params.LinkID, err)
		}
		link := d.cfg.PublicURL + "/set-password?token=" + account.LinkToken(d.cfg.LinkKey, userID, linkID)
		subject = r.passwordLink(link)
	case MailAccessGranted:
		subject = r.accessGranted()
	case MailAccessRejected:
		subject = r.accessRejected()
	case MailPasswordExpiry:
		subject = r.passwordExpiry()
	case MailAccountLocked:
		subject = r.accountLocked()
	default:
		return mail.Message{}, fmt.Errorf("unknown template %q", m.template)
	}
	r.footer()
	return mail.Message{
		ID:      m.id,
		From:    d.cfg.From,
		To:      []mail.Address{{Name: oneLine(m.to.fullName), Email: m.to.email}},
		Subject: oneLine(subject),
		Text:    r.b.String(),
		Date:    m.createdAt,
	}, nil
}

// supportCentre is how people reach the Capacity Tracker Support Centre.
const supportCentre = "the Capacity Tracker Support Centre on 0191 691 3729 or necsu.capacitytracker@nhs.net"

// mailText writes a message's body; each template's method returns its
// subject.
type mailText struct {
	cfg *MailDispatchConfig
	m   outboxMessage
	dir mailDirectory
	b   strings.Builder
}

func (r *mailText) line(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteString("\n")
}

func (r *mailText) greet() {
	if name := oneLine(r.m.to.fullName); name != "" {
		r.line("Dear %s,", name)
	} else {
		r.line("Hello,")
	}
	r.line("")
}

func (r *mailText) organisation() string {
	id := r.m.params.OrganisationID
	if name := oneLine(r.dir.organisations[id]); name != "" {
		return name
	}
	return id
}

func (r *mailText) locations() {
	for _, id := range r.m.params.LocationIDs {
		if name := oneLine(r.dir.locations[id]); name != "" {
			r.line("  - %s (%s)", name, id)
		} else {
			r.line("  - %s", id)
		}
	}
}

func (r *mailText) when(t time.Time) string {
	return t.In(r.cfg.TimeZone).Format("15:04 on Monday 2 January 2006 (MST)")
}

func (r *mailText) footer() {
	r.line("")
	r.line("If you need any help, please contact %s.", supportCentre)
	r.line("")
	r.line("Kind regards,")
	r.line("The Capacity Tracker team")
	r.line("")
	r.line("This email was sent automatically; please do not reply to it.")
}

func (r *mailText) accessRequest() string {
	p := r.m.params
	req := r.dir.users[p.RequesterUserID]
	name := oneLine(req.fullName)
	if name == "" {
		name = "Someone"
	}
	org := r.organisation()
	r.greet()
	r.line("%s has asked for access to the Capacity Tracker for %s.", name, org)
	r.line("")
	r.line("Name:      %s", orNotGiven(req.fullName))
	r.line("Email:     %s", orNotGiven(req.email))
	r.line("Job title: %s", orNotGiven(req.jobTitle))
	r.line("")
	r.line("They would like access to these locations:")
	r.locations()
	r.line("")
	if r.m.to.role == account.Support {
		r.line("%s has no active Approver, so the request has come to the support team.", org)
		r.line("")
	}
	r.line("Please log in to the Capacity Tracker at %s and use Approve/Reject Users to approve or reject the request.", r.cfg.PublicURL)
	r.line("Please check that they work for %s before you approve it.", org)
	return fmt.Sprintf("Capacity Tracker: %s has asked for access to %s", name, org)
}

func (r *mailText) passwordLink(link string) string {
	p := r.m.params
	valid := validFor(p.ExpiresAt.Sub(r.m.createdAt))
	r.greet()
	subject := "Capacity Tracker: set your password"
	if r.m.template == MailResetPassword {
		subject = "Capacity Tracker: reset your password"
		r.line("We have received a request to reset the password of your Capacity Tracker account.")
		r.line("")
		r.line("To choose a new password, please open this link:")
	} else {
		r.line("Good news: your Capacity Tracker account has been approved.")
		r.line("")
		r.line("To start using it, please open this link and choose a password:")
	}
	r.line("")
	r.line("%s", link)
	r.line("")
	r.line("The link can be used once and is valid for %s, until %s.", valid, r.when(p.ExpiresAt))
	r.line("If it has run out, you can ask for a new one with the forgotten password link on the login page at %s.", r.cfg.PublicURL)
	if r.m.template == MailResetPassword {
		r.line("")
		r.line("If you did not ask to reset your password, you can ignore this email: your password has not been changed.")
	}
	return subject
}

func (r *mailText) accessGranted() string {
	org := r.organisation()
	r.greet()
	r.line("Your request for access to %s in the Capacity Tracker has been approved. You now have access to:", org)
	r.locations()
	if reason := oneLine(r.m.params.Reason); reason != "" {
		r.line("")
		r.line("The Approver added: %s", reason)
	}
	r.line("")
	r.line("Log in at %s to see them.", r.cfg.PublicURL)
	return "Capacity Tracker: your access to " + org + " has been approved"
}

func (r *mailText) accessRejected() string {
	org := r.organisation()
	r.greet()
	r.line("We are sorry, but your request for access to %s in the Capacity Tracker has not been approved. It was for:", org)
	r.locations()
	r.line("")
	if reason := oneLine(r.m.params.Reason); reason != "" {
		r.line("The reason given was: %s", reason)
	} else {
		r.line("No reason was given.")
	}
	r.line("")
	r.line("If you think this is a mistake, please speak to your organisation's Capacity Tracker Approver.")
	return "Capacity Tracker: your request for access to " + org + " was not approved"
}

func (r *mailText) passwordExpiry() string {
	p := r.m.params
	days := "1 day"
	if p.DaysBefore != 1 {
		days = fmt.Sprintf("%d days", p.DaysBefore)
	}
	r.greet()
	r.line("Your Capacity Tracker password expires in %s, at %s.", days, r.when(p.ExpiresAt))
	r.line("")
	r.line("Please log in at %s and change it before then.", r.cfg.PublicURL)
	r.line("If it does expire, you can choose a new one with the forgotten password link on the login page.")
	return "Capacity Tracker: your password expires in " + days
}

func (r *mailText) accountLocked() string {
	r.greet()
	r.line("Your Capacity Tracker account has been locked because the wrong password was entered too many times in a row.")
	r.line("It will unlock itself at %s.", r.when(r.m.params.LockedUntil))
	r.line("")
	r.line("If this was you, you can unlock it straight away by resetting your password with the forgotten password link on the login page at %s.", r.cfg.PublicURL)
	r.line("")
	r.line("If it was not you, someone may be trying to get into your account: please reset your password and let us know.")
	return "Capacity Tracker: your account has been locked"
}

// validFor says how long a link lasts: "72 hours", "1 hour", "30 minutes".
func validFor(d time.Duration) string {
	if d >= 2*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Round(time.Hour)/time.Hour))
	}
	if m := int(d.Round(time.Minute) / time.Minute); m != 60 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "1 hour"
}

// oneLine makes text from the events safe for a header or a line of its
// own: control characters become spaces, runs of spaces one.
func oneLine(s string) string { return domain.CleanText(s) }

func orNotGiven(s string) string {
	if s = oneLine(s); s == "" {
		return "(not given)"
	}
	return s
}
