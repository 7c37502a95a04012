package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/commands/ratelimit"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/queries"
)

// accountRoutes is the /api/v1 surface of accounts and access.
func (s *Server) accountRoutes(api *mux.Router) {
	// Public.
	api.HandleFunc("/organisation-types", s.handleOrganisationTypes).Methods(http.MethodGet)
	api.HandleFunc("/password-rules", s.handlePasswordRules).Methods(http.MethodGet)
	api.HandleFunc("/locations/by-postcode", s.handleLocationsByPostcode).Methods(http.MethodGet)
	api.HandleFunc("/registrations", s.limited(ratelimit.Registration, s.limits.Registration, emailTarget, s.handleRegister)).Methods(http.MethodPost)
	api.HandleFunc("/sessions", s.limited(ratelimit.SignIn, s.limits.SignIn, emailTarget, s.handleLogin)).Methods(http.MethodPost)
	api.HandleFunc("/password-resets", s.limited(ratelimit.PasswordReset, s.limits.PasswordReset, emailTarget, s.handlePasswordReset)).Methods(http.MethodPost)
	api.HandleFunc("/password-links", s.limited(ratelimit.PasswordLink, s.limits.PasswordLink, linkTarget, s.handlePasswordLink)).Methods(http.MethodPost)

	// The caller's own account.
	api.HandleFunc("/sessions/current", s.authed(s.handleLogout)).Methods(http.MethodDelete)
	api.HandleFunc("/sessions/current/disclaimer", s.authed(s.handleDisclaimer)).Methods(http.MethodPost)
	api.HandleFunc("/me", s.authed(s.handleMe)).Methods(http.MethodGet)
	api.HandleFunc("/me/communications", s.authed(s.handleCommunications)).Methods(http.MethodPut)
	api.HandleFunc("/me/password", s.authed(s.handleChangePassword)).Methods(http.MethodPost)
	api.HandleFunc("/me/api-tokens", s.authed(s.handleCreateToken)).Methods(http.MethodPost)
	api.HandleFunc("/me/api-tokens/{token_id}", s.authed(s.handleRevokeToken)).Methods(http.MethodDelete)
	api.HandleFunc("/me/access-requests", s.authed(s.handleRequestAccess)).Methods(http.MethodPost)
	api.HandleFunc("/locations/search", s.authed(s.handleSearchLocations)).Methods(http.MethodGet)

	// Approvers and support.
	api.HandleFunc("/approvals", s.read(s.pendingApprovals)).Methods(http.MethodGet)
	api.HandleFunc("/users/{user_id}/access-requests/{request_id}/organisations/{organisation_id}/decision",
		s.authed(s.handleDecideAccess)).Methods(http.MethodPost)
	api.HandleFunc("/organisations/{organisation_id}/users", s.read(s.organisationUsers)).Methods(http.MethodGet)
	api.HandleFunc("/organisations/{organisation_id}/dashboard", s.read(s.dashboard)).Methods(http.MethodGet)
	api.HandleFunc("/locations/{location_id}/users", s.read(s.locationUsers)).Methods(http.MethodGet)
	api.HandleFunc("/users/{user_id}", s.read(s.user)).Methods(http.MethodGet)
	api.HandleFunc("/users/{user_id}/deactivate", s.authed(s.handleDeactivate)).Methods(http.MethodPost)
	api.HandleFunc("/users/{user_id}/reactivate", s.authed(s.handleReactivate)).Methods(http.MethodPost)
	api.HandleFunc("/users/{user_id}/user-type", s.authed(s.handleChangeRole)).Methods(http.MethodPut)
	api.HandleFunc("/users/{user_id}/sessions", s.read(s.sessions)).Methods(http.MethodGet)
	api.HandleFunc("/users/{user_id}/sessions/{session_id}", s.authed(s.handleRevokeSession)).Methods(http.MethodDelete)

	// Support only.
	api.HandleFunc("/organisations", s.authed(s.handleRegisterOrganisation)).Methods(http.MethodPost)
	api.HandleFunc("/locations", s.authed(s.handleRegisterLocation)).Methods(http.MethodPost)
	api.HandleFunc("/generic-accounts", s.authed(s.handleCreateGeneric)).Methods(http.MethodPost)

	// The views over locations (views.go) and provider details
	// (locations.go). mux takes the first route that matches: the views'
	// fixed paths under /locations/ go first, so that GET
	// /locations/{location_id} does not take them.
	s.viewRoutes(api)
	s.locationRoutes(api)
	s.dailyUpdateRoutes(api)
	s.surveyRoutes(api)
	s.bulkRoutes(api)
	s.analyticsRoutes(api)
	s.erasureRoutes(api)
	s.historyRoutes(api)
	s.auditorRoutes(api)
	s.auditRoutes(api)
}

// --- public -----------------------------------------------------------------

func (s *Server) handleOrganisationTypes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"organisation_types": location.OrganisationTypes()})
}

func (s *Server) handlePasswordRules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rules": s.commands.PasswordRules()})
}

