// Package mailoutbox is the mail outbox read model: which emails the
// events call for, and to whom. Its projection (Projection) writes table
// mail_outbox, one row per message and recipient, and keeps its own
// recipient directory beside it: mail_users, mail_user_orgs (the
// organisations of each user's locations), mail_locations and
// mail_organisations. Its delivery ledger (Deliveries) is how the server's
// mail port (cmd/capacityd/mailer) claims the outbox's messages, reads them
// with the names they need and records their delivery in mail_deliveries,
// a table of its own (a migration) outside every projection, so that a
// rebuild of the outbox sends nothing twice.
package mailoutbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// Projection decides, from the events, which emails are to be sent: table
// mail_outbox holds one row per message and recipient. To know whom to
// write to, it keeps its own recipient directory from the same events:
// mail_users, mail_user_orgs (the organisations of each user's locations),
// mail_locations and mail_organisations. The directory is updated in the
// same Apply as the outbox, so a message is addressed as the directory
// stood at its event's place in the log, on every replay alike.
//
// A row's id is derived from its event, template and recipient (and the
// organisation of an access request's part), so applying an event again,
// or rebuilding the projection, produces the same rows and no new ones.
// Whether a row was sent is not part of the projection: it is in
// mail_deliveries (a migration, see Deliveries), which a rebuild leaves
// alone, so a rebuild never sends anything again.
//
// A row's params hold only ids and values that are no secret (never a
// link's token: the mail port derives it from the link id when it sends).
type Projection struct{}

var _ projections.Eraser = Projection{}

// Tables of Projection.
const (
	Table              = "mail_outbox"
	UsersTable         = "mail_users"
	UserOrgsTable      = "mail_user_orgs"
	LocationsTable     = "mail_locations"
	OrganisationsTable = "mail_organisations"
)

// Templates of mail_outbox rows: what a message says.
const (
	// AccessRequest asks an organisation's Approvers (or, when it has
	// none, support) to decide on a request for access to its locations.
	AccessRequest = "access_request"
	// SetPassword sends a newly approved user the link to set a
	// password.
	SetPassword = "set_password"
	// ResetPassword sends the link of a forgotten-password request.
	ResetPassword = "reset_password"
	// AccessGranted tells an active user that they got access to more
	// locations.
	AccessGranted = "access_granted"
	// AccessRejected tells a user that an organisation refused their
	// request.
	AccessRejected = "access_rejected"
	// PasswordExpiry reminds a user that their password expires soon.
	PasswordExpiry = "password_expiry"
	// AccountLocked tells a user that too many wrong passwords locked
	// their account.
	AccountLocked = "account_locked"
)

