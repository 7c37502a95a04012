package location

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain"
)

// The CQC (Care Quality Commission) import: a location's stream records
// what CQC publishes about it, and the import appends only what changed
// since the last one. CQC owns these fields: registration, service types,
// specialisms, ratings, report dates and the CQC URLs are never edited by
// a provider, so they live in their own events and in Location.CQC, apart
// from the fields a provider may later keep up to date.

// cqcIDPattern is a CQC location or provider id: "1-" and its digits.
// CQC's ids have 9 or 10 digits, and those issued since 2023 have 11.
var cqcIDPattern = regexp.MustCompile(`^1-[0-9]{9,11}$`)

// ValidCQCID checks a CQC location or provider id.
func ValidCQCID(id string) bool { return cqcIDPattern.MatchString(id) }

// The seven NHS England regions.
const (
	NHSEastOfEngland         = "East of England"
	NHSMidlands              = "Midlands"
	NHSLondon                = "London"
	NHSNorthEastAndYorkshire = "North East and Yorkshire"
	NHSNorthWest             = "North West"
	NHSSouthEast             = "South East"
	NHSSouthWest             = "South West"
)

// NHSRegions lists the NHS England regions in alphabetical order.
func NHSRegions() []string {
	return []string{NHSEastOfEngland, NHSLondon, NHSMidlands, NHSNorthEastAndYorkshire, NHSNorthWest, NHSSouthEast, NHSSouthWest}
}

// NHSRegion maps CQC's region (one of the nine older English regions) to
// the NHS England region it lies in, or "" when it is none of them: an
// unknown region is kept as CQC wrote it, never an error.
func NHSRegion(cqcRegion string) string {
	key := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(cqcRegion, "&", " and ")), " "))
	switch key {
	case "east", "east of england":
		return NHSEastOfEngland
	case "east midlands", "west midlands":
		return NHSMidlands
	case "london":
		return NHSLondon
	case "north east", "yorkshire and the humber", "yorkshire and humber", "yorkshire and humberside":
		return NHSNorthEastAndYorkshire
	case "north west":
		return NHSNorthWest
	case "south east":
		return NHSSouthEast
	case "south west":
		return NHSSouthWest
	}
	return ""
}

// Rating is a CQC rating. The empty rating is unknown (CQC published
// none that the import saw).
type Rating string

// The ratings seen in CQC's data.
const (
	RatingOutstanding          Rating = "Outstanding"
	RatingGood                 Rating = "Good"
	RatingRequiresImprovement  Rating = "Requires improvement"
	RatingInadequate           Rating = "Inadequate"
	RatingNoPublishedRating    Rating = "No published rating"
	RatingInspectedButNotRated Rating = "Inspected but not rated"
)

var knownRatings = []Rating{RatingOutstanding, RatingGood, RatingRequiresImprovement, RatingInadequate,
	RatingNoPublishedRating, RatingInspectedButNotRated}

// ParseRating returns CQC's rating in its canonical spelling. A value that
// is none of the known ones ("No action" on a key question, say) is kept
// as CQC wrote it: CQC adds values, and the import must not lose them.
func ParseRating(s string) Rating {
	s = cleanText(s)
	for _, r := range knownRatings {
		if strings.EqualFold(s, string(r)) {
			return r
		}
	}
	return Rating(s)
}

// Known reports whether the rating is one of those CQC is known to use.
func (r Rating) Known() bool { return slices.Contains(knownRatings, r) }

// String is the rating as shown: "Unknown rating" when there is none.
func (r Rating) String() string {
	if r == "" {
		return "Unknown rating"
	}
	return string(r)
}

// CQCRatings are a location's current ratings: overall and for each of
// CQC's five key questions, from the report of ReportDate.
type CQCRatings struct {
	Overall      Rating `json:"overall,omitempty"`
	Safe         Rating `json:"safe,omitempty"`
	Effective    Rating `json:"effective,omitempty"`
	Caring       Rating `json:"caring,omitempty"`
	Responsive   Rating `json:"responsive,omitempty"`
	WellLed      Rating `json:"well_led,omitempty"`
	ReportDate   string `json:"report_date,omitempty"`
	ReportLinkID string `json:"report_link_id,omitempty"`
}

