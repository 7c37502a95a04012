package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// messageIDDomain is the right-hand side of every Message-ID we generate.
const messageIDDomain = "capacity-tracker.local"

// Limits that keep every header line under RFC 5322's hard limit of 998
// characters and every filename DirSender writes under 255 bytes.
const (
	maxIDLen      = 64
	maxNameLen    = 128
	maxEmailLen   = 254 // RFC 5321's limit on a forward-path, less the brackets
	maxSubjectLen = 900
	maxRecipients = 100 // RFC 5321 section 4.5.3.1.8: servers accept at least 100
)

// ErrInvalidMessage is wrapped by every error Validate returns.
var ErrInvalidMessage = errors.New("invalid mail message")

// Address is a mailbox: an optional display name and an address.
type Address struct {
	Name  string
	Email string
}

// String formats the address for a From or To header as net/mail does,
// quoting a plain ASCII name and RFC 2047 encoding any other.
func (a Address) String() string {
	if isPrintableASCII(a.Name) {
		return (&netmail.Address{Name: a.Name, Address: a.Email}).String()
	}
	// net/mail Q-encodes names holding characters that RFC 2047 section
	// 5(3) forbids in an encoded word in a phrase (a backslash, say), and
	// its own parser then rejects the result. Such names get B encoding.
	enc := mime.QEncoding
	if strings.ContainsFunc(a.Name, notQPhraseSafe) {
		enc = mime.BEncoding
	}
	return enc.Encode("utf-8", a.Name) + " " + (&netmail.Address{Address: a.Email}).String()
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c > '~' {
			return false
		}
	}
	return true
}

