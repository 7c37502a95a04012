package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// auditor registers a user for orgC's location (support approves: orgC
// has no Approver), sets their password and has support grant them the
// auditor role: a logged-in auditor.
func (w *world) auditor(support *client) *client {
	w.t.Helper()
	u := user{Email: "audrey.auditor@necsu.example.nhs.uk", Name: "Audrey Auditor", Password: newPassword()}
	reg := w.register(registration(u.Name, u.Email, orgC.loc(0)))
	support.decide(reg, orgC.ID, "approve", "").want(http.StatusOK)
	u.ID = reg.UserID
	w.setPasswordByLink(w.linkToken(u.ID), u.Password).want(http.StatusOK)
	support.post("/api/v1/users/"+u.ID.String()+"/auditor", nil).want(http.StatusOK)
	return w.loginAs(u)
}

// auditPage is a page of GET /audit, read at pos.
func auditPage(c *client, query string, pos int64) queries.AuditPage {
	c.api.t.Helper()
	var p queries.AuditPage
	c.getAt("/api/v1/audit?"+query, pos).want(http.StatusOK).decode(&p)
	return p
}

// editContact adds a manager contact at a location and changes its email
// (from before to after), as c; it returns the position of the change.
func editContact(c *client, locationID, before, after string) int64 {
	c.api.t.Helper()
	v := c.profile(locationID).Version
	added := c.do(http.MethodPost, locPath(locationID, "contacts"), with(managerContact(), "email", before),
		ifMatch(v)...).want(http.StatusCreated).edited()
	return c.do(http.MethodPut, locPath(locationID, "contacts", added.ID), with(managerContact(), "email", after),
		ifMatch(added.Version)...).want(http.StatusOK).edited().Position
}

// streamPositions are the positions of the streams' events up to pos,
// newest first.
func (w *world) streamPositions(pos int64, streams ...string) []int64 {
	w.t.Helper()
	var out []int64
	for _, s := range streams {
		for _, ev := range w.stream(s) {
			if ev.Position <= pos {
				out = append(out, ev.Position)
			}
		}
	}
	slices.SortFunc(out, func(a, b int64) int { return int(b - a) })
	return out
}

