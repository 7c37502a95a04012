// Package smtptest runs a real SMTP server in-process for tests, built on
// github.com/emersion/go-smtp. It records what it receives, can offer
// STARTTLS (or implicit TLS) with a certificate generated on the spot,
// require AUTH PLAIN, and refuse chosen recipients with chosen reply codes.
//
// It is a test helper: it keeps every message in memory and must not be
// used outside tests.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configures a Server.
type Options struct {
	// TLS offers STARTTLS with a self-signed certificate for 127.0.0.1 and
	// localhost. Clients must skip verification.
	TLS bool
	// ImplicitTLS makes the listener speak TLS from the first byte, as
	// SMTPS on port 465 does, with the same kind of certificate.
	ImplicitTLS bool
	// Username and Password, when Username is set, make the server require
	// AUTH PLAIN before MAIL. The server only offers AUTH over TLS.
	Username, Password string
	// RejectRcpt maps a recipient address (exactly as sent in RCPT TO) to
	// the reply code the server refuses it with, for example 550 or 451.
	RejectRcpt map[string]int
}

// Received is one message the server accepted.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Data []byte   // the message exactly as received, CRLF line endings
	// Msg is Data parsed by net/mail, with an unread Body; nil when Data
	// does not parse. Each call to Messages parses afresh.
	Msg *mail.Message
	// Subject is the Subject header with RFC 2047 encoded words decoded.
	Subject string
	// Text is the body with its Content-Transfer-Encoding (quoted-printable
	// or base64) decoded and CRLF turned into LF.
	Text string
	// TLS reports whether the message arrived over an encrypted connection.
	TLS bool
	// AuthUser is the user the client authenticated as, or "".
	AuthUser string
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	addr *net.TCPAddr

	mu       sync.Mutex
	received []Received // Msg, Subject and Text are filled in by Messages
	arrived  chan struct{}
	log      bytes.Buffer
}

// Start runs a server on 127.0.0.1 with a free port and no TLS or AUTH. The
// server stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithOptions(t, Options{})
}

// StartWithOptions runs a server configured by opts on 127.0.0.1 with a
// free port. The server stops when the test ends.
func StartWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.RejectRcpt = maps.Clone(opts.RejectRcpt)
	s := &Server{opts: opts, arrived: make(chan struct{})}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = ln.Addr().(*net.TCPAddr)

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	// Connection errors are expected (tests cut connections on purpose) and
	// logging after a test has finished panics, so keep them out of the log.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.Debug = lockedWriter{mu: &s.mu, w: &s.log}

	if opts.TLS || opts.ImplicitTLS {
		cert, err := selfSignedCertificate()
		if err != nil {
			ln.Close()
			t.Fatalf("smtptest: %v", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if opts.ImplicitTLS {
			ln = tls.NewListener(ln, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns nil once Close is called
	}()
	t.Cleanup(func() {
		srv.Close()
		// Close misses the listener when Serve has not registered it yet
		// (a test that never connects), and Serve would block in Accept.
		ln.Close()
		<-done
	})
	return s
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr.String() }

// Host returns the IP address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.addr.Port }

// Transcript returns the protocol exchange of every session so far, both
// directions, as the server saw it (after TLS decryption).
func (s *Server) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Messages returns the messages accepted so far, in arrival order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	received := slices.Clone(s.received)
	s.mu.Unlock()
	for i := range received {
		received[i] = decode(received[i])
	}
	return received
}

// WaitFor waits until at least n messages have arrived and returns them all.
// It fails the test if that takes longer than timeout: a bound on waiting
// for asynchronous delivery, not a performance assertion. Call it from the
// test's goroutine.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got, arrived := len(s.received), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-arrived:
		case <-timer.C:
			t.Fatalf("smtptest: %d message(s) arrived within %v, want at least %d", got, timeout, n)
			return nil
		}
	}
}

func (s *Server) record(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// session is one SMTP connection's state. go-smtp starts a new session
// after STARTTLS, so authentication never carries over from plain text.
type session struct {
	srv      *Server
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.Username == "" {
		return nil // no AUTH advertised
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.srv.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if username != ss.srv.opts.Username || password != ss.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if code, ok := ss.srv.opts.RejectRcpt[to]; ok {
		return &smtp.SMTPError{
			Code:         code,
			EnhancedCode: smtp.EnhancedCodeNotSet,
			Message:      fmt.Sprintf("smtptest rejects <%s>", to),
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.srv.record(Received{
		From:     ss.from,
		To:       slices.Clone(ss.to),
		Data:     data,
		TLS:      isTLS,
		AuthUser: ss.authUser,
	})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// decode fills in Msg, Subject and Text from r.Data, leaving them empty when
// the data does not parse.
func decode(r Received) Received {
	r.To = slices.Clone(r.To)
	r.Data = slices.Clone(r.Data)
	msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return r
	}
	// A second parse to read the body, so Msg.Body stays unread for the caller.
	r.Msg, _ = mail.ReadMessage(bytes.NewReader(r.Data))

	subject := msg.Header.Get("Subject")
	if decoded, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = decoded
	}
	r.Subject = subject

	var body io.Reader = msg.Body
	switch strings.ToLower(strings.TrimSpace(msg.Header.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	text, err := io.ReadAll(body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return r
	}
	r.Text = strings.ReplaceAll(string(text), "\r\n", "\n")
	return r
}

// selfSignedCertificate makes a short-lived certificate for the loopback
// addresses, so TLS paths can be tested without files on disk.
func selfSignedCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate serial: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// lockedWriter serialises the protocol log, which every connection writes.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (lw lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}
