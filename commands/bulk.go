package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// Bulk update (the guide's "Business Continuity & Vacancy Update"): the
// daily updates and Manager contacts of many locations from one uploaded
// spreadsheet. The HTTP port reads the file into rows; here every row is
// decided exactly as its form would decide it, and either every row is
// applied, in one atomic append together with a BulkUploadApplied record
// of the upload, or none is and the caller gets every row's errors.

// The sheets of the bulk template, as rows name them.
const (
	SheetHomeCare = "Home Care"
	SheetContacts = "Contacts"
)

// MaxBulkRows bounds the rows of each sheet of an upload (and the
// locations of a template). Two full sheets and the upload's own record
// stay within one atomic append (eventstore.MaxStreamsPerRequest).
const MaxBulkRows = 2000

// FieldLocationID names a row as a whole in a BulkRowError: its location
// is missing, unknown, not the caller's to update, deregistered or given
// twice.
const FieldLocationID = "location_id"

// The Manager contact's fields, as location's contact validation names
// them.
const (
	FieldManagerName   = "name"
	FieldManagerPhones = "phones"
	FieldManagerEmail  = "email"
	FieldManagerPublic = "public"
)

// BulkRow is where a row of an upload came from and the location it is
// for.
type BulkRow struct {
	Sheet string
	// Row is the row's number in its sheet, as the spreadsheet shows it.
	Row        int
	LocationID string
}

// BulkDailyUpdate is a row of the Home Care sheet: a location's daily
// update.
type BulkDailyUpdate struct {
	BulkRow
	Form dailyupdate.Form
}

// BulkManager is a row of the Contacts sheet: a location's Manager
// contact, each field as typed. The contact is the first Manager of the
// location's directory, changed to these values (a blank cell clears its
// field), or a new Manager when the directory has none. Public is yes/no;
// blank keeps the current contact's setting (no for a new one).
type BulkManager struct {
	BulkRow
	Name, Phones, Email, Public string
}

// BulkUpload is an uploaded file's rows. Rows whose answers are all blank
// are not in it: the reader skips them.
type BulkUpload struct {
	FileName     string
	SHA256       string
	Size         int64
	DailyUpdates []BulkDailyUpdate
	Managers     []BulkManager
}

