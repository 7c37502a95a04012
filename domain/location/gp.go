package location

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain"
)

// GP practices: organisations of type GP, identified by their ODS
// practice code ("A81001"), with a postcode so that a location's users
// can find the practices near them. They come from a CSV file of
// practices (capacityctl gp import) and, like CQC's providers, the import
// appends only what changed since the last one.

// GPPractice is a GP practice as a file of practices lists it.
type GPPractice struct {
	Code     string
	Name     string
	Postcode string
	// Line is the row's line in its file, from 1 (0 when the practice
	// was not read from a file), for the messages of the import.
	Line int
}

// Where is "line 17", or "" when the practice was not read from a file.
func (p GPPractice) Where() string {
	if p.Line <= 0 {
		return ""
	}
	return "line " + strconv.Itoa(p.Line)
}

// gpCodePattern is an ODS practice code, upper-cased: letters and digits.
// England's practice codes are a letter and five digits ("A81001"); other
// GP organisations' codes (branch surgeries, Wales' "W00001") are as
// short or a little longer.
var gpCodePattern = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)

// ValidGPPracticeCode checks an ODS practice code in its canonical (upper
// case) form.
func ValidGPPracticeCode(code string) bool {
	return idPattern.MatchString(code) && gpCodePattern.MatchString(code)
}

// Cleaned returns the practice in its canonical form (the code upper
// case, the name cleaned, the postcode canonical), or a ValidationError
// naming each bad field.
func (p GPPractice) Cleaned() (GPPractice, error) {
	var v domain.ValidationError
	out := GPPractice{
		Code: strings.ToUpper(strings.TrimSpace(p.Code)),
		Name: domain.CleanText(strings.ToValidUTF8(p.Name, "\uFFFD")),
		Line: p.Line,
	}
	switch {
	case out.Code == "":
		v.Add("code", "required", "Enter the practice's ODS code, like A81001")
	case !ValidGPPracticeCode(out.Code):
		v.Add("code", "invalid_code", fmt.Sprintf("%q is not an ODS practice code: use 3 to 10 letters and digits, like A81001", truncate(out.Code)))
	}
	if n := utf8.RuneCountInString(out.Name); n < 2 || n > MaxNameLength {
		v.Add("name", "invalid_length", fmt.Sprintf("Enter a name of 2 to %d characters", MaxNameLength))
	}
	if pc, err := ParsePostcode(p.Postcode); err != nil {
		v.Merge("", err)
	} else {
		out.Postcode = pc.String()
	}
	return out, v.Err()
}

// DecideGPPractice returns the events that bring the practice's
// organisation up to date with a row of a practices file:
// OrganisationRegistered (of type GP, with its postcode) the first time,
// then OrganisationRenamed and OrganisationPostcodeChanged for what
// changed, and nothing when nothing did. An organisation of another type
// with the practice's code is refused: it is not a practice, and turning
// it into one would change who may do what with it.
func DecideGPPractice(o Organisation, row GPPractice) ([]any, error) {
	p, err := row.Cleaned()
	if err != nil {
		return nil, err
	}
	if !o.Exists() {
		return []any{OrganisationRegistered{OrganisationID: p.Code, Name: p.Name, Type: GP, Postcode: p.Postcode}}, nil
	}
	if o.ID != p.Code {
		return nil, fmt.Errorf("practice %s decided against organisation %s", p.Code, o.ID)
	}
	if o.Type != GP {
		return nil, domain.Rule("not_a_gp_practice", "organisation %s exists and is of type %s, not a GP practice: it was left as it is",
			o.ID, organisationTypeLabel(o.Type))
	}
	var evs []any
	if o.Name != p.Name {
		evs = append(evs, OrganisationRenamed{OrganisationID: o.ID, Before: o.Name, After: p.Name})
	}
	if o.Postcode != p.Postcode {
		evs = append(evs, OrganisationPostcodeChanged{OrganisationID: o.ID, Before: o.Postcode, After: p.Postcode})
	}
	return evs, nil
}