// TestAuditAPI_FiltersPagesAndTimes: a contact's email change shows with
// its actor, login, client and values before and after; a location's
// events come page by page (of 2) each once, newest first; London days
// and RFC 3339 instants bound the time; London's time has London's
// offset at that instant.
func TestAuditAPI_FiltersPagesAndTimes(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		auditor := w.auditor(support)
		approverA := w.loginAs(w.approverA)
		edit := editContact(approverA, rosehill, "rosa.old@rosehill.example.org", "rosa.new@rosehill.example.org")
		submitUpdate(approverA, rosehill, 12, dailyupdate.PPEMoreThanWeek)
		pos := submitUpdate(w.loginAs(w.standardA), rosehill, 14, dailyupdate.PPEMoreThanWeek)

		page := auditPage(auditor, "entity_type=location&entity_id="+rosehill+"&event_type="+location.TypeContactUpdated, pos)
		if len(page.Entries) != 1 || page.NextBefore != 0 {
			t.Fatalf("contact updates: %+v", page)
		}
		e := page.Entries[0]
		if e.Actor.UserID != w.approverA.ID.String() || e.Actor.Email != w.approverA.Email || e.Actor.FullName != w.approverA.Name ||
			e.Actor.AccountKind != "personal" || e.SessionID != approverA.sessionID || e.ClientIP != "127.0.0.1" ||
			e.UserAgent != approverA.userAgent || e.Command != "UpdateContact" || e.LocationID != rosehill || e.Position != edit {
			t.Errorf("entry %+v", e)
		}
		var emails []string
		for _, c := range e.Changes {
			if strings.HasSuffix(c.Field, "email") {
				emails = append(emails, fmt.Sprintf("%s %s -> %s", c.Field, c.Before, c.After))
			}
		}
		if len(emails) != 1 || !strings.HasSuffix(emails[0], ` "rosa.old@rosehill.example.org" -> "rosa.new@rosehill.example.org"`) {
			t.Errorf("email changes %q", emails)
		}
		// London's clock, with London's offset then (BST or GMT).
		london, err := time.Parse(time.RFC3339, e.RecordedAtLondon)
		_, offset := london.Zone()
		_, want := e.RecordedAt.In(londonZone(t)).Zone()
		if err != nil || !london.Equal(e.RecordedAt.Truncate(time.Second)) || offset != want || e.RecordedAt.Location() != time.UTC {
			t.Errorf("recorded at %v, in London %q (%v), want offset %d", e.RecordedAt, e.RecordedAtLondon, err, want)
		}

		// Page by page, each once.
		want2 := w.streamPositions(pos, location.LocationStream(rosehill), dailyupdate.Stream(rosehill))
		var got []int64
		query := fmt.Sprintf("location_id=%s&limit=2&before=%d", rosehill, pos+1)
		for range 100 {
			p := auditPage(auditor, query, pos)
			if len(p.Entries) > 2 {
				t.Fatalf("a page of %d", len(p.Entries))
			}
			for _, e := range p.Entries {
				got = append(got, e.Position)
			}
			if p.NextBefore == 0 {
				break
			}
			query = fmt.Sprintf("location_id=%s&limit=2&before=%d", rosehill, p.NextBefore)
		}
		if len(want2) < 5 || !slices.Equal(got, want2) {
			t.Errorf("pages gave %v, want %v", got, want2)
		}

		// Times: London days and RFC 3339 instants.
		day := e.RecordedAtLondon[:10]
		d, _ := time.Parse(time.DateOnly, day)
		next, prev := d.AddDate(0, 0, 1).Format(time.DateOnly), d.AddDate(0, 0, -1).Format(time.DateOnly)
		at := e.RecordedAt.Truncate(time.Second)
		base := "event_type=" + location.TypeContactUpdated + "&location_id=" + rosehill
		for _, c := range []struct {
			query string
			n     int
		}{
			{"&from=" + day + "&to=" + day, 1},
			{"&from=" + next, 0},
			{"&to=" + prev, 0},
			{"&from=" + prev + "&to=" + day, 1},
			{"&from=" + url.QueryEscape(at.Format(time.RFC3339)), 1},
			// An unescaped "+" of an offset arrives as a space.
			{"&from=" + at.In(time.FixedZone("", 3600)).Format(time.RFC3339), 1},
			{"&to=" + url.QueryEscape(at.Format(time.RFC3339)), 0},
			{"&to=" + url.QueryEscape(at.Add(time.Second).Format(time.RFC3339)), 1},
		} {
			if p := auditPage(auditor, base+c.query, pos); len(p.Entries) != c.n {
				t.Errorf("%s: %d entries, want %d", c.query, len(p.Entries), c.n)
			}
		}
		// Other filters.
		for _, c := range []struct {
			query string
			n     int
		}{
			{"actor=" + w.standardA.ID.String() + "&location_id=" + rosehill, 1},
			{"session=" + approverA.sessionID + "&entity_type=dailyupdate", 1},
			{"organisation=" + orgB.ID + "&location_id=" + rosehill, 0},
			{"entity_type=location&entity_id=" + orgB.loc(0), len(w.streamPositions(pos, location.LocationStream(orgB.loc(0))))},
			{"bulk_upload_id=none", 0},
		} {
			if p := auditPage(auditor, c.query, pos); len(p.Entries) != c.n {
				t.Errorf("%s: %d entries, want %d", c.query, len(p.Entries), c.n)
			}
		}
	})
}

func londonZone(t *testing.T) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var auditHeader = []string{"Position", "Event ID", "Recorded at (UTC)", "Recorded at (Europe/London)", "Actor user ID",
	"Actor email", "Actor name", "Account kind", "Session", "Client IP", "User agent", "Command", "Entity type", "Entity ID",
	"Location ID", "Event type", "Field", "Before", "After", "Bulk upload ID"}

