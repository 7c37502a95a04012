package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// Edit Provider: a location's details in the guide's "Jump To" sections,
// each its own form and Save button, on the commands of the API's
// /locations/{id}/... edits (httpapi/locations.go). Every form carries the
// version the person loaded and the values it showed (orig_*): a save
// over someone else's newer change is the command's *StaleVersionError,
// shown with the NHS error pattern and what changed meanwhile, field by
// field, with the person's input kept and the form now at the current
// version; nothing is applied over the other change.

// The sections' anchors on the page.
const (
	sectionAddress        = "address"
	sectionContacts       = "contacts"
	sectionGPPractices    = "gp-practices"
	sectionMisc           = "misc"
	sectionClassification = "classification"
	sectionNotes          = "notes"
	sectionUsers          = "users"
	sectionPAMMS          = "pamms"
)

func editProviderPath(id string) string { return locationPath(id) + "/edit" }

// editNotice is the banner after a save: done is the section and whether
// anything changed.
func editNotice(done string) string {
	if section, ok := strings.CutSuffix(done, "-confirmed"); ok && sectionLabel(section) != "" {
		return "No changes were made to " + sectionLabel(section) + ": we have recorded that you confirmed them as up to date."
	}
	switch done {
	case "contact-added":
		return "The contact has been added."
	case "contact-removed":
		return "The contact has been removed."
	case "gp-linked":
		return "The GP practice has been linked."
	case "gp-unlinked":
		return "The GP practice has been unlinked."
	case "note-added":
		return "The note has been added."
	case "note-deleted":
		return "The note has been deleted."
	}
	if l := sectionLabel(done); l != "" {
		return "Your changes to " + l + " have been saved."
	}
	return ""
}

func sectionLabel(section string) string {
	switch section {
	case sectionAddress:
		return "Address Details"
	case sectionContacts:
		return "the Contact Directory"
	case sectionGPPractices:
		return "Linked GP Practices"
	case sectionClassification:
		return "Classification and Funding"
	case sectionNotes:
		return "the Note Log"
	case sectionPAMMS:
		return "the PAMMS assessment"
	}
	return ""
}

// changed is one field that someone else changed after the person loaded
// the form: its label, the value the form showed, the value now.
type changed struct {
	Label, Was, Now string
}

// conflict is what a stale save shows in its section.
type conflict struct {
	Section string
	Changes []changed
	// Gone: the contact or note the form edits no longer exists.
	Gone bool
}

// conflictField is the error summary's link target of a conflict.
func conflictField(section string) string { return section + "-conflict" }

const conflictMessage = "Someone else changed these details after you loaded this page. Check what they changed, then save again: your entries are kept below."

// addConflict records a stale save on the form.
func (f *form) addConflict(c *conflict) {
	f.add(conflictField(c.Section), "version_conflict", conflictMessage)
}

// diffFields compares the values the form showed (orig_NAME) with now.
func diffFields(r *http.Request, fields []fieldDef, now func(name string) string) []changed {
	var out []changed
	for _, fd := range fields {
		was, cur := r.PostForm.Get("orig_"+fd.name), now(fd.name)
		if was != cur {
			out = append(out, changed{Label: fd.label, Was: orBlank(was), Now: orBlank(cur)})
		}
	}
	return out
}

func orBlank(s string) string {
	if s == "" {
		return "(blank)"
	}
	return s
}

// fieldDef is a form field with its label.
type fieldDef struct{ name, label string }

var addressForm = []fieldDef{
	{"name", "Name"}, {"short_name", "Short Name"}, {"address_line1", "Address line 1"}, {"address_line2", "Address line 2"},
	{"address_line3", "Address line 3"}, {"address_line4", "Address line 4"}, {"address_line5", "Address line 5"},
	{"postcode", "Postcode"},
}

func addressValue(a location.Address, name string) string {
	switch name {
	case "name":
		return a.Name
	case "short_name":
		return a.ShortName
	case "address_line1":
		return a.Line1
	case "address_line2":
		return a.Line2
	case "address_line3":
		return a.Line3
	case "address_line4":
		return a.Line4
	case "address_line5":
		return a.Line5
	case "postcode":
		return a.Postcode
	}
	return ""
}

