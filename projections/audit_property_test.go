package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/history"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
)

// checkAuditComplete checks the audit view against the event log: every
// event appears in audit_events exactly once, with its stream, type and
// who-and-how from its metadata, and its changes in audit_changes are
// exactly those of a replay's timeline of its stream (folded from the
// whole stream, where the view resumes each stream from its snapshot), or
// for a stream without a replay its data's fields. The streams of a
// location are visible to the location's organisation, and a user's
// account and logins to the organisations of the user's locations.
func checkAuditComplete(t *testing.T, ctx context.Context, store eventstore.Store, rm projections.ReadModels) {
	t.Helper()
	var all []eventstore.Event
	for from := int64(0); ; {
		evs, err := store.ReadAll(ctx, from, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		all = append(all, evs...)
		from = evs[len(evs)-1].Position
	}

	type auditRow struct {
		line    string
		count   int
		changes []string
	}
	got := map[int64]*auditRow{}
	orgs := map[string][]string{} // stream id -> organisations
	err := rm.Query(ctx, func(q projections.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT position, event_id, stream_id, stream_version, event_type, entity_type,
    entity_id, location_id, actor_user_id, actor_account_kind, session_id, client_ip, user_agent, command,
    correlation_id, bulk_upload_id, change_count FROM audit_events`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var pos, version int64
			var n int
			var id, stream, typ, entityType, entityID, loc, actor, kind, session, ip, ua, command, corr, upload string
			if err := rows.Scan(&pos, &id, &stream, &version, &typ, &entityType, &entityID, &loc, &actor, &kind, &session,
				&ip, &ua, &command, &corr, &upload, &n); err != nil {
				rows.Close()
				return err
			}
			r := got[pos]
			if r == nil {
				r = &auditRow{}
				got[pos] = r
			}
			r.count++
			r.line = strings.Join([]string{id, stream, fmt.Sprint(version), typ, entityType, entityID, loc, actor, kind, session,
				ip, ua, command, corr, upload, fmt.Sprint(n)}, "|")
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		rows, err = q.QueryContext(ctx, `SELECT position, field, COALESCE(before_value, '<none>'), COALESCE(after_value, '<none>')
FROM audit_changes ORDER BY position, seq`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var pos int64
			var field, before, after string
			if err := rows.Scan(&pos, &field, &before, &after); err != nil {
				rows.Close()
				return err
			}
			r := got[pos]
			if r == nil {
				return fmt.Errorf("change of position %d, which has no audit event", pos)
			}
			r.changes = append(r.changes, field+": "+before+" -> "+after)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		rows, err = q.QueryContext(ctx, `SELECT stream_id, organisation_id FROM audit_entity_orgs`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var stream, org string
			if err := rows.Scan(&stream, &org); err != nil {
				return err
			}
			orgs[stream] = append(orgs[stream], org)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Errorf("audit_events has %d events, the log %d", len(got), len(all))
	}

	// The expected changes of each event, by position.
	byStream := map[string][]eventstore.Event{}
	var streams []string
	for _, ev := range all {
		if _, ok := byStream[ev.StreamID]; !ok {
			streams = append(streams, ev.StreamID)
		}
		byStream[ev.StreamID] = append(byStream[ev.StreamID], ev)
	}
	want := map[int64][]history.Change{}
	for _, id := range streams {
		evs := byStream[id]
		if slices.Contains(history.Categories(), eventstore.Category(id)) {
			hevs := make([]history.Event, len(evs))
			for i, ev := range evs {
				hevs[i] = history.Event{Position: ev.Position, Version: ev.Version, Type: ev.Type, Data: projections.MarkErased(ev)}
			}
			tl, err := history.Timeline(id, hevs)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tl {
				want[e.Position] = e.Changes
			}
			continue
		}
		for _, ev := range evs {
			var data map[string]any
			if err := json.Unmarshal(projections.MarkErased(ev), &data); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			changes, err := history.Diff(map[string]any{}, data)
			if err != nil {
				t.Fatal(err)
			}
			want[ev.Position] = changes
		}
	}

	bad, changed := 0, 0
	for _, ev := range all {
		r := got[ev.Position]
		md := ev.Metadata
		loc := ""
		switch ev.Category() {
		case "location", "dailyupdate":
			loc = strings.TrimPrefix(ev.StreamID, ev.Category()+"-")
		case "surveyresponse":
			_, loc, _ = strings.Cut(ev.StreamID, ".")
		}
		changes := want[ev.Position]
		line := strings.Join([]string{ev.ID.String(), ev.StreamID, fmt.Sprint(ev.Version), ev.Type, ev.Category(),
			strings.TrimPrefix(ev.StreamID, ev.Category()+"-"), loc, md.ActorUserID, string(md.ActorAccountKind), md.SessionID,
			md.ClientIP, md.UserAgent, md.Command, md.CorrelationID, md.Extra["upload_id"], fmt.Sprint(len(changes))}, "|")
		wantChanges := make([]string, len(changes))
		for i, c := range changes {
			wantChanges[i] = c.Field + ": " + jsonText(t, c.Before) + " -> " + jsonText(t, c.After)
		}
		changed += len(changes)
		switch {
		case r == nil:
			t.Errorf("event %d (%s %s) is not in the audit view", ev.Position, ev.StreamID, ev.Type)
		case r.count != 1:
			t.Errorf("event %d is in the audit view %d times", ev.Position, r.count)
		case r.line != line:
			t.Errorf("event %d:\n got %s\nwant %s", ev.Position, r.line, line)
		case !slices.Equal(r.changes, wantChanges):
			t.Errorf("event %d (%s %s) changes:\n got %q\nwant %q", ev.Position, ev.StreamID, ev.Type, r.changes, wantChanges)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatal("too many differences")
		}
	}
	t.Logf("audit: %d events, %d field changes", len(all), changed)

	// Who may see what.
	visible := func(stream, org string) {
		t.Helper()
		if !slices.Contains(orgs[stream], org) {
			t.Errorf("%s is not visible to organisation %s (visible to %v)", stream, org, orgs[stream])
		}
	}
	locOrg := map[string]string{}
	for _, id := range streams {
		evs := byStream[id]
		switch eventstore.Category(id) {
		case "location":
			var l location.Location
			for _, ev := range evs {
				d, err := location.Decode(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				l = location.EvolveLocation(l, d)
			}
			if l.OrganisationID == "" {
				t.Fatalf("%s has no organisation", id)
			}
			locOrg[l.LocationID] = l.OrganisationID
		}
	}
	for _, id := range streams {
		switch c := eventstore.Category(id); c {
		case "location", "dailyupdate":
			visible(id, locOrg[strings.TrimPrefix(id, c+"-")])
		case "surveyresponse":
			_, loc, _ := strings.Cut(id, ".")
			visible(id, locOrg[loc])
		case "user":
			var u account.User
			for _, ev := range byStream[id] {
				d, err := account.Decode(ev.Type, ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				u = account.Evolve(u, d)
			}
			for _, org := range u.Locations {
				visible(id, org)
				if login := "login-" + strings.TrimPrefix(id, "user-"); byStream[login] != nil {
					visible(login, org)
				}
			}
		case "survey", "bulkupload":
			if len(orgs[id]) > 0 {
				t.Errorf("%s is visible to organisations %v: only auditors may see it", id, orgs[id])
			}
		}
	}
}

// jsonText is a change's value as the view stores it.
func jsonText(t *testing.T, v any) string {
	if v == nil {
		return "<none>"
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
