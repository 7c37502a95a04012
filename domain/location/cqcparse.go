package location

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/capacitytracker/capacity/domain"
)

// The parsers of CQC's two public formats: the API's location records and
// the care directory CSV. Both read from a stranger's file: they bound
// what they read, report each bad row with where it was and why, and keep
// going with the good ones.

// Bounds of a CQC file. CQC's whole directory is about 20 MB.
const (
	MaxCQCFileBytes   = 200 << 20
	MaxCQCRecordBytes = 1 << 20
)

// ErrCQCFileTooLarge: the file is over MaxCQCFileBytes.
var ErrCQCFileTooLarge = fmt.Errorf("the file is over %d MB", MaxCQCFileBytes>>20)

// RowError is a record of a CQC file that was not imported.
type RowError struct {
	Index  int // the record's index in a JSON array, from 0
	Line   int // the record's first line in a CSV file, from 1; 0 for JSON
	Reason string
}

// Where is "line 17" or "index 3".
func (e RowError) Where() string {
	if e.Line > 0 {
		return "line " + strconv.Itoa(e.Line)
	}
	return "index " + strconv.Itoa(e.Index)
}

func (e RowError) Error() string { return e.Where() + ": " + e.Reason }

// limitedReader fails once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, ErrCQCFileTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// newCQCReader bounds a file to max bytes and drops its byte order mark.
func newCQCReader(r io.Reader, max int64) *bufio.Reader {
	br := bufio.NewReader(&limitedReader{r: r, n: max + 1})
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	return br
}

// reasonOf is a row's reason: a validation error's fields, else the
// error's text.
func reasonOf(err error) string {
	var v *domain.ValidationError
	if errors.As(err, &v) {
		parts := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			parts[i] = f.Field + ": " + f.Message
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// fieldsExcept is a carried set of every field but the named ones.
func fieldsExcept(names ...string) map[string]bool {
	out := map[string]bool{}
	for _, f := range cqcFields {
		out[f.name] = true
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// --- the API's location records ---------------------------------------------

// apiText is a text field of the API: a string, or a number or boolean
// written as one; null is unknown.
type apiText string

func (t *apiText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = apiText(s)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == 't' || b[0] == 'f'):
		*t = apiText(b)
	default:
		kind := "array"
		if len(b) > 0 && b[0] == '{' {
			kind = "object"
		}
		// The decoder names the field of an UnmarshalTypeError.
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[string]()}
	}
	return nil
}

// apiInt is a whole number of the API, or one written as a string; null
// or an empty string is unknown.
type apiInt int

func (n *apiInt) UnmarshalJSON(b []byte) error {
	var t apiText
	if err := t.UnmarshalJSON(b); err != nil {
		return &json.UnmarshalTypeError{Value: err.(*json.UnmarshalTypeError).Value, Type: reflect.TypeFor[int]()}
	}
	s := strings.TrimSpace(string(t))
	if s == "" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) || f < 0 || f > maxCQCBeds {
		return &json.UnmarshalTypeError{Value: strconv.Quote(truncate(s)), Type: reflect.TypeFor[int]()}
	}
	*n = apiInt(f)
	return nil
}

type apiNamed struct {
	Name apiText `json:"name"`
}

type apiRating struct {
	Name   apiText `json:"name"`
	Rating apiText `json:"rating"`
}

