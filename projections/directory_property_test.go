package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/analytics"
	"github.com/capacitytracker/capacity/projections/directory"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
)

// directoryCommands is the length of the random command sequence of
// TestViews_DirectoryAgreesWithDomainAfterRandomEdits: 600, or 200 under
// the race detector (-property-commands overrides both).
func directoryCommands() int { return propertyLength(600, 200) }

// TestViews_DirectoryAgreesWithDomainAfterRandomEdits runs a random sequence
// of the commands that touch a location's directory entry through the real
// commands, with the engine applying the log live: CQC imports that rename
// locations and their providers, change every line of the address (to
// empty, too), the postcode, the areas, deregister and register them again;
// CQC's first import of locations support registered, with fields CQC does
// not know; imports that would move a location to another provider (refused);
// the location's users' address edits (after which CQC's name and address
// no longer apply); and new registrations by support. Then every view that
// keeps directory fields (search, analytics, locations, mail outbox) must
// hold, for every location, what the domain says: EvolveLocation folded over
// the location's stream (location.Directory), with the organisation's
// current name (EvolveOrganisation) where the view joins it in. The same
// holds after a rebuild of all of them from the log.
func TestViews_DirectoryAgreesWithDomainAfterRandomEdits(t *testing.T) {
	t.Parallel()
	projs := []projections.Projection{search.Projection{}, analytics.Projection{}, directory.Projection{},
		mailoutbox.Projection{}}
	eachCommandsWorld(t, projs, func(t *testing.T, backend string, pw *projtest.World, acc *commands.Service) {
		ctx := context.Background()
		e := pw.Engine

		w := &directoryWorld{t: t, acc: acc, store: pw.Store, rnd: rand.New(rand.NewPCG(uint64(len(backend)), 2028)),
			sys: commands.System("property-test"), records: map[string]location.CQCRecord{}}
		w.setup(ctx)
		n := directoryCommands()
		counts := runCommands(t, n, func(int) (string, error) { return w.step(ctx) })
		wantCoverage(t, counts, n >= 300, "ImportName ok", "ImportAddress ok", "ImportAreas ok", "ImportProvider ok",
			"ImportStatus ok", "ImportSupportRegistered ok", "Move ok", "EditAddress ok", "RegisterLocation ok")

		rm := pw.ReadModels
		waitAll(t, e, lastPosition(t, rm))
		want := w.domainViews(ctx)
		checkDirectoryViews(t, "live", rm, want)
		if err := e.RebuildAll(ctx, nil, nil); err != nil {
			t.Fatalf("rebuild all: %v", err)
		}
		waitAll(t, e, lastPosition(t, rm))
		checkDirectoryViews(t, "rebuilt", rm, want)
	})
}

// directoryWorld generates the commands of the directory's property test.
type directoryWorld struct {
	t       *testing.T
	acc     *commands.Service
	store   eventstore.Store
	rnd     *rand.Rand
	sys     commands.Actor
	ids     []string                      // every location, in order of creation
	records map[string]location.CQCRecord // CQC's record of the locations it knows
	support []string                      // locations support registered that CQC has not imported yet
}

// The support-registered organisation: its id is a CQC provider id, so
// that CQC can import its locations later.
const directorySupportOrg = "1-500000000"

var (
	dirProviders = []string{"1-100000000", "1-100000001", "1-100000002", "1-100000003"}
	dirLAs       = []string{"Leeds", "Sunderland", "Northamptonshire", ""}
	dirCCGs      = []string{"NHS Leeds CCG", "NHS Sunderland CCG", ""}
	dirRegions   = []string{"North East", "Yorkshire & Humberside", "London", ""}
)

func (w *directoryWorld) pick(n int) int { return w.rnd.IntN(n) }

// maybeEmpty is s, or now and then "" (a field CQC does not know).
func (w *directoryWorld) maybeEmpty(s string) string {
	if w.pick(4) == 0 {
		return ""
	}
	return s
}

