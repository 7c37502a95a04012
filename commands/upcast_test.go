package commands_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// TestUpcast_ContactsStoredInTheOldShapeReadAsLists: a contact stored
// before ContactAdded.v2 (phones as one string, sealed like any contact)
// reads as a list in the profile, and editing it appends the new shape.
func TestUpcast_ContactsStoredInTheOldShapeReadAsLists(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, b, password.FastParams())
			ctx := context.Background()
			stream := location.LocationStream(f.locID)
			evs, err := f.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			contactID := uuid.NewString()
			old := eventstore.EventData{ID: uuid.New(), Type: "ContactAdded", Data: json.RawMessage(`{"location_id": "` + f.locID +
				`", "contact": {"contact_id": "` + contactID + `", "role": "Manager", "name": "Old Shape", "organisation_name": "",
				"phones": "01632 960123, 07700 900123", "email": "", "address": "", "public": false}}`),
				Personal: []eventstore.PersonalField{{Path: "contact.phones", Subject: location.ContactSubject(contactID)}}}
			if _, err := f.store.Append(ctx, stream, eventstore.Exact(int64(len(evs))), old); err != nil {
				t.Fatal(err)
			}
			sys := commands.System("test")
			p, err := f.accounts.LocationProfile(ctx, sys, f.locID)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(p.Contacts, func(c location.Contact) bool { return c.ContactID == contactID })
			if i < 0 || !slices.Equal(p.Contacts[i].Phones, []string{"01632 960123", "07700 900123"}) {
				t.Fatalf("profile contacts %+v", p.Contacts)
			}
			if _, err := f.accounts.UpdateContact(ctx, sys, location.UpdateContact{LocationID: f.locID, ExpectedVersion: p.Version,
				ContactID: contactID, Contact: location.ContactInput{Role: "Manager", Name: "Old Shape", Phones: "07700 900999"}}); err != nil {
				t.Fatal(err)
			}
			evs, err = f.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			last := evs[len(evs)-1]
			var upd struct {
				Before struct{ Phones []string } `json:"before"`
				After  struct{ Phones []string } `json:"after"`
			}
			if err := json.Unmarshal(last.Data, &upd); err != nil || last.Type != location.TypeContactUpdated ||
				len(upd.Before.Phones) != 2 || !slices.Equal(upd.After.Phones, []string{"07700 900999"}) {
				t.Fatalf("the edit appended %s %s (%v)", last.Type, last.Data, err)
			}
		})
	}
}
