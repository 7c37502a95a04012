package commands

import (
	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
)

// LinkUser is the user a set-password link was issued to, when its
// signature holds: the account a request with the link is about, which
// the HTTP port's rate limit counts by. It reads nothing, so a forged
// token costs nothing and names nobody.
func (a *Service) LinkUser(token string) (uuid.UUID, bool) {
	userID, _, ok := account.ParseLinkToken(a.linkKey, token)
	return userID, ok
}
