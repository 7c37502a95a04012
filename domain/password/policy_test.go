package password_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/password"
)

// A password that breaks no rule for the person below.
const good = "correct horse battery staple"

var jane = []string{"jane.smith@nhs.net", "Jane Smith"}

func codes(vs []password.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Code)
	}
	return out
}

// check runs DefaultPolicy().Check with no history and fails the test on error.
func check(t *testing.T, candidate string, personal []string) []password.Violation {
	t.Helper()
	vs, err := password.DefaultPolicy().Check(candidate, personal, nil)
	if err != nil {
		t.Fatalf("Check(%q): %v", candidate, err)
	}
	for _, v := range vs {
		if v.Message == "" {
			t.Errorf("Check(%q): violation %s has no message", candidate, v.Code)
		}
	}
	return vs
}

func TestDefaultPolicy_Is10To128CharactersAndLast4(t *testing.T) {
	want := password.Policy{MinLength: 10, MaxLength: 128, HistorySize: 4}
	if got := password.DefaultPolicy(); got != want {
		t.Errorf("DefaultPolicy() = %+v, want %+v", got, want)
	}
}

func TestRules_ListsEveryRuleWithThePolicyNumbers(t *testing.T) {
	got := password.Policy{MinLength: 12, MaxLength: 64, HistorySize: 6}.Rules()
	want := []password.Rule{
		{Code: password.CodeMinLength, Description: "At least 12 characters"},
		{Code: password.CodeMaxLength, Description: "At most 64 characters"},
		{Code: password.CodeNotCommon, Description: "Not one of the 10,000 most commonly used passwords"},
		{Code: password.CodeNotPersonal, Description: "Must not be your email address or your name"},
		{Code: password.CodeNotRecent, Description: "Must not be one of your last 6 passwords"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rules() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPolicy_ZeroFieldsTakeDefaults(t *testing.T) {
	if got, want := (password.Policy{}).Rules(), password.DefaultPolicy().Rules(); !reflect.DeepEqual(got, want) {
		t.Errorf("Policy{}.Rules() = %+v, want the defaults %+v", got, want)
	}
	vs, err := password.Policy{MaxLength: 20}.Check("zq8v", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(vs); !reflect.DeepEqual(got, []string{password.CodeMinLength}) {
		t.Errorf("Policy{MaxLength: 20}.Check(zq8v) = %v, want [min_length] from the default minimum", got)
	}
}

func TestCheck_AcceptsPasswordThatBreaksNoRule(t *testing.T) {
	calls := 0
	vs, err := password.DefaultPolicy().Check(good, jane, func(string) (bool, error) {
		calls++
		return false, nil
	})
	if err != nil || vs != nil {
		t.Fatalf("Check(good) = %v, %v; want nil, nil", vs, err)
	}
	if calls != 1 {
		t.Errorf("recent called %d times, want 1", calls)
	}
}

func TestCheck_CountsLengthInCharactersNotBytes(t *testing.T) {
	tests := []struct {
		name      string
		candidate string
		want      []string
	}{
		{"9 characters is too short", "zq8vkx3mw", []string{password.CodeMinLength}},
		{"10 characters is long enough", "zq8vkx3mwp", nil},
		{"9 two-byte characters is too short", strings.Repeat("é", 9), []string{password.CodeMinLength}},
		{"10 two-byte characters is long enough", strings.Repeat("é", 10), nil},
		{"empty", "", []string{password.CodeMinLength}},
		{"128 characters is short enough", strings.Repeat("zq8vkx3mwp", 12) + "zq8vkx3m", nil},
		{"129 characters is too long", strings.Repeat("zq8vkx3mwp", 12) + "zq8vkx3mw", []string{password.CodeMaxLength}},
		{"128 four-byte characters is short enough", strings.Repeat("🔑", 128), nil},
		{"129 four-byte characters is too long", strings.Repeat("🔑", 129), []string{password.CodeMaxLength}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codes(check(t, tt.candidate, jane)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check(%q) codes = %v, want %v", tt.candidate, got, tt.want)
			}
		})
	}
}

func TestCheck_RejectsCommonPassword(t *testing.T) {
	tests := []struct {
		candidate string
		want      []string
	}{
		{"qwertyuiop", []string{password.CodeNotCommon}},
		{"QWERTYUIOP", []string{password.CodeNotCommon}},
		{"Password123", []string{password.CodeNotCommon}},
		{"1q2w3e4r5t", []string{password.CodeNotCommon}},
		{"password", []string{password.CodeMinLength, password.CodeNotCommon}},
		{"123456", []string{password.CodeMinLength, password.CodeNotCommon}},
		{"password123 ", nil}, // not the same string once the space counts
		{"qwertyuiop-lantern", nil},
	}
	for _, tt := range tests {
		t.Run(tt.candidate, func(t *testing.T) {
			if got := codes(check(t, tt.candidate, nil)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check(%q) codes = %v, want %v", tt.candidate, got, tt.want)
			}
		})
	}
}

func TestCheck_RejectsPersonalPassword(t *testing.T) {
	tests := []struct {
		name      string
		candidate string
		personal  []string
		reject    bool
	}{
		{"whole email, other case", "JANE.SMITH@NHS.NET", jane, true},
		{"whole email inside", "my-jane.smith@nhs.net!", jane, true},
		{"email local part inside", "Jane.Smith1975", jane, true},
		{"name without spaces inside", "janesmith2024!", jane, true},
		{"name with several spaces", "janesmith2024!", []string{"  Jane   Smith "}, true},
		{"equals a long name word", "Featherstonehaugh", []string{"Featherstonehaugh Bo"}, true},
		{"name word inside is allowed", "smithy-hollow-lantern", jane, false},
		{"other names are allowed", "john.doe-lantern", jane, false},
		{"short local part is not searched", "always-alert-42", []string{"al@nhs.net"}, false},
		{"short name is not searched", "bob-the-builder-42", []string{"Bo"}, false},
		{"empty entries are ignored", good, []string{"", "   "}, false},
		{"no personal details", "janesmith2024!", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			if tt.reject {
				want = []string{password.CodeNotPersonal}
			}
			if got := codes(check(t, tt.candidate, tt.personal)); !reflect.DeepEqual(got, want) {
				t.Errorf("Check(%q, %q) codes = %v, want %v", tt.candidate, tt.personal, got, want)
			}
		})
	}
}

func TestCheck_RejectsRecentPassword(t *testing.T) {
	var got string
	vs, err := password.Policy{HistorySize: 6}.Check("Correct Horse", nil, func(candidate string) (bool, error) {
		got = candidate
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != "Correct Horse" {
		t.Errorf("recent got %q, want the candidate unchanged", got)
	}
	if len(vs) != 1 || vs[0].Code != password.CodeNotRecent || !strings.Contains(vs[0].Message, "6") {
		t.Errorf("Check = %+v, want one not_recent violation quoting the history size 6", vs)
	}
}

func TestCheck_ReturnsErrorWhenHistoryFails(t *testing.T) {
	boom := errors.New("store unavailable")
	vs, err := password.DefaultPolicy().Check("password", nil, func(string) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want it to wrap %v", err, boom)
	}
	if vs != nil {
		t.Errorf("violations = %v, want nil alongside an error", vs)
	}
}

func TestCheck_SkipsHistoryForInputThatCannotBeStored(t *testing.T) {
	for _, candidate := range []string{strings.Repeat("a", 129), "correct\x00horse", "correct\xffhorse"} {
		_, err := password.DefaultPolicy().Check(candidate, nil, func(string) (bool, error) {
			t.Errorf("recent called for %q", candidate)
			return false, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheck_RejectsInvalidCharacters(t *testing.T) {
	tests := []struct {
		name      string
		candidate string
		reject    bool
	}{
		{"NUL byte", "correct\x00horse battery", true},
		{"invalid UTF-8", "correct horse \xff\xfe battery", true},
		{"truncated UTF-8 sequence", "correct horse battery\xe2\x82", true},
		{"spaces at both ends", "  correct horse battery  ", false},
		{"tab and newline", "correct\thorse\nbattery", false},
		{"non-Latin letters", "пароль-конь-батарея", false},
		{"emoji", "🐴🔋📎 staple staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			if tt.reject {
				want = []string{password.CodeInvalidCharacters}
			}
			if got := codes(check(t, tt.candidate, nil)); !reflect.DeepEqual(got, want) {
				t.Errorf("Check(%q) codes = %v, want %v", tt.candidate, got, want)
			}
		})
	}
}

func TestCheck_ReportsAllViolationsAtOnce(t *testing.T) {
	recentYes := func(string) (bool, error) { return true, nil }
	tests := []struct {
		name      string
		candidate string
		personal  []string
		want      []string
	}{
		{
			name:      "short, common, personal and recent",
			candidate: "Dragon",
			personal:  []string{"Dragon Smith"},
			want:      []string{password.CodeMinLength, password.CodeNotCommon, password.CodeNotPersonal, password.CodeNotRecent},
		},
		{
			name:      "too long, personal and invalid",
			candidate: strings.Repeat("jane.smith", 13) + "\x00",
			personal:  jane,
			want:      []string{password.CodeMaxLength, password.CodeNotPersonal, password.CodeInvalidCharacters},
		},
		{
			name:      "short and invalid",
			candidate: "\xff",
			want:      []string{password.CodeMinLength, password.CodeInvalidCharacters},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, err := password.DefaultPolicy().Check(tt.candidate, tt.personal, recentYes)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(vs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("codes = %v, want %v", got, tt.want)
			}
		})
	}
}
