// Package otp computes and matches time-based one-time passwords (TOTP,
// RFC 6238) with github.com/pquerna/otp: enrolment (a random seed, its
// otpauth:// URI and QR code) and matching a code to its time step; and
// the policy of a person's codes (Check, policy.go): a code is accepted
// once (RFC 6238 §5.2), wrong codes in a row lock the person's OTP for a
// while. It keeps no state and knows nothing of SQL: the store reads a
// person's State with their row locked and writes back what Check made of
// it, in the transaction of what the code authorizes.
package otp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	pqotp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// SecretSize is the size of a generated seed: 160 bits, as RFC 4226
// recommends and authenticator apps expect with SHA1.
const SecretSize = 20

// Options are the TOTP parameters. Zero fields take the defaults of
// authenticator apps: 6 digits, SHA1, 30 seconds, and a skew of one step
// either side. A negative Skew means no skew.
type Options struct {
	Digits    int           // 6 to 8
	Algorithm string        // "SHA1", "SHA256" or "SHA512"
	Period    time.Duration // whole seconds
	Skew      int           // steps accepted either side of now
}

// settings are Options checked and in pquerna's terms.
type settings struct {
	digits int
	alg    pqotp.Algorithm
	period int64 // seconds
	skew   int64
}

func (o Options) settings() (settings, error) {
	s := settings{digits: o.Digits, skew: int64(o.Skew)}
	if s.digits == 0 {
		s.digits = 6
	}
	if s.digits < 6 || s.digits > 8 {
		return s, fmt.Errorf("otp: %d digits; want 6 to 8", o.Digits)
	}
	switch o.Algorithm {
	case "", "SHA1":
		s.alg = pqotp.AlgorithmSHA1
	case "SHA256":
		s.alg = pqotp.AlgorithmSHA256
	case "SHA512":
		s.alg = pqotp.AlgorithmSHA512
	default:
		return s, fmt.Errorf("otp: algorithm %q; want SHA1, SHA256 or SHA512", o.Algorithm)
	}
	period := o.Period
	if period == 0 {
		period = 30 * time.Second
	}
	if period < time.Second || period%time.Second != 0 {
		return s, fmt.Errorf("otp: period %s is not a whole number of seconds", o.Period)
	}
	s.period = int64(period / time.Second)
	switch {
	case o.Skew == 0:
		s.skew = 1
	case o.Skew < 0:
		s.skew = 0
	case o.Skew > 10:
		return s, fmt.Errorf("otp: skew of %d steps is too wide", o.Skew)
	}
	return s, nil
}

// Generate makes a new random seed of SecretSize bytes for account at
// issuer and returns it with its otpauth:// URI (SHA1, 6 digits, 30 s) for
// an authenticator app. Seal the seed before storing it.
func Generate(issuer, account string) (secret []byte, uri string, err error) {
	secret = make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", fmt.Errorf("otp: seed: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      30,
		Secret:      secret,
		Digits:      pqotp.DigitsSix,
		Algorithm:   pqotp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, "", fmt.Errorf("otp: key for %s at %s: %w", account, issuer, err)
	}
	return secret, key.URL(), nil
}

// QRCodePNG draws uri as a QR code PNG of size×size pixels, for an
// authenticator app to scan.
func QRCodePNG(uri string, size int) ([]byte, error) {
	if size < 64 || size > 4096 {
		return nil, fmt.Errorf("otp: QR code size %d; want 64 to 4096 pixels", size)
	}
	key, err := pqotp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("otp: read key URI: %w", err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || key.Secret() == "" {
		return nil, errors.New("otp: not an otpauth://totp/ URI with a secret")
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("otp: draw QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("otp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// Step is the time step that contains t for a period.
func Step(t time.Time, o Options) (int64, error) {
	s, err := o.settings()
	if err != nil {
		return 0, err
	}
	return floorDiv(t.Unix(), s.period), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// CodeAt returns the code of a time step.
func CodeAt(secret []byte, step int64, o Options) (string, error) {
	s, err := o.settings()
	if err != nil {
		return "", err
	}
	return s.code(secret, step)
}

var errNegativeStep = errors.New("otp: time step before 1970")

func (s settings) code(secret []byte, step int64) (string, error) {
	if step < 0 {
		return "", errNegativeStep
	}
	if len(secret) == 0 {
		return "", errors.New("otp: empty seed")
	}
	return hotp.GenerateCodeCustom(base32.StdEncoding.EncodeToString(secret), uint64(step), hotp.ValidateOpts{
		Digits:    pqotp.Digits(s.digits),
		Algorithm: s.alg,
	})
}

// Match finds the time step within Skew steps of now whose code is code.
// It computes every code of the window and compares each in constant time;
// a code of the wrong length or with anything but ASCII digits never
// matches, nor does anything when the options or seed are unusable. If
// two steps of the window share the code, the one nearest now wins (the
// earlier on a tie). The caller records the step to refuse replays.
func Match(secret []byte, code string, now time.Time, o Options) (step int64, ok bool) {
	s, err := o.settings()
	if err != nil || len(code) != s.digits || !digitsOnly(code) {
		return 0, false
	}
	cur := floorDiv(now.Unix(), s.period)
	// Nearest first: now, then one step back and forward, and so on.
	window := []int64{cur}
	for d := int64(1); d <= s.skew; d++ {
		window = append(window, cur-d, cur+d)
	}
	for _, st := range window {
		want, err := s.code(secret, st)
		if err != nil {
			continue
		}
		// Every code of the window is compared, so the time taken does not
		// tell which step matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = st, true
		}
	}
	return step, ok
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