// apiLocation holds the fields of an API location record that the import
// reads; it ignores the others.
type apiLocation struct {
	LocationID            *apiText   `json:"locationId"`
	ProviderID            apiText    `json:"providerId"`
	Name                  apiText    `json:"name"`
	AlsoKnownAs           apiText    `json:"alsoKnownAs"`
	PostalAddressLine1    apiText    `json:"postalAddressLine1"`
	PostalAddressLine2    apiText    `json:"postalAddressLine2"`
	PostalAddressTownCity apiText    `json:"postalAddressTownCity"`
	PostalAddressCounty   apiText    `json:"postalAddressCounty"`
	PostalCode            apiText    `json:"postalCode"`
	Region                apiText    `json:"region"`
	LocalAuthority        apiText    `json:"localAuthority"`
	CCGCode               apiText    `json:"onspdCcgCode"`
	CCGName               apiText    `json:"onspdCcgName"`
	MainPhoneNumber       apiText    `json:"mainPhoneNumber"`
	Website               apiText    `json:"website"`
	RegistrationStatus    apiText    `json:"registrationStatus"`
	RegistrationDate      apiText    `json:"registrationDate"`
	DeregistrationDate    apiText    `json:"deregistrationDate"`
	Dormancy              apiText    `json:"dormancy"`
	DormancyStartDate     apiText    `json:"dormancyStartDate"`
	CareHome              apiText    `json:"careHome"`
	NumberOfBeds          apiInt     `json:"numberOfBeds"`
	GACServiceTypes       []apiNamed `json:"gacServiceTypes"`
	Specialisms           []apiNamed `json:"specialisms"`
	InspectionCategories  []apiNamed `json:"inspectionCategories"`
	CurrentRatings        struct {
		Overall struct {
			Rating             apiText     `json:"rating"`
			ReportDate         apiText     `json:"reportDate"`
			ReportLinkID       apiText     `json:"reportLinkId"`
			KeyQuestionRatings []apiRating `json:"keyQuestionRatings"`
		} `json:"overall"`
		ReportDate apiText `json:"reportDate"`
	} `json:"currentRatings"`
	LastReport struct {
		PublicationDate apiText `json:"publicationDate"`
	} `json:"lastReport"`
	LastInspection struct {
		Date apiText `json:"date"`
	} `json:"lastInspection"`
}

func names(in []apiNamed) []string {
	var out []string
	for _, n := range in {
		out = append(out, string(n.Name))
	}
	return out
}

func yes(t apiText) bool { return strings.EqualFold(strings.TrimSpace(string(t)), "Y") }

// record turns an API record into a CQC record.
func (a apiLocation) record() CQCRecord {
	r := CQCRecord{
		ProviderID: string(a.ProviderID), Name: string(a.Name), AlsoKnownAs: string(a.AlsoKnownAs),
		AddressLine1: string(a.PostalAddressLine1), AddressLine2: string(a.PostalAddressLine2),
		Town: string(a.PostalAddressTownCity), County: string(a.PostalAddressCounty), Postcode: string(a.PostalCode),
		Phone: string(a.MainPhoneNumber), Website: string(a.Website), CQCRegion: string(a.Region),
		LocalAuthority: string(a.LocalAuthority), CCGCode: string(a.CCGCode), CCGName: string(a.CCGName),
		RegistrationStatus: string(a.RegistrationStatus), RegistrationDate: string(a.RegistrationDate),
		DeregistrationDate: string(a.DeregistrationDate), Dormant: yes(a.Dormancy), CareHome: yes(a.CareHome),
		NumberOfBeds: int(a.NumberOfBeds), ServiceTypes: names(a.GACServiceTypes), Specialisms: names(a.Specialisms),
		InspectionCategories: names(a.InspectionCategories),
		LastReportDate:       string(a.LastReport.PublicationDate), LastInspectionDate: string(a.LastInspection.Date),
		// The API has no provider name: the import keeps the one it has.
		carried: fieldsExcept("provider_name"),
	}
	if a.LocationID != nil {
		r.LocationID = string(*a.LocationID)
	}
	if r.Dormant {
		r.DormantSince = string(a.DormancyStartDate)
	}
	o := a.CurrentRatings.Overall
	r.Ratings = CQCRatings{Overall: Rating(o.Rating), ReportDate: string(o.ReportDate), ReportLinkID: string(o.ReportLinkID)}
	if r.Ratings.ReportDate == "" {
		r.Ratings.ReportDate = string(a.CurrentRatings.ReportDate)
	}
	for _, k := range o.KeyQuestionRatings {
		switch strings.ToLower(strings.Join(strings.FieldsFunc(string(k.Name), func(c rune) bool { return c == '-' || unicode.IsSpace(c) }), " ")) {
		case "safe":
			r.Ratings.Safe = Rating(k.Rating)
		case "effective":
			r.Ratings.Effective = Rating(k.Rating)
		case "caring":
			r.Ratings.Caring = Rating(k.Rating)
		case "responsive":
			r.Ratings.Responsive = Rating(k.Rating)
		case "well led":
			r.Ratings.WellLed = Rating(k.Rating)
		}
	}
	return r.normalised()
}

