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
	"sync"

	"github.com/b2bpay/b2bpay/payment"
)

// Purpose is the label the MAC key is derived with from the master key
// (auth.DeriveKey(master, seal.Purpose)): its own key, not the session
// token's.
const Purpose = "approval-mac"

// MinKeySize is the smallest key New accepts: 256 bits.
const MinKeySize = 32

// Key makes and checks MACs with one HMAC-SHA256 key. It is safe for
// concurrent use.
type Key struct {
	key  []byte
	macs sync.Pool // keyed HMACs, reset before each use
}

// New returns a Key; key must be at least MinKeySize bytes.
func New(key []byte) (*Key, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	k := &Key{key: append([]byte(nil), key...)}
	k.macs.New = func() any { return hmac.New(sha256.New, k.key) }
	return k, nil
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
	b := make([]byte, 0, 384)
	b = field(b, "b2bpay.decision-mac.v1")
	b = field(b, d.PaymentID)
	b = field(b, d.Digest)
	b = field(b, d.ActorID)
	b = field(b, string(d.Stage))
	b = field(b, string(d.Verdict))
	b = number(b, d.OTPStep)
	b = number(b, int64(d.RequiredAuthorizers))
	b = number(b, int64(d.Seq))
	b = field(b, string(d.Prev))
	return k.sum(b)
}

// Entry returns the MAC of a timeline entry of a payment whose content
// digest is digest. It covers the payment, the digest, the actor, the
// action (the stage's move), the OTP step, the entry's sequence number,
// the previous entry's hash (the chain) and the entry's own hash, which
// covers every other field.
func (k *Key) Entry(digest string, e payment.Entry) []byte {
	b := make([]byte, 0, 384)
	b = field(b, "b2bpay.timeline-mac.v1")
	b = field(b, e.PaymentID)
	b = field(b, digest)
	b = field(b, string(e.Actor.Kind))
	b = field(b, e.Actor.ID)
	b = field(b, string(e.Action))
	b = number(b, e.OTPStep)
	b = number(b, int64(e.Seq))
	b = field(b, string(e.PrevHash))
	b = field(b, string(e.Hash))
	return k.sum(b)
}

// Sealed reports whether e carries a MAC and it checks for a payment whose
// content digest is digest.
func (k *Key) Sealed(digest string, e payment.Entry) bool {
	return len(e.MAC) > 0 && hmac.Equal(k.Entry(digest, e), e.MAC)
}

// Seal sets e.MAC for a payment whose content digest is digest.
func (k *Key) Seal(digest string, e *payment.Entry) { e.MAC = k.Entry(digest, *e) }

// sum is the HMAC of b. The first field of b is a domain-separation
// tag, so a decision's MAC is never a valid entry MAC and the other way
// round.
func (k *Key) sum(b []byte) []byte {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	out := h.Sum(make([]byte, 0, sha256.Size))
	k.macs.Put(h)
	return out
}

// field appends s with its length in front: no two different field lists
// give the same input.
func field(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// number appends n in decimal as a field.
func number(b []byte, n int64) []byte {
	var buf [20]byte
	return field(b, string(strconv.AppendInt(buf[:0], n, 10)))
}
