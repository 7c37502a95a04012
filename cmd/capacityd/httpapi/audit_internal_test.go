package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/domain"
)

// TestBuildSheets_GoesOnOnANewSheetWhenOneIsFull: with room for 3 rows a
// sheet (Excel has 1,048,576), 5 rows fill "Audit", "Audit 2" and
// "Audit 3", each with its header row.
func TestBuildSheets_GoesOnOnANewSheetWhenOneIsFull(t *testing.T) {
	cols := []column[int]{
		{"N", 8, numberCell, func(n int) any { return n }},
		{"Text", 12, textCell, func(n int) any { return "row " + string(rune('a'+n-1)) }},
	}
	f := excelize.NewFile()
	defer f.Close()
	err := buildSheets(f, "Audit", 3, cols, func(fn func(int) error) error {
		for n := 1; n <= 5; n++ {
			if err := fn(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if got := back.GetSheetList(); !slices.Equal(got, []string{"Audit", "Audit 2", "Audit 3"}) {
		t.Fatalf("sheets %q", got)
	}
	want := map[string][][]string{
		"Audit":   {{"N", "Text"}, {"1", "row a"}, {"2", "row b"}},
		"Audit 2": {{"N", "Text"}, {"3", "row c"}, {"4", "row d"}},
		"Audit 3": {{"N", "Text"}, {"5", "row e"}},
	}
	for sheet, rows := range want {
		got, err := back.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, rows, slices.Equal) {
			t.Errorf("%s: %q, want %q", sheet, got, rows)
		}
		if panes, err := back.GetPanes(sheet); err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s: panes %+v (%v), want the header frozen", sheet, panes, err)
		}
	}
}

// TestTimeParam_ALondonDayRunsFromItsMidnightToTheNext, 23 hours in
// March, 25 in October, an hour off UTC in summer.
func TestTimeParam_ALondonDayRunsFromItsMidnightToTheNext(t *testing.T) {
	for _, c := range []struct {
		value    string
		dayEnd   bool
		want     string
		invalid  bool
		wantZero bool
	}{
		{value: "2030-07-01", want: "2030-06-30T23:00:00Z"},
		{value: "2030-07-01", dayEnd: true, want: "2030-07-01T23:00:00Z"},
		{value: "2030-12-01", want: "2030-12-01T00:00:00Z"},
		{value: "2030-12-01", dayEnd: true, want: "2030-12-02T00:00:00Z"},
		{value: "2030-03-31", want: "2030-03-31T00:00:00Z"},
		{value: "2030-03-31", dayEnd: true, want: "2030-03-31T23:00:00Z"},
		{value: "2030-10-27", want: "2030-10-26T23:00:00Z"},
		{value: "2030-10-27", dayEnd: true, want: "2030-10-28T00:00:00Z"},
		{value: "2030-07-01T09:30:00+01:00", dayEnd: true, want: "2030-07-01T08:30:00Z"},
		{value: "2030-07-01T09:30:00 01:00", want: "2030-07-01T08:30:00Z"},
		{value: "2030-07-01T09:30:00.25Z", want: "2030-07-01T09:30:00.25Z"},
		{value: " ", wantZero: true},
		{value: "2030-02-30", invalid: true},
		{value: "1 July", invalid: true},
	} {
		var v domain.ValidationError
		got := timeParam(url.Values{"from": {c.value}}, "from", c.dayEnd, &v)
		switch {
		case c.invalid:
			if !v.Has("from") || !got.IsZero() {
				t.Errorf("%q: %v, %v, want invalid", c.value, got, v.Fields)
			}
		case c.wantZero:
			if !got.IsZero() || v.Err() != nil {
				t.Errorf("%q: %v, %v, want none", c.value, got, v.Fields)
			}
		default:
			if s := got.UTC().Format(time.RFC3339Nano); s != c.want || v.Err() != nil {
				t.Errorf("%q (day end %v): %s, %v, want %s", c.value, c.dayEnd, s, v.Fields, c.want)
			}
		}
	}
}

// TestDownloads_OutlastTheServersWriteTimeoutWhileTheyGoOn: a CSV
// download that sends rows for longer than the server's WriteTimeout, and
// an XLSX download whose workbook takes longer than it to build, both
// arrive whole: the downloads move the write deadline on as they go.
func TestDownloads_OutlastTheServersWriteTimeoutWhileTheyGoOn(t *testing.T) {
	t.Parallel()
	s := &Server{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cols := []column[int]{{"N", 8, numberCell, func(n int) any { return n }}}
	const batches = 5
	slowRows := func(fn func(int) error) error {
		for i := range batches * csvFlushRows {
			if i%csvFlushRows == 0 {
				time.Sleep(300 * time.Millisecond)
			}
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := csvFile
		if r.URL.Path == "/x.xlsx" {
			format = xlsxFile
		}
		writeFile(s, w, r, format, "Rows", "rows", cols, slowRows)
	}))
	srv.Config.WriteTimeout = time.Second
	srv.Start()
	defer srv.Close()
	for _, path := range []string{"/x.csv", "/x.xlsx"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v after %d bytes", path, err, len(body))
		}
		var rows int
		if path == "/x.csv" {
			rows = strings.Count(string(body), "\n")
		} else {
			f, err := excelize.OpenReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			all, err := f.GetRows("Rows")
			if err != nil {
				t.Fatal(err)
			}
			rows = len(all)
			f.Close()
		}
		if rows != batches*csvFlushRows+1 {
			t.Errorf("%s: %d rows, want %d", path, rows, batches*csvFlushRows+1)
		}
	}
}