// BulkRowError is one invalid field of a row, or (Field FieldLocationID)
// a row that cannot be applied at all.
type BulkRowError struct {
	Sheet   string `json:"sheet"`
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// BulkRejectedError is an upload with invalid rows: nothing of it was
// applied (422). Errors lists every one, by sheet and row.
type BulkRejectedError struct {
	Errors []BulkRowError
}

func (e *BulkRejectedError) Error() string {
	return fmt.Sprintf("bulk upload rejected: %d errors, nothing applied", len(e.Errors))
}

// Errors of a whole upload.
var (
	ErrBulkNoRows = &domain.RuleError{Code: "no_rows",
		Message: "The file has no completed rows: fill in the rows of the locations you are updating"}
	ErrBulkTooManyRows = &domain.RuleError{Code: "too_many_rows",
		Message: fmt.Sprintf("A sheet of an upload has at most %d rows: split the file", MaxBulkRows)}
)

// BulkUploadApplied records an applied upload, appended in the same
// atomic step as the events of its rows, which carry its id (metadata
// extra "upload_id"; DailyUpdateSubmitted.UploadID). A rejected upload
// appends nothing at all.
type BulkUploadApplied struct {
	UploadID   string    `json:"upload_id"`
	FileName   string    `json:"file_name"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	UploadedAt time.Time `json:"uploaded_at"`
	// DailyUpdates counts the Home Care rows applied.
	DailyUpdates int `json:"daily_updates"`
	// ContactsAdded and ContactsUpdated count the Contacts rows that
	// changed a directory; ContactsUnchanged the rows that matched it.
	ContactsAdded     int `json:"contacts_added"`
	ContactsUpdated   int `json:"contacts_updated"`
	ContactsUnchanged int `json:"contacts_unchanged"`
	// LocationIDs lists the locations the upload changed, sorted.
	LocationIDs []string `json:"location_ids"`
}

// TypeBulkUploadApplied is the event type name.
const TypeBulkUploadApplied = "BulkUploadApplied"

func (BulkUploadApplied) EventType() string { return TypeBulkUploadApplied }

// BulkUploadStream is the stream of an upload's record.
func BulkUploadStream(uploadID string) string { return "bulkupload-" + uploadID }

// BulkApplied is the outcome of an applied upload.
type BulkApplied struct {
	BulkUploadApplied
	// Position of the last event appended, for read-your-writes.
	Position int64
}

// BulkTemplateRow is a location as the bulk template lists it.
type BulkTemplateRow struct {
	LocationID string
	// CQCLocationID is the location's id at CQC when CQC's import knows
	// it, else "".
	CQCLocationID    string
	Name             string
	OrganisationName string
	// Manager is the first Manager of the directory, if any.
	Manager *location.Contact
}

// BulkTemplate lists the locations of ids that the caller may update,
// by name, for the bulk template: unknown and deregistered locations and
// those of others are left out. Locations are read from the log, as the
// forms that edit them are.
func (a *Service) BulkTemplate(ctx context.Context, actor Actor, ids []string) ([]BulkTemplateRow, error) {
	if err := actor.mayChange(); err != nil {
		return nil, err
	}
	var mine []location.ID
	for _, s := range ids {
		if id, err := location.ParseID(s); err == nil && actor.mayEditLocation(s) == nil {
			mine = append(mine, id)
		}
	}
	mine = sortedIDs(mine)
	if len(mine) > MaxBulkRows {
		return nil, domain.Rule("too_many_locations",
			"A template lists at most %d locations and these are %d: ask support to split them", MaxBulkRows, len(mine))
	}
	locs, err := loadEach(ctx, mine, a.loadLocation)
	if err != nil {
		return nil, err
	}
	out := make([]BulkTemplateRow, 0, len(mine))
	for _, id := range mine {
		l := locs[id.String()]
		if !l.Exists() || l.Deregistered() {
			continue
		}
		row := BulkTemplateRow{LocationID: id.String(), Name: l.Name, OrganisationName: l.OrganisationName}
		if l.CQCImported() {
			row.CQCLocationID = l.CQC.LocationID
		}
		if m, ok := manager(l); ok {
			row.Manager = &m
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(x, y BulkTemplateRow) int {
		if c := strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)); c != 0 {
			return c
		}
		return strings.Compare(x.LocationID, y.LocationID)
	})
	return out, nil
}

// manager is the first Manager contact of a location's directory.
func manager(l location.Location) (location.Contact, bool) {
	i := slices.IndexFunc(l.Details.Contacts, func(c location.Contact) bool { return c.Role == location.RoleManager })
	if i < 0 {
		return location.Contact{}, false
	}
	return l.Details.Contacts[i], true
}

// ApplyBulkUpload decides every row of an upload as its form would
// (SubmitDailyUpdate; AddContact or UpdateContact of the Manager) and
// appends all of their events, and the upload's BulkUploadApplied, in one
// atomic step. Any invalid row rejects the whole upload with a
// *BulkRejectedError listing every error; a row for a location the caller
// may not update is one of them. Nothing is appended then.
func (a *Service) ApplyBulkUpload(ctx context.Context, actor Actor, up BulkUpload) (BulkApplied, error) {
	var out BulkApplied
	if err := actor.mayChange(); err != nil {
		return out, err
	}
	if len(up.DailyUpdates) == 0 && len(up.Managers) == 0 {
		return out, ErrBulkNoRows
	}
	if len(up.DailyUpdates) > MaxBulkRows || len(up.Managers) > MaxBulkRows {
		return out, ErrBulkTooManyRows
	}
	uploadID := uuid.NewString()
	meta := actor.metadata("BulkUpload")
	meta.Extra = map[string]string{"upload_id": uploadID}
	if meta.CorrelationID == "" {
		meta.CorrelationID = uuid.NewString()
	}

	// The rows' own checks, which need no state: each location once per
	// sheet, and the caller's to update.
	var rejected BulkRejectedError
	reject := func(r BulkRow, field, code, message string) {
		rejected.Errors = append(rejected.Errors, BulkRowError{Sheet: r.Sheet, Row: r.Row, Field: field, Code: code, Message: message})
	}
	var ids []location.ID
	// usable is each row's location id, the zero ID for a row rejected.
	usable := func(rows []BulkRow) []location.ID {
		ok := make([]location.ID, len(rows))
		first := map[string]int{}
		for i, r := range rows {
			id, err := location.ParseID(r.LocationID)
			switch {
			case strings.TrimSpace(r.LocationID) == "":
				reject(r, FieldLocationID, "required", "Give the location's Id: this row has answers but no Id")
			case err != nil:
				reject(r, FieldLocationID, "not_found", "No location has this Id")
			default:
				if prev, dup := first[r.LocationID]; dup {
					reject(r, FieldLocationID, "duplicate_row",
						fmt.Sprintf("Row %d of this sheet is for the same location: give one row per location", prev))
					continue
				}
				first[r.LocationID] = r.Row
				ok[i] = id
				ids = append(ids, id)
			}
		}
		return ok
	}
	dailyRows := make([]BulkRow, len(up.DailyUpdates))
	for i, d := range up.DailyUpdates {
		dailyRows[i] = d.BulkRow
	}
	managerRows := make([]BulkRow, len(up.Managers))
	for i, m := range up.Managers {
		managerRows[i] = m.BulkRow
	}
	dailyOK, managerOK := usable(dailyRows), usable(managerRows)
	ids = sortedIDs(ids)
	dailyIDs := make([]location.ID, 0, len(up.DailyUpdates))
	for i := range up.DailyUpdates {
		if !dailyOK[i].IsZero() {
			dailyIDs = append(dailyIDs, dailyOK[i])
		}
	}
	checked := len(rejected.Errors)

	err := retry(ctx, func() error {
		rejected.Errors = rejected.Errors[:checked]
		locs, err := loadEach(ctx, ids, a.loadLocation)
		if err != nil {
			return err
		}
		states, err := loadEach(ctx, dailyIDs, a.loadDailyUpdates)
		if err != nil {
			return err
		}
		// mayUpdate reports a row whose location the caller may not
		// update: an unknown location is not found to everyone.
		mayUpdate := func(r BulkRow) bool {
			l := locs[r.LocationID]
			switch {
			case !l.Exists():
				reject(r, FieldLocationID, "not_found", "No location has this Id")
			case actor.mayEditLocation(r.LocationID) != nil:
				reject(r, FieldLocationID, "forbidden", "You may not update this location: it is not one of yours")
			default:
				return true
			}
			return false
		}
		now := a.now()
		applied := BulkUploadApplied{UploadID: uploadID, FileName: up.FileName, SHA256: up.SHA256, Size: up.Size, UploadedAt: now}
		var reqs []eventstore.AppendRequest
		changed := map[string]bool{}

		for i, d := range up.DailyUpdates {
			if dailyOK[i].IsZero() || !mayUpdate(d.BulkRow) {
				continue
			}
			s := states[d.LocationID]
			ev, err := decideDailyUpdate(locs[d.LocationID], s, dailyupdate.Submit{
				LocationID: d.LocationID, Form: d.Form, UploadID: uploadID, Now: now})
			if err != nil {
				if rowError(d.BulkRow, err, reject) {
					continue
				}
				return err
			}
			data, err := encode(meta, "", ev)
			if err != nil {
				return err
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: dailyupdate.Stream(d.LocationID), Expected: expect(s.Version), Events: data})
			applied.DailyUpdates++
			changed[d.LocationID] = true
		}

		for i, m := range up.Managers {
			if managerOK[i].IsZero() || !mayUpdate(m.BulkRow) {
				continue
			}
			l := locs[m.LocationID]
			evs, subject, added, err := decideManager(l, m)
			if err != nil {
				if rowError(m.BulkRow, err, reject) {
					continue
				}
				return err
			}
			if len(evs) == 0 {
				applied.ContactsUnchanged++
				continue
			}
			data, err := encode(meta, subject, evs...)
			if err != nil {
				return err
			}
			reqs = append(reqs, eventstore.AppendRequest{StreamID: location.LocationStream(m.LocationID), Expected: expect(l.Version), Events: data})
			if added {
				applied.ContactsAdded++
			} else {
				applied.ContactsUpdated++
			}
			changed[m.LocationID] = true
		}

		if len(rejected.Errors) > 0 {
			return &rejected
		}
		applied.LocationIDs = slices.Sorted(func(yield func(string) bool) {
			for id := range changed {
				if !yield(id) {
					return
				}
			}
		})
		if applied.LocationIDs == nil {
			applied.LocationIDs = []string{}
		}
		data, err := encode(meta, "", applied)
		if err != nil {
			return err
		}
		reqs = append(reqs, eventstore.AppendRequest{StreamID: BulkUploadStream(uploadID), Expected: eventstore.NoStream, Events: data})
		res, err := a.store.AppendMany(ctx, reqs)
		if err != nil {
			return fmt.Errorf("apply bulk upload %s: %w", uploadID, err)
		}
		out = BulkApplied{BulkUploadApplied: applied, Position: lastPosition(res)}
		return nil
	})
	if err != nil {
		return BulkApplied{}, err
	}
	return out, nil
}

// decideManager decides a Contacts row: an update of the location's first
// Manager, or a new Manager. It returns no events when the row matches
// the directory.
func decideManager(l location.Location, m BulkManager) (evs []any, subject string, added bool, err error) {
	in := location.ContactInput{Role: location.RoleManager, Name: m.Name, Phones: m.Phones, Email: m.Email}
	cur, exists := manager(l)
	if exists {
		in.Role, in.OrganisationName, in.Address, in.Public = cur.Role, cur.OrganisationName, cur.Address, cur.Public
	}
	if strings.TrimSpace(m.Public) != "" {
		public, ok := dailyupdate.ParseYesNo(m.Public)
		if !ok {
			return nil, "", false, domain.Invalid(FieldManagerPublic, "invalid_choice", dailyupdate.MsgYesNo)
		}
		in.Public = public
	}
	if exists {
		evs, err = location.DecideUpdateContact(l, location.UpdateContact{
			LocationID: l.LocationID, ExpectedVersion: l.Version, ContactID: cur.ContactID, Contact: in})
		if err != nil {
			return nil, "", false, err
		}
		if len(evs) == 1 {
			if _, same := evs[0].(location.DetailsConfirmed); same {
				// A row left as the template gave it is not a
				// confirmation that anyone checked the contact.
				return nil, "", false, nil
			}
		}
		return evs, location.ContactSubject(cur.ContactID), false, nil
	}
	id := uuid.NewString()
	evs, err = location.DecideAddContact(l, location.AddContact{
		LocationID: l.LocationID, ExpectedVersion: l.Version, ContactID: id, Contact: in})
	return evs, location.ContactSubject(id), true, err
}

// rowError turns a decision's refusal into errors of the row, and reports
// whether it was one (any other error is the server's).
func rowError(r BulkRow, err error, reject func(r BulkRow, field, code, message string)) bool {
	var (
		invalid *domain.ValidationError
		rule    *domain.RuleError
	)
	switch {
	case errors.As(err, &invalid):
		for _, f := range invalid.Fields {
			reject(r, f.Field, f.Code, f.Message)
		}
	case errors.As(err, &rule):
		reject(r, FieldLocationID, rule.Code, rule.Message)
	case errors.Is(err, domain.ErrNotFound):
		reject(r, FieldLocationID, "not_found", "No location has this Id")
	default:
		return false
	}
	return true
}

// bulkLoaders bounds the stream reads of a bulk command in flight at once.
const bulkLoaders = 4

// loadEach folds the aggregate of each id, a few reads at a time, so that
// a thousand streams do not wait for each other's round trips.
func loadEach[T any](ctx context.Context, ids []location.ID, load func(context.Context, location.ID) (T, error)) (map[string]T, error) {
	out := make(map[string]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan location.ID)
	)
	for range min(bulkLoaders, len(ids)) {
		wg.Go(func() {
			for id := range next {
				v, err := load(ctx, id)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				out[id.String()] = v
				mu.Unlock()
			}
		})
	}
feed:
	for _, id := range ids {
		select {
		case next <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// sortedIDs sorts ids by their text and drops repeats.
func sortedIDs(ids []location.ID) []location.ID {
	slices.SortFunc(ids, func(a, b location.ID) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(ids)
}
