package mailer

import (
	"errors"
	"fmt"
	netmail "net/mail"
)

// Settings say how email leaves the server: through an SMTP relay, or,
// with no SMTP host (the embedded default), as .eml files in the mail
// directory. They are capacityd's mail flags.
type Settings struct {
	From         string
	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPTLS      string
}

// Validate checks the sender address and the SMTP settings.
func (c Settings) Validate() error {
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
func (c Settings) FromAddress() (Address, error) {
	a, err := netmail.ParseAddress(c.From)
	if err != nil {
		return Address{}, fmt.Errorf("mail sender %q: %w", c.From, err)
	}
	return Address{Name: a.Name, Email: a.Address}, nil
}

func (c Settings) smtp() (*SMTPSender, error) {
	return NewSMTPSender(SMTPConfig{
		Host: c.SMTPHost, Port: c.SMTPPort, Username: c.SMTPUsername, Password: c.SMTPPassword, TLS: c.SMTPTLS,
	})
}

// Sender returns the configured transport; dir is the mail directory of
// the embedded default.
func (c Settings) Sender(dir string) (Sender, error) {
	if c.SMTPHost == "" {
		if dir == "" {
			return nil, errors.New("no SMTP host and no mail directory")
		}
		return DirSender{Dir: dir}, nil
	}
	return c.smtp()
}