var contactForm = []fieldDef{
	{"contact_role", "Role"}, {"contact_name", "Name"}, {"contact_organisation_name", "Organisation Name"},
	{"contact_phones", "Phones"}, {"contact_email", "Email"}, {"contact_address", "Address"}, {"contact_public", "Public?"},
}

// contactRename maps the command's field names to the form's.
var contactRename = map[string]string{
	"role": "contact_role", "name": "contact_name", "organisation_name": "contact_organisation_name",
	"phones": "contact_phones", "email": "contact_email", "address": "contact_address",
}

func contactValue(c location.Contact, name string) string {
	switch name {
	case "contact_role":
		return c.Role
	case "contact_name":
		return c.Name
	case "contact_organisation_name":
		return c.OrganisationName
	case "contact_phones":
		return c.PhoneList()
	case "contact_email":
		return c.Email
	case "contact_address":
		return c.Address
	case "contact_public":
		if c.Public {
			return "yes"
		}
		return "no"
	}
	return ""
}

func contactInput(f *form) location.ContactInput {
	return location.ContactInput{Role: f.Value("contact_role"), Name: f.Value("contact_name"),
		OrganisationName: f.Value("contact_organisation_name"), Phones: f.Value("contact_phones"),
		Email: f.Value("contact_email"), Address: f.Value("contact_address"), Public: f.Value("contact_public") == "yes"}
}

// keep copies the posted fields into the form, to show them again.
func keep(r *http.Request, f *form, fields []fieldDef) {
	for _, fd := range fields {
		f.Values[fd.name] = r.PostForm.Get(fd.name)
	}
}

// formVersion is the version the form was loaded at.
func formVersion(r *http.Request) (int64, bool) {
	v, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	return v, err == nil && v >= 0
}

// editState is what a render of the Edit Provider page starts from.
type editState struct {
	form     *form
	status   int
	conflict *conflict
	// entered names the section whose values the form holds (typed by
	// the person); the other sections show the location as it is.
	entered string
	notice  string
}

// locationUser is a user with access, as Users With Access lists them.
type locationUser struct {
	FullName, Email, UserType string
	Approver                  bool
}

func (h *Handler) showEditProvider(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderEditProvider(w, r, s, editState{form: newForm(), status: http.StatusOK, notice: editNotice(r.URL.Query().Get("done"))})
}