// TestAuditAPI_DownloadsHoldEveryChangeOfTheFilter: the CSV and XLSX
// downloads have a line per change of every matching event (not a page),
// oldest first, with the contact's email before and after.
func TestAuditAPI_DownloadsHoldEveryChangeOfTheFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		auditor := w.auditor(support)
		approverA := w.loginAs(w.approverA)
		pos := editContact(approverA, rosehill, "rosa.old@rosehill.example.org", "rosa.new@rosehill.example.org")
		w.sync(pos)

		// The lines the pages give, oldest first.
		var entries []queries.AuditEntry
		for before := pos + 1; before != 0; {
			p := auditPage(auditor, fmt.Sprintf("location_id=%s&limit=3&before=%d", rosehill, before), pos)
			entries = append(entries, p.Entries...)
			before = p.NextBefore
		}
		slices.Reverse(entries)
		var want []string
		for _, e := range entries {
			if len(e.Changes) == 0 {
				want = append(want, fmt.Sprintf("%d %s ", e.Position, e.EventType))
			}
			for _, c := range e.Changes {
				want = append(want, fmt.Sprintf("%d %s %s", e.Position, e.EventType, c.Field))
			}
		}
		filter := fmt.Sprintf("location_id=%s&before=%d&limit=1", rosehill, pos+1)
		col := func(name string) int { return headerIndex(t, auditHeader, name) }
		check := func(format string, rows [][]string) {
			t.Helper()
			if len(rows) == 0 || !slices.Equal(rows[0], auditHeader) {
				t.Fatalf("%s header %q", format, rows)
			}
			var got []string
			email := false
			for _, r := range rows[1:] {
				for len(r) < len(auditHeader) {
					r = append(r, "") // trailing blank cells
				}
				got = append(got, fmt.Sprintf("%s %s %s", r[col("Position")], r[col("Event type")], r[col("Field")]))
				if r[col("Event type")] == location.TypeContactUpdated && strings.HasSuffix(r[col("Field")], "email") {
					email = r[col("Before")] == "rosa.old@rosehill.example.org" && r[col("After")] == "rosa.new@rosehill.example.org" &&
						r[col("Actor email")] == w.approverA.Email && r[col("Session")] == approverA.sessionID &&
						r[col("Command")] == "UpdateContact" && r[col("Account kind")] == "personal" &&
						r[col("Location ID")] == rosehill && r[col("Entity type")] == "location"
					at, err := time.Parse(time.RFC3339, r[col("Recorded at (UTC)")])
					london := at.In(londonZone(t)).Format(time.DateTime)
					if err != nil || !strings.HasSuffix(r[col("Recorded at (UTC)")], "Z") || r[col("Recorded at (Europe/London)")] != london {
						t.Errorf("%s times %q and %q (%v)", format, r[col("Recorded at (UTC)")], r[col("Recorded at (Europe/London)")], err)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s lines:\n%s\nwant:\n%s", format, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if !email {
				t.Errorf("%s: no line of the email's change with its values, actor and login", format)
			}
		}
		check("CSV", auditor.get("/api/v1/audit.csv?"+filter).csvRows("audit"))
		f := auditor.get("/api/v1/audit.xlsx?" + filter).workbook("audit")
		check("XLSX", sheetCheck(t, f, "Audit", auditHeader))
		if v, err := f.GetCellValue("Audit", cellRef(t, col("Position"), 2), excelize.Options{RawCellValue: true}); err != nil || v != strconv.FormatInt(entries[0].Position, 10) {
			t.Errorf("position cell %q (%v)", v, err)
		}
	})
}

