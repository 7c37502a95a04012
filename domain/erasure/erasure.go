// Package erasure is the UK GDPR right to erasure: support erases a person
// (a user, or a contact of a location's directory). Their data-subject key
// is destroyed, so that every personal field sealed under it reads as
// erased everywhere, in the log and in every view rebuilt from it; the
// erasure itself is recorded as an event of its own stream, saying who asked
// and why (the metadata says who did it and when). Pure Go: no I/O.
package erasure

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
)

// Stream is an erasure's stream.
func Stream(id string) string { return "erasure-" + id }

// Kinds of person.
const (
	KindUser    = "user"
	KindContact = "contact"
)

// PersonErased records an erasure. It names the person only by ids: the
// subject whose key was destroyed and the user or the location and contact.
type PersonErased struct {
	ErasureID  string `json:"erasure_id"`
	Kind       string `json:"kind"`
	Subject    string `json:"subject"`
	UserID     string `json:"user_id,omitempty"`
	LocationID string `json:"location_id,omitempty"`
	ContactID  string `json:"contact_id,omitempty"`
	// RequestedBy is who asked for the erasure ("the person, by email to
	// support on 20 November 2026"), Reason why.
	RequestedBy string    `json:"requested_by"`
	Reason      string    `json:"reason"`
	ErasedAt    time.Time `json:"erased_at"`
}

// TypePersonErased is the event type name.
const TypePersonErased = "PersonErased"

func (PersonErased) EventType() string { return TypePersonErased }

// events is the registry of the erasure streams' events.
var events = domain.NewRegistry(domain.EventOf[PersonErased]())

// Events is the package's event registry: its type names and decoders.
func Events() domain.Registry { return events }

// Decode reads an event of an erasure stream, by the rules of
// domain.Registry.Decode; unknown types are (nil, nil).
func Decode(eventType string, data []byte) (domain.Event, error) {
	return events.Decode(eventType, data)
}

// Request is support's erasure request, checked by Validate.
type Request struct {
	Kind        string
	UserID      string
	LocationID  string
	ContactID   string
	RequestedBy string
	Reason      string
}

// MaxText bounds requested_by and reason.
const MaxText = 500

// Validate checks the request's form (not whether the person exists).
func (r Request) Validate() (Request, error) {
	var v domain.ValidationError
	r.RequestedBy, r.Reason = domain.CleanText(r.RequestedBy), domain.CleanText(r.Reason)
	switch r.Kind {
	case KindUser:
		if _, err := uuid.Parse(r.UserID); err != nil {
			v.Add("user_id", "invalid_id", "Name the user by id")
		}
	case KindContact:
		if r.LocationID == "" {
			v.Add("location_id", "required", "Name the location of the contact")
		}
		if _, err := uuid.Parse(r.ContactID); err != nil {
			v.Add("contact_id", "invalid_id", "Name the contact by id")
		}
	default:
		v.Add("kind", "invalid_choice", "Erase a user or a contact")
	}
	for _, f := range []struct{ name, value string }{{"requested_by", r.RequestedBy}, {"reason", r.Reason}} {
		switch n := utf8.RuneCountInString(f.value); {
		case n == 0:
			v.Add(f.name, "required", "Say who asked for the erasure and why")
		case n > MaxText:
			v.Add(f.name, "too_long", fmt.Sprintf("At most %d characters", MaxText))
		}
	}
	return r, v.Err()
}
