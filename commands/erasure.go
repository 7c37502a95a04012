package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// Erased is the outcome of an erasure.
type Erased struct {
	ErasureID string `json:"erasure_id"`
	Subject   string `json:"subject"`
	Position  int64  `json:"position"`
}

// Errors of ErasePerson.
var (
	ErrEraseActiveUser = &domain.RuleError{Code: "user_active",
		Message: "Deactivate the account before erasing its holder: an active user still needs their email to log in"}
	ErrEraseSelf = &domain.RuleError{Code: "erase_self", Message: "Another member of support must erase you"}
)

// ErasePerson erases a person (support only): a deactivated user, or a
// contact that is or was in a location's directory. The person's
// data-subject key is deleted and PersonErased appended in one
// transaction, so that from the commit every personal field sealed under
// the key reads as erased ("[erased]" in the views) and the erasure is on
// the record. The views still hold what they copied until the event
// reaches them: each projection then redacts the person's rows in place
// (projections.Eraser), so a client that waits for Position (min_position)
// reads nothing of them in any view.
func (a *Service) ErasePerson(ctx context.Context, actor Actor, req erasure.Request) (Erased, error) {
	var out Erased
	if err := actor.mayChange(); err != nil {
		return out, err
	}
	if !actor.isSystem() && !actor.User.IsSupport() {
		return out, domain.ErrForbidden
	}
	req, err := req.Validate()
	if err != nil {
		return out, err
	}
	ev := erasure.PersonErased{ErasureID: uuid.NewString(), Kind: req.Kind, RequestedBy: req.RequestedBy, Reason: req.Reason,
		ErasedAt: a.now()}
	switch req.Kind {
	case erasure.KindUser:
		id := uuid.MustParse(req.UserID)
		u, err := a.LoadUser(ctx, id)
		if err != nil {
			return out, err
		}
		switch {
		case !u.Exists():
			return out, domain.ErrNotFound
		case id == actor.User.ID:
			return out, ErrEraseSelf
		case u.Status == account.Active || u.Status == account.Pending:
			return out, ErrEraseActiveUser
		}
		ev.Subject, ev.UserID = account.Subject(id), id.String()
	case erasure.KindContact:
		locID, err := location.ParseID(req.LocationID)
		if err != nil {
			return out, domain.ErrNotFound
		}
		found, err := a.contactEverListed(ctx, locID, req.ContactID)
		if err != nil {
			return out, err
		}
		if !found {
			return out, domain.ErrNotFound
		}
		ev.Subject, ev.LocationID, ev.ContactID = location.ContactSubject(req.ContactID), req.LocationID, req.ContactID
	}
	data, err := encode(actor.metadata("ErasePerson"), "", ev)
	if err != nil {
		return out, err
	}
	err = a.store.InTx(ctx, func(tx eventstore.Tx) error {
		if err := tx.ForgetSubject(ctx, ev.Subject); err != nil {
			return err
		}
		res, err := tx.Append(ctx, eventstore.AppendRequest{StreamID: erasure.Stream(ev.ErasureID), Expected: eventstore.NoStream, Events: data})
		if err != nil {
			return err
		}
		out = Erased{ErasureID: ev.ErasureID, Subject: ev.Subject, Position: lastPosition(res)}
		return nil
	})
	return out, err
}

// contactEverListed reports whether a contact of that id was ever added to
// the location's directory (it may have been removed since: its data is
// still in the history).
func (a *Service) contactEverListed(ctx context.Context, locationID location.ID, contactID string) (bool, error) {
	found := false
	err := a.readStream(ctx, locationID.LocationStream(), func(ev eventstore.Event) error {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		if e, ok := d.(location.ContactAdded); ok && e.Contact.ContactID == contactID {
			found = true
		}
		return nil
	})
	return found, err
}
