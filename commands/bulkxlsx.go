package commands

import (
	"archive/zip"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
)

// The bulk update's workbook: the template (an Instructions sheet, then
// the Home Care and Contacts sheets pre-filled with a row per location),
// the reader of a completed file and the annotated copy of a rejected
// one.
//
// The reader trusts nothing it is sent. Before excelize sees a file, the
// zip's directory is checked: the number of entries and the sizes they
// declare (archive/zip refuses an entry that inflates beyond its
// declared size, so a zip bomb is caught by its directory); then every
// entry must inflate to its declared size with its checksum (excelize
// would read a damaged sheet as a shorter one). Sheets are read a row at
// a time (excelize's Rows), columns are found by their headings, not
// their position, and each sheet has at most MaxBulkRows rows
// with answers. Cells are read raw, without their number format: "12"
// typed as text and 12 typed as a number read alike, and a formula reads
// as its cached value.

// BulkAcknowledgement is the sentence an upload must acknowledge, word
// for word (the guide's Government Policy tick box): both ports refuse to
// read a file sent without it.
const BulkAcknowledgement = "I understand that admitting an individual who is known NOT to have been tested for COVID or is AWAITING the test result is contrary to Government Policy"

// MaxBulkFileBytes bounds an uploaded file: 10 MiB.
const MaxBulkFileBytes = 10 << 20

// BulkXLSXTypes are the file types an upload accepts, for a file input's
// accept attribute.
const BulkXLSXTypes = ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// Limits of an uploaded workbook.
const (
	bulkMaxZipEntries = 1000
	// bulkMaxUnzipped bounds the sizes the zip's entries declare, in all;
	// bulkMaxEntry each of them.
	bulkMaxUnzipped = 128 << 20
	bulkMaxEntry    = 64 << 20
	// bulkMaxXMLInMemory: a larger sheet is unzipped to a temporary file.
	bulkMaxXMLInMemory = 16 << 20
)

// bulkKind is what a column of the template holds.
type bulkKind int

const (
	bulkIdentity bulkKind = iota // filled in by the template, locked
	bulkCount                    // a whole number >= 0
	bulkPPE                      // one of the short PPE labels
	bulkYesNo                    // Yes or No
	bulkText                     // free text
)

// bulkColumn is a column of a template sheet.
type bulkColumn struct {
	header string
	// field is the row's field the column fills, as commands'
	// BulkRowError names it; "" for the columns only shown to people
	// (Cqcl, Name).
	field string
	kind  bulkKind
	width float64
	// required: an uploaded sheet without this heading is refused.
	required bool
	// value is the template's value of the column for a location.
	value func(BulkTemplateRow) string
}

// bulkSheet is a sheet of the template.
type bulkSheet struct {
	name    string // SheetHomeCare or SheetContacts
	columns []bulkColumn
}

// identityColumns are the first columns of every sheet: the location.
var identityColumns = []bulkColumn{
	{header: "Id", field: FieldLocationID, kind: bulkIdentity, width: 16, required: true,
		value: func(r BulkTemplateRow) string { return r.LocationID }},
	{header: "Cqcl", kind: bulkIdentity, width: 16,
		value: func(r BulkTemplateRow) string { return r.CQCLocationID }},
	{header: "Name", kind: bulkIdentity, width: 36,
		value: func(r BulkTemplateRow) string { return r.Name }},
}

// managerValue is a field of a location's Manager, "" without one.
func managerValue(get func(m BulkTemplateRow) string) func(BulkTemplateRow) string {
	return func(r BulkTemplateRow) string {
		if r.Manager == nil {
			return ""
		}
		return get(r)
	}
}

