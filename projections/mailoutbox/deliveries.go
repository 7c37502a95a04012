package mailoutbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/projections"
)

// Statuses of a mail_deliveries row.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Deliveries is the delivery ledger of the mail outbox: the server's
// mail port (cmd/capacityd/mailer) claims the messages of the mail_outbox
// read model through it, reads them with the names they need, and records
// in mail_deliveries what became of them. mail_deliveries is a table of its
// own (a migration), outside every projection, so that a rebuild of the
// outbox sends nothing twice.
//
// Any number of servers may share a database: a message is claimed with a
// lease before it is sent, and an outcome is recorded only while the claim
// is still the caller's (its lease_until is the lease the caller set), so
// no two send it at the same time.
type Deliveries struct {
	b projections.Backend
	// ready is set once the mail_outbox table exists.
	ready atomic.Bool
}

// NewDeliveries returns the ledger of b's mail outbox.
func NewDeliveries(b projections.Backend) *Deliveries { return &Deliveries{b: b} }

// Message is a claimed mail_outbox row with its recipient.
type Message struct {
	ID          string
	Template    string // AccessRequest, SetPassword, ...
	RecipientID string // the recipient's user id
	Params      Params
	// ParamsErr is why Params could not be read, if they could not.
	ParamsErr error
	// CreatedAt is the time of the message's event.
	CreatedAt time.Time
	// Attempts is how many times sending it failed so far.
	Attempts int
	// To is the recipient as the directory knows them: no Email when there
	// is no such user or their personal data was erased.
	To Recipient
}

// Recipient is a user of the mail outbox's directory.
type Recipient struct {
	Email, FullName, JobTitle string
	Role                      account.Role
}

// Directory is what the messages of a batch name: requesters,
// locations and organisations.
type Directory struct {
	Users         map[string]Recipient
	Locations     map[string]string // name by id
	Organisations map[string]string // name by id
}

// Outcome is what became of a claimed message.
type Outcome struct {
	// Status is DeliverySent, DeliveryFailed, or DeliveryPending for a
	// message to try again at NextAttempt.
	Status string
	// Attempted counts the outcome as an attempt to send (a message that
	// was not sent at all, being out of date, was not attempted).
	Attempted   bool
	NextAttempt time.Time
	// LastError is why it was not sent; the first 2000 bytes are kept.
	LastError string
	// SentAt is when the sender took it (zero unless sent).
	SentAt time.Time
}