// ParseCQCJSON reads a JSON array of the CQC API's /locations/{id}
// records. Each element is decoded on its own: one that is not a valid
// record is a RowError naming its index, and the others are read. The
// error is for a file that cannot be read as a JSON array at all (or not
// to its end); the records before the fault are returned with it.
func ParseCQCJSON(r io.Reader) ([]CQCRecord, []RowError, error) {
	return parseCQCJSON(r, MaxCQCFileBytes)
}

func parseCQCJSON(r io.Reader, maxBytes int64) ([]CQCRecord, []RowError, error) {
	dec := json.NewDecoder(newCQCReader(r, maxBytes))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("not a JSON array of CQC location records: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, nil, errors.New("not a JSON array of CQC location records")
	}
	var (
		recs []CQCRecord
		bad  []RowError
	)
	seen := map[string]string{}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return recs, bad, fmt.Errorf("index %d: %w", i, err)
		}
		rec, err := parseAPIRecord(raw)
		if err == nil {
			rec.Origin = "index " + strconv.Itoa(i)
			err = firstSeen(seen, rec)
		}
		if err != nil {
			bad = append(bad, RowError{Index: i, Reason: reasonOf(err)})
			continue
		}
		recs = append(recs, rec)
	}
	if _, err := dec.Token(); err != nil {
		return recs, bad, fmt.Errorf("end of the JSON array: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more JSON after the array")
		}
		return recs, bad, err
	}
	return recs, bad, nil
}

func parseAPIRecord(raw json.RawMessage) (CQCRecord, error) {
	if len(raw) > MaxCQCRecordBytes {
		return CQCRecord{}, fmt.Errorf("the record is over %d bytes", MaxCQCRecordBytes)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return CQCRecord{}, errors.New("not a JSON object")
	}
	var a apiLocation
	if err := json.Unmarshal(raw, &a); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return CQCRecord{}, fmt.Errorf("%s: %s", te.Field, typeReason(te))
		}
		return CQCRecord{}, err
	}
	if a.LocationID == nil || strings.TrimSpace(string(*a.LocationID)) == "" {
		return CQCRecord{}, errors.New("no locationId")
	}
	rec := a.record()
	return rec, rec.Validate()
}

func typeReason(te *json.UnmarshalTypeError) string {
	switch te.Type.Kind() {
	case reflect.Int:
		return fmt.Sprintf("want a whole number from 0 to %d, not %s", maxCQCBeds, te.Value)
	case reflect.String:
		return "want text, not " + te.Value
	case reflect.Slice:
		return "want a list, not " + te.Value
	case reflect.Struct:
		return "want an object, not " + te.Value
	}
	return te.Value + " where " + te.Type.String() + " was expected"
}

// firstSeen refuses a location the file listed before.
func firstSeen(seen map[string]string, rec CQCRecord) error {
	if where, dup := seen[rec.LocationID]; dup {
		return fmt.Errorf("location %s appears before, at %s", rec.LocationID, where)
	}
	seen[rec.LocationID] = rec.Origin
	return nil
}

// --- the care directory CSV --------------------------------------------------

// The care directory's columns, by their keys.
const (
	colName           = "name"
	colAlsoKnownAs    = "also_known_as"
	colAddress        = "address"
	colPostcode       = "postcode"
	colPhone          = "phone"
	colWebsite        = "website"
	colServiceTypes   = "service_types"
	colLatestCheck    = "latest_check"
	colSpecialisms    = "specialisms"
	colProviderName   = "provider_name"
	colLocalAuthority = "local_authority"
	colRegion         = "region"
	colLocationID     = "location_id"
	colProviderID     = "provider_id"
)

