// Package history replays a stream: the state of a location, organisation,
// user, daily update, survey or survey answer at any version, a
// field-by-field diff between two versions, and a timeline of who changed
// what. Everything is folded from the stream's events with each
// aggregate's own Evolve, never read from a view. Pure Go: no I/O.
package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
)

// Event is a stored event as the replay needs it.
type Event struct {
	Position   int64           `json:"position"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"-"`
	RecordedAt time.Time       `json:"recorded_at"`
	// Who and how, from the event's metadata.
	ActorUserID      string `json:"actor_user_id,omitempty"`
	ActorAccountKind string `json:"actor_account_kind"`
	SessionID        string `json:"session_id,omitempty"`
	ClientIP         string `json:"client_ip,omitempty"`
	UserAgent        string `json:"user_agent,omitempty"`
	Command          string `json:"command,omitempty"`
}

// ErrUnsupported is a stream whose category has no replay.
var ErrUnsupported = errors.New("no replay for streams of this category")

// folder folds one category's events.
type folder interface {
	apply(eventType string, data []byte) error
	state() any
	// aggregate points at the folded aggregate, for snapshots.
	aggregate() any
}

// Categories lists the stream categories that replay.
func Categories() []string {
	return []string{"location", "organisation", "user", "dailyupdate", "survey", "surveyresponse"}
}

func newFolder(category string) (folder, error) {
	switch category {
	case "location":
		return &locationFolder{}, nil
	case "organisation":
		return &organisationFolder{}, nil
	case "user":
		return &userFolder{}, nil
	case "dailyupdate":
		return &dailyUpdateFolder{}, nil
	case "survey":
		return &surveyFolder{}, nil
	case "surveyresponse":
		return &responseFolder{}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, category)
}

func (f *locationFolder) aggregate() any { return &f.l }

type locationFolder struct{ l location.Location }

func (f *locationFolder) apply(t string, data []byte) error {
	d, err := location.Decode(t, data)
	if err == nil {
		f.l = location.EvolveLocation(f.l, d)
	}
	return err
}
func (f *locationFolder) state() any { return f.l.Profile() }

func (f *organisationFolder) aggregate() any { return &f.o }

type organisationFolder struct{ o location.Organisation }

func (f *organisationFolder) apply(t string, data []byte) error {
	d, err := location.Decode(t, data)
	if err == nil {
		f.o = location.EvolveOrganisation(f.o, d)
	}
	return err
}
func (f *organisationFolder) state() any {
	return map[string]any{"organisation_id": f.o.ID, "name": f.o.Name, "type": f.o.Type, "postcode": f.o.Postcode, "version": f.o.Version}
}

func (f *userFolder) aggregate() any { return &f.u }

type userFolder struct{ u account.User }

func (f *userFolder) apply(t string, data []byte) error {
	d, err := account.Decode(t, data)
	if err == nil {
		f.u = account.Evolve(f.u, d)
	}
	return err
}

// state is the user as an auditor sees it: who they are, their role,
// status, access and password dates. The state holds no secret (the
// hashes and tokens live in their own tables, never in events).
func (f *userFolder) state() any {
	u := f.u
	locs := make([]string, 0, len(u.Locations))
	for l := range u.Locations {
		locs = append(locs, l)
	}
	sort.Strings(locs)
	var expires *time.Time
	if !u.PasswordExpiresAt.IsZero() {
		t := u.PasswordExpiresAt
		expires = &t
	}
	return map[string]any{
		"email": u.Email, "full_name": u.FullName, "phone": u.Phone, "job_title": u.JobTitle,
		"kind": u.Kind, "role": u.Role, "status": u.Status, "organisation_type": u.OrganisationType,
		"home_organisation": u.HomeOrganisation, "locations": locs, "has_password": u.HasPassword,
		"password_expires_at": expires, "must_change_password": u.MustChangePassword,
		"communications_opt_in": u.CommunicationsOptIn, "version": u.Version,
		"auditor": u.Auditor,
	}
}

func (f *dailyUpdateFolder) aggregate() any { return &f.s }

type dailyUpdateFolder struct{ s dailyupdate.State }

func (f *dailyUpdateFolder) apply(t string, data []byte) error {
	d, err := dailyupdate.Decode(t, data)
	if err == nil {
		f.s = dailyupdate.Evolve(f.s, d)
	}
	return err
}
func (f *dailyUpdateFolder) state() any {
	return map[string]any{"last": f.s.Last, "version": f.s.Version}
}

