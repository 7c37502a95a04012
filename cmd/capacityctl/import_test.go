package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/account"
)

func TestReadImport(t *testing.T) {
	jane := account.ImportManager{LocationID: "1-200", FullName: "Jane Manager", Email: "jane@cranberry.example", Phone: "01632 960001"}
	bob := account.ImportManager{LocationID: "1-201", FullName: "Bob Carer", Email: "bob@cranberry.example", Phone: ""}
	type row struct {
		line int
		account.ImportManager
	}
	cases := []struct {
		name string
		in   string
		want []row
	}{
		{"NoHeader", "1-200,Jane Manager,jane@cranberry.example,01632 960001\n1-201,Bob Carer,bob@cranberry.example,\n",
			[]row{{1, jane}, {2, bob}}},
		{"Header", "Location ID,Manager name,Email,Phone\n1-200,Jane Manager,jane@cranberry.example,01632 960001\n",
			[]row{{2, jane}}},
		{"HeaderSpellings", "location_id,name,email,phone\n1-200,Jane Manager,jane@cranberry.example,01632 960001\n",
			[]row{{2, jane}}},
		{"HeaderWithBOM", "\ufeffLocation ID,Manager name,Email,Phone\r\n1-200,Jane Manager,jane@cranberry.example,01632 960001\r\n",
			[]row{{2, jane}}},
		{"QuotedHeaderWithBOM", "\ufeff\"Location ID\",\"Manager name\",\"Email\",\"Phone\"\r\n1-200,Jane Manager,jane@cranberry.example,01632 960001\r\n",
			[]row{{2, jane}}},
		// Excel's "CSV UTF-8" puts a BOM before the first row even
		// without a header: it is not part of the location id.
		{"BOMWithoutHeader", "\ufeff1-200,Jane Manager,jane@cranberry.example,01632 960001\n",
			[]row{{1, jane}}},
		{"AHeaderOnlyOnTheFirstLine", "1-200,Jane Manager,jane@cranberry.example,01632 960001\nlocation id,Bob Carer,bob@cranberry.example,\n",
			[]row{{1, jane}, {2, account.ImportManager{LocationID: "location id", FullName: "Bob Carer", Email: "bob@cranberry.example"}}}},
		{"BlankLinesAreSkipped", "\nLocation ID,Manager name,Email,Phone\n\n1-200,Jane Manager,jane@cranberry.example,01632 960001\n   \n\n1-201,Bob Carer,bob@cranberry.example,\n\n",
			[]row{{4, jane}, {7, bob}}},
		{"ALineOfSpacesBeforeTheHeader", "  \nLocation ID,Manager name,Email,Phone\n1-200,Jane Manager,jane@cranberry.example,01632 960001\n",
			[]row{{3, jane}}},
		{"SpacesAroundTheLocationIDAndBeforeFields", "  1-200 , Jane Manager, jane@cranberry.example, 01632 960001\n",
			[]row{{1, jane}}},
		{"QuotedFields", "\"1-200\",\"Manager, Jane\",\"jane@cranberry.example\",\"01632 960001\"\n",
			[]row{{1, account.ImportManager{LocationID: "1-200", FullName: "Manager, Jane", Email: "jane@cranberry.example", Phone: "01632 960001"}}}},
		{"Empty", "", nil},
		{"OnlyAHeader", "Location ID,Manager name,Email,Phone\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readImport(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("readImport: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("readImport = %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].line != w.line || got[i].ImportManager != w.ImportManager {
					t.Errorf("row %d = line %d %+v, want line %d %+v", i, got[i].line, got[i].ImportManager, w.line, w.ImportManager)
				}
			}
		})
	}
}