// Registration statuses.
const (
	StatusRegistered   = "Registered"
	StatusDeregistered = "Deregistered"
)

// CQCRecord is what CQC publishes about a location, normalised: text
// cleaned, the postcode in its canonical form when it is a valid one,
// dates as YYYY-MM-DD, lists sorted. An empty field is unknown.
type CQCRecord struct {
	LocationID   string `json:"location_id"`
	ProviderID   string `json:"provider_id"`
	ProviderName string `json:"provider_name,omitempty"`
	Name         string `json:"name,omitempty"`
	AlsoKnownAs  string `json:"also_known_as,omitempty"`
	AddressLine1 string `json:"address_line1,omitempty"`
	AddressLine2 string `json:"address_line2,omitempty"`
	Town         string `json:"town,omitempty"`
	County       string `json:"county,omitempty"`
	Postcode     string `json:"postcode,omitempty"`
	// PostcodeInvalid: Postcode is not a valid UK postcode and is kept as
	// CQC wrote it.
	PostcodeInvalid bool   `json:"postcode_invalid,omitempty"`
	Phone           string `json:"phone,omitempty"`
	Website         string `json:"website,omitempty"`
	CQCRegion       string `json:"cqc_region,omitempty"`
	NHSRegion       string `json:"nhs_region,omitempty"` // NHSRegion(CQCRegion)
	LocalAuthority  string `json:"local_authority,omitempty"`
	CCGCode         string `json:"ccg_code,omitempty"`
	CCGName         string `json:"ccg_name,omitempty"`

	RegistrationStatus string `json:"registration_status,omitempty"` // StatusRegistered, StatusDeregistered or CQC's value
	RegistrationDate   string `json:"registration_date,omitempty"`
	DeregistrationDate string `json:"deregistration_date,omitempty"`
	Dormant            bool   `json:"dormant,omitempty"`
	DormantSince       string `json:"dormant_since,omitempty"`

	CareHome             bool     `json:"care_home,omitempty"`
	NumberOfBeds         int      `json:"number_of_beds,omitempty"`
	ServiceTypes         []string `json:"service_types,omitempty"`
	Specialisms          []string `json:"specialisms,omitempty"`
	InspectionCategories []string `json:"inspection_categories,omitempty"`

	Ratings            CQCRatings `json:"ratings"`
	LastReportDate     string     `json:"last_report_date,omitempty"`
	LastInspectionDate string     `json:"last_inspection_date,omitempty"`
	// PublicURL is the location's page on CQC's site; ReportURL its
	// latest rated report. Both are built from CQC's ids, never taken
	// from the input.
	PublicURL string `json:"public_url,omitempty"`
	ReportURL string `json:"report_url,omitempty"`

	// Origin is where the parser found the record ("line 17", "index
	// 3"), for the messages of the import. It is no part of the events.
	Origin string `json:"-"`

	// carried lists the fields the record's source holds (nil: all of
	// them). CQC's directory CSV has no ratings, say: an import of it
	// keeps the ratings an import of the API's records brought.
	carried map[string]bool
	// addressText is the directory's one-field address, which the
	// parser split into lines as best it could.
	addressText string
}

// Carries reports whether the record's source holds a field (named as in
// the record's JSON): the import leaves the fields it does not hold as
// they are.
func (r CQCRecord) Carries(field string) bool { return r.carried == nil || r.carried[field] }

// CQC's public URLs.
const cqcLocationURL = "https://www.cqc.org.uk/location/"

func publicURL(locationID string) string { return cqcLocationURL + locationID }

// reportLinkPattern keeps a report link id to the characters of CQC's
// (UUIDs), since it becomes part of a URL.
var reportLinkPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func reportURL(locationID, linkID string) string {
	if linkID == "" || !reportLinkPattern.MatchString(linkID) {
		return ""
	}
	return cqcLocationURL + locationID + "/reports/" + linkID
}

