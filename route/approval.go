package route

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
)

// Exchanges, queues and keys of the approval stages.
const (
	// TasksExchange carries approval tasks to staff, routed by TaskKey.
	TasksExchange = "b2bpay.tasks"
	// DecisionsExchange takes staff decisions.
	DecisionsExchange = "b2bpay.decisions"
	// DecisionKey is the routing key of a version 1 decision.
	DecisionKey = "decision.v1"
	// DecisionsQueue is the quorum queue the decision worker reads.
	DecisionsQueue = "b2bpay.decisions"
	// DecisionsDeadKey routes the decision worker's dead letters.
	DecisionsDeadKey = "decisions"
	// DecisionsDeadQueue holds refused and poison decision messages.
	DecisionsDeadQueue = "b2bpay.decisions.dead"
	// DecisionDeliveryLimit bounds redeliveries of a decision.
	DecisionDeliveryLimit = 20

	// TaskSchema and DecisionSchema name the contracts.
	TaskSchema     = "b2bpay.task.v1"
	DecisionSchema = "b2bpay.decision.v1"
)

// TaskKey routes a customer's tasks of one stage: <customer>.<stage>.
func TaskKey(customerID string, s payment.Stage) string { return customerID + "." + string(s) }

// TaskQueue is the queue staff of a customer take a stage's tasks from.
func TaskQueue(customerID string, s payment.Stage) string {
	return "b2bpay.tasks." + customerID + "." + string(s)
}

// ApprovalTopology is the broker topology of the decision worker.
func ApprovalTopology() rabbitmq.Topology {
	return rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{
			{Name: TasksExchange, Kind: "direct"},
			{Name: DecisionsExchange, Kind: "direct"},
			{Name: DeadLetterExchange, Kind: "direct"},
		},
		Queues: []rabbitmq.Queue{
			rabbitmq.QuorumQueue(DecisionsQueue, DecisionDeliveryLimit, DeadLetterExchange, DecisionsDeadKey),
			deadQueue(DecisionsDeadQueue),
		},
		Bindings: []rabbitmq.Binding{
			{Queue: DecisionsQueue, Exchange: DecisionsExchange, Key: DecisionKey},
			{Queue: DecisionsDeadQueue, Exchange: DeadLetterExchange, Key: DecisionsDeadKey},
		},
	}
}

// CustomerTopology declares a customer's task queues, one per stage. A
// task stays in its queue until a member of staff decides it (competing
// consumers: whoever takes it first).
func CustomerTopology(customerID string) rabbitmq.Topology {
	t := rabbitmq.Topology{Exchanges: []rabbitmq.Exchange{{Name: TasksExchange, Kind: "direct"}}}
	for _, s := range payment.Stages {
		q := TaskQueue(customerID, s)
		t.Queues = append(t.Queues, rabbitmq.Queue{Name: q, Args: map[string]any{"x-queue-type": "quorum"}})
		t.Bindings = append(t.Bindings, rabbitmq.Binding{Queue: q, Exchange: TasksExchange, Key: TaskKey(customerID, s)})
	}
	return t
}

// Task is an approval task: a payment waiting for a stage, with the
// content the person deciding must see and the digest they approve.
type Task struct {
	Schema     string           `json:"schema"`
	TaskID     string           `json:"task_id"`
	Stage      payment.Stage    `json:"stage"`
	PaymentID  string           `json:"payment_id"`
	Version    int              `json:"version"`
	CustomerID string           `json:"customer_id"`
	Applicant  string           `json:"applicant"`
	OrderRef   string           `json:"order_ref"`
	Amount     string           `json:"amount"`
	Currency   string           `json:"currency"`
	BankID     string           `json:"bank_id"`
	Debtor     string           `json:"debtor_account"`
	Creditor   payment.Creditor `json:"creditor"`
	Remittance string           `json:"remittance_info,omitempty"`
	Execution  string           `json:"execution_date"`
	// Authorizations is "n of m" for an authorization task.
	Authorizations string    `json:"authorizations,omitempty"`
	Digest         string    `json:"digest"`
	CreatedAt      time.Time `json:"created_at"`
}

// NewTask describes p waiting for stage s.
func NewTask(p *payment.Payment, s payment.Stage, authorizationsDone int) Task {
	t := Task{
		Schema: TaskSchema, TaskID: p.ID + "/" + string(s) + "/" + strconv.Itoa(p.Version),
		Stage: s, PaymentID: p.ID, Version: p.Version, CustomerID: p.CustomerID, Applicant: p.ApplicantID,
		OrderRef: p.OrderRef, Amount: payment.FormatAmount(p.AmountMinor, p.Currency), Currency: p.Currency,
		BankID: p.BankID, Debtor: p.DebtorAccount, Creditor: p.Creditor, Remittance: p.Remittance,
		Execution: p.ExecutionDate.Format(payment.DateLayout), Digest: p.Digest(), CreatedAt: p.UpdatedAt,
	}
	if s == payment.StageAuthorization {
		t.Authorizations = fmt.Sprintf("%d of %d", authorizationsDone+1, max(p.RequiredAuthorizers, 1))
	}
	return t
}

// TaskMessage is the outbox message that carries a task.
func TaskMessage(p *payment.Payment, s payment.Stage, authorizationsDone int) (outbox.Message, error) {
	t := NewTask(p, s, authorizationsDone)
	body, err := json.Marshal(t)
	if err != nil {
		return outbox.Message{}, err
	}
	return outbox.Message{
		MessageID: t.TaskID, Exchange: TasksExchange, RoutingKey: TaskKey(p.CustomerID, s),
		ContentType: "application/json", Body: body,
	}, nil
}

