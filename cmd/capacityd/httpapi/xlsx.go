package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/xuri/excelize/v2"
)

// XLSX downloads ("Download XLS"): a worksheet with a bold header row,
// frozen so that it stays in view, sensible column widths and typed
// cells: numbers as numbers, dates and times as date cells with a number
// format (times in Europe/London, as the pages show them), yes/no as the
// text Yes or No, empty values as blank cells.
//
// Rows come from a query's streaming variant and go straight into
// excelize's StreamWriter, which keeps at most 16 MB of the sheet in
// memory and spills the rest to a temporary file; the workbook is zipped
// onto the response after the last row. An error before then (a bad
// filter, a failing query) is answered as JSON, since nothing was sent.
// A download longer than Excel's 1,048,576 rows goes on over further
// sheets ("Audit", "Audit 2", ...).

// XLSXContentType is the media type of the downloads.
const XLSXContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// cellKind is how a column's values are written.
type cellKind int

const (
	textCell     cellKind = iota // string
	numberCell                   // int
	dateCell                     // "YYYY-MM-DD" string
	dateTimeCell                 // time.Time or *time.Time
	yesNoCell                    // bool, as Yes or No
)

// column is a column of a download: its header, width (in characters)
// and the value of a row.
type column[T any] struct {
	header string
	width  float64
	kind   cellKind
	value  func(T) any
}

// sheetStyles are the styles of a download.
type sheetStyles struct {
	header, date, dateTime int
}

// writeXLSX answers with a workbook of one sheet named sheet: the header
// row of cols, then a row for each value each passes to its callback.
// The file is named prefix-YYYY-MM-DD.xlsx (London's date).
func writeXLSX[T any](s *Server, w http.ResponseWriter, r *http.Request, sheet, prefix string, cols []column[T],
	each func(fn func(T) error) error) {
	sendXLSX(s.logger, w, r, sheet, prefix, cols, each, func(err error) { s.writeErr(w, r, err) })
}

// sendXLSX is writeXLSX with the answer to an error before the first byte
// left to fail: the API's JSON error, or the web's error page.
func sendXLSX[T any](logger *slog.Logger, w http.ResponseWriter, r *http.Request, sheet, prefix string, cols []column[T],
	each func(fn func(T) error) error, fail func(error)) {
	f := excelize.NewFile()
	defer func() {
		if err := f.Close(); err != nil {
			logger.WarnContext(r.Context(), "close workbook", "err", err)
		}
	}()
	if err := buildSheet(f, sheet, cols, each); err != nil {
		fail(err)
		return
	}
	name := fmt.Sprintf("%s-%s.xlsx", prefix, time.Now().In(london).Format(time.DateOnly))
	w.Header().Set("Content-Type", XLSXContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	err := extendDeadline(w)
	if err == nil {
		err = f.Write(&deadlineWriter{w: w})
	}
	if err != nil {
		// The status line is sent: the client sees a truncated file.
		logger.WarnContext(r.Context(), "write workbook", "path", r.URL.Path, "err", err)
	}
}

// downloadWindow is how long a download may go without sending anything
// before the server cuts it. The server's WriteTimeout bounds a whole
// answer, which a long download (a year of the audit) outlasts: downloads
// move the deadline on as they send instead.
const downloadWindow = 2 * time.Minute

// extendDeadline moves the write deadline of a download downloadWindow on.
func extendDeadline(w http.ResponseWriter) error {
	err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(downloadWindow))
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}

// deadlineWriter extends the write deadline after every megabyte.
type deadlineWriter struct {
	w       http.ResponseWriter
	pending int
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if d.pending += len(p); d.pending >= 1<<20 {
		d.pending = 0
		if err := extendDeadline(d.w); err != nil {
			return 0, err
		}
	}
	return d.w.Write(p)
}

