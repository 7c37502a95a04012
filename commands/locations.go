package commands

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
)

// Provider details: the Edit Provider page's commands. Each is decided on
// the version of the location the caller last saw and appends at exactly
// that version, so two editors of one version never both win: the second
// gets a *location.StaleVersionError with the current state.

// Edited is the outcome of a provider-details edit.
type Edited struct {
	// Position of the last event appended, for read-your-writes.
	Position int64 `json:"position"`
	// Version is the location's version after the edit: the next edit's
	// expected version (the new ETag).
	Version int64 `json:"version"`
	// Changed is false for a "no change" save (DetailsConfirmed).
	Changed bool `json:"changed"`
	// ID of the contact or note the command created, if any.
	ID string `json:"id,omitempty"`
}

// LocationProfile is a location's Edit Provider page, folded from its
// stream: exactly the version an edit must name. Callers without access
// get domain.ErrForbidden; an unknown location is domain.ErrNotFound.
func (a *Service) LocationProfile(ctx context.Context, actor Actor, locationID string) (location.Profile, error) {
	id, err := location.ParseID(locationID)
	if err != nil {
		return location.Profile{}, domain.ErrNotFound
	}
	l, err := a.loadLocation(ctx, id)
	if err != nil {
		return location.Profile{}, err
	}
	if !l.Exists() {
		return location.Profile{}, domain.ErrNotFound
	}
	if !actor.mayReadLocation(locationID) {
		return location.Profile{}, domain.ErrForbidden
	}
	return l.Profile(), nil
}

// editLocation authorises, loads the location, decides and appends at the
// version decided on. subject names the data subject of the events'
// personal fields ("" when they have none).
func (a *Service) editLocation(ctx context.Context, actor Actor, command, locationID, subject string,
	decide func(l location.Location) ([]any, error)) (Edited, error) {
	var out Edited
	id, err := location.ParseID(locationID)
	if err != nil {
		return out, domain.ErrNotFound
	}
	if err := actor.mayEditLocation(locationID); err != nil {
		// An unknown location is 404 to everyone, not 403.
		if l, lerr := a.loadLocation(ctx, id); lerr == nil && !l.Exists() {
			return out, domain.ErrNotFound
		}
		return out, err
	}
	meta := actor.metadata(command)
	// A lost race reloads: the caller's version is then stale, and the
	// decision says so with the state that won.
	err = retry(ctx, func() error {
		l, err := a.loadLocation(ctx, id)
		if err != nil {
			return err
		}
		evs, err := decide(l)
		if err != nil {
			return err
		}
		data, err := encode(meta, subject, evs...)
		if err != nil {
			return err
		}
		res, err := a.store.Append(ctx, id.LocationStream(), expect(l.Version), data...)
		if err != nil {
			return err
		}
		out.Position, out.Version = res.LastPosition(), l.Version+int64(len(evs))
		out.Changed = true
		for _, ev := range evs {
			if _, ok := ev.(location.DetailsConfirmed); ok {
				out.Changed = false
			}
		}
		return nil
	})
	var stale *location.StaleVersionError
	if errors.As(err, &stale) {
		return out, stale
	}
	return out, err
}

// EditAddress saves the Address Details section.
func (a *Service) EditAddress(ctx context.Context, actor Actor, c location.EditAddress) (Edited, error) {
	return a.editLocation(ctx, actor, "EditAddress", c.LocationID, "", func(l location.Location) ([]any, error) {
		return location.DecideEditAddress(l, c)
	})
}

// AddContact adds a contact to the directory.
func (a *Service) AddContact(ctx context.Context, actor Actor, c location.AddContact) (Edited, error) {
	c.ContactID = uuid.NewString()
	out, err := a.editLocation(ctx, actor, "AddContact", c.LocationID, location.ContactSubject(c.ContactID),
		func(l location.Location) ([]any, error) { return location.DecideAddContact(l, c) })
	if err == nil {
		out.ID = c.ContactID
	}
	return out, err
}