func TestReadImport_RejectsTheFileNamingTheLine(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"TooFewColumns", "1-200,Jane Manager,jane@cranberry.example,01632 960001\n1-201,Bob Carer,bob@cranberry.example\n",
			"line 2: 3 columns, want 4"},
		{"TooManyColumns", "Location ID,Manager name,Email,Phone\n1-200,Jane Manager,jane@cranberry.example,01632 960001,extra\n",
			"line 2: 5 columns, want 4"},
		{"RowsUnderAShortHeader", "Location ID,Manager name,Email\n1-200,Jane Manager,jane@cranberry.example\n", "line 2: 3 columns, want 4"},
		// The line is the file's, counting the blank lines the reader
		// skips, so that the operator finds the row in an editor.
		{"AfterBlankLines", "Location ID,Manager name,Email,Phone\n\n\n1-200,Jane Manager,jane@cranberry.example,01632 960001\n\n1-201\n",
			"line 6: 1 columns, want 4"},
		{"AfterAFieldSpanningLines", "1-200,\"Jane\nManager\",jane@cranberry.example,01632 960001\n1-201,Bob\n",
			"line 3: 2 columns, want 4"},
		{"ABareQuote", "1-200,Jane \"JJ\" Manager,jane@cranberry.example,\n", "line 1"},
		{"AnUnterminatedQuote", "1-200,\"Jane Manager,jane@cranberry.example,\n", "line 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := readImport(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("readImport = %+v, want an error", rows)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// FuzzReadImport feeds the registration file parser what an operator's
// spreadsheet (or anybody's) may hold: it must never panic, and what it
// accepts must be rows of the file, in order.
func FuzzReadImport(f *testing.F) {
	for _, s := range []string{
		"",
		"\ufeff",
		"\n\n   \n",
		"Location ID,Manager name,Email,Phone\n1-200,Jane Manager,jane@cranberry.example,01632 960001\n",
		"\ufeffLocation ID,Manager name,Email,Phone\r\n1-200,Jane Manager,jane@cranberry.example,\r\n",
		"\ufeff\"1-200\",\"Manager, Jane\",\"jane@cranberry.example\",\"01632 960001\"\n",
		"1-200,\"Jane\nManager\",jane@cranberry.example,01632 960001\n1-201,Bob\n",
		"1-200,Jane \"JJ\" Manager,jane@cranberry.example,\n",
		"1-200,\"Jane Manager,jane@cranberry.example,\n",
		"location id\n",
		",,,\n,,,,\n",
		"\xff\xfe1,2,3,4\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := readImport(bytes.NewReader(data))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") && !strings.Contains(err.Error(), "rows") {
				t.Errorf("error %q names no line", err)
			}
			return
		}
		if len(rows) > maxImportRows {
			t.Errorf("%d rows, more than %d", len(rows), maxImportRows)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		prev := 0
		for _, r := range rows {
			if r.line <= prev || r.line > lines {
				t.Errorf("row at line %d after line %d (the file has %d lines)", r.line, prev, lines)
			}
			prev = r.line
			if r.LocationID != strings.TrimSpace(r.LocationID) || strings.HasPrefix(r.LocationID, "\ufeff") {
				t.Errorf("location id %q is not trimmed", r.LocationID)
			}
		}
	})
}

// TestReadImport_ReadsBackWhatASpreadsheetWrites writes rows with the CSV
// writer, under a header, and wants them back as they were.
func TestReadImport_ReadsBackWhatASpreadsheetWrites(t *testing.T) {
	want := []account.ImportManager{
		{LocationID: "1-200", FullName: "Jane Manager", Email: "jane@cranberry.example", Phone: "01632 960001"},
		{LocationID: "1-201", FullName: "O'Brien, Seán", Email: "sean@cranberry.example"},
		{LocationID: "1-202", FullName: " \"Quoted\" name ", Email: "q@cranberry.example", Phone: "+44 (0)1632 960002"},
		{LocationID: "1-203", FullName: "Two\nLines", Email: "two@cranberry.example"},
		{},
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	rows := [][]string{importColumns}
	for _, m := range want {
		rows = append(rows, []string{m.LocationID, m.FullName, m.Email, m.Phone})
	}
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	got, err := readImport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].ImportManager != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i].ImportManager, want[i])
		}
	}
}
