package mailer

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/projections/mailoutbox"
)

// render builds the message of a row: plain text, from the directory and
// the row's params. A password link's token is derived from the link id
// here, so it is in no table.
func (d *Dispatcher) render(m mailoutbox.Message, dir mailoutbox.Directory) (Message, error) {
	if m.ParamsErr != nil {
		return Message{}, m.ParamsErr
	}
	r := mailText{cfg: &d.cfg, m: m, dir: dir}
	var subject string
	switch m.Template {
	case mailoutbox.AccessRequest:
		subject = r.accessRequest()
	case mailoutbox.SetPassword, mailoutbox.ResetPassword:
		userID, err := uuid.Parse(m.RecipientID)
		if err != nil {
			return Message{}, fmt.Errorf("recipient %q: %w", m.RecipientID, err)
		}
		linkID, err := uuid.Parse(m.Params.LinkID)
		if err != nil {
			return Message{}, fmt.Errorf("link id %q: %w", m.Params.LinkID, err)
		}
		link := d.cfg.PublicURL + "/set-password?token=" + account.LinkToken(d.cfg.LinkKey, userID, linkID)
		subject = r.passwordLink(link)
	case mailoutbox.AccessGranted:
		subject = r.accessGranted()
	case mailoutbox.AccessRejected:
		subject = r.accessRejected()
	case mailoutbox.PasswordExpiry:
		subject = r.passwordExpiry()
	case mailoutbox.AccountLocked:
		subject = r.accountLocked()
	default:
		return Message{}, fmt.Errorf("unknown template %q", m.Template)
	}
	r.footer()
	return Message{
		ID:      m.ID,
		From:    d.cfg.From,
		To:      []Address{{Name: oneLine(m.To.FullName), Email: m.To.Email}},
		Subject: oneLine(subject),
		Text:    r.b.String(),
		Date:    m.CreatedAt,
	}, nil
}

// supportCentre is how people reach the Capacity Tracker Support Centre.
const supportCentre = "the Capacity Tracker Support Centre on 0191 691 3729 or necsu.capacitytracker@nhs.net"

// mailText writes a message's body; each template's method returns its
// subject.
type mailText struct {
	cfg *Config
	m   mailoutbox.Message
	dir mailoutbox.Directory
	b   strings.Builder
}

func (r *mailText) line(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteString("\n")
}

func (r *mailText) greet() {
	if name := oneLine(r.m.To.FullName); name != "" {
		r.line("Dear %s,", name)
	} else {
		r.line("Hello,")
	}
	r.line("")
}

func (r *mailText) organisation() string {
	id := r.m.Params.OrganisationID
	if name := oneLine(r.dir.Organisations[id]); name != "" {
		return name
	}
	return id
}

func (r *mailText) locations() {
	for _, id := range r.m.Params.LocationIDs {
		if name := oneLine(r.dir.Locations[id]); name != "" {
			r.line("  - %s (%s)", name, id)
		} else {
			r.line("  - %s", id)
		}
	}
}

func (r *mailText) when(t time.Time) string {
	return t.In(r.cfg.TimeZone).Format("15:04 on Monday 2 January 2006 (MST)")
}

func (r *mailText) footer() {
	r.line("")
	r.line("If you need any help, please contact %s.", supportCentre)
	r.line("")
	r.line("Kind regards,")
	r.line("The Capacity Tracker team")
	r.line("")
	r.line("This email was sent automatically; please do not reply to it.")
}

func (r *mailText) accessRequest() string {
	p := r.m.Params
	req := r.dir.Users[p.RequesterUserID]
	name := oneLine(req.FullName)
	if name == "" {
		name = "Someone"
	}
	org := r.organisation()
	r.greet()
	r.line("%s has asked for access to the Capacity Tracker for %s.", name, org)
	r.line("")
	r.line("Name:      %s", orNotGiven(req.FullName))
	r.line("Email:     %s", orNotGiven(req.Email))
	r.line("Job title: %s", orNotGiven(req.JobTitle))
	r.line("")
	r.line("They would like access to these locations:")
	r.locations()
	r.line("")
	if r.m.To.Role == account.Support {
		r.line("%s has no active Approver, so the request has come to the support team.", org)
		r.line("")
	}
	r.line("Please log in to the Capacity Tracker at %s and use Approve/Reject Users to approve or reject the request.", r.cfg.PublicURL)
	r.line("Please check that they work for %s before you approve it.", org)
	return fmt.Sprintf("Capacity Tracker: %s has asked for access to %s", name, org)
}

