package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// The bulk update (the guide's "Business Continuity & Vacancy Update"):
//
//	GET  /api/v1/bulk-update/template.xlsx[?organisation_id=]
//	POST /api/v1/bulk-update
//
// The template lists the locations the caller may update: their own (of
// one organisation with ?organisation_id=); support must name the
// organisation. The upload is multipart/form-data with two parts, in
// this order:
//
//   - acknowledgement: BulkAcknowledgement word for word (white space
//     around it aside): the upload page's tick box. Without it, or when
//     it comes after the file, the answer is 400 with that sentence as
//     its message, and the file is not read.
//   - file: the completed workbook (.xlsx), at most MaxBulkFileBytes
//     (413 beyond).
//
// A file that cannot be read as the template is 400. Rows are validated
// with the forms' rules; any invalid row rejects the upload with 422 (a
// BulkUploadRejected: every error, and the file back with the bad cells
// highlighted and commented) and nothing is applied. Otherwise every row
// is applied in one atomic step and the answer is 201 (a
// BulkUploadResult).

// Paths of the bulk update.
const (
	bulkUploadPath   = "/api/v1/bulk-update"
	bulkTemplatePath = "/api/v1/bulk-update/template.xlsx"
)

// BulkAcknowledgement is the sentence an upload must acknowledge, word
// for word.
const BulkAcknowledgement = commands.BulkAcknowledgement

// MaxBulkFileBytes bounds an uploaded file: 10 MiB.
const MaxBulkFileBytes = commands.MaxBulkFileBytes

// BulkUploadBodyBytes is the upload routes' body limit (the API's and the
// upload page's): the file, and room for the form around it.
const BulkUploadBodyBytes = MaxBulkFileBytes + 64<<10

// bodyLimit is a request's body limit: the upload route's own, or the
// server's for every other route.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && r.URL.Path == bulkUploadPath {
		return max(s.maxBody, BulkUploadBodyBytes)
	}
	return s.maxBody
}

// bulkRoutes is the bulk update's surface.
func (s *Server) bulkRoutes(api *mux.Router) {
	api.HandleFunc(strings.TrimPrefix(bulkTemplatePath, "/api/v1"), s.authed(s.handleBulkTemplate)).Methods(http.MethodGet)
	api.HandleFunc(strings.TrimPrefix(bulkUploadPath, "/api/v1"), s.authed(s.limitedUpload(s.handleBulkUpload))).Methods(http.MethodPost)
}

// BulkTemplateLocations are the locations the caller's template lists,
// before the commands keep those the caller may update: their own (of
// organisationID when given); support must name the organisation. The
// API's template route and the upload page's share it.
func BulkTemplateLocations(ctx context.Context, q *queries.Service, a commands.Actor, organisationID string) ([]string, error) {
	org := strings.TrimSpace(organisationID)
	if _, err := location.ParseID(org); org != "" && err != nil {
		return nil, domain.Invalid("organisation_id", "invalid_id", "organisation_id is not an organisation's id")
	}
	var ids []string
	if !a.User.IsSupport() {
		for id, o := range a.User.Locations {
			if org == "" || o == org {
				ids = append(ids, id)
			}
		}
		return ids, nil
	}
	if org == "" {
		return nil, domain.Invalid("organisation_id", "required", "Choose the organisation whose locations the template lists")
	}
	err := q.EachHomeCare(ctx, viewer(a), queries.HomeCareQuery{OrganisationID: org}, func(e queries.HomeCareEntry) error {
		ids = append(ids, e.LocationID)
		return nil
	})
	return ids, err
}

