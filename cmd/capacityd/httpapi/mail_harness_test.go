package httpapi_test

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/capacitytracker/capacity/cmd/capacityd/mailer"
	"github.com/capacitytracker/capacity/cmd/capacityd/mailer/smtptest"
	"github.com/capacitytracker/capacity/projections"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
)

const mailPublicURL = "https://capacitytracker.example.nhs.uk"

// mailbox is the mail side of a test server: the outbox projection runs in
// the server's engine (views.Default), and deliver sends what it
// holds, through the real SMTP sender, to an in-process SMTP server.
// Sending is on demand (DispatchOnce) rather than in the background, so a
// test knows when its mail is out.
type mailbox struct {
	a          *api
	srv        *smtptest.Server
	dispatcher *mailer.Dispatcher
}

// startMailbox starts the SMTP server and the dispatcher of a server's
// outbox.
func startMailbox(t *testing.T, a *api, pb projections.Backend, logger *slog.Logger) *mailbox {
	t.Helper()
	srv := smtptest.Start(t)
	sender, err := mailer.NewSMTPSender(mailer.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mailer.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	d, err := mailer.New(mailoutbox.NewDeliveries(pb), mailer.Config{
		Sender:    sender,
		From:      mailer.Address{Name: "Capacity Tracker", Email: "noreply@capacitytracker.example.nhs.uk"},
		PublicURL: mailPublicURL,
		LinkKey:   a.accounts.LinkKey(),
		// Real time, not the commands' fake clock: a message's age is
		// measured from its event's recorded time, which is real, and a
		// test that moves the fake clock by days must not age its mail.
		Clock:    time.Now,
		TimeZone: time.UTC,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return &mailbox{a: a, srv: srv, dispatcher: d}
}

// deliver sends every message the outbox holds for the log so far and
// returns all messages received since the server started.
func (m *mailbox) deliver() []smtptest.Received {
	m.a.t.Helper()
	m.a.sync(m.a.last())
	ctx := context.Background()
	for range 100 {
		sent, err := m.dispatcher.DispatchOnce(ctx)
		if err != nil {
			m.a.t.Fatalf("dispatch mail: %v", err)
		}
		if sent == 0 {
			return m.srv.Messages()
		}
	}
	m.a.t.Fatal("the outbox did not run dry")
	return nil
}

// to is the messages delivered to an address, oldest first.
func (m *mailbox) to(email string) []smtptest.Received {
	m.a.t.Helper()
	var out []smtptest.Received
	for _, msg := range m.deliver() {
		for _, rcpt := range msg.To {
			if strings.EqualFold(rcpt, email) {
				out = append(out, msg)
			}
		}
	}
	return out
}

var linkPattern = regexp.MustCompile(regexp.QuoteMeta(mailPublicURL) + `/set-password\?token=([A-Za-z0-9_-]+)`)

// link is the token of the latest password link emailed to the address,
// with the subject of its message.
func (m *mailbox) link(email string) (token, subject string) {
	m.a.t.Helper()
	msgs := m.to(email)
	for i := len(msgs) - 1; i >= 0; i-- {
		if found := linkPattern.FindStringSubmatch(msgs[i].Text); found != nil {
			tok, err := url.QueryUnescape(found[1])
			if err != nil {
				m.a.t.Fatal(err)
			}
			m.a.secrets.add("link token", tok)
			return tok, msgs[i].Subject
		}
	}
	m.a.t.Fatalf("no password link was emailed to %s (%d messages)", email, len(msgs))
	return "", ""
}