// bulkSheets are the template's sheets after Instructions, in order.
var bulkSheets = []bulkSheet{
	{name: SheetHomeCare, columns: append(slices.Clone(identityColumns),
		bulkColumn{header: "Service users today", field: dailyupdate.FieldServiceUsers, kind: bulkCount, width: 14, required: true},
		bulkColumn{header: "Users with COVID-19 (Confirmed)", field: dailyupdate.FieldConfirmed, kind: bulkCount, width: 18, required: true},
		bulkColumn{header: "Users with COVID-19 (Suspected)", field: dailyupdate.FieldSuspected, kind: bulkCount, width: 18, required: true},
		bulkColumn{header: "Care providing staff (Employed)", field: dailyupdate.FieldCareStaff, kind: bulkCount, width: 18, required: true},
		bulkColumn{header: "Care providing staff (unable to work due to COVID)", field: dailyupdate.FieldStaffNotWorking, kind: bulkCount, width: 22, required: true},
		bulkColumn{header: "PPE", field: dailyupdate.FieldPPE, kind: bulkPPE, width: 26, required: true},
		bulkColumn{header: "Can provide extra hours", field: dailyupdate.FieldCanProvideExtra, kind: bulkYesNo, width: 14, required: true},
		bulkColumn{header: "Extra hours per week", field: dailyupdate.FieldExtraHours, kind: bulkCount, width: 14, required: true},
		bulkColumn{header: "Other issues", field: dailyupdate.FieldOtherIssues, kind: bulkText, width: 50},
	)},
	{name: SheetContacts, columns: append(slices.Clone(identityColumns),
		bulkColumn{header: "Manager name", field: FieldManagerName, kind: bulkText, width: 28, required: true,
			value: managerValue(func(r BulkTemplateRow) string { return r.Manager.Name })},
		bulkColumn{header: "Manager phone", field: FieldManagerPhones, kind: bulkText, width: 20, required: true,
			value: managerValue(func(r BulkTemplateRow) string { return r.Manager.PhoneList() })},
		bulkColumn{header: "Manager email", field: FieldManagerEmail, kind: bulkText, width: 32, required: true,
			value: managerValue(func(r BulkTemplateRow) string { return r.Manager.Email })},
		bulkColumn{header: "Show publicly", field: FieldManagerPublic, kind: bulkYesNo, width: 14,
			value: managerValue(func(r BulkTemplateRow) string { return yesNo(r.Manager.Public) })},
	)},
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// headerKey is a heading as the reader compares it: lower case, white
// space collapsed.
func headerKey(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// bulkSheetNamed is the template sheet of a sheet name, in any case.
func bulkSheetNamed(name string) (bulkSheet, bool) {
	for _, sh := range bulkSheets {
		if headerKey(name) == headerKey(sh.name) {
			return sh, true
		}
	}
	return bulkSheet{}, false
}

// bulkInstructions are the lines of the Instructions sheet.
func bulkInstructions() []string {
	var ppe []string
	for _, c := range dailyupdate.PPEChoices() {
		ppe = append(ppe, dailyupdate.ShortPPELabel(c.Code))
	}
	return []string{
		"Business Continuity & Vacancy Update: bulk update template",
		"",
		"This workbook has a sheet for each section of the Capacity Tracker that needs updating: Home Care (the daily COVID-19 update) and Contacts (each location's Manager).",
		"Each sheet has one row for each location you may update. The Id, Cqcl and Name columns identify the location: do not change them.",
		"Fill in the rows of the locations you are updating. A row whose answers are all blank is skipped: that location is not updated.",
		"",
		"Home Care",
		"Answer every question of a row, as in the COVID-19 Update (Daily) form:",
		"  Service users today: " + dailyupdate.Questions[dailyupdate.FieldServiceUsers],
		"  Users with COVID-19 (Confirmed): " + dailyupdate.Questions[dailyupdate.FieldConfirmed],
		"  Users with COVID-19 (Suspected): " + dailyupdate.Questions[dailyupdate.FieldSuspected],
		"  Care providing staff (Employed): " + dailyupdate.Questions[dailyupdate.FieldCareStaff],
		"  Care providing staff (unable to work due to COVID): " + dailyupdate.Questions[dailyupdate.FieldStaffNotWorking],
		"  PPE: " + dailyupdate.Questions[dailyupdate.FieldPPE] + " Choose one of: " + strings.Join(ppe, "; ") + ".",
		"  Can provide extra hours: " + dailyupdate.Questions[dailyupdate.FieldCanProvideExtra] + " Yes or No.",
		"  Extra hours per week: " + dailyupdate.Questions[dailyupdate.FieldExtraHours],
		"  Other issues (optional): " + dailyupdate.Questions[dailyupdate.FieldOtherIssues],
		"Counts are whole numbers, 0 or more.",
		dailyupdate.MsgUsersWithCovid,
		dailyupdate.MsgStaffAbsent,
		dailyupdate.MsgNoExtraHours + ".",
		"",
		"Contacts",
		"Each row is the location's Manager contact as the Edit Provider page shows it. Change the name, phone or email to update it, or fill them in for a location without a Manager to add one.",
		"Phone numbers are UK numbers; several go in one cell separated by commas. Show publicly: Yes shows the contact in the public search.",
		"Clearing a row does not remove the contact: use the Edit Provider page for that.",
		"",
		"Uploading",
		"Save the workbook as .xlsx (at most 10 MB) and upload it with Submit Completed Template, ticking the box: " + BulkAcknowledgement + ".",
		fmt.Sprintf("Each sheet may have at most %d completed rows.", MaxBulkRows),
		"Every row is checked before anything is saved. If any row has an error, nothing is saved: you get the list of errors and this workbook back with the cells to correct highlighted in red and commented.",
	}
}

// bulkStyles are the template's styles.
type bulkStyles struct {
	header, identity, editable, wrapped, title int
}

func newBulkStyles(f *excelize.File) (bulkStyles, error) {
	var st bulkStyles
	styles := []struct {
		dst *int
		s   excelize.Style
	}{
		{&st.header, excelize.Style{
			Font:       &excelize.Font{Bold: true},
			Fill:       excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
			Border:     []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
			Alignment:  &excelize.Alignment{Vertical: "center", WrapText: true},
			Protection: &excelize.Protection{Locked: true},
		}},
		{&st.identity, excelize.Style{
			Fill:       excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"EDEDED"}},
			Protection: &excelize.Protection{Locked: true},
		}},
		{&st.editable, excelize.Style{Protection: &excelize.Protection{Locked: false}}},
		{&st.wrapped, excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}}},
		{&st.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}},
	}
	for _, s := range styles {
		id, err := f.NewStyle(&s.s)
		if err != nil {
			return st, err
		}
		*s.dst = id
	}
	return st, nil
}

