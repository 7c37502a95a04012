package web_test

import (
	"os"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/capacitytracker/capacity/projections/projtest"
)

func TestWeb_SupportFiltersSearchesSortsAndPagesTheHomeCareProviders(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		w := s.providersWorld()
		b.open("/sign-in")
		b.fill("Email address", w.sam.Email)
		b.fill("Password", w.sam.Password)
		b.press("Sign in")
		b.follow("Home Care Providers")
		b.sees("Manage your home care providers")
		b.reads("Showing 1 to 10 of 13 entries")
		b.follow("Next page")
		b.reads("Showing 11 to 13 of 13 entries")
		b.reads("Damson Branch 9")

		b.choose("Ownership Type", "Independent")
		b.press("Apply filters")
		b.reads("Showing 1 to 1 of 1 entries")
		b.reads("Bramble Court (SW1A1AA)")
		b.follow("Reset filters")

		b.fill("Parent Organisation", damson)
		b.fill("Search", "branch")
		b.press("Apply filters")
		b.reads("Showing 1 to 9 of 9 entries")
		// Sorted by name already: its header turns the order round.
		b.follow("Provider ▲")
		b.reads("Showing 1 to 9 of 9 entries")
		first := get(b, "read the first provider", chromedp.Text(chromedp.CSS("tbody tr td a")))
		if first != "Damson Branch 9 (LS91AA)" {
			b.fail("the first provider is %q, want Damson Branch 9", first)
		}
		b.follow("Reset filters")
		b.reads("Showing 1 to 10 of 13 entries")
	})
}

func TestWeb_AnyoneFindsProvidersWithTheirPublicContactsAndNotes(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		s.providersWorld()
		b.open("/find-providers")
		b.sees("Find Providers")
		b.reads("Showing 1 to 10 of 13 entries")
		b.fill("Search", "bramble court")
		b.press("Search")
		b.reads("Showing 1 to 1 of 1 entries")
		b.reads(publicManager)
		b.reads(courtNote)
		b.do("open More filters", chromedp.Click(`//summary[normalize-space(.)="More filters"]`))
		b.fill("Search", "")
		b.choose("NHS Region", "Midlands")
		b.press("Search")
		b.reads("Showing 1 to 1 of 1 entries")
		b.reads("Bramble Meadows")
		b.follow("Reset filters")
		b.follow("Next page")
		b.reads("Showing 11 to 13 of 13 entries")
	})
}

// TestWeb_ScreenshotsOfTheProviderPages photographs Home Care Providers
// and Find Providers at a desktop and a phone width, as TestWeb_Screenshots
// (with -screenshots=DIR, there).
func TestWeb_ScreenshotsOfTheProviderPages(t *testing.T) {
	t.Parallel()
	dir := *screenshotDir
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, projtest.SQLite)
	w := s.providersWorld()
	atEachWidth(t, s, dir, func(b *tab, shoot func(name string)) {
		b.open("/find-providers?q=bramble")
		shoot("find-providers")
		b.open("/sign-in")
		b.fill("Email address", w.sam.Email)
		b.fill("Password", w.sam.Password)
		b.press("Sign in")
		shoot("main-menu-support-with-providers")
		b.open("/home-care")
		shoot("home-care-providers")
		b.open("/home-care?ownership_type=Castle&page_size=7")
		shoot("home-care-providers-error")
		b.press("Sign out")
	})
}