// Decision is what a member of staff sends: their verdict on a payment at
// a stage, with their session token, the OTP where the stage needs one and
// the digest of the content they were shown.
type Decision struct {
	Schema     string          `json:"schema"`
	DecisionID string          `json:"decision_id"`
	Token      string          `json:"token"`
	PaymentID  string          `json:"payment_id"`
	Stage      payment.Stage   `json:"stage"`
	Verdict    payment.Verdict `json:"verdict"`
	Reason     string          `json:"reason,omitempty"`
	OTP        string          `json:"otp,omitempty"`
	Digest     string          `json:"digest,omitempty"`
	// Proof is the MAC of the decision's content under the decision key of
	// the token's session (DecisionProof): the key is given to the person
	// at sign-in and never travels on the queue, so a captured decision
	// cannot be re-aimed at other content.
	Proof string `json:"proof,omitempty"`
}

// DecisionProof is the hex HMAC-SHA256, under a session's decision key, of
// everything a decision decides: its schema, id, payment, stage, verdict,
// reason, OTP and digest, each followed by a NUL byte (a decision holding
// a NUL is refused before its proof is checked, so the encoding is
// unambiguous). The token and the reply queue are not covered: the token
// names the session whose key checks the proof, and the result goes only
// to a reply queue of that session's person.
func DecisionProof(key []byte, d Decision) string {
	return proof(key, d.Schema, d.DecisionID, d.PaymentID, string(d.Stage), string(d.Verdict), d.Reason, d.OTP, d.Digest)
}

// proof is the hex HMAC-SHA256 under key of the fields, each ended by a
// NUL byte (fields are text: none holds a NUL, so no two lists of fields
// give the same bytes).
func proof(key []byte, fields ...string) string {
	m := hmac.New(sha256.New, key)
	for _, f := range fields {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Sign sets the decision's proof under key, its session's decision key.
func (d *Decision) Sign(key []byte) { d.Proof = DecisionProof(key, *d) }

// ProofValid reports whether the decision carries the proof of its
// content under key (compared in constant time); no key, no proof.
func (d Decision) ProofValid(key []byte) bool {
	if len(key) == 0 || d.Proof == "" {
		return false
	}
	return hmac.Equal([]byte(d.Proof), []byte(DecisionProof(key, d)))
}

// ReplyQueuePrefix starts every reply queue: b2bpay.reply.<user>.<suffix>.
// The broker's permissions tie each staff member's broker user to the
// queues of their own prefix (see deploy/README.md), and the decision
// worker answers only to a reply queue of the token's user.
const ReplyQueuePrefix = "b2bpay.reply."

// Bounds of a reply queue's random suffix.
const (
	minReplySuffix = 16
	maxReplySuffix = 64
)

// ReplyQueue names a new reply queue of a user: b2bpay.reply.<user>.<26
// random base32 characters>.
func ReplyQueue(userID string) string { return ReplyQueuePrefix + userID + "." + rand.Text() }

// IsReplyQueueOf reports whether q is a reply queue of the user:
// b2bpay.reply.<user>.<suffix>, the suffix 16 to 64 letters, digits, '-'
// or '_' (no dot, so a queue belongs to one user only).
func IsReplyQueueOf(userID, q string) bool {
	suffix, ok := strings.CutPrefix(q, ReplyQueuePrefix+userID+".")
	if !ok || userID == "" || len(suffix) < minReplySuffix || len(suffix) > maxReplySuffix {
		return false
	}
	for _, c := range suffix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ResultMessage is the outbox message that carries a result to the
// decider's private reply queue. A decider that has gone away cannot
// receive it; the result is kept in the database all the same, so the
// message may be dropped when the broker returns it.
func ResultMessage(r approval.Result, replyTo string) (outbox.Message, bool, error) {
	return replyMessage(r.DecisionID, r, replyTo)
}

// replyMessage is the outbox message of a decision's result (v) to the
// decider's reply queue, none when there is no queue; its id is
// "result/<decision id>", so a result written twice is one message.
func replyMessage(decisionID string, v any, replyTo string) (outbox.Message, bool, error) {
	if replyTo == "" {
		return outbox.Message{}, false, nil
	}
	body, err := json.Marshal(v)
	if err != nil {
		return outbox.Message{}, false, err
	}
	return outbox.Message{
		MessageID: "result/" + decisionID, Exchange: "", RoutingKey: replyTo,
		ContentType: "application/json", Body: body,
		Headers:           map[string]string{"x-b2bpay-correlation-id": decisionID},
		DiscardUnroutable: true,
	}, true, nil
}

// Static is every part of the topology that does not depend on the
// registry: intake and approval. Upstreams' status queues and customers'
// task queues are added per registration (UpstreamTopology,
// CustomerTopology).
func Static() rabbitmq.Topology {
	var out rabbitmq.Topology
	seen := map[string]bool{}
	for _, t := range []rabbitmq.Topology{Topology(), ApprovalTopology()} {
		for _, x := range t.Exchanges {
			if !seen["x:"+x.Name] {
				seen["x:"+x.Name] = true
				out.Exchanges = append(out.Exchanges, x)
			}
		}
		out.Queues = append(out.Queues, t.Queues...)
		out.Bindings = append(out.Bindings, t.Bindings...)
	}
	return out
}