func (f *surveyFolder) aggregate() any { return &f.s }

type surveyFolder struct{ s survey.Survey }

func (f *surveyFolder) apply(t string, data []byte) error {
	d, err := survey.Decode(t, data)
	if err == nil {
		f.s = survey.Evolve(f.s, d)
	}
	return err
}
func (f *surveyFolder) state() any { return f.s }

func (f *responseFolder) aggregate() any { return &f.r }

type responseFolder struct{ r survey.Response }

func (f *responseFolder) apply(t string, data []byte) error {
	d, err := survey.Decode(t, data)
	if err == nil {
		f.r = survey.EvolveResponse(f.r, d)
	}
	return err
}
func (f *responseFolder) state() any { return f.r }

// Point names a point in a stream's history: a version (>= 0; 0 is before
// the first event), or with Version < 0 an instant (the last event
// recorded at or before it).
type Point struct {
	Version int64
	AsOf    time.Time
}

// AtVersion and AsOf build points.
func AtVersion(v int64) Point { return Point{Version: v} }
func AsOf(t time.Time) Point  { return Point{Version: -1, AsOf: t} }
func (p Point) isTime() bool  { return p.Version < 0 }
func (p Point) String() string {
	if p.isTime() {
		return "as of " + p.AsOf.UTC().Format(time.RFC3339Nano)
	}
	return "version " + strconv.FormatInt(p.Version, 10)
}

// cut is how many of evs (in version order) the point includes.
func (p Point) cut(evs []Event) int {
	n := 0
	for _, e := range evs {
		if p.isTime() && e.RecordedAt.After(p.AsOf) || !p.isTime() && e.Version > p.Version {
			break
		}
		n++
	}
	return n
}

// State is a stream's state at a point.
type State struct {
	StreamID string `json:"stream_id"`
	// Version is the version of the last event folded (0: none).
	Version int64 `json:"version"`
	// At is when that event was recorded.
	At    *time.Time `json:"at"`
	State any        `json:"state"`
}

// Replay folds the stream's events (in version order) up to the point.
func Replay(streamID string, evs []Event, p Point) (State, error) {
	f, err := newFolder(category(streamID))
	if err != nil {
		return State{}, err
	}
	n := p.cut(evs)
	for _, e := range evs[:n] {
		if err := f.apply(e.Type, e.Data); err != nil {
			return State{}, fmt.Errorf("%s version %d: %w", streamID, e.Version, err)
		}
	}
	s := State{StreamID: streamID, State: f.state()}
	if n > 0 {
		at := evs[n-1].RecordedAt
		s.Version, s.At = evs[n-1].Version, &at
	}
	return s, nil
}

func category(streamID string) string {
	c, _, _ := strings.Cut(streamID, "-")
	return c
}

// Change is one field that differs between two states: a dotted path
// ("address.postcode", "contacts[2].email") and its values.
type Change struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Diff compares two states field by field, in field order. Values are
// compared as JSON: a field missing on one side is null there.
func Diff(before, after any) ([]Change, error) {
	a, err := flatten(before)
	if err != nil {
		return nil, err
	}
	b, err := flatten(after)
	if err != nil {
		return nil, err
	}
	return diffLeaves(a, b), nil
}

func diffLeaves(a, b map[string]leaf) []Change {
	fields := map[string]bool{}
	for k := range a {
		fields[k] = true
	}
	for k := range b {
		fields[k] = true
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Change
	for _, k := range keys {
		x, y := a[k], b[k]
		if string(x.raw) == string(y.raw) {
			continue
		}
		// An empty list or object that gained (or lost) entries shows as
		// the entries' own changes.
		if x.raw == nil && emptyContainer(y.raw) && hasChildren(a, k) || y.raw == nil && emptyContainer(x.raw) && hasChildren(b, k) {
			continue
		}
		out = append(out, Change{Field: k, Before: x.value, After: y.value})
	}
	return out
}

func emptyContainer(raw []byte) bool { return string(raw) == "[]" || string(raw) == "{}" }

// hasChildren reports whether leaves holds a path below field.
func hasChildren(leaves map[string]leaf, field string) bool {
	for k := range leaves {
		if strings.HasPrefix(k, field+".") || strings.HasPrefix(k, field+"[") {
			return true
		}
	}
	return false
}

type leaf struct {
	raw   []byte
	value any
}

// flatten turns a value into its leaves by path, through its JSON form.
func flatten(v any) (map[string]leaf, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	out := map[string]leaf{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 && path != "" {
				out[path] = leaf{raw: []byte("{}"), value: x}
			}
			for k, c := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, c)
			}
		case []any:
			if len(x) == 0 {
				out[path] = leaf{raw: []byte("[]"), value: x}
			}
			for i, c := range x {
				walk(path+"["+strconv.Itoa(i)+"]", c)
			}
		default:
			raw, _ := json.Marshal(x)
			out[path] = leaf{raw: raw, value: x}
		}
	}
	walk("", root)
	return out, nil
}

