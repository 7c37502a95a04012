package web_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/capacitytracker/capacity/projections/projtest"
)

// TestWeb_Screenshots photographs the main pages at a desktop and a phone
// width. With -screenshots=DIR it writes them there (the README's, under
// docs/screenshots, come from
// `go test ./cmd/capacityd/web -run TestWeb_Screenshots -args -screenshots=../../../docs/screenshots`);
// otherwise the first at each width in the test's artifact directory, to
// check that they are made.
func TestWeb_Screenshots(t *testing.T) {
	t.Parallel()
	dir := *screenshotDir
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, projtest.SQLite)
	sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
	s.newSupport("pat.new@necsu.example.nhs.uk", "Pat New")
	office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")
	setPassword := s.link("pat.new@necsu.example.nhs.uk")
	s.register("kim.carer@cranberry.example.org", "Kim Carer")
	rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
	s.plumLodge()
	s.registerForPlumLodge("lee.plum@plumtree.example.org", "Lee Plum")

	atEachWidth(t, s, dir, func(b *tab, shoot func(name string)) {
		b.open("/sign-in")
		shoot("sign-in")
		b.fill("Email address", sam.Email)
		b.press("Sign in")
		shoot("sign-in-error")
		b.fill("Password", sam.Password)
		b.press("Sign in")
		b.sees("Main Menu")
		shoot("main-menu")
		b.follow("Approve/Reject Users")
		shoot("approve-reject-users")
		b.open("/organisations/1-100/users")
		shoot("users-of-organisation")
		b.follow("Deactivate Cranberry Office")
		shoot("deactivate-user")
		b.open("/support")
		shoot("support")
		b.open("/my-details")
		shoot("my-details")
		b.follow("Help")
		shoot("help")
		b.open("/change-password")
		shoot("change-password")
		b.press("Sign out")
		b.open("/sign-in")
		b.fill("Email address", rosa.Email)
		b.fill("Password", rosa.Password)
		b.press("Sign in")
		b.open("/my-access?by=local_authority&q=West+Northamptonshire")
		b.press("Request access")
		shoot("my-access-error")
		b.press("Sign out")
		b.open(setPassword)
		shoot("set-password")
		b.open("/no-such-page")
		shoot("not-found")
		b.open("/register")
		shoot("register-your-details")
		b.fill("Email address", "lee.new@cranberry.example.org")
		b.fill("Full name", "Lee New")
		b.fill("Contact number", "0191 691 0000")
		b.fill("Job title", "Care Worker")
		b.press("Next")
		b.tick("Home Care")
		b.fill("Postcode of a location", "NN1 1NN")
		b.press("Search")
		shoot("register-organisation-details")
		b.open("/sign-in")
		b.fill("Email address", office.Email)
		b.fill("Password", office.Password)
		b.press("Sign in")
		b.sees("This is a generic account")
		shoot("generic-disclaimer")
	})

	// A list longer than a page: the last page of an Approver's 30
	// requests, with the pagination (a site of its own, so that the first
	// pages above stay short).
	crowd := newSite(t, projtest.SQLite)
	approver := crowd.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
	first := []string{"Amira", "Ben", "Chloe", "Dev", "Ella", "Finn"}
	last := []string{"Ahmed", "Brown", "Clarke", "Davies", "Evans"}
	crowd.registerMany(30, 0, func(i int) string { return first[i%len(first)] + " " + last[i/len(first)] })
	for _, width := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 375, 812, true}} {
		b := openTab(t, crowd, true)
		opts := []chromedp.EmulateViewportOption{}
		if width.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("set the window size", chromedp.EmulateViewport(width.width, width.height, opts...))
		b.open("/sign-in")
		b.fill("Email address", approver.Email)
		b.fill("Password", approver.Password)
		b.press("Sign in")
		b.open("/approvals?page=2")
		png := get(b, "take a screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, "approve-reject-users-page-2-"+width.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// atEachWidth opens a tab of s with JavaScript at a desktop and at a
// phone width and runs fn in each; its shoot writes a full-page PNG of
// the tab's page to dir as NAME-desktop.png or NAME-phone.png (without
// -screenshots, only the first of each tab, in the test's artifact
// directory).
func atEachWidth(t *testing.T, s *site, dir string, fn func(b *tab, shoot func(name string))) {
	t.Helper()
	for _, width := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 375, 812, true}} {
		b := openTab(t, s, true)
		opts := []chromedp.EmulateViewportOption{}
		if width.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("set the window size", chromedp.EmulateViewport(width.width, width.height, opts...))
		shots := 0
		fn(b, func(name string) {
			t.Helper()
			shots++
			if *screenshotDir == "" && shots > 1 {
				// Without -screenshots nobody looks at them: the first
				// shows that the tab can be photographed, and the journey
				// (every page, checked by axe-core at this width) goes on.
				return
			}
			png := get(b, "take a screenshot", chromedp.FullScreenshot(100))
			if !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("%s: not a PNG", name)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+width.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
