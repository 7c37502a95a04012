// Package mailer is the server's outbound mail port, the mail counterpart
// of the HTTP port (httpapi): it sends the messages of the mail outbox.
//
// The mail_outbox projection (mailoutbox.Projection) decides from the
// events which emails are due and to whom; this package's Dispatcher
// claims them through the outbox's delivery ledger
// (mailoutbox.Deliveries), writes their texts (texts.go, with the
// password links' tokens derived from the link ids, which are in no table),
// hands them to a Sender and records what became of them: sent, failed, or
// pending a retry after a backoff.
//
// The transport turns a message into an RFC 5322 message (message.go) and
// hands it to a Sender, either an SMTP relay (SMTPSender) or a directory of
// .eml files (DirSender, the embedded default). Settings holds the
// server's flags for them.
//
// A Sender delivers one message and reports whether a failure is worth
// retrying (IsPermanent). It must not retry, queue or remember anything
// itself: retries, backoff and the record of what was sent belong to the
// Dispatcher and the ledger. Because the outbox delivers at least once, a
// message carries a stable ID that becomes its Message-ID, so a resend
// after a crash is recognisably the same message.
//
// The SMTP client is the standard library's net/smtp rather than
// github.com/emersion/go-smtp's client. net/smtp is frozen but complete for
// submission (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA), and it never
// touches the connection's deadlines, so one deadline taken from the context
// bounds the whole exchange. go-smtp's client sets and clears a deadline
// around every command, which would override that. Using a different
// implementation from the test server (mailer/smtptest, built on go-smtp)
// also means the tests exercise two independent implementations talking to
// each other, not one library talking to itself.
//
// Only capacityd sends mail; capacityctl's commands only append the events
// that put messages in the outbox.
package mailer
