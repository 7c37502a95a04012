package password

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule codes. They are stable: forms and API clients match on them.
const (
	CodeMinLength         = "min_length"
	CodeMaxLength         = "max_length"
	CodeNotCommon         = "not_common"
	CodeNotPersonal       = "not_personal"
	CodeNotRecent         = "not_recent"
	CodeInvalidCharacters = "invalid_characters"
)

// Shortest email local part and joined name that a password may not contain.
// Shorter ones ("al", "jo") sit inside too many good passwords to forbid.
const (
	minPersonalPartLen = 4
	minNameWordLen     = 3
)

// Policy holds the service's password rules. Lengths count Unicode code points
// (runes), not bytes, so "café-ölçer" is 10 characters whatever its encoding
// length; NIST SP 800-63B counts characters the same way.
//
// A zero or negative field takes its default, so Policy{} behaves as
// DefaultPolicy() and a half-filled Policy never switches a rule off by
// accident.
type Policy struct {
	// MinLength is the fewest runes a password may have. Default 10.
	MinLength int
	// MaxLength is the most runes a password may have. Default 128: long
	// enough for any passphrase, short enough to bound the work per request.
	MaxLength int
	// HistorySize is how many of a person's previous passwords they may not
	// reuse. Default 4. The policy only quotes it; the caller's recent
	// callback must compare against that many stored hashes.
	HistorySize int
}

// DefaultPolicy returns the policy the service applies: 10 to 128 characters,
// not common, not personal, not one of the last 4.
func DefaultPolicy() Policy {
	return Policy{MinLength: 10, MaxLength: 128, HistorySize: 4}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.MinLength <= 0 {
		p.MinLength = d.MinLength
	}
	if p.MaxLength <= 0 {
		p.MaxLength = d.MaxLength
	}
	if p.HistorySize <= 0 {
		p.HistorySize = d.HistorySize
	}
	return p
}

// Rule is one password rule as a form shows it before the person types.
type Rule struct {
	Code        string
	Description string
}

// Violation is one rule a candidate password breaks, with a message to show
// the person who typed it.
type Violation struct {
	Code    string
	Message string
}

// Rules returns the rules in the order a form should list them.
//
// Check can also report CodeInvalidCharacters, which is not listed here: only
// a broken or hostile client can send invalid UTF-8 or a NUL byte.
func (p Policy) Rules() []Rule {
	p = p.withDefaults()
	return []Rule{
		{CodeMinLength, fmt.Sprintf("At least %d characters", p.MinLength)},
		{CodeMaxLength, fmt.Sprintf("At most %d characters", p.MaxLength)},
		{CodeNotCommon, "Not one of the 10,000 most commonly used passwords"},
		{CodeNotPersonal, "Must not be your email address or your name"},
		{CodeNotRecent, fmt.Sprintf("Must not be one of your last %d passwords", p.HistorySize)},
	}
}

// Check validates candidate and returns every rule it breaks, in the order of
// Rules with invalid_characters last, or nil when it breaks none. Any character is allowed, spaces at
// either end included, except a NUL byte; the text must be valid UTF-8.
//
// personal holds the person's email address and full name, in any order and
// case. An entry with an @ is an email: the password may not contain it, nor
// its local part when that is 4 or more characters. Any other entry is a
// name: the password may not contain the whole name with its spaces removed
// (when that is 4 or more characters), nor equal any word of it that has 3 or
// more letters. All comparisons ignore case.
//
// recent reports whether candidate matches one of the person's last
// HistorySize password hashes (typically by calling Verify on each); it may be
// nil, for example at registration. It is skipped for a candidate that breaks
// max_length or invalid_characters, which costs a hash per stored password for
// nothing. Check returns an error only when recent does.
func (p Policy) Check(candidate string, personal []string, recent func(candidate string) (bool, error)) ([]Violation, error) {
	p = p.withDefaults()
	var violations []Violation
	add := func(code, format string, args ...any) {
		violations = append(violations, Violation{Code: code, Message: fmt.Sprintf(format, args...)})
	}

	n := utf8.RuneCountInString(candidate)
	tooLong := n > p.MaxLength
	invalid := !utf8.ValidString(candidate) || strings.IndexByte(candidate, 0) >= 0
	if n < p.MinLength {
		add(CodeMinLength, "Use at least %d characters", p.MinLength)
	}
	if tooLong {
		add(CodeMaxLength, "Use at most %d characters", p.MaxLength)
	}
	if IsCommon(candidate) {
		add(CodeNotCommon, "This is one of the 10,000 most commonly used passwords")
	}
	if containsPersonal(strings.ToLower(candidate), personal) {
		add(CodeNotPersonal, "Do not use your email address or your name")
	}
	if recent != nil && !tooLong && !invalid {
		used, err := recent(candidate)
		if err != nil {
			return nil, fmt.Errorf("check password history: %w", err)
		}
		if used {
			add(CodeNotRecent, "You used this password recently; choose one that is not one of your last %d", p.HistorySize)
		}
	}
	if invalid {
		add(CodeInvalidCharacters, "Use only ordinary text characters")
	}
	return violations, nil
}

// containsPersonal applies the not_personal rule described on Check to a
// lower-cased password.
func containsPersonal(password string, personal []string) bool {
	for _, entry := range personal {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		if at := strings.LastIndexByte(entry, '@'); at >= 0 {
			if strings.Contains(password, entry) {
				return true
			}
			local := entry[:at]
			if utf8.RuneCountInString(local) >= minPersonalPartLen && strings.Contains(password, local) {
				return true
			}
			continue
		}
		joined := strings.Join(strings.Fields(entry), "")
		if utf8.RuneCountInString(joined) >= minPersonalPartLen && strings.Contains(password, joined) {
			return true
		}
		words := strings.FieldsFunc(entry, func(r rune) bool { return !unicode.IsLetter(r) })
		for _, w := range words {
			if utf8.RuneCountInString(w) >= minNameWordLen && password == w {
				return true
			}
		}
	}
	return false
}