// buildSheet writes the rows through a StreamWriter: on sheet, then, when
// it reaches Excel's limit of excelize.TotalRows rows, on new sheets named
// "<sheet> 2", "<sheet> 3", ..., each with its own header row.
func buildSheet[T any](f *excelize.File, sheet string, cols []column[T], each func(fn func(T) error) error) error {
	return buildSheets(f, sheet, excelize.TotalRows, cols, each)
}

// buildSheets is buildSheet with at most rowsPerSheet rows (header
// included) on a sheet.
func buildSheets[T any](f *excelize.File, sheet string, rowsPerSheet int, cols []column[T], each func(fn func(T) error) error) error {
	if err := f.SetSheetName(f.GetSheetName(0), sheet); err != nil {
		return err
	}
	st, err := newSheetStyles(f)
	if err != nil {
		return err
	}
	sw, err := startSheet(f, sheet, st, cols)
	if err != nil {
		return err
	}
	row, sheets := 1, 1
	values := make([]any, len(cols))
	err = each(func(v T) error {
		if row == rowsPerSheet {
			// The sheet is full: finish it and go on on the next.
			if err := sw.Flush(); err != nil {
				return err
			}
			sheets++
			name := fmt.Sprintf("%s %d", sheet, sheets)
			if _, err := f.NewSheet(name); err != nil {
				return err
			}
			if sw, err = startSheet(f, name, st, cols); err != nil {
				return err
			}
			row = 1
		}
		row++
		for i, c := range cols {
			values[i] = st.cell(c.kind, c.value(v))
		}
		cell, err := excelize.CoordinatesToCellName(1, row)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, values)
	})
	if err != nil {
		return err
	}
	return sw.Flush()
}

// startSheet opens a StreamWriter on a sheet and writes its column widths,
// frozen header pane and header row.
func startSheet[T any](f *excelize.File, sheet string, st sheetStyles, cols []column[T]) (*excelize.StreamWriter, error) {
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	// Widths and panes go before the first row.
	for i, c := range cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return nil, err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	header := make([]any, len(cols))
	for i, c := range cols {
		header[i] = excelize.Cell{StyleID: st.header, Value: c.header}
	}
	if err := sw.SetRow("A1", header, excelize.RowOpts{StyleID: st.header}); err != nil {
		return nil, err
	}
	return sw, nil
}

func newSheetStyles(f *excelize.File) (sheetStyles, error) {
	var st sheetStyles
	var err error
	if st.header, err = f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Border:    []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}},
		Alignment: &excelize.Alignment{Vertical: "center"},
	}); err != nil {
		return st, err
	}
	dateFmt, dateTimeFmt := "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
	if st.date, err = f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt}); err != nil {
		return st, err
	}
	st.dateTime, err = f.NewStyle(&excelize.Style{CustomNumFmt: &dateTimeFmt})
	return st, err
}

// london is the time zone of the downloads' times and file names.
var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err) // the queries package embeds time/tzdata
	}
	return l
}()

// asTime is the instant of a time.Time or *time.Time cell value (zero for
// nil or anything else).
func asTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case *time.Time:
		if x != nil {
			return *x
		}
	}
	return time.Time{}
}

// cell is a value as a cell of its kind: nil (a blank cell) when empty.
func (st sheetStyles) cell(kind cellKind, v any) any {
	switch kind {
	case numberCell:
		return v
	case dateCell:
		s, _ := v.(string)
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil
		}
		return excelize.Cell{StyleID: st.date, Value: d}
	case dateTimeCell:
		t := asTime(v)
		if t.IsZero() {
			return nil
		}
		// Excel's times have no zone: London's wall clock, to the
		// second (shown in full, so that no program rounds it).
		return excelize.Cell{StyleID: st.dateTime, Value: t.In(london).Truncate(time.Second)}
	case yesNoCell:
		if b, _ := v.(bool); b {
			return "Yes"
		}
		return "No"
	}
	if s, _ := v.(string); s != "" {
		return s
	}
	return nil
}