// Params is a mail_outbox row's params column.
type Params struct {
	RequestID       string    `json:"request_id,omitempty"`
	RequesterUserID string    `json:"requester_user_id,omitempty"`
	OrganisationID  string    `json:"organisation_id,omitempty"`
	LocationIDs     []string  `json:"location_ids,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	LinkID          string    `json:"link_id,omitempty"`
	DaysBefore      int       `json:"days_before,omitempty"`
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	LockedUntil     time.Time `json:"locked_until,omitzero"`
}

func (Projection) Name() string { return "mail_outbox" }

func (Projection) Tables() []string {
	return []string{Table, UsersTable, UserOrgsTable, LocationsTable, OrganisationsTable}
}

func (Projection) Schema(_ projections.Dialect, table func(string) string) []string {
	o, u, uo := table(Table), table(UsersTable), table(UserOrgsTable)
	l, org := table(LocationsTable), table(OrganisationsTable)
	return []string{
		// created_at is the event's time in Unix milliseconds, like the
		// times of mail_deliveries.
		fmt.Sprintf(`CREATE TABLE %s (
    id                TEXT   PRIMARY KEY,
    event_id          TEXT   NOT NULL,
    position          BIGINT NOT NULL,
    template          TEXT   NOT NULL,
    recipient_user_id TEXT   NOT NULL,
    params            TEXT   NOT NULL,
    created_at        BIGINT NOT NULL
)`, o),
		fmt.Sprintf(`CREATE INDEX %s_position ON %s (position)`, o, o),
		fmt.Sprintf(`CREATE TABLE %s (
    user_id   TEXT PRIMARY KEY,
    email     TEXT NOT NULL,
    full_name TEXT NOT NULL,
    job_title TEXT NOT NULL,
    role      TEXT NOT NULL,
    status    TEXT NOT NULL,
    kind      TEXT NOT NULL
)`, u),
		fmt.Sprintf(`CREATE INDEX %s_role_status ON %s (role, status)`, u, u),
		fmt.Sprintf(`CREATE TABLE %s (
    user_id         TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    PRIMARY KEY (user_id, organisation_id)
)`, uo),
		fmt.Sprintf(`CREATE INDEX %s_organisation_id ON %s (organisation_id)`, uo, uo),
		fmt.Sprintf(`CREATE TABLE %s (
    location_id     TEXT PRIMARY KEY,
    -- The location's name as its directory entry has it
    -- (location.Directory): its users' once they saved theirs.
    name            TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    name_edited     BOOLEAN NOT NULL
)`, l),
		fmt.Sprintf(`CREATE TABLE %s (
    organisation_id TEXT PRIMARY KEY,
    name            TEXT NOT NULL
)`, org),
	}
}

// Apply updates the directory from the user, login, location and
// organisation events and records the messages they call for.
func (p Projection) Apply(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if done, err := projections.ApplyErasure(ctx, tx, table, ev, p); done {
		return err
	}
	switch ev.Category() {
	case "organisation":
		return applyMailOrganisation(ctx, tx, table, ev)
	case "location":
		return applyMailLocation(ctx, tx, table, ev)
	case "user", "login":
	default:
		return nil
	}
	e, err := account.Decode(ev.Type, ev.Data)
	if err != nil || e == nil {
		return err
	}
	_, userID, _ := strings.Cut(ev.StreamID, "-")
	out := mailWriter{ctx: ctx, tx: tx, table: table, ev: ev}
	if ev.Category() == "login" {
		if e, ok := e.(account.AccountLocked); ok {
			return out.enqueue(AccountLocked, "", Params{LockedUntil: e.Until.UTC()}, userID)
		}
		return nil
	}
	if u, ok := newMailUser(e); ok {
		if err := out.putUser(userID, u.email, u.fullName, u.jobTitle, u.role, u.status, u.kind); err != nil {
			return err
		}
	}
	switch e := e.(type) {
	case account.RegisteredManagerImported:
		return out.addOrganisations(userID, e.OrganisationID)
	case account.GenericAccountCreated:
		orgs := make([]string, len(e.Locations))
		for i, l := range e.Locations {
			orgs[i] = l.OrganisationID
		}
		return out.addOrganisations(userID, orgs...)
	case account.AccessRevoked:
		if _, err := out.tx.ExecContext(out.ctx, fmt.Sprintf(`DELETE FROM %s WHERE user_id = ? AND organisation_id = ?`,
			out.table(UserOrgsTable)), userID, e.OrganisationID); err != nil {
			return fmt.Errorf("user %s: leave organisation: %w", userID, err)
		}
		return nil
	case account.UserApproved, account.UserReactivated:
		return out.setUser(userID, "status", string(account.Active))
	case account.RegistrationRejected:
		return out.setUser(userID, "status", string(account.Rejected))
	case account.UserDeactivated:
		return out.setUser(userID, "status", string(account.Deactivated))
	case account.RoleChanged:
		return out.setUser(userID, "role", string(e.To))
	case account.AccessRequested:
		return out.accessRequested(userID, e)
	case account.AccessApproved:
		// A user still pending gets the set-password link of the approval
		// (PasswordLinkIssued follows); one already active is told about
		// the new access: that is every My Access request, and the parts
		// of a registration decided after its first approval.
		status, err := out.userStatus(userID)
		if err != nil {
			return err
		}
		if status == account.Active {
			err = out.enqueue(AccessGranted, "", Params{RequestID: e.RequestID.String(),
				OrganisationID: e.OrganisationID, LocationIDs: e.LocationIDs}, userID)
			if err != nil {
				return err
			}
		}
		return out.addOrganisations(userID, e.OrganisationID)
	case account.AccessRejected:
		return out.enqueue(AccessRejected, "", Params{RequestID: e.RequestID.String(),
			OrganisationID: e.OrganisationID, LocationIDs: e.LocationIDs, Reason: e.Reason}, userID)
	case account.PasswordLinkIssued:
		template := SetPassword
		switch e.Purpose {
		case account.LinkSetPassword:
		case account.LinkResetPassword:
			template = ResetPassword
		default:
			return nil
		}
		return out.enqueue(template, "", Params{LinkID: e.LinkID.String(), ExpiresAt: e.ExpiresAt.UTC()}, userID)
	case account.PasswordExpiryReminderDue:
		return out.enqueue(PasswordExpiry, "", Params{DaysBefore: e.DaysBefore, ExpiresAt: e.ExpiresAt.UTC()}, userID)
	}
	return nil
}

func applyMailOrganisation(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	d, err := location.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	var id, name string
	switch e := d.(type) {
	case location.OrganisationRegistered:
		id, name = e.OrganisationID, e.Name
	case location.OrganisationRenamed:
		id, name = e.OrganisationID, e.After
	default:
		return nil
	}
	return putMailOrganisation(ctx, tx, table, id, name, true)
}

// putMailOrganisation records an organisation's name; with replace false
// only when the organisation is not known yet.
func putMailOrganisation(ctx context.Context, tx projections.Tx, table func(string) string, id, name string, replace bool) error {
	onConflict := "DO UPDATE SET name = excluded.name"
	if !replace {
		onConflict = "DO NOTHING"
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (organisation_id, name) VALUES (?, ?)
ON CONFLICT (organisation_id) %s`, table(OrganisationsTable), onConflict), id, name)
	if err != nil {
		return fmt.Errorf("organisation %s: %w", id, err)
	}
	return nil
}

