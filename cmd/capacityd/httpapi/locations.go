package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain/location"
)

// locationRoutes is the /api/v1 surface of provider details: the Edit
// Provider and Care Quality pages.
//
// Every edit names the version of the location its user last saw: the
// ETag of GET /locations/{id} in If-Match, or expected_version in the body
// (in the query of a DELETE). An edit of a version that is no longer
// current is refused with 409 and the current profile, never applied over
// the other user's change.
func (s *Server) locationRoutes(api *mux.Router) {
	const loc = "/locations/{location_id}"
	api.HandleFunc(loc, s.authed(s.handleLocationProfile)).Methods(http.MethodGet)
	api.HandleFunc(loc+"/address", s.authed(s.handleEditAddress)).Methods(http.MethodPut)
	api.HandleFunc(loc+"/contacts", s.authed(s.handleAddContact)).Methods(http.MethodPost)
	api.HandleFunc(loc+"/contacts/{contact_id}", s.authed(s.handleUpdateContact)).Methods(http.MethodPut)
	api.HandleFunc(loc+"/contacts/{contact_id}", s.authed(s.handleRemoveContact)).Methods(http.MethodDelete)
	api.HandleFunc(loc+"/gp-practices", s.authed(s.handleLinkGPPractice)).Methods(http.MethodPost)
	api.HandleFunc(loc+"/gp-practices/{practice_code}", s.authed(s.handleUnlinkGPPractice)).Methods(http.MethodDelete)
	api.HandleFunc(loc+"/classification", s.authed(s.handleEditClassification)).Methods(http.MethodPut)
	api.HandleFunc(loc+"/notes", s.authed(s.handleAddNote)).Methods(http.MethodPost)
	api.HandleFunc(loc+"/notes/{note_id}", s.authed(s.handleEditNote)).Methods(http.MethodPut)
	api.HandleFunc(loc+"/notes/{note_id}", s.authed(s.handleDeleteNote)).Methods(http.MethodDelete)
	api.HandleFunc(loc+"/care-quality", s.authed(s.handleCareQuality)).Methods(http.MethodGet)
	api.HandleFunc(loc+"/care-quality/pamms", s.authed(s.handleEditPAMMS)).Methods(http.MethodPut)
	// Misc. Details and CQC's ratings are CQC's alone: these exist only to
	// say so to a client that tries to save them.
	api.HandleFunc(loc+"/misc", s.authed(s.cqcOwnedSection("report_url", "public_url"))).
		Methods(http.MethodPut, http.MethodPatch, http.MethodPost)
	api.HandleFunc(loc+"/care-quality/cqc", s.authed(s.cqcOwnedSection("ratings", "report_date", "report_url"))).
		Methods(http.MethodPut, http.MethodPatch, http.MethodPost)
}

// --- versions ---------------------------------------------------------------

// StaleVersionBody is the answer to an edit of a version that is no
// longer current (409): the error, with the current version, and the
// location as it is now, to show the user before they edit again.
type StaleVersionBody struct {
	Error   ErrorDetail      `json:"error"`
	Current location.Profile `json:"current"`
}

func writeStale(w http.ResponseWriter, stale *location.StaleVersionError) {
	v := stale.Current.Version
	w.Header().Set("ETag", etag(v))
	writeJSON(w, http.StatusConflict, StaleVersionBody{
		Error:   ErrorDetail{Status: http.StatusConflict, Code: "version_conflict", Message: stale.Error(), CurrentVersion: &v},
		Current: stale.Current.Profile(),
	})
}

// --- bodies -------------------------------------------------------------------

// decodeEdit reads an edit's JSON body into dst (a pointer to a struct).
// A body that names a field of CQC's is refused with *location.CQCOwnedError
// before anything else is checked, unless dst has a field of that name
// itself (PAMMS has its own report_url and report_date).
func decodeEdit(r *http.Request, dst any) error {
	body, err := readJSONBody(r)
	if err != nil {
		return err
	}
	return decodeEditBytes(body, dst)
}

// decodeEditBytes is decodeEdit's parser, on its own for fuzzing.
func decodeEditBytes(body []byte, dst any) error {
	if err := refuseCQCFields(body, dst); err != nil {
		return err
	}
	return decodeJSONBytes(body, dst)
}

// refuseCQCFields returns *location.CQCOwnedError when the body is a JSON
// object with keys that are CQC's fields and not dst's. JSON's field names
// match case-insensitively, so these do too. A body that is not an object
// is left to the strict decoder.
func refuseCQCFields(body []byte, dst any) error {
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) != nil {
		return nil
	}
	own := jsonFields(dst)
	var cqc []string
	for k := range keys {
		name := strings.ToLower(k)
		if location.IsCQCOwned(name) && !slices.Contains(own, name) && !slices.Contains(cqc, name) {
			cqc = append(cqc, name)
		}
	}
	if len(cqc) == 0 {
		return nil
	}
	slices.Sort(cqc)
	return &location.CQCOwnedError{Fields: cqc}
}

