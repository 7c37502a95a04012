package seed

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capacitytracker/capacity/domain/location"
)

// A location's stream: CQC's first import at the start of the year, then
// what its users (and support) did over the year, in the order they did
// it, each decided by the domain against the stream as it was then.

// stream folds a location's events as the commands would: each decision
// is taken on the state the events so far make, at its version.
type stream struct {
	l      location.Location
	events []Event
}

// apply returns the function that folds a decision's events, sealing
// their personal fields under subject: s.apply(subject)(location.Decide...).
func (s *stream) apply(subject string) func(evs []any, err error) error {
	return func(evs []any, err error) error {
		if err != nil {
			return fmt.Errorf("decision at version %d: %w", s.l.Version, err)
		}
		for _, ev := range evs {
			s.l = location.EvolveLocation(s.l, ev)
			s.events = append(s.events, Event{Data: ev, Subject: subject})
		}
		return nil
	}
}

// action is one thing done to a location at a time.
type action struct {
	at time.Time
	// user: a user's edit, which a deregistered location no longer gets.
	user bool
	do   func(at time.Time) error
}

// history schedules a location's actions and runs them in time order.
type history struct {
	g       *generator
	org     *organisation
	place   place
	s       *stream
	actions []action
}

func (h *history) schedule(at time.Time, user bool, do func(at time.Time) error) {
	h.actions = append(h.actions, action{at: at, user: user, do: do})
}