// WriteBulkTemplate answers with the bulk template of the caller's
// locations (of organisationID, which support must give) as a download.
// An error is returned before anything is written, for the caller to
// answer in its own way (JSON, or a page).
func WriteBulkTemplate(w http.ResponseWriter, r *http.Request, logger *slog.Logger, cmds *commands.Service, q *queries.Service,
	a commands.Actor, organisationID string) error {
	ids, err := BulkTemplateLocations(r.Context(), q, a, organisationID)
	if err != nil {
		return err
	}
	rows, err := cmds.BulkTemplate(r.Context(), a, ids)
	if err != nil {
		return err
	}
	f, err := commands.BuildBulkTemplate(rows)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	name := fmt.Sprintf("bulk-update-template-%s.xlsx", time.Now().In(london).Format(time.DateOnly))
	w.Header().Set("Content-Type", XLSXContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := f.Write(w); err != nil {
		logger.WarnContext(r.Context(), "write bulk template", "err", err)
	}
	return nil
}

func (s *Server) handleBulkTemplate(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	if err := WriteBulkTemplate(w, r, s.logger, s.commands, s.queries, a, r.URL.Query().Get("organisation_id")); err != nil {
		s.writeErr(w, r, err)
	}
}

// BulkCellError is an error of a rejected upload, and where it is.
type BulkCellError = commands.BulkCellError

// BulkAnnotatedFile is the uploaded workbook with its bad cells filled
// red and commented. Data is base64 in JSON.
type BulkAnnotatedFile struct {
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// BulkUploadRejected is the 422 answer to an upload with invalid rows.
type BulkUploadRejected struct {
	Error  ErrorDetail     `json:"error"`
	Errors []BulkCellError `json:"errors"`
	// AnnotatedFile is absent only if the file could not be annotated.
	AnnotatedFile *BulkAnnotatedFile `json:"annotated_file,omitempty"`
}

// BulkUploadResult is the 201 answer to an applied upload.
type BulkUploadResult struct {
	UploadID string `json:"upload_id"`
	FileName string `json:"file_name"`
	SHA256   string `json:"sha256"`
	// Applied counts the rows applied, per sheet; Skipped the rows
	// without answers.
	Applied map[string]int `json:"applied"`
	Skipped map[string]int `json:"skipped"`
	// DailyUpdates counts the daily updates submitted; ContactsAdded and
	// ContactsUpdated the Manager contacts changed, ContactsUnchanged the
	// rows that matched the directory.
	DailyUpdates      int      `json:"daily_updates"`
	ContactsAdded     int      `json:"contacts_added"`
	ContactsUpdated   int      `json:"contacts_updated"`
	ContactsUnchanged int      `json:"contacts_unchanged"`
	LocationIDs       []string `json:"location_ids"`
	// Position of the last event appended, for read-your-writes.
	Position int64 `json:"position"`
}

var (
	errAcknowledgement = &errBody{status: http.StatusBadRequest, code: "acknowledgement_required", msg: BulkAcknowledgement}
	errBulkFileMissing = &errBody{status: http.StatusBadRequest, code: "file_required",
		msg: "Attach the completed template as the form's file part"}
	errBulkFileTooLarge = &errBody{status: http.StatusRequestEntityTooLarge, code: "file_too_large",
		msg: fmt.Sprintf("The file is larger than %d MB: upload the template with only its own sheets", MaxBulkFileBytes>>20)}
)

// bulkFormError is a multipart body that cannot be read: 413 past the
// limit, 400 otherwise.
func bulkFormError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &errBody{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds the limit of %d bytes", tooBig.Limit)}
	}
	return &errBody{http.StatusBadRequest, "invalid_form", "the body is not a well-formed multipart/form-data form"}
}

// readBulkForm reads the acknowledgement, then the file, from the form.
func readBulkForm(r *http.Request) (name string, data []byte, err error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		return "", nil, &errBody{http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the acknowledgement and the file as multipart/form-data"}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, bulkFormError(err)
	}
	acknowledged := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, bulkFormError(err)
		}
		switch part.FormName() {
		case "acknowledgement":
			v, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return "", nil, bulkFormError(err)
			}
			acknowledged = strings.TrimSpace(string(v)) == BulkAcknowledgement
		case "file":
			if !acknowledged {
				return "", nil, errAcknowledgement
			}
			data, err := io.ReadAll(io.LimitReader(part, MaxBulkFileBytes+1))
			if err != nil {
				return "", nil, bulkFormError(err)
			}
			if len(data) > MaxBulkFileBytes {
				return "", nil, errBulkFileTooLarge
			}
			return commands.BulkFileName(part.FileName()), data, nil
		}
		// Other parts are skipped (NextPart discards their rest).
	}
	if !acknowledged {
		return "", nil, errAcknowledgement
	}
	return "", nil, errBulkFileMissing
}

func (s *Server) handleBulkUpload(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	name, data, err := readBulkForm(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	file, err := commands.ReadBulkUpload(data)
	var unreadable *commands.BulkFileError
	if errors.As(err, &unreadable) {
		writeError(w, http.StatusBadRequest, unreadable.Code, unreadable.Message)
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	sum := sha256.Sum256(data)
	res, err := s.commands.ApplyBulkUpload(r.Context(), a, commands.BulkUpload{
		FileName: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)),
		DailyUpdates: file.DailyUpdates, Managers: file.Managers,
	})
	var rejected *commands.BulkRejectedError
	if errors.As(err, &rejected) {
		s.writeBulkRejected(w, r, name, data, file, rejected)
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, BulkUploadResult{
		UploadID: res.UploadID, FileName: res.FileName, SHA256: res.SHA256,
		Applied:      map[string]int{commands.SheetHomeCare: res.DailyUpdates, commands.SheetContacts: res.ContactsAdded + res.ContactsUpdated},
		Skipped:      map[string]int{commands.SheetHomeCare: file.Skipped[commands.SheetHomeCare], commands.SheetContacts: file.Skipped[commands.SheetContacts]},
		DailyUpdates: res.DailyUpdates, ContactsAdded: res.ContactsAdded, ContactsUpdated: res.ContactsUpdated,
		ContactsUnchanged: res.ContactsUnchanged, LocationIDs: res.LocationIDs, Position: res.Position,
	})
}

// writeBulkRejected answers 422 with every error, where it is, and the
// annotated file.
func (s *Server) writeBulkRejected(w http.ResponseWriter, r *http.Request, name string, data []byte, file commands.BulkFile, rejected *commands.BulkRejectedError) {
	errs := file.CellErrors(rejected)
	rows := map[[2]any]bool{}
	for _, e := range errs {
		rows[[2]any{e.Sheet, e.Row}] = true
	}
	body := BulkUploadRejected{
		Error: ErrorDetail{Status: http.StatusUnprocessableEntity, Code: "bulk_upload_invalid",
			Message: fmt.Sprintf("%d errors in %d rows: nothing was saved. Correct the highlighted cells and upload the file again", len(errs), len(rows))},
		Errors: errs,
	}
	annotated, err := commands.AnnotateBulkUpload(data, file, errs)
	if err != nil {
		s.logger.WarnContext(r.Context(), "annotate a rejected bulk upload", "err", err)
	} else {
		body.AnnotatedFile = &BulkAnnotatedFile{FileName: commands.AnnotatedBulkFileName(name), ContentType: XLSXContentType, Data: annotated}
	}
	writeJSON(w, http.StatusUnprocessableEntity, body)
}
