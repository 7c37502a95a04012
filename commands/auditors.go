package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
)

// The auditor role: support grants it to a person who must be able to
// replay every stream (StreamHistory), as support can, without support's
// power to change things. It lives on the user's stream, so the grant and
// its revocation are themselves in the log an auditor reads.

// AuditorChanged is the outcome of granting or revoking the auditor role.
type AuditorChanged struct {
	UserID  uuid.UUID `json:"user_id"`
	Auditor bool      `json:"auditor"`
	// Version is the user stream's version after the command.
	Version int64 `json:"version"`
	// Position of the event appended, for read-your-writes; 0 when the
	// user had the role already (or, revoking, did not have it).
	Position int64 `json:"position"`
}

// GrantAuditorRole makes an active user an auditor (support only).
func (a *Service) GrantAuditorRole(ctx context.Context, actor Actor, userID uuid.UUID) (AuditorChanged, error) {
	return a.changeAuditorRole(ctx, actor, userID, "GrantAuditorRole", true, account.DecideGrantAuditor)
}

// RevokeAuditorRole takes the auditor role back (support only).
func (a *Service) RevokeAuditorRole(ctx context.Context, actor Actor, userID uuid.UUID) (AuditorChanged, error) {
	return a.changeAuditorRole(ctx, actor, userID, "RevokeAuditorRole", false, account.DecideRevokeAuditor)
}

func (a *Service) changeAuditorRole(ctx context.Context, actor Actor, userID uuid.UUID, command string, auditor bool,
	decide func(u, actor account.User) ([]account.Event, error)) (AuditorChanged, error) {
	if err := a.supportOnly(actor); err != nil {
		return AuditorChanged{}, err
	}
	out := AuditorChanged{UserID: userID, Auditor: auditor}
	err := a.appendToUser(ctx, actor, userID, command, func(u account.User) ([]account.Event, error) {
		evs, err := decide(u, actor.User)
		out.Version = u.Version + int64(len(evs))
		return evs, err
	}, func(p int64) { out.Position = p })
	if err != nil {
		return AuditorChanged{}, err
	}
	return out, nil
}
