package commands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// --- loading aggregates -----------------------------------------------------

// LoadUser folds a user's stream.
func (a *Service) LoadUser(ctx context.Context, id uuid.UUID) (account.User, error) {
	u := account.User{ID: id}
	err := a.readStream(ctx, account.UserStream(id), func(ev eventstore.Event) error {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		u = account.Evolve(u, d)
		return nil
	})
	return u, err
}

func (a *Service) loadLogin(ctx context.Context, id uuid.UUID) (account.Login, error) {
	var l account.Login
	err := a.readStream(ctx, account.LoginStream(id), func(ev eventstore.Event) error {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		l = account.EvolveLogin(l, d)
		return nil
	})
	return l, err
}

func (a *Service) loadEmail(ctx context.Context, e account.Email) (account.EmailOwner, error) {
	var o account.EmailOwner
	err := a.readStream(ctx, account.EmailStream(e), func(ev eventstore.Event) error {
		d, err := account.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		o = account.EvolveEmail(o, d)
		return nil
	})
	return o, err
}

func (a *Service) loadLocation(ctx context.Context, id location.ID) (location.Location, error) {
	var l location.Location
	err := a.readStream(ctx, id.LocationStream(), func(ev eventstore.Event) error {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		l = location.EvolveLocation(l, d)
		return nil
	})
	return l, err
}

func (a *Service) loadOrganisation(ctx context.Context, id location.ID) (location.Organisation, error) {
	var o location.Organisation
	err := a.readStream(ctx, id.OrganisationStream(), func(ev eventstore.Event) error {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		o = location.EvolveOrganisation(o, d)
		return nil
	})
	return o, err
}

// loadLocations loads the named locations, for a lookup function of the
// domain's validation.
func (a *Service) loadLocations(ctx context.Context, ids []string) (func(string) (location.Location, bool), error) {
	found := map[string]location.Location{}
	if len(ids) > account.MaxLocationsPerRequest {
		ids = ids[:account.MaxLocationsPerRequest+1]
	}
	for _, id := range ids {
		if _, done := found[id]; done {
			continue
		}
		lid, err := location.ParseID(id)
		if err != nil {
			found[id] = location.Location{} // no location has it
			continue
		}
		l, err := a.loadLocation(ctx, lid)
		if err != nil {
			return nil, err
		}
		found[id] = l
	}
	return func(id string) (location.Location, bool) {
		l, ok := found[id]
		return l, ok && l.Exists()
	}, nil
}

// randomToken returns a new secret token with a prefix, and its SHA-256 as
// stored.
func randomToken(prefix string) (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token), nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func millis(t time.Time) int64 { return t.UnixMilli() }
