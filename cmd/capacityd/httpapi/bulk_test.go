package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
)

// The bulk update (Business Continuity & Vacancy Update), driven over
// HTTP: the template download, and uploads that are applied in one
// atomic step or rejected with every error and nothing appended.

const bulkTemplatePath = "/api/v1/bulk-update/template.xlsx"

var (
	homeCareHeader = []string{"Id", "Cqcl", "Name", "Service users today", "Users with COVID-19 (Confirmed)",
		"Users with COVID-19 (Suspected)", "Care providing staff (Employed)", "Care providing staff (unable to work due to COVID)",
		"PPE", "Can provide extra hours", "Extra hours per week", "Other issues"}
	contactsHeader = []string{"Id", "Cqcl", "Name", "Manager name", "Manager phone", "Manager email", "Show publicly"}
)

// bulkUpload is an upload's form: the acknowledgement (omitted when
// ack is ""), then the file, or the other way round with fileFirst.
type bulkUpload struct {
	ack       string
	fileName  string
	file      []byte
	fileFirst bool
	// noFile sends the acknowledgement only.
	noFile bool
}

func (u bulkUpload) body(t *testing.T) rawBody {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	writeAck := func() {
		if u.ack != "" {
			if err := mw.WriteField("acknowledgement", u.ack); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeFile := func() {
		if u.noFile {
			return
		}
		name := u.fileName
		if name == "" {
			name = "bulk-update.xlsx"
		}
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(u.file); err != nil {
			t.Fatal(err)
		}
	}
	if u.fileFirst {
		writeFile()
		writeAck()
	} else {
		writeAck()
		writeFile()
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return rawBody{data: &buf, contentType: mw.FormDataContentType()}
}

// upload posts a completed file with the acknowledgement.
func (c *client) upload(file []byte) response {
	c.api.t.Helper()
	return c.do(http.MethodPost, "/api/v1/bulk-update", bulkUpload{ack: httpapi.BulkAcknowledgement, file: file}.body(c.api.t))
}

// bulkResult is the answer to an applied upload.
func (r response) bulkResult() httpapi.BulkUploadResult {
	r.t.Helper()
	var res httpapi.BulkUploadResult
	r.want(http.StatusCreated).decode(&res)
	return res
}

// bulkRejected is the 422 answer to an upload with invalid rows.
func (r response) bulkRejected() httpapi.BulkUploadRejected {
	r.t.Helper()
	r.wantError(http.StatusUnprocessableEntity, "bulk_upload_invalid")
	var rej httpapi.BulkUploadRejected
	r.decode(&rej)
	return rej
}

// template downloads the caller's template and opens it.
func (c *client) template(params ...string) (*excelize.File, []byte) {
	c.api.t.Helper()
	r := c.get(viewPath(bulkTemplatePath, params...)).want(http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != httpapi.XLSXContentType {
		c.api.t.Fatalf("template Content-Type %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="bulk-update-template-`) {
		c.api.t.Fatalf("template Content-Disposition %q", cd)
	}
	return openWorkbook(c.api.t, r.body), r.body
}

func openWorkbook(t *testing.T, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open the workbook: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// fill sets cells of a workbook: sheet, cell, value triples; a value
// starting with "=" is a formula, a value of another type is typed.
func fill(t *testing.T, f *excelize.File, cells ...any) []byte {
	t.Helper()
	for i := 0; i+2 < len(cells); i += 3 {
		sheet, cell := cells[i].(string), cells[i+1].(string)
		var err error
		if s, ok := cells[i+2].(string); ok && strings.HasPrefix(s, "=") {
			err = f.SetCellFormula(sheet, cell, s)
		} else if ok {
			err = f.SetCellStr(sheet, cell, s)
		} else {
			err = f.SetCellValue(sheet, cell, cells[i+2])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// rowsOf reads a sheet's rows.
func rowsOf(t *testing.T, f *excelize.File, sheet string) [][]string {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// dailyUpdates decodes a location's daily update stream.
func (a *api) dailyUpdates(locationID string) ([]eventstore.Event, []dailyupdate.DailyUpdateSubmitted) {
	a.t.Helper()
	evs := a.stream(dailyupdate.Stream(locationID))
	out := make([]dailyupdate.DailyUpdateSubmitted, len(evs))
	for i, ev := range evs {
		d, err := dailyupdate.Decode(ev.Type, ev.Data)
		if err != nil {
			a.t.Fatal(err)
		}
		out[i] = d.(dailyupdate.DailyUpdateSubmitted)
	}
	return evs, out
}

func TestBulkTemplate_ListsTheLocationsTheCallerMayUpdateWithLockedIdentityAndDropDowns(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		w.importCQCRecord(cqcRosehill)
		w.addContactAsSystem(orgA.loc(0), location.ContactInput{Role: "Manager", Name: "Rosa Hill", Phones: "0191 555 0100",
			Email: "rosa.hill@rosehill.example.org", Public: true})
		approverA := w.loginAs(w.approverA)

		w.run(t, "ApproverGetsTheirLocation", func(t *testing.T) {
			f, _ := approverA.template()
			if got := f.GetSheetList(); !slices.Equal(got, []string{"Instructions", "Home Care", "Contacts"}) {
				t.Fatalf("sheets %q", got)
			}
			if rows := rowsOf(t, f, "Instructions"); len(rows) < 10 || !slices.ContainsFunc(rows, func(r []string) bool {
				return len(r) == 1 && strings.Contains(r[0], httpapi.BulkAcknowledgement)
			}) {
				t.Errorf("instructions %q do not give the acknowledgement", rows)
			}
			home := rowsOf(t, f, "Home Care")
			if !slices.Equal(home[0], homeCareHeader) {
				t.Fatalf("Home Care header %q", home[0])
			}
			if len(home) != 2 || !slices.Equal(home[1], []string{orgA.loc(0), orgA.loc(0), "Rosehill"}) {
				t.Fatalf("Home Care rows %q, want Rosehill's identity only", home[1:])
			}
			contacts := rowsOf(t, f, "Contacts")
			if !slices.Equal(contacts[0], contactsHeader) {
				t.Fatalf("Contacts header %q", contacts[0])
			}
			want := []string{orgA.loc(0), orgA.loc(0), "Rosehill", "Rosa Hill", "0191 555 0100", "rosa.hill@rosehill.example.org", "Yes"}
			if len(contacts) != 2 || !slices.Equal(contacts[1], want) {
				t.Fatalf("Contacts rows %q, want %q", contacts[1:], want)
			}
			// The identity is locked, the answers are not, and the
			// sheet is protected so that the lock holds.
			for cell, locked := range map[string]bool{"A2": true, "B2": true, "C2": true, "D2": false, "I2": false, "L2": false} {
				id, err := f.GetCellStyle("Home Care", cell)
				if err != nil {
					t.Fatal(err)
				}
				st, err := f.GetStyle(id)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Protection == nil || st.Protection.Locked; got != locked {
					t.Errorf("Home Care %s locked = %v, want %v", cell, got, locked)
				}
			}
			if xml := sheetXML(t, f, "Home Care"); !strings.Contains(xml, "<sheetProtection") {
				t.Error("the Home Care sheet is not protected")
			}
			dvs, err := f.GetDataValidations("Home Care")
			if err != nil {
				t.Fatal(err)
			}
			lists := map[string]string{}
			for _, dv := range dvs {
				if dv.Type == "list" {
					lists[dv.Sqref] = dv.Formula1
				}
			}
			if got := lists["I2:I2"]; !strings.Contains(got, "More than a week,Between 3 days and a week,2 days or less") {
				t.Errorf("PPE drop-down %q (lists %q)", got, lists)
			}
			if got := lists["J2:J2"]; !strings.Contains(got, "Yes,No") {
				t.Errorf("extra hours drop-down %q (lists %q)", got, lists)
			}
		})

		w.run(t, "SupportNamesTheOrganisation", func(t *testing.T) {
			support := w.loginAs(w.support)
			support.get(bulkTemplatePath).wantError(http.StatusUnprocessableEntity, "validation_failed")
			f, _ := support.template("organisation_id", orgA.ID)
			rows := rowsOf(t, f, "Home Care")
			var ids []string
			for _, r := range rows[1:] {
				ids = append(ids, r[0])
			}
			if !slices.Equal(ids, []string{orgA.loc(0), orgA.loc(1)}) {
				t.Fatalf("support's template of %s lists %q", orgA.ID, ids)
			}
		})

		w.run(t, "SomeoneWithoutLocationsGetsAnEmptyTemplate", func(t *testing.T) {
			f, _ := w.loginAs(w.approverB).template("organisation_id", orgA.ID)
			if rows := rowsOf(t, f, "Home Care"); len(rows) != 1 {
				t.Fatalf("approver B's template of organisation A has rows %q", rows[1:])
			}
		})
	})
}

// sheetXML is a sheet's XML as saved.
func sheetXML(t *testing.T, f *excelize.File, sheet string) string {
	t.Helper()
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := f.GetSheetIndex(sheet)
	if err != nil {
		t.Fatal(err)
	}
	want := "xl/worksheets/sheet" + string(rune('1'+idx)) + ".xml"
	for _, zf := range zr.File {
		if zf.Name == want {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatalf("no %s in the workbook", want)
	return ""
}

func TestBulkUpload_AppliesAValidFileAsTheFormsEventsInOneStep(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		f, _ := approverA.template()
		file := fill(t, f,
			// Numbers typed as text, with spaces; a number; a formula
			// with its cached value.
			"Home Care", "D2", " 12 ",
			"Home Care", "E2", 1,
			"Home Care", "F2", 2,
			"Home Care", "F2", "=1+1",
			"Home Care", "G2", "10",
			"Home Care", "H2", 3,
			"Home Care", "I2", "Between 3 days and a week",
			"Home Care", "J2", "Yes",
			"Home Care", "K2", 20,
			"Home Care", "L2", "Short of gloves",
			"Contacts", "D2", "Rosa Hill",
			"Contacts", "E2", "0191 555 0100",
			"Contacts", "F2", "rosa.hill@rosehill.example.org",
			"Contacts", "G2", "No",
		)
		before := w.eventCount()
		res := approverA.upload(file).bulkResult()
		if res.UploadID == "" || res.DailyUpdates != 1 || res.ContactsAdded != 1 || res.ContactsUpdated != 0 ||
			res.Applied[commands.SheetHomeCare] != 1 || res.Applied[commands.SheetContacts] != 1 ||
			!slices.Equal(res.LocationIDs, []string{orgA.loc(0)}) || res.FileName != "bulk-update.xlsx" {
			t.Fatalf("result %+v", res)
		}
		sum := sha256.Sum256(file)
		if res.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256 %s, want the file's", res.SHA256)
		}
		if got := w.eventCount() - before; got != 3 {
			t.Errorf("the upload appended %d events, want 3 (the update, the contact, the upload)", got)
		}

		evs, updates := w.dailyUpdates(orgA.loc(0))
		if len(updates) != 1 {
			t.Fatalf("%d daily updates", len(updates))
		}
		want := dailyupdate.Answers{ServiceUsers: 12, Confirmed: 1, Suspected: 2, CareStaff: 10, StaffNotWorking: 3,
			PPE: dailyupdate.PPEThreeDaysWeek, CanProvideExtra: true, ExtraHoursPerWeek: 20, OtherIssues: "Short of gloves"}
		if u := updates[0]; u.Answers != want || u.UploadID != res.UploadID || u.LocationID != orgA.loc(0) || u.NoChange {
			t.Errorf("daily update %+v, want answers %+v and upload %s", u, want, res.UploadID)
		}
		tagged := func(ev eventstore.Event) {
			t.Helper()
			if ev.Metadata.Extra["upload_id"] != res.UploadID || ev.Metadata.Command != "BulkUpload" ||
				ev.Metadata.ActorUserID != w.approverA.ID.String() {
				t.Errorf("%s metadata %+v, want the upload's", ev.Type, ev.Metadata)
			}
		}
		tagged(evs[0])

		ev, d := w.lastEvent(orgA.loc(0))
		added, ok := d.(location.ContactAdded)
		if !ok || added.Contact.Role != location.RoleManager || added.Contact.Name != "Rosa Hill" ||
			added.Contact.PhoneList() != "0191 555 0100" || added.Contact.Email != "rosa.hill@rosehill.example.org" || added.Contact.Public {
			t.Fatalf("last location event %s %+v, want the Manager added", ev.Type, d)
		}
		tagged(ev)
		if sealed := strings.Join(w.storedData(location.LocationStream(orgA.loc(0)), location.TypeContactAdded), ""); strings.Contains(sealed, "Rosa Hill") {
			t.Error("the Manager's name is stored in clear")
		}

		rec := w.stream(commands.BulkUploadStream(res.UploadID))
		if len(rec) != 1 || rec[0].Type != commands.TypeBulkUploadApplied {
			t.Fatalf("upload stream %+v", rec)
		}
		tagged(rec[0])
		var applied commands.BulkUploadApplied
		if err := json.Unmarshal(rec[0].Data, &applied); err != nil {
			t.Fatal(err)
		}
		if applied.SHA256 != res.SHA256 || applied.FileName != "bulk-update.xlsx" || applied.Size != int64(len(file)) ||
			applied.DailyUpdates != 1 || applied.ContactsAdded != 1 || !slices.Equal(applied.LocationIDs, []string{orgA.loc(0)}) {
			t.Errorf("upload record %+v", applied)
		}
		// The three streams moved in one step: one transaction's
		// positions, nothing of another between them.
		if p := []int64{evs[0].Position, ev.Position, rec[0].Position}; slices.Max(p)-slices.Min(p) != 2 {
			t.Errorf("positions %v are not one append's", p)
		}

		w.run(t, "TheFormShowsTheUpload", func(t *testing.T) {
			var form httpapi.DailyUpdateForm
			approverA.get("/api/v1/locations/" + orgA.loc(0) + "/daily-update").want(http.StatusOK).decode(&form)
			if form.Last == nil || form.Last.UploadID != res.UploadID || !form.SubmittedToday {
				t.Fatalf("form %+v", form)
			}
		})

		w.run(t, "TheNextTemplateOffersTheManagerAndAnUnchangedRowAppendsNothing", func(t *testing.T) {
			f, _ := approverA.template()
			if got := rowsOf(t, f, "Contacts")[1][3:]; !slices.Equal(got, []string{"Rosa Hill", "0191 555 0100", "rosa.hill@rosehill.example.org", "No"}) {
				t.Fatalf("Contacts row %q", got)
			}
			file := fill(t, f, "Home Care", "D2", 9, "Home Care", "E2", 0, "Home Care", "F2", 0, "Home Care", "G2", 9,
				"Home Care", "H2", 0, "Home Care", "I2", "2 days or less", "Home Care", "J2", "no", "Home Care", "K2", 0)
			before := w.eventCount()
			res := approverA.upload(file).bulkResult()
			if res.DailyUpdates != 1 || res.ContactsUnchanged != 1 || res.ContactsAdded+res.ContactsUpdated != 0 {
				t.Fatalf("result %+v", res)
			}
			if got := w.eventCount() - before; got != 2 {
				t.Errorf("appended %d events, want the update and the upload", got)
			}
			file = fill(t, f, "Contacts", "F2", "rosa@rosehill.example.org", "Contacts", "G2", "Yes")
			res = approverA.upload(file).bulkResult()
			if res.ContactsUpdated != 1 {
				t.Fatalf("result %+v", res)
			}
			_, d := w.lastEvent(orgA.loc(0))
			if u, ok := d.(location.ContactUpdated); !ok || !slices.Equal(u.Fields, []string{"email", "public"}) || u.After.Name != "Rosa Hill" {
				t.Fatalf("last event %+v, want the Manager's email and public updated", d)
			}
		})

		w.run(t, "TwoUploadsAtOnceBothApply", func(t *testing.T) {
			// Both decide on the same versions of the same streams: the
			// second to append loses the race, decides again on the
			// first's events and appends after them.
			before := w.eventCount()
			statuses := make(chan int, 2)
			for range 2 {
				go func() {
					body := bulkUpload{ack: httpapi.BulkAcknowledgement, file: file}.body(t)
					req, err := http.NewRequest(http.MethodPost, w.url+"/api/v1/bulk-update", body.data)
					if err != nil {
						statuses <- 0
						return
					}
					req.Header.Set("Content-Type", body.contentType)
					req.Header.Set(httpapi.CSRFHeader, approverA.csrf)
					resp, err := approverA.hc.Do(req)
					if err != nil {
						statuses <- 0
						return
					}
					_ = resp.Body.Close()
					statuses <- resp.StatusCode
				}()
			}
			for range 2 {
				if s := <-statuses; s != http.StatusCreated {
					t.Errorf("a concurrent upload answered %d", s)
				}
			}
			// Each: a daily update and its record; and the first puts the
			// Manager back as the file says, which the second then
			// finds as it is.
			if got := w.eventCount() - before; got != 5 {
				t.Errorf("two uploads appended %d events, want 5", got)
			}
			if _, ups := w.dailyUpdates(orgA.loc(0)); len(ups) != 5 {
				t.Errorf("%d daily updates, want 5", len(ups))
			}
		})
	})
}

// bulkErrorKeys lists "sheet row column cell field code" of errors.
func bulkErrorKeys(errs []httpapi.BulkCellError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = strings.Join([]string{e.Sheet, strconv.Itoa(e.Row), e.Column, e.Cell, e.Field, e.Code}, " | ")
	}
	return out
}

func TestBulkUpload_RejectsAFileWithErrorsInSeveralSheetsAndAppliesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		f, _ := support.template("organisation_id", orgA.ID)
		// Row 2 (Rosehill) is valid but for the cross-field rules; row 3
		// (Thorndale) has bad cells of its own; Contacts has a bad email
		// and an untouched row; a blank row 5 is skipped.
		file := fill(t, f,
			"Home Care", "D2", 3, "Home Care", "E2", 2, "Home Care", "F2", 2, "Home Care", "G2", 4, "Home Care", "H2", 5,
			"Home Care", "I2", "More than a week", "Home Care", "J2", "No", "Home Care", "K2", 4,
			"Home Care", "D3", "twelve", "Home Care", "E3", 0, "Home Care", "F3", 0, "Home Care", "G3", 1, "Home Care", "H3", 0,
			"Home Care", "I3", "Plenty", "Home Care", "J3", "Yes", "Home Care", "K3", 2,
			"Contacts", "D2", "Rosa Hill", "Contacts", "F2", "rosa.hill@", "Contacts", "G2", "Maybe",
		)
		before := w.eventCount()
		rej := support.upload(file).bulkRejected()
		want := []string{
			"Home Care | 2 | Users with COVID-19 (Confirmed) | E2 | confirmed | users_with_covid_exceed_users",
			"Home Care | 2 | Users with COVID-19 (Suspected) | F2 | suspected | users_with_covid_exceed_users",
			"Home Care | 2 | Care providing staff (unable to work due to COVID) | H2 | staff_not_working | staff_absent_exceed_staff",
			"Home Care | 2 | Extra hours per week | K2 | extra_hours_per_week | extra_hours_not_zero",
			"Home Care | 3 | Service users today | D3 | service_users | whole_number",
			"Home Care | 3 | PPE | I3 | ppe | invalid_choice",
			"Contacts | 2 | Show publicly | G2 | public | invalid_choice",
		}
		if got := bulkErrorKeys(rej.Errors); !slices.Equal(got, want) {
			t.Fatalf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, e := range rej.Errors {
			if e.Message == "" {
				t.Errorf("error %+v has no message", e)
			}
		}
		if rej.Errors[0].Message != dailyupdate.MsgUsersWithCovid {
			t.Errorf("message %q, want the guide's", rej.Errors[0].Message)
		}
		w.unchanged("a rejected upload", before)

		w.run(t, "TheAnnotatedFileMarksTheBadCells", func(t *testing.T) {
			a := rej.AnnotatedFile
			if a == nil || a.FileName != "bulk-update-errors.xlsx" || a.ContentType != httpapi.XLSXContentType {
				t.Fatalf("annotated file %+v", a)
			}
			af := openWorkbook(t, a.Data)
			comments := map[string]string{}
			for _, sheet := range []string{"Home Care", "Contacts"} {
				cs, err := af.GetComments(sheet)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					comments[sheet+"!"+c.Cell] = c.Text
				}
			}
			for _, e := range rej.Errors {
				key := e.Sheet + "!" + e.Cell
				if !strings.Contains(comments[key], e.Message) {
					t.Errorf("comment of %s is %q, want %q", key, comments[key], e.Message)
				}
				id, err := af.GetCellStyle(e.Sheet, e.Cell)
				if err != nil {
					t.Fatal(err)
				}
				st, err := af.GetStyle(id)
				if err != nil || len(st.Fill.Color) == 0 || st.Fill.Color[0] != "FFC7CE" {
					t.Errorf("%s fill %+v (%v), want red", key, st.Fill, err)
				}
			}
			if len(comments) != len(rej.Errors) {
				t.Errorf("%d comments for %d errors: %q", len(comments), len(rej.Errors), comments)
			}
			// The cells keep what was typed, for correcting.
			if v, _ := af.GetCellValue("Home Care", "D3"); v != "twelve" {
				t.Errorf("D3 = %q", v)
			}
		})

		w.run(t, "TheAnnotatedFileOfAPartlyCorrectedFileMarksOnlyWhatIsStillWrong", func(t *testing.T) {
			af := openWorkbook(t, rej.AnnotatedFile.Data)
			file := fill(t, af, "Home Care", "D3", 12, "Home Care", "I3", "more than a week",
				"Contacts", "F2", "rosa.hill@rosehill.example.org", "Contacts", "G2", "")
			again := support.upload(file).bulkRejected()
			if got := bulkErrorKeys(again.Errors); !slices.Equal(got, want[:4]) {
				t.Fatalf("errors %q, want %q", got, want[:4])
			}
			af = openWorkbook(t, again.AnnotatedFile.Data)
			var cells []string
			for _, sheet := range []string{"Home Care", "Contacts"} {
				cs, err := af.GetComments(sheet)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					cells = append(cells, sheet+"!"+c.Cell)
				}
			}
			slices.Sort(cells)
			if wantCells := []string{"Home Care!E2", "Home Care!F2", "Home Care!H2", "Home Care!K2"}; !slices.Equal(cells, wantCells) {
				t.Errorf("comments on %q, want %q", cells, wantCells)
			}
			for _, cell := range []string{"D3", "I3"} {
				id, err := af.GetCellStyle("Home Care", cell)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := af.GetStyle(id); err != nil || len(st.Fill.Color) > 0 {
					t.Errorf("corrected cell %s fill %+v (%v), want none", cell, st.Fill, err)
				}
			}
			w.unchanged("the partly corrected upload", before)
		})

		w.run(t, "TheCorrectedFileIsApplied", func(t *testing.T) {
			af := openWorkbook(t, rej.AnnotatedFile.Data)
			file := fill(t, af, "Home Care", "E2", 1, "Home Care", "F2", 1, "Home Care", "H2", 0, "Home Care", "J2", "Yes",
				"Home Care", "D3", 12, "Home Care", "I3", "more than a week",
				"Contacts", "F2", "rosa.hill@rosehill.example.org", "Contacts", "G2", "")
			res := support.upload(file).bulkResult()
			if res.DailyUpdates != 2 || res.ContactsAdded != 1 {
				t.Fatalf("result %+v", res)
			}
		})
	})
}

func TestBulkUpload_ARowForSomeoneElsesLocationIsAnErrorOfThatRow(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		f, _ := approverA.template()
		row := func(r, id string, users int) []any {
			return []any{"Home Care", "A" + r, id, "Home Care", "D" + r, users, "Home Care", "E" + r, 0, "Home Care", "F" + r, 0,
				"Home Care", "G" + r, 5, "Home Care", "H" + r, 0, "Home Care", "I" + r, "More than a week", "Home Care", "J" + r, "No",
				"Home Care", "K" + r, 0}
		}
		cells := slices.Concat(row("2", orgA.loc(0), 7), row("3", orgB.loc(0), 8), row("4", "1-999999999", 9), row("5", orgA.loc(0), 6),
			[]any{"Contacts", "A3", orgA.loc(1), "Contacts", "D3", "Tess Thorn"})
		file := fill(t, f, cells...)
		before := w.eventCount()
		rej := approverA.upload(file).bulkRejected()
		want := []string{
			"Home Care | 3 | Id | A3 | location_id | forbidden",
			"Home Care | 4 | Id | A4 | location_id | not_found",
			"Home Care | 5 | Id | A5 | location_id | duplicate_row",
			"Contacts | 3 | Id | A3 | location_id | forbidden",
		}
		if got := bulkErrorKeys(rej.Errors); !slices.Equal(got, want) {
			t.Fatalf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		w.unchanged("an upload with another's location", before)
		if _, ups := w.dailyUpdates(orgA.loc(0)); len(ups) != 0 {
			t.Errorf("the valid row was applied: %+v", ups)
		}
	})
}

func TestBulkUpload_RefusesWhatIsNotACompletedTemplate(t *testing.T) {
	eachBackend(t, func(t *testing.T, w *world) {
		approverA := w.loginAs(w.approverA)
		f, template := approverA.template()
		valid := fill(t, f, "Home Care", "D2", 3, "Home Care", "E2", 0, "Home Care", "F2", 0, "Home Care", "G2", 4,
			"Home Care", "H2", 0, "Home Care", "I2", "More than a week", "Home Care", "J2", "No", "Home Care", "K2", 0)
		before := w.eventCount()
		post := func(u bulkUpload, extra ...string) response {
			t.Helper()
			return approverA.do(http.MethodPost, "/api/v1/bulk-update", u.body(t), extra...)
		}

		w.run(t, "WithoutTheAcknowledgement", func(t *testing.T) {
			for name, u := range map[string]bulkUpload{
				"missing":         {file: valid},
				"wrong":           {ack: "I understand", file: valid},
				"after the file":  {ack: httpapi.BulkAcknowledgement, file: valid, fileFirst: true},
				"missing no file": {noFile: true},
			} {
				e := post(u).wantError(http.StatusBadRequest, "acknowledgement_required")
				if e.Message != "I understand that admitting an individual who is known NOT to have been tested for COVID or is AWAITING the test result is contrary to Government Policy" {
					t.Errorf("%s: message %q", name, e.Message)
				}
			}
			post(bulkUpload{ack: httpapi.BulkAcknowledgement, noFile: true}).wantError(http.StatusBadRequest, "file_required")
			approverA.post("/api/v1/bulk-update", map[string]string{"acknowledgement": httpapi.BulkAcknowledgement}).
				wantError(http.StatusUnsupportedMediaType, "unsupported_media_type")
		})

		w.run(t, "OverTenMiB", func(t *testing.T) {
			big := append(slices.Clone(valid), make([]byte, httpapi.MaxBulkFileBytes+100<<10-len(valid))...)
			// Content-Length says so: refused before the handler.
			post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: big}).wantError(http.StatusRequestEntityTooLarge, "body_too_large")
			// Without a Content-Length, the file part is cut at the limit.
			body := bulkUpload{ack: httpapi.BulkAcknowledgement, file: big}.body(t)
			body.data = io.MultiReader(body.data) // unknown length: sent chunked
			approverA.do(http.MethodPost, "/api/v1/bulk-update", body).wantError(http.StatusRequestEntityTooLarge, "file_too_large")
			// One byte over 10 MiB, within the body's limit.
			post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: big[:httpapi.MaxBulkFileBytes+1]}).
				wantError(http.StatusRequestEntityTooLarge, "file_too_large")
			// A file of exactly 10 MiB is within the limit: it is read,
			// and refused as the zip it is not.
			exact := make([]byte, httpapi.MaxBulkFileBytes)
			post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: exact}).wantError(http.StatusBadRequest, "not_xlsx")
			// Every other route keeps the server's limit.
			approverA.post("/api/v1/me/access-requests", map[string]string{"x": strings.Repeat("x", maxBody)}).
				wantError(http.StatusRequestEntityTooLarge, "body_too_large")
		})

		w.run(t, "NotAnXLSX", func(t *testing.T) {
			var docx bytes.Buffer
			zw := zip.NewWriter(&docx)
			for _, name := range []string{"[Content_Types].xml", "word/document.xml"} {
				fw, _ := zw.Create(name)
				_, _ = fw.Write([]byte("<x/>"))
			}
			_ = zw.Close()
			for name, c := range map[string]struct {
				data []byte
				code string
			}{
				"text":          {[]byte("Id,Cqcl,Name\n1-112721881,,Rosehill\n"), "not_xlsx"},
				"empty":         {nil, "not_xlsx"},
				"old xls":       {append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 512)...), "not_xlsx"},
				"a docx":        {docx.Bytes(), "not_xlsx"},
				"truncated":     {template[:len(template)/2], "not_xlsx"},
				"zip bomb":      {zipBomb(t, template), "xlsx_too_large"},
				"corrupt entry": {corruptEntry(t, template), "unreadable_xlsx"},
			} {
				e := post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: c.data}).wantError(http.StatusBadRequest, c.code)
				if len(e.Message) < 20 {
					t.Errorf("%s: message %q", name, e.Message)
				}
			}
		})

		w.run(t, "NotTheTemplate", func(t *testing.T) {
			renamed := openWorkbook(t, valid)
			if err := renamed.SetCellStr("Home Care", "I1", "PPE stock"); err != nil {
				t.Fatal(err)
			}
			e := post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: fill(t, renamed)}).wantError(http.StatusBadRequest, "unknown_column")
			if !strings.Contains(e.Message, `"PPE stock" (column I)`) {
				t.Errorf("message %q", e.Message)
			}
			removed := openWorkbook(t, valid)
			if err := removed.RemoveCol("Home Care", "K"); err != nil {
				t.Fatal(err)
			}
			e = post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: fill(t, removed)}).wantError(http.StatusBadRequest, "missing_column")
			if !strings.Contains(e.Message, `"Extra hours per week"`) {
				t.Errorf("message %q", e.Message)
			}
			other := excelize.NewFile()
			defer other.Close()
			post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: fill(t, other, "Sheet1", "A1", "Id")}).
				wantError(http.StatusBadRequest, "not_template")
			post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: template}).wantError(http.StatusUnprocessableEntity, "no_rows")
		})

		w.run(t, "ColumnsInAnotherOrderAndSheetNamesInAnotherCase", func(t *testing.T) {
			moved := openWorkbook(t, valid)
			if err := moved.SetSheetName("Home Care", "HOME CARE"); err != nil {
				t.Fatal(err)
			}
			// The Other issues column goes first; the headings are in
			// another case.
			if err := moved.InsertCols("HOME CARE", "A", 1); err != nil {
				t.Fatal(err)
			}
			file := fill(t, moved, "HOME CARE", "A1", "other ISSUES", "HOME CARE", "A2", "Moved", "HOME CARE", "M1", "", "HOME CARE", "E1", "service users TODAY")
			res := post(bulkUpload{ack: httpapi.BulkAcknowledgement, file: file}).bulkResult()
			_, ups := w.dailyUpdates(orgA.loc(0))
			if res.DailyUpdates != 1 || len(ups) != 1 || ups[0].Answers.OtherIssues != "Moved" || ups[0].Answers.ServiceUsers != 3 {
				t.Fatalf("result %+v, updates %+v", res, ups)
			}
			before = w.eventCount()
		})
		w.unchanged("the refused uploads", before)
	})
}

// zipBomb is the template with an entry that inflates to 200 MiB.
func zipBomb(t *testing.T, template []byte) []byte {
	t.Helper()
	return rezip(t, template, func(zw *zip.Writer) {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: "xl/media/image1.png", Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for range 200 {
			if _, err := fw.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
	}, nil)
}

// corruptEntry is the template with bytes of its Home Care sheet's
// compressed data damaged (its checksum no longer matches).
func corruptEntry(t *testing.T, template []byte) []byte {
	t.Helper()
	out := bytes.Clone(template)
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "xl/worksheets/sheet2.xml" {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			for i := range int64(8) {
				out[off+int64(f.CompressedSize64)/2+i] ^= 0x55
			}
			return out
		}
	}
	t.Fatal("the template has no sheet2.xml")
	return nil
}

// rezip copies a zip, changing entries with edit and adding with add.
func rezip(t *testing.T, src []byte, add func(zw *zip.Writer), edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			data = edit(f.Name, data)
		}
		fw, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if add != nil {
		add(zw)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestBulkUpload_AcceptsAFileSavedByLibreOffice fills the template, has
// LibreOffice open and save it (computing a formula that has no cached
// value yet), and uploads what LibreOffice wrote. Without LibreOffice on
// PATH it only says so (CI installs it: apt-get install -y
// --no-install-recommends libreoffice-calc-nogui).
func TestBulkUpload_AcceptsAFileSavedByLibreOffice(t *testing.T) {
	soffice := libreOffice()
	if soffice == "" {
		t.Log("LibreOffice is not installed (no libreoffice or soffice on PATH): the conversion is not checked. " +
			"Install it with: apt-get install -y --no-install-recommends libreoffice-calc-nogui")
		return
	}
	eachBackend(t, func(t *testing.T, w *world) {
		support := w.loginAs(w.support)
		f, _ := support.template("organisation_id", orgA.ID)
		filled := fill(t, f,
			"Home Care", "D2", "11", "Home Care", "E2", 1, "Home Care", "F2", 0, "Home Care", "G2", 6, "Home Care", "H2", 1,
			"Home Care", "I2", "2 days or less", "Home Care", "J2", "Yes",
			"Home Care", "K2", "=D2*2-G2+0.1*3-0.3", // 16, computed by LibreOffice
			"Home Care", "L2", "Needs aprons\nand masks",
			"Contacts", "D3", "Tess Thorn", "Contacts", "E3", "0191 555 0123",
		)
		dir := t.TempDir()
		in := filepath.Join(dir, "filled.xlsx")
		if err := os.WriteFile(in, filled, 0o600); err != nil {
			t.Fatal(err)
		}
		outDir := filepath.Join(dir, "out")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, soffice, "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
			"--headless", "--norestore", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", outDir, in)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		saved, err := os.ReadFile(filepath.Join(outDir, "filled.xlsx"))
		if err != nil {
			t.Fatalf("LibreOffice wrote nothing: %v", err)
		}
		if bytes.Equal(saved, filled) {
			t.Fatal("LibreOffice's file is the same bytes")
		}
		res := support.upload(saved).bulkResult()
		if res.DailyUpdates != 1 || res.ContactsAdded != 1 {
			t.Fatalf("result %+v", res)
		}
		_, ups := w.dailyUpdates(orgA.loc(0))
		want := dailyupdate.Answers{ServiceUsers: 11, Confirmed: 1, CareStaff: 6, StaffNotWorking: 1, PPE: dailyupdate.PPETwoDaysOrLess,
			CanProvideExtra: true, ExtraHoursPerWeek: 16, OtherIssues: "Needs aprons\nand masks"}
		if len(ups) != 1 || ups[0].Answers != want {
			t.Fatalf("updates %+v, want %+v", ups, want)
		}
		_, d := w.lastEvent(orgA.loc(1))
		if c, ok := d.(location.ContactAdded); !ok || c.Contact.Name != "Tess Thorn" || c.Contact.PhoneList() != "0191 555 0123" {
			t.Fatalf("Thorndale's last event %+v", d)
		}
	})
}