// renderEditProvider loads the location (its profile, at the version the
// next save must name) and renders the page.
func (h *Handler) renderEditProvider(w http.ResponseWriter, r *http.Request, s *session, st editState) {
	id := r.PathValue("id")
	p, err := h.commands.LocationProfile(r.Context(), s.actor, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := st.form
	// Every form names the version it shows and the values it showed
	// (orig_*). A form shown again for its errors keeps the version and
	// values it was loaded with: only a conflict, which shows what changed,
	// moves it to the current version.
	cur := strconv.FormatInt(p.Version, 10)
	versions := map[string]string{}
	for _, sec := range []string{sectionAddress, sectionContacts, sectionGPPractices, sectionClassification, sectionNotes} {
		versions[sec] = cur
	}
	orig := origAddress(p.Address)
	orig["contacts"], orig["gp"], orig["notes"] = contactsDigest(p.Contacts), gpDigest(p.GPPractices), notesDigest(p.Notes)
	orig["ownership_type"] = p.OwnershipType
	if st.entered != "" && st.conflict == nil && r.Method == http.MethodPost {
		versions[st.entered] = r.PostForm.Get("version")
		for k := range orig {
			if v, ok := r.PostForm["orig_"+k]; ok {
				orig[k] = v[0]
			}
		}
	}
	if st.entered != sectionAddress {
		for _, fd := range addressForm {
			f.Values[fd.name] = addressValue(p.Address, fd.name)
		}
	}
	if st.entered != sectionClassification {
		f.Values["ownership_type"] = p.OwnershipType
	}
	data := map[string]any{
		"Profile":        p,
		"Roles":          location.ContactRoles(),
		"OwnershipTypes": location.OwnershipTypes(),
		"Conflict":       st.conflict,
		"Orig":           orig,
		"Versions":       versions,
		"Entered":        st.entered,
		"Path":           editProviderPath(id),
		"LocationPath":   locationPath(id),
	}
	// Linked GP Practices' search: a GET form on this page.
	if q, ok := r.URL.Query()["gp_q"]; ok {
		text := strings.TrimSpace(q[0])
		f.Values["gp_q"] = text
		found, err := h.queries.SearchGPPractices(r.Context(), text, queries.DefaultGPPracticeLimit)
		if !f.addValidation(err, nil) && err != nil {
			h.fail(w, r, err)
			return
		}
		if err == nil {
			data["GPResults"] = found
			data["GPSearched"] = true
		}
		if f.HasErrors() {
			st.status = http.StatusUnprocessableEntity
			f.Errors = renameErrors(f.Errors, map[string]string{"q": "gp_q"})
		}
	}
	users, err := h.queries.LocationUsers(r.Context(), httpapi.Viewer(s.actor), id, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list := make([]locationUser, 0, len(users))
	for _, u := range users {
		list = append(list, locationUser{FullName: u.FullName, Email: u.Email, UserType: userTypeLabel(u.Role), Approver: u.Role == "approver"})
	}
	data["Users"] = list
	h.render(w, r, st.status, "edit-provider", view{Title: "Edit Provider " + p.Address.Name, User: s.user(), CSRF: s.csrf(), Form: f,
		Notice: st.notice, Data: data})
}

func renameErrors(errs []domain.FieldError, rename map[string]string) []domain.FieldError {
	for i, e := range errs {
		if n, ok := rename[e.Field]; ok {
			errs[i].Field = n
		}
	}
	return errs
}

// origAddress is the address as the form shows it, for its orig_* fields.
func origAddress(a location.Address) map[string]string {
	out := map[string]string{}
	for _, fd := range addressForm {
		out[fd.name] = addressValue(a, fd.name)
	}
	return out
}

// saved answers a section's save: the redirect back to the section with
// its banner, or the page again with the errors or the conflict.
// onStale computes the conflict from the current location.
func (h *Handler) saved(w http.ResponseWriter, r *http.Request, s *session, section, done string, f *form, res commands.Edited, err error,
	rename map[string]string, onStale func(cur location.Profile) *conflict, rerender func(st editState)) {
	id := r.PathValue("id")
	var stale *location.StaleVersionError
	var rule *domain.RuleError
	switch {
	case err == nil:
		if !res.Changed {
			done = section + "-confirmed"
		}
		redirect(w, r, editProviderPath(id)+"?done="+url.QueryEscape(done)+"#"+section)
		return
	case f.addValidation(err, rename):
		rerender(editState{form: f, status: http.StatusUnprocessableEntity, entered: section})
		return
	case errors.As(err, &stale):
		c := onStale(stale.Current.Profile())
		f.addConflict(c)
		rerender(editState{form: f, status: http.StatusConflict, entered: section, conflict: c})
		return
	case errors.As(err, &rule) && rule.Code != commands.ErrDisclaimerRequired.Code && rule.Code != commands.ErrPasswordChangeRequired.Code:
		// A limit of the directory (too many contacts, notes, practices).
		f.add(section+"-rule", rule.Code, upperFirst(rule.Message))
		rerender(editState{form: f, status: http.StatusUnprocessableEntity, entered: section})
		return
	}
	h.fail(w, r, err)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (h *Handler) editPageAgain(w http.ResponseWriter, r *http.Request, s *session) func(st editState) {
	return func(st editState) { h.renderEditProvider(w, r, s, st) }
}

// --- Address Details -----------------------------------------------------------

func (h *Handler) submitEditAddress(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	keep(r, f, addressForm)
	res, err := h.commands.EditAddress(r.Context(), s.actor, location.EditAddress{LocationID: r.PathValue("id"), ExpectedVersion: v,
		Address: location.Address{Name: f.Value("name"), ShortName: f.Value("short_name"), Line1: f.Value("address_line1"),
			Line2: f.Value("address_line2"), Line3: f.Value("address_line3"), Line4: f.Value("address_line4"),
			Line5: f.Value("address_line5"), Postcode: f.Value("postcode")}})
	h.saved(w, r, s, sectionAddress, sectionAddress, f, res, err, nil, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionAddress, Changes: diffFields(r, addressForm, func(n string) string { return addressValue(cur.Address, n) })}
	}, h.editPageAgain(w, r, s))
}

// --- Contact Directory -----------------------------------------------------------

func (h *Handler) submitAddContact(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	keep(r, f, contactForm)
	res, err := h.commands.AddContact(r.Context(), s.actor, location.AddContact{LocationID: r.PathValue("id"), ExpectedVersion: v,
		Contact: contactInput(f)})
	h.saved(w, r, s, sectionContacts, "contact-added", f, res, err, contactRename, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionContacts, Changes: diffContacts(r.PostForm.Get("orig_contacts"), cur.Contacts)}
	}, h.editPageAgain(w, r, s))
}

