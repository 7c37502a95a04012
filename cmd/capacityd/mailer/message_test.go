package mailer_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
)

var testDate = time.Date(2026, 3, 14, 9, 26, 53, 0, time.FixedZone("BST", 3600))

func testMessage() mailer.Message {
	return mailer.Message{
		ID:      "0190f2a4-7c1e-7b3a-9d2e-4f5a6b7c8d9e",
		From:    mailer.Address{Name: "Capacity Tracker", Email: "noreply@capacity-tracker.example"},
		To:      []mailer.Address{{Name: "Zoë Ørsted", Email: "zoe@care-home.example"}, {Email: "manager@care-home.example"}},
		Subject: "Bed update needed — Säint Mary's",
		Text:    "Dear Zoë,\n\nPlease submit today's update: 3 beds free.\nA line with a trailing space \n.\nThanks\n",
		Date:    testDate,
	}
}

// decodeBody reads a quoted-printable body and normalises line endings to LF.
func decodeBody(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		t.Fatalf("decode quoted-printable body: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestMessageBytes_RendersParseableRFC5322Message(t *testing.T) {
	m := testMessage()
	raw, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	assertCRLFAndLineLimit(t, raw)

	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != m.From.Name || from[0].Address != m.From.Email {
		t.Errorf("From = %v, %v; want %v", from, err, m.From)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 {
		t.Fatalf("To = %v, %v; want two addresses", to, err)
	}
	for i, want := range m.To {
		if to[i].Name != want.Name || to[i].Address != want.Email {
			t.Errorf("To[%d] = %v, want %v", i, to[i], want)
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject decodes to %q, %v; want %q", subject, err, m.Subject)
	}
	if !strings.HasPrefix(msg.Header.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("non-ASCII Subject %q is not Q-encoded", msg.Header.Get("Subject"))
	}
	date, err := msg.Header.Date()
	if err != nil || !date.Equal(m.Date) {
		t.Errorf("Date = %v, %v; want %v", date, err, m.Date)
	}
	for name, want := range map[string]string{
		"Message-Id":                "<" + m.ID + "@capacity-tracker.local>",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if got := msg.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := decodeBody(t, msg.Body); got != m.Text {
		t.Errorf("body = %q, want %q", got, m.Text)
	}
}

func TestMessageBytes_LeavesASCIISubjectUnencoded(t *testing.T) {
	m := testMessage()
	m.Subject = "Daily update reminder"
	raw, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	if !bytes.Contains(raw, []byte("\r\nSubject: Daily update reminder\r\n")) {
		t.Errorf("message does not carry the plain subject:\n%s", raw)
	}
}

func TestMessageBytes_FoldsLongUTF8Subject(t *testing.T) {
	m := testMessage()
	m.Subject = strings.Repeat("Überbelegung in Pflegeheimen ", 20)
	raw, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	assertCRLFAndLineLimit(t, raw)
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || got != m.Subject {
		t.Errorf("Subject decodes to %q, %v; want %q", got, err, m.Subject)
	}
}

func TestMessageBytes_IsDeterministic(t *testing.T) {
	a, err := testMessage().Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	b, err := testMessage().Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two renderings of one message differ:\n%s\n---\n%s", a, b)
	}
}

func TestMessageValidate_RejectsHeaderInjection(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*mailer.Message)
	}{
		{"subject CRLF", func(m *mailer.Message) { m.Subject = "Hello\r\nBcc: victim@example.com" }},
		{"subject LF", func(m *mailer.Message) { m.Subject = "Hello\nBcc: victim@example.com" }},
		{"subject CR", func(m *mailer.Message) { m.Subject = "Hello\rBcc: victim@example.com" }},
		{"from name", func(m *mailer.Message) { m.From.Name = "Tracker\r\nBcc: victim@example.com" }},
		{"to name", func(m *mailer.Message) { m.To[0].Name = "Zoë\nBcc: victim@example.com" }},
		{"to email", func(m *mailer.Message) { m.To[0].Email = "zoe@example.com\r\nBcc: victim@example.com" }},
		{"from email", func(m *mailer.Message) { m.From.Email = "a@example.com\nX: y" }},
		{"id", func(m *mailer.Message) { m.ID = "abc\r\nBcc: victim@example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.modify(&m)
			if err := m.Validate(); !errors.Is(err, mailer.ErrInvalidMessage) {
				t.Errorf("Validate = %v, want ErrInvalidMessage", err)
			}
			if raw, err := m.Bytes(); err == nil {
				t.Errorf("Bytes rendered an injected message:\n%s", raw)
			}
		})
	}
}

func TestMessageValidate_RejectsInvalidMessages(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*mailer.Message)
	}{
		{"empty id", func(m *mailer.Message) { m.ID = "" }},
		{"id with space", func(m *mailer.Message) { m.ID = "a b" }},
		{"id with angle bracket", func(m *mailer.Message) { m.ID = "a>b" }},
		{"id with leading dot", func(m *mailer.Message) { m.ID = ".abc" }},
		{"id with double dot", func(m *mailer.Message) { m.ID = "a..b" }},
		{"id too long", func(m *mailer.Message) { m.ID = strings.Repeat("a", 65) }},
		{"no from", func(m *mailer.Message) { m.From = mailer.Address{} }},
		{"no recipients", func(m *mailer.Message) { m.To = nil }},
		{"too many recipients", func(m *mailer.Message) {
			m.To = make([]mailer.Address, 101)
			for i := range m.To {
				m.To[i] = mailer.Address{Email: "a@example.com"}
			}
		}},
		{"email without at", func(m *mailer.Message) { m.To[0].Email = "zoe.example.com" }},
		{"email with name", func(m *mailer.Message) { m.To[0].Email = "Zoe <zoe@example.com>" }},
		{"email in brackets", func(m *mailer.Message) { m.To[0].Email = "<zoe@example.com>" }},
		{"email with spaces", func(m *mailer.Message) { m.To[0].Email = " zoe@example.com" }},
		{"non-ASCII email", func(m *mailer.Message) { m.To[0].Email = "zoë@example.com" }},
		{"name with control character", func(m *mailer.Message) { m.From.Name = "a\x00b" }},
		{"subject invalid UTF-8", func(m *mailer.Message) { m.Subject = "a\xffb" }},
		{"subject too long", func(m *mailer.Message) { m.Subject = strings.Repeat("a", 901) }},
		{"text invalid UTF-8", func(m *mailer.Message) { m.Text = "a\xffb" }},
		{"zero date", func(m *mailer.Message) { m.Date = time.Time{} }},
		{"five-digit year", func(m *mailer.Message) { m.Date = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.modify(&m)
			if err := m.Validate(); !errors.Is(err, mailer.ErrInvalidMessage) {
				t.Errorf("Validate = %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestMessageValidate_AcceptsOrdinaryMessages(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*mailer.Message)
	}{
		{"as built", func(*mailer.Message) {}},
		{"integer id", func(m *mailer.Message) { m.ID = "42" }},
		{"dotted id with atext", func(m *mailer.Message) { m.ID = "outbox.42/retry=1" }},
		{"empty subject and text", func(m *mailer.Message) { m.Subject, m.Text = "", "" }},
		{"tab in subject", func(m *mailer.Message) { m.Subject = "a\tb" }},
		{"name with quotes", func(m *mailer.Message) { m.From.Name = `O'Brien, "Pat"` }},
		{"plus address", func(m *mailer.Message) { m.To[0].Email = "zoe+beds@example.co.uk" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.modify(&m)
			if err := m.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestAddressString_FormatsForHeaders(t *testing.T) {
	tests := []struct {
		addr mailer.Address
		want string
	}{
		{mailer.Address{Email: "a@example.com"}, "<a@example.com>"},
		{mailer.Address{Name: "Pat Smith", Email: "a@example.com"}, `"Pat Smith" <a@example.com>`},
		{mailer.Address{Name: "Zoë", Email: "a@example.com"}, "=?utf-8?q?Zo=C3=AB?= <a@example.com>"},
	}
	for _, tt := range tests {
		if got := tt.addr.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestIsPermanent_SeesThroughWrapping(t *testing.T) {
	base := errors.New("550 no such user")
	perm := &mailer.PermanentError{Err: base}
	wrapped := errors.Join(errors.New("context"), perm)
	if !mailer.IsPermanent(perm) || !mailer.IsPermanent(wrapped) {
		t.Errorf("IsPermanent is false for a (wrapped) PermanentError")
	}
	if !errors.Is(wrapped, base) {
		t.Errorf("PermanentError does not unwrap to its cause")
	}
	if mailer.IsPermanent(base) || mailer.IsPermanent(nil) {
		t.Errorf("IsPermanent is true for an ordinary error or nil")
	}
}

// assertCRLFAndLineLimit checks that every line ends in CRLF and stays
// within RFC 5322's 998-character limit.
func assertCRLFAndLineLimit(t *testing.T, raw []byte) {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("message does not end with CRLF")
	}
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Errorf("line %d is %d characters long", i+1, len(line))
		}
	}
}

func FuzzMessageBytes(f *testing.F) {
	m := testMessage()
	f.Add(m.ID, m.From.Name, m.From.Email, m.To[0].Name, m.To[0].Email, m.Subject, m.Text, m.Date.Unix())
	f.Add("1", "", "a@b", "", "c@d", "", "", int64(0))
	f.Add("x", "a\r\nb", "a@b", "\"", "c@d", "=?utf-8?q?x?=", "\r.\r\n.\n", int64(-1))
	f.Add("id.1", "Ünïcødé, (Name)", "x.y@example.com", "", "z@example.com", strings.Repeat("é", 400), strings.Repeat("long line ", 100), int64(1e10))
	f.Fuzz(func(t *testing.T, id, fromName, fromEmail, toName, toEmail, subject, text string, unix int64) {
		m := mailer.Message{
			ID:      id,
			From:    mailer.Address{Name: fromName, Email: fromEmail},
			To:      []mailer.Address{{Name: toName, Email: toEmail}, {Email: "second@example.com"}},
			Subject: subject,
			Text:    text,
			Date:    time.Unix(unix, 0).UTC(),
		}
		raw, err := m.Bytes() // must not panic, whatever the input
		if verr := m.Validate(); verr != nil {
			if err == nil {
				t.Fatalf("Validate = %v but Bytes succeeded", verr)
			}
			return
		}
		if err != nil {
			t.Fatalf("Validate passed but Bytes = %v", err)
		}
		assertCRLFAndLineLimit(t, raw)
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("ReadMessage: %v\n%q", err, raw)
		}
		for _, h := range []string{"From", "To"} {
			if _, err := msg.Header.AddressList(h); err != nil {
				t.Fatalf("%s header %q does not parse: %v", h, msg.Header.Get(h), err)
			}
		}
		to, _ := msg.Header.AddressList("To")
		if len(to) != 2 || to[0].Address != toEmail {
			t.Fatalf("To = %v, want %q first of two", to, toEmail)
		}
		if got := msg.Header.Get("Message-Id"); got != "<"+id+"@capacity-tracker.local>" {
			t.Fatalf("Message-ID = %q", got)
		}
		if len(msg.Header["Subject"]) != 1 || len(msg.Header["Bcc"]) != 0 {
			t.Fatalf("headers were injected: %v", msg.Header)
		}
		// Decoding must give back the subject; an ASCII subject that
		// merely looks like an encoded word is the one known exception,
		// and header parsing trims surrounding whitespace.
		if gotSubject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); !strings.Contains(subject, "=?") &&
			(err != nil || strings.Trim(gotSubject, " \t") != strings.Trim(subject, " \t")) {
			t.Fatalf("Subject decodes to %q, %v; want %q", gotSubject, err, subject)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatalf("decode body: %v", err)
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text)
		if want != "" && !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want {
			t.Fatalf("body decodes to %q, want %q", got, want)
		}
	})
}
