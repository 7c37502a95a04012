package web_test

// Helpers of the Surveys and bulk update tests: an Approver of another
// organisation (for the access table; the Standard user of location 1-200
// is users_test.go's standardUser), an open survey, the bulk template filled with excelize,
// LibreOffice's copy of a workbook, and multipart uploads.

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
)

// otherOrganisation registers organisation 1-101 with location 1-300 and
// returns its Approver (its registered manager, imported from CQC).
func (s *site) otherOrganisation() person {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.accounts.RegisterOrganisation(ctx, commands.System("test"), location.RegisterOrganisation{
		OrganisationID: "1-101", Name: "Damson Domiciliary Care", Type: string(location.HomeCare)}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.accounts.RegisterLocation(ctx, commands.System("test"), location.RegisterLocation{
		LocationID: "1-300", OrganisationID: "1-101", Name: "Damson Home Care", AddressLine1: "2 Low Street",
		Town: "Kettering", Postcode: "NN16 0AA", LocalAuthority: "North Northamptonshire"}); err != nil {
		s.t.Fatal(err)
	}
	email := "dora.damson@damson.example.org"
	if _, _, err := s.accounts.ImportManager(ctx, commands.System("test"), account.ImportManager{
		LocationID: "1-300", FullName: "Dora Damson", Email: email, Phone: "0191 555 0199"}); err != nil {
		s.t.Fatal(err)
	}
	p := person{Email: email, Name: "Dora Damson", Password: "Damson-approver-2026"}
	if _, err := s.accounts.SetPasswordWithLink(ctx, commands.Request{}, s.linkToken(email), p.Password); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// signedIn is a client signed in as who (whose first page is where).
func (s *site) signedIn(who person, where string) *browserless {
	s.t.Helper()
	c := s.client()
	c.signIn(who, where)
	return c
}

func int64p(n int64) *int64 { return &n }

// openSurvey defines and publishes a survey for every location, open from
// an hour ago for a day, and waits for the views to show it. Its
// questions: a whole number (0 to 100), yes/no, a single choice, and an
// optional free text of at most 20 characters.
func (s *site) openSurvey(title string) string {
	s.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	res, err := s.accounts.DefineSurvey(ctx, commands.System("test"), survey.Form{
		Title: title,
		Questions: []survey.Question{
			{ID: "staff", Text: "How many staff have had the flu vaccine?", Type: survey.WholeNumber, Required: true, Min: int64p(0), Max: int64p(100)},
			{ID: "drivers", Text: "Do you have enough syringe drivers?", Type: survey.YesNo, Required: true},
			{ID: "ordering", Text: "How often do you order online?", Type: survey.SingleChoice, Required: true, Options: []string{"Daily", "Weekly", "Never"}},
			{ID: "notes", Text: "Anything else?", Type: survey.FreeText, MaxLength: 20},
		},
		OpensAt: now.Add(-time.Hour).Format(time.RFC3339), ClosesAt: now.Add(24 * time.Hour).Format(time.RFC3339),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.accounts.PublishSurvey(ctx, commands.System("test"), res.SurveyID); err != nil {
		s.t.Fatal(err)
	}
	s.settle()
	return res.SurveyID
}

// upload is a bulk upload form: the parts in the page's order.
type upload struct {
	csrf         string
	acknowledged bool
	fileName     string // "" sends the file part without a file, as a browser does
	file         []byte
}

// postUpload sends the upload page's multipart form.
func (b *browserless) postUpload(u upload) page {
	b.s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	must := func(err error) {
		if err != nil {
			b.s.t.Fatal(err)
		}
	}
	must(mw.WriteField("csrf_token", u.csrf))
	if u.acknowledged {
		must(mw.WriteField("acknowledgement", "yes"))
	}
	fw, err := mw.CreateFormFile("file", u.fileName)
	must(err)
	_, err = fw.Write(u.file)
	must(err)
	must(mw.Close())
	req, err := http.NewRequest(http.MethodPost, b.s.url+"/bulk-update", &body)
	must(err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.s.url)
	return b.do(req)
}

// template downloads the bulk template as the client's person.
func (b *browserless) template(query string) *excelize.File {
	b.s.t.Helper()
	p := b.get("/bulk-update/template" + query)
	if p.Status != http.StatusOK || !strings.Contains(p.Header.Get("Content-Disposition"), ".xlsx") {
		b.s.t.Fatalf("template: %d %q:\n%.2000s", p.Status, p.Header.Get("Content-Disposition"), p.Body)
	}
	f, err := excelize.OpenReader(strings.NewReader(p.Body))
	if err != nil {
		b.s.t.Fatal(err)
	}
	return f
}

// filled is the template with cells set: sheet, cell, value triples.
func filled(t testing.TB, f *excelize.File, cells ...any) []byte {
	t.Helper()
	for i := 0; i+2 < len(cells); i += 3 {
		if err := f.SetCellValue(cells[i].(string), cells[i+1].(string), cells[i+2]); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// dailyRow is a Home Care row of location 1-200 (row 2), with the number
// of people using the service as given: "twelve" is the one bad cell.
func dailyRow(serviceUsers any) []any {
	return []any{
		"Home Care", "D2", serviceUsers, "Home Care", "E2", 1, "Home Care", "F2", 2, "Home Care", "G2", 10,
		"Home Care", "H2", 3, "Home Care", "I2", "More than a week", "Home Care", "J2", "Yes", "Home Care", "K2", 20,
	}
}

// libreOfficeCopy is a workbook opened and saved again by LibreOffice
// (soffice --headless --convert-to xlsx).
func libreOfficeCopy(t testing.TB, data []byte) []byte {
	t.Helper()
	soffice := ""
	for _, name := range []string{"soffice", "libreoffice"} {
		if p, err := exec.LookPath(name); err == nil {
			soffice = p
			break
		}
	}
	if soffice == "" {
		t.Fatal("LibreOffice is needed: apt-get install -y --no-install-recommends libreoffice-calc-nogui")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "completed.xlsx")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, soffice, "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--headless", "--norestore", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", outDir, in)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	saved, err := os.ReadFile(filepath.Join(outDir, "completed.xlsx"))
	if err != nil {
		t.Fatalf("LibreOffice wrote nothing: %v", err)
	}
	if bytes.Equal(saved, data) {
		t.Fatal("LibreOffice's file is the same bytes")
	}
	return saved
}
