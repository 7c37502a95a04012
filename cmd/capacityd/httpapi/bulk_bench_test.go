package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/xuri/excelize/v2"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/eventstore"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/projtest"
	"github.com/capacitytracker/capacity/projections/search"
)

// bulkBenchLocations is the size of the benchmarks' organisation.
const bulkBenchLocations = 1000

// bulkFixture is a server over a store of one backend holding an
// organisation of bulkBenchLocations locations, and a support user's
// session token.
type bulkFixture struct {
	store  commands.Store
	server http.Handler
	token  string
	orgID  string
	logs   *projtest.LogBuffer
}

func newBulkFixture(b *testing.B, backend string) *bulkFixture {
	b.Helper()
	ctx := context.Background()
	store, pb := projtest.Open(b, backend)
	// Kept for the message of a failed request.
	logs := &projtest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fx := &bulkFixture{store: store, orgID: "1-900000000", logs: logs}

	// The organisation and its locations, a thousand streams an append.
	org, err := eventstore.NewEvent(location.TypeOrganisationRegistered, location.OrganisationRegistered{
		OrganisationID: fx.orgID, Name: "Bulk Home Care Ltd", Type: location.HomeCare}, eventstore.Metadata{Command: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	reqs := []eventstore.AppendRequest{{StreamID: location.OrganisationStream(fx.orgID), Expected: eventstore.NoStream, Events: []eventstore.EventData{org}}}
	for i := range bulkBenchLocations {
		id := fmt.Sprintf("1-9%08d", i)
		ev, err := eventstore.NewEvent(location.TypeLocationRegistered, location.LocationRegistered{
			LocationID: id, OrganisationID: fx.orgID, OrganisationName: "Bulk Home Care Ltd", Name: fmt.Sprintf("Bulk Home Care %04d", i),
			AddressLine1: "1 High Street", Town: "Barnstaple", Postcode: "EX31 1PQ"}, eventstore.Metadata{Command: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, eventstore.AppendRequest{StreamID: location.LocationStream(id), Expected: eventstore.NoStream, Events: []eventstore.EventData{ev}})
	}
	for chunk := range slices.Chunk(reqs, 1000) {
		if _, err := store.AppendMany(ctx, chunk); err != nil {
			b.Fatal(err)
		}
	}

	engine, err := projections.NewEngine(pb, logger, search.Projection{})
	if err != nil {
		b.Fatal(err)
	}
	srv, accounts, _ := benchServer(b, store, pb, engine, logger)
	fx.token = benchSupportSession(b, accounts, store)
	runToHead(b, pb, engine, 2*time.Minute)
	fx.server = srv
	return fx
}

// benchSupportSession creates a support user, sets their password
// through the emailed link and logs in: the session token.
func benchSupportSession(b *testing.B, accounts *commands.Service, store commands.Store) string {
	b.Helper()
	ctx := context.Background()
	email, pw := "bulk.bench@necsu.example.nhs.uk", newPassword()
	reg, err := accounts.CreateSupportUser(ctx, commands.System("bench"), email, "Bulk Bench")
	if err != nil {
		b.Fatal(err)
	}
	evs, err := store.ReadStream(ctx, account.UserStream(reg.UserID), eventstore.ReadStreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var linkID uuid.UUID
	for _, ev := range evs {
		if d, err := account.Decode(ev.Type, ev.Data); err == nil {
			if l, ok := d.(account.PasswordLinkIssued); ok {
				linkID = l.LinkID
			}
		}
	}
	if _, err := accounts.SetPasswordWithLink(ctx, commands.Request{}, account.LinkToken(accounts.LinkKey(), reg.UserID, linkID), pw); err != nil {
		b.Fatal(err)
	}
	res, err := accounts.Login(ctx, commands.Request{}, email, pw, false)
	if err != nil {
		b.Fatal(err)
	}
	return res.Token
}

// serve runs a request through the server, as support.
func (fx *bulkFixture) serve(b *testing.B, req *http.Request) *httptest.ResponseRecorder {
	req.Header.Set("Authorization", "Bearer "+fx.token)
	rec := httptest.NewRecorder()
	fx.server.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		b.Fatalf("%s %s: %d %s\nserver log:\n%s", req.Method, req.URL, rec.Code, rec.Body, fx.logs.String())
	}
	return rec
}

// template downloads the organisation's template.
func (fx *bulkFixture) template(b *testing.B) []byte {
	rec := fx.serve(b, httptest.NewRequest(http.MethodGet, bulkTemplatePath+"?organisation_id="+fx.orgID, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("template: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// completeTemplate answers every row of both sheets; the Manager's name
// ends with suffix. bad puts a cross-field error in every Home Care row.
func completeTemplate(b *testing.B, template []byte, suffix string, bad bool) []byte {
	b.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(template))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	confirmed := 1
	if bad {
		confirmed = 99
	}
	for r := 2; r <= bulkBenchLocations+1; r++ {
		home := []any{10, confirmed, 2, 8, 1, "Between 3 days and a week", "Yes", 12, "Short of aprons"}
		if err := f.SetSheetRow("Home Care", fmt.Sprintf("D%d", r), &home); err != nil {
			b.Fatal(err)
		}
		manager := []any{"Manager " + suffix, "0191 555 0100", "manager@bulk.example.org", "No"}
		if err := f.SetSheetRow("Contacts", fmt.Sprintf("D%d", r), &manager); err != nil {
			b.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func uploadRequest(b *testing.B, file []byte) *http.Request {
	b.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("acknowledgement", httpapi.BulkAcknowledgement); err != nil {
		b.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", "bulk.xlsx")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		b.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/bulk-update", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

// BenchmarkBulkTemplate measures the template download of an
// organisation of 1,000 locations (support's GET
// /api/v1/bulk-update/template.xlsx?organisation_id=), on each backend.
//
//	go test ./cmd/capacityd/httpapi -run '^$' -bench BulkTemplate -benchtime 5x
func BenchmarkBulkTemplate(b *testing.B) {
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			fx := newBulkFixture(b, backend)
			var size int
			measure(b, "download", func() { size = len(fx.template(b)) })
			b.ReportMetric(bulkBenchLocations, "rows")
			b.ReportMetric(float64(size)/1e3, "kB")
		})
	}
}

// BenchmarkBulkUpload measures the upload of a completed template of
// 1,000 locations (1,000 daily updates and 1,000 Manager contacts: 2,001
// streams appended in one step), read, validated and applied through the
// server's handler, on each backend; and the upload of the same file
// with an error in every Home Care row (Rejected: validated, nothing
// applied, the annotated file returned). The target is under 2 s an
// upload.
//
//	go test ./cmd/capacityd/httpapi -run '^$' -bench BulkUpload -benchtime 5x
func BenchmarkBulkUpload(b *testing.B) {
	for _, backend := range projtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			fx := newBulkFixture(b, backend)
			template := fx.template(b)
			// Two files that change every Manager, used in turn, so
			// that every upload appends as much.
			files := [][]byte{completeTemplate(b, template, "A", false), completeTemplate(b, template, "B", false)}
			b.Run("Applied", func(b *testing.B) {
				i := 0
				var res httpapi.BulkUploadResult
				measure(b, "upload", func() {
					rec := fx.serve(b, uploadRequest(b, files[i%2]))
					i++
					if rec.Code != http.StatusCreated {
						b.Fatalf("upload: %d %.500s", rec.Code, rec.Body)
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.DailyUpdates != bulkBenchLocations {
						b.Fatalf("upload: %+v, %v", res, err)
					}
				})
				b.ReportMetric(float64(res.DailyUpdates+res.ContactsAdded+res.ContactsUpdated), "rows-applied")
				b.ReportMetric(float64(len(files[0]))/1e3, "file-kB")
			})
			bad := completeTemplate(b, template, "C", true)
			b.Run("Rejected", func(b *testing.B) {
				measure(b, "upload", func() {
					rec := fx.serve(b, uploadRequest(b, bad))
					if rec.Code != http.StatusUnprocessableEntity {
						b.Fatalf("upload: %d %.500s", rec.Code, rec.Body)
					}
				})
			})
		})
	}
}
