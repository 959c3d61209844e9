// Package seal makes and checks the MACs that bind each approval decision
// and each timeline entry to a payment's content, the person, the stage,
// the OTP step and the entry before it. The key is derived from the master
// key, which the database never holds (after a rotation it holds older
// versions' MAC keys, sealed with the current master key): someone who can
// write to the database can change rows but cannot make MACs that check.
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

// Key makes and checks MACs. It holds the keys of one or more master key
// versions: it makes MACs with the current one and checks each MAC with
// the version it names. A MAC of version 1 is the 32 bytes of the
// HMAC-SHA256 (as before versions existed); a MAC of a later version is
// that version's number in one byte, then the 32 bytes. It is safe for
// concurrent use.
type Key struct {
	current byte
	keys    map[byte]*hmacKey
}

// hmacKey is one version's key, with a pool of keyed HMACs.
type hmacKey struct {
	key  []byte
	macs sync.Pool // keyed HMACs, reset before each use
}

// New returns a Key of version 1 only; key must be at least MinKeySize
// bytes.
func New(key []byte) (*Key, error) { return NewVersions(1, map[byte][]byte{1: key}) }

// NewVersions returns a Key that makes MACs with keys[current] and checks
// MACs of every version in keys (from 1). Each key must be at least
// MinKeySize bytes.
func NewVersions(current byte, keys map[byte][]byte) (*Key, error) {
	k := &Key{current: current, keys: make(map[byte]*hmacKey, len(keys))}
	for v, key := range keys {
		if v == 0 {
			return nil, fmt.Errorf("seal: key version 0: versions start at 1")
		}
		if len(key) < MinKeySize {
			return nil, fmt.Errorf("seal: key version %d is %d bytes, want at least %d", v, len(key), MinKeySize)
		}
		hk := &hmacKey{key: append([]byte(nil), key...)}
		hk.macs.New = func() any { return hmac.New(sha256.New, hk.key) }
		k.keys[v] = hk
	}
	if _, ok := k.keys[current]; !ok {
		return nil, fmt.Errorf("seal: no key for current version %d", current)
	}
	return k, nil
}

// Version is the key version new MACs are made with.
func (k *Key) Version() byte { return k.current }

// MACVersion returns the key version a stored MAC names (0 if it has the
// length of no MAC).
func MACVersion(mac []byte) byte {
	switch {
	case len(mac) == sha256.Size:
		return 1
	case len(mac) == 1+sha256.Size && mac[0] > 1:
		return mac[0]
	}
	return 0
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

// Decision returns the MAC of d, made with the current key.
func (k *Key) Decision(d Decision) []byte { return k.sum(decisionInput(d)) }

// decisionInput is what a decision's MAC is computed over.
func decisionInput(d Decision) []byte {
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
	return b
}

// Entry returns the MAC of a timeline entry of a payment whose content
// digest is digest. It covers the payment, the digest, the actor, the
// action (the stage's move), the OTP step, the entry's sequence number,
// the previous entry's hash (the chain) and the entry's own hash, which
// covers every other field. It is made with the current key.
func (k *Key) Entry(digest string, e payment.Entry) []byte { return k.sum(entryInput(digest, e)) }

// entryInput is what a timeline entry's MAC is computed over.
func entryInput(digest string, e payment.Entry) []byte {
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
	return b
}

// Sealed reports whether e carries a MAC and it checks for a payment whose
// content digest is digest.
func (k *Key) Sealed(digest string, e payment.Entry) bool {
	return k.verify(entryInput(digest, e), e.MAC)
}

// Seal sets e.MAC for a payment whose content digest is digest.
func (k *Key) Seal(digest string, e *payment.Entry) { e.MAC = k.Entry(digest, *e) }

// sum is the MAC of b with the current key. The first field of b is a
// domain-separation tag, so a decision's MAC is never a valid entry MAC and
// the other way round.
func (k *Key) sum(b []byte) []byte {
	out := make([]byte, 0, 1+sha256.Size)
	if k.current > 1 {
		out = append(out, k.current)
	}
	return k.keys[k.current].sum(out, b)
}

// verify reports whether mac is the MAC of b with the key of the version
// mac names. A MAC of a version this Key does not hold does not check.
func (k *Key) verify(b, mac []byte) bool {
	v := MACVersion(mac)
	hk, ok := k.keys[v]
	if !ok {
		return false
	}
	return hmac.Equal(hk.sum(nil, b), mac[len(mac)-sha256.Size:])
}

// sum appends the HMAC of b to out.
func (hk *hmacKey) sum(out, b []byte) []byte {
	h := hk.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	out = h.Sum(out)
	hk.macs.Put(h)
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

// BatchDecision is what the MAC of a batch decision's record covers: who
// decided what, at which stage, on how many payments of which totals (the
// batch digest covers the items), with which OTP step, when, and with what
// outcome. Each item's own decision row is sealed as a single decision
// (Decision), so checking a payment's approvals needs nothing of this.
type BatchDecision struct {
	DecisionID   string
	ActorID      string
	SessionID    string
	Stage        payment.Stage
	Verdict      payment.Verdict
	AllOrNothing bool
	Count        int
	// Totals are "<currency>:<minor units>", sorted by currency.
	Totals      []string
	BatchDigest string
	// OTPStep is the TOTP time step consumed (0 when none was).
	OTPStep int64
	Outcome string
	// DecidedAtMicros is the decision's time in microseconds since the
	// Unix epoch (what PostgreSQL keeps of a timestamptz).
	DecidedAtMicros int64
}

// BatchDecision returns the MAC of a batch decision's record, made with
// the current key.
func (k *Key) BatchDecision(b BatchDecision) []byte { return k.sum(batchInput(b)) }

// BatchSealed reports whether mac is the MAC of b (with the key of the
// version mac names).
func (k *Key) BatchSealed(b BatchDecision, mac []byte) bool { return k.verify(batchInput(b), mac) }

// batchInput is what a batch decision's MAC is computed over.
func batchInput(d BatchDecision) []byte {
	b := make([]byte, 0, 384)
	b = field(b, "b2bpay.decision-batch-mac.v1")
	b = field(b, d.DecisionID)
	b = field(b, d.ActorID)
	b = field(b, d.SessionID)
	b = field(b, string(d.Stage))
	b = field(b, string(d.Verdict))
	b = field(b, strconv.FormatBool(d.AllOrNothing))
	b = number(b, int64(d.Count))
	b = number(b, int64(len(d.Totals)))
	for _, t := range d.Totals {
		b = field(b, t)
	}
	b = field(b, d.BatchDigest)
	b = number(b, d.OTPStep)
	b = field(b, d.Outcome)
	b = number(b, d.DecidedAtMicros)
	return b
}
