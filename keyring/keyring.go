// Package keyring turns the master key into what b2bpay seals and signs
// with, and checks it against the key versions the database records: the
// sealer of secrets at rest, the MAC key of decisions and timeline entries
// (with the MAC keys of older versions, so that old MACs still check), and
// the plan of a rotation to a new master key.
//
// Each master key is named in the database by its key check, an
// HMAC-SHA256 of a fixed label with a key derived from the master key: it
// tells whether a key is the right one and reveals nothing of it. The
// highest version is the current key. Open refuses a key that is not the
// current one, with a message that says whether it is an older (rotated)
// key or a key the database never knew.
package keyring

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/seal"
	"github.com/b2bpay/b2bpay/secret"
)

// checkPurpose is the label the key check's key is derived with.
const checkPurpose = "key-check"

// MaxVersion is the highest key version: the sealed format keeps the
// version in one byte.
const MaxVersion = 255

// ErrWrongKey is returned when the master key matches no key version the
// database records.
var ErrWrongKey = errors.New("keyring: the master key is not this database's key")

// ErrRetiredKey is returned when the master key is an older version that a
// rotation replaced.
var ErrRetiredKey = errors.New("keyring: the master key was retired by a rotation")

// Version is one master key version as the database records it.
type Version struct {
	Version int
	// Check is Check(master) of that version's master key.
	Check []byte
	// SealedMACKey is the version's MAC key sealed with the current master
	// key (nil for the current version).
	SealedMACKey []byte
}

// Check returns the key check of a master key.
func Check(master []byte) []byte {
	m := hmac.New(sha256.New, auth.DeriveKey(master, checkPurpose))
	m.Write([]byte("b2bpay.key-check.v1"))
	return m.Sum(nil)
}

// MACKeyAD is the additional data an older version's sealed MAC key is
// bound to.
func MACKeyAD(version int) []byte { return []byte("mac-key:" + strconv.Itoa(version)) }

// Ring is what one master key yields for a database.
type Ring struct {
	// Version is the master key's version (1 for a database that records
	// none yet: First is then the row to record).
	Version int
	// First, when set, is the version row to record: the database had
	// none.
	First *Version
	// Sealer seals with the master key, as Version.
	Sealer *secret.Sealer
	// MAC makes MACs with the master key's derived MAC key and checks them
	// with every version's.
	MAC *seal.Key
	// macKeys are the raw MAC keys by version, for a rotation.
	macKeys map[byte][]byte
}

// Open checks master against the recorded versions (in any order) and
// returns its ring. With no version recorded it returns version 1 and sets
// First: the caller records it (and should first check that the key opens
// the secrets already sealed).
func Open(master []byte, versions []Version) (*Ring, error) {
	if len(master) != secret.KeySize {
		return nil, fmt.Errorf("keyring: the master key is %d bytes, want %d", len(master), secret.KeySize)
	}
	check := Check(master)
	if len(versions) == 0 {
		r, err := build(master, 1, nil)
		if err != nil {
			return nil, err
		}
		r.First = &Version{Version: 1, Check: check}
		return r, nil
	}
	cur := versions[0]
	for _, v := range versions {
		if v.Version > cur.Version {
			cur = v
		}
	}
	if !hmac.Equal(cur.Check, check) {
		for _, v := range versions {
			if bytes.Equal(v.Check, check) {
				return nil, fmt.Errorf("%w: it is key version %d, the database's current key is version %d; "+
					"set B2BPAY_MASTER_KEY_FILE to the key `b2bpay key rotate` switched to", ErrRetiredKey, v.Version, cur.Version)
			}
		}
		return nil, fmt.Errorf("%w (current key version %d, key check %x…): nothing sealed can be opened and no MAC checks; "+
			"set B2BPAY_MASTER_KEY_FILE or B2BPAY_MASTER_KEY to the key this database was set up with", ErrWrongKey, cur.Version, cur.Check[:4])
	}
	if cur.Version < 1 || cur.Version > MaxVersion {
		return nil, fmt.Errorf("keyring: key version %d is out of range 1..%d", cur.Version, MaxVersion)
	}
	return build(master, cur.Version, versions)
}

// build derives the ring of master as version cur and opens the older
// versions' MAC keys.
func build(master []byte, cur int, versions []Version) (*Ring, error) {
	sealer, err := secret.NewSealer(byte(cur), map[byte][]byte{byte(cur): master})
	if err != nil {
		return nil, err
	}
	keys := map[byte][]byte{byte(cur): auth.DeriveKey(master, seal.Purpose)}
	for _, v := range versions {
		if v.Version == cur {
			continue
		}
		if v.Version < 1 || v.Version > cur {
			return nil, fmt.Errorf("keyring: key version %d is out of range 1..%d", v.Version, cur)
		}
		k, err := sealer.Open(v.SealedMACKey, MACKeyAD(v.Version))
		if err != nil {
			return nil, fmt.Errorf("keyring: the MAC key of version %d does not open with the current key: %w", v.Version, err)
		}
		keys[byte(v.Version)] = k
	}
	mac, err := seal.NewVersions(byte(cur), keys)
	if err != nil {
		return nil, err
	}
	return &Ring{Version: cur, Sealer: sealer, MAC: mac, macKeys: keys}, nil
}

// Rotation is the plan of a switch to a new master key: the version rows
// to write and how to re-seal each secret.
type Rotation struct {
	// From is the version replaced; Next the new version's row.
	From int
	Next Version
	// Older are the rows of every version before Next, with their MAC
	// keys sealed with the new master key.
	Older []Version
	from  *secret.Sealer
	to    *secret.Sealer
}

// Rotate plans the switch from the current key (r's) to next. Every secret
// is then re-sealed with Reseal, and the MAC keys of every older version
// (r's own included) are kept, sealed with next, so that MACs made before
// still check while new ones are made with next's key.
func (r *Ring) Rotate(next []byte, versions []Version) (*Rotation, error) {
	if r.First != nil {
		return nil, errors.New("keyring: the database records no key version yet: start b2bpay once with the current key first")
	}
	if len(next) != secret.KeySize {
		return nil, fmt.Errorf("keyring: the new key is %d bytes, want %d", len(next), secret.KeySize)
	}
	check := Check(next)
	for _, v := range versions {
		if bytes.Equal(v.Check, check) {
			return nil, fmt.Errorf("keyring: the new key is key version %d already: make a fresh one with `b2bpay keygen`", v.Version)
		}
	}
	n := r.Version + 1
	if n > MaxVersion {
		return nil, fmt.Errorf("keyring: no key version after %d", MaxVersion)
	}
	to, err := secret.NewSealer(byte(n), map[byte][]byte{byte(n): next})
	if err != nil {
		return nil, err
	}
	rot := &Rotation{From: r.Version, Next: Version{Version: n, Check: check}, from: r.Sealer, to: to}
	for v := 1; v <= r.Version; v++ {
		k, ok := r.macKeys[byte(v)]
		if !ok {
			return nil, fmt.Errorf("keyring: no MAC key for version %d", v)
		}
		rot.Older = append(rot.Older, Version{Version: v, SealedMACKey: to.Seal(k, MACKeyAD(v))})
	}
	return rot, nil
}

// Reseal opens a secret sealed with the current key and seals it with the
// new one, bound to the same additional data.
func (rot *Rotation) Reseal(sealed, ad []byte) ([]byte, error) {
	plain, err := rot.from.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	return rot.to.Seal(plain, ad), nil
}
