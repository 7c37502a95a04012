package web

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/commands"
	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
)

// My Details: the person's own account as the session loaded it (the same
// state the API's GET /me answers from), the communications choice, and
// personal API tokens (created once and shown once, listed, revoked).

func myDetailsNotice(key string) string {
	switch key {
	case "communications":
		return "Your communications choice has been saved."
	case "token-revoked":
		return "The API token has been revoked: it no longer works."
	}
	return ""
}

// apiToken is a token as the page lists it.
type apiToken struct {
	ID        string
	Name      string
	ExpiresAt time.Time
}

func (h *Handler) showMyDetails(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderMyDetails(w, r, http.StatusOK, s, newForm(), myDetailsNotice(r.URL.Query().Get("done")), nil)
}

func (h *Handler) renderMyDetails(w http.ResponseWriter, r *http.Request, status int, s *session, f *form, notice string, created *commands.TokenCreated) {
	u := s.actor.User
	locations := make([]string, 0, len(u.Locations))
	for l := range u.Locations {
		locations = append(locations, l)
	}
	slices.Sort(locations)
	var tokens []apiToken
	now := h.commands.Now()
	for id, t := range u.Tokens {
		if !t.Revoked && now.Before(t.ExpiresAt) {
			tokens = append(tokens, apiToken{ID: id.String(), Name: t.Name, ExpiresAt: t.ExpiresAt})
		}
	}
	slices.SortFunc(tokens, func(a, b apiToken) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	if _, ok := f.Values["communications"]; !ok {
		f.Values["communications"] = "no"
		if u.CommunicationsOptIn {
			f.Values["communications"] = "yes"
		}
	}
	userType := "Standard"
	switch u.Role {
	case account.Approver:
		userType = "Approver"
	case account.Support:
		userType = "Support"
	}
	h.render(w, r, status, "my-details", view{Title: "My Details", User: s.user(), CSRF: s.csrf(), Form: f, Notice: notice,
		Data: map[string]any{
			"Account":   u,
			"UserType":  userType,
			"Locations": locations,
			"Personal":  u.Kind == account.Personal,
			"Tokens":    tokens,
			"Created":   created,
			// My Access is for the accounts the command lets ask.
			"MayRequestAccess": mayRequestAccess(u),
		}})
}

func (h *Handler) submitCommunications(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	choice := r.PostForm.Get("communications")
	if choice != "yes" && choice != "no" {
		f.Values["communications"] = ""
		f.add("communications", "required", "Select yes if you want to receive communications, or no")
		h.renderMyDetails(w, r, http.StatusUnprocessableEntity, s, f, "", nil)
		return
	}
	if _, err := h.commands.SetCommunications(r.Context(), s.actor, choice == "yes"); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "/my-details?done=communications")
}

// submitCreateToken answers with the page itself, not a redirect: the
// token is shown this once and must not travel in an address.
func (h *Handler) submitCreateToken(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm()
	f.Values["token_name"] = r.PostForm.Get("token_name")
	res, err := h.commands.CreateAPIToken(r.Context(), s.actor, f.Values["token_name"])
	var rule *domain.RuleError
	if errors.As(err, &rule) && rule.Code != commands.ErrDisclaimerRequired.Code && rule.Code != commands.ErrPasswordChangeRequired.Code {
		// Too many tokens already: said on the field.
		f.add("token_name", rule.Code, rule.Message)
	}
	if f.HasErrors() || f.addValidation(err, map[string]string{"name": "token_name"}) {
		h.renderMyDetails(w, r, http.StatusUnprocessableEntity, s, f, "", nil)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The session's user was loaded before the token existed: list it.
	s.actor.User.Tokens = cloneTokens(s.actor.User.Tokens)
	s.actor.User.Tokens[res.TokenID] = &account.Token{Name: res.Name, ExpiresAt: res.ExpiresAt}
	h.renderMyDetails(w, r, http.StatusCreated, s, newForm(), "", &res)
}

func cloneTokens(m map[uuid.UUID]*account.Token) map[uuid.UUID]*account.Token {
	out := make(map[uuid.UUID]*account.Token, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (h *Handler) submitRevokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := uuid.Parse(r.PostForm.Get("token_id"))
	if err != nil {
		h.errorPage(w, r, http.StatusBadRequest)
		return
	}
	if _, err := h.commands.RevokeAPIToken(r.Context(), s.actor, id); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "/my-details?done=token-revoked")
}
