package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain"
)

// Business Continuity & Vacancy Update (the guide's "Bulk Updates"): the
// template to download, and the completed file's upload, the Government
// Policy box ticked first. The workbook is the API's (commands/bulkxlsx.go:
// the same template, reader and marked-up copy); the rows are decided by
// commands.ApplyBulkUpload, all or none. The upload is a multipart form
// read a part at a time, in the page's order: the form token, the box,
// then the file, which is not read unless the box was ticked.

const bulkPath = "/bulk-update"

// Form fields of the upload.
const (
	fieldAcknowledgement = "acknowledgement"
	fieldFile            = "file"
	fieldOrganisation    = "organisation_id"
	// fieldBulkErrors names the table of a rejected upload's errors.
	fieldBulkErrors = "bulk-errors"
)

// mayBulkUpdate is the page's audience, as the commands decide: support
// (for an organisation it names), and the people with locations of their
// own.
func mayBulkUpdate(a commands.Actor) bool {
	return a.User.IsSupport() || len(a.User.Locations) > 0
}

// bulkApplied is the summary of an applied upload, from the redirect's
// query.
type bulkApplied struct {
	UploadID, FileName string
	Sheets             []bulkSheetCount
	// Audit is the address of the upload's audit, for those who may
	// read it; "" for the others.
	Audit string
}

type bulkSheetCount struct {
	Sheet            string
	Applied, Skipped int
}

// bulkRejected is a rejected upload as the page shows it.
type bulkRejected struct {
	FileName string
	Errors   []commands.BulkCellError
	Rows     int
	// MarkedUp is the address of the marked-up copy; "" if none.
	MarkedUp string
}

func (h *Handler) showBulkUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	var applied *bulkApplied
	if q := r.URL.Query(); q.Get("done") == "applied" && q.Get("upload") != "" {
		applied = &bulkApplied{UploadID: q.Get("upload"), FileName: q.Get("file")}
		for _, sheet := range []struct{ name, key string }{{commands.SheetHomeCare, "home_care"}, {commands.SheetContacts, "contacts"}} {
			n, _ := strconv.Atoi(q.Get(sheet.key))
			skipped, _ := strconv.Atoi(q.Get("skipped_" + sheet.key))
			applied.Sheets = append(applied.Sheets, bulkSheetCount{Sheet: sheet.name, Applied: max(n, 0), Skipped: max(skipped, 0)})
		}
		if v := httpapi.Viewer(s.actor); v.Auditor || len(v.ApproverOf) > 0 {
			applied.Audit = "/api/v1/audit.xlsx?" + url.Values{"bulk_upload_id": {applied.UploadID},
				"min_position": {q.Get("position")}}.Encode()
		}
	}
	h.renderBulkUpdate(w, r, http.StatusOK, s, newForm(), applied, nil)
}

func (h *Handler) renderBulkUpdate(w http.ResponseWriter, r *http.Request, status int, s *session, f *form,
	applied *bulkApplied, rejected *bulkRejected) {
	if !mayBulkUpdate(s.actor) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	notice := ""
	if applied != nil {
		notice = "Your upload has been applied."
	}
	h.render(w, r, status, "bulk-update", view{Title: "Business Continuity & Vacancy Update", User: s.user(), CSRF: s.csrf(),
		Form: f, Notice: notice, Data: map[string]any{
			"Support":         s.actor.User.IsSupport(),
			"Acknowledgement": commands.BulkAcknowledgement,
			"Accept":          commands.BulkXLSXTypes,
			"MaxMB":           commands.MaxBulkFileBytes >> 20,
			"Applied":         applied,
			"Rejected":        rejected,
		}})
}

// showBulkTemplate downloads the template of the person's locations;
// support names the organisation.
func (h *Handler) showBulkTemplate(w http.ResponseWriter, r *http.Request, s *session) {
	if !mayBulkUpdate(s.actor) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	org := r.URL.Query().Get(fieldOrganisation)
	err := httpapi.WriteBulkTemplate(w, r, h.logger, h.commands, h.queries, s.actor, org)
	f := newForm()
	f.Values[fieldOrganisation] = org
	if f.addValidation(err, nil) {
		h.renderBulkUpdate(w, r, http.StatusUnprocessableEntity, s, f, nil, nil)
		return
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

// bulkUploadBodyBytes is the upload's body limit: the API's, the file and
// the form around it (every other form keeps the port's own).
const bulkUploadBodyBytes = httpapi.BulkUploadBodyBytes

// isBulkUpload is the request whose body limit is the upload's.
func isBulkUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == bulkPath
}

// bulkTooLarge is the 413 page of a file over the limit.
func (h *Handler) bulkTooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	h.render(w, r, http.StatusRequestEntityTooLarge, "error", view{Title: "The file is too large",
		Data: map[string]any{"Status": http.StatusRequestEntityTooLarge, "Body": fmt.Sprintf(
			"The file you uploaded is larger than %d MB. Upload the completed template with only its own sheets, or split its rows into two files.",
			commands.MaxBulkFileBytes>>20)}})
}

// bulkForm is the upload as read: the file only when the box was ticked
// and the form token is right.
type bulkForm struct {
	csrfOK, acknowledged, fileChosen bool
	name                             string
	data                             []byte
}

var errBulkFileTooLarge = errors.New("bulk file too large")

