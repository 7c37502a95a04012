package password

import (
	"bufio"
	_ "embed"
	"strings"
	"sync"
)

// commonListSize is the number of entries in common-passwords.txt; the rule
// text quotes it and a test keeps the two in step.
const commonListSize = 10_000

//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords parses the embedded list on first use, so a process that
// never checks a password never pays for the map.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, commonListSize)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsFile))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	// A scanner over an in-memory string of short lines cannot fail; a broken
	// file shows up in the test that counts the entries.
	return set
})

// IsCommon reports whether candidate, ignoring case, is one of the 10,000 most
// commonly used passwords.
func IsCommon(candidate string) bool {
	_, ok := commonPasswords()[strings.ToLower(candidate)]
	return ok
}