// BuildBulkTemplate writes the template of rows.
func BuildBulkTemplate(rows []BulkTemplateRow) (*excelize.File, error) {
	f := excelize.NewFile()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
		}
	}()
	st, err := newBulkStyles(f)
	if err != nil {
		return nil, err
	}
	const instructions = "Instructions"
	if err := f.SetSheetName(f.GetSheetName(0), instructions); err != nil {
		return nil, err
	}
	if err := f.SetColWidth(instructions, "A", "A", 140); err != nil {
		return nil, err
	}
	for i, line := range bulkInstructions() {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetCellStr(instructions, cell, line); err != nil {
			return nil, err
		}
		style := st.wrapped
		if i == 0 {
			style = st.title
		}
		if err := f.SetCellStyle(instructions, cell, cell, style); err != nil {
			return nil, err
		}
	}
	for _, sh := range bulkSheets {
		if err := writeBulkSheet(f, sh, st, rows); err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sh.name, err)
		}
	}
	f.SetActiveSheet(1)
	ok = true
	return f, nil
}

func writeBulkSheet(f *excelize.File, sh bulkSheet, st bulkStyles, rows []BulkTemplateRow) error {
	if _, err := f.NewSheet(sh.name); err != nil {
		return err
	}
	header := make([]any, len(sh.columns))
	for i, c := range sh.columns {
		header[i] = c.header
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := f.SetColWidth(sh.name, col, col, c.width); err != nil {
			return err
		}
	}
	if err := f.SetSheetRow(sh.name, "A1", &header); err != nil {
		return err
	}
	last, _ := excelize.CoordinatesToCellName(len(sh.columns), 1)
	if err := f.SetCellStyle(sh.name, "A1", last, st.header); err != nil {
		return err
	}
	if err := f.SetRowHeight(sh.name, 1, 45); err != nil {
		return err
	}
	if err := f.SetPanes(sh.name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	values := make([]any, len(sh.columns))
	for i, r := range rows {
		for j, c := range sh.columns {
			values[j] = nil
			if c.value != nil {
				if v := c.value(r); v != "" {
					values[j] = v
				}
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow(sh.name, cell, &values); err != nil {
			return err
		}
	}
	if len(rows) > 0 {
		// One style and one validation for each column's range: the
		// identity columns locked, the others editable.
		for j, c := range sh.columns {
			from, _ := excelize.CoordinatesToCellName(j+1, 2)
			to, _ := excelize.CoordinatesToCellName(j+1, len(rows)+1)
			style := st.editable
			if c.kind == bulkIdentity {
				style = st.identity
			}
			if err := f.SetCellStyle(sh.name, from, to, style); err != nil {
				return err
			}
			if dv, err := bulkValidation(c); err != nil {
				return err
			} else if dv != nil {
				dv.Sqref = from + ":" + to
				if err := f.AddDataValidation(sh.name, dv); err != nil {
					return err
				}
			}
		}
	}
	// No password: the lock keeps a slip from changing a location's
	// identity, it is not a security boundary (the upload checks every
	// row).
	return f.ProtectSheet(sh.name, &excelize.SheetProtectionOptions{
		SelectLockedCells: true, SelectUnlockedCells: true, FormatColumns: true, FormatRows: true,
	})
}

// bulkValidation is the data validation of a column's cells: drop-downs
// of the choices, the ranges of numbers and text.
func bulkValidation(c bulkColumn) (*excelize.DataValidation, error) {
	dv := excelize.NewDataValidation(true)
	var err error
	switch c.kind {
	case bulkCount:
		err = dv.SetRange(0, 1_000_000, excelize.DataValidationTypeWhole, excelize.DataValidationOperatorBetween)
		dv.SetError(excelize.DataValidationErrorStyleStop, c.header, dailyupdate.MsgWholeNumber)
	case bulkPPE:
		var labels []string
		for _, p := range dailyupdate.PPEChoices() {
			labels = append(labels, dailyupdate.ShortPPELabel(p.Code))
		}
		err = dv.SetDropList(labels)
		dv.SetError(excelize.DataValidationErrorStyleStop, c.header, dailyupdate.MsgPPE)
	case bulkYesNo:
		err = dv.SetDropList([]string{"Yes", "No"})
		dv.SetError(excelize.DataValidationErrorStyleStop, c.header, dailyupdate.MsgYesNo)
	case bulkText:
		if c.field != dailyupdate.FieldOtherIssues {
			return nil, nil
		}
		err = dv.SetRange(0, dailyupdate.MaxOtherIssuesLen, excelize.DataValidationTypeTextLength, excelize.DataValidationOperatorBetween)
		dv.SetError(excelize.DataValidationErrorStyleStop, c.header, dailyupdate.MsgOtherIssues)
	default:
		return nil, nil
	}
	return dv, err
}

// --- reading an upload ---------------------------------------------------

// BulkFile is an uploaded workbook as read: the rows with answers of its
// sheets, and where each column is, for the errors.
type BulkFile struct {
	DailyUpdates []BulkDailyUpdate
	Managers     []BulkManager
	// Skipped counts the rows without answers of each sheet.
	Skipped map[string]int
	// Sheets maps each template sheet the file has onto where it is.
	Sheets map[string]BulkSheetLayout
}

// BulkSheetLayout is where a template sheet is in an uploaded file.
type BulkSheetLayout struct {
	// Name is the sheet's name in the file.
	Name string
	// Columns maps the headings found onto their column number (1 for A).
	Columns map[string]int
}

// Cell is the heading and cell reference ("E7") of a row's field, or of
// the row's Id when the field has no column of its own.
func (b BulkFile) Cell(sheet string, row int, field string) (header, cell string) {
	sh, ok := bulkSheetNamed(sheet)
	layout := b.Sheets[sh.name]
	if !ok || layout.Columns == nil {
		return "", ""
	}
	header = identityColumns[0].header
	for _, c := range sh.columns {
		if c.field == field && c.field != "" {
			if _, found := layout.Columns[c.header]; found {
				header = c.header
			}
		}
	}
	cell, _ = excelize.CoordinatesToCellName(layout.Columns[header], row)
	return header, cell
}

// BulkFileError is an uploaded file that cannot be read as the template:
// the API's 400, a page's error on the file field. Message says what to
// do about it.
type BulkFileError struct {
	Code    string
	Message string
}

func (e *BulkFileError) Error() string { return e.Message }

func bulkFileError(code, format string, args ...any) error {
	return &BulkFileError{Code: code, Message: fmt.Sprintf(format, args...)}
}

var (
	errNotXLSX = bulkFileError("not_xlsx",
		"The file is not an Excel workbook (.xlsx): save the completed template as Excel Workbook (.xlsx), without a password, and upload it again")
	errCorruptXLSX = bulkFileError("unreadable_xlsx",
		"The workbook could not be read: it may be damaged. Save it again as Excel Workbook (.xlsx) and upload it again")
	errXLSXTooLarge = bulkFileError("xlsx_too_large",
		"The workbook is too large when unzipped (more than %d MB): upload the template with only its own sheets", bulkMaxUnzipped>>20)
)

// checkXLSXZip checks an upload's zip before excelize opens it: its
// directory (entries, their declared sizes, the parts of a workbook),
// then each entry's data.
func checkXLSXZip(data []byte) error {
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return errNotXLSX
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return errNotXLSX
	}
	if len(zr.File) > bulkMaxZipEntries {
		return errXLSXTooLarge
	}
	var total uint64
	parts := map[string]bool{}
	for _, f := range zr.File {
		if f.UncompressedSize64 > bulkMaxEntry {
			return errXLSXTooLarge
		}
		total += f.UncompressedSize64
		if total > bulkMaxUnzipped {
			return errXLSXTooLarge
		}
		parts[strings.ToLower(f.Name)] = true
	}
	if !parts["[content_types].xml"] || !parts["xl/workbook.xml"] {
		return errNotXLSX
	}
	// excelize ignores an entry's read errors, and would read a damaged
	// sheet as a shorter one: every entry must inflate to its declared
	// size with its checksum.
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return errCorruptXLSX
		}
		_, err = io.Copy(io.Discard, rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return errCorruptXLSX
		}
	}
	return nil
}