// readBulkForm reads the parts in order, and stops at the file unless the
// form token and the box came before it.
func readBulkForm(r *http.Request, s *session) (bulkForm, error) {
	var out bulkForm
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		return out, errBadForm
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return out, errBadForm
	}
	small := func(p io.Reader) (string, error) {
		v, err := io.ReadAll(io.LimitReader(p, 1024))
		return string(v), err
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, formError(err)
		}
		switch part.FormName() {
		case csrfField:
			v, err := small(part)
			if err != nil {
				return out, formError(err)
			}
			out.csrfOK = v != "" && hmac.Equal([]byte(v), []byte(s.csrf()))
		case fieldAcknowledgement:
			v, err := small(part)
			if err != nil {
				return out, formError(err)
			}
			out.acknowledged = v == "yes"
		case fieldFile:
			out.fileChosen = part.FileName() != ""
			if !out.csrfOK || !out.acknowledged || !out.fileChosen {
				// Not read: the box comes first.
				return out, nil
			}
			data, err := io.ReadAll(io.LimitReader(part, commands.MaxBulkFileBytes+1))
			if err != nil {
				return out, formError(err)
			}
			if len(data) > commands.MaxBulkFileBytes {
				return out, errBulkFileTooLarge
			}
			out.name, out.data = commands.BulkFileName(part.FileName()), data
			out.fileChosen = len(data) > 0
			return out, nil
		}
	}
}

func formError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBulkFileTooLarge
	}
	return errBadForm
}

func (h *Handler) submitBulkUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	if !mayBulkUpdate(s.actor) {
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	if !h.allow(w, r, ratelimit.Upload, h.limits.Upload, s.actor.User.ID.String()) {
		return
	}
	up, err := readBulkForm(r, s)
	switch {
	case errors.Is(err, errBulkFileTooLarge):
		h.bulkTooLarge(w, r)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	case !up.csrfOK:
		h.errorPage(w, r, http.StatusForbidden)
		return
	}
	f := newForm()
	if up.acknowledged {
		f.Values[fieldAcknowledgement] = "yes"
	} else {
		// The guide's message, on the box; the file was not read.
		f.add(fieldAcknowledgement, "acknowledgement_required", commands.BulkAcknowledgement)
	}
	if !up.fileChosen {
		f.add(fieldFile, "file_required", "Select the completed template (an .xlsx file)")
	}
	if f.HasErrors() {
		h.renderBulkUpdate(w, r, http.StatusUnprocessableEntity, s, f, nil, nil)
		return
	}
	file, err := commands.ReadBulkUpload(up.data)
	var unreadable *commands.BulkFileError
	if errors.As(err, &unreadable) {
		f.add(fieldFile, unreadable.Code, unreadable.Message)
		h.renderBulkUpdate(w, r, http.StatusUnprocessableEntity, s, f, nil, nil)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sum := sha256.Sum256(up.data)
	res, err := h.commands.ApplyBulkUpload(r.Context(), s.actor, commands.BulkUpload{
		FileName: up.name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(up.data)),
		DailyUpdates: file.DailyUpdates, Managers: file.Managers,
	})
	var rejected *commands.BulkRejectedError
	var rule *domain.RuleError
	switch {
	case errors.As(err, &rejected):
		h.renderBulkRejected(w, r, s, f, up, file, rejected)
		return
	case errors.As(err, &rule) && (rule.Code == commands.ErrBulkNoRows.Code || rule.Code == commands.ErrBulkTooManyRows.Code):
		f.add(fieldFile, rule.Code, rule.Message)
		h.renderBulkUpdate(w, r, http.StatusUnprocessableEntity, s, f, nil, nil)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	q := url.Values{"done": {"applied"}, "upload": {res.UploadID}, "file": {res.FileName},
		"position":  {strconv.FormatInt(res.Position, 10)},
		"home_care": {strconv.Itoa(res.DailyUpdates)}, "contacts": {strconv.Itoa(res.ContactsAdded + res.ContactsUpdated)},
		"skipped_home_care": {strconv.Itoa(file.Skipped[commands.SheetHomeCare])},
		"skipped_contacts":  {strconv.Itoa(file.Skipped[commands.SheetContacts])}}
	redirect(w, r, bulkPath+"?"+q.Encode())
}

// renderBulkRejected shows every error of a rejected upload, and keeps
// the marked-up copy for the person to download.
func (h *Handler) renderBulkRejected(w http.ResponseWriter, r *http.Request, s *session, f *form, up bulkForm,
	file commands.BulkFile, rejected *commands.BulkRejectedError) {
	out := &bulkRejected{FileName: up.name, Errors: file.CellErrors(rejected)}
	rows := map[string]bool{}
	for _, e := range out.Errors {
		rows[fmt.Sprint(e.Sheet, "\x00", e.Row)] = true
	}
	out.Rows = len(rows)
	annotated, err := commands.AnnotateBulkUpload(up.data, file, out.Errors)
	if err != nil {
		h.logger.WarnContext(r.Context(), "annotate a rejected bulk upload", "err", err)
	} else if id := h.markedUp.put(s.actor.User.ID.String(), commands.AnnotatedBulkFileName(up.name), annotated); id != "" {
		out.MarkedUp = bulkPath + "/marked-up/" + id
	}
	f.add(fieldBulkErrors, "bulk_upload_invalid", fmt.Sprintf(
		"%d %s in %d %s: nothing was saved. Correct them in the file and upload it again",
		len(out.Errors), plural(len(out.Errors), "error", "errors"), out.Rows, plural(out.Rows, "row", "rows")))
	h.renderBulkUpdate(w, r, http.StatusUnprocessableEntity, s, f, nil, out)
}

// plural is the word for n things: one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// showMarkedUp downloads the marked-up copy of the person's rejected
// upload.
func (h *Handler) showMarkedUp(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := h.markedUp.get(s.actor.User.ID.String(), r.PathValue("file"))
	if !ok {
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", httpapi.XLSXContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.name}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.data)
	}
}