// applyMailLocation keeps a location's name and organisation for the
// emails: those of its directory entry, folded by location.Directory.Apply
// as the location's state folds it, so that the name its users saved is
// the one emails use.
func applyMailLocation(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event) error {
	if !slices.Contains(location.DirectoryEventTypes, ev.Type) {
		return nil
	}
	d, err := location.Decode(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	id, l := projections.StreamEntity(ev.StreamID), table(LocationsTable)
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT name, organisation_id, name_edited FROM %s WHERE location_id = ?`, l), id)
	if err != nil {
		return fmt.Errorf("location %s: %w", id, err)
	}
	cur, found := location.Directory{LocationID: id}, false
	if err := projections.ScanAll(rows, func() error {
		found = true
		return rows.Scan(&cur.Name, &cur.OrganisationID, &cur.AddressEdited)
	}); err != nil {
		return fmt.Errorf("location %s: %w", id, err)
	}
	starts := location.StartsLocation(d)
	if !found && !starts {
		return nil
	}
	next := cur.Apply(d)
	if found && next == cur {
		return nil
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (location_id, name, organisation_id, name_edited) VALUES (?, ?, ?, ?)
ON CONFLICT (location_id) DO UPDATE SET name = excluded.name, organisation_id = excluded.organisation_id,
    name_edited = excluded.name_edited`, l), id, next.Name, next.OrganisationID, next.AddressEdited)
	if err != nil {
		return fmt.Errorf("location %s: %w", id, err)
	}
	if !starts {
		return nil
	}
	orgName := next.OrganisationName
	if orgName == "" {
		orgName = next.OrganisationID
	}
	// The organisation's name, should its own event be missing.
	return putMailOrganisation(ctx, tx, table, next.OrganisationID, orgName, false)
}

