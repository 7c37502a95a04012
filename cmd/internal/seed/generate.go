package seed

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain/location"
)

// generator draws the data set from one PCG source, in a fixed order.
type generator struct {
	r     *rand.Rand
	now   time.Time
	start time.Time // a year before now: the start of the history

	nextProvider int64
	nextLocation int64

	practiceCodes map[string]bool
	practices     []location.Organisation // their state after their streams
	practiceIndex map[string]int          // by code
	byPlace       map[placeRef][]int      // indexes into practices
	byRegion      map[int][]int

	support []author // the central support team, who also write notes
}

// placeRef names a place: its region and its index there.
type placeRef struct{ region, place int }

func (p placeRef) get() place { return regions[p.region].Places[p.place] }

// author is a user who writes notes.
type author struct {
	id   string
	name string
}

func newGenerator(opts Options) *generator {
	g := &generator{
		r:             rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed_ca9a_c17e_7000)),
		now:           opts.Now,
		start:         opts.Now.Add(-year),
		nextProvider:  1_000_000_000,
		nextLocation:  10_000_000_000,
		practiceCodes: map[string]bool{},
		practiceIndex: map[string]int{},
		byPlace:       map[placeRef][]int{},
		byRegion:      map[int][]int{},
	}
	for range 6 {
		g.support = append(g.support, g.author())
	}
	return g
}

// --- drawing ----------------------------------------------------------------

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *generator, s []T) T { return s[g.r.IntN(len(s))] }

