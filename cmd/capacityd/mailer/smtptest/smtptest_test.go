package smtptest_test

import (
	"errors"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer/smtptest"
)

const message = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"SGFsbG8sCldlbHQhCg==\r\n"

func TestServer_RecordsAndDecodesMessages(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)

	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com", "c@example.com"}, []byte(message)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}

	got := srv.WaitFor(t, 1, 10*time.Second)
	r := got[0]
	if r.From != "a@example.com" || !slices.Equal(r.To, []string{"b@example.com", "c@example.com"}) {
		t.Errorf("envelope = %q -> %q", r.From, r.To)
	}
	if string(r.Data) != message {
		t.Errorf("Data = %q, want %q", r.Data, message)
	}
	if r.Subject != "Grüße" {
		t.Errorf("Subject = %q, want decoded %q", r.Subject, "Grüße")
	}
	if r.Text != "Hallo,\nWelt!\n" {
		t.Errorf("Text = %q", r.Text)
	}
	if r.Msg == nil || r.Msg.Header.Get("To") != "b@example.com" {
		t.Errorf("Msg = %+v", r.Msg)
	}
	// Each call parses afresh, so one caller reading Msg.Body does not
	// empty it for the next.
	if again := srv.Messages(); again[0].Msg == r.Msg {
		t.Errorf("Messages returned the same *mail.Message twice")
	}
}

func TestServer_RejectsRecipientsWithConfiguredCode(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartWithOptions(t, smtptest.Options{RejectRcpt: map[string]int{
		"gone@example.com": 550,
		"busy@example.com": 451,
	}})
	for rcpt, want := range map[string]int{"gone@example.com": 550, "busy@example.com": 451} {
		err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{rcpt}, []byte(message))
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != want {
			t.Errorf("SendMail to %s = %v, want reply %d", rcpt, err, want)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server recorded %d messages, want 0", n)
	}
}

func TestServer_OffersAuthOnlyAfterSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartWithOptions(t, smtptest.Options{TLS: true, Username: "u", Password: "p"})
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Errorf("AUTH offered over plain text")
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Errorf("STARTTLS not offered")
	}
	if err := c.Mail("a@example.com"); err == nil {
		t.Errorf("MAIL accepted without authentication")
	}
	if !strings.Contains(srv.Transcript(), "EHLO localhost") {
		t.Errorf("transcript misses the EHLO:\n%s", srv.Transcript())
	}
}

// recordingTB captures Fatalf instead of stopping the goroutine.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(string, ...any) { r.failed = true }

func TestWaitFor_FailsTheTestOnTimeout(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	tb := &recordingTB{TB: t}
	if got := srv.WaitFor(tb, 1, 50*time.Millisecond); got != nil || !tb.failed {
		t.Errorf("WaitFor with no mail = %v, failed = %v; want nil and a failed test", got, tb.failed)
	}
}
