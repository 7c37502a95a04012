package mailer_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer/smtptest"
)

// waitBound bounds waits for the in-process server; it is not a speed
// assertion.
const waitBound = 10 * time.Second

func newSender(t *testing.T, cfg mailer.SMTPConfig) *mailer.SMTPSender {
	t.Helper()
	s, err := mailer.NewSMTPSender(cfg)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

func TestSMTPSender_DeliversToRealServer(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), LocalName: "capacityd.test"})
	m := testMessage()

	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := srv.WaitFor(t, 1, waitBound)
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.From != m.From.Email {
		t.Errorf("envelope from = %q, want %q", r.From, m.From.Email)
	}
	if want := []string{m.To[0].Email, m.To[1].Email}; !slices.Equal(r.To, want) {
		t.Errorf("envelope to = %q, want %q", r.To, want)
	}
	want, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	if !bytes.Equal(r.Data, want) {
		t.Errorf("server received\n%s\nwant\n%s", r.Data, want)
	}
	if r.Msg == nil {
		t.Fatalf("received message does not parse")
	}
	if r.Subject != m.Subject {
		t.Errorf("Subject = %q, want %q", r.Subject, m.Subject)
	}
	if r.Text != m.Text {
		t.Errorf("Text = %q, want %q", r.Text, m.Text)
	}
	if got, want := r.Msg.Header.Get("Message-ID"), "<"+m.ID+"@capacity-tracker.local>"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	to, err := r.Msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != m.To[0].Name {
		t.Errorf("To header = %v, %v; want both recipients with names", to, err)
	}
	if r.TLS || r.AuthUser != "" {
		t.Errorf("TLS = %v, AuthUser = %q; want a plain, unauthenticated session", r.TLS, r.AuthUser)
	}
	if !strings.Contains(srv.Transcript(), "EHLO capacityd.test") {
		t.Errorf("client did not introduce itself with LocalName:\n%s", srv.Transcript())
	}
}

func TestSMTPSender_ResendCarriesSameMessageID(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port()})
	m := testMessage()
	for range 2 {
		if err := sender.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := srv.WaitFor(t, 2, waitBound)
	if a, b := got[0].Msg.Header.Get("Message-ID"), got[1].Msg.Header.Get("Message-ID"); a != b {
		t.Errorf("resend changed Message-ID from %q to %q", a, b)
	}
}

func TestSMTPSender_TLSModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		server   smtptest.Options
		tls      string
		username string
		wantTLS  bool
	}{
		{name: "opportunistic without server STARTTLS stays plain", server: smtptest.Options{}, tls: "", wantTLS: false},
		{name: "opportunistic upgrades when offered", server: smtptest.Options{TLS: true}, tls: "", wantTLS: true},
		{name: "none ignores offered STARTTLS", server: smtptest.Options{TLS: true}, tls: mailer.TLSNone, wantTLS: false},
		{name: "starttls with auth", server: smtptest.Options{TLS: true, Username: "tracker", Password: "s3cret"}, tls: mailer.TLSStartTLS, username: "tracker", wantTLS: true},
		{name: "opportunistic with auth", server: smtptest.Options{TLS: true, Username: "tracker", Password: "s3cret"}, tls: "", username: "tracker", wantTLS: true},
		{name: "implicit tls with auth", server: smtptest.Options{ImplicitTLS: true, Username: "tracker", Password: "s3cret"}, tls: mailer.TLSImplicit, username: "tracker", wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.StartWithOptions(t, tt.server)
			cfg := mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: tt.tls, InsecureSkipVerify: true}
			if tt.username != "" {
				cfg.Username, cfg.Password = tt.username, tt.server.Password
			}
			if err := newSender(t, cfg).Send(context.Background(), testMessage()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := srv.WaitFor(t, 1, waitBound)[0]
			if r.TLS != tt.wantTLS {
				t.Errorf("received over TLS = %v, want %v", r.TLS, tt.wantTLS)
			}
			if r.AuthUser != tt.username {
				t.Errorf("authenticated as %q, want %q", r.AuthUser, tt.username)
			}
			if r.Subject != testMessage().Subject {
				t.Errorf("Subject = %q", r.Subject)
			}
		})
	}
}

func TestSMTPSender_RefusesAuthOverPlainConnection(t *testing.T) {
	t.Parallel()
	// The server requires AUTH but offers no STARTTLS.
	srv := smtptest.StartWithOptions(t, smtptest.Options{Username: "tracker", Password: "s3cret"})
	sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), Username: "tracker", Password: "s3cret"})

	err := sender.Send(context.Background(), testMessage())
	if err == nil {
		t.Fatalf("Send succeeded, want a refusal to authenticate in clear")
	}
	if mailer.IsPermanent(err) {
		t.Errorf("refusal is permanent (%v); a configuration problem must not drop the message", err)
	}
	transcript := srv.Transcript()
	if strings.Contains(transcript, "AUTH PLAIN") || strings.Contains(transcript, "s3cret") {
		t.Errorf("client sent credentials over a plain connection:\n%s", transcript)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
}

func TestSMTPSender_RequiresSTARTTLSWhenConfigured(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t) // no STARTTLS
	sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSStartTLS})

	err := sender.Send(context.Background(), testMessage())
	if err == nil || mailer.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
}

func TestSMTPSender_RejectsUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartWithOptions(t, smtptest.Options{TLS: true}) // self-signed
	sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSStartTLS})

	err := sender.Send(context.Background(), testMessage())
	if err == nil || mailer.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary certificate error", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
}

