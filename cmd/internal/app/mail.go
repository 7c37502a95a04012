package app

import (
	"errors"
	"fmt"
	"net/mail"

	ctmail "github.com/capacitytracker/capacity/commands/mail"
)

// MailConfig says how email leaves the server: through an SMTP relay, or,
// with no SMTP host (the embedded default), as .eml files in the mail
// directory.
type MailConfig struct {
	From         string
	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPTLS      string
}

// Validate checks the sender address and the SMTP settings.
func (c MailConfig) Validate() error {
	if _, err := c.FromAddress(); err != nil {
		return err
	}
	if c.SMTPHost == "" {
		return nil
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		return fmt.Errorf("SMTP port %d is not a port", c.SMTPPort)
	}
	_, err := c.smtp()
	return err
}

// FromAddress is the parsed sender address.
func (c MailConfig) FromAddress() (ctmail.Address, error) {
	a, err := mail.ParseAddress(c.From)
	if err != nil {
		return ctmail.Address{}, fmt.Errorf("mail sender %q: %w", c.From, err)
	}
	return ctmail.Address{Name: a.Name, Email: a.Address}, nil
}

func (c MailConfig) smtp() (*ctmail.SMTPSender, error) {
	return ctmail.NewSMTPSender(ctmail.SMTPConfig{
		Host: c.SMTPHost, Port: c.SMTPPort, Username: c.SMTPUsername, Password: c.SMTPPassword, TLS: c.SMTPTLS,
	})
}

// Sender returns the configured transport; dir is the mail directory of
// the embedded default.
func (c MailConfig) Sender(dir string) (ctmail.Sender, error) {
	if c.SMTPHost == "" {
		if dir == "" {
			return nil, errors.New("no SMTP host and no mail directory")
		}
		return ctmail.DirSender{Dir: dir}, nil
	}
	return c.smtp()
}