// bulkOpenOptions are excelize's limits for an upload, and raw cell
// values (no number formats).
func bulkOpenOptions() excelize.Options {
	return excelize.Options{UnzipSizeLimit: bulkMaxUnzipped, UnzipXMLSizeLimit: bulkMaxXMLInMemory, RawCellValue: true}
}

// ReadBulkUpload reads an uploaded workbook: the Home Care and Contacts
// sheets (named in any case; other sheets are ignored), each with its
// headings in row 1. A file that is not a workbook, or has neither
// sheet, a sheet with an unknown, repeated or missing heading, or more
// than MaxBulkRows rows with answers, is refused with a *BulkFileError
// that says so (the API's 400). Rows are not validated here: that is the
// commands' job.
func ReadBulkUpload(data []byte) (out BulkFile, err error) {
	// excelize parses what a stranger sent: whatever it does with a file
	// crafted to trip it, the answer is a BulkFileError, never a crash. (The fuzz
	// tests call readBulkUpload, so that they see any panic.)
	defer func() {
		if p := recover(); p != nil {
			out, err = BulkFile{}, errCorruptXLSX
		}
	}()
	return readBulkUpload(data)
}

func readBulkUpload(data []byte) (BulkFile, error) {
	if err := checkXLSXZip(data); err != nil {
		return BulkFile{}, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), bulkOpenOptions())
	if err != nil {
		return BulkFile{}, errCorruptXLSX
	}
	defer func() { _ = f.Close() }()
	out := BulkFile{Skipped: map[string]int{}, Sheets: map[string]BulkSheetLayout{}}
	for _, name := range f.GetSheetList() {
		sh, ok := bulkSheetNamed(name)
		if !ok {
			continue
		}
		if prev, dup := out.Sheets[sh.name]; dup {
			return BulkFile{}, bulkFileError("duplicate_sheet", "The workbook has two %s sheets (%q and %q): keep one", sh.name, prev.Name, name)
		}
		if err := readBulkSheet(f, name, sh, &out); err != nil {
			return BulkFile{}, err
		}
	}
	if len(out.Sheets) == 0 {
		return BulkFile{}, bulkFileError("not_template",
			"The workbook has no %s or %s sheet: download the template, fill it in and upload it", SheetHomeCare, SheetContacts)
	}
	return out, nil
}