// notQPhraseSafe reports whether the Q encoder would leave r as it is
// although RFC 2047 section 5(3) does not allow it in a phrase. The encoder
// escapes '=', '?', '_' and every non-ASCII byte, and turns space into '_'.
func notQPhraseSafe(r rune) bool {
	switch {
	case r >= utf8.RuneSelf, 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("!*+-/ =?_", r)
}

// Message is one plain-text email.
type Message struct {
	// ID is the stable id of this message (the outbox row id). It becomes
	// the Message-ID <ID@capacity-tracker.local>, so a resend after a crash
	// carries the same Message-ID. It must be an RFC 5322 dot-atom of at
	// most 64 characters (a UUID, ULID or integer all qualify).
	ID   string
	From Address
	// To holds 1 to 100 recipients; display names are at most 128 bytes.
	To []Address
	// Subject is at most 900 bytes, one line.
	Subject string
	// Text is the plain-text body, UTF-8. Line endings may be LF, CRLF or
	// CR; all are sent as CRLF.
	Text string
	// Date is the origination date. Take it from the outbox row, not from
	// the clock at send time, so that a resend produces the same bytes
	// (and DirSender the same file).
	Date time.Time
}

// Validate reports whether m can be sent: a dot-atom ID, a From address and
// between one and 100 To addresses, all valid ASCII addr-specs; display
// names and Subject without control characters (CR or LF would let a value
// inject headers); valid UTF-8 throughout; a Date with a four-digit year.
// Every error wraps ErrInvalidMessage.
func (m Message) Validate() error {
	if err := validateID(m.ID); err != nil {
		return invalid("id", err)
	}
	if err := m.From.validate(); err != nil {
		return invalid("from", err)
	}
	if len(m.To) == 0 {
		return invalid("to", errors.New("has no recipients"))
	}
	if len(m.To) > maxRecipients {
		return invalid("to", fmt.Errorf("has %d recipients, more than %d", len(m.To), maxRecipients))
	}
	for i, to := range m.To {
		if err := to.validate(); err != nil {
			return invalid(fmt.Sprintf("to[%d]", i), err)
		}
	}
	if err := validateHeaderText(m.Subject, maxSubjectLen); err != nil {
		return invalid("subject", err)
	}
	if !utf8.ValidString(m.Text) {
		return invalid("text", errors.New("is not valid UTF-8"))
	}
	if m.Date.IsZero() {
		return invalid("date", errors.New("is not set"))
	}
	if y := m.Date.Year(); y < 1 || y > 9999 {
		return invalid("date", fmt.Errorf("year %d is outside 1-9999", y))
	}
	return nil
}

// Bytes renders m as a complete RFC 5322 message with CRLF line endings:
// a text/plain UTF-8 body in quoted-printable, so the message is 7-bit clean
// and survives any relay. It returns Validate's error for an invalid message.
func (m Message) Bytes() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	writeHeader(&b, "From", m.From.String())
	to := make([]string, len(m.To))
	for i, a := range m.To {
		to[i] = a.String()
	}
	// One recipient per line keeps a long list under the line limit.
	writeHeader(&b, "To", strings.Join(to, ",\r\n "))
	writeHeader(&b, "Subject", encodeSubject(m.Subject))
	writeHeader(&b, "Date", m.Date.Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", "<"+m.ID+"@"+messageIDDomain+">")
	writeHeader(&b, "MIME-Version", "1.0")
	writeHeader(&b, "Content-Type", "text/plain; charset=utf-8")
	writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	// The quoted-printable writer turns LF into CRLF. It is handed LF only:
	// after a CR it drops the next LF even when an escaped byte comes
	// between them ("\r\x10\n" loses a line break), so CRLF and lone CR
	// become LF first.
	text := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(m.Text)
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	// SMTP's DATA terminator would add the final CRLF anyway; adding it here
	// makes the bytes on the wire and in an .eml file the same.
	if m.Text != "" && !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(value)
	b.WriteString("\r\n")
}

// encodeSubject RFC 2047-encodes a subject that is not plain ASCII and folds
// the encoded words one per line, so a long subject stays within line limits.
// Whitespace between adjacent encoded words is ignored by decoders, so the
// folding does not change the decoded subject.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

func invalid(field string, err error) error {
	return fmt.Errorf("%w: %s %v", ErrInvalidMessage, field, err)
}

func (a Address) validate() error {
	if err := validateEmail(a.Email); err != nil {
		return err
	}
	if err := validateHeaderText(a.Name, maxNameLen); err != nil {
		return fmt.Errorf("name %w", err)
	}
	return nil
}

func validateEmail(email string) error {
	switch {
	case email == "":
		return errors.New("email is empty")
	case len(email) > maxEmailLen:
		return fmt.Errorf("email is longer than %d bytes", maxEmailLen)
	case strings.ContainsAny(email, "\r\n"):
		return errors.New("email contains CR or LF")
	}
	for i := 0; i < len(email); i++ {
		if email[i] >= utf8.RuneSelf {
			// Non-ASCII addresses need SMTPUTF8, which we do not negotiate.
			return fmt.Errorf("email %q is not ASCII", email)
		}
	}
	// Only a bare addr-spec is accepted: a name, comment, angle brackets or
	// quoted local part would be re-rendered differently than given.
	parsed, err := netmail.ParseAddress(email)
	if err != nil || parsed.Name != "" || parsed.Address != email {
		return fmt.Errorf("email %q is not a valid address", email)
	}
	return nil
}

// validateHeaderText checks a value that goes into a header (a display name
// or the subject): UTF-8, bounded, and free of control characters other than
// tab. CR and LF get their own message because they are how header injection
// is attempted.
func validateHeaderText(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("is longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("contains CR or LF (header injection)")
	}
	for _, r := range s {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}

// validateID checks that id is an RFC 5322 dot-atom-text, the form the left
// side of a Message-ID takes.
func validateID(id string) error {
	switch {
	case id == "":
		return errors.New("is empty")
	case len(id) > maxIDLen:
		return fmt.Errorf("is longer than %d bytes", maxIDLen)
	case id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, ".."):
		return fmt.Errorf("%q has a leading, trailing or doubled dot", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c != '.' && !isAtext(c) {
			return fmt.Errorf("%q contains %q, which a Message-ID cannot hold", id, c)
		}
	}
	return nil
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// A Sender delivers one message. It does not retry: a returned error is
// either permanent (IsPermanent) or worth retrying later. Implementations
// are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// PermanentError marks a failure that retrying the same message cannot fix:
// the server refused it with a 5xx reply, or the message is invalid.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err, or any error it wraps, is a
// *PermanentError. Any other non-nil error is temporary.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