func (r *mailText) passwordLink(link string) string {
	p := r.m.Params
	valid := validFor(p.ExpiresAt.Sub(r.m.CreatedAt))
	r.greet()
	subject := "Capacity Tracker: set your password"
	if r.m.Template == mailoutbox.ResetPassword {
		subject = "Capacity Tracker: reset your password"
		r.line("We have received a request to reset the password of your Capacity Tracker account.")
		r.line("")
		r.line("To choose a new password, please open this link:")
	} else {
		r.line("Good news: your Capacity Tracker account has been approved.")
		r.line("")
		r.line("To start using it, please open this link and choose a password:")
	}
	r.line("")
	r.line("%s", link)
	r.line("")
	r.line("The link can be used once and is valid for %s, until %s.", valid, r.when(p.ExpiresAt))
	r.line("If it has run out, you can ask for a new one with the forgotten password link on the login page at %s.", r.cfg.PublicURL)
	if r.m.Template == mailoutbox.ResetPassword {
		r.line("")
		r.line("If you did not ask to reset your password, you can ignore this email: your password has not been changed.")
	}
	return subject
}

func (r *mailText) accessGranted() string {
	org := r.organisation()
	r.greet()
	r.line("Your request for access to %s in the Capacity Tracker has been approved. You now have access to:", org)
	r.locations()
	if reason := oneLine(r.m.Params.Reason); reason != "" {
		r.line("")
		r.line("The Approver added: %s", reason)
	}
	r.line("")
	r.line("Log in at %s to see them.", r.cfg.PublicURL)
	return "Capacity Tracker: your access to " + org + " has been approved"
}

func (r *mailText) accessRejected() string {
	org := r.organisation()
	r.greet()
	r.line("We are sorry, but your request for access to %s in the Capacity Tracker has not been approved. It was for:", org)
	r.locations()
	r.line("")
	if reason := oneLine(r.m.Params.Reason); reason != "" {
		r.line("The reason given was: %s", reason)
	} else {
		r.line("No reason was given.")
	}
	r.line("")
	r.line("If you think this is a mistake, please speak to your organisation's Capacity Tracker Approver.")
	return "Capacity Tracker: your request for access to " + org + " was not approved"
}

func (r *mailText) passwordExpiry() string {
	p := r.m.Params
	days := "1 day"
	if p.DaysBefore != 1 {
		days = fmt.Sprintf("%d days", p.DaysBefore)
	}
	r.greet()
	r.line("Your Capacity Tracker password expires in %s, at %s.", days, r.when(p.ExpiresAt))
	r.line("")
	r.line("Please log in at %s and change it before then.", r.cfg.PublicURL)
	r.line("If it does expire, you can choose a new one with the forgotten password link on the login page.")
	return "Capacity Tracker: your password expires in " + days
}

func (r *mailText) accountLocked() string {
	r.greet()
	r.line("Your Capacity Tracker account has been locked because the wrong password was entered too many times in a row.")
	r.line("It will unlock itself at %s.", r.when(r.m.Params.LockedUntil))
	r.line("")
	r.line("If this was you, you can unlock it straight away by resetting your password with the forgotten password link on the login page at %s.", r.cfg.PublicURL)
	r.line("")
	r.line("If it was not you, someone may be trying to get into your account: please reset your password and let us know.")
	return "Capacity Tracker: your account has been locked"
}

// validFor says how long a link lasts: "72 hours", "1 hour", "30 minutes".
func validFor(d time.Duration) string {
	if d >= 2*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Round(time.Hour)/time.Hour))
	}
	if m := int(d.Round(time.Minute) / time.Minute); m != 60 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "1 hour"
}

// oneLine makes text from the events safe for a header or a line of its
// own: control characters become spaces, runs of spaces one.
func oneLine(s string) string { return domain.CleanText(s) }

func orNotGiven(s string) string {
	if s = oneLine(s); s == "" {
		return "(not given)"
	}
	return s
}
