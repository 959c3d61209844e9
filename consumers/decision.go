package consumers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// MaxDecisionBytes is the largest decision message accepted.
const MaxDecisionBytes = 16 << 10

// TokenVerifier turns a session token into the signed-in person: the
// signature, expiry and revocation are checked. A bad token is an *Error
// with CodeTokenInvalid. DecisionKey is the key of a session's decision
// proofs (auth.DecisionKeys), given to the person at sign-in.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (userID, sessionID string, err error)
	DecisionKey(sessionID string) []byte
}

// Approvals is what the decision worker needs of the approval use case
// (approval.Applier): apply one decision or a batch, refuse one that
// cannot reach a payment, record a message that cannot be read at all.
type Approvals interface {
	Apply(ctx context.Context, d approval.Decision) (approval.Result, error)
	ApplyMany(ctx context.Context, ds []approval.Decision) ([]approval.Result, error)
	ApplyBatch(ctx context.Context, bd approval.BatchDecision) (approval.BatchResult, error)
	RefuseBatch(ctx context.Context, bd approval.BatchDecision, refusal error) (approval.BatchResult, error)
	Refuse(ctx context.Context, d approval.Decision, refusal error) (approval.Result, error)
	Reject(ctx context.Context, r approval.Rejection) (first bool, err error)
}

// Decisions handles staff decisions from the decisions queue. The actor is
// taken from the verified session token, never from the message body.
type Decisions struct {
	app    Approvals
	tokens TokenVerifier
	log    *slog.Logger
}

// NewDecisions builds the decision handler over the approval use case;
// messages that cannot be read at all are recorded through it too
// (dead-lettered once, with their reason).
func NewDecisions(app Approvals, tokens TokenVerifier, log *slog.Logger) *Decisions {
	return &Decisions{app: app, tokens: tokens, log: log}
}

// Handle is the Handler for one decision delivery: a single decision, or
// a batch (route.DecisionBatchSchema, see handleBatch).
func (h *Decisions) Handle(ctx context.Context, d amqp.Delivery) error {
	if isBatch(d.Body) {
		return h.handleBatch(ctx, d)
	}
	req, other := h.read(ctx, d)
	if other != nil {
		return other(ctx)
	}
	res, err := h.app.Apply(ctx, req)
	if err != nil {
		return fmt.Errorf("decision %s: %w", req.DecisionID, err)
	}
	crash.Point(crash.DecisionAfterCommit) // committed, not yet acked
	h.logResult(ctx, req, res)
	return nil
}

// Batch is the rabbitmq.BatchHandler of the decisions queue. The
// decisions of a batch whose token is good are decided in one transaction
// (Approvals.ApplyMany: each applied or refused as it would be alone) and
// acked once it committed. Every other delivery (unreadable, a bad token),
// and every decision of a transaction that failed, goes through single,
// the Handle chain with its retries, one at a time, in the order the
// deliveries came (see inOrder). A batch decision is a transaction of its
// own: it goes through single too.
func (h *Decisions) Batch(single Handler) rabbitmq.BatchHandler {
	return func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		return inOrder(ctx, h.log, ds, single, func(d amqp.Delivery) (approval.Decision, bool) {
			if isBatch(d.Body) {
				return approval.Decision{}, false
			}
			req, other := h.read(ctx, d)
			return req, other == nil
		}, func(reqs []approval.Decision) ([]int, error) {
			results, err := h.app.ApplyMany(ctx, reqs)
			if err != nil {
				return nil, err
			}
			crash.Point(crash.DecisionAfterCommit) // committed, not yet acked
			for k, req := range reqs {
				h.logResult(ctx, req, results[k])
			}
			return nil, nil
		})
	}
}