func (w *directoryWorld) setup(ctx context.Context) {
	var recs []location.CQCRecord
	for i := range 16 {
		rec := location.CQCRecord{
			LocationID: fmt.Sprintf("1-20%08d", i), ProviderID: dirProviders[i%len(dirProviders)],
			ProviderName: fmt.Sprintf("Provider %d Ltd", i%len(dirProviders)), Name: fmt.Sprintf("Care Site %d", i),
			AddressLine1: fmt.Sprintf("%d High Street", i+1), AddressLine2: "Upper Floor", Town: "Leeds", County: "West Yorkshire",
			Postcode: propPostcode[i%len(propPostcode)], CQCRegion: dirRegions[i%3], LocalAuthority: dirLAs[i%3],
			CCGName: dirCCGs[i%2], RegistrationStatus: location.StatusRegistered, ServiceTypes: []string{"Homecare agencies"},
		}
		recs = append(recs, rec)
		w.records[rec.LocationID] = rec
		w.ids = append(w.ids, rec.LocationID)
	}
	if _, err := w.acc.ImportCQC(ctx, w.sys, recs); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.acc.RegisterOrganisation(ctx, w.sys, location.RegisterOrganisation{OrganisationID: directorySupportOrg,
		Name: "Support Registered Ltd", Type: string(location.HomeCare)}); err != nil {
		w.t.Fatal(err)
	}
}

// load folds a location's stream, as the commands do.
func (w *directoryWorld) load(ctx context.Context, id string) location.Location {
	evs, err := w.store.ReadStream(ctx, location.LocationStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	var l location.Location
	for _, ev := range evs {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			w.t.Fatal(err)
		}
		l = location.EvolveLocation(l, d)
	}
	return l
}

