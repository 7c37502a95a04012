package web_test

import (
	"context"
	"fmt"

	"github.com/chromedp/chromedp"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
)

// The providers' world of the Home Care Providers and Find Providers
// tests, on top of newSite's Cranberry Home Care (1-200 of Cranberry Care
// Services, 1-100), imported from CQC records:
//
//	1-100000001 Bramble Care Group: 1-110000001 Bramble Court (London,
//	      Independent, rated Good; a public Manager, a private Plumber, a
//	      note), 1-110000002 Bramble Meadows (East Midlands, so Midlands;
//	      NHS; Outstanding), 1-110000003 Bramble House (no region)
//	1-400000000 Damson Domiciliary Care: 1-400000001 to 1-400000009
//	      Damson Branch 1 to 9 (Yorkshire & Humberside, postcodes LS1 to LS9)
//
// 13 locations: support's list is two pages of 10.
type providersWorld struct {
	// kim is a Standard user of Bramble's three locations; rosa the
	// Approver of Cranberry (another organisation); sam support.
	kim, rosa, sam person
}

const (
	bramble        = "1-100000001"
	brambleCourt   = "1-110000001"
	brambleMeadows = "1-110000002"
	brambleHouse   = "1-110000003"
	damson         = "1-400000000"
	publicManager  = "Mary Manager"
	privatePlumber = "Pete Pipes"
	courtNote      = "Step-free access at the side door."
)

// damsonBranch is the id of Damson Branch n.
func damsonBranch(n int) string { return fmt.Sprintf("1-40000000%d", n) }

func (s *site) providersWorld() providersWorld {
	s.t.Helper()
	ctx := context.Background()
	sys := commands.System("test")
	recs := []location.CQCRecord{
		{LocationID: brambleCourt, ProviderID: bramble, ProviderName: "Bramble Care Group", Name: "Bramble Court",
			AddressLine1: "3 Court Road", Town: "London", Postcode: "SW1A 1AA", CQCRegion: "London", NHSRegion: location.NHSRegion("London"),
			LocalAuthority: "Westminster", RegistrationStatus: location.StatusRegistered,
			Ratings: location.CQCRatings{Overall: location.RatingGood, Safe: location.RatingGood, Caring: location.RatingOutstanding}},
		{LocationID: brambleMeadows, ProviderID: bramble, ProviderName: "Bramble Care Group", Name: "Bramble Meadows",
			AddressLine1: "4 Meadow Lane", Town: "Nottingham", Postcode: "NG1 1AA", CQCRegion: "East Midlands",
			NHSRegion: location.NHSRegion("East Midlands"), LocalAuthority: "Nottingham", RegistrationStatus: location.StatusRegistered,
			Ratings: location.CQCRatings{Overall: location.RatingOutstanding}},
		{LocationID: brambleHouse, ProviderID: bramble, ProviderName: "Bramble Care Group", Name: "Bramble House",
			AddressLine1: "5 House Street", Town: "Northampton", Postcode: "NN3 1AA", RegistrationStatus: location.StatusRegistered},
	}
	for i := 1; i <= 9; i++ {
		recs = append(recs, location.CQCRecord{LocationID: damsonBranch(i), ProviderID: damson,
			ProviderName: "Damson Domiciliary Care", Name: fmt.Sprintf("Damson Branch %d", i), AddressLine1: "5 Damson Way",
			Town: "Leeds", Postcode: fmt.Sprintf("LS%d 1AA", i), CQCRegion: "Yorkshire & Humberside",
			NHSRegion: location.NHSRegion("Yorkshire & Humberside"), LocalAuthority: "Leeds", RegistrationStatus: location.StatusRegistered})
	}
	sum, err := s.accounts.ImportCQC(ctx, sys, recs)
	if err != nil || sum.Rejected > 0 {
		s.t.Fatalf("import the providers: %+v, %v", sum, err)
	}
	edit := func(id string, cmd func(version int64) (commands.Edited, error)) {
		s.t.Helper()
		p, err := s.accounts.LocationProfile(ctx, sys, id)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := cmd(p.Version); err != nil {
			s.t.Fatalf("edit %s: %v", id, err)
		}
	}
	for id, ownership := range map[string]string{brambleCourt: "Independent", brambleMeadows: "NHS"} {
		edit(id, func(v int64) (commands.Edited, error) {
			return s.accounts.EditClassification(ctx, sys, location.EditClassification{LocationID: id, ExpectedVersion: v, OwnershipType: ownership})
		})
	}
	edit(brambleCourt, func(v int64) (commands.Edited, error) {
		return s.accounts.AddContact(ctx, sys, location.AddContact{LocationID: brambleCourt, ExpectedVersion: v, Contact: location.ContactInput{
			Role: "Manager", Name: publicManager, Phones: "0191 555 0100", Email: "mary.manager@bramble.example.org", Public: true}})
	})
	edit(brambleCourt, func(v int64) (commands.Edited, error) {
		return s.accounts.AddContact(ctx, sys, location.AddContact{LocationID: brambleCourt, ExpectedVersion: v, Contact: location.ContactInput{
			Role: "Plumber", Name: privatePlumber, Phones: "0191 555 0199"}})
	})
	edit(brambleCourt, func(v int64) (commands.Edited, error) {
		return s.accounts.AddNote(ctx, sys, location.AddNote{LocationID: brambleCourt, ExpectedVersion: v, Text: courtNote})
	})

	w := providersWorld{}
	w.sam = s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
	w.rosa = s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
	w.kim = person{Email: "kim.carer@bramble.example.org", Name: "Kim Carer", Password: "Kim-cares-a-lot-2026"}
	reg, err := s.accounts.Register(ctx, commands.Request{}, account.Register{
		Email: w.kim.Email, FullName: w.kim.Name, Phone: "0191 691 0000", JobTitle: "Care Worker", UserType: "standard",
		OrganisationType: string(location.HomeCare), LocationIDs: []string{brambleCourt, brambleMeadows, brambleHouse}, TermsAccepted: true})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.accounts.DecideAccess(ctx, sys, reg.UserID, reg.RequestID, bramble, true, ""); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.accounts.SetPasswordWithLink(ctx, commands.Request{}, s.linkToken(w.kim.Email), w.kim.Password); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
	return w
}

// choose picks the option of the select with the label, by typing its
// start as a person does on a focused select (the browser's own
// type-ahead: no script of the page).
func (b *tab) choose(label, option string) {
	b.t.Helper()
	sel := `//select[@id=//label[normalize-space(.)=` + xpathLiteral(label) + `]/@for]`
	b.do(fmt.Sprintf("choose %q in %q", option, label), chromedp.WaitVisible(sel), chromedp.Focus(sel), chromedp.KeyEvent(option))
}