// TestAuditAPI_AGenericAccountsActivityLoginByLogin: the generic account
// logs in from two places; its activity lists both logins, the latest
// first, each with its address, agent and changes; one per page with
// next_before.
func TestAuditAPI_AGenericAccountsActivityLoginByLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		auditor := w.auditor(support)
		g := w.genericA
		first := w.newClientFrom("127.0.0.1", "reception-pc")
		first.login(g.Email, g.Password, false).want(http.StatusCreated)
		first.post("/api/v1/sessions/current/disclaimer", nil).want(http.StatusOK)
		newPW := newPassword()
		w.secrets.add("password", newPW)
		first.post("/api/v1/me/password", map[string]string{"current_password": g.Password, "new_password": newPW}).want(http.StatusOK)
		loc := orgA.loc(1)
		v := first.profile(loc).Version
		first.do(http.MethodPut, locPath(loc, "address"), with(rosehillAddress(), "name", "Thorndale House"),
			ifMatch(v)...).want(http.StatusOK)

		second := w.newClientFrom("127.0.0.2", "night-shift")
		second.login(g.Email, newPW, false).want(http.StatusCreated)
		second.post("/api/v1/sessions/current/disclaimer", nil).want(http.StatusOK)
		v = second.profile(loc).Version
		pos := second.do(http.MethodPost, locPath(loc, "notes"), map[string]any{"text": "Night shift: all quiet"},
			ifMatch(v)...).want(http.StatusCreated).edited().Position

		path := "/api/v1/users/" + g.ID.String() + "/activity"
		var act queries.AccountActivity
		auditor.getAt(path, pos).want(http.StatusOK).decode(&act)
		if act.User.UserID != g.ID.String() || act.User.AccountKind != "generic" || len(act.Sessions) != 2 || act.NextBefore != "" {
			t.Fatalf("activity %+v", act)
		}
		type login struct{ session, ip, agent string }
		var got []login
		var events [][]string
		for _, s := range act.Sessions {
			got = append(got, login{s.SessionID, s.ClientIP, s.UserAgent})
			var types []string
			for _, e := range s.Entries {
				types = append(types, e.EventType)
			}
			events = append(events, types)
		}
		want := []login{{second.sessionID, "127.0.0.2", "night-shift"}, {first.sessionID, "127.0.0.1", "reception-pc"}}
		if !slices.Equal(got, want) {
			t.Errorf("logins %+v, want %+v", got, want)
		}
		if len(events) == 2 && (!slices.Contains(events[0], location.TypeNoteAdded) || slices.Contains(events[0], location.TypeAddressChanged) ||
			!slices.Contains(events[1], location.TypeAddressChanged) || !slices.Contains(events[1], "PasswordSet") ||
			slices.Contains(events[1], location.TypeNoteAdded)) {
			t.Errorf("the logins' events %q", events)
		}
		for _, s := range act.Sessions {
			for _, e := range s.Entries {
				if e.EventType == location.TypeAddressChanged && !slices.ContainsFunc(e.Changes, func(c queries.AuditChange) bool {
					return strings.HasSuffix(c.Field, "name") && string(c.After) == `"Thorndale House"`
				}) {
					t.Errorf("the address change's changes %+v", e.Changes)
				}
			}
		}

		// One login a page.
		var p1, p2 queries.AccountActivity
		auditor.get(path + "?limit=1").want(http.StatusOK).decode(&p1)
		auditor.get(path + "?limit=1&before=" + url.QueryEscape(p1.NextBefore)).want(http.StatusOK).decode(&p2)
		if len(p1.Sessions) != 1 || len(p2.Sessions) != 1 || p1.Sessions[0].SessionID != second.sessionID ||
			p2.Sessions[0].SessionID != first.sessionID || p2.NextBefore != "" {
			t.Errorf("pages %+v then %+v", p1, p2)
		}

		// A's Approver reads it; B's and the others may not.
		w.loginAs(w.approverA).get(path).want(http.StatusOK)
		w.loginAs(w.approverB).get(path).wantError(http.StatusForbidden, "forbidden")
	})
}

