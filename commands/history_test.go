package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/history"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/password"
	"github.com/capacitytracker/capacity/eventstore"
)

// TestStreamHistory_ReplayEqualsAFreshFoldOfTheCutStream: after a series
// of provider-details edits, the replay at every version and at every
// event's instant equals the location folded afresh from the store's own
// cut of the stream (ReadStream with ToVersion / AsOf); the diff and the
// timeline name the fields each edit changed; only support and the
// organisation's Approver may replay.
func TestStreamHistory_ReplayEqualsAFreshFoldOfTheCutStream(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, b, password.FastParams())
			ctx := context.Background()
			sys := commands.System("test")
			stream := location.LocationStream(f.locID)
			version := func() int64 {
				evs, err := f.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return int64(len(evs))
			}
			must := func(_ commands.Edited, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(f.accounts.EditAddress(ctx, sys, location.EditAddress{LocationID: f.locID, ExpectedVersion: version(),
				Address: location.Address{Name: "Cranberry Home Care", ShortName: "Cranberry", Line1: "1 Mill Lane", Postcode: "NN1 1NN"}}))
			added, err := f.accounts.AddContact(ctx, sys, location.AddContact{LocationID: f.locID, ExpectedVersion: version(),
				Contact: location.ContactInput{Role: "Manager", Name: "Jo Bloggs", Email: "jo@cranberry.example", Phones: "01632 960000"}})
			if err != nil {
				t.Fatal(err)
			}
			must(f.accounts.UpdateContact(ctx, sys, location.UpdateContact{LocationID: f.locID, ExpectedVersion: version(), ContactID: added.ID,
				Contact: location.ContactInput{Role: "Manager", Name: "Jo Bloggs", Email: "jo.bloggs@cranberry.example", Phones: "01632 960000"}}))
			must(f.accounts.AddNote(ctx, sys, location.AddNote{LocationID: f.locID, ExpectedVersion: version(), Text: "Night visits"}))
			must(f.accounts.EditAddress(ctx, sys, location.EditAddress{LocationID: f.locID, ExpectedVersion: version(),
				Address: location.Address{Name: "Cranberry Home Care", ShortName: "Cranberry", Line1: "1 Mill Lane", Postcode: "NN1 5DP"}}))

			approver, err := f.accounts.LoadUser(ctx, f.approver)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := f.accounts.StreamHistory(ctx, commands.Actor{User: approver, SessionID: "s"}, stream)
			if err != nil {
				t.Fatalf("the organisation's Approver may replay its location: %v", err)
			}
			stored, err := f.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fresh := func(cut []eventstore.Event) string {
				var l location.Location
				for _, ev := range cut {
					d, err := location.Decode(ev.Type, ev.Data)
					if err != nil {
						t.Fatal(err)
					}
					l = location.EvolveLocation(l, d)
				}
				data, _ := json.Marshal(l.Profile())
				return string(data)
			}
			replayed := func(p history.Point) history.State {
				s, err := history.Replay(stream, evs, p)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			for v := int64(1); v <= int64(len(stored)); v++ {
				cut, err := f.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{ToVersion: v})
				if err != nil {
					t.Fatal(err)
				}
				s := replayed(history.AtVersion(v))
				if got, _ := json.Marshal(s.State); string(got) != fresh(cut) || s.Version != v {
					t.Fatalf("version %d: replay %s\nfresh fold %s", v, got, fresh(cut))
				}
				at := stored[v-1].RecordedAt
				cut, err = f.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{AsOf: at})
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := json.Marshal(replayed(history.AsOf(at)).State); string(got) != fresh(cut) {
					t.Fatalf("as of %s: replay %s\nfresh fold %s", at, got, fresh(cut))
				}
			}
			if s := replayed(history.AtVersion(0)); s.Version != 0 || s.At != nil {
				t.Fatalf("before the first event: %+v", s)
			}

			// The diff from the first to the last version.
			first, last := replayed(history.AtVersion(1)), replayed(history.AtVersion(int64(len(stored))))
			changes, err := history.Diff(first.State, last.State)
			if err != nil {
				t.Fatal(err)
			}
			var fields []string
			for _, c := range changes {
				fields = append(fields, c.Field)
				if c.Field == "address.postcode" && (c.Before != "NN1 1NN" || c.After != "NN1 5DP") {
					t.Errorf("postcode change %+v", c)
				}
			}
			for _, want := range []string{"address.postcode", "address.address_line1", "contacts[0].email", "notes[0].text", "version"} {
				if !slices.Contains(fields, want) {
					t.Errorf("diff fields %v lack %s", fields, want)
				}
			}

			tl, err := history.Timeline(stream, evs)
			if err != nil {
				t.Fatal(err)
			}
			if len(tl) != len(stored) {
				t.Fatalf("timeline of %d entries for %d events", len(tl), len(stored))
			}
			update := tl[len(tl)-3] // the contact's new email
			if update.Type != location.TypeContactUpdated || len(update.Changes) != 1 || update.Changes[0].Field != "contacts[0].email" ||
				update.Changes[0].Before != "jo@cranberry.example" || update.ActorAccountKind != "system" {
				t.Fatalf("timeline entry of the contact update: %+v", update)
			}

			// Nobody else replays: a user of another organisation, and an
			// unknown stream.
			other := approver
			other.Locations = map[string]string{"1-999": "1-998"}
			if _, err := f.accounts.StreamHistory(ctx, commands.Actor{User: other, SessionID: "s"}, stream); !errors.Is(err, domain.ErrForbidden) {
				t.Fatalf("another organisation's Approver: %v", err)
			}
			if _, err := f.accounts.StreamHistory(ctx, sys, location.LocationStream("1-404")); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("unknown stream: %v", err)
			}
			var v *domain.ValidationError
			if _, err := f.accounts.StreamHistory(ctx, sys, "login-"+f.approver.String()); !errors.As(err, &v) {
				t.Fatalf("a stream without a replay: %v", err)
			}
		})
	}
}
