package approval

import (
	"context"
	"time"

	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// Store is what deciding needs of storage: transactions over the narrow
// Tx, and the record of a decision message that cannot be read at all.
// It holds no rules: it reads, locks and writes what the Applier says.
type Store interface {
	// DecisionTx runs fn in one transaction and commits when fn returns
	// nil. A transaction that lost a race to a concurrent one (a unique
	// key, a serialization failure, a deadlock) is run again from the
	// start: fn keeps nothing from one run to the next.
	DecisionTx(ctx context.Context, fn func(Tx) error) error
	// DecisionReject records a decision message that cannot be read at
	// all, once per key, with its dead letter; first is false for a key
	// recorded before (nothing is written again).
	DecisionReject(ctx context.Context, r Rejection) (first bool, err error)
}

// Tx is one transaction of decisions: one read (Facts), then the writes,
// each one statement for the whole batch. The Applier calls Facts once,
// then each write at most once, in the order they are listed here.
type Tx interface {
	// Facts reads, in one round trip, what deciding the decisions of k
	// needs. It locks the payments (FOR UPDATE), then the people (FOR NO
	// KEY UPDATE: the lock the OTP write takes, so that a person's
	// decisions run one after the other; a shared lock upgraded later
	// would deadlock two decisions of one person), each set in id order,
	// the order every decision transaction takes its locks in. An id that
	// cannot name a row (a payment id that is not a UUID, "") is simply
	// not found.
	Facts(ctx context.Context, k Keys) (Facts, error)
	// SaveOTP writes people's new OTP state, each guarded by the last
	// step it was read with (the row is locked: a mismatch is an error,
	// never a guess).
	SaveOTP(ctx context.Context, ws []OTPWrite) error
	// SaveBatches writes batch decision records, in order (before the
	// decision rows of their items, which point to them).
	SaveBatches(ctx context.Context, bs []BatchRecord) error
	// SaveDecisions writes decision rows, in order.
	SaveDecisions(ctx context.Context, rs []Record) error
	// Audit appends audit entries, in order.
	Audit(ctx context.Context, as []Audit) error
	// UpdatePayments writes payments' new state, each guarded by the
	// version and state it was read with: a payment changed meanwhile is
	// a conflict error.
	UpdatePayments(ctx context.Context, ms []Move) error
	// AppendTimeline appends timeline entries, each sealed with its MAC
	// over digests[i], its payment's content digest.
	AppendTimeline(ctx context.Context, entries []payment.Entry, digests []string) error
	// Outbox writes messages to the outbox, in order.
	Outbox(ctx context.Context, msgs []outbox.Message, at time.Time) error
}

// Keys names what a batch of decisions reads.
type Keys struct {
	DecisionIDs, PaymentIDs, UserIDs []string
	// BatchIDs are the ids of batch decisions to read.
	BatchIDs []string
}

// Facts is what the store read for a batch. Maps are keyed by id; a
// missing entry is a row that does not exist.
type Facts struct {
	// Prior holds the decisions already recorded under the batch's ids.
	Prior map[string]Prior
	// Payments are the batch's payments, locked.
	Payments map[string]*payment.Payment
	// People are the batch's people with their OTP state, locked.
	People map[string]Person
	// Applied lists each payment's applied decisions.
	Applied map[string][]AppliedDecision
	// ReviewOTP is the review policy of each payment's customer and each
	// person's customer: whether an approval at review needs a one-time
	// password.
	ReviewOTP map[string]bool
	// Limits are the people's limits by currency; no entry, no limit.
	Limits map[Limit]int64
	// Batches holds the batch decisions already recorded under the ids
	// of Keys.BatchIDs.
	Batches map[string]PriorBatch
	// CustomerCaps and PersonCaps bound a batch: by the people's
	// customers' ids and by the people's ids (read with Keys.BatchIDs).
	CustomerCaps, PersonCaps map[string]BatchCap
}

// PriorBatch is a batch decision recorded before: its first result and
// who sent it ("" when nobody known).
type PriorBatch struct {
	Result  BatchResult
	ActorID string
}

// BatchRecord is a batch decision's record to write: the batch as sent,
// its result, who (ActorID "" when nobody known), the OTP step it used,
// when, and its MAC (seal.Key.BatchDecision).
type BatchRecord struct {
	Batch   BatchDecision
	Result  BatchResult
	ActorID string
	OTPStep *int64
	At      time.Time
	MAC     []byte
}

// Prior is a decision recorded before: its first result, and who sent it
// ("" when nobody known).
type Prior struct {
	Result  Result
	ActorID string
}

// Person is a member of staff as a decision reads them.
type Person struct {
	User payment.User
	OTP  otp.State
}

// AppliedDecision is one applied decision of a payment: who, at which stage, and
// its place in the payment's chain of sealed decisions (Seq 0: none).
type AppliedDecision struct {
	ActorID string
	Stage   payment.Stage
	Seq     int
	MAC     []byte
}

// Limit keys a person's limit in one currency.
type Limit struct {
	UserID, Currency string
}

// OTPWrite is a person's OTP state to write: To, where the row still has
// the last step of From.
type OTPWrite struct {
	UserID   string
	From, To otp.State
}

// Record is a decision row to write.
type Record struct {
	Decision Decision
	Result   Result
	// PaymentID and ActorID are "" when no such payment or person exists.
	PaymentID string
	ActorID   string
	OTPStep   *int64
	At        time.Time
	// Seal is nil for a refused decision.
	Seal *Seal
}

// Seal is what an applied decision's row carries for its MAC: its place in
// the payment's chain of decisions, the content digest it was made on, and
// the MAC (seal.Key.Decision).
type Seal struct {
	Seq    int
	Digest string
	MAC    []byte
}

// Move is one payment's change of state in a batch: from the version and
// state it was read with, to where it is now.
type Move struct {
	FromVersion int
	FromState   payment.State
	To          *payment.Payment
}

// Audit is one entry of the audit trail.
type Audit struct {
	UserID    string // the person concerned, "" if none
	Actor     string // "user:<id>", or "unknown"
	Event     string
	PaymentID string // "" or the payment named by the decision
	Detail    string
}

// Rejection is a decision message that cannot be read at all, recorded
// once under Key with its dead letter.
type Rejection struct {
	Key        string
	Code       payment.Code
	Reason     string
	DeadLetter outbox.Message
}
