// Package approval is the three-person approval as one use case: a
// person's decision (Decision) read against the facts of its payment,
// judged by the domain (payment.Decide, payment.Cancel) and the OTP policy
// (otp.Check), then written with its result, audit entries, MAC, status
// event and next task. Applier runs it over a narrow Store that only reads
// and writes (postgres implements it with SQL); one path decides one
// decision or a batch. It knows nothing of AMQP, HTTP or SQL.
package approval

import (
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Cancel is the verdict with which an applicant withdraws a payment.
const Cancel payment.Verdict = "cancel"

// Decision is one person's decision, its actor already authenticated from the
// session token (never from the message body).
type Decision struct {
	DecisionID string
	PaymentID  string
	Stage      payment.Stage
	Verdict    payment.Verdict
	Reason     string
	OTP        string
	Digest     string
	// UserID and SessionID come from the verified token.
	UserID    string
	SessionID string
	// ReplyTo is the decider's private queue for the result, if any.
	ReplyTo string
	// BatchID is the batch decision this decision is an item of ("" for a
	// decision alone).
	BatchID string
}

// Outcomes of a decision.
const (
	Applied = "applied"
	Refused = "refused"
)

// Result answers a decision. A decision redelivered or sent again with the
// same id gets the same result.
type Result struct {
	Schema     string        `json:"schema"`
	DecisionID string        `json:"decision_id"`
	PaymentID  string        `json:"payment_id,omitempty"`
	Outcome    string        `json:"outcome"`
	Code       payment.Code  `json:"code,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	State      payment.State `json:"state,omitempty"`
	// NextCutoff, for a payment just authorized, is the cutoff whose file
	// it will be in.
	NextCutoff *time.Time `json:"next_cutoff,omitempty"`
	At         time.Time  `json:"at"`
}

// ResultSchema names the result contract.
const ResultSchema = "b2bpay.decision-result.v1"

// Refusal builds the result of a refused decision.
func Refusal(r Decision, err error, at time.Time) Result {
	return Result{Schema: ResultSchema, DecisionID: r.DecisionID, PaymentID: r.PaymentID, Outcome: Refused,
		Code: payment.ErrorCode(err), Reason: err.Error(), At: at.UTC()}
}
