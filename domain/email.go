package domain

import (
	"net/mail"
	"strings"
)

// NormaliseEmail trims and lower-cases an email address and reports
// whether it is a plain address (name@host.tld, at most 254 characters,
// no display name, quotes or spaces). The empty address is not valid.
func NormaliseEmail(s string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" || len(e) > 254 {
		return e, false
	}
	addr, err := mail.ParseAddress(e)
	at := strings.LastIndexByte(e, '@')
	if err != nil || addr.Address != e || at < 1 || !strings.Contains(e[at+1:], ".") ||
		strings.ContainsAny(e, " \t\r\n<>\"") || strings.HasSuffix(e, ".") {
		return e, false
	}
	return e, true
}