// weighted returns an index drawn with the given weights.
func (g *generator) weighted(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := g.r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (g *generator) region() int {
	w := make([]int, len(regions))
	for i, r := range regions {
		w[i] = r.Weight
	}
	return g.weighted(w...)
}

func (g *generator) place() placeRef {
	r := g.region()
	return placeRef{r, g.r.IntN(len(regions[r].Places))}
}

func (g *generator) postcode(p place) string {
	return fmt.Sprintf("%s %d%c%c", pick(g, p.Outward), g.r.IntN(10), inwardLetters[g.r.IntN(len(inwardLetters))],
		inwardLetters[g.r.IntN(len(inwardLetters))])
}

// landline is a number of the place's dialling code, in Ofcom's ranges
// for drama where it has one.
func (g *generator) landline(p place) string {
	n := g.r.IntN(1000)
	switch p.AreaCode {
	case "020":
		return fmt.Sprintf("020 7946 0%03d", n)
	case "0191":
		return fmt.Sprintf("0191 498 0%03d", n)
	case "0113", "0114", "0115", "0116", "0117", "0118", "0121", "0151", "0161":
		return fmt.Sprintf("%s 496 0%03d", p.AreaCode, n)
	case "023", "024":
		return fmt.Sprintf("%s %04d %04d", p.AreaCode, 8000+g.r.IntN(2000), g.r.IntN(10000))
	}
	return fmt.Sprintf("%s %06d", p.AreaCode, 200000+g.r.IntN(800000))
}

// mobile is a number of Ofcom's range for drama.
func (g *generator) mobile() string { return fmt.Sprintf("07700 900%03d", g.r.IntN(1000)) }

func (g *generator) person() (first, last string) { return pick(g, firstNames), pick(g, surnames) }

func (g *generator) author() author {
	first, last := g.person()
	return author{id: newUUID(g.r).String(), name: first + " " + last}
}

func (g *generator) street() string {
	return strconv.Itoa(1+g.r.IntN(180)) + " " + pick(g, streets)
}

// Spans of time. Every date is drawn as a span before Options.Now, never
// from the calendar, so that a data set generated another day is the same
// one moved in time.
const (
	day  = 24 * time.Hour
	year = 365 * day
)

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// date is a day as CQC writes it.
func date(t time.Time) string { return t.Format(time.DateOnly) }

// between is a time drawn from [from, to).
func (g *generator) between(from, to time.Time) time.Time {
	if !to.After(from) {
		return from
	}
	return from.Add(time.Duration(g.r.Int64N(int64(to.Sub(from)))))
}

// when is a time after from and before now, in working hours on a weekday
// mostly, as a person would edit.
func (g *generator) when(from time.Time) time.Time {
	t := g.between(from, g.now)
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if g.chance(0.85) { // back to Friday
		switch midnight.Weekday() {
		case time.Saturday:
			midnight = midnight.AddDate(0, 0, -1)
		case time.Sunday:
			midnight = midnight.AddDate(0, 0, -2)
		}
	}
	t = midnight.Add(8*time.Hour + time.Duration(g.r.IntN(10*60))*time.Minute)
	// Keep within (from, now), as close as it gets.
	gap, jitter := g.now.Sub(from), time.Duration(1+g.r.IntN(120))*time.Minute
	switch {
	case gap <= 0:
		return from
	case !t.After(from):
		return from.Add(min(jitter, gap/2))
	case !t.Before(g.now):
		return g.now.Add(-min(jitter, gap/2))
	}
	return t
}

func slug(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// --- GP practices -------------------------------------------------------------

// practiceCode is an unused ODS code of the place's prefix, or of another
// place's when that prefix is full.
func (g *generator) practiceCode(ref placeRef) (string, placeRef) {
	for range 100 {
		prefix := ref.get().GPPrefix
		for range 20 {
			code := fmt.Sprintf("%s%03d", prefix, 1+g.r.IntN(999))
			if !g.practiceCodes[code] {
				g.practiceCodes[code] = true
				return code, ref
			}
		}
		for n := 1; n <= 999; n++ {
			if code := fmt.Sprintf("%s%03d", prefix, n); !g.practiceCodes[code] {
				g.practiceCodes[code] = true
				return code, ref
			}
		}
		ref = g.place()
	}
	panic("seed: no GP practice code left") // MaxGPPractices keeps well below the codes of the places
}

func (g *generator) practiceName(p place) string {
	pattern := pick(g, practiceNames)
	var stem string
	switch {
	case strings.HasPrefix(pattern, "Dr "):
		stem = pick(g, surnames)
	case g.chance(0.4):
		stem = strings.TrimSuffix(strings.TrimSuffix(pick(g, streets), " Road"), " Street")
	case g.chance(0.5):
		stem = pick(g, brands)
	default:
		stem = p.Town
	}
	return fmt.Sprintf(pattern, stem)
}

func (g *generator) gpPractice() (Stream, error) {
	code, ref := g.practiceCode(g.place())
	p := ref.get()
	row := location.GPPractice{Code: code, Name: g.practiceName(p), Postcode: g.postcode(p)}
	var (
		o   location.Organisation
		out = Stream{ID: location.OrganisationStream(code), Kind: KindGPPractice}
	)
	decide := func() error {
		evs, err := location.DecideGPPractice(o, row)
		if err != nil {
			return fmt.Errorf("GP practice %s: %w", code, err)
		}
		for _, ev := range evs {
			o = location.EvolveOrganisation(o, ev)
			out.Events = append(out.Events, Event{Data: ev})
		}
		return nil
	}
	if err := decide(); err != nil {
		return Stream{}, err
	}
	// Later imports of the practices: a few were renamed or moved.
	if g.chance(0.04) {
		row.Name = strings.TrimPrefix(row.Name, "The ") + " (" + p.Town + ")"
		if err := decide(); err != nil {
			return Stream{}, err
		}
	}
	if g.chance(0.03) {
		row.Postcode = g.postcode(p)
		if err := decide(); err != nil {
			return Stream{}, err
		}
	}
	g.byPlace[ref] = append(g.byPlace[ref], len(g.practices))
	g.byRegion[ref.region] = append(g.byRegion[ref.region], len(g.practices))
	g.practiceIndex[code] = len(g.practices)
	g.practices = append(g.practices, o)
	return out, nil
}

// --- providers ------------------------------------------------------------------

// organisation is a CQC provider as the generator sees it.
type organisation struct {
	id        string
	name      string
	brand     string // its locations' names start with it
	careWord  string
	careHome  bool
	domain    string // of its emails
	website   string
	ownership string
	home      placeRef
	national  bool
	size      int
	authors   []author
	names     map[string]bool // of its locations so far
}

// providerSize is the number of locations of a local provider: most have
// one.
func (g *generator) providerSize() int {
	switch g.weighted(72, 15, 9, 4) {
	case 0:
		return 1
	case 1:
		return 2 + g.r.IntN(2)
	case 2:
		return 4 + g.r.IntN(6)
	}
	return 10 + g.r.IntN(11)
}

func (g *generator) newOrganisation(name, brand string, careHome bool, size int) *organisation {
	g.nextProvider += 1 + int64(g.r.IntN(40))
	o := &organisation{
		id: "1-" + strconv.FormatInt(g.nextProvider, 10), name: name, brand: brand, careHome: careHome, size: size,
		home: g.place(), names: map[string]bool{},
	}
	o.careWord = pick(g, homeCareWords)
	site := slug(brand + o.careWord)
	if careHome {
		site = slug(brand + "carehomes")
	}
	o.domain = site + ".co.uk"
	if g.chance(0.7) {
		o.website = "https://www." + o.domain
	}
	o.ownership = location.OwnershipTypes()[g.weighted(ownershipWeights...)]
	for range 1 + min(size/8, 7) + g.r.IntN(2) {
		o.authors = append(o.authors, g.author())
	}
	return o
}

func (g *generator) localProvider(size int) *organisation {
	careHome := g.chance(0.2)
	brand := pick(g, brands)
	if g.chance(0.15) {
		brand = pick(g, surnames) + "s"
	}
	word := pick(g, homeCareWords)
	if careHome {
		word = pick(g, []string{"Care Homes", "Care", "Healthcare", "Residential Care"})
	}
	o := g.newOrganisation(brand+" "+word+" "+pick(g, companySuffixes), brand, careHome, size)
	if !careHome {
		o.careWord = word
	}
	return o
}

func (g *generator) nationalGroup(i, size int) *organisation {
	n := nationalGroups[i]
	o := g.newOrganisation(n.Name, n.Brand, strings.Contains(n.Name, "Homes") || strings.Contains(n.Name, "Living"), size)
	o.national = true
	o.careWord = ""
	o.ownership = location.OwnershipTypes()[0]
	return o
}

// provider is a provider with its locations' CQC records, drawn, and its
// stream, decided.
type provider struct {
	org    *organisation
	stream Stream
	recs   []location.CQCRecord
	refs   []placeRef
}

// provider draws the provider's locations and decides its stream.
func (g *generator) provider(org *organisation) provider {
	p := provider{org: org, recs: make([]location.CQCRecord, org.size), refs: make([]placeRef, org.size),
		stream: Stream{ID: location.OrganisationStream(org.id), Kind: KindProvider}}
	for i := range p.recs {
		p.refs[i] = org.home
		switch {
		case org.national:
			p.refs[i] = g.place()
		case i > 0 && g.chance(0.3):
			p.refs[i] = placeRef{org.home.region, g.r.IntN(len(regions[org.home.region].Places))}
		}
		p.recs[i] = g.record(org, p.refs[i])
	}
	var o location.Organisation
	for _, rec := range p.recs {
		for _, ev := range location.DecideCQCProvider(o, rec) {
			o = location.EvolveOrganisation(o, ev)
			p.stream.Events = append(p.stream.Events, Event{Data: ev})
		}
	}
	return p
}

// --- CQC's record -----------------------------------------------------------------

func (g *generator) locationName(org *organisation, p place) string {
	var name string
	switch {
	case org.careHome:
		stem := pick(g, brands)
		if g.chance(0.3) {
			stem = strings.TrimSuffix(pick(g, streets), " Road")
		}
		name = stem + " " + pick(g, careHomeWords)
		if org.national && g.chance(0.5) {
			name = org.brand + " - " + name
		}
	case org.size == 1 && !org.national:
		name = strings.TrimSpace(org.brand + " " + org.careWord)
	default:
		name = strings.TrimSpace(org.brand+" "+org.careWord) + " - " + p.Town
	}
	for i := 2; org.names[name]; i++ {
		name = strings.TrimSuffix(name, " ("+strconv.Itoa(i-1)+")") + " (" + strconv.Itoa(i) + ")"
	}
	org.names[name] = true
	return name
}

// rating draws a rating: mostly Good.
func (g *generator) rating() location.Rating {
	return []location.Rating{location.RatingOutstanding, location.RatingGood, location.RatingRequiresImprovement,
		location.RatingInadequate}[g.weighted(5, 73, 19, 3)]
}

// near is a rating close to r: a key question's rating next to the
// overall one.
func (g *generator) near(r location.Rating) location.Rating {
	if g.chance(0.8) {
		return r
	}
	order := []location.Rating{location.RatingOutstanding, location.RatingGood, location.RatingRequiresImprovement, location.RatingInadequate}
	i := slices.Index(order, r)
	if g.chance(0.5) && i > 0 {
		return order[i-1]
	}
	return order[min(i+1, len(order)-1)]
}

// ratings are the ratings of a report published after from.
func (g *generator) ratings(from time.Time) (location.CQCRatings, string) {
	overall := g.rating()
	report := g.between(from, g.now.Add(-7*day))
	inspected := report.AddDate(0, 0, -(20 + g.r.IntN(40)))
	return location.CQCRatings{
		Overall: overall, Safe: g.near(overall), Effective: g.near(overall), Caring: g.near(overall),
		Responsive: g.near(overall), WellLed: g.near(overall), ReportDate: date(report), ReportLinkID: newUUID(g.r).String(),
	}, date(inspected)
}

func (g *generator) record(org *organisation, ref placeRef) location.CQCRecord {
	p := ref.get()
	g.nextLocation += 1 + int64(g.r.IntN(400))
	rec := location.CQCRecord{
		LocationID: "1-" + strconv.FormatInt(g.nextLocation, 10), ProviderID: org.id, ProviderName: org.name,
		Name: g.locationName(org, p), AddressLine1: g.street(), Town: p.Town, County: p.County, Postcode: g.postcode(p),
		Phone: g.landline(p), Website: org.website, CQCRegion: regions[ref.region].Name, LocalAuthority: p.LocalAuthority,
		CCGCode: p.CCGCode, CCGName: p.CCGName, RegistrationStatus: location.StatusRegistered,
	}
	if g.chance(0.05) {
		rec.AlsoKnownAs = org.brand
	}
	if !org.careHome && g.chance(0.35) {
		rec.AddressLine2 = "Unit " + strconv.Itoa(1+g.r.IntN(30)) + ", " + pick(g, businessParks)
	}
	// Registered a month to 14 years ago, more of them lately.
	registered := g.now.Add(-30*day - time.Duration(g.r.Float64()*g.r.Float64()*float64(14*year)))
	rec.RegistrationDate = date(registered)
	if org.careHome {
		rec.CareHome = true
		rec.NumberOfBeds = 8 + g.r.IntN(60)
		switch g.weighted(55, 30, 15) {
		case 0:
			rec.ServiceTypes = []string{serviceResidential}
		case 1:
			rec.ServiceTypes = []string{serviceNursing}
			rec.NumberOfBeds += 20
		default:
			rec.ServiceTypes = []string{serviceNursing, serviceResidential}
			rec.NumberOfBeds += 30
		}
		rec.InspectionCategories = []string{categoryResidential}
	} else {
		rec.ServiceTypes = []string{serviceHomecare}
		if g.chance(0.15) {
			rec.ServiceTypes = append(rec.ServiceTypes, serviceSupported)
		}
		if g.chance(0.05) {
			rec.ServiceTypes = append(rec.ServiceTypes, serviceExtraCare)
		}
		rec.InspectionCategories = []string{categoryCommunity}
	}
	rec.Specialisms = g.specialisms(org.careHome)
	ratedFrom := later(registered.Add(182*day), g.now.Add(-5*year))
	switch {
	case ratedFrom.After(g.now.Add(-14 * day)), registered.After(g.now.Add(-456*day)) && g.chance(0.7), g.chance(0.03):
		// Not rated yet.
		if g.chance(0.5) {
			rec.Ratings.Overall = location.RatingNoPublishedRating
		}
	default:
		rec.Ratings, rec.LastInspectionDate = g.ratings(ratedFrom)
		rec.LastReportDate = rec.Ratings.ReportDate
	}
	switch {
	case registered.Before(g.now.Add(-2*year)) && g.chance(0.015):
		rec.RegistrationStatus = location.StatusDeregistered
		rec.DeregistrationDate = date(g.between(later(registered.Add(year), g.now.Add(-3*year)), g.start))
	case !org.careHome && g.chance(0.02):
		rec.Dormant = true
		rec.DormantSince = date(g.between(g.now.Add(-2*year), g.start))
	}
	return rec.Normalised()
}

func (g *generator) specialisms(careHome bool) []string {
	var out []string
	if careHome && g.chance(0.6) || !careHome && g.chance(0.5) {
		out = append(out, "Dementia")
	}
	if g.chance(0.9) {
		out = append(out, "Caring for adults over 65 yrs")
	}
	for range 1 + g.r.IntN(4) {
		out = append(out, pick(g, specialisms))
	}
	return out
}
