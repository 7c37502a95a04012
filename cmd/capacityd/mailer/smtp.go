package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLS modes for SMTPConfig.TLS. The empty string means opportunistic
// STARTTLS: use it when the server offers it.
const (
	TLSNone     = "none"     // never encrypt; AUTH is refused
	TLSStartTLS = "starttls" // require STARTTLS
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, usually port 465)
)

// Default SMTPConfig values.
const (
	DefaultSMTPTimeout   = 30 * time.Second
	DefaultSMTPLocalName = "localhost"
)

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	Host string
	// Port defaults to 465 for TLSImplicit, 25 for TLSNone and 587
	// (submission) otherwise.
	Port int
	// Username and Password, when Username is set, are sent with AUTH PLAIN,
	// and only over an encrypted connection.
	Username, Password string
	// TLS is TLSNone, TLSStartTLS, TLSImplicit or "" (opportunistic STARTTLS).
	TLS string
	// Timeout bounds one whole delivery, from dial to the server accepting
	// the message. Default DefaultSMTPTimeout.
	Timeout time.Duration
	// LocalName is the name sent with EHLO. Default DefaultSMTPLocalName.
	LocalName string
	// InsecureSkipVerify disables certificate verification. Tests only.
	InsecureSkipVerify bool
}

// SMTPSender delivers messages to an SMTP relay, one connection per message.
// It is safe for concurrent use.
//
// Errors: a 5xx reply to MAIL, RCPT or DATA, or an invalid message, is a
// *PermanentError. Everything else is temporary, including 5xx replies
// during the greeting, EHLO, STARTTLS or AUTH: those fail every message
// alike and are fixed by fixing the configuration or the relay, so the
// outbox should keep the message and retry rather than give it up.
//
// A message goes to all its recipients or to none: if the server refuses
// any recipient the transaction is abandoned, and the error is permanent
// when at least one refusal was a 5xx.
type SMTPSender struct {
	cfg  SMTPConfig
	addr string
	tls  *tls.Config
}

// NewSMTPSender validates cfg, fills in defaults and returns a sender. It
// does not connect.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp config: host is empty")
	}
	if strings.ContainsFunc(cfg.Host, isSpaceOrControl) {
		return nil, fmt.Errorf("smtp config: host %q contains spaces or control characters", cfg.Host)
	}
	switch cfg.TLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("smtp config: tls %q is not one of %q, %q, %q or empty", cfg.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp config: port %d is out of range", cfg.Port)
	}
	if cfg.Port == 0 {
		switch cfg.TLS {
		case TLSImplicit:
			cfg.Port = 465
		case TLSNone:
			cfg.Port = 25
		default:
			cfg.Port = 587
		}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("smtp config: timeout %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	if cfg.LocalName == "" {
		cfg.LocalName = DefaultSMTPLocalName
	}
	if strings.ContainsFunc(cfg.LocalName, isSpaceOrControl) {
		return nil, fmt.Errorf("smtp config: local name %q contains spaces or control characters", cfg.LocalName)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("smtp config: password is set without a username")
	}
	if cfg.Username != "" && cfg.TLS == TLSNone {
		return nil, errors.New("smtp config: a username needs TLS; refusing to send a password over an unencrypted connection")
	}
	// AUTH PLAIN separates its fields with NUL.
	if strings.ContainsRune(cfg.Username, 0) || strings.ContainsRune(cfg.Password, 0) {
		return nil, errors.New("smtp config: username or password contains NUL")
	}
	return &SMTPSender{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		tls: &tls.Config{
			ServerName:         cfg.Host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: cfg.InsecureSkipVerify,
		},
	}, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// Send delivers m over a new connection. The context's deadline and
// cfg.Timeout, whichever is sooner, bound the whole exchange; cancelling
// the context closes the connection. Once the server has accepted the
// message, Send returns nil even if saying goodbye fails.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	data, err := m.Bytes()
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("send message %q: %w", m.ID, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	err = s.deliver(ctx, m, data)
	if err == nil {
		return nil
	}
	ctxErr := ctx.Err()
	if ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection's deadline is the context's, and it can fire a
		// moment before the context's own timer marks it done.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !IsPermanent(err) {
		// The I/O error is just the symptom (a closed connection or an
		// expired deadline); make the cause visible to errors.Is.
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return fmt.Errorf("send message %q via %s: %w", m.ID, s.addr, err)
}

func (s *SMTPSender) deliver(ctx context.Context, m Message, data []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	// net/smtp never sets deadlines itself, so this one bounds every read
	// and write, including those inside the TLS handshakes.
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return fmt.Errorf("set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	encrypted := false
	var netConn net.Conn = conn
	if s.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		netConn, encrypted = tc, true
	}
	c, err := smtp.NewClient(netConn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}

	if s.cfg.TLS == "" || s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
			encrypted = true
		} else if s.cfg.TLS == TLSStartTLS {
			return errors.New("server does not offer STARTTLS, which the configuration requires")
		}
	}

	if s.cfg.Username != "" {
		if !encrypted {
			return errors.New("server does not offer STARTTLS; refusing to send a password over an unencrypted connection")
		}
		if !offersAuthPlain(c) {
			return errors.New("server does not offer AUTH PLAIN")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}

	if err := c.Mail(m.From.Email); err != nil {
		return transactionError(fmt.Errorf("mail from <%s>: %w", m.From.Email, err))
	}
	var refused []error
	permanent := false
	for _, to := range m.To {
		err := c.Rcpt(to.Email)
		if err == nil {
			continue
		}
		err = fmt.Errorf("rcpt to <%s>: %w", to.Email, err)
		if replyCode(err) == 0 {
			return err // not a reply: the connection is gone
		}
		refused = append(refused, err)
		permanent = permanent || isPermanentReply(err)
	}
	if len(refused) > 0 {
		// Deliver to all or none: abandon the transaction. The connection is
		// closed next, so a failed RSET changes nothing.
		_ = c.Reset()
		err := errors.Join(refused...)
		if permanent {
			return &PermanentError{Err: err}
		}
		return err
	}

	w, err := c.Data()
	if err != nil {
		return transactionError(fmt.Errorf("data: %w", err))
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write data: %w", err)
	}
	if err := w.Close(); err != nil {
		return transactionError(fmt.Errorf("end data: %w", err))
	}
	// The server has taken responsibility for the message. A failed QUIT
	// must not make the outbox send it again.
	_ = c.Quit()
	return nil
}

func offersAuthPlain(c *smtp.Client) bool {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return false
	}
	for _, mech := range strings.Fields(mechs) {
		if strings.EqualFold(mech, "PLAIN") {
			return true
		}
	}
	return false
}

// transactionError marks err permanent when it is a 5xx reply to a command
// of the mail transaction (MAIL, RCPT, DATA).
func transactionError(err error) error {
	if isPermanentReply(err) {
		return &PermanentError{Err: err}
	}
	return err
}

func isPermanentReply(err error) bool {
	code := replyCode(err)
	return code >= 500 && code <= 599
}

// replyCode returns the SMTP reply code err carries, or 0 when err is not a
// reply from the server (a network error, for example).
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