// Bounds of one record, so that its events stay well below the event
// store's limit.
const (
	maxCQCText      = 500 // characters of one text field
	maxCQCListItems = 100
	maxCQCListItem  = 300
	maxCQCBeds      = 100_000
)

// Normalised returns the record in its canonical form. It is idempotent:
// the parsers normalise, and so does the decision, for records built by
// hand.
func (r CQCRecord) Normalised() CQCRecord { return r.normalised() }

func (r CQCRecord) normalised() CQCRecord {
	for _, p := range []*string{&r.LocationID, &r.ProviderID, &r.ProviderName, &r.Name, &r.AlsoKnownAs, &r.AddressLine1,
		&r.AddressLine2, &r.Town, &r.County, &r.Phone, &r.Website, &r.CQCRegion, &r.LocalAuthority, &r.CCGCode, &r.CCGName,
		&r.RegistrationStatus, &r.Ratings.ReportLinkID} {
		*p = cleanText(*p)
	}
	r.Postcode, r.PostcodeInvalid = cleanText(r.Postcode), false
	if pc, err := ParsePostcode(r.Postcode); err == nil {
		r.Postcode = pc.String()
	} else if r.Postcode != "" {
		r.PostcodeInvalid = true
	}
	r.NHSRegion = NHSRegion(r.CQCRegion)
	switch {
	case strings.EqualFold(r.RegistrationStatus, StatusRegistered):
		r.RegistrationStatus = StatusRegistered
	case strings.EqualFold(r.RegistrationStatus, StatusDeregistered):
		r.RegistrationStatus = StatusDeregistered
	}
	for _, p := range []*string{&r.RegistrationDate, &r.DeregistrationDate, &r.DormantSince, &r.LastReportDate,
		&r.LastInspectionDate, &r.Ratings.ReportDate} {
		*p = cleanDate(*p)
	}
	if r.NumberOfBeds < 0 || r.NumberOfBeds > maxCQCBeds {
		r.NumberOfBeds = 0
	}
	r.ServiceTypes, r.Specialisms, r.InspectionCategories = cleanList(r.ServiceTypes), cleanList(r.Specialisms), cleanList(r.InspectionCategories)
	for _, p := range []*Rating{&r.Ratings.Overall, &r.Ratings.Safe, &r.Ratings.Effective, &r.Ratings.Caring,
		&r.Ratings.Responsive, &r.Ratings.WellLed} {
		*p = ParseRating(string(*p))
	}
	r.PublicURL, r.ReportURL = "", ""
	if r.LocationID != "" {
		r.PublicURL = publicURL(r.LocationID)
		r.ReportURL = reportURL(r.LocationID, r.Ratings.ReportLinkID)
	}
	return r
}

// cleanText is domain.CleanText of valid UTF-8: the record must read back
// from its event's JSON as it was written, or the next import would see
// a change.
func cleanText(s string) string { return domain.CleanText(strings.ToValidUTF8(s, "\uFFFD")) }

// cleanDate keeps a YYYY-MM-DD date (or the date of an RFC 3339 instant);
// anything else is unknown.
func cleanDate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 10 {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.Format(time.DateOnly)
		}
		s = s[:10]
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return ""
	}
	return s
}

