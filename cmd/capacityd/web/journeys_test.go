package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func TestWeb_NewSupportAccountSetsItsPasswordFromTheEmailAndSignsIn(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		s.newSupport("sam.support@necsu.example.nhs.uk", "Sam Support")

		b.open(s.link("sam.support@necsu.example.nhs.uk"))
		b.sees("Choose a password")
		b.reads("Password rules")
		b.fill("New password", "password")
		b.press("Set password")
		b.sees("Choose a password")
		b.reads("There is a problem")
		b.reads("This is one of the 10,000 most commonly used passwords")
		if title := b.title(); !strings.HasPrefix(title, "Error: ") {
			b.fail("title %q does not start with Error: ", title)
		}
		b.fill("New password", "Cranberry-sauce-2026")
		b.press("Set password")

		b.sees("Sign in to Capacity Tracker")
		b.reads("Your password is set. Sign in with it.")
		b.fill("Email address", "sam.support@necsu.example.nhs.uk")
		b.fill("Password", "Cranberry-sauce-2026")
		b.press("Sign in")
		b.sees("Main Menu")
		b.reads("Sam Support")
		b.follow("Help")
		b.sees("Help")
		b.reads("0191 691 3729")
		b.press("Sign out")
		b.sees("Sign in to Capacity Tracker")
		b.reads("You have signed out.")
	})
}

func TestWeb_PersonWhoForgotTheirPasswordResetsItByEmail(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")

		b.open("/sign-in")
		b.fill("Email address", sam.Email)
		b.fill("Password", "I-do-not-remember-1")
		b.press("Sign in")
		b.reads("The email address or password is not right")
		b.follow("Forgotten password?")
		b.sees("Reset your password")
		b.press("Email me a link")
		b.reads("Enter your email address")
		b.fill("Email address", sam.Email)
		b.press("Email me a link")
		b.sees("Check your email")

		b.open(s.link(sam.Email))
		b.fill("New password", "Blackcurrant-jam-2026")
		b.press("Set password")
		b.fill("Email address", sam.Email)
		b.fill("Password", "Blackcurrant-jam-2026")
		b.tick("Remember me")
		b.press("Sign in")
		b.sees("Main Menu")
	})
}

func TestWeb_GenericAccountReadsTheDisclaimerAndChangesItsFirstPassword(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		office := s.genericAccount("office@cranberry.example.org", "Cranberry Office")

		b.open("/sign-in")
		b.fill("Email address", office.Email)
		b.fill("Password", office.Password)
		b.press("Sign in")
		b.sees("This is a generic account")
		b.reads("shared by several people")
		b.press("I understand, continue")
		b.sees("Change your password")
		b.reads("Choose a new password first")
		b.fill("Current password", office.Password)
		b.fill("New password", "short")
		b.press("Change password")
		b.reads("There is a problem")
		b.fill("Current password", office.Password)
		b.fill("New password", "Plum-tree-orchard-2027")
		b.press("Change password")
		b.sees("Main Menu")
		b.reads("Your password has been changed.")
	})
}

func TestWeb_SignInToTheMainMenuWithTheKeyboardAlone(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		sam := s.activeSupport("sam.support@necsu.example.nhs.uk", "Sam Support")
		b := openTab(t, s, true)
		b.open("/sign-in")
		b.tabTo("a|Skip to main content")
		b.tabTo("input#email")
		b.key(sam.Email)
		b.tabTo("input#password")
		b.key(sam.Password)
		b.tabTo("input#remember_me")
		b.key(" ")
		b.tabTo("button|Sign in")
		b.navigateBy("press Enter on Sign in", chromedpKey(kb.Enter))
		b.sees("Main Menu")
		// The first tile is reachable, and Enter follows it.
		b.tabTo("a|Change your password")
		b.navigateBy("press Enter on the tile", chromedpKey(kb.Enter))
		b.sees("Change your password")
	})
}

// The accessibility check itself: a page with an unlabelled field and an
// image without text fails it.
func TestWeb_AccessibilityCheckFindsViolations(t *testing.T) {
	t.Parallel()
	b := openTab(t, nil, true)
	b.do("open a bad page", chromedp.Navigate(`data:text/html,<!DOCTYPE html><html><head><title>x</title></head><body><main><h1>x</h1><input type="text"><img src="x.png"></main></body></html>`))
	ids := map[string]bool{}
	for _, v := range b.axeViolations() {
		ids[v.ID] = true
	}
	if !ids["label"] || !ids["image-alt"] || !ids["html-has-lang"] {
		t.Errorf("axe-core found %v, want label, image-alt and html-has-lang", ids)
	}
}

