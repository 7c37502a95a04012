package password_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/password"
)

func mustHash(t *testing.T, pw string, p password.Params) string {
	t.Helper()
	encoded, err := password.Hash(pw, p)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return encoded
}

func TestHash_VerifiesTheSamePassword(t *testing.T) {
	for name, p := range map[string]password.Params{"fast": password.FastParams(), "default": password.DefaultParams()} {
		t.Run(name, func(t *testing.T) {
			encoded := mustHash(t, good, p)
			ok, err := password.Verify(good, encoded)
			if err != nil || !ok {
				t.Errorf("Verify(good, Hash(good)) = %v, %v; want true, nil", ok, err)
			}
		})
	}
}

func TestVerify_RejectsWrongPassword(t *testing.T) {
	encoded := mustHash(t, good, password.FastParams())
	for _, wrong := range []string{"", "Correct horse battery staple", good + " ", good[:len(good)-1], "correct horse battery stapler"} {
		ok, err := password.Verify(wrong, encoded)
		if err != nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
}

func TestVerify_AcceptsHashFromReferenceImplementation(t *testing.T) {
	// Made by the argon2 reference CLI (Debian package argon2):
	//   echo -n "correct horse battery staple" | argon2 somesaltsomesalt -id -t 2 -k 64 -p 1 -l 32 -e
	const encoded = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30"
	ok, err := password.Verify(good, encoded)
	if err != nil || !ok {
		t.Errorf("Verify = %v, %v; want true, nil", ok, err)
	}
}

func TestHash_WritesPHCString(t *testing.T) {
	p := password.Params{Time: 2, MemoryKiB: 128, Threads: 2, SaltLen: 24, KeyLen: 40}
	encoded := mustHash(t, good, p)
	const prefix = "$argon2id$v=19$m=128,t=2,p=2$"
	if !strings.HasPrefix(encoded, prefix) {
		t.Fatalf("Hash = %q, want prefix %q", encoded, prefix)
	}
	fields := strings.Split(strings.TrimPrefix(encoded, prefix), "$")
	if len(fields) != 2 {
		t.Fatalf("Hash = %q, want salt and hash after the parameters", encoded)
	}
	for i, want := range []int{24, 40} {
		raw, err := base64.RawStdEncoding.DecodeString(fields[i])
		if err != nil || len(raw) != want {
			t.Errorf("field %q: %d bytes, %v; want %d bytes of unpadded base64", fields[i], len(raw), err, want)
		}
	}
}

func TestHash_UsesFreshSaltEachTime(t *testing.T) {
	seen := map[string]bool{}
	for range 5 {
		encoded := mustHash(t, good, password.FastParams())
		salt := strings.Split(encoded, "$")[4]
		if seen[salt] {
			t.Fatalf("salt %s used twice", salt)
		}
		seen[salt] = true
	}
}

func TestHash_RejectsOutOfBoundsParams(t *testing.T) {
	fast := password.FastParams()
	with := func(change func(*password.Params)) password.Params {
		p := fast
		change(&p)
		return p
	}
	tests := map[string]password.Params{
		"zero":               {},
		"no passes":          with(func(p *password.Params) { p.Time = 0 }),
		"101 passes":         with(func(p *password.Params) { p.Time = 101 }),
		"no lanes":           with(func(p *password.Params) { p.Threads = 0 }),
		"17 lanes":           with(func(p *password.Params) { p.Threads = 17; p.MemoryKiB = 1024 }),
		"under 8 KiB a lane": with(func(p *password.Params) { p.Threads = 4; p.MemoryKiB = 31 }),
		"over 1 GiB":         with(func(p *password.Params) { p.MemoryKiB = 1<<20 + 1 }),
		"7-byte salt":        with(func(p *password.Params) { p.SaltLen = 7 }),
		"65-byte salt":       with(func(p *password.Params) { p.SaltLen = 65 }),
		"15-byte hash":       with(func(p *password.Params) { p.KeyLen = 15 }),
		"129-byte hash":      with(func(p *password.Params) { p.KeyLen = 129 }),
		"255 lanes":          with(func(p *password.Params) { p.Threads = 255; p.MemoryKiB = 4096 }),
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			encoded, err := password.Hash(good, p)
			if !errors.Is(err, password.ErrInvalidParams) {
				t.Errorf("Hash(%+v) = %q, %v; want ErrInvalidParams", p, encoded, err)
			}
		})
	}
}

