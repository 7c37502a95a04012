package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

var (
	// ErrMalformedHash means an encoded hash is not an argon2id PHC string
	// this package can read.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrInvalidParams means argon2id parameters, given to Hash or read from
	// an encoded hash, are outside the bounds this package accepts.
	ErrInvalidParams = errors.New("password: argon2id parameters out of bounds")
)

// Bounds on parameters. The upper ones exist so that a forged or corrupted hash
// in the database cannot make one Verify call take minutes or gigabytes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 100
	maxThreads   = 16
	minSaltLen   = 8 // the argon2 specification's minimum
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 128

	// maxEncodedLen is longer than any string the bounds above allow, so
	// Verify can refuse a huge input before splitting or decoding it.
	maxEncodedLen = 512
)

// Params are argon2id cost parameters, the salt length and the hash length.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes, each hashed by its own goroutine
	SaltLen   uint32 // random salt, bytes
	KeyLen    uint32 // derived hash, bytes
}

// DefaultParams returns the parameters for stored passwords: argon2id with
// 64 MiB of memory, 2 passes and 2 lanes, a 16-byte salt and a 32-byte hash.
//
// They are sized so that one hash costs 50-100 ms of CPU on the service's
// 2-core machine. On an otherwise idle machine (Intel Xeon, Go 1.26, x/crypto
// v0.58.0) BenchmarkHash measured about 83 ms of CPU, user plus system
// (82-94 ms over several runs), and 46 ms of wall time per hash: the 2 lanes
// let one login use both cores, and the two cores together can check some 24
// passwords a second. Alongside: 48 MiB measured 61 ms of CPU (34 ms wall),
// t=3 133 ms (71 ms wall). All are above OWASP's minimum of m=46 MiB, t=1,
// p=1. Raise them when machines grow; NeedsRehash moves stored hashes over as
// people log in.
func DefaultParams() Params {
	return Params{Time: 2, MemoryKiB: 64 * 1024, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// FastParams returns cheap parameters (64 KiB, 1 pass, 1 lane), for tests
// only: other packages' tests can hash many passwords without spending tens
// of milliseconds on each. Never use them for a stored password.
func FastParams() Params {
	return Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}
}

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("%w: time %d not in 1..%d", ErrInvalidParams, p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("%w: threads %d not in 1..%d", ErrInvalidParams, p.Threads, maxThreads)
	// argon2 needs 8 KiB per lane and would quietly raise a smaller value,
	// which would make the encoded m disagree with the work done.
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in %d..%d", ErrInvalidParams, p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("%w: salt length %d not in %d..%d", ErrInvalidParams, p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: key length %d not in %d..%d", ErrInvalidParams, p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hash derives an argon2id hash of password with a fresh random salt and
// returns it as a PHC string, for example
//
//	$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. It fails only when p is out
// of bounds.
func Hash(password string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, a string made by Hash. It
// returns an error, wrapping ErrMalformedHash or ErrInvalidParams, when
// encoded cannot be read or asks for more work than this package allows; it
// never runs argon2 on such a string.
func Verify(password, encoded string) (bool, error) {
	h, err := parse(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, h.params.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than p,
// or cannot be read at all. Call it after a successful Verify and, when it is
// true, store Hash(password, p) in place of the old hash.
func NeedsRehash(encoded string, p Params) bool {
	h, err := parse(encoded)
	return err != nil || h.params != p
}

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict rejects non-zero trailing bits, so each hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

type decodedHash struct {
	params Params
	salt   []byte
	key    []byte
}

// parse reads a PHC string of exactly the form Hash writes.
func parse(encoded string) (decodedHash, error) {
	if len(encoded) > maxEncodedLen {
		return decodedHash{}, fmt.Errorf("%w: %d bytes long", ErrMalformedHash, len(encoded))
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return decodedHash{}, fmt.Errorf("%w: want 5 fields after a leading $", ErrMalformedHash)
	}
	if fields[1] != "argon2id" {
		return decodedHash{}, fmt.Errorf("%w: algorithm %q, want argon2id", ErrMalformedHash, fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return decodedHash{}, fmt.Errorf("%w: version %q, want v=%d", ErrMalformedHash, fields[2], argon2.Version)
	}

	var h decodedHash
	m, t, p, ok := parseCosts(fields[3])
	if !ok {
		return decodedHash{}, fmt.Errorf("%w: parameters %q, want m=<n>,t=<n>,p=<n>", ErrMalformedHash, fields[3])
	}
	var err error
	if h.salt, err = b64.DecodeString(fields[4]); err != nil {
		return decodedHash{}, fmt.Errorf("%w: salt: %v", ErrMalformedHash, err)
	}
	if h.key, err = b64.DecodeString(fields[5]); err != nil {
		return decodedHash{}, fmt.Errorf("%w: hash: %v", ErrMalformedHash, err)
	}
	// Compare before narrowing, so m=2^32+1 cannot wrap round to a small value.
	if m > maxMemoryKiB || t > maxTime || p > maxThreads {
		return decodedHash{}, fmt.Errorf("%w: m=%d,t=%d,p=%d", ErrInvalidParams, m, t, p)
	}
	h.params = Params{
		Time:      uint32(t),
		MemoryKiB: uint32(m),
		Threads:   uint8(p),
		SaltLen:   uint32(len(h.salt)),
		KeyLen:    uint32(len(h.key)),
	}
	if err := h.params.validate(); err != nil {
		return decodedHash{}, err
	}
	return h, nil
}

// parseCosts reads "m=<n>,t=<n>,p=<n>" in that order, the numbers in plain
// decimal without sign or leading zeros.
func parseCosts(s string) (m, t, p uint64, ok bool) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var vals [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(parts[i], name)
		if !found || digits == "" || len(digits) > 10 || (len(digits) > 1 && digits[0] == '0') {
			return 0, 0, 0, false
		}
		for _, c := range []byte(digits) {
			if c < '0' || c > '9' {
				return 0, 0, 0, false
			}
		}
		v, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		vals[i] = v
	}
	return vals[0], vals[1], vals[2], true
}