// readBulkSheet reads a sheet's headings and its rows with answers.
func readBulkSheet(f *excelize.File, name string, sh bulkSheet, out *BulkFile) error {
	rows, err := f.Rows(name)
	if err != nil {
		return bulkFileError("unreadable_sheet", "Sheet %q could not be read: save the workbook again as .xlsx", name)
	}
	defer func() { _ = rows.Close() }()
	var (
		cols   []int // the template column of each column of the file, -1 for none
		layout = BulkSheetLayout{Name: name, Columns: map[string]int{}}
		n      = 0 // the row's number: Next visits rows absent from the file too
		filled = 0
	)
	for rows.Next() {
		n++
		cells, err := rows.Columns(bulkOpenOptions())
		if err != nil {
			return bulkFileError("unreadable_sheet", "Row %d of sheet %q could not be read: save the workbook again as .xlsx", n, name)
		}
		if n == 1 {
			if cols, err = bulkHeader(sh, name, cells, layout.Columns); err != nil {
				return err
			}
			continue
		}
		value := func(field string) string {
			for i, c := range cols {
				if c >= 0 && sh.columns[c].field == field && i < len(cells) {
					if sh.columns[c].kind == bulkCount {
						return excelNumber(cells[i])
					}
					return cells[i]
				}
			}
			return ""
		}
		answered := false
		for i, c := range cols {
			if c >= 0 && sh.columns[c].kind != bulkIdentity && i < len(cells) && strings.TrimSpace(cells[i]) != "" {
				answered = true
				break
			}
		}
		if !answered {
			if len(strings.TrimSpace(strings.Join(cells, ""))) > 0 {
				out.Skipped[sh.name]++
			}
			continue
		}
		if filled++; filled > MaxBulkRows {
			return bulkFileError("too_many_rows", "Sheet %q has more than %d completed rows: split the file", name, MaxBulkRows)
		}
		row := BulkRow{Sheet: sh.name, Row: n, LocationID: strings.TrimSpace(value(FieldLocationID))}
		switch sh.name {
		case SheetHomeCare:
			d := BulkDailyUpdate{BulkRow: row}
			for _, field := range dailyupdate.Fields() {
				d.Form.Set(field, value(field))
			}
			out.DailyUpdates = append(out.DailyUpdates, d)
		case SheetContacts:
			out.Managers = append(out.Managers, BulkManager{BulkRow: row,
				Name: value(FieldManagerName), Phones: value(FieldManagerPhones),
				Email: value(FieldManagerEmail), Public: value(FieldManagerPublic)})
		}
	}
	if err := rows.Error(); err != nil {
		return bulkFileError("unreadable_sheet", "Sheet %q could not be read to the end: save the workbook again as .xlsx", name)
	}
	if n == 0 {
		return bulkFileError("missing_header", "Sheet %q is empty: its first row must hold the template's headings", name)
	}
	out.Sheets[sh.name] = layout
	return nil
}