// cleanList cleans, sorts and de-duplicates a list, so that CQC listing
// the same values in another order is no change. Empty means nil.
func cleanList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = cleanText(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Validate checks the record's ids and bounds, naming each bad field.
func (r CQCRecord) Validate() error {
	var v domain.ValidationError
	if r.LocationID == "" {
		v.Add("location_id", "required", "The record has no CQC location id")
	} else if !ValidCQCID(r.LocationID) {
		v.Add("location_id", "invalid_id", fmt.Sprintf("%q is not a CQC location id (1- and 9 to 11 digits)", truncate(r.LocationID)))
	}
	if r.ProviderID == "" {
		v.Add("provider_id", "required", "The record has no CQC provider id")
	} else if !ValidCQCID(r.ProviderID) {
		v.Add("provider_id", "invalid_id", fmt.Sprintf("%q is not a CQC provider id (1- and 9 to 11 digits)", truncate(r.ProviderID)))
	}
	for _, f := range cqcFields {
		switch p := f.ptr(&r).(type) {
		case *string:
			if utf8.RuneCountInString(*p) > maxCQCText {
				v.Add(f.name, "too_long", fmt.Sprintf("At most %d characters", maxCQCText))
			}
		case *[]string:
			if len(*p) > maxCQCListItems {
				v.Add(f.name, "too_many", fmt.Sprintf("At most %d entries", maxCQCListItems))
			}
			for _, s := range *p {
				if utf8.RuneCountInString(s) > maxCQCListItem {
					v.Add(f.name, "too_long", fmt.Sprintf("Entries of at most %d characters", maxCQCListItem))
					break
				}
			}
		case *int:
			if *p < 0 || *p > maxCQCBeds {
				v.Add(f.name, "out_of_range", fmt.Sprintf("Between 0 and %d", maxCQCBeds))
			}
		case *CQCRatings:
			for _, s := range []Rating{p.Overall, p.Safe, p.Effective, p.Caring, p.Responsive, p.WellLed} {
				if utf8.RuneCountInString(string(s)) > maxCQCListItem {
					v.Add(f.name, "too_long", fmt.Sprintf("Ratings of at most %d characters", maxCQCListItem))
					break
				}
			}
			if utf8.RuneCountInString(p.ReportLinkID) > maxCQCListItem {
				v.Add(f.name, "too_long", fmt.Sprintf("Ratings of at most %d characters", maxCQCListItem))
			}
		}
	}
	return v.Err()
}

// truncate shortens a value quoted in a message.
func truncate(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// cqcFields names every field of CQCRecord as in its JSON, with a pointer
// to it: the import compares, merges and changes records field by field
// through this table. A test checks that it lists every field.
var cqcFields = []struct {
	name string
	ptr  func(*CQCRecord) any
	// own: the field changes through its own event, never a
	// CQCDetailsChanged.
	own bool
}{
	{"location_id", func(r *CQCRecord) any { return &r.LocationID }, false},
	{"provider_id", func(r *CQCRecord) any { return &r.ProviderID }, false},
	{"provider_name", func(r *CQCRecord) any { return &r.ProviderName }, false},
	{"name", func(r *CQCRecord) any { return &r.Name }, false},
	{"also_known_as", func(r *CQCRecord) any { return &r.AlsoKnownAs }, false},
	{"address_line1", func(r *CQCRecord) any { return &r.AddressLine1 }, false},
	{"address_line2", func(r *CQCRecord) any { return &r.AddressLine2 }, false},
	{"town", func(r *CQCRecord) any { return &r.Town }, false},
	{"county", func(r *CQCRecord) any { return &r.County }, false},
	{"postcode", func(r *CQCRecord) any { return &r.Postcode }, false},
	{"postcode_invalid", func(r *CQCRecord) any { return &r.PostcodeInvalid }, false},
	{"phone", func(r *CQCRecord) any { return &r.Phone }, false},
	{"website", func(r *CQCRecord) any { return &r.Website }, false},
	{"cqc_region", func(r *CQCRecord) any { return &r.CQCRegion }, false},
	{"nhs_region", func(r *CQCRecord) any { return &r.NHSRegion }, false},
	{"local_authority", func(r *CQCRecord) any { return &r.LocalAuthority }, false},
	{"ccg_code", func(r *CQCRecord) any { return &r.CCGCode }, false},
	{"ccg_name", func(r *CQCRecord) any { return &r.CCGName }, false},
	{"registration_status", func(r *CQCRecord) any { return &r.RegistrationStatus }, false},
	{"registration_date", func(r *CQCRecord) any { return &r.RegistrationDate }, false},
	{"deregistration_date", func(r *CQCRecord) any { return &r.DeregistrationDate }, false},
	{"dormant", func(r *CQCRecord) any { return &r.Dormant }, true},
	{"dormant_since", func(r *CQCRecord) any { return &r.DormantSince }, true},
	{"care_home", func(r *CQCRecord) any { return &r.CareHome }, false},
	{"number_of_beds", func(r *CQCRecord) any { return &r.NumberOfBeds }, false},
	{"service_types", func(r *CQCRecord) any { return &r.ServiceTypes }, false},
	{"specialisms", func(r *CQCRecord) any { return &r.Specialisms }, false},
	{"inspection_categories", func(r *CQCRecord) any { return &r.InspectionCategories }, false},
	{"ratings", func(r *CQCRecord) any { return &r.Ratings }, true},
	{"last_report_date", func(r *CQCRecord) any { return &r.LastReportDate }, false},
	{"last_inspection_date", func(r *CQCRecord) any { return &r.LastInspectionDate }, false},
	{"public_url", func(r *CQCRecord) any { return &r.PublicURL }, false},
	{"report_url", func(r *CQCRecord) any { return &r.ReportURL }, true},
}

// fieldValue is the value a field pointer points to.
func fieldValue(p any) any { return reflect.ValueOf(p).Elem().Interface() }

// mergedOnto is the record the import makes of r when the location's
// current record is cur: the fields r's source does not hold keep their
// current values.
func (r CQCRecord) mergedOnto(cur CQCRecord) CQCRecord {
	next := r
	next.carried, next.addressText, next.Origin = nil, "", ""
	// The lines of r are its own split of its address text unless
	// someone changed them since.
	keepAddress := r.addressText != "" && sameAddress(r.addressText, cur) && sameAddress(r.addressText, r)
	for _, f := range cqcFields {
		keep := !r.Carries(f.name)
		switch f.name {
		case "address_line1", "address_line2", "town", "county":
			keep = keep || keepAddress
		case "nhs_region", "public_url", "report_url":
			continue // derived from other fields
		}
		if keep {
			reflect.ValueOf(f.ptr(&next)).Elem().Set(reflect.ValueOf(f.ptr(&cur)).Elem())
		}
	}
	return next.normalised()
}

// sameAddress reports whether a one-field address (CQC's directory joins
// the lines with commas) is the address of the record's lines, whatever
// its punctuation, spacing and case: the directory's rough split of it
// then replaces nothing.
func sameAddress(text string, r CQCRecord) bool {
	key := func(parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			for _, c := range strings.ToLower(p) {
				if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
					b.WriteRune(c)
				}
			}
		}
		return b.String()
	}
	t := key(text)
	return t != "" && (t == key(r.AddressLine1, r.AddressLine2, r.Town) || t == key(r.AddressLine1, r.AddressLine2, r.Town, r.County))
}