// jsonFields lists the JSON names of the fields of the struct dst points
// to, lower case.
func jsonFields(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, strings.ToLower(name))
	}
	return out
}

// AddressRequest is the body of PUT /locations/{id}/address.
type AddressRequest struct {
	Name            string `json:"name"`
	ShortName       string `json:"short_name"`
	AddressLine1    string `json:"address_line1"`
	AddressLine2    string `json:"address_line2"`
	AddressLine3    string `json:"address_line3"`
	AddressLine4    string `json:"address_line4"`
	AddressLine5    string `json:"address_line5"`
	Postcode        string `json:"postcode"`
	ExpectedVersion *int64 `json:"expected_version"`
}

// ContactRequest is the body of POST /locations/{id}/contacts and PUT
// /locations/{id}/contacts/{contact_id}. Phones holds up to 5 UK numbers
// separated by commas.
type ContactRequest struct {
	Role             string `json:"role"`
	Name             string `json:"name"`
	OrganisationName string `json:"organisation_name"`
	Phones           string `json:"phones"`
	Email            string `json:"email"`
	Address          string `json:"address"`
	Public           bool   `json:"public"`
	ExpectedVersion  *int64 `json:"expected_version"`
}

// DecodeContactRequest parses a contact body as the server does, CQC's
// fields refused first (exported for fuzzing).
func DecodeContactRequest(body []byte) (ContactRequest, error) {
	var req ContactRequest
	err := decodeEditBytes(body, &req)
	return req, err
}

func (c ContactRequest) input() location.ContactInput {
	return location.ContactInput{Role: c.Role, Name: c.Name, OrganisationName: c.OrganisationName, Phones: c.Phones,
		Email: c.Email, Address: c.Address, Public: c.Public}
}

// --- reads --------------------------------------------------------------------

// profile answers a read of a location: its profile, or the error; with
// the ETag of its version. An If-None-Match of that ETag answers 304.
func (s *Server) profile(w http.ResponseWriter, r *http.Request, a commands.Actor) (location.Profile, bool) {
	p, err := s.commands.LocationProfile(r.Context(), a, mux.Vars(r)["location_id"])
	if err != nil {
		s.writeErr(w, r, err)
		return p, false
	}
	tag := etag(p.Version)
	w.Header().Set("ETag", tag)
	// Cache-Control stays no-store (headers.go): the profile holds
	// contacts' personal data. A client that keeps it itself may still
	// ask with If-None-Match.
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.TrimPrefix(strings.TrimSpace(inm), "W/") == tag {
		w.WriteHeader(http.StatusNotModified)
		return p, false
	}
	return p, true
}

func (s *Server) handleLocationProfile(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	if p, ok := s.profile(w, r, a); ok {
		writeJSON(w, http.StatusOK, p)
	}
}

// CareQuality is the answer of GET /locations/{id}/care-quality: CQC's
// ratings ("Unknown rating" where CQC published none) and report, and the
// PAMMS assessment the location's users keep.
type CareQuality struct {
	LocationID string            `json:"location_id"`
	Version    int64             `json:"version"`
	Ratings    map[string]string `json:"ratings"`
	ReportDate string            `json:"report_date"`
	ReportURL  string            `json:"report_url"`
	PublicURL  string            `json:"public_url"`
	PAMMS      location.PAMMS    `json:"pamms"`
}

func (s *Server) handleCareQuality(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	p, ok := s.profile(w, r, a)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, CareQuality{
		LocationID: p.LocationID, Version: p.Version, Ratings: p.CQC.Ratings, ReportDate: p.CQC.ReportDate,
		ReportURL: p.CQC.ReportURL, PublicURL: p.CQC.PublicURL, PAMMS: p.PAMMS,
	})
}

// --- edits --------------------------------------------------------------------

// edited answers an edit: status (200, or 201 for a create that created
// something) with the outcome and the new ETag.
func (s *Server) edited(w http.ResponseWriter, r *http.Request, status int, res commands.Edited, err error) {
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if !res.Changed {
		status = http.StatusOK
	}
	w.Header().Set("ETag", etag(res.Version))
	writeJSON(w, status, res)
}

func (s *Server) handleEditAddress(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req AddressRequest
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.EditAddress(r.Context(), a, location.EditAddress{LocationID: locationID(r), ExpectedVersion: v,
		Address: location.Address{Name: req.Name, ShortName: req.ShortName, Line1: req.AddressLine1, Line2: req.AddressLine2,
			Line3: req.AddressLine3, Line4: req.AddressLine4, Line5: req.AddressLine5, Postcode: req.Postcode}})
	s.edited(w, r, http.StatusOK, res, err)
}