// UpdateContact saves one contact.
func (a *Service) UpdateContact(ctx context.Context, actor Actor, c location.UpdateContact) (Edited, error) {
	return a.editLocation(ctx, actor, "UpdateContact", c.LocationID, location.ContactSubject(c.ContactID),
		func(l location.Location) ([]any, error) { return location.DecideUpdateContact(l, c) })
}

// RemoveContact removes a contact from the directory.
func (a *Service) RemoveContact(ctx context.Context, actor Actor, c location.RemoveContact) (Edited, error) {
	return a.editLocation(ctx, actor, "RemoveContact", c.LocationID, location.ContactSubject(c.ContactID),
		func(l location.Location) ([]any, error) { return location.DecideRemoveContact(l, c) })
}

// LinkGPPractice links a GP practice.
func (a *Service) LinkGPPractice(ctx context.Context, actor Actor, c location.LinkGPPractice) (Edited, error) {
	return a.editLocation(ctx, actor, "LinkGPPractice", c.LocationID, "", func(l location.Location) ([]any, error) {
		// A code that is no id names no practice: the decision says so.
		var practice location.Organisation
		if code, err := location.ParseID(c.PracticeCode); err == nil {
			if practice, err = a.loadOrganisation(ctx, code); err != nil {
				return nil, err
			}
		}
		return location.DecideLinkGPPractice(l, practice, c)
	})
}

// UnlinkGPPractice unlinks a GP practice.
func (a *Service) UnlinkGPPractice(ctx context.Context, actor Actor, c location.UnlinkGPPractice) (Edited, error) {
	return a.editLocation(ctx, actor, "UnlinkGPPractice", c.LocationID, "", func(l location.Location) ([]any, error) {
		return location.DecideUnlinkGPPractice(l, c)
	})
}

// EditClassification saves the ownership type.
func (a *Service) EditClassification(ctx context.Context, actor Actor, c location.EditClassification) (Edited, error) {
	return a.editLocation(ctx, actor, "EditClassification", c.LocationID, "", func(l location.Location) ([]any, error) {
		return location.DecideEditClassification(l, c)
	})
}

// AddNote adds a note to the log, dated now and signed by the caller.
func (a *Service) AddNote(ctx context.Context, actor Actor, c location.AddNote) (Edited, error) {
	c.NoteID, c.At = uuid.NewString(), a.now()
	c.AuthorID, c.AuthorName = "", "System"
	subject := ""
	if !actor.isSystem() {
		c.AuthorID, c.AuthorName = actor.User.ID.String(), actor.User.FullName
		subject = account.Subject(actor.User.ID)
	}
	out, err := a.editLocation(ctx, actor, "AddNote", c.LocationID, subject, func(l location.Location) ([]any, error) {
		return location.DecideAddNote(l, c)
	})
	if err == nil {
		out.ID = c.NoteID
	}
	return out, err
}

// EditNote changes a note's text.
func (a *Service) EditNote(ctx context.Context, actor Actor, c location.EditNote) (Edited, error) {
	c.At = a.now()
	return a.editLocation(ctx, actor, "EditNote", c.LocationID, "", func(l location.Location) ([]any, error) {
		return location.DecideEditNote(l, c)
	})
}

// DeleteNote deletes a note.
func (a *Service) DeleteNote(ctx context.Context, actor Actor, c location.DeleteNote) (Edited, error) {
	return a.editLocation(ctx, actor, "DeleteNote", c.LocationID, "", func(l location.Location) ([]any, error) {
		return location.DecideDeleteNote(l, c)
	})
}

// EditPAMMS saves the PAMMS fields of Care Quality.
func (a *Service) EditPAMMS(ctx context.Context, actor Actor, c location.EditPAMMS) (Edited, error) {
	today := a.now()
	return a.editLocation(ctx, actor, "EditPAMMS", c.LocationID, "", func(l location.Location) ([]any, error) {
		return location.DecideEditPAMMS(l, c, today)
	})
}