// organisationTypeLabel is a type's label on the registration form, or
// its code when it has none.
func organisationTypeLabel(t OrganisationType) string {
	for _, ot := range OrganisationTypes() {
		if ot.Code == t {
			return ot.Label
		}
	}
	return strconv.Quote(string(t))
}

// --- the practices CSV -------------------------------------------------------

// MaxGPFileBytes bounds a practices file. NHS England's list of every GP
// practice (some 12,000 rows with many more columns than these) is a few
// megabytes.
const MaxGPFileBytes = 50 << 20

// ErrGPFileTooLarge: the file is over MaxGPFileBytes.
var ErrGPFileTooLarge = fmt.Errorf("the file is over %d MB", MaxGPFileBytes>>20)

// The practices file's columns, by their headings (case-insensitive).
const (
	gpColCode     = "code"
	gpColName     = "name"
	gpColPostcode = "postcode"
)

// boundedReader fails with err once more than n bytes were read.
type boundedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// ParseGPPracticesCSV reads a CSV file of GP practices: a header row
// naming the columns code, name and postcode (in any case and order;
// other columns are ignored; a UTF-8 byte order mark is dropped), then
// one practice a row. A row that cannot be read, lacks columns or repeats
// an earlier row's code is a RowError naming its line, and the others are
// read; the rows' values are checked by the import (GPPractice.Cleaned),
// not here. The error is for a file without that header, over
// MaxGPFileBytes, or that cannot be read to its end.
func ParseGPPracticesCSV(r io.Reader) ([]GPPractice, []RowError, error) {
	return parseGPPracticesCSV(r, MaxGPFileBytes)
}

func parseGPPracticesCSV(r io.Reader, maxBytes int64) ([]GPPractice, []RowError, error) {
	br := bufio.NewReader(&boundedReader{r: r, n: maxBytes + 1, err: ErrGPFileTooLarge})
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var cols map[string]int
	for cols == nil {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New("the file is empty: want a header row naming the columns code, name and postcode")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("the header row: %w", err)
		}
		if blank(row) {
			continue
		}
		if cols, err = gpHeader(row); err != nil {
			return nil, nil, err
		}
	}
	width := 0
	for _, i := range cols {
		width = max(width, i+1)
	}
	var (
		out  []GPPractice
		bad  []RowError
		seen = map[string]int{}
	)
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, bad, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, RowError{Line: max(pe.StartLine, 1), Reason: pe.Err.Error()})
			continue
		}
		if err != nil {
			return out, bad, err
		}
		line, _ := cr.FieldPos(0)
		if blank(row) {
			continue
		}
		if len(row) < width {
			bad = append(bad, RowError{Line: line, Reason: fmt.Sprintf("%d columns, want at least %d as in the header", len(row), width)})
			continue
		}
		p := GPPractice{Code: row[cols[gpColCode]], Name: row[cols[gpColName]], Postcode: row[cols[gpColPostcode]], Line: line}
		if key := strings.ToUpper(strings.TrimSpace(p.Code)); key != "" {
			if first, dup := seen[key]; dup {
				bad = append(bad, RowError{Line: line, Reason: fmt.Sprintf("practice %s appears before, at line %d", truncate(key), first)})
				continue
			}
			seen[key] = line
		}
		out = append(out, p)
	}
}

// gpHeader maps the practices file's columns to their index in its header
// row.
func gpHeader(row []string) (map[string]int, error) {
	cols := map[string]int{}
	for i, h := range row {
		key := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch key {
		case gpColCode, gpColName, gpColPostcode:
			if _, dup := cols[key]; dup {
				return nil, fmt.Errorf("the header names the column %s twice", key)
			}
			cols[key] = i
		}
	}
	var missing []string
	for _, k := range []string{gpColCode, gpColName, gpColPostcode} {
		if _, ok := cols[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the header row has no column %s: want the columns code, name and postcode",
			strings.Join(missing, ", "))
	}
	return cols, nil
}
