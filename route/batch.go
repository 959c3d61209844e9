package route

import (
	"crypto/hmac"
	"strconv"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// DecisionBatchSchema names the batch decision contract. A batch goes to
// DecisionsExchange with DecisionKey, as a single decision does; the
// worker tells them apart by schema.
const DecisionBatchSchema = "b2bpay.decision-batch.v1"

// BatchDecision is what a member of staff sends to decide many payments at
// one stage with one one-time password: the items (each payment with the
// digest, currency and amount shown), their count and totals per currency,
// and the batch digest (approval.BatchDigest) shown beside the OTP prompt.
type BatchDecision struct {
	Schema       string               `json:"schema"`
	DecisionID   string               `json:"decision_id"`
	Token        string               `json:"token"`
	Stage        payment.Stage        `json:"stage"`
	Verdict      payment.Verdict      `json:"verdict"`
	Reason       string               `json:"reason,omitempty"`
	OTP          string               `json:"otp,omitempty"`
	AllOrNothing bool                 `json:"all_or_nothing"`
	Items        []approval.BatchItem `json:"items"`
	Count        int                  `json:"count"`
	Totals       []approval.Total     `json:"totals"`
	BatchDigest  string               `json:"batch_digest"`
	// Proof is BatchDecisionProof under the session's decision key.
	Proof string `json:"proof,omitempty"`
}

// BatchDecisionProof is the hex HMAC-SHA256, under a session's decision
// key, of everything a batch decides: its schema, id, stage, verdict,
// reason, OTP, all_or_nothing ("true" or "false") and batch digest, each
// followed by a NUL byte. The batch digest covers the items, the count and
// the totals; the worker recomputes it from the items and refuses a batch
// whose digest is not theirs, so the proof binds the items too.
func BatchDecisionProof(key []byte, d BatchDecision) string {
	return proof(key, d.Schema, d.DecisionID, string(d.Stage), string(d.Verdict), d.Reason, d.OTP,
		strconv.FormatBool(d.AllOrNothing), d.BatchDigest)
}

// Sign sets the batch's proof under key, its session's decision key.
func (d *BatchDecision) Sign(key []byte) { d.Proof = BatchDecisionProof(key, *d) }

// ProofValid reports whether the batch carries the proof of its content
// under key (compared in constant time); no key, no proof.
func (d BatchDecision) ProofValid(key []byte) bool {
	if len(key) == 0 || d.Proof == "" {
		return false
	}
	return hmac.Equal([]byte(d.Proof), []byte(BatchDecisionProof(key, d)))
}

// BatchResultMessage is the outbox message that carries a batch's result
// to the decider's private reply queue (see ResultMessage).
func BatchResultMessage(r approval.BatchResult, replyTo string) (outbox.Message, bool, error) {
	return replyMessage(r.DecisionID, r, replyTo)
}
