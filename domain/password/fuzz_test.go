package password

// The fuzz targets live inside the package so that FuzzVerify can read the
// parameters with parse and skip running argon2 on strings that are valid but
// costly (up to 1 GiB and 100 passes); the fuzzer would otherwise stall on
// them. parse itself still runs, and must not panic, on every input.

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzVerify(f *testing.F) {
	encoded, err := Hash("correct horse battery staple", FastParams())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("correct horse battery staple", encoded)
	f.Add("correct horse battery staple", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30")
	f.Add("x", "$argon2id$v=19$m=4294967360,t=1,p=1$c29tZXNhbHQ$c29tZXNhbHRzb21lc2FsdA")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("", "")
	f.Add("", "$$$$$")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		h, err := parse(encoded)
		if err == nil && uint64(h.params.MemoryKiB)*uint64(h.params.Time) > 1<<12 {
			return
		}
		ok, err := Verify(password, encoded)
		if ok && err != nil {
			t.Fatalf("Verify = true, %v", err)
		}
		if err != nil && !NeedsRehash(encoded, FastParams()) {
			t.Fatalf("NeedsRehash = false for a hash Verify cannot read: %v", err)
		}
	})
}

func FuzzCheck(f *testing.F) {
	f.Add("correct horse battery staple", "jane.smith@nhs.net", "Jane Smith", false)
	f.Add("Password", "", "", true)
	f.Add("\xff\x00", "@", "@ @", false)
	f.Add(strings.Repeat("🔑", 200), "a@b", "Ab Cd Ef", true)
	f.Fuzz(func(t *testing.T, candidate, email, name string, used bool) {
		p := DefaultPolicy()
		known := map[string]bool{}
		for _, r := range p.Rules() {
			known[r.Code] = true
		}
		known[CodeInvalidCharacters] = true

		vs, err := p.Check(candidate, []string{email, name}, func(string) (bool, error) { return used, nil })
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		got := map[string]bool{}
		for _, v := range vs {
			if !known[v.Code] || v.Message == "" || got[v.Code] {
				t.Fatalf("bad or repeated violation %+v in %+v", v, vs)
			}
			got[v.Code] = true
		}
		if n := utf8.RuneCountInString(candidate); got[CodeMinLength] != (n < p.MinLength) || got[CodeMaxLength] != (n > p.MaxLength) {
			t.Fatalf("%d characters, violations %+v", n, vs)
		}
		if got[CodeInvalidCharacters] != (!utf8.ValidString(candidate) || strings.ContainsRune(candidate, 0)) {
			t.Fatalf("invalid_characters = %v for %q", got[CodeInvalidCharacters], candidate)
		}
	})
}