// organisation folds an organisation's stream.
func (w *directoryWorld) organisation(ctx context.Context, id string) location.Organisation {
	evs, err := w.store.ReadStream(ctx, location.OrganisationStream(id), eventstore.ReadStreamOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	var o location.Organisation
	for _, ev := range evs {
		d, err := location.Decode(ev.Type, ev.Data)
		if err != nil {
			w.t.Fatal(err)
		}
		o = location.EvolveOrganisation(o, d)
	}
	return o
}

// importRecord imports one record; a record the import rejects is an
// error here.
func (w *directoryWorld) importRecord(ctx context.Context, rec location.CQCRecord) error {
	sum, err := w.acc.ImportCQC(ctx, w.sys, []location.CQCRecord{rec})
	if err == nil && sum.Rejected > 0 {
		err = fmt.Errorf("import rejected %s: %v", rec.LocationID, sum.Errors)
	}
	if err == nil {
		w.records[rec.LocationID] = rec
	}
	return err
}

func (w *directoryWorld) step(ctx context.Context) (string, error) {
	switch k := w.pick(100); {
	case k < 45:
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range w.records {
				if !yield(id) {
					return
				}
			}
		})
		rec := w.records[ids[w.pick(len(ids))]]
		name := "ImportName"
		switch w.pick(5) {
		case 0:
			rec.Name = w.maybeEmpty(fmt.Sprintf("%s Care", []string{"Oak", "Elm", "Ash", "Birch"}[w.pick(4)]))
		case 1:
			name = "ImportAddress"
			rec.AddressLine1 = w.maybeEmpty(fmt.Sprintf("%d Mill Road", 1+w.pick(50)))
			rec.AddressLine2 = w.maybeEmpty("Suite " + fmt.Sprint(w.pick(9)))
			rec.Town = w.maybeEmpty([]string{"Leeds", "Sunderland", "Northampton"}[w.pick(3)])
			rec.County = w.maybeEmpty([]string{"West Yorkshire", "Tyne and Wear"}[w.pick(2)])
			rec.Postcode = w.maybeEmpty(propPostcode[w.pick(len(propPostcode))])
		case 2:
			name = "ImportAreas"
			rec.LocalAuthority = dirLAs[w.pick(len(dirLAs))]
			rec.CCGName = dirCCGs[w.pick(len(dirCCGs))]
			rec.CQCRegion = dirRegions[w.pick(len(dirRegions))]
		case 3:
			name = "ImportProvider"
			rec.ProviderName = w.maybeEmpty(fmt.Sprintf("Renamed Provider %d", w.pick(10)))
		default:
			name = "ImportStatus"
			if rec.RegistrationStatus == location.StatusRegistered {
				rec.RegistrationStatus, rec.DeregistrationDate = location.StatusDeregistered, "2026-01-01"
			} else {
				rec.RegistrationStatus, rec.DeregistrationDate = location.StatusRegistered, ""
			}
		}
		return name, w.importRecord(ctx, rec)
	case k < 52:
		if len(w.support) == 0 {
			return "ImportSupportRegistered", nil
		}
		j := w.pick(len(w.support))
		id := w.support[j]
		w.support = slices.Delete(w.support, j, j+1)
		// CQC's first import of a location support registered: what CQC
		// does not know (empty) keeps support's value.
		rec := location.CQCRecord{LocationID: id, ProviderID: directorySupportOrg,
			ProviderName: w.maybeEmpty("Support Registered Ltd"), Name: w.maybeEmpty("CQC's Name For " + id),
			AddressLine1: w.maybeEmpty("9 Station Road"), AddressLine2: w.maybeEmpty("Annexe"), Town: w.maybeEmpty("Sunderland"),
			Postcode: w.maybeEmpty("SR1 1AA"), LocalAuthority: w.maybeEmpty("Sunderland"), CCGName: w.maybeEmpty("NHS Sunderland CCG"),
			CQCRegion: w.maybeEmpty("North East"), RegistrationStatus: w.maybeEmpty(location.StatusRegistered)}
		return "ImportSupportRegistered", w.importRecord(ctx, rec)
	case k < 56:
		// A record naming another provider would move the location: the
		// import refuses it, and no view moves it.
		id := w.ids[w.pick(len(w.ids))]
		rec, ok := w.records[id]
		if !ok {
			return "Move", nil
		}
		rec.ProviderID = dirProviders[(slices.Index(dirProviders, rec.ProviderID)+1)%len(dirProviders)]
		sum, err := w.acc.ImportCQC(ctx, w.sys, []location.CQCRecord{rec})
		if err == nil && sum.Rejected != 1 {
			w.t.Errorf("a move of %s to %s was not refused: %+v", id, rec.ProviderID, sum)
		}
		return "Move", err
	case k < 85:
		id := w.ids[w.pick(len(w.ids))]
		l := w.load(ctx, id)
		addr := l.Address
		switch w.pick(4) {
		case 0: // a no-change save
		case 1:
			addr.Name = fmt.Sprintf("%s Care", []string{"Sunny", "Green", "Kind"}[w.pick(3)])
		default:
			addr = location.Address{Name: fmt.Sprintf("Provider's Name %d", w.pick(20)), ShortName: w.maybeEmpty("PN"),
				Line1: fmt.Sprintf("%d Station Road", 1+w.pick(99)), Line2: w.maybeEmpty("Flat 2"), Line3: w.maybeEmpty("Leeds"),
				Line4: w.maybeEmpty("West Yorkshire"), Line5: w.maybeEmpty("England"), Postcode: propPostcode[w.pick(len(propPostcode))]}
		}
		_, err := w.acc.EditAddress(ctx, w.sys, location.EditAddress{LocationID: id, ExpectedVersion: l.Version, Address: addr})
		return "EditAddress", err
	default:
		id := fmt.Sprintf("1-60%08d", len(w.ids))
		org := directorySupportOrg
		if w.pick(3) == 0 {
			org = dirProviders[w.pick(len(dirProviders))]
		}
		_, err := w.acc.RegisterLocation(ctx, w.sys, location.RegisterLocation{LocationID: id, OrganisationID: org,
			Name: "Support Site " + id, AddressLine1: "2 Low Road", Town: "Leeds", Postcode: "LS1 4AP",
			LocalAuthority: dirLAs[w.pick(len(dirLAs))], CCG: dirCCGs[w.pick(len(dirCCGs))]})
		if err == nil {
			w.ids = append(w.ids, id)
			if org == directorySupportOrg {
				w.support = append(w.support, id)
			}
		}
		return "RegisterLocation", err
	}
}

// directoryViews are the directory fields of every location as each view
// should hold them, one line per location, by table.
type directoryViews map[string][]string