// --- events of location-<id> -------------------------------------------------

// CQCLocationImported: the first import of the location from CQC's data.
type CQCLocationImported struct {
	LocationID string    `json:"location_id"`
	Record     CQCRecord `json:"record"`
}

// FieldChange is one field of a CQC record that changed, named as in the
// record's JSON, with its values before and after.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// CQCDetailsChanged: fields of the location's CQC record other than
// ratings, registration and dormancy changed.
type CQCDetailsChanged struct {
	LocationID string        `json:"location_id"`
	Changes    []FieldChange `json:"changes"`
}

// CQCRatingsChanged: CQC published other ratings for the location.
type CQCRatingsChanged struct {
	LocationID string     `json:"location_id"`
	Before     CQCRatings `json:"before"`
	After      CQCRatings `json:"after"`
}

// LocationDeregistered: CQC deregistered the location (Date is CQC's
// deregistration date, "" when unknown).
type LocationDeregistered struct {
	LocationID string `json:"location_id"`
	Date       string `json:"date,omitempty"`
}

// LocationReregistered: a location CQC had deregistered is registered
// again.
type LocationReregistered struct {
	LocationID       string `json:"location_id"`
	RegistrationDate string `json:"registration_date,omitempty"`
}

// LocationDormancyChanged: CQC marked the location dormant (since Since)
// or active again.
type LocationDormancyChanged struct {
	LocationID string `json:"location_id"`
	Dormant    bool   `json:"dormant"`
	Since      string `json:"since,omitempty"`
}

