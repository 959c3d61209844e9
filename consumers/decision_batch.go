package consumers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// MaxBatchDecisionBytes is the largest batch decision accepted: room for
// approval.MaxBatchItems items.
const MaxBatchDecisionBytes = 1 << 20

// isBatch reports whether a delivery is a batch decision (by its schema).
func isBatch(body []byte) bool {
	if len(body) > MaxBatchDecisionBytes || !bytes.Contains(body, []byte(route.DecisionBatchSchema)) {
		return false
	}
	var s struct {
		Schema string `json:"schema"`
	}
	return json.Unmarshal(body, &s) == nil && s.Schema == route.DecisionBatchSchema
}

// handleBatch handles one batch decision delivery, with the checks of a
// single decision (read): token, reply queue, proof; then the approval use
// case decides it in one transaction (approval.Applier.ApplyBatch).
func (h *Decisions) handleBatch(ctx context.Context, d amqp.Delivery) error {
	dec, err := decodeBatch(d.Body)
	if err != nil {
		return h.poison(ctx, d, err)
	}
	req := approval.BatchDecision{DecisionID: dec.DecisionID, Stage: dec.Stage, Verdict: dec.Verdict, Reason: dec.Reason, OTP: dec.OTP,
		AllOrNothing: dec.AllOrNothing, Items: dec.Items, Count: dec.Count, Totals: dec.Totals, BatchDigest: dec.BatchDigest, ReplyTo: d.ReplyTo}
	refuse := func(refusal error) error {
		res, err := h.app.RefuseBatch(ctx, req, refusal)
		if err != nil {
			return fmt.Errorf("batch %s: %w", dec.DecisionID, err)
		}
		h.logBatch(ctx, req, res)
		return nil
	}
	userID, sessionID, err := h.tokens.Verify(ctx, dec.Token)
	switch {
	case err != nil && !payment.IsRefusal(err):
		return err // the session store could not be read: retry
	case err != nil:
		req.ReplyTo = ""
		return refuse(err)
	}
	req.UserID, req.SessionID = userID, sessionID
	if req.ReplyTo != "" && !route.IsReplyQueueOf(userID, req.ReplyTo) {
		h.log.WarnContext(ctx, "decision reply_to refused", "decision_id", dec.DecisionID, "user_id", userID, "reply_to", payment.Clip(req.ReplyTo, 80))
		req.ReplyTo = ""
		return refuse(payment.FieldErrorf(payment.CodeReplyToRefused, "reply_to",
			"results go only to a reply queue of your own, %s%s.<suffix>", route.ReplyQueuePrefix, userID))
	}
	if !dec.ProofValid(h.tokens.DecisionKey(sessionID)) {
		return refuse(payment.FieldErrorf(payment.CodeProofInvalid, "proof",
			"the batch's proof does not match its content under the session's decision key"))
	}
	res, err := h.app.ApplyBatch(ctx, req)
	if err != nil {
		return fmt.Errorf("batch %s: %w", dec.DecisionID, err)
	}
	crash.Point(crash.DecisionAfterCommit) // committed, not yet acked
	h.logBatch(ctx, req, res)
	return nil
}

func (h *Decisions) logBatch(ctx context.Context, req approval.BatchDecision, res approval.BatchResult) {
	h.log.InfoContext(ctx, "batch decision answered", "decision_id", res.DecisionID, "user_id", req.UserID, "stage", req.Stage,
		"verdict", req.Verdict, "outcome", res.Outcome, "code", res.Code, "count", res.Count, "applied", res.Applied, "refused", res.Refused)
}

var (
	uuidShape   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	digestShape = regexp.MustCompile(`^[0-9a-f]{64}$`)
	currency    = regexp.MustCompile(`^[A-Z]{3}$`)
)

// decodeBatch reads a batch decision strictly: size, JSON, schema, fields,
// and each item's shape (a payment id that is a UUID, a hex digest, a
// currency code, a positive amount), so the batch digest's canonical bytes
// are unambiguous. Whether the count, totals and digest add up is the
// approval use case's to judge (a refusal, answered, not a dead letter).
func decodeBatch(body []byte) (route.BatchDecision, error) {
	var dec route.BatchDecision
	if len(body) > MaxBatchDecisionBytes {
		return dec, payment.Errorf(payment.CodeTooLarge, "batch decision is %d bytes, the limit is %d", len(body), MaxBatchDecisionBytes)
	}
	jd := json.NewDecoder(bytes.NewReader(body))
	jd.DisallowUnknownFields()
	if err := jd.Decode(&dec); err != nil {
		return dec, payment.Errorf(payment.CodeMalformed, "batch decision is not valid JSON of %s: %v", route.DecisionBatchSchema, err)
	}
	if _, err := jd.Token(); !errors.Is(err, io.EOF) {
		return dec, payment.Errorf(payment.CodeMalformed, "batch decision has data after the JSON object")
	}
	switch {
	case dec.Schema != route.DecisionBatchSchema:
		return dec, payment.Errorf(payment.CodeUnknownVersion, "schema %q is not %s", dec.Schema, route.DecisionBatchSchema)
	case payment.ValidID("decision_id", dec.DecisionID) != nil:
		return dec, payment.ValidID("decision_id", dec.DecisionID)
	case len(dec.DecisionID) > approval.MaxBatchIDLength:
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "decision_id", "a batch's id has at most %d characters", approval.MaxBatchIDLength)
	case strings.ContainsRune(dec.Token+string(dec.Stage)+string(dec.Verdict)+dec.Reason+dec.OTP+dec.BatchDigest+dec.Proof, 0):
		return dec, payment.Errorf(payment.CodeMalformed, "batch decision has a NUL character in a field")
	case !dec.Stage.Valid():
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "stage", "%q is not confirmation, review or authorization", dec.Stage)
	case dec.Verdict != payment.VerdictApprove && dec.Verdict != payment.VerdictReject:
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "verdict", "%q is not approve or reject (a batch cannot cancel)", dec.Verdict)
	case len(dec.Items) == 0 || len(dec.Items) > approval.MaxBatchItems:
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "items", "%d items: a batch has 1 to %d", len(dec.Items), approval.MaxBatchItems)
	case !digestShape.MatchString(dec.BatchDigest):
		return dec, payment.FieldErrorf(payment.CodeInvalidField, "batch_digest", "want 64 lowercase hex digits")
	}
	for i, it := range dec.Items {
		switch {
		case !uuidShape.MatchString(it.PaymentID):
			return dec, payment.FieldErrorf(payment.CodeInvalidField, fmt.Sprintf("items[%d].payment_id", i), "not a payment id")
		case !digestShape.MatchString(it.Digest):
			return dec, payment.FieldErrorf(payment.CodeInvalidField, fmt.Sprintf("items[%d].digest", i), "want 64 lowercase hex digits")
		case !currency.MatchString(it.Currency):
			return dec, payment.FieldErrorf(payment.CodeInvalidField, fmt.Sprintf("items[%d].currency", i), "want an ISO 4217 code")
		case it.AmountMinor <= 0:
			return dec, payment.FieldErrorf(payment.CodeInvalidField, fmt.Sprintf("items[%d].amount_minor", i), "want a positive amount in minor units")
		}
	}
	for i, t := range dec.Totals {
		if !currency.MatchString(t.Currency) {
			return dec, payment.FieldErrorf(payment.CodeInvalidField, fmt.Sprintf("totals[%d].currency", i), "want an ISO 4217 code")
		}
	}
	return dec, nil
}