// columnCarries names the record's fields that each column holds.
var columnCarries = map[string][]string{
	colName: {"name"}, colAlsoKnownAs: {"also_known_as"}, colAddress: {"address_line1", "address_line2", "town"},
	colPostcode: {"postcode", "postcode_invalid"}, colPhone: {"phone"}, colWebsite: {"website"},
	colServiceTypes: {"service_types"}, colLatestCheck: {"last_inspection_date"}, colSpecialisms: {"specialisms"},
	colProviderName: {"provider_name"}, colLocalAuthority: {"local_authority"}, colRegion: {"cqc_region", "nhs_region"},
	colLocationID: {"location_id", "public_url"}, colProviderID: {"provider_id"},
}

// columnKey recognises a heading of the care directory, whatever its case,
// spacing and apostrophe; "" for any other.
func columnKey(heading string) string {
	h := strings.ReplaceAll(strings.TrimPrefix(heading, "\ufeff"), "’", "'")
	h = strings.ToLower(strings.Join(strings.Fields(h), " "))
	switch {
	case h == "name":
		return colName
	case h == "also known as":
		return colAlsoKnownAs
	case h == "address":
		return colAddress
	case h == "postcode":
		return colPostcode
	case h == "phone number", h == "phone":
		return colPhone
	case strings.HasPrefix(h, "service's website"), h == "website":
		return colWebsite
	case h == "service types":
		return colServiceTypes
	case h == "date of latest check":
		return colLatestCheck
	case h == "specialisms/services", h == "specialisms":
		return colSpecialisms
	case h == "provider name":
		return colProviderName
	case h == "local authority":
		return colLocalAuthority
	case h == "region":
		return colRegion
	// "CQC Location ID (for office use only)"; some years' files spell
	// it "CQC Location (for office use only".
	case strings.HasPrefix(h, "cqc location"):
		return colLocationID
	case strings.HasPrefix(h, "cqc provider"):
		return colProviderID
	}
	return ""
}

// maxTitleLines bounds the lines before the header: CQC's directory has
// four (a title, the date of the data, and blank lines).
const maxTitleLines = 10

// headerColumns maps the column keys of a header row to their index, or
// is nil when the row is not the header.
func headerColumns(row []string) map[string]int {
	cols := map[string]int{}
	for i, h := range row {
		if k := columnKey(h); k != "" {
			if _, dup := cols[k]; !dup {
				cols[k] = i
			}
		}
	}
	if _, ok := cols[colLocationID]; !ok {
		return nil
	}
	if _, ok := cols[colName]; !ok {
		return nil
	}
	return cols
}

// ParseCQCCSV reads CQC's care directory CSV: title lines, then the
// header (found by its column names), then one location a row. A row that
// is not a valid record is a RowError naming its line in the file, and
// the others are read. The error is for a file without the directory's
// header, or that cannot be read to its end.
func ParseCQCCSV(r io.Reader) ([]CQCRecord, []RowError, error) {
	return parseCQCCSV(r, MaxCQCFileBytes)
}

func parseCQCCSV(r io.Reader, maxBytes int64) ([]CQCRecord, []RowError, error) {
	cr := csv.NewReader(newCQCReader(r, maxBytes))
	cr.FieldsPerRecord = -1
	var cols map[string]int
	width := 0
	for n := 0; cols == nil; n++ {
		if n > maxTitleLines {
			return nil, nil, errors.New("no CQC care directory header (Name, ..., CQC Location ID (for office use only), ...) in the first lines")
		}
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New("no CQC care directory header (Name, ..., CQC Location ID (for office use only), ...)")
		}
		if err != nil {
			return nil, nil, err
		}
		if cols = headerColumns(row); cols != nil {
			width = len(row)
		}
	}
	if _, ok := cols[colProviderID]; !ok {
		return nil, nil, errors.New("the header has no CQC Provider ID column")
	}
	carried := map[string]bool{}
	for k := range cols {
		for _, f := range columnCarries[k] {
			carried[f] = true
		}
	}
	var (
		recs []CQCRecord
		bad  []RowError
	)
	seen := map[string]string{}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, RowError{Line: pe.StartLine, Reason: pe.Err.Error()})
			continue
		}
		if err != nil {
			return recs, bad, err
		}
		line, _ := cr.FieldPos(0)
		if blank(row) {
			continue
		}
		rec, err := directoryRecord(row, cols, width, carried)
		if err == nil {
			rec.Origin = "line " + strconv.Itoa(line)
			err = firstSeen(seen, rec)
		}
		if err != nil {
			bad = append(bad, RowError{Line: line, Reason: reasonOf(err)})
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, nil
}