func TestSMTPSender_WrongPasswordIsTemporary(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartWithOptions(t, smtptest.Options{TLS: true, Username: "tracker", Password: "s3cret"})
	sender := newSender(t, mailer.SMTPConfig{
		Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSStartTLS, InsecureSkipVerify: true,
		Username: "tracker", Password: "wrong",
	})

	err := sender.Send(context.Background(), testMessage())
	if err == nil {
		t.Fatalf("Send succeeded with a wrong password")
	}
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error %q does not carry the server's 535 reply", err)
	}
	// 535 is a 5xx reply, but it fails every message until the
	// configuration is fixed, so the message must be kept for a retry.
	if mailer.IsPermanent(err) {
		t.Errorf("IsPermanent = true for an authentication failure")
	}
}

func TestSMTPSender_ClassifiesRecipientRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reject        map[string]int
		wantPermanent bool
	}{
		{"550 is permanent", map[string]int{"zoe@care-home.example": 550}, true},
		{"553 is permanent", map[string]int{"manager@care-home.example": 553}, true},
		{"451 is temporary", map[string]int{"zoe@care-home.example": 451}, false},
		{"452 is temporary", map[string]int{"manager@care-home.example": 452}, false},
		{"a 5xx among 4xx is permanent", map[string]int{"zoe@care-home.example": 451, "manager@care-home.example": 550}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.StartWithOptions(t, smtptest.Options{RejectRcpt: tt.reject})
			sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port()})

			err := sender.Send(context.Background(), testMessage())
			if err == nil {
				t.Fatalf("Send succeeded, want a rejection")
			}
			if got := mailer.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.wantPermanent)
			}
			// All or nothing: the accepted recipient gets nothing either.
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server received %d messages, want 0", n)
			}
		})
	}
}

func TestSMTPSender_ConnectionRefusedIsTemporary(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens on port now

	sender := newSender(t, mailer.SMTPConfig{Host: "127.0.0.1", Port: port})
	err = sender.Send(context.Background(), testMessage())
	if err == nil || mailer.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
}

func TestSMTPSender_InvalidMessageIsPermanent(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	sender := newSender(t, mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port()})
	m := testMessage()
	m.Subject = "Hi\r\nBcc: victim@example.com"

	err := sender.Send(context.Background(), m)
	if !mailer.IsPermanent(err) || !errors.Is(err, mailer.ErrInvalidMessage) {
		t.Fatalf("Send = %v, want a permanent ErrInvalidMessage", err)
	}
	if transcript := srv.Transcript(); transcript != "" {
		t.Errorf("client connected for an invalid message:\n%s", transcript)
	}
}

// stallingListener accepts connections and never says anything, like a
// relay that hangs. It reports each accepted connection on the returned
// channel.
func stallingListener(t *testing.T) (addr *net.TCPAddr, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr), ch
}

func TestSMTPSender_HonoursContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// send calls Send against a server that never answers.
		send func(s *mailer.SMTPSender, accepted <-chan struct{}) error
		// timeout is SMTPConfig.Timeout.
		timeout time.Duration
		want    error
	}{
		{
			name: "context deadline",
			send: func(s *mailer.SMTPSender, _ <-chan struct{}) error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				return s.Send(ctx, testMessage())
			},
			want: context.DeadlineExceeded,
		},
		{
			name: "cancellation mid-session",
			send: func(s *mailer.SMTPSender, accepted <-chan struct{}) error {
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					<-accepted
					cancel()
				}()
				return s.Send(ctx, testMessage())
			},
			want: context.Canceled,
		},
		{
			name: "configured timeout",
			send: func(s *mailer.SMTPSender, _ <-chan struct{}) error {
				return s.Send(context.Background(), testMessage())
			},
			timeout: 100 * time.Millisecond,
			want:    context.DeadlineExceeded,
		},
		{
			name: "already cancelled",
			send: func(s *mailer.SMTPSender, _ <-chan struct{}) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return s.Send(ctx, testMessage())
			},
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, accepted := stallingListener(t)
			sender := newSender(t, mailer.SMTPConfig{Host: addr.IP.String(), Port: addr.Port, Timeout: tt.timeout})

			err := tt.send(sender, accepted)
			if !errors.Is(err, tt.want) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
			if mailer.IsPermanent(err) {
				t.Errorf("IsPermanent = true for %v", err)
			}
		})
	}
}

func TestNewSMTPSender_RejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  mailer.SMTPConfig
	}{
		{"no host", mailer.SMTPConfig{}},
		{"host with space", mailer.SMTPConfig{Host: "mail example"}},
		{"unknown tls mode", mailer.SMTPConfig{Host: "mail.example", TLS: "ssl"}},
		{"port out of range", mailer.SMTPConfig{Host: "mail.example", Port: 70000}},
		{"negative timeout", mailer.SMTPConfig{Host: "mail.example", Timeout: -time.Second}},
		{"password without username", mailer.SMTPConfig{Host: "mail.example", Password: "x"}},
		{"username without tls", mailer.SMTPConfig{Host: "mail.example", TLS: mailer.TLSNone, Username: "u", Password: "p"}},
		{"local name with CRLF", mailer.SMTPConfig{Host: "mail.example", LocalName: "a\r\nMAIL FROM:<x@y>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := mailer.NewSMTPSender(tt.cfg); err == nil {
				t.Errorf("NewSMTPSender(%+v) succeeded, want an error", tt.cfg)
			}
		})
	}
}