// TestAuditAPI_WhoMayReadWhat: anonymous callers get 401 everywhere; an
// auditor reads everything; an Approver their organisation's locations
// and users and nothing of another organisation (naming it is 403);
// Standard users, commissioners and support without the auditor role
// get 403.
func TestAuditAPI_WhoMayReadWhat(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		auditor := w.auditor(support)
		commissioner := w.loginAs(w.commissioner(support))
		approverA, approverB, standardA := w.loginAs(w.approverA), w.loginAs(w.approverB), w.loginAs(w.standardA)
		editContact(approverA, rosehill, "a.before@rosehill.example.org", "a.after@rosehill.example.org")
		pos := editContact(approverB, orgB.loc(0), "b.before@independence.example.org", "b.after@independence.example.org")

		activity := "/api/v1/users/" + w.standardA.ID.String() + "/activity"
		paths := []string{"/api/v1/audit", "/api/v1/audit.csv", "/api/v1/audit.xlsx", activity}
		for _, p := range paths {
			w.newClient().get(p).wantError(http.StatusUnauthorized, "unauthenticated")
			auditor.getAt(p, pos).want(http.StatusOK)
			approverA.getAt(p, pos).want(http.StatusOK)
			for _, c := range []*client{standardA, commissioner, support} {
				c.getAt(p, pos).wantError(http.StatusForbidden, "forbidden")
			}
		}
		approverB.get(activity).wantError(http.StatusForbidden, "forbidden")
		for _, p := range paths[:3] {
			approverA.get(p+"?organisation="+orgB.ID).wantError(http.StatusForbidden, "forbidden")
			approverA.get(p + "?organisation=" + orgA.ID).want(http.StatusOK)
		}

		locationsSeen := func(c *client) []string {
			t.Helper()
			var out []string
			for before := pos + 1; before != 0; {
				p := auditPage(c, fmt.Sprintf("limit=500&before=%d", before), pos)
				for _, e := range p.Entries {
					if e.LocationID != "" && !slices.Contains(out, e.LocationID) {
						out = append(out, e.LocationID)
					}
				}
				before = p.NextBefore
			}
			return sorted(out)
		}
		if got, want := locationsSeen(auditor), sorted([]string{orgA.loc(0), orgA.loc(1), orgB.loc(0), orgB.loc(1), orgC.loc(0)}); !slices.Equal(got, want) {
			t.Errorf("the auditor sees the locations %q, want %q", got, want)
		}
		if got, want := locationsSeen(approverA), sorted([]string{orgA.loc(0), orgA.loc(1)}); !slices.Equal(got, want) {
			t.Errorf("approver A sees the locations %q, want %q", got, want)
		}
		if got, want := locationsSeen(approverB), sorted([]string{orgB.loc(0), orgB.loc(1)}); !slices.Equal(got, want) {
			t.Errorf("approver B sees the locations %q, want %q", got, want)
		}
		// Their own organisation's users, not the other's.
		mine := auditPage(approverA, "entity_type=user&entity_id="+w.standardA.ID.String(), pos)
		theirs := auditPage(approverA, "entity_type=user&entity_id="+w.approverB.ID.String(), pos)
		if len(mine.Entries) == 0 || len(theirs.Entries) != 0 {
			t.Errorf("approver A sees %d events of their Standard user and %d of B's Approver", len(mine.Entries), len(theirs.Entries))
		}
		rows := approverA.get("/api/v1/audit.csv?before=" + strconv.FormatInt(pos+1, 10)).csvRows("audit")
		for _, r := range rows[1:] {
			if loc := r[headerIndex(t, auditHeader, "Location ID")]; loc == orgB.loc(0) || loc == orgB.loc(1) {
				t.Fatalf("approver A's download has a line of %s", loc)
			}
		}
	})
}

// TestAuditAPI_InvalidParametersAre422WithTheirFields, on the page, the
// downloads (answered as JSON, since nothing was sent) and the activity.
func TestAuditAPI_InvalidParametersAre422WithTheirFields(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		auditor := w.auditor(w.loginAs(w.support))
		activity := "/api/v1/users/" + w.genericA.ID.String() + "/activity"
		for _, c := range []struct {
			path   string
			fields []string
		}{
			{"/api/v1/audit?entity_type=planet", []string{"entity_type"}},
			{"/api/v1/audit?entity_id=1-101", []string{"entity_type"}},
			{"/api/v1/audit.csv?from=yesterday", []string{"from"}},
			{"/api/v1/audit.xlsx?limit=501", []string{"limit"}},
			{"/api/v1/audit.xlsx?before=x&to=never", []string{"before", "to"}},
			{"/api/v1/audit?limit=-1&before=-2", []string{"limit", "before"}},
			{"/api/v1/audit?from=2030-06-02&to=2030-06-01", []string{"from"}},
			{"/api/v1/audit?to=2030-02-30", []string{"to"}},
			{"/api/v1/audit?limit=1.5&min_position=-1", []string{"limit", "min_position"}},
			{activity + "?limit=21", []string{"limit"}},
			{activity + "?before=yesterday", []string{"before"}},
			{activity + "?limit=x", []string{"limit"}},
		} {
			e := auditor.get(c.path).wantError(http.StatusUnprocessableEntity, "validation_failed")
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(sorted(fields), sorted(c.fields)) {
				t.Errorf("%s: fields %q, want %q", c.path, fields, c.fields)
			}
		}
		auditor.get("/api/v1/users/not-a-uuid/activity").wantError(http.StatusNotFound, "not_found")
	})
}