// The accessibility check runs once per page (pageKey): two runs of a
// page that differ in their tokens, ids and numbers are one page; a page
// with another element, or at another width, is another.
func TestWeb_AccessibilityCheckKeysPagesByWhatAxeSees(t *testing.T) {
	t.Parallel()
	b := openTab(t, nil, true)
	page := func(token, id, showing, extra string) [32]byte {
		b.t.Helper()
		b.do("open a page", chromedp.Navigate(`data:text/html,<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><main><h1>x</h1>`+
			`<form><input type="hidden" name="csrf_token" value="`+token+`"><a href="/locations/`+id+`">Site</a>`+
			`<p>`+showing+`</p>`+extra+`</form></main></body></html>`))
		return b.pageKey()
	}
	first := page("c2VjcmV0", "0b6f8a9e-4a1c-4e2b-9d3f-1a2b3c4d5e6f", "Showing 1 to 10 of 13 entries", "")
	if again := page("b3RoZXI", "7c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "Showing 11 to 13 of 13 entries", ""); again != first {
		t.Error("one page with other tokens, ids and numbers has another key: axe-core would check it again")
	}
	if other := page("c2VjcmV0", "0b6f8a9e-4a1c-4e2b-9d3f-1a2b3c4d5e6f", "Showing 1 to 10 of 13 entries", `<input type="text">`); other == first {
		t.Error("a page with another field has the same key: axe-core would not check it")
	}
	b.do("narrow the window", chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile))
	if narrow := page("c2VjcmV0", "0b6f8a9e-4a1c-4e2b-9d3f-1a2b3c4d5e6f", "Showing 1 to 10 of 13 entries", ""); narrow == first {
		t.Error("the page at a phone's width has the same key: axe-core would not check it there")
	}
}

func TestWeb_ApproverApprovesANewUserWhoSetsAPasswordAndSignsIn(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		s.register("kim.carer@cranberry.example.org", "Kim Carer")

		b.open("/sign-in")
		b.fill("Email address", rosa.Email)
		b.fill("Password", rosa.Password)
		b.press("Sign in")
		b.follow("Approve/Reject Users")
		b.sees("Approve or reject users")
		b.reads("Kim Carer")
		b.press("Approve Kim Carer")
		b.reads("The request has been approved.")
		// The list waits a moment for its view; on a loaded machine it may
		// still show the request, so look again once the view has it.
		s.settle()
		b.open("/approvals")
		b.reads("There are no requests waiting for a decision.")
		b.press("Sign out")

		b.open(s.link("kim.carer@cranberry.example.org"))
		b.fill("New password", "Kim-cares-a-lot-2026")
		b.press("Set password")
		b.fill("Email address", "kim.carer@cranberry.example.org")
		b.fill("Password", "Kim-cares-a-lot-2026")
		b.press("Sign in")
		b.sees("Main Menu")
		b.reads("Kim Carer")
	})
}

func TestWeb_PersonChangesTheirCommunicationsChoiceAndCreatesAnAPIToken(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		rosa := s.approver("rosa.hill@cranberry.example.org", "Rosa Hill")
		b.open("/sign-in")
		b.fill("Email address", rosa.Email)
		b.fill("Password", rosa.Password)
		b.press("Sign in")
		b.follow("My Details")
		b.sees("My Details")
		b.reads("Approver")
		b.tick("Yes")
		b.press("Save communications choice")
		b.reads("Your communications choice has been saved.")
		b.press("Create token")
		b.reads("There is a problem")
		b.reads("Name the token in 1 to 100 characters")
		b.fill("Name of a new token", "Reporting script")
		b.press("Create token")
		b.reads("Copy it now: it is shown this once.")
		b.press("Revoke Reporting script")
		b.reads("The API token has been revoked")
		b.reads("You have no API tokens.")
	})
}

func TestWeb_StrangerRegistersInThreeSteps(t *testing.T) {
	eachBrowser(t, func(t *testing.T, s *site, b *tab) {
		b.open("/sign-in")
		b.follow("Register New account")
		b.sees("Register New account")
		b.fill("Email address", "kim.carer@cranberry.example.org")
		b.fill("Full name", "Kim Carer")
		b.fill("Contact number", "0191 691 0000")
		b.fill("Job title", "Care Worker")
		b.press("Next")
		b.reads("Organisation details")
		b.tick("Home Care")
		b.fill("Postcode of a location", "NN1 1NN")
		b.press("Search")
		b.tick("Cranberry Home Care, NN1 1NN (Cranberry Care Services)")
		b.press("Next")
		b.reads("Terms of Use and Communications")
		b.tick("I agree to the Terms of Use")
		b.tick("I do not agree to receive communications")
		b.press("Complete")
		b.sees("Your request has been sent")
	})
}
