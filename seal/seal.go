// Package seal makes and checks the MACs that bind each approval decision
// and each timeline entry to a payment's content, the person, the stage,
// the OTP step and the entry before it. The key is derived from the master
// key, which the database never holds: someone who can write to the
// database can change rows but cannot make MACs that check.
//
// It is pure computation (HMAC-SHA256 over length-prefixed fields); the
// store writes and reads the bytes.
package seal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"strconv"

	"github.com/b2bpay/b2bpay/payment"
)

// Purpose is the label the MAC key is derived with from the master key
// (auth.DeriveKey(master, seal.Purpose)): its own key, not the session
// token's.
const Purpose = "approval-mac"

// MinKeySize is the smallest key New accepts: 256 bits.
const MinKeySize = 32

// Key makes and checks MACs with one HMAC-SHA256 key.
type Key struct {
	key []byte
}

// New returns a Key; key must be at least MinKeySize bytes.
func New(key []byte) (*Key, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	return &Key{key: append([]byte(nil), key...)}, nil
}

// Decision is what the MAC of one applied decision covers.
type Decision struct {
	PaymentID string
	// Digest is the payment's content digest (payment.Payment.Digest) when
	// the decision was made: what the person approved.
	Digest  string
	ActorID string
	Stage   payment.Stage
	Verdict payment.Verdict
	// OTPStep is the TOTP time step consumed (0 when the stage needs none).
	OTPStep int64
	// RequiredAuthorizers is how many authorizers the payment needs: fixed
	// at intake, so lowering it afterwards breaks every decision's MAC.
	RequiredAuthorizers int
	// Seq is the decision's place among the payment's applied decisions,
	// from 1; Prev is the MAC of the one before it (nil for the first).
	Seq  int
	Prev []byte
}

// Decision returns the MAC of d.
func (k *Key) Decision(d Decision) []byte {
	m := k.mac("b2bpay.decision-mac.v1")
	field(m, []byte(d.PaymentID))
	field(m, []byte(d.Digest))
	field(m, []byte(d.ActorID))
	field(m, []byte(d.Stage))
	field(m, []byte(d.Verdict))
	field(m, []byte(strconv.FormatInt(d.OTPStep, 10)))
	field(m, []byte(strconv.Itoa(d.RequiredAuthorizers)))
	field(m, []byte(strconv.Itoa(d.Seq)))
	field(m, d.Prev)
	return m.Sum(nil)
}

// Entry returns the MAC of a timeline entry of a payment whose content
// digest is digest. It covers the payment, the digest, the actor, the
// action (the stage's move), the OTP step, the entry's sequence number,
// the previous entry's hash (the chain) and the entry's own hash, which
// covers every other field.
func (k *Key) Entry(digest string, e payment.Entry) []byte {
	m := k.mac("b2bpay.timeline-mac.v1")
	field(m, []byte(e.PaymentID))
	field(m, []byte(digest))
	field(m, []byte(e.Actor.Kind))
	field(m, []byte(e.Actor.ID))
	field(m, []byte(e.Action))
	field(m, []byte(strconv.FormatInt(e.OTPStep, 10)))
	field(m, []byte(strconv.Itoa(e.Seq)))
	field(m, e.PrevHash)
	field(m, e.Hash)
	return m.Sum(nil)
}

// Sealed reports whether e carries a MAC and it checks for a payment whose
// content digest is digest.
func (k *Key) Sealed(digest string, e payment.Entry) bool {
	return len(e.MAC) > 0 && hmac.Equal(k.Entry(digest, e), e.MAC)
}

// Seal sets e.MAC for a payment whose content digest is digest.
func (k *Key) Seal(digest string, e *payment.Entry) { e.MAC = k.Entry(digest, *e) }

// mac starts an HMAC with a domain-separation tag, so a decision's MAC is
// never a valid entry MAC and the other way round.
func (k *Key) mac(tag string) hash.Hash {
	m := hmac.New(sha256.New, k.key)
	field(m, []byte(tag))
	return m
}

// field writes b with its length in front: no two different field lists
// give the same input.
func field(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}