// mailWriter writes one event's changes.
type mailWriter struct {
	ctx   context.Context
	tx    projections.Tx
	table func(string) string
	ev    eventstore.Event
}

// mailDirectoryUser is the directory's entry of a user, as an account-creating
// event makes it.
type mailDirectoryUser struct {
	email, fullName, jobTitle string
	role                      account.Role
	status                    account.Status
	kind                      account.Kind
}

// newMailUser is the entry of an account-creating event; ok is false for
// any other event.
func newMailUser(e account.Event) (mailDirectoryUser, bool) {
	switch e := e.(type) {
	case account.UserRegistered:
		return mailDirectoryUser{e.Email, e.FullName, e.JobTitle, e.Role, account.Pending, account.Personal}, true
	case account.RegisteredManagerImported:
		return mailDirectoryUser{e.Email, e.FullName, "", account.Approver, account.Active, account.Personal}, true
	case account.SupportUserCreated:
		return mailDirectoryUser{e.Email, e.FullName, "", account.Support, account.Active, account.Personal}, true
	case account.GenericAccountCreated:
		return mailDirectoryUser{e.Email, e.DisplayName, "", account.Standard, account.Active, account.Generic}, true
	}
	return mailDirectoryUser{}, false
}

// Personal implements projections.Eraser: the directory's copy of each
// user. The outbox's rows hold ids only (the dispatcher reads the address
// from mail_users when it sends).
func (Projection) Personal() []projections.PersonalColumns {
	return []projections.PersonalColumns{{Table: UsersTable, Subjects: []string{"user_id"}, Columns: []string{"email", "full_name", "job_title"}}}
}

// Erase implements projections.Eraser: the erased user's entry is written
// again from the account's creating event, read from the log again: its
// erased fields are empty here (the directory reads the events without
// projections.MarkErased), so the dispatcher finds no address and sends
// nothing more to them, queued messages included.
func (Projection) Erase(ctx context.Context, tx projections.Tx, table func(string) string, ev eventstore.Event, e erasure.PersonErased) error {
	userID, evs, ok, err := projections.ErasedUser(ctx, tx, ev, e)
	if err != nil || !ok {
		return err
	}
	var u mailDirectoryUser
	found := false
	if err := projections.UserCreations(evs, projections.RawData, func(d account.Event) { u, found = newMailUser(d) }); err != nil || !found {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET email = ?, full_name = ?, job_title = ? WHERE user_id = ?`,
		table(UsersTable)), u.email, u.fullName, u.jobTitle, userID); err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	return nil
}

func (w mailWriter) putUser(userID, email, fullName, jobTitle string, role account.Role, status account.Status, kind account.Kind) error {
	_, err := w.tx.ExecContext(w.ctx, fmt.Sprintf(`INSERT INTO %s (user_id, email, full_name, job_title, role, status, kind)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, full_name = excluded.full_name,
    job_title = excluded.job_title, role = excluded.role, status = excluded.status, kind = excluded.kind`,
		w.table(UsersTable)), userID, email, fullName, jobTitle, string(role), string(status), string(kind))
	if err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	return nil
}

// setUser sets one column (a constant of this file) of a user's row.
func (w mailWriter) setUser(userID, column, value string) error {
	_, err := w.tx.ExecContext(w.ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE user_id = ?`, w.table(UsersTable), column),
		value, userID)
	if err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	return nil
}

func (w mailWriter) userStatus(userID string) (account.Status, error) {
	rows, err := w.tx.QueryContext(w.ctx, fmt.Sprintf(`SELECT status FROM %s WHERE user_id = ?`, w.table(UsersTable)), userID)
	if err != nil {
		return "", fmt.Errorf("user %s: %w", userID, err)
	}
	defer rows.Close()
	var status string
	if rows.Next() {
		if err := rows.Scan(&status); err != nil {
			return "", err
		}
	}
	return account.Status(status), rows.Err()
}

