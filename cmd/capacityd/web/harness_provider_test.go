package web_test

// Helpers of the provider pages' tests (Edit Provider, Care Quality).

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
)

// gpPractice registers a GP practice of the GP register.
func (s *site) gpPractice(code, name string) {
	s.t.Helper()
	if _, err := s.accounts.RegisterOrganisation(context.Background(), commands.System("test"), location.RegisterOrganisation{
		OrganisationID: code, Name: name, Type: string(location.GP)}); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
}

// plumApprover is the registered manager of Plum Lodge (location 1-301 of
// organisation 1-300): an Approver of another organisation than
// Cranberry's.
func (s *site) plumApprover(email, name string) person {
	s.t.Helper()
	s.plumLodge()
	if _, _, err := s.accounts.ImportManager(context.Background(), commands.System("test"), account.ImportManager{
		LocationID: "1-301", FullName: name, Email: email, Phone: "0191 555 0101"}); err != nil {
		s.t.Fatal(err)
	}
	p := person{Email: email, Name: name, Password: "Plum-manager-2026"}
	if _, err := s.accounts.SetPasswordWithLink(context.Background(), commands.Request{}, s.linkToken(email), p.Password); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// profile is location 1-200 as the commands fold it from its stream.
func (s *site) profile() location.Profile {
	s.t.Helper()
	p, err := s.accounts.LocationProfile(context.Background(), commands.System("test"), "1-200")
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

var (
	formPattern  = regexp.MustCompile(`(?s)<form action="([^"]*)" method="post"[^>]*>(.*?)</form>`)
	inputPattern = regexp.MustCompile(`<input [^>]*>|(?s)<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>|(?s)<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>`)
	attrPattern  = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
	selected     = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

// formOf is the posted form of the page whose action is action: every
// field as a browser would send it (checked radios only), so that a test
// changes what a person would and posts the rest as it was.
func formOf(t *testing.T, body, action string) url.Values {
	t.Helper()
	for _, m := range formPattern.FindAllStringSubmatch(body, -1) {
		if html.UnescapeString(m[1]) != action {
			continue
		}
		out := url.Values{}
		for _, in := range inputPattern.FindAllStringSubmatch(m[2], -1) {
			switch {
			case in[1] != "":
				out.Set(in[1], html.UnescapeString(in[2]))
				continue
			case in[3] != "":
				if sel := selected.FindStringSubmatch(in[4]); sel != nil {
					out.Set(in[3], html.UnescapeString(sel[1]))
				} else {
					out.Set(in[3], "")
				}
				continue
			}
			attrs := map[string]string{}
			for _, a := range attrPattern.FindAllStringSubmatch(in[0], -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			if attrs["name"] == "" {
				continue
			}
			if (attrs["type"] == "radio" || attrs["type"] == "checkbox") && !strings.Contains(in[0], " checked") {
				continue
			}
			out.Add(attrs["name"], attrs["value"])
		}
		return out
	}
	t.Fatalf("the page has no form to %s", action)
	return nil
}

// with is the form with fields set, as pairs.
func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// value is the value of the input named name on the page.
func value(body, name string) string {
	re := regexp.MustCompile(`<input [^>]*name="` + regexp.QuoteMeta(name) + `"[^>]*value="([^"]*)"`)
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}