// bulkHeader matches a sheet's headings with the template's columns. It
// returns the template column of each column (-1 for a blank heading)
// and fills found with each heading's column number.
func bulkHeader(sh bulkSheet, name string, cells []string, found map[string]int) ([]int, error) {
	cols := make([]int, len(cells))
	var unknown []string
	for i, h := range cells {
		cols[i] = -1
		if strings.TrimSpace(h) == "" {
			continue
		}
		j := slices.IndexFunc(sh.columns, func(c bulkColumn) bool { return headerKey(c.header) == headerKey(h) })
		ref, _ := excelize.ColumnNumberToName(i + 1)
		if j < 0 {
			unknown = append(unknown, fmt.Sprintf("%q (column %s)", truncateText(h, 60), ref))
			continue
		}
		if prev, dup := found[sh.columns[j].header]; dup {
			prevRef, _ := excelize.ColumnNumberToName(prev)
			return nil, bulkFileError("duplicate_column", "Sheet %q has the column %q twice (columns %s and %s): keep one",
				name, sh.columns[j].header, prevRef, ref)
		}
		cols[i] = j
		found[sh.columns[j].header] = i + 1
	}
	if len(unknown) > 0 {
		return nil, bulkFileError("unknown_column", "Sheet %q has columns that are not the template's: %s. Its columns are: %s",
			name, strings.Join(unknown, ", "), bulkHeaders(sh))
	}
	var missing []string
	for _, c := range sh.columns {
		if _, ok := found[c.header]; c.required && !ok {
			missing = append(missing, strconv.Quote(c.header))
		}
	}
	if len(missing) > 0 {
		return nil, bulkFileError("missing_column", "Sheet %q has no column %s in its first row: download the template again. Its columns are: %s",
			name, strings.Join(missing, ", "), bulkHeaders(sh))
	}
	return cols, nil
}

