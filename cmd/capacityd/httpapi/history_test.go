package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/domain/history"
	"github.com/capacitytracker/capacity/domain/location"
)

// TestHistory_TimelineDiffAndReplayOverHTTP: a contact added through
// standardA's login shows in the location's timeline with that login's
// session, IP and user agent; the diff and the replay at the version
// before it agree; support and the organisation's Approver may read it,
// nobody else.
func TestHistory_TimelineDiffAndReplayOverHTTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		loc := orgA.loc(0)
		stream := location.LocationStream(loc)
		path := "/api/v1/history/" + stream
		before := w.version(stream)

		std := w.newClientFrom("127.0.0.7", "audit-test/2.0")
		std.login(w.standardA.Email, w.standardA.Password, false).want(http.StatusCreated)
		std.post(locPath(loc, "contacts"), with(managerContact(), "expected_version", before)).want(http.StatusCreated)

		approver := w.loginAs(w.approverA)
		var tl struct {
			StreamID string          `json:"stream_id"`
			Entries  []history.Entry `json:"entries"`
		}
		approver.get(path + "/timeline").want(http.StatusOK).decode(&tl)
		if int64(len(tl.Entries)) != before+1 {
			t.Fatalf("timeline of %d entries, want %d", len(tl.Entries), before+1)
		}
		e := tl.Entries[len(tl.Entries)-1]
		if e.Type != location.TypeContactAdded || e.SessionID != std.sessionID || e.ActorUserID != w.standardA.ID.String() ||
			e.ClientIP != "127.0.0.7" || e.UserAgent != "audit-test/2.0" || e.ActorAccountKind != "personal" || len(e.Changes) == 0 {
			t.Fatalf("the contact's entry = %+v", e)
		}

		var d httpapi.DiffBody
		approver.get(path + "/diff?from=" + itoa(before)).want(http.StatusOK).decode(&d)
		found := false
		for _, c := range d.Changes {
			if c.Field == "contacts[0].email" && c.Before == nil && c.After == "rosa.manager@rosehill.example.org" {
				found = true
			}
		}
		if !found || d.From.Version != before || d.To.Version != before+1 {
			t.Fatalf("diff = %+v", d)
		}
		var st history.State
		w.loginAs(w.support).get(path + "?version=" + itoa(before)).want(http.StatusOK).decode(&st)
		if st.Version != before {
			t.Fatalf("replay at %d = %+v", before, st)
		}
		approver.get(path+"?version=seven").wantError(http.StatusUnprocessableEntity, "validation_failed")
		approver.get("/api/v1/history/login-x/timeline").wantError(http.StatusUnprocessableEntity, "validation_failed")

		// Nobody else.
		w.loginAs(w.approverB).get(path+"/timeline").wantError(http.StatusForbidden, "forbidden")
		std.get(path+"/timeline").wantError(http.StatusForbidden, "forbidden")
		w.newClient().get(path+"/timeline").wantError(http.StatusUnauthorized, "unauthenticated")
		approver.get("/api/v1/history/"+location.LocationStream("1-404")+"/timeline").wantError(http.StatusNotFound, "not_found")
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
