// Package intake is the application side of taking payment requests in:
// who sent a message (authentication of the upstream system), and the
// contract between the consumer that reads requests and the store that
// records them exactly once. It knows nothing of AMQP or SQL.
package intake

import (
	"context"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// Submission is one request from an authenticated upstream: decoded, or
// refused by the decoder but still naming itself (Refusal set).
type Submission struct {
	Upstream   payment.Upstream
	Request    payment.Request
	BodySHA256 [32]byte
	MessageID  string
	// Refusal, when set, is why the decoder refused a body that still names
	// its request (payment.Identify): Request then holds only its request
	// id and order reference. The store records the refusal under the
	// request id like a refusal of its own, without admitting anything.
	Refusal error
	// DeadLetter builds the copy of the original message that goes to the
	// dead-letter queue, with the reason, when the request is refused.
	DeadLetter func(code payment.Code, reason string) outbox.Message
}

// Outcome is what intake decided about a submission.
type Outcome struct {
	// Answer is the status event sent back to the upstream.
	Answer payment.Event
	// Payment is the new payment, nil when refused or a duplicate.
	Payment *payment.Payment
	// Duplicate is true when the request id was seen before with the same
	// content: nothing changed and the first answer was sent again.
	Duplicate bool
	// Conflict is true when the request id was seen before with different
	// content: refused, the first payment untouched. Operators are alerted.
	Conflict bool
}

// Rejection is a message that never became a request: malformed,
// oversized, unauthenticated.
type Rejection struct {
	// Key identifies the message across redeliveries (message id, or a
	// digest of the body).
	Key        string
	UpstreamID string // "" when the sender is unknown
	Code       payment.Code
	Reason     string
	DeadLetter outbox.Message
	// Answer, when set, is sent to the upstream as well.
	Answer *payment.Event
}

// Store records what intake decides, each call in one transaction.
type Store interface {
	// IntakeSubmit stores a request exactly once and writes its answer
	// (and, on refusal, its dead-letter copy) to the outbox.
	IntakeSubmit(ctx context.Context, s Submission) (Outcome, error)
	// IntakeSubmitMany stores many requests in one transaction, each as
	// IntakeSubmit would in their order, and returns their outcomes in the
	// same order; on error none is stored.
	IntakeSubmitMany(ctx context.Context, s []Submission) ([]Outcome, error)
	// IntakeReject records a rejected message once and writes its
	// dead-letter copy to the outbox; first is false for a redelivery.
	IntakeReject(ctx context.Context, r Rejection) (first bool, err error)
	// IntakeCancel cancels the payment an upstream's request became and
	// answers (the state change, or the refusal with its reason).
	IntakeCancel(ctx context.Context, up payment.Upstream, c payment.CancelRequest, messageID string) (payment.Event, error)
}
