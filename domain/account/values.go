// Package account is the user aggregate: registration, approval of access to
// locations, roles, deactivation, passwords (that they were set, never the
// secret), API tokens, and logins with their lockout. Pure Go: no I/O. The
// commands package loads the streams, calls the Decide functions and
// appends what they return.
//
// Streams:
//   - user-<uuid>: one user's account (UserState).
//   - login-<uuid>: that user's logins, failures and lockout (LoginState),
//     kept apart so that the account stream, read on every request, stays
//     short however often the user logs in.
//   - useremail-<sha256 of the normalised email>: who holds an email address,
//     which makes addresses unique without reading a projection.
package account

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
)

// Stream ids.
func UserStream(id uuid.UUID) string  { return "user-" + id.String() }
func LoginStream(id uuid.UUID) string { return "login-" + id.String() }

// EmailStream is the stream that records who holds an email address. Its id
// is a hash so that the address itself, personal data, is not in a stream id.
func EmailStream(e Email) string {
	sum := sha256.Sum256([]byte(e.s))
	return "useremail-" + hex.EncodeToString(sum[:])
}

// Subject is the data subject id under which a user's personal fields are
// sealed.
func Subject(id uuid.UUID) string { return "user-" + id.String() }

// Email is a normalised (trimmed, lower-cased) email address.
type Email struct{ s string }

// ParseEmail normalises and checks an address.
func ParseEmail(s string) (Email, error) {
	e, ok := domain.NormaliseEmail(s)
	switch {
	case e == "":
		return Email{}, domain.Invalid("email", "required", "Enter your email address")
	case len(e) > 254:
		return Email{}, domain.Invalid("email", "too_long", "An email address has at most 254 characters")
	case !ok:
		return Email{}, domain.Invalid("email", "invalid_email", "Enter an email address like name@example.nhs.uk")
	}
	return Email{s: e}, nil
}

// MustEmail is ParseEmail for addresses known to be valid (tests, fixtures).
func MustEmail(s string) Email {
	e, err := ParseEmail(s)
	if err != nil {
		panic(err)
	}
	return e
}

func (e Email) String() string { return e.s }

// IsZero reports an unset address.
func (e Email) IsZero() bool { return e.s == "" }

// cleanField checks a free-text field's length after cleaning.
func cleanField(v *domain.ValidationError, field, label, s string, minLen, maxLen int) string {
	c := domain.CleanText(s)
	n := utf8.RuneCountInString(c)
	switch {
	case n == 0 && minLen > 0:
		v.Add(field, "required", "Enter your "+label)
	case n < minLen:
		v.Add(field, "too_short", "Your "+label+" is too short")
	case n > maxLen:
		v.Add(field, "too_long", "Your "+label+" is too long")
	}
	return c
}

// parseFullName checks a person's name: 2 to 100 characters, letters with
// spaces, hyphens, apostrophes and dots.
func parseFullName(v *domain.ValidationError, field, s string) string {
	n := len(v.Fields)
	c := cleanField(v, field, "full name", s, 2, 100)
	if len(v.Fields) > n {
		return c
	}
	letters := 0
	for _, r := range c {
		switch {
		case unicode.IsLetter(r):
			letters++
		case r == ' ' || r == '-' || r == '\'' || r == '.' || r == '’':
		default:
			v.Add(field, "invalid_characters", "A name may hold letters, spaces, hyphens, apostrophes and dots")
			return c
		}
	}
	if letters < 2 {
		v.Add(field, "invalid_characters", "A name needs at least two letters")
	}
	return c
}

// parsePhone checks a contact number: digits with spaces, +, -, ( and ),
// 10 to 15 digits.
func parsePhone(v *domain.ValidationError, field, s string) string {
	c := domain.CleanText(s)
	if c == "" {
		v.Add(field, "required", "Enter your contact number")
		return c
	}
	if len(c) > 25 {
		v.Add(field, "too_long", "Your contact number is too long")
		return c
	}
	digits := 0
	for i, r := range c {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')':
		default:
			v.Add(field, "invalid_phone", "A contact number holds digits, spaces and + - ( )")
			return c
		}
	}
	if digits < 10 || digits > 15 {
		v.Add(field, "invalid_phone", "A contact number has 10 to 15 digits")
	}
	return c
}

// parseJobTitle checks a job title: 2 to 100 printable characters.
func parseJobTitle(v *domain.ValidationError, field, s string) string {
	n := len(v.Fields)
	c := cleanField(v, field, "job title", s, 2, 100)
	if len(v.Fields) > n {
		return c
	}
	for _, r := range c {
		if !unicode.IsPrint(r) {
			v.Add(field, "invalid_characters", "A job title holds printable characters only")
			break
		}
	}
	return c
}

// Role is what a user may do.
type Role string

const (
	// Standard users update their locations.
	Standard Role = "standard"
	// Approvers also approve requests for, and manage the users of, the
	// organisations of their locations.
	Approver Role = "approver"
	// Support is the central support team: every organisation.
	Support Role = "support"
)

// ParseUserType reads the user type of a registration: Standard (the
// default) or Approver.
func ParseUserType(s string) (Role, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "standard":
		return Standard, true
	case "approver":
		return Approver, true
	}
	return "", false
}

// Kind is whether an account belongs to one person or is shared.
type Kind string

const (
	Personal Kind = "personal"
	Generic  Kind = "generic"
)

// Status is where an account is in its life.
type Status string

const (
	// Pending: registered, waiting for an approval.
	Pending Status = "pending"
	// Active: may log in.
	Active Status = "active"
	// Rejected: every organisation rejected the registration.
	Rejected Status = "rejected"
	// Deactivated: a leaver; login refused.
	Deactivated Status = "deactivated"
)