func (h *history) run() error {
	slices.SortStableFunc(h.actions, func(a, b action) int { return a.at.Compare(b.at) })
	for _, a := range h.actions {
		if a.user && h.s.l.Deregistered() {
			continue
		}
		if err := a.do(a.at); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) locationStream(org *organisation, rec location.CQCRecord, ref placeRef) (Stream, error) {
	s := &stream{}
	if err := s.apply("")(location.DecideCQCImport(s.l, rec)); err != nil {
		return Stream{}, fmt.Errorf("CQC import: %w", err)
	}
	h := &history{g: g, org: org, place: ref.get(), s: s}
	if s.l.Deregistered() {
		// Deregistered before the year began: a note at most.
		if g.chance(0.3) {
			h.note(g.when(g.start))
		}
	} else {
		h.contacts()
		for range g.weighted(20, 20, 18, 14, 10, 7, 5, 4, 2) {
			h.note(g.when(g.start))
		}
		h.classification()
		h.address()
		h.pamms(ref)
		h.gpPractices(ref)
		h.reviews()
		h.cqcChanges()
	}
	if err := h.run(); err != nil {
		return Stream{}, err
	}
	return Stream{ID: location.LocationStream(rec.LocationID), Kind: KindLocation, Events: s.events}, nil
}

// --- contacts -------------------------------------------------------------------

func inputOf(c location.Contact) location.ContactInput {
	return location.ContactInput{Role: c.Role, Name: c.Name, OrganisationName: c.OrganisationName, Phones: c.PhoneList(),
		Email: c.Email, Address: c.Address, Public: c.Public}
}

func (h *history) email(first, last string) string {
	return slug(first) + "." + slug(last) + "@" + h.org.domain
}

// contact is a contact of a role as a location's users would enter it.
func (h *history) contact(role string) location.ContactInput {
	g, p := h.g, h.place
	first, last := g.person()
	c := location.ContactInput{Role: role, Name: first + " " + last, Public: g.chance(0.3)}
	switch role {
	case location.RoleManager:
		c.Phones = g.landline(p)
		if g.chance(0.4) {
			c.Phones += ", " + g.mobile()
		}
		if g.chance(0.9) {
			c.Email = h.email(first, last)
		}
		c.Public = g.chance(0.5)
	case location.RoleLeadClinician:
		c.Name = pick(g, []string{"Dr ", "Nurse ", ""}) + c.Name
		c.Phones = g.landline(p)
		c.Email = slug(first) + "." + slug(last) + "@nhs.net"
	case location.RoleLeadGP:
		c.Name = "Dr " + c.Name
		c.Phones = g.landline(p)
		if links := h.s.l.Details.GPPractices; len(links) > 0 {
			c.OrganisationName = links[0].Name
		} else {
			c.OrganisationName = p.Town + " Medical Centre"
		}
	case location.RoleLocalAuthority:
		c.OrganisationName = p.LocalAuthority + " Council"
		if g.chance(0.5) {
			c.Name = ""
		}
		c.Phones = g.landline(p)
		c.Email = "adultsocialcare@" + slug(p.LocalAuthority) + ".gov.uk"
	case location.RoleNHSEmail:
		c.Name = ""
		c.OrganisationName = "Shared NHSmail mailbox"
		c.Email = slug(h.org.brand) + "." + slug(p.Town) + "@nhs.net"
	case location.RolePharmacy:
		c.Name = ""
		if name := pick(g, pharmacies); strings.Contains(name, "%s") {
			c.OrganisationName = fmt.Sprintf(name, p.Town)
		} else {
			c.OrganisationName = name
		}
		c.Phones = g.landline(p)
		c.Public = g.chance(0.6)
	case location.RolePhysio:
		c.OrganisationName = p.Town + " Community Physiotherapy"
		c.Phones = g.landline(p)
	case location.RoleSocialWorker:
		c.OrganisationName = p.LocalAuthority + " Adult Social Care"
		c.Phones = g.mobile()
		c.Email = slug(first) + "." + slug(last) + "@" + slug(p.LocalAuthority) + ".gov.uk"
	case location.RoleTrustedAssessor:
		c.OrganisationName = strings.TrimSuffix(strings.TrimPrefix(p.CCGName, "NHS "), " CCG") + " Trusted Assessor Service"
		c.Phones = g.landline(p)
		c.Email = slug(first) + "." + slug(last) + "@nhs.net"
	case "Out of Hours On Call":
		c.Name = ""
		c.Phones = g.mobile()
	case "Plumber", "Maintenance":
		c.OrganisationName = pick(g, surnames) + " & Sons"
		c.Phones = g.mobile()
	default:
		c.Phones = g.landline(p)
		if g.chance(0.7) {
			c.Email = h.email(first, last)
		}
	}
	return c
}

// addContact schedules a contact's addition, and then some of its
// edits.
func (h *history) addContact(at time.Time, role string) {
	g := h.g
	id := newUUID(g.r).String()
	h.schedule(at, true, func(time.Time) error {
		return h.s.apply(location.ContactSubject(id))(location.DecideAddContact(h.s.l, location.AddContact{
			LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, ContactID: id, Contact: h.contact(role)}))
	})
	if g.chance(0.25) {
		h.schedule(g.when(at), true, func(time.Time) error { return h.updateContact(id, true) })
	}
	if g.chance(0.08) {
		h.schedule(g.when(at), true, func(time.Time) error { return h.updateContact(id, false) })
	}
	if role == location.RoleManager && g.chance(0.06) {
		// The manager left: removed, and the new one added.
		left := g.when(at)
		h.schedule(left, true, func(time.Time) error {
			if _, ok := h.s.l.Contact(id); !ok {
				return nil
			}
			return h.s.apply(location.ContactSubject(id))(location.DecideRemoveContact(h.s.l, location.RemoveContact{
				LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, ContactID: id}))
		})
		h.addContact(left.Add(time.Duration(1+g.r.IntN(30))*time.Minute), location.RoleManager)
	}
}

// updateContact saves a contact: changed (a new phone number, an email
// added, shown to the public or not, someone else in the role), or as it
// is (DetailsConfirmed).
func (h *history) updateContact(id string, change bool) error {
	g := h.g
	cur, ok := h.s.l.Contact(id)
	if !ok {
		return nil
	}
	in := inputOf(cur)
	if change {
		switch g.r.IntN(4) {
		case 0:
			in.Phones = g.landline(h.place)
		case 1:
			first, last := g.person()
			in.Email = h.email(first, last)
		case 2:
			in.Public = !in.Public
		default:
			first, last := g.person()
			in.Name = first + " " + last
			if in.Email != "" {
				in.Email = h.email(first, last)
			}
		}
	}
	return h.s.apply(location.ContactSubject(id))(location.DecideUpdateContact(h.s.l, location.UpdateContact{
		LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, ContactID: id, Contact: in}))
}

func (h *history) contacts() {
	g := h.g
	n := g.weighted(25, 30, 25, 12, 8)
	manager := g.chance(0.85)
	times := make([]time.Time, n)
	for i := range times {
		times[i] = g.when(g.start)
	}
	if manager {
		// The manager is usually the first contact entered.
		at := g.when(g.start)
		if n > 0 && g.chance(0.8) {
			at, times[0] = slices.MinFunc(append(times, at), time.Time.Compare), at
		}
		h.addContact(at, location.RoleManager)
	}
	roles := location.ContactRoles()
	for _, at := range times {
		role := pick(g, roles)
		if role == location.RoleManager || g.chance(0.25) {
			role = pick(g, freeRoles)
		}
		h.addContact(at, role)
	}
}

// --- notes -------------------------------------------------------------------------

func (h *history) noteText(texts []string) string {
	first, _ := h.g.person()
	return strings.NewReplacer("{name}", first, "{n}", strconv.Itoa(1+h.g.r.IntN(12))).Replace(pick(h.g, texts))
}

// note schedules a note, and its edit or deletion for some.
func (h *history) note(at time.Time) {
	g := h.g
	id := newUUID(g.r).String()
	by := pick(g, h.org.authors)
	if g.chance(0.2) {
		by = pick(g, g.support)
	}
	h.schedule(at, true, func(at time.Time) error {
		return h.s.apply("user-" + by.id)(location.DecideAddNote(h.s.l, location.AddNote{
			LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, NoteID: id, Text: h.noteText(noteTexts),
			At: at, AuthorID: by.id, AuthorName: by.name}))
	})
	last := at
	if g.chance(0.15) {
		last = g.when(at)
		h.schedule(last, true, func(at time.Time) error {
			n, ok := h.s.l.Note(id)
			if !ok {
				return nil
			}
			return h.s.apply("")(location.DecideEditNote(h.s.l, location.EditNote{
				LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, NoteID: id,
				Text: n.Text + " " + h.noteText(noteEdits), At: at}))
		})
	}
	if g.chance(0.06) {
		h.schedule(g.when(last), true, func(time.Time) error {
			if _, ok := h.s.l.Note(id); !ok {
				return nil
			}
			return h.s.apply("")(location.DecideDeleteNote(h.s.l, location.DeleteNote{
				LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, NoteID: id}))
		})
	}
}

// --- the other sections ------------------------------------------------------------

func (h *history) editClassification(ownership string) func(time.Time) error {
	return func(time.Time) error {
		return h.s.apply("")(location.DecideEditClassification(h.s.l, location.EditClassification{
			LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, OwnershipType: ownership}))
	}
}

func (h *history) classification() {
	g := h.g
	if !g.chance(0.75) {
		return
	}
	at := g.when(g.start)
	h.schedule(at, true, h.editClassification(h.org.ownership))
	if g.chance(0.04) {
		// Chosen wrongly, and corrected.
		h.schedule(g.when(at), true, h.editClassification(pick(g, location.OwnershipTypes())))
	}
}

func (h *history) editAddress(change func(*location.Address)) func(time.Time) error {
	return func(time.Time) error {
		a := h.s.l.Address
		change(&a)
		return h.s.apply("")(location.DecideEditAddress(h.s.l, location.EditAddress{
			LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, Address: a}))
	}
}

func (h *history) address() {
	g := h.g
	if !g.chance(0.1) {
		return
	}
	var change func(*location.Address)
	switch g.weighted(40, 30, 30) {
	case 0:
		short := h.org.brand
		if h.org.size > 1 {
			short += " " + h.place.Town
		}
		change = func(a *location.Address) { a.ShortName = short }
	case 1:
		line2 := "Suite " + strconv.Itoa(1+g.r.IntN(12)) + ", " + pick(g, businessParks)
		change = func(a *location.Address) { a.Line2 = line2 }
	default:
		// Moved within the town.
		line1, postcode := g.street(), g.postcode(h.place)
		change = func(a *location.Address) { a.Line1, a.Line2, a.Postcode = line1, "", postcode }
	}
	h.schedule(g.when(g.start), true, h.editAddress(change))
}

// pamms: local authorities that use PAMMS (in London and the East, mostly)
// have assessed some locations.
func (h *history) pamms(ref placeRef) {
	g := h.g
	share := 0.08
	if r := regions[ref.region].Name; r == "London" || r == "East" {
		share = 0.35
	}
	if !g.chance(share) {
		return
	}
	at := g.when(g.start)
	report := g.between(at.Add(-2*year), at)
	p := location.PAMMS{
		ReportURL:  "https://pamms." + slug(h.place.LocalAuthority) + ".gov.uk/reports/" + strconv.Itoa(10000+g.r.IntN(90000)),
		Rating:     location.PAMMSRatings()[g.weighted(10, 60, 25, 5)],
		ReportDate: date(report),
	}
	h.schedule(at, true, func(at time.Time) error {
		return h.s.apply("")(location.DecideEditPAMMS(h.s.l, location.EditPAMMS{
			LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, PAMMS: p}, at))
	})
}

func (h *history) gpPractices(ref placeRef) {
	g := h.g
	near := g.byPlace[ref]
	if len(near) == 0 {
		near = g.byRegion[ref.region]
	}
	if len(near) == 0 || !g.chance(0.45) {
		return
	}
	for range 1 + g.weighted(60, 30, 10) {
		practice := g.practices[pick(g, near)]
		at := g.when(g.start)
		h.schedule(at, true, func(time.Time) error {
			return h.s.apply("")(location.DecideLinkGPPractice(h.s.l, practice, location.LinkGPPractice{
				LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, PracticeCode: practice.ID}))
		})
		if g.chance(0.05) {
			h.schedule(g.when(at), true, func(time.Time) error {
				if !slices.ContainsFunc(h.s.l.Details.GPPractices, func(l location.GPLink) bool { return l.PracticeCode == practice.ID }) {
					return nil
				}
				return h.s.apply("")(location.DecideUnlinkGPPractice(h.s.l, location.UnlinkGPPractice{
					LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, PracticeCode: practice.ID}))
			})
		}
	}
}

// reviews: some users check a section and save it unchanged, which
// records DetailsConfirmed.
func (h *history) reviews() {
	g := h.g
	for range g.weighted(40, 35, 18, 7) {
		at := g.when(g.start)
		switch g.weighted(45, 35, 10, 10) {
		case 0:
			h.schedule(at, true, h.editAddress(func(*location.Address) {}))
		case 1:
			h.schedule(at, true, func(time.Time) error {
				return h.editClassification(h.s.l.Details.OwnershipType)(at)
			})
		case 2:
			h.schedule(at, true, func(at time.Time) error {
				return h.s.apply("")(location.DecideEditPAMMS(h.s.l, location.EditPAMMS{
					LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, PAMMS: h.s.l.Details.PAMMS}, at))
			})
		default:
			h.schedule(at, true, func(time.Time) error {
				links := h.s.l.Details.GPPractices
				if len(links) == 0 {
					return nil
				}
				practice := h.g.practices[h.g.practiceIndex[links[0].PracticeCode]]
				return h.s.apply("")(location.DecideLinkGPPractice(h.s.l, practice, location.LinkGPPractice{
					LocationID: h.s.l.LocationID, ExpectedVersion: h.s.l.Version, PracticeCode: links[0].PracticeCode}))
			})
		}
	}
}

// cqcChanges: CQC's imports over the year brought new ratings for some
// locations, deregistered a few and marked others dormant or active.
func (h *history) cqcChanges() {
	g := h.g
	reimport := func(change func(r *location.CQCRecord, at time.Time)) {
		h.schedule(g.when(g.start), false, func(at time.Time) error {
			next := h.s.l.CQC
			change(&next, at)
			return h.s.apply("")(location.DecideCQCImport(h.s.l, next))
		})
	}
	if g.chance(0.07) {
		reimport(func(r *location.CQCRecord, at time.Time) {
			overall := g.rating()
			report := at.AddDate(0, 0, -(3 + g.r.IntN(20)))
			r.Ratings = location.CQCRatings{
				Overall: overall, Safe: g.near(overall), Effective: g.near(overall), Caring: g.near(overall),
				Responsive: g.near(overall), WellLed: g.near(overall), ReportDate: date(report), ReportLinkID: newUUID(g.r).String(),
			}
			r.LastReportDate = r.Ratings.ReportDate
			r.LastInspectionDate = date(report.AddDate(0, 0, -(20 + g.r.IntN(40))))
		})
	}
	switch {
	case g.chance(0.01):
		reimport(func(r *location.CQCRecord, at time.Time) {
			r.RegistrationStatus, r.DeregistrationDate = location.StatusDeregistered, date(at.AddDate(0, 0, -g.r.IntN(10)))
		})
	case !h.org.careHome && g.chance(0.015):
		reimport(func(r *location.CQCRecord, at time.Time) {
			r.Dormant, r.DormantSince = !r.Dormant, ""
			if r.Dormant {
				r.DormantSince = date(at.AddDate(0, 0, -g.r.IntN(10)))
			}
		})
	}
}