// Entry is one event of a stream's timeline: who did it, through which
// login, and what it changed.
type Entry struct {
	Event
	// Summary is readable: the event and the fields it changed.
	Summary string   `json:"summary"`
	Changes []Change `json:"changes"`
}

// Timeline lists the stream's events, each with the fields it changed
// (the diff of the state before and after it).
func Timeline(streamID string, evs []Event) ([]Entry, error) {
	f, err := NewFolder(category(streamID))
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(evs))
	for _, e := range evs {
		changes, err := f.Apply(e.Type, e.Data)
		if err != nil {
			return nil, fmt.Errorf("%s version %d: %w", streamID, e.Version, err)
		}
		out = append(out, Entry{Event: e, Changes: changes, Summary: Summary(e, changes)})
	}
	return out, nil
}

// Summary is an event's one-line description: the event, who did it and
// through which command, and the fields it changed.
func Summary(e Event, changes []Change) string {
	who := e.ActorAccountKind
	switch {
	case e.ActorUserID != "" && who != "":
		who = who + " user " + e.ActorUserID
	case e.ActorUserID != "":
		who = "user " + e.ActorUserID
	case who == "":
		who = "unknown actor"
	}
	s := fmt.Sprintf("%s by %s", e.Type, who)
	if e.Command != "" {
		s += " (" + e.Command + ")"
	}
	switch {
	case len(changes) == 0:
		s += ": no field changed"
	default:
		fields := make([]string, 0, len(changes))
		for _, c := range changes {
			fields = append(fields, c.Field)
		}
		const most = 6
		if len(fields) > most {
			fields = append(fields[:most], fmt.Sprintf("and %d more", len(changes)-most))
		}
		s += ": " + strings.Join(fields, ", ")
	}
	return s
}

// Folder folds one stream's events, one at a time, and can be saved as a
// snapshot and resumed from it: the audit view keeps each stream's
// snapshot so that it diffs every new event against the state before it
// without reading the stream again.
type Folder struct {
	f folder
	// leaves is the state's leaves after the last event applied (nil:
	// not yet taken), the "before" of the next.
	leaves map[string]leaf
}

// NewFolder starts the fold of a stream of a category Categories lists.
func NewFolder(category string) (*Folder, error) {
	f, err := newFolder(category)
	if err != nil {
		return nil, err
	}
	return &Folder{f: f}, nil
}

// ResumeFolder continues a fold from a Snapshot of a stream of the category.
func ResumeFolder(category string, snapshot []byte) (*Folder, error) {
	f, err := NewFolder(category)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(snapshot, f.f.aggregate()); err != nil {
		return nil, fmt.Errorf("snapshot of a %s stream: %w", category, err)
	}
	return f, nil
}

// Snapshot is the folded aggregate as JSON, for ResumeFolder.
func (f *Folder) Snapshot() ([]byte, error) { return json.Marshal(f.f.aggregate()) }

// State is the state as Replay shows it.
func (f *Folder) State() any { return f.f.state() }

// Apply folds the next event and returns the fields it changed (as in
// Timeline).
func (f *Folder) Apply(eventType string, data []byte) ([]Change, error) {
	if f.leaves == nil {
		// The state may share maps and slices with the aggregate: take
		// its leaves before the event changes them.
		prev, err := flatten(f.f.state())
		if err != nil {
			return nil, err
		}
		f.leaves = prev
	}
	if err := f.f.apply(eventType, data); err != nil {
		return nil, err
	}
	next, err := flatten(f.f.state())
	if err != nil {
		return nil, err
	}
	// The version counter changes with every event: it is no news.
	changes := slices.DeleteFunc(diffLeaves(f.leaves, next), func(c Change) bool { return c.Field == "version" || c.Field == "Version" })
	f.leaves = next
	return changes, nil
}

// Aggregate is the folded aggregate itself: *location.Location,
// *location.Organisation, *account.User, *dailyupdate.State,
// *survey.Survey or *survey.Response. Read it, never change it.
func (f *Folder) Aggregate() any { return f.f.aggregate() }