// read decodes a decision and checks who sent it. A decision to apply
// comes back as its request; anything else comes back as what handles it:
// a dead letter, a refusal, or the error of a session store that could not
// be read (retried). The checks, in order: the token (a bad one is refused
// and answered nowhere: nobody is known to answer to); the reply queue,
// which must be empty (no answer) or one of the token's user
// (route.IsReplyQueueOf: refused and answered nowhere otherwise, so
// b2bpay never publishes into another queue of the vhost); the proof of
// the content under the session's decision key.
func (h *Decisions) read(ctx context.Context, d amqp.Delivery) (approval.Decision, func(context.Context) error) {
	dec, err := decodeDecision(d.Body)
	if err != nil {
		return approval.Decision{}, func(ctx context.Context) error { return h.poison(ctx, d, err) }
	}
	req := approval.Decision{
		DecisionID: dec.DecisionID, PaymentID: dec.PaymentID, Stage: dec.Stage, Verdict: dec.Verdict,
		Reason: dec.Reason, OTP: dec.OTP, Digest: dec.Digest, ReplyTo: d.ReplyTo,
	}
	refuse := func(refusal error) func(context.Context) error {
		return func(ctx context.Context) error {
			res, err := h.app.Refuse(ctx, req, refusal)
			if err != nil {
				return fmt.Errorf("decision %s: %w", dec.DecisionID, err)
			}
			h.logResult(ctx, req, res)
			return nil
		}
	}
	userID, sessionID, err := h.tokens.Verify(ctx, dec.Token)
	switch {
	case err != nil && !payment.IsRefusal(err):
		return req, func(context.Context) error { return err } // the session store could not be read: retry
	case err != nil:
		req.ReplyTo = ""
		return req, refuse(err)
	}
	req.UserID, req.SessionID = userID, sessionID
	if req.ReplyTo != "" && !route.IsReplyQueueOf(userID, req.ReplyTo) {
		h.log.WarnContext(ctx, "decision reply_to refused", "decision_id", dec.DecisionID, "user_id", userID, "reply_to", payment.Clip(req.ReplyTo, 80))
		req.ReplyTo = ""
		return req, refuse(payment.FieldErrorf(payment.CodeReplyToRefused, "reply_to",
			"results go only to a reply queue of your own, %s%s.<suffix>", route.ReplyQueuePrefix, userID))
	}
	if !dec.ProofValid(h.tokens.DecisionKey(sessionID)) {
		return req, refuse(payment.FieldErrorf(payment.CodeProofInvalid, "proof",
			"the decision's proof does not match its content under the session's decision key"))
	}
	return req, nil
}

func (h *Decisions) logResult(ctx context.Context, req approval.Decision, res approval.Result) {
	h.log.InfoContext(ctx, "decision answered", "decision_id", res.DecisionID, "payment_id", res.PaymentID,
		"user_id", req.UserID, "stage", req.Stage, "verdict", req.Verdict, "outcome", res.Outcome, "code", res.Code, "state", res.State)
}

// decodeDecision reads a decision strictly: size, JSON, schema, fields.
func decodeDecision(body []byte) (route.Decision, error) {
	var dec route.Decision
	if len(body) > MaxDecisionBytes {
		return dec, payment.Errorf(payment.CodeTooLarge, "decision is %d bytes, the limit is %d", len(body), MaxDecisionBytes)
	}
	jd := json.NewDecoder(bytes.NewReader(body))
	jd.DisallowUnknownFields()
	if err := jd.Decode(&dec); err != nil {
		return dec, payment.Errorf(payment.CodeMalformed, "decision is not valid JSON of %s: %v", route.DecisionSchema, err)
	}
	if _, err := jd.Token(); !errors.Is(err, io.EOF) {
		return dec, payment.Errorf(payment.CodeMalformed, "decision has data after the JSON object")
	}
	switch {
	case dec.Schema != route.DecisionSchema:
		return dec, payment.Errorf(payment.CodeUnknownVersion, "schema %q is not %s", dec.Schema, route.DecisionSchema)
	case payment.ValidID("decision_id", dec.DecisionID) != nil:
		return dec, payment.ValidID("decision_id", dec.DecisionID)
	case strings.ContainsRune(dec.Token+dec.PaymentID+string(dec.Stage)+string(dec.Verdict)+dec.Reason+dec.OTP+dec.Digest+dec.Proof, 0):
		// PostgreSQL text and jsonb cannot hold NUL: the store would fail
		// on every delivery until the broker dead-lettered the message.
		return dec, payment.Errorf(payment.CodeMalformed, "decision has a NUL character in a field")
	case dec.Verdict == approval.Cancel:
	case !dec.Stage.Valid():
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "stage", "%q is not confirmation, review or authorization", dec.Stage)
	case dec.Verdict != payment.VerdictApprove && dec.Verdict != payment.VerdictReject:
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "verdict", "%q is not approve, reject or cancel", dec.Verdict)
	}
	return dec, nil
}

// poison dead-letters a decision that cannot be read, once.
func (h *Decisions) poison(ctx context.Context, d amqp.Delivery, refusal error) error {
	orig := original(d)
	// A decision carries a session token: its dead letter keeps the body's
	// digest, never the body, so no credential is stored or passed on.
	sum := sha256.Sum256(d.Body)
	if orig.Headers == nil {
		orig.Headers = map[string]string{}
	}
	orig.Headers["x-b2bpay-body-sha256"] = hex.EncodeToString(sum[:])
	orig.Body = []byte{}
	code := payment.ErrorCode(refusal)
	first, err := h.app.Reject(ctx, approval.Rejection{
		Key: "decision/" + orig.Key, Code: code, Reason: refusal.Error(),
		DeadLetter: route.DeadLetterTo(route.DecisionsDeadKey, orig, code, refusal.Error()),
	})
	if err != nil {
		return fmt.Errorf("record rejected decision: %w", err)
	}
	h.log.WarnContext(ctx, "decision message rejected", "message_id", d.MessageId, "code", code, "first", first)
	return nil
}