// Claim reserves until leaseUntil up to n messages that are due at now:
// those never tried, and those pending whose next attempt is due and whose
// lease ran out. It returns their ids, none before the outbox projection
// has created its tables. The upsert only takes a row whose lease has run
// out as it commits, so of two servers claiming at once each message goes
// to one.
func (m *Deliveries) Claim(ctx context.Context, now, leaseUntil time.Time, n int) ([]string, error) {
	if !m.ready.Load() {
		ok, err := m.b.TableExists(ctx, Table)
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", Table, err)
		}
		if !ok {
			return nil, nil // the projection has not started yet
		}
		m.ready.Store(true)
	}
	at, lease := now.UnixMilli(), leaseUntil.UnixMilli()
	var ids []string
	err := m.b.InTx(ctx, func(tx projections.Tx) error {
		rows, err := tx.QueryContext(ctx, `WITH due AS (
    SELECT o.id FROM `+Table+` o
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
RETURNING message_id`, at, at, n, at, lease, at, at)
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

// Load reads claimed messages, in the outbox's order, with their
// recipients and the directory of the users, locations and organisations
// they name.
func (m *Deliveries) Load(ctx context.Context, ids []string) ([]Message, Directory, error) {
	dir := Directory{Users: map[string]Recipient{}, Locations: map[string]string{}, Organisations: map[string]string{}}
	var msgs []Message
	err := projections.NewReadModels(m.b).Query(ctx, func(q projections.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT o.id, o.template, o.recipient_user_id, o.params, o.created_at, d.attempts,
    coalesce(u.email, ''), coalesce(u.full_name, ''), coalesce(u.role, '')
FROM `+Table+` o
JOIN mail_deliveries d ON d.message_id = o.id
LEFT JOIN `+UsersTable+` u ON u.user_id = o.recipient_user_id
WHERE o.id IN (`+projections.Marks(len(ids))+`)
ORDER BY o.position, o.id`, projections.AnyList(ids)...)
		if err != nil {
			return err
		}
		var users, locations, orgs []string
		for rows.Next() {
			var msg Message
			var params, role string
			var created int64
			if err := rows.Scan(&msg.ID, &msg.Template, &msg.RecipientID, &params, &created, &msg.Attempts,
				&msg.To.Email, &msg.To.FullName, &role); err != nil {
				rows.Close()
				return err
			}
			msg.To.Role = account.Role(role)
			msg.CreatedAt = time.UnixMilli(created).UTC()
			if err := json.Unmarshal([]byte(params), &msg.Params); err != nil {
				msg.ParamsErr = fmt.Errorf("params: %w", err)
			}
			if msg.Params.RequesterUserID != "" {
				users = append(users, msg.Params.RequesterUserID)
			}
			locations = append(locations, msg.Params.LocationIDs...)
			if msg.Params.OrganisationID != "" {
				orgs = append(orgs, msg.Params.OrganisationID)
			}
			msgs = append(msgs, msg)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		err = lookup(ctx, q, `SELECT user_id, email, full_name, job_title, role FROM `+UsersTable+` WHERE user_id IN`, users,
			func(s func(...any) error) error {
				var id, role string
				var u Recipient
				if err := s(&id, &u.Email, &u.FullName, &u.JobTitle, &role); err != nil {
					return err
				}
				u.Role = account.Role(role)
				dir.Users[id] = u
				return nil
			})
		if err != nil {
			return fmt.Errorf("users: %w", err)
		}
		err = lookup(ctx, q, `SELECT location_id, name FROM `+LocationsTable+` WHERE location_id IN`, locations,
			func(s func(...any) error) error {
				var id, name string
				if err := s(&id, &name); err != nil {
					return err
				}
				dir.Locations[id] = name
				return nil
			})
		if err != nil {
			return fmt.Errorf("locations: %w", err)
		}
		err = lookup(ctx, q, `SELECT organisation_id, name FROM `+OrganisationsTable+` WHERE organisation_id IN`, orgs,
			func(s func(...any) error) error {
				var id, name string
				if err := s(&id, &name); err != nil {
					return err
				}
				dir.Organisations[id] = name
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
func lookup(ctx context.Context, q projections.Querier, query string, keys []string, row func(scan func(...any) error) error) error {
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
	rows, err := q.QueryContext(ctx, query+" ("+projections.Marks(len(distinct))+")", projections.AnyList(distinct)...)
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

// Record sets a claimed message's outcome and ends its lease, if the claim
// is still the caller's: its lease_until is leaseUntil. It reports whether
// it was.
func (m *Deliveries) Record(ctx context.Context, id string, leaseUntil time.Time, o Outcome) (bool, error) {
	lastErr := o.LastError
	if len(lastErr) > 2000 {
		lastErr = strings.ToValidUTF8(lastErr[:2000], "")
	}
	attempts := 0
	if o.Attempted {
		attempts = 1
	}
	var sent any
	if !o.SentAt.IsZero() {
		sent = o.SentAt.UnixMilli()
	}
	return m.update(ctx, id, leaseUntil, `status = ?, attempts = attempts + ?, next_attempt_at = ?, lease_until = 0,
    last_error = ?, sent_at = ?`, o.Status, attempts, o.NextAttempt.UnixMilli(), lastErr, sent)
}

// Release gives a claimed message back untried, if the claim is still the
// caller's. It reports whether it was.
func (m *Deliveries) Release(ctx context.Context, id string, leaseUntil time.Time) (bool, error) {
	return m.update(ctx, id, leaseUntil, `lease_until = 0`)
}

func (m *Deliveries) update(ctx context.Context, id string, leaseUntil time.Time, set string, args ...any) (bool, error) {
	var n int64
	err := m.b.InTx(ctx, func(tx projections.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mail_deliveries SET `+set+`
WHERE message_id = ? AND lease_until = ?`, append(args, id, leaseUntil.UnixMilli())...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record message %s: %w", id, err)
	}
	return n > 0, nil
}
