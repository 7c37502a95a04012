package commands

import (
	"context"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// Submitted is the outcome of a daily update.
type Submitted struct {
	// Position of the event appended, for read-your-writes.
	Position int64 `json:"position"`
	// Day is the calendar day in Europe/London the update is of.
	Day     string              `json:"day"`
	Answers dailyupdate.Answers `json:"answers"`
	// NoChange: the answers were copied from the previous update.
	NoChange bool `json:"no_change"`
	// Superseded: an earlier update of the same day no longer counts.
	Superseded bool `json:"superseded"`
}

// ErrLocationDeregistered refuses the daily update of a location CQC
// deregistered.
var ErrLocationDeregistered = &domain.RuleError{Code: "location_deregistered",
	Message: "This location is deregistered with CQC: it has no daily update"}

// loadDailyUpdates folds a location's daily update stream.
func (a *Service) loadDailyUpdates(ctx context.Context, locationID location.ID) (dailyupdate.State, error) {
	var s dailyupdate.State
	err := a.readStream(ctx, dailyupdate.Stream(locationID.String()), func(ev eventstore.Event) error {
		d, err := dailyupdate.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		s = dailyupdate.Evolve(s, d)
		return nil
	})
	return s, err
}

// decideDailyUpdate is the daily update's decision on the loaded location
// and its update stream, shared by the form and the bulk upload.
func decideDailyUpdate(l location.Location, s dailyupdate.State, c dailyupdate.Submit) (dailyupdate.DailyUpdateSubmitted, error) {
	if !l.Exists() {
		return dailyupdate.DailyUpdateSubmitted{}, domain.ErrNotFound
	}
	if l.Deregistered() {
		return dailyupdate.DailyUpdateSubmitted{}, ErrLocationDeregistered
	}
	return dailyupdate.Decide(s, c)
}

// SubmitDailyUpdate records a location's COVID-19 update of today (the
// calendar day in Europe/London): the form's answers, or with NoChange a
// copy of the last ones. Users with access to the location and support
// may submit; a second submission on one day supersedes the first.
func (a *Service) SubmitDailyUpdate(ctx context.Context, actor Actor, c dailyupdate.Submit) (Submitted, error) {
	var out Submitted
	id, err := location.ParseID(c.LocationID)
	if err != nil {
		return out, domain.ErrNotFound
	}
	if err := actor.mayEditLocation(c.LocationID); err != nil {
		if l, lerr := a.loadLocation(ctx, id); lerr == nil && !l.Exists() {
			return out, domain.ErrNotFound
		}
		return out, err
	}
	c.UploadID = "" // only the bulk upload tags its updates
	meta := actor.metadata("SubmitDailyUpdate")
	err = retry(ctx, func() error {
		l, err := a.loadLocation(ctx, id)
		if err != nil {
			return err
		}
		s, err := a.loadDailyUpdates(ctx, id)
		if err != nil {
			return err
		}
		c.Now = a.now()
		ev, err := decideDailyUpdate(l, s, c)
		if err != nil {
			return err
		}
		data, err := encode(meta, "", ev)
		if err != nil {
			return err
		}
		res, err := a.store.Append(ctx, dailyupdate.Stream(id.String()), expect(s.Version), data...)
		if err != nil {
			return err
		}
		out = Submitted{Position: res.LastPosition(), Day: ev.Day, Answers: ev.Answers, NoChange: ev.NoChange,
			Superseded: s.Last != nil && s.Last.Day == ev.Day}
		return nil
	})
	return out, err
}

// LastDailyUpdate is the latest daily update of a location, folded from
// its stream, for the form's "your last update" and its "no change"
// button. ok is false when the location never submitted.
func (a *Service) LastDailyUpdate(ctx context.Context, actor Actor, locationID string) (dailyupdate.DailyUpdateSubmitted, bool, error) {
	id, err := location.ParseID(locationID)
	if err != nil {
		return dailyupdate.DailyUpdateSubmitted{}, false, domain.ErrNotFound
	}
	l, err := a.loadLocation(ctx, id)
	if err != nil {
		return dailyupdate.DailyUpdateSubmitted{}, false, err
	}
	if !l.Exists() {
		return dailyupdate.DailyUpdateSubmitted{}, false, domain.ErrNotFound
	}
	if !actor.mayReadLocation(locationID) {
		return dailyupdate.DailyUpdateSubmitted{}, false, domain.ErrForbidden
	}
	s, err := a.loadDailyUpdates(ctx, id)
	if err != nil || s.Last == nil {
		return dailyupdate.DailyUpdateSubmitted{}, false, err
	}
	return *s.Last, true, nil
}