func (s *Server) handleLocationsByPostcode(w http.ResponseWriter, r *http.Request) {
	pc, err := location.ParsePostcode(r.URL.Query().Get("postcode"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	locs, err := s.queries.LocationsByPostcode(r.Context(), pc.String())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"locations": nonNil(locs)})
}

// RegistrationRequest is the body of POST /api/v1/registrations.
type RegistrationRequest struct {
	Email               string   `json:"email"`
	FullName            string   `json:"full_name"`
	Phone               string   `json:"phone"`
	JobTitle            string   `json:"job_title"`
	UserType            string   `json:"user_type"`
	OrganisationType    string   `json:"organisation_type"`
	LocationIDs         []string `json:"location_ids"`
	TermsAccepted       bool     `json:"terms_accepted"`
	CommunicationsOptIn bool     `json:"communications_opt_in"`
}

// DecodeRegistration parses a registration body (exported for fuzzing).
func DecodeRegistration(body []byte) (RegistrationRequest, error) {
	var req RegistrationRequest
	err := decodeJSONBytes(body, &req)
	return req, err
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req RegistrationRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.Register(r.Context(), requestInfo(r), account.Register(req))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"user_id": res.UserID, "request_id": res.RequestID, "status": account.Pending, "position": res.Position,
		"message": "Thank you: your request has gone to the Approvers of your organisation. You will get an email when it is approved.",
	})
}

// LoginRequest is the body of POST /api/v1/sessions.
type LoginRequest struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	RememberMe bool   `json:"remember_me"`
}

// DecodeLogin parses a login body (exported for fuzzing).
func DecodeLogin(body []byte) (LoginRequest, error) {
	var req LoginRequest
	err := decodeJSONBytes(body, &req)
	return req, err
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.Login(r.Context(), requestInfo(r), req.Email, req.Password, req.RememberMe)
	if errors.Is(err, domain.ErrUnauthenticated) {
		writeError(w, http.StatusUnauthorized, "login_failed", loginFailed)
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	setSessionCookies(w, r, s.secureCookies, res, req.RememberMe)
	body := map[string]any{
		"session_id": res.SessionID, "user_id": res.UserID, "expires_at": res.ExpiresAt,
		"idle_timeout_seconds": int64(res.IdleTimeout / time.Second), "csrf_token": csrfToken(res.Token),
		"disclaimer_required": res.DisclaimerRequired, "password_change_required": res.PasswordChangeRequired,
		"must_change_password": res.MustChangePassword, "password_expired": res.PasswordExpired, "position": res.Position,
	}
	if res.DisclaimerRequired {
		body["disclaimer"] = commands.Disclaimer
	}
	writeJSON(w, http.StatusCreated, body)
}

func (s *Server) handlePasswordReset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	info := requestInfo(r)
	// Whether the address is an active account's must show neither in the
	// answer nor in its timing: the lookup and the link's append run after
	// the answer is sent, which costs the same for every address.
	err := s.afterAnswer.doJSON(w, r, "password reset", http.StatusAccepted, map[string]string{
		"message": "If the address belongs to an active account, we have emailed it a link to reset the password. The link is valid for 1 hour.",
	}, func(ctx context.Context) error {
		return s.commands.RequestPasswordReset(ctx, info, req.Email)
	})
	if err != nil {
		s.writeErr(w, r, err)
	}
}

func (s *Server) handlePasswordLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.SetPasswordWithLink(r.Context(), requestInfo(r), req.Token, req.Password)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Your password is set: you can log in now.", "position": res.Position})
}

// --- the caller's own account ---------------------------------------------

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	if _, err := s.commands.Logout(r.Context(), a); err != nil {
		s.writeErr(w, r, err)
		return
	}
	clearSessionCookies(w, r, s.secureCookies)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDisclaimer(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	res, err := s.commands.AcknowledgeDisclaimer(r.Context(), a)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "position": res.Position})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	u := a.User
	locs := make([]account.LocationGrant, 0, len(u.Locations))
	for l, o := range u.Locations {
		locs = append(locs, account.LocationGrant{LocationID: l, OrganisationID: o})
	}
	v := viewer(a)
	body := map[string]any{
		"user_id": u.ID, "email": u.Email, "full_name": u.FullName, "job_title": u.JobTitle, "phone": u.Phone,
		"user_type": u.Role, "kind": u.Kind, "status": u.Status, "communications_opt_in": u.CommunicationsOptIn,
		"locations": locs, "approver_of": nonNil(v.ApproverOf), "auditor": v.Auditor, "password_expires_at": u.PasswordExpiresAt,
		"session_id": a.SessionID, "disclaimer_pending": a.DisclaimerPending, "password_change_required": a.PasswordChangeRequired,
	}
	if a.DisclaimerPending {
		body["disclaimer"] = commands.Disclaimer
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleCommunications(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		OptIn *bool `json:"opt_in"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if req.OptIn == nil {
		s.writeErr(w, r, domain.Invalid("opt_in", "required", "Say true or false"))
		return
	}
	res, err := s.commands.SetCommunications(r.Context(), a, *req.OptIn)
	s.answer(w, r, res, err)
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.ChangePassword(r.Context(), a, req.Current, req.New)
	s.answer(w, r, res, err)
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.CreateAPIToken(r.Context(), a, req.Name)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	id, err := pathUUID(r, "token_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.RevokeAPIToken(r.Context(), a, id)
	s.answer(w, r, res, err)
}

func (s *Server) handleRequestAccess(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		LocationIDs         []string `json:"location_ids"`
		DeclarationAccepted bool     `json:"declaration_accepted"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.RequestAccess(r.Context(), a, req.LocationIDs, req.DeclarationAccepted)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"request_id": res.RequestID, "position": res.Position})
}