func (w mailWriter) addOrganisations(userID string, orgs ...string) error {
	slices.Sort(orgs)
	orgs = slices.Compact(orgs)
	if len(orgs) == 0 {
		return nil
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(orgs)), ", ")
	args := make([]any, 0, 2*len(orgs))
	for _, o := range orgs {
		args = append(args, userID, o)
	}
	_, err := w.tx.ExecContext(w.ctx, fmt.Sprintf(`INSERT INTO %s (user_id, organisation_id) VALUES %s
ON CONFLICT (user_id, organisation_id) DO NOTHING`, w.table(UserOrgsTable), values), args...)
	if err != nil {
		return fmt.Errorf("user %s: organisations: %w", userID, err)
	}
	return nil
}

// accessRequested writes to the active Approvers of each organisation of
// the request, about its part; when an organisation has none, to support.
// The requester never gets their own request.
func (w mailWriter) accessRequested(requester string, e account.AccessRequested) error {
	var orgs []string
	parts := map[string][]string{}
	for _, l := range e.Locations {
		if _, ok := parts[l.OrganisationID]; !ok {
			orgs = append(orgs, l.OrganisationID)
		}
		parts[l.OrganisationID] = append(parts[l.OrganisationID], l.LocationID)
	}
	u, uo := w.table(UsersTable), w.table(UserOrgsTable)
	for _, org := range orgs {
		to, err := w.userIDs(fmt.Sprintf(`SELECT u.user_id FROM %s u JOIN %s o ON o.user_id = u.user_id
WHERE o.organisation_id = ? AND u.role = ? AND u.status = ? AND u.kind = ? AND u.user_id <> ?
ORDER BY u.user_id`, u, uo), org, string(account.Approver), string(account.Active), string(account.Personal), requester)
		if err != nil {
			return fmt.Errorf("approvers of %s: %w", org, err)
		}
		if len(to) == 0 {
			to, err = w.userIDs(fmt.Sprintf(`SELECT user_id FROM %s WHERE role = ? AND status = ? AND user_id <> ?
ORDER BY user_id`, u), string(account.Support), string(account.Active), requester)
			if err != nil {
				return fmt.Errorf("support users: %w", err)
			}
		}
		p := Params{RequestID: e.RequestID.String(), RequesterUserID: requester, OrganisationID: org, LocationIDs: parts[org]}
		if err := w.enqueue(AccessRequest, org, p, to...); err != nil {
			return err
		}
	}
	return nil
}

func (w mailWriter) userIDs(q string, args ...any) ([]string, error) {
	rows, err := w.tx.QueryContext(w.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// enqueue records one message per recipient. part tells apart the messages
// one event sends one recipient with the same template (the organisations
// of an access request).
func (w mailWriter) enqueue(template, part string, p Params, recipients ...string) error {
	if len(recipients) == 0 {
		return nil
	}
	params, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%s params: %w", template, err)
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", len(recipients)), ", ")
	args := make([]any, 0, 7*len(recipients))
	for _, r := range recipients {
		args = append(args, MessageID(w.ev.ID, template, r, part), w.ev.ID.String(), w.ev.Position,
			template, r, string(params), w.ev.RecordedAt.UnixMilli())
	}
	_, err = w.tx.ExecContext(w.ctx, fmt.Sprintf(`INSERT INTO %s (id, event_id, position, template, recipient_user_id, params, created_at)
VALUES %s ON CONFLICT (id) DO NOTHING`, w.table(Table), values), args...)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", template, err)
	}
	return nil
}

// MessageID is the id of the mail_outbox row, and the Message-ID, of
// the message an event sends a recipient with a template (part tells apart
// several such messages of one event; usually ""). It is a name-based UUID
// (version 5) of those values, so it is the same on every replay, and it
// fits a Message-ID, which neither the values' length nor their colons
// would.
func MessageID(eventID uuid.UUID, template, recipientUserID, part string) string {
	name := "urn:capacity-tracker:mail:" + eventID.String() + ":" + template + ":" + recipientUserID
	if part != "" {
		name += ":" + part
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(name)).String()
}
