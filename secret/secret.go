// Package secret seals small secrets (upstream HMAC keys, OTP seeds) for
// storage: AES-256-GCM with a random 96-bit nonce, the key version in the
// first byte, and additional data that binds each ciphertext to its row, so
// a sealed value copied to another row does not open.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the size of a sealing key: AES-256.
const KeySize = 32

// ErrOpen is returned when a sealed value does not open: wrong key, wrong
// row, or tampered bytes. It never says which.
var ErrOpen = errors.New("secret: sealed value does not open (tampered, swapped or wrong key)")

// Sealer seals and opens secrets with a set of versioned keys; it seals with
// the newest and opens with whichever version the ciphertext names.
type Sealer struct {
	current byte
	aeads   map[byte]cipher.AEAD
}

// NewSealer builds a sealer from keys by version; current is the version
// used to seal.
func NewSealer(current byte, keys map[byte][]byte) (*Sealer, error) {
	s := &Sealer{current: current, aeads: make(map[byte]cipher.AEAD, len(keys))}
	for v, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secret: key version %d is %d bytes, want %d", v, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secret: key version %d: %w", v, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret: key version %d: %w", v, err)
		}
		s.aeads[v] = aead
	}
	if _, ok := s.aeads[current]; !ok {
		return nil, fmt.Errorf("secret: no key for current version %d", current)
	}
	return s, nil
}

// ParseKey decodes a key given as base64 (standard or URL alphabet) or 64
// hex digits.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if k, err := dec(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("secret: a key must be %d bytes in base64 or hex", KeySize)
}

// LoadKeyFile reads a key file holding one key as ParseKey accepts. The
// file must not be readable by group or others.
func LoadKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: key file %s is readable by others (mode %o); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	return ParseKey(string(b))
}

// NewKey returns a fresh random key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return k
}

// Version returns the key version used to seal.
func (s *Sealer) Version() byte { return s.current }

// Seal encrypts plain, bound to ad (for example "upstream:" + id).
func (s *Sealer) Seal(plain, ad []byte) []byte {
	aead := s.aeads[s.current]
	out := make([]byte, 1, 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = s.current
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, append([]byte{s.current}, ad...))
}

// Open decrypts a sealed value that must have been sealed with the same ad.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1 {
		return nil, ErrOpen
	}
	aead, ok := s.aeads[sealed[0]]
	if !ok || len(sealed) < 1+aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce := sealed[1 : 1+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, sealed[1+aead.NonceSize():], append([]byte{sealed[0]}, ad...))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