func (s *Server) handleSearchLocations(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	q := r.URL.Query()
	search := queries.LocationSearch{Postcode: q.Get("postcode"), LocalAuthority: q.Get("local_authority"), CCG: q.Get("ccg")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			s.writeErr(w, r, domain.Invalid("limit", "invalid_number", "limit must be a positive integer"))
			return
		}
		search.Limit = n
	}
	if search.Postcode != "" {
		pc, err := location.ParsePostcode(search.Postcode)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		search.Postcode = pc.String()
	}
	locs, err := s.queries.SearchLocations(r.Context(), search)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"locations": nonNil(locs)})
}

// --- approvers and support --------------------------------------------------

func (s *Server) handleDecideAccess(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	userID, err := pathUUID(r, "user_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	requestID, err := pathUUID(r, "request_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var req struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if req.Decision != "approve" && req.Decision != "reject" {
		s.writeErr(w, r, domain.Invalid("decision", "invalid_choice", `decision must be "approve" or "reject"`))
		return
	}
	res, err := s.commands.DecideAccess(r.Context(), a, userID, requestID, mux.Vars(r)["organisation_id"], req.Decision == "approve", req.Reason)
	s.answer(w, r, res, err)
}

func (s *Server) handleDeactivate(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	id, err := pathUUID(r, "user_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	res, err := s.commands.Deactivate(r.Context(), a, id, req.Reason)
	s.answer(w, r, res, err)
}

func (s *Server) handleReactivate(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	id, err := pathUUID(r, "user_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.Reactivate(r.Context(), a, id)
	s.answer(w, r, res, err)
}

func (s *Server) handleChangeRole(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	id, err := pathUUID(r, "user_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var req struct {
		UserType string `json:"user_type"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.ChangeRole(r.Context(), a, id, req.UserType)
	s.answer(w, r, res, err)
}

func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	userID, err := pathUUID(r, "user_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	sid, err := pathUUID(r, "session_id")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.RevokeSession(r.Context(), a, userID, sid)
	s.answer(w, r, res, err)
}

func (s *Server) pendingApprovals(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	list, err := s.queries.PendingApprovals(r.Context(), v, minPos)
	return map[string]any{"approvals": nonNil(list)}, err
}

func (s *Server) organisationUsers(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	users, err := s.queries.Users(r.Context(), v, mux.Vars(r)["organisation_id"], minPos)
	return map[string]any{"users": nonNil(users)}, err
}

func (s *Server) locationUsers(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	users, err := s.queries.LocationUsers(r.Context(), v, mux.Vars(r)["location_id"], minPos)
	return map[string]any{"users": nonNil(users)}, err
}

func (s *Server) dashboard(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	return s.queries.OrganisationDashboard(r.Context(), v, mux.Vars(r)["organisation_id"], minPos)
}

func (s *Server) user(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	id, err := pathUUID(r, "user_id")
	if err != nil {
		return nil, err
	}
	return s.queries.User(r.Context(), v, id.String(), minPos)
}

func (s *Server) sessions(r *http.Request, v queries.Viewer, minPos int64) (any, error) {
	id, err := pathUUID(r, "user_id")
	if err != nil {
		return nil, err
	}
	list, err := s.queries.Sessions(r.Context(), v, id.String(), minPos)
	return map[string]any{"sessions": nonNil(list)}, err
}

// --- support ----------------------------------------------------------------

func (s *Server) handleRegisterOrganisation(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		OrganisationID string `json:"organisation_id"`
		Name           string `json:"name"`
		Type           string `json:"type"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.RegisterOrganisation(r.Context(), a, location.RegisterOrganisation(req))
	s.created(w, r, res, err)
}

func (s *Server) handleRegisterLocation(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		LocationID     string `json:"location_id"`
		OrganisationID string `json:"organisation_id"`
		Name           string `json:"name"`
		AddressLine1   string `json:"address_line1"`
		Town           string `json:"town"`
		Postcode       string `json:"postcode"`
		LocalAuthority string `json:"local_authority"`
		CCG            string `json:"ccg"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.RegisterLocation(r.Context(), a, location.RegisterLocation(req))
	s.created(w, r, res, err)
}

func (s *Server) handleCreateGeneric(w http.ResponseWriter, r *http.Request, a commands.Actor) {
	var req struct {
		Email          string   `json:"email"`
		DisplayName    string   `json:"display_name"`
		OrganisationID string   `json:"organisation_id"`
		LocationIDs    []string `json:"location_ids"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.commands.CreateGenericAccount(r.Context(), a, account.CreateGeneric(req))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// answer writes a command's result, or its error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) created(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