// OrganisationRenamed: the organisation's name changed (CQC's provider
// name, on import).
type OrganisationRenamed struct {
	OrganisationID string `json:"organisation_id"`
	Before         string `json:"before"`
	After          string `json:"after"`
}

// OrganisationPostcodeChanged: a GP practice's postcode changed (on
// import of the practices).
type OrganisationPostcodeChanged struct {
	OrganisationID string `json:"organisation_id"`
	Before         string `json:"before"`
	After          string `json:"after"`
}

// Event type names of the CQC import.
const (
	TypeCQCLocationImported     = "CQCLocationImported"
	TypeCQCDetailsChanged       = "CQCDetailsChanged"
	TypeCQCRatingsChanged       = "CQCRatingsChanged"
	TypeLocationDeregistered    = "LocationDeregistered"
	TypeLocationReregistered    = "LocationReregistered"
	TypeLocationDormancyChanged = "LocationDormancyChanged"
	TypeOrganisationRenamed     = "OrganisationRenamed"

	TypeOrganisationPostcodeChanged = "OrganisationPostcodeChanged"
)

func (OrganisationPostcodeChanged) EventType() string { return TypeOrganisationPostcodeChanged }

func (CQCLocationImported) EventType() string     { return TypeCQCLocationImported }
func (CQCDetailsChanged) EventType() string       { return TypeCQCDetailsChanged }
func (CQCRatingsChanged) EventType() string       { return TypeCQCRatingsChanged }
func (LocationDeregistered) EventType() string    { return TypeLocationDeregistered }
func (LocationReregistered) EventType() string    { return TypeLocationReregistered }
func (LocationDormancyChanged) EventType() string { return TypeLocationDormancyChanged }
func (OrganisationRenamed) EventType() string     { return TypeOrganisationRenamed }

// CQCImported reports whether the location's CQC record was imported.
func (l Location) CQCImported() bool { return l.CQC.LocationID != "" }

// Deregistered reports whether CQC deregistered the location.
func (l Location) Deregistered() bool { return l.CQC.RegistrationStatus == StatusDeregistered }

// evolveCQC applies an event of the CQC import to a record, and reports
// whether it was one.
func evolveCQC(r CQCRecord, ev any) (CQCRecord, bool) {
	switch e := ev.(type) {
	case CQCLocationImported:
		return e.Record, true
	case CQCDetailsChanged:
		for _, c := range e.Changes {
			r = r.withField(c.Field, c.After)
		}
	case CQCRatingsChanged:
		r.Ratings = e.After
		r.ReportURL = reportURL(r.LocationID, r.Ratings.ReportLinkID)
	case LocationDeregistered:
		r.RegistrationStatus, r.DeregistrationDate = StatusDeregistered, e.Date
	case LocationReregistered:
		r.RegistrationStatus, r.RegistrationDate, r.DeregistrationDate = StatusRegistered, e.RegistrationDate, ""
	case LocationDormancyChanged:
		r.Dormant, r.DormantSince = e.Dormant, e.Since
	default:
		return r, false
	}
	return r, true
}

// withField sets a field to a value of a FieldChange: typed as the field,
// or as JSON decoded it (float64 for a number, []any for a list). An
// unknown field or a value that does not fit is ignored: the event log
// is never refused.
func (r CQCRecord) withField(name string, value any) CQCRecord {
	for _, f := range cqcFields {
		if f.name != name {
			continue
		}
		data, err := json.Marshal(value)
		if err != nil {
			return r
		}
		next := r
		p := f.ptr(&next)
		// Unmarshal appends to a slice it is given: start from a zero
		// value so that no state shares what it writes.
		reflect.ValueOf(p).Elem().SetZero()
		if err := json.Unmarshal(data, p); err != nil {
			return r
		}
		return next
	}
	return r
}