// contactsDigest is a list of the contacts as the page showed them, for
// a conflict's "what changed" of a save that adds or removes one.
func contactsDigest(cs []location.Contact) string {
	lines := make([]string, 0, len(cs))
	for _, c := range cs {
		lines = append(lines, contactLine(c))
	}
	return strings.Join(lines, "\n")
}

func contactLine(c location.Contact) string {
	parts := []string{c.Role}
	for _, p := range []string{c.Name, c.OrganisationName, c.PhoneList(), c.Email} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// diffContacts lists the contacts added and removed since the digest.
func diffContacts(digest string, now []location.Contact) []changed {
	was := map[string]bool{}
	if digest != "" {
		for _, l := range strings.Split(digest, "\n") {
			was[l] = true
		}
	}
	nowSet := map[string]bool{}
	var out []changed
	for _, c := range now {
		l := contactLine(c)
		nowSet[l] = true
		if !was[l] {
			out = append(out, changed{Label: "Contact", Was: "(not there)", Now: l})
		}
	}
	if digest != "" {
		for _, l := range strings.Split(digest, "\n") {
			if !nowSet[l] {
				out = append(out, changed{Label: "Contact", Was: l, Now: "(removed)"})
			}
		}
	}
	return out
}

// contactOf finds a contact of the profile.
func contactOf(p location.Profile, id string) (location.Contact, bool) {
	for _, c := range p.Contacts {
		if c.ContactID == id {
			return c, true
		}
	}
	return location.Contact{}, false
}

func (h *Handler) showEditContact(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderContactPage(w, r, s, "location-contact", http.StatusOK, newForm(), nil, false)
}

// renderContactPage renders the page of one contact (its edit form, or
// the confirmation of its removal): the form's values are what was typed
// when typed is set, the contact as it is otherwise.
func (h *Handler) renderContactPage(w http.ResponseWriter, r *http.Request, s *session, name string, status int, f *form, c *conflict, typed bool) {
	id, cid := r.PathValue("id"), r.PathValue("contact")
	p, err := h.commands.LocationProfile(r.Context(), s.actor, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	contact, ok := contactOf(p, cid)
	if !ok && c == nil {
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	if !typed {
		for _, fd := range contactForm {
			f.Values[fd.name] = contactValue(contact, fd.name)
		}
	}
	f.Values["version"] = strconv.FormatInt(p.Version, 10)
	orig := map[string]string{}
	for _, fd := range contactForm {
		orig[fd.name] = contactValue(contact, fd.name)
	}
	if typed && c == nil {
		// Shown again for its errors: still the version it was loaded at.
		f.Values["version"] = r.PostForm.Get("version")
		for k := range orig {
			orig[k] = r.PostForm.Get("orig_" + k)
		}
	}
	title := "Edit contact"
	if name == "location-contact-remove" {
		title = "Remove contact"
	}
	h.render(w, r, status, name, view{Title: title, User: s.user(), CSRF: s.csrf(), Form: f, Data: map[string]any{
		"Profile": p, "Contact": contact, "Exists": ok, "Roles": location.ContactRoles(), "Conflict": c, "Orig": orig,
		"Action": r.URL.Path, "Back": editProviderPath(id) + "#" + sectionContacts,
	}})
}

func (h *Handler) submitEditContact(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	keep(r, f, contactForm)
	cid := r.PathValue("contact")
	res, err := h.commands.UpdateContact(r.Context(), s.actor, location.UpdateContact{LocationID: r.PathValue("id"), ExpectedVersion: v,
		ContactID: cid, Contact: contactInput(f)})
	h.saved(w, r, s, sectionContacts, sectionContacts, f, res, err, contactRename, func(cur location.Profile) *conflict {
		c, ok := contactOf(cur, cid)
		if !ok {
			return &conflict{Section: sectionContacts, Gone: true}
		}
		return &conflict{Section: sectionContacts, Changes: diffFields(r, contactForm, func(n string) string { return contactValue(c, n) })}
	}, func(st editState) {
		h.renderContactPage(w, r, s, "location-contact", st.status, st.form, st.conflict, true)
	})
}

func (h *Handler) showRemoveContact(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderContactPage(w, r, s, "location-contact-remove", http.StatusOK, newForm(), nil, false)
}

func (h *Handler) submitRemoveContact(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	cid := r.PathValue("contact")
	res, err := h.commands.RemoveContact(r.Context(), s.actor, location.RemoveContact{LocationID: r.PathValue("id"), ExpectedVersion: v, ContactID: cid})
	h.saved(w, r, s, sectionContacts, "contact-removed", newForm(), res, err, nil, func(cur location.Profile) *conflict {
		c, ok := contactOf(cur, cid)
		if !ok {
			return &conflict{Section: sectionContacts, Gone: true}
		}
		return &conflict{Section: sectionContacts, Changes: diffFields(r, contactForm, func(n string) string { return contactValue(c, n) })}
	}, func(st editState) {
		h.renderContactPage(w, r, s, "location-contact-remove", st.status, st.form, st.conflict, false)
	})
}

// --- Linked GP Practices ---------------------------------------------------------

func (h *Handler) submitLinkGPPractice(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	code := strings.TrimSpace(r.PostForm.Get("practice_code"))
	res, err := h.commands.LinkGPPractice(r.Context(), s.actor, location.LinkGPPractice{LocationID: r.PathValue("id"), ExpectedVersion: v, PracticeCode: code})
	h.saved(w, r, s, sectionGPPractices, "gp-linked", f, res, err, map[string]string{"practice_code": "gp_q"}, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionGPPractices, Changes: diffGP(r.PostForm.Get("orig_gp"), cur.GPPractices)}
	}, h.editPageAgain(w, r, s))
}

func (h *Handler) submitUnlinkGPPractice(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	res, err := h.commands.UnlinkGPPractice(r.Context(), s.actor, location.UnlinkGPPractice{LocationID: r.PathValue("id"), ExpectedVersion: v,
		PracticeCode: r.PathValue("code")})
	h.saved(w, r, s, sectionGPPractices, "gp-unlinked", newForm(), res, err, nil, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionGPPractices, Changes: diffGP(r.PostForm.Get("orig_gp"), cur.GPPractices)}
	}, h.editPageAgain(w, r, s))
}