func (s *Server) handleAddContact(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req ContactRequest
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.AddContact(r.Context(), a, location.AddContact{LocationID: locationID(r), ExpectedVersion: v, Contact: req.input()})
	if err == nil {
		w.Header().Set("Location", "/api/v1/locations/"+locationID(r)+"/contacts/"+res.ID)
	}
	s.edited(w, r, http.StatusCreated, res, err)
}

func (s *Server) handleUpdateContact(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req ContactRequest
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.UpdateContact(r.Context(), a, location.UpdateContact{LocationID: locationID(r), ExpectedVersion: v,
		ContactID: mux.Vars(r)["contact_id"], Contact: req.input()})
	s.edited(w, r, http.StatusOK, res, err)
}

// decodeVersioned decodes an edit's body into req and returns the version
// the edit was made on: If-Match or the body's expected_version (*bodyVersion
// once decoded).
func decodeVersioned(r *http.Request, req any, bodyVersion **int64) (int64, error) {
	if err := decodeEdit(r, req); err != nil {
		return 0, err
	}
	return expectedVersion(r, *bodyVersion)
}

func (s *Server) handleRemoveContact(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	v, err := deleteVersion(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.RemoveContact(r.Context(), a, location.RemoveContact{LocationID: locationID(r), ExpectedVersion: v,
		ContactID: mux.Vars(r)["contact_id"]})
	s.edited(w, r, http.StatusOK, res, err)
}

func (s *Server) handleLinkGPPractice(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		PracticeCode    string `json:"practice_code"`
		ExpectedVersion *int64 `json:"expected_version"`
	}
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.LinkGPPractice(r.Context(), a, location.LinkGPPractice{LocationID: locationID(r), ExpectedVersion: v,
		PracticeCode: strings.TrimSpace(req.PracticeCode)})
	s.edited(w, r, http.StatusCreated, res, err)
}

func (s *Server) handleUnlinkGPPractice(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	v, err := deleteVersion(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.UnlinkGPPractice(r.Context(), a, location.UnlinkGPPractice{LocationID: locationID(r), ExpectedVersion: v,
		PracticeCode: mux.Vars(r)["practice_code"]})
	s.edited(w, r, http.StatusOK, res, err)
}

func (s *Server) handleEditClassification(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		OwnershipType   string `json:"ownership_type"`
		ExpectedVersion *int64 `json:"expected_version"`
	}
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.EditClassification(r.Context(), a, location.EditClassification{LocationID: locationID(r), ExpectedVersion: v,
		OwnershipType: req.OwnershipType})
	s.edited(w, r, http.StatusOK, res, err)
}

// noteRequest is the body of POST /locations/{id}/notes and PUT
// /locations/{id}/notes/{note_id}.
type noteRequest struct {
	Text            string `json:"text"`
	ExpectedVersion *int64 `json:"expected_version"`
}

func (s *Server) handleAddNote(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req noteRequest
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.AddNote(r.Context(), a, location.AddNote{LocationID: locationID(r), ExpectedVersion: v, Text: req.Text})
	if err == nil {
		w.Header().Set("Location", "/api/v1/locations/"+locationID(r)+"/notes/"+res.ID)
	}
	s.edited(w, r, http.StatusCreated, res, err)
}

func (s *Server) handleEditNote(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req noteRequest
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.EditNote(r.Context(), a, location.EditNote{LocationID: locationID(r), ExpectedVersion: v,
		NoteID: mux.Vars(r)["note_id"], Text: req.Text})
	s.edited(w, r, http.StatusOK, res, err)
}

func (s *Server) handleDeleteNote(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	v, err := deleteVersion(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.DeleteNote(r.Context(), a, location.DeleteNote{LocationID: locationID(r), ExpectedVersion: v,
		NoteID: mux.Vars(r)["note_id"]})
	s.edited(w, r, http.StatusOK, res, err)
}

func (s *Server) handleEditPAMMS(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		ReportURL       string `json:"report_url"`
		Rating          string `json:"rating"`
		ReportDate      string `json:"report_date"`
		ExpectedVersion *int64 `json:"expected_version"`
	}
	v, err := decodeVersioned(r, &req, &req.ExpectedVersion)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.EditPAMMS(r.Context(), a, location.EditPAMMS{LocationID: locationID(r), ExpectedVersion: v,
		PAMMS: location.PAMMS{ReportURL: req.ReportURL, Rating: req.Rating, ReportDate: req.ReportDate}})
	s.edited(w, r, http.StatusOK, res, err)
}

// cqcOwnedSection answers every save of a section whose fields are all
// CQC's: 403, naming the CQC fields the body sent, or else the section's.
func (s *Server) cqcOwnedSection(fields ...string) func(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	return func(w http.ResponseWriter, r *http.Request, a commands.Actor) {
		owned := &location.CQCOwnedError{Fields: fields}
		if body, err := readJSONBody(r); err == nil {
			var named *location.CQCOwnedError
			if errors.As(refuseCQCFields(body, struct{}{}), &named) {
				owned = named
			}
		}
		s.writeErr(w, r, owned)
	}
}