func bulkHeaders(sh bulkSheet) string {
	hs := make([]string, len(sh.columns))
	for i, c := range sh.columns {
		hs[i] = c.header
	}
	return strings.Join(hs, ", ")
}

func truncateText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// excelNumber is a cell of a number column as the person who typed it
// sees it. A number is rounded to the 15 significant digits Excel shows
// (so a formula's 12.000000000000002 is 12) and written plainly (1E+3 is
// 1000); " 12 " typed as text is 12. Anything else is left for the
// validation to refuse.
func excelNumber(s string) string {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(t, "xXpP_") {
		return s
	}
	if r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 15, 64), 64); err == nil {
		v = r
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// --- the annotated copy ----------------------------------------------------

// bulkCommentAuthor signs the comments of the annotated copy.
const bulkCommentAuthor = "Capacity Tracker"

// bulkMaxSheetComments: the errors of a sheet with more comments than
// this are highlighted, not commented.
const bulkMaxSheetComments = 20_000

// bulkCommentDeletionTime bounds the time spent replacing the comments
// of an uploaded file in its annotated copy.
const bulkCommentDeletionTime = 2 * time.Second

// AnnotateBulkUpload returns the uploaded workbook with each cell of errs
// filled red and commented with its errors.
func AnnotateBulkUpload(data []byte, file BulkFile, errs []BulkCellError) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("annotate the workbook: %v", p)
		}
	}()
	f, err := excelize.OpenReader(bytes.NewReader(data), bulkOpenOptions())
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	type key struct{ sheet, cell string }
	messages := map[key][]string{}
	var order []key
	for _, e := range errs {
		layout, ok := file.Sheets[e.Sheet]
		if !ok || e.Cell == "" {
			continue
		}
		k := key{layout.Name, e.Cell}
		if _, seen := messages[k]; !seen {
			order = append(order, k)
		}
		messages[k] = append(messages[k], e.Message)
	}
	// A cell's own comment gives way to its errors, and the marks of an
	// earlier upload's errors (comments signed bulkCommentAuthor) go:
	// the file says what is wrong now. DeleteComment looks for the
	// cell's drawing among the sheet's from the first: deleting in the
	// sheet's order finds each at once in the files Excel, LibreOffice
	// and excelize write. A file crafted otherwise makes each deletion
	// cost as much as the sheet's comments, so the deletions stop after
	// bulkCommentDeletionTime; a cell whose comment stays is highlighted
	// without a comment of ours.
	var (
		kept, cleared = map[key]bool{}, map[key]bool{}
		uncommented   = map[string]bool{}
		deadline      = time.Now().Add(bulkCommentDeletionTime)
		sheets        []string
	)
	for _, sh := range bulkSheets {
		if layout, ok := file.Sheets[sh.name]; ok {
			sheets = append(sheets, layout.Name)
		}
	}
	for _, sheet := range sheets {
		cs, err := f.GetComments(sheet)
		if err != nil {
			return nil, err
		}
		if len(cs) > bulkMaxSheetComments {
			// Each comment added would cost as much as the sheet's.
			uncommented[sheet] = true
			continue
		}
		for _, c := range cs {
			k := key{sheet, c.Cell}
			_, bad := messages[k]
			if !bad && c.Author != bulkCommentAuthor {
				continue
			}
			if time.Now().After(deadline) {
				kept[k] = true
				continue
			}
			if err := f.DeleteComment(sheet, c.Cell); err != nil {
				return nil, err
			}
			if !bad {
				cleared[k] = true
			}
		}
	}
	restyle := func(k key, fill excelize.Fill, cache map[int]int) error {
		cur, err := f.GetCellStyle(k.sheet, k.cell)
		if err != nil {
			return err
		}
		id, ok := cache[cur]
		if !ok {
			s, err := f.GetStyle(cur)
			if err != nil || s == nil {
				s = &excelize.Style{}
			}
			s.Fill = fill
			if id, err = f.NewStyle(s); err != nil {
				return err
			}
			cache[cur] = id
		}
		return f.SetCellStyle(k.sheet, k.cell, k.cell, id)
	}
	// The cells an earlier upload marked that are right now lose the
	// red; the bad ones get it.
	plain := map[int]int{}
	for k := range cleared {
		if err := restyle(k, excelize.Fill{}, plain); err != nil {
			return nil, err
		}
	}
	red := map[int]int{}
	for _, k := range order {
		if err := restyle(k, excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFC7CE"}}, red); err != nil {
			return nil, err
		}
		if kept[k] || uncommented[k.sheet] {
			continue
		}
		if err := f.AddComment(k.sheet, excelize.Comment{Cell: k.cell, Author: bulkCommentAuthor,
			Text: strings.Join(slices.Compact(messages[k]), "\n"), Width: 300, Height: 100}); err != nil {
			return nil, err
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BulkCellError is an error of a rejected upload, and where it is.
type BulkCellError struct {
	Sheet string `json:"sheet"`
	Row   int    `json:"row"`
	// Column is the template's heading of the cell's column.
	Column string `json:"column"`
	// Cell is the cell's reference, "E7".
	Cell    string `json:"cell"`
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CellErrors places a rejected upload's errors in the file: each with its
// column's heading and cell, ordered by sheet, row and column.
func (b BulkFile) CellErrors(rejected *BulkRejectedError) []BulkCellError {
	errs := make([]BulkCellError, len(rejected.Errors))
	for i, e := range rejected.Errors {
		column, cell := b.Cell(e.Sheet, e.Row, e.Field)
		errs[i] = BulkCellError{Sheet: e.Sheet, Row: e.Row, Column: column, Cell: cell, Field: e.Field, Code: e.Code, Message: e.Message}
	}
	sortBulkErrors(errs, b)
	return errs
}

// BulkFileName is the base of an uploaded file's name, cleaned and short.
func BulkFileName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = domain.CleanText(path.Base(name))
	if name == "." || name == "/" || name == "" {
		return "upload.xlsx"
	}
	if utf8.RuneCountInString(name) > 200 {
		name = string([]rune(name)[:200])
	}
	return name
}

// AnnotatedBulkFileName is the name of a rejected upload's annotated
// copy.
func AnnotatedBulkFileName(name string) string {
	return strings.TrimSuffix(name, path.Ext(name)) + "-errors.xlsx"
}

// sortBulkErrors orders errors by sheet (the template's order), row and
// column.
func sortBulkErrors(errs []BulkCellError, file BulkFile) {
	sheetIndex := func(name string) int {
		return slices.IndexFunc(bulkSheets, func(s bulkSheet) bool { return s.name == name })
	}
	slices.SortStableFunc(errs, func(a, b BulkCellError) int {
		return cmp.Or(cmp.Compare(sheetIndex(a.Sheet), sheetIndex(b.Sheet)), cmp.Compare(a.Row, b.Row),
			cmp.Compare(file.Sheets[a.Sheet].Columns[a.Column], file.Sheets[b.Sheet].Columns[b.Column]))
	})
}