// gpDigest lists the linked practices' codes as the page showed them.
func gpDigest(links []location.GPLink) string {
	codes := make([]string, 0, len(links))
	for _, l := range links {
		codes = append(codes, l.PracticeCode)
	}
	return strings.Join(codes, " ")
}

func diffGP(digest string, now []location.GPLink) []changed {
	was := map[string]bool{}
	for _, c := range strings.Fields(digest) {
		was[c] = true
	}
	var out []changed
	for _, l := range now {
		if !was[l.PracticeCode] {
			out = append(out, changed{Label: "GP practice", Was: "(not linked)", Now: l.Name + " (" + l.PracticeCode + ")"})
		}
		delete(was, l.PracticeCode)
	}
	for _, c := range strings.Fields(digest) {
		if was[c] {
			out = append(out, changed{Label: "GP practice", Was: c, Now: "(unlinked)"})
		}
	}
	return out
}

// --- Classification and Funding --------------------------------------------------

func (h *Handler) submitEditClassification(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	f.Values["ownership_type"] = r.PostForm.Get("ownership_type")
	res, err := h.commands.EditClassification(r.Context(), s.actor, location.EditClassification{LocationID: r.PathValue("id"), ExpectedVersion: v,
		OwnershipType: f.Value("ownership_type")})
	h.saved(w, r, s, sectionClassification, sectionClassification, f, res, err, nil, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionClassification, Changes: diffFields(r, []fieldDef{{"ownership_type", "Ownership type"}},
			func(string) string { return cur.OwnershipType })}
	}, h.editPageAgain(w, r, s))
}

// --- Note Log ------------------------------------------------------------------

func (h *Handler) submitAddNote(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	f.Values["note_text"] = r.PostForm.Get("note_text")
	res, err := h.commands.AddNote(r.Context(), s.actor, location.AddNote{LocationID: r.PathValue("id"), ExpectedVersion: v, Text: f.Value("note_text")})
	h.saved(w, r, s, sectionNotes, "note-added", f, res, err, map[string]string{"text": "note_text"}, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionNotes, Changes: diffNotes(r.PostForm.Get("orig_notes"), cur.Notes)}
	}, h.editPageAgain(w, r, s))
}

