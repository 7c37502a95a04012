package commands

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/location"
)

// The bulk upload's reader is fed whatever a stranger sends. These fuzz
// targets call readBulkUpload, the reader without the recover that keeps
// the server up, so that a panic anywhere (here or in excelize) fails
// them. Run one with, for example:
//
//	go test -run '^$' -fuzz FuzzBulkUploadSheetXML -fuzztime 90s -fuzzminimizetime 2s -parallel 1 ./commands/
//
// (Minimizing an input of several kB takes the default minute per new
// input: -fuzzminimizetime keeps the fuzzer fuzzing.) One input of each
// outcome the runs reached is kept under testdata/fuzz, with a completed
// template saved by LibreOffice.

// fuzzTemplateRows are the locations of the fuzz targets' templates.
var fuzzTemplateRows = []BulkTemplateRow{
	{LocationID: "1-112721881", CQCLocationID: "1-112721881", Name: "Rosehill", OrganisationName: "Rosehill and Thorndale Care",
		Manager: &location.Contact{Role: location.RoleManager, Name: "Rosa Hill", Phones: []string{"0191 555 0100"}, Public: true}},
	{LocationID: "1-112721895", Name: "Thorndale"},
}

// fuzzTemplate is the template of fuzzTemplateRows, completed with cells
// (sheet, cell, value triples).
func fuzzTemplate(tb testing.TB, cells ...string) []byte {
	tb.Helper()
	f, err := BuildBulkTemplate(fuzzTemplateRows)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for i := 0; i+2 < len(cells); i += 3 {
		if strings.HasPrefix(cells[i+2], "=") {
			err = f.SetCellFormula(cells[i], cells[i+1], cells[i+2])
		} else {
			err = f.SetCellStr(cells[i], cells[i+1], cells[i+2])
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// completed is a valid completed row of each sheet.
var completed = []string{
	"Home Care", "D2", "12", "Home Care", "E2", "1", "Home Care", "F2", " 2 ", "Home Care", "G2", "10", "Home Care", "H2", "3",
	"Home Care", "I2", "More than a week", "Home Care", "J2", "Yes", "Home Care", "K2", "=4*5", "Home Care", "L2", "Gloves",
	"Contacts", "D3", "Tess Thorn", "Contacts", "E3", "0191 555 0123", "Contacts", "G3", "No",
}

// checkBulkFile holds whatever the reader answers to what the fuzzer
// sends: a 400 that says why, or rows that keep the reader's promises.
func checkBulkFile(t *testing.T, data []byte) BulkFile {
	t.Helper()
	file, err := readBulkUpload(data)
	if err != nil {
		var body *BulkFileError
		if !errors.As(err, &body) || body.Code == "" || len(body.Message) < 20 {
			t.Fatalf("error %#v, want a file error that says why", err)
		}
		return BulkFile{}
	}
	if len(file.Sheets) == 0 {
		t.Fatal("read a file without a template sheet")
	}
	var rows []BulkRow
	for _, d := range file.DailyUpdates {
		if d.Form == (dailyupdate.Form{}) {
			t.Errorf("row %d of %s has no answers", d.Row, d.Sheet)
		}
		rows = append(rows, d.BulkRow)
	}
	for _, m := range file.Managers {
		if strings.TrimSpace(m.Name+m.Phones+m.Email+m.Public) == "" {
			t.Errorf("row %d of %s has no answers", m.Row, m.Sheet)
		}
		rows = append(rows, m.BulkRow)
	}
	last := map[string]int{}
	for _, r := range rows {
		if _, ok := file.Sheets[r.Sheet]; !ok {
			t.Fatalf("row of sheet %q, which the file does not have", r.Sheet)
		}
		if r.Row <= last[r.Sheet] || r.Row < 2 {
			t.Fatalf("row %d of %s after row %d", r.Row, r.Sheet, last[r.Sheet])
		}
		last[r.Sheet] = r.Row
		if r.LocationID != strings.TrimSpace(r.LocationID) {
			t.Errorf("location id %q is not trimmed", r.LocationID)
		}
		for _, field := range append(dailyupdate.Fields(), FieldLocationID, FieldManagerName, "role") {
			header, cell := file.Cell(r.Sheet, r.Row, field)
			col, row, err := excelize.CellNameToCoordinates(cell)
			if header == "" || err != nil || row != r.Row || file.Sheets[r.Sheet].Columns[header] != col {
				t.Fatalf("field %s of row %d of %s is at %q %q (%v)", field, r.Row, r.Sheet, header, cell, err)
			}
		}
	}
	if len(file.DailyUpdates) > MaxBulkRows || len(file.Managers) > MaxBulkRows {
		t.Fatalf("read %d and %d rows", len(file.DailyUpdates), len(file.Managers))
	}
	return file
}

// FuzzBulkUploadFile sends the reader whole files: the template and
// completed templates (from excelize, and from LibreOffice in the kept
// corpus), and what the fuzzer makes of them.
func FuzzBulkUploadFile(f *testing.F) {
	f.Add(fuzzTemplate(f))
	f.Add(fuzzTemplate(f, completed...))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte("Id,Cqcl,Name\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBulkFile(t, data)
	})
}

// FuzzBulkUploadSheetXML puts what the fuzzer makes into the Home Care
// sheet's XML of a valid workbook: the zip is sound, so the fuzzer works
// on what excelize and the reader make of rows, cells, shared string
// indices, formulas and types.
func FuzzBulkUploadSheetXML(f *testing.F) {
	entries := zipEntries(f, fuzzTemplate(f, completed...))
	const sheet = "xl/worksheets/sheet2.xml"
	i := slices.IndexFunc(entries, func(e zipped) bool { return e.name == sheet })
	f.Add(entries[i].data)
	for _, seed := range []string{
		// Rows without numbers, out of order, far away; cells without
		// references; every cell type.
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
			`<row><c t="s"><v>0</v></c><c t="inlineStr"><is><t>Cqcl</t></is></c></row>` +
			`<row r="9"><c r="A9" t="str"><v>1-112721881</v></c><c r="D9" t="b"><v>1</v></c><c r="E9" t="e"><v>#DIV/0!</v></c>` +
			`<c r="F9"><f>1+1</f><v>2</v></c><c r="G9" t="d"><v>2024-01-01T00:00:00</v></c><c r="XFD9"><v>1E+300</v></c></row>` +
			`<row r="3"><c r="A3" t="s"><v>99999</v></c></row><row r="1048577"><c r="A1048577"><v>1</v></c></row></sheetData></worksheet>`,
		`<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Id</t></is></c></row></sheetData></worksheet>`,
		`<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>-1</v></c></row><row r="2"><c r="ZZZZ2"><v>x</v></c></row>`,
		`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><worksheet><sheetData>&b;</sheetData></worksheet>`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, xml []byte) {
		edited := slices.Clone(entries)
		edited[i].data = xml
		checkBulkFile(t, storeZip(t, edited))
	})
}

// FuzzBulkUploadCells types what the fuzzer makes into a row's answers
// and checks that the reader reads what excelize itself reads from those
// cells: the text as typed, and numbers of the count columns as Excel
// shows them.
func FuzzBulkUploadCells(f *testing.F) {
	f.Add("12", "1", " 2 ", "More than a week", "yes", "=4*5", "Short of gloves", "1-112721881")
	f.Add("1e3", "0.0", "12.000000000000002", "2 days or less", "0", "1,000", "line\nbreak", " 1-112721895 ")
	f.Add("-1", "NaN", "Inf", "", "", "", "\x00\x01", "")
	f.Add("0x10", "1_000", "+5", "two days", "TRUE", "", "<b>&amp;</b>", "'")
	f.Fuzz(func(t *testing.T, users, confirmed, suspected, ppe, extra, hours, issues, id string) {
		values := []string{id, users, confirmed, suspected, ppe, extra, hours, issues}
		cells := []string{"A3", "D3", "E3", "F3", "I3", "J3", "K3", "L3"}
		var args []string
		for i, v := range values {
			args = append(args, "Home Care", cells[i], v)
		}
		data := fuzzTemplate(t, args...)
		typed, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = typed.Close() }()
		file := checkBulkFile(t, data)
		if file.Sheets == nil {
			t.Fatalf("the template with %q is refused", values)
		}
		i := slices.IndexFunc(file.DailyUpdates, func(d BulkDailyUpdate) bool { return d.Row == 3 })
		answered := false
		for _, cell := range cells[1:] {
			v, err := typed.GetCellValue("Home Care", cell)
			if err != nil {
				t.Fatal(err)
			}
			answered = answered || strings.TrimSpace(v) != ""
		}
		if !answered {
			if i >= 0 {
				t.Fatalf("row 3 without answers was read: %+v", file.DailyUpdates[i])
			}
			return
		}
		if i < 0 {
			t.Fatalf("row 3 with answers %q was not read", values)
		}
		d := file.DailyUpdates[i]
		read := func(cell string, count bool) string {
			v, err := typed.GetCellValue("Home Care", cell)
			if err != nil {
				t.Fatal(err)
			}
			if count {
				return excelNumber(v)
			}
			return v
		}
		for _, c := range []struct {
			got, cell string
			count     bool
		}{
			{d.LocationID, "A3", false}, {d.Form.ServiceUsers, "D3", true}, {d.Form.Confirmed, "E3", true},
			{d.Form.Suspected, "F3", true}, {d.Form.PPE, "I3", false}, {d.Form.CanProvideExtra, "J3", false},
			{d.Form.ExtraHoursPerWeek, "K3", true}, {d.Form.OtherIssues, "L3", false},
		} {
			want := read(c.cell, c.count)
			if c.cell == "A3" {
				want = strings.TrimSpace(want)
			}
			if c.got != want {
				t.Errorf("%s read as %q, excelize reads %q", c.cell, c.got, want)
			}
		}
	})
}

// zipped is an entry of a zip.
type zipped struct {
	name string
	data []byte
}

func zipEntries(tb testing.TB, data []byte) []zipped {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]zipped, len(zr.File))
	for i, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = zipped{f.Name, b}
	}
	return out
}

// storeZip zips entries without compressing them (fast, for fuzzing).
func storeZip(tb testing.TB, entries []zipped) []byte {
	tb.Helper()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