func blank(row []string) bool {
	for _, f := range row {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func directoryRecord(row []string, cols map[string]int, width int, carried map[string]bool) (CQCRecord, error) {
	if len(row) != width {
		return CQCRecord{}, fmt.Errorf("%d columns, want %d as in the header", len(row), width)
	}
	size := 0
	for _, f := range row {
		size += len(f)
	}
	if size > MaxCQCRecordBytes {
		return CQCRecord{}, fmt.Errorf("the row is over %d bytes", MaxCQCRecordBytes)
	}
	get := func(key string) string {
		if i, ok := cols[key]; ok {
			return row[i]
		}
		return ""
	}
	if domain.CleanText(get(colLocationID)) == "" {
		return CQCRecord{}, errors.New("no CQC location id")
	}
	address := get(colAddress)
	line1, line2, town := splitAddress(address)
	rec := CQCRecord{
		LocationID: get(colLocationID), ProviderID: get(colProviderID), ProviderName: get(colProviderName),
		Name: get(colName), AlsoKnownAs: get(colAlsoKnownAs), AddressLine1: line1, AddressLine2: line2, Town: town,
		Postcode: get(colPostcode), Phone: get(colPhone), Website: get(colWebsite), CQCRegion: get(colRegion),
		LocalAuthority: get(colLocalAuthority), ServiceTypes: splitList(get(colServiceTypes)),
		Specialisms: splitList(get(colSpecialisms)), LastInspectionDate: directoryDate(get(colLatestCheck)),
		carried: carried, addressText: domain.CleanText(address),
	}.normalised()
	return rec, rec.Validate()
}

// splitAddress splits the directory's one-field address into a first
// line, the rest and the town, as best it can. CQC joins the lines with a
// comma without a space ("Room 107, Level 1,Mansfield Business Centre,
// Ashfield Avenue,Mansfield"), or with line breaks; failing both, every
// comma separates.
func splitAddress(s string) (line1, line2, town string) {
	var parts []string
	switch {
	case strings.ContainsAny(s, "\r\n"):
		parts = strings.FieldsFunc(s, func(c rune) bool { return c == '\r' || c == '\n' })
	default:
		start := 0
		for i := 0; i < len(s); i++ {
			if s[i] == ',' && (i+1 == len(s) || s[i+1] != ' ' && s[i+1] != '\t') {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
		parts = append(parts, s[start:])
		if len(parts) == 1 {
			parts = strings.Split(s, ",")
		}
	}
	var kept []string
	for _, p := range parts {
		if p = domain.CleanText(strings.Trim(p, ", ")); p != "" {
			kept = append(kept, p)
		}
	}
	switch len(kept) {
	case 0:
		return "", "", ""
	case 1:
		return kept[0], "", ""
	case 2:
		return kept[0], "", kept[1]
	}
	return kept[0], strings.Join(kept[1:len(kept)-1], ", "), kept[len(kept)-1]
}

// splitList splits the directory's lists. CQC separates their values with
// "|" (some files with ";"); never with commas, which CQC's own service
// type names contain.
func splitList(s string) []string {
	sep := "|"
	if !strings.Contains(s, sep) {
		sep = ";"
	}
	return strings.Split(s, sep)
}

// directoryDate reads the directory's "Date of latest check"
// ("09/Jan/2018 - 00:00"), or a date in another common layout.
func directoryDate(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " - "); i > 0 {
		s = s[:i]
	}
	for _, layout := range []string{"02/Jan/2006", "2/Jan/2006", time.DateOnly, "02/01/2006", "2/1/2006", "02 January 2006", "2 January 2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly)
		}
	}
	return ""
}