// notesDigest lists the notes' ids as the page showed them.
func notesDigest(notes []location.Note) string {
	ids := make([]string, 0, len(notes))
	for _, n := range notes {
		ids = append(ids, n.NoteID+":"+strconv.FormatInt(n.EditedAt.UnixNano(), 36))
	}
	return strings.Join(ids, " ")
}

func diffNotes(digest string, now []location.Note) []changed {
	was := map[string]string{} // note id: its edit stamp
	for _, k := range strings.Fields(digest) {
		id, stamp, _ := strings.Cut(k, ":")
		was[id] = stamp
	}
	var out []changed
	for _, n := range now {
		stamp, seen := was[n.NoteID]
		switch {
		case !seen:
			out = append(out, changed{Label: "Note", Was: "(not there)", Now: n.Text})
		case stamp != strconv.FormatInt(n.EditedAt.UnixNano(), 36):
			out = append(out, changed{Label: "Note", Was: "(other text)", Now: n.Text})
		}
		delete(was, n.NoteID)
	}
	if len(was) > 0 {
		out = append(out, changed{Label: "Notes", Was: strconv.Itoa(len(was)) + " more", Now: "(deleted)"})
	}
	return out
}

func noteOf(p location.Profile, id string) (location.Note, bool) {
	for _, n := range p.Notes {
		if n.NoteID == id {
			return n, true
		}
	}
	return location.Note{}, false
}

func (h *Handler) showEditNote(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderNotePage(w, r, s, http.StatusOK, newForm(), nil, false)
}

func (h *Handler) renderNotePage(w http.ResponseWriter, r *http.Request, s *session, status int, f *form, c *conflict, typed bool) {
	id, nid := r.PathValue("id"), r.PathValue("note")
	p, err := h.commands.LocationProfile(r.Context(), s.actor, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	n, ok := noteOf(p, nid)
	if !ok && c == nil {
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	if !typed {
		f.Values["note_text"] = n.Text
	}
	f.Values["version"] = strconv.FormatInt(p.Version, 10)
	orig := n.Text
	if typed && c == nil {
		f.Values["version"], orig = r.PostForm.Get("version"), r.PostForm.Get("orig_note_text")
	}
	h.render(w, r, status, "location-note", view{Title: "Edit note", User: s.user(), CSRF: s.csrf(), Form: f, Data: map[string]any{
		"Profile": p, "Note": n, "Exists": ok, "Conflict": c, "Orig": orig, "Action": r.URL.Path, "Back": editProviderPath(id) + "#" + sectionNotes,
	}})
}

func (h *Handler) submitEditNote(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	f := newForm()
	f.Values["note_text"] = r.PostForm.Get("note_text")
	nid := r.PathValue("note")
	res, err := h.commands.EditNote(r.Context(), s.actor, location.EditNote{LocationID: r.PathValue("id"), ExpectedVersion: v,
		NoteID: nid, Text: f.Value("note_text")})
	h.saved(w, r, s, sectionNotes, sectionNotes, f, res, err, map[string]string{"text": "note_text"}, func(cur location.Profile) *conflict {
		n, ok := noteOf(cur, nid)
		if !ok {
			return &conflict{Section: sectionNotes, Gone: true}
		}
		return &conflict{Section: sectionNotes, Changes: diffFields(r, []fieldDef{{"note_text", "Note"}}, func(string) string { return n.Text })}
	}, func(st editState) {
		h.renderNotePage(w, r, s, st.status, st.form, st.conflict, true)
	})
}

func (h *Handler) submitDeleteNote(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := formVersion(r)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	res, err := h.commands.DeleteNote(r.Context(), s.actor, location.DeleteNote{LocationID: r.PathValue("id"), ExpectedVersion: v,
		NoteID: r.PathValue("note")})
	h.saved(w, r, s, sectionNotes, "note-deleted", newForm(), res, err, nil, func(cur location.Profile) *conflict {
		return &conflict{Section: sectionNotes, Changes: diffNotes(r.PostForm.Get("orig_notes"), cur.Notes)}
	}, h.editPageAgain(w, r, s))
}