// DecideCQCImport returns the events that bring the location's stream up
// to date with CQC's record: CQCLocationImported the first time (on top
// of a location support registered, too), then only what changed, and
// nothing when nothing did. A record whose provider is not the
// organisation the location belongs to is refused: access to it is
// granted through that organisation, so moving it is a person's decision.
func DecideCQCImport(l Location, rec CQCRecord) ([]any, error) {
	rec = rec.normalised()
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	if l.Exists() && l.OrganisationID != "" && l.OrganisationID != rec.ProviderID {
		return nil, domain.Rule("provider_changed", "location %s belongs to organisation %s, but CQC names provider %s: move it by hand first",
			rec.LocationID, l.OrganisationID, rec.ProviderID)
	}
	if !l.CQCImported() {
		return []any{CQCLocationImported{LocationID: rec.LocationID, Record: rec.mergedOnto(CQCRecord{})}}, nil
	}
	cur, next := l.CQC, rec.mergedOnto(l.CQC)
	var evs []any
	apply := func(ev any) {
		evs = append(evs, ev)
		cur, _ = evolveCQC(cur, ev)
	}
	switch {
	case next.RegistrationStatus == StatusDeregistered && cur.RegistrationStatus != StatusDeregistered:
		apply(LocationDeregistered{LocationID: rec.LocationID, Date: next.DeregistrationDate})
	case next.RegistrationStatus == StatusRegistered && cur.RegistrationStatus == StatusDeregistered:
		apply(LocationReregistered{LocationID: rec.LocationID, RegistrationDate: next.RegistrationDate})
	}
	if cur.Dormant != next.Dormant || cur.DormantSince != next.DormantSince {
		apply(LocationDormancyChanged{LocationID: rec.LocationID, Dormant: next.Dormant, Since: next.DormantSince})
	}
	if cur.Ratings != next.Ratings {
		apply(CQCRatingsChanged{LocationID: rec.LocationID, Before: cur.Ratings, After: next.Ratings})
	}
	var changes []FieldChange
	for _, f := range cqcFields {
		if f.own {
			continue
		}
		before, after := fieldValue(f.ptr(&cur)), fieldValue(f.ptr(&next))
		if !reflect.DeepEqual(before, after) {
			changes = append(changes, FieldChange{Field: f.name, Before: before, After: after})
		}
	}
	if len(changes) > 0 {
		apply(CQCDetailsChanged{LocationID: rec.LocationID, Changes: changes})
	}
	return evs, nil
}

// CQCOrganisationType is the type of an organisation first seen as the
// provider of this location: home care when CQC lists the location as a
// home care agency, a care home when CQC says it is one, else other.
func CQCOrganisationType(rec CQCRecord) OrganisationType {
	for _, s := range rec.ServiceTypes {
		if strings.EqualFold(s, "Homecare agencies") {
			return HomeCare
		}
	}
	if rec.CareHome {
		return CareHome
	}
	return Other
}

// DecideCQCProvider returns the events that bring the location's
// organisation (CQC's provider) up to date: OrganisationRegistered the
// first time, named after the provider or, when the source has no
// provider name (the API's location records), with no name until a source
// that has it (the care directory CSV) names it; OrganisationRenamed when
// CQC's provider name differs from the organisation's.
func DecideCQCProvider(o Organisation, rec CQCRecord) []any {
	name := cleanText(rec.ProviderName)
	if !o.Exists() {
		return []any{OrganisationRegistered{OrganisationID: rec.ProviderID, Name: name, Type: CQCOrganisationType(rec)}}
	}
	if name != "" && name != o.Name {
		return []any{OrganisationRenamed{OrganisationID: o.ID, Before: o.Name, After: name}}
	}
	return nil
}