// domainViews folds every location's stream (and its organisation's) and
// writes what each view should hold of it.
func (w *directoryWorld) domainViews(ctx context.Context) directoryViews {
	out := directoryViews{}
	for _, id := range slices.Sorted(slices.Values(w.ids)) {
		l := w.load(ctx, id)
		d := l.Directory
		// The views that list organisation names join in the
		// organisation's current one.
		orgName := d.OrganisationName
		if o := w.organisation(ctx, d.OrganisationID); o.Name != "" {
			orgName = o.Name
		}
		out[search.Table] = append(out[search.Table], directoryLine(id, d.OrganisationID,
			orgName, d.Name, d.ShortName, d.Line1, d.Line2, d.Line3, d.Line4, d.Line5, d.Postcode, d.LocalAuthority, d.CCG,
			d.NHSRegion, d.CQCRegion, d.Status(), d.AddressEdited))
		out[analytics.LocationsTable] = append(out[analytics.LocationsTable], directoryLine(id, d.Name,
			d.AddressEdited, d.OrganisationID, orgName, d.NHSRegion, d.LocalAuthority, d.CCG, d.Status()))
		out[directory.LocationsTable] = append(out[directory.LocationsTable], directoryLine(id, d.OrganisationID, orgName,
			d.Name, d.Line1, d.Line3, d.Postcode, location.CompactPostcode(d.Postcode), d.LocalAuthority, d.CCG, d.NHSRegion,
			d.CQCRegion, d.RegistrationStatus, d.AddressEdited))
		out[mailoutbox.LocationsTable] = append(out[mailoutbox.LocationsTable], directoryLine(id, d.Name,
			d.OrganisationID, d.AddressEdited))
	}
	for _, lines := range out {
		slices.Sort(lines)
	}
	return out
}

// directoryColumns are the columns checkDirectoryViews reads, in the order
// of domainViews' lines.
var directoryColumns = map[string][]string{
	search.Table: {"location_id", "organisation_id", "organisation_name", "name", "short_name",
		"address_line1", "address_line2", "address_line3", "address_line4", "address_line5", "postcode", "local_authority",
		"ccg", "nhs_region", "cqc_region", "registration_status", "address_edited"},
	analytics.LocationsTable: {"location_id", "name", "name_edited", "organisation_id", "organisation_name",
		"nhs_region", "local_authority", "ccg", "registration_status"},
	directory.LocationsTable: {"location_id", "organisation_id", "organisation_name", "name", "address_line1", "town",
		"postcode", "postcode_compact", "local_authority", "ccg", "nhs_region", "cqc_region", "registration_status",
		"address_edited"},
	mailoutbox.LocationsTable: {"location_id", "name", "organisation_id", "name_edited"},
}

func directoryLine(values ...any) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return strings.Join(parts, " ")
}

// checkDirectoryViews reads the views' rows and compares them with what
// the domain says.
func checkDirectoryViews(t *testing.T, when string, rm projections.ReadModels, want directoryViews) {
	t.Helper()
	for table, cols := range directoryColumns {
		var got []string
		err := rm.Query(context.Background(), func(q projections.Querier) error {
			rows, err := q.QueryContext(context.Background(), fmt.Sprintf(`SELECT %s FROM %s`,
				strings.Join(cols, ", "), table))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				vals, dst := make([]any, len(cols)), make([]any, len(cols))
				for i, c := range cols {
					if strings.HasSuffix(c, "_edited") {
						dst[i] = new(bool)
					} else {
						dst[i] = new(string)
					}
				}
				if err := rows.Scan(dst...); err != nil {
					return err
				}
				for i, p := range dst {
					switch p := p.(type) {
					case *bool:
						vals[i] = *p
					case *string:
						vals[i] = *p
					}
				}
				got = append(got, directoryLine(vals...))
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatalf("%s: read %s: %v", when, table, err)
		}
		// Each line starts with its location id: sorted, both sides are
		// in the same order, whatever the database's collation.
		slices.Sort(got)
		if len(got) != len(want[table]) {
			t.Errorf("%s: %s has %d locations, the domain %d", when, table, len(got), len(want[table]))
			continue
		}
		bad := 0
		for i := range got {
			if got[i] != want[table][i] {
				if bad++; bad <= 5 {
					t.Errorf("%s: %s disagrees with the domain:\n view:   %s\n domain: %s", when, table, got[i], want[table][i])
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %s: %d locations disagree in all", when, table, bad)
		}
	}
}
