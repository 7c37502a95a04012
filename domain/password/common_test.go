package password_test

import (
	"testing"

	"github.com/capacitytracker/capacity/domain/password"
)

func TestIsCommon_FindsListedPasswordsIgnoringCase(t *testing.T) {
	for _, pw := range []string{"123456", "password", "Password", "PASSWORD", "qwertyuiop", "QwErTyUiOp", "1q2w3e4r5t", "password123"} {
		if !password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false, want true", pw)
		}
	}
}

func TestIsCommon_IgnoresUnlistedPasswords(t *testing.T) {
	for _, pw := range []string{"", "correct horse battery staple", "password ", " 123456", "Tr0ub4dor&3-capacity"} {
		if password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = true, want false", pw)
		}
	}
}
