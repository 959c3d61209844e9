package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/b2bpay/b2bpay/payment"
)

// Argon2Params are the argon2id cost parameters of new password hashes.
// Every hash records its own parameters, so changing them leaves older
// hashes checkable.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// Params are the parameters HashPassword uses: 64 MiB, one pass, two
// lanes (the RFC 9106 second recommendation scaled for a server taking
// many logins). Tests may lower them before hashing anything.
var Params = Argon2Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}

// MinPasswordLength is the fewest characters a password may have.
const MinPasswordLength = 12

// Bounds on the parameters CheckPassword accepts from a stored hash, so a
// corrupt or planted hash cannot make one check take the server down.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 16
	maxThreads = 64
	maxKeyLen  = 128
)

// ErrMalformedHash is returned by CheckPassword for a hash that is not an
// argon2id PHC string this package can check.
var ErrMalformedHash = errors.New("auth: password hash is not a valid argon2id PHC string")

var b64 = base64.RawStdEncoding

// HashPassword hashes pw with argon2id and a random salt, in PHC string
// format: $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash> (unpadded base64).
func HashPassword(pw string) (string, error) {
	p := Params
	if p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.SaltLen < 8 || p.KeyLen < 16 {
		return "", fmt.Errorf("auth: argon2id parameters %+v are too weak", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash, comparing in constant
// time. It returns ErrMalformedHash (and false) when hash cannot be read.
func CheckPassword(hash, pw string) (bool, error) {
	p, salt, want, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parseHash reads a PHC argon2id string and checks its parameters.
func parseHash(hash string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, threads) != parts[3] {
		return p, nil, nil, ErrMalformedHash
	}
	if threads < 1 || threads > maxThreads || p.Time < 1 || p.Time > maxTime ||
		p.Memory < 8*threads || p.Memory > maxMemory {
		return p, nil, nil, ErrMalformedHash
	}
	p.Threads = uint8(threads)
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}

// CheckPasswordStrength refuses a password shorter than MinPasswordLength
// characters (or not valid UTF-8) with CodeInvalidInput.
func CheckPasswordStrength(pw string) error {
	if !utf8.ValidString(pw) {
		return payment.Errorf(payment.CodeInvalidInput, "the password is not valid UTF-8 text")
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength {
		return payment.Errorf(payment.CodeInvalidInput, "the password has %d characters; it needs at least %d", n, MinPasswordLength)
	}
	return nil
}

// Throttle is how login failures are throttled: after MaxFailures wrong
// passwords in a row, logins are refused for LockFor whatever the password.
// Zero fields take the defaults (5 failures, 15 minutes).
type Throttle struct {
	MaxFailures int
	LockFor     time.Duration
}

// DefaultThrottle is the throttle used where fields are zero.
var DefaultThrottle = Throttle{MaxFailures: 5, LockFor: 15 * time.Minute}

// WithDefaults returns t with zero (or negative) fields replaced by
// DefaultThrottle's.
func (t Throttle) WithDefaults() Throttle {
	if t.MaxFailures <= 0 {
		t.MaxFailures = DefaultThrottle.MaxFailures
	}
	if t.LockFor <= 0 {
		t.LockFor = DefaultThrottle.LockFor
	}
	return t
}
