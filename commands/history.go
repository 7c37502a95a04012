package commands

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/history"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
	"github.com/capacitytracker/capacity/eventstore"
)

// Time travel: the state of a stream at a version or instant, diffs and
// timelines, folded from the event log itself (domain/history), so that an
// auditor's answer does not depend on any view being right. Support and
// auditors (account.User.IsAuditor) see every stream; an organisation's
// Approvers see the streams of its locations (the location, its daily
// updates and survey answers) and of its users; nobody else sees any.

// StreamHistory reads a stream's events for a replay, after checking that
// the actor may see them. An unknown or empty stream is domain.ErrNotFound;
// a category without a replay is a *domain.ValidationError.
func (a *Service) StreamHistory(ctx context.Context, actor Actor, streamID string) ([]history.Event, error) {
	if err := eventstore.ValidateStreamID(streamID); err != nil {
		return nil, domain.Invalid("stream_id", "invalid_stream", "Name a stream like location-1-101641286")
	}
	if !supportedCategory(eventstore.Category(streamID)) {
		return nil, domain.Invalid("stream_id", "unsupported_stream",
			"Replay covers streams of these categories: "+strings.Join(history.Categories(), ", "))
	}
	if err := a.mayReplay(ctx, actor, streamID); err != nil {
		return nil, err
	}
	evs, err := a.store.ReadStream(ctx, streamID, eventstore.ReadStreamOptions{})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, domain.ErrNotFound
	}
	out := make([]history.Event, len(evs))
	for i, ev := range evs {
		md := ev.Metadata
		out[i] = history.Event{Position: ev.Position, Version: ev.Version, Type: ev.Type, Data: ev.Data,
			RecordedAt: ev.RecordedAt, ActorUserID: md.ActorUserID, ActorAccountKind: string(md.ActorAccountKind),
			SessionID: md.SessionID, ClientIP: md.ClientIP, UserAgent: md.UserAgent, Command: md.Command}
	}
	return out, nil
}

func supportedCategory(c string) bool {
	for _, s := range history.Categories() {
		if s == c {
			return true
		}
	}
	return false
}

// mayReplay: support and auditors always; an Approver for the streams of
// their organisations' locations and users.
func (a *Service) mayReplay(ctx context.Context, actor Actor, streamID string) error {
	u := actor.User
	if actor.isSystem() || u.IsSupport() || u.IsAuditor() {
		return nil
	}
	id := strings.TrimPrefix(streamID, eventstore.Category(streamID)+"-")
	var orgs []string
	switch eventstore.Category(streamID) {
	case "location", "dailyupdate", "surveyresponse":
		locID := id
		if c := eventstore.Category(streamID); c == "surveyresponse" {
			loc, ok := survey.ResponseLocation(streamID)
			if !ok {
				return domain.ErrNotFound
			}
			locID = loc
		}
		lid, err := location.ParseID(locID)
		if err != nil {
			return domain.ErrNotFound
		}
		l, err := a.loadLocation(ctx, lid)
		if err != nil {
			return err
		}
		if !l.Exists() {
			return domain.ErrNotFound
		}
		orgs = []string{l.OrganisationID}
	case "organisation":
		orgs = []string{id}
	case "user":
		uid, err := uuid.Parse(id)
		if err != nil {
			return domain.ErrNotFound
		}
		target, err := a.LoadUser(ctx, uid)
		if err != nil {
			return err
		}
		if !target.Exists() {
			return domain.ErrNotFound
		}
		if target.ManagedBy(&u) {
			return nil
		}
		return domain.ErrForbidden
	}
	for _, o := range orgs {
		if u.IsApproverOf(o) {
			return nil
		}
	}
	return domain.ErrForbidden
}