func TestVerify_RejectsMalformedHash(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30"
	tests := map[string]string{
		"empty":               "",
		"bcrypt":              "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"no leading $":        "argon2id$v=19$m=64,t=2,p=1$" + salt + "$" + key,
		"argon2i":             "$argon2i$v=19$m=64,t=2,p=1$" + salt + "$" + key,
		"version 16":          "$argon2id$v=16$m=64,t=2,p=1$" + salt + "$" + key,
		"no version":          "$argon2id$m=64,t=2,p=1$" + salt + "$" + key,
		"missing hash":        "$argon2id$v=19$m=64,t=2,p=1$" + salt,
		"extra field":         "$argon2id$v=19$m=64,t=2,p=1$" + salt + "$" + key + "$",
		"params out of order": "$argon2id$v=19$t=2,m=64,p=1$" + salt + "$" + key,
		"missing param":       "$argon2id$v=19$m=64,t=2$" + salt + "$" + key,
		"extra param":         "$argon2id$v=19$m=64,t=2,p=1,k=1$" + salt + "$" + key,
		"leading zero":        "$argon2id$v=19$m=064,t=2,p=1$" + salt + "$" + key,
		"plus sign":           "$argon2id$v=19$m=+64,t=2,p=1$" + salt + "$" + key,
		"minus sign":          "$argon2id$v=19$m=64,t=-2,p=1$" + salt + "$" + key,
		"space":               "$argon2id$v=19$m=64, t=2,p=1$" + salt + "$" + key,
		"empty number":        "$argon2id$v=19$m=,t=2,p=1$" + salt + "$" + key,
		"huge number":         "$argon2id$v=19$m=99999999999999999999,t=2,p=1$" + salt + "$" + key,
		"padded salt":         "$argon2id$v=19$m=64,t=2,p=1$" + salt + "==$" + key,
		"URL base64 hash":     "$argon2id$v=19$m=64,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"),
		"non-canonical salt":  "$argon2id$v=19$m=64,t=2,p=1$" + salt[:len(salt)-1] + "B$" + key,
		"too long":            "$argon2id$v=19$m=64,t=2,p=1$" + strings.Repeat("A", 600) + "$" + key,
	}
	for name, encoded := range tests {
		t.Run(name, func(t *testing.T) {
			ok, err := password.Verify(good, encoded)
			if ok || !errors.Is(err, password.ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformedHash", encoded, ok, err)
			}
		})
	}
}

func TestVerify_RejectsForgedParamsWithoutHashing(t *testing.T) {
	// Were any of these hashed, the test would take minutes or run out of
	// memory; each must fail on parsing alone.
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30"
	tests := map[string]string{
		"2 GiB":                 "$argon2id$v=19$m=2097152,t=1,p=1$" + salt + "$" + key,
		"memory wraps to 64":    "$argon2id$v=19$m=4294967360,t=1,p=1$" + salt + "$" + key,
		"1000 passes":           "$argon2id$v=19$m=1048576,t=1000,p=1$" + salt + "$" + key,
		"passes wrap to 1":      "$argon2id$v=19$m=64,t=4294967297,p=1$" + salt + "$" + key,
		"no passes":             "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"no lanes":              "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"255 lanes":             "$argon2id$v=19$m=1048576,t=1,p=255$" + salt + "$" + key,
		"lanes wrap to 1":       "$argon2id$v=19$m=64,t=1,p=257$" + salt + "$" + key,
		"4-byte salt":           "$argon2id$v=19$m=64,t=2,p=1$c2FsdA$" + key,
		"4-byte hash":           "$argon2id$v=19$m=64,t=2,p=1$" + salt + "$aGFzaA",
		"empty salt and hash":   "$argon2id$v=19$m=64,t=2,p=1$$",
		"memory under 8 a lane": "$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + key,
	}
	for name, encoded := range tests {
		t.Run(name, func(t *testing.T) {
			ok, err := password.Verify(good, encoded)
			if ok || !errors.Is(err, password.ErrInvalidParams) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrInvalidParams", encoded, ok, err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	fast := password.FastParams()
	encoded := mustHash(t, good, fast)
	with := func(change func(*password.Params)) password.Params {
		p := fast
		change(&p)
		return p
	}
	tests := []struct {
		name    string
		encoded string
		p       password.Params
		want    bool
	}{
		{"same parameters", encoded, fast, false},
		{"more passes", encoded, with(func(p *password.Params) { p.Time++ }), true},
		{"more memory", encoded, with(func(p *password.Params) { p.MemoryKiB *= 2 }), true},
		{"more lanes", encoded, with(func(p *password.Params) { p.Threads++ }), true},
		{"longer salt", encoded, with(func(p *password.Params) { p.SaltLen = 32 }), true},
		{"longer hash", encoded, with(func(p *password.Params) { p.KeyLen = 64 }), true},
		{"weaker target still rehashes", mustHash(t, good, password.Params{Time: 2, MemoryKiB: 128, Threads: 1, SaltLen: 16, KeyLen: 32}), fast, true},
		{"unreadable hash", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", fast, true},
		{"forged parameters", "$argon2id$v=19$m=2097152,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$Sr6N/nCmohWCvF7EZislLIdwA8ojCXux0K30ccqFS30", fast, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := password.NeedsRehash(tt.encoded, tt.p); got != tt.want {
				t.Errorf("NeedsRehash(%q, %+v) = %v, want %v", tt.encoded, tt.p, got, tt.want)
			}
		})
	}
}

func TestFastParams_AreCheapButValid(t *testing.T) {
	fast, def := password.FastParams(), password.DefaultParams()
	if fast.MemoryKiB*fast.Time >= def.MemoryKiB*def.Time {
		t.Errorf("FastParams %+v cost no less than DefaultParams %+v", fast, def)
	}
	if password.NeedsRehash(mustHash(t, good, fast), fast) {
		t.Error("a FastParams hash needs rehashing to FastParams")
	}
}

// BenchmarkHash measures one DefaultParams hash: ms/op is wall time, cpu-ms/op
// the CPU time of all lanes together (the cost DefaultParams is sized by).
func BenchmarkHash(b *testing.B) {
	p := password.DefaultParams()
	cpuStart, cpuOK := processCPUTime()
	n := 0
	for b.Loop() {
		if _, err := password.Hash(good, p); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(n), "ms/op")
	if cpuEnd, ok := processCPUTime(); cpuOK && ok {
		b.ReportMetric((cpuEnd-cpuStart).Seconds()*1000/float64(n), "cpu-ms/op")
	}
}
