package consumers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// Intake handles payment requests from the intake queue: it authenticates
// the upstream, decodes the request and hands it to the store, which
// records it (or its refusal) exactly once with its answer in the outbox.
// Every message ends in the store: accepted, refused, or rejected with its
// dead-letter copy; only an infrastructure failure is retried.
type Intake struct {
	store intake.Store
	auth  *intake.Authenticator
	log   *slog.Logger
	now   func() time.Time
}

// NewIntake builds the intake handler.
func NewIntake(store intake.Store, auth *intake.Authenticator, log *slog.Logger) *Intake {
	return &Intake{store: store, auth: auth, log: log, now: time.Now}
}

// Handle is the Handler for one intake delivery.
func (h *Intake) Handle(ctx context.Context, d amqp.Delivery) error {
	sub, other := h.read(ctx, h.auth, d)
	if sub == nil {
		return other(ctx)
	}
	return h.submit(ctx, []intake.Submission{*sub})
}

// Batch is the rabbitmq.BatchHandler of the intake queue. The payment
// requests of a batch are stored in one transaction (IntakeSubmitMany) and
// acked once it committed. Every other delivery (a rejection, a cancel, one
// whose sender could not be looked up), and every request of a batch whose
// transaction failed, goes through single, the Handle chain with its
// retries, one at a time. Deliveries are handled in the order they came: a
// cancel after its request sees the request stored.
func (h *Intake) Batch(single Handler) rabbitmq.BatchHandler {
	return func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		auth := h.auth.Memo()
		return inOrder(ctx, h.log, ds, single, func(d amqp.Delivery) (intake.Submission, bool) {
			sub, _ := h.read(ctx, auth, d)
			if sub == nil {
				return intake.Submission{}, false
			}
			return *sub, true
		}, func(subs []intake.Submission) ([]int, error) { return nil, h.submit(ctx, subs) })
	}
}

// read authenticates and decodes a delivery. A payment request to store
// comes back as its submission; anything else comes back as what handles
// it: a rejection, a cancel, or the error of a registry that could not be
// read (retried).
func (h *Intake) read(ctx context.Context, auth *intake.Authenticator, d amqp.Delivery) (*intake.Submission, func(context.Context) error) {
	orig := original(d)
	up, authErr := auth.Authenticate(ctx, intake.Claim{
		UserID:    d.UserId,
		Upstream:  headerString(d.Headers, route.HeaderUpstream),
		Signature: headerString(d.Headers, route.HeaderSignature),
	}, d.Body)
	if authErr != nil && !payment.IsRefusal(authErr) {
		return nil, func(context.Context) error { return authErr } // the registry could not be read: retry
	}
	if len(d.Body) > payment.MaxRequestBytes {
		// Too large, whoever sent it; answer the sender if it is known.
		return nil, func(ctx context.Context) error {
			return h.reject(ctx, orig, up.ID, "", payment.Errorf(payment.CodeTooLarge, "body is %d bytes, the limit is %d", len(d.Body), payment.MaxRequestBytes))
		}
	}
	if authErr != nil {
		return nil, func(ctx context.Context) error {
			h.log.WarnContext(ctx, "unauthenticated message", "message_id", d.MessageId, "code", payment.ErrorCode(authErr), "error", authErr)
			return h.reject(ctx, orig, "", "", authErr)
		}
	}
	if d.RoutingKey == route.CancelKey {
		return nil, func(ctx context.Context) error { return h.cancel(ctx, orig, up, d) }
	}
	req, err := payment.Decode(d.Body)
	var refusal error
	if err != nil {
		named, ok := payment.Identify(d.Body)
		if !ok {
			return nil, func(ctx context.Context) error { return h.reject(ctx, orig, up.ID, "", err) }
		}
		// Refused, but it names its request: answer and record that request.
		req, refusal = named, err
	}
	return &intake.Submission{
		Upstream:   up,
		Request:    req,
		Refusal:    refusal,
		BodySHA256: sha256.Sum256(d.Body),
		// The publisher's message id goes into the answer, which the
		// ledger stores as jsonb: make it text that jsonb takes (no NUL).
		MessageID: payment.Text(d.MessageId),
		DeadLetter: func(code payment.Code, reason string) outbox.Message {
			return route.DeadLetter(orig, code, reason)
		},
	}, nil
}

// submit stores requests in one transaction and logs each answer.
func (h *Intake) submit(ctx context.Context, subs []intake.Submission) error {
	crash.Point(crash.IntakeBeforeCommit)
	outs, err := h.store.IntakeSubmitMany(ctx, subs)
	if err != nil {
		if len(subs) == 1 {
			return fmt.Errorf("submit request %s of %s: %w", subs[0].Request.RequestID, subs[0].Upstream.ID, err)
		}
		return fmt.Errorf("submit %d requests: %w", len(subs), err)
	}
	crash.Point(crash.IntakeAfterCommit) // committed, not yet acked
	for i, out := range outs {
		h.log.InfoContext(ctx, "request answered", "upstream_id", subs[i].Upstream.ID, "request_id", subs[i].Request.RequestID,
			"message_id", subs[i].MessageID, "kind", out.Answer.Kind, "code", out.Answer.Code,
			"payment_id", out.Answer.PaymentID, "duplicate", out.Duplicate, "conflict", out.Conflict)
	}
	return nil
}

// cancel handles an upstream's cancel request.
func (h *Intake) cancel(ctx context.Context, orig route.Original, up payment.Upstream, d amqp.Delivery) error {
	c, err := payment.DecodeCancel(d.Body)
	if err != nil {
		var named string // the request it cancels, when the body says
		if c.SchemaVersion == payment.SchemaVersion && payment.ValidID("request_id", c.RequestID) == nil {
			named = c.RequestID
		}
		return h.reject(ctx, orig, up.ID, named, err)
	}
	ev, err := h.store.IntakeCancel(ctx, up, c, payment.Text(d.MessageId))
	if err != nil {
		return fmt.Errorf("cancel request %s of %s: %w", c.RequestID, up.ID, err)
	}
	h.log.InfoContext(ctx, "cancel answered", "upstream_id", up.ID, "request_id", c.RequestID, "kind", ev.Kind, "code", ev.Code, "state", ev.State)
	return nil
}

// reject records a message that never became a request, with its
// dead-letter copy and, when the sender is known, a refusal answer; the
// answer names requestID when the message named one (a cancel).
func (h *Intake) reject(ctx context.Context, orig route.Original, upstreamID, requestID string, refusal error) error {
	code := payment.ErrorCode(refusal)
	r := intake.Rejection{
		Key: orig.Key, UpstreamID: upstreamID, Code: code, Reason: refusal.Error(),
		DeadLetter: route.DeadLetter(orig, code, refusal.Error()),
	}
	if upstreamID != "" {
		ev := payment.RefusedEvent(upstreamID+"/message/"+orig.Key, upstreamID, payment.Request{RequestID: requestID}, orig.MessageID, refusal, h.now())
		r.Answer = &ev
	}
	first, err := h.store.IntakeReject(ctx, r)
	if err != nil {
		return fmt.Errorf("record rejected message: %w", err)
	}
	h.log.InfoContext(ctx, "message rejected", "message_id", orig.MessageID, "upstream_id", upstreamID,
		"code", code, "first", first)
	return nil
}

// original describes a delivery for its dead-letter copy. Its key is a
// digest of the message id, the publishing user and the body: the same for
// every redelivery of one message, different for different messages that
// reuse an id.
func original(d amqp.Delivery) route.Original {
	h := sha256.New()
	h.Write([]byte(d.MessageId))
	h.Write([]byte{0})
	h.Write([]byte(d.UserId))
	h.Write([]byte{0})
	h.Write(d.Body)
	return route.Original{
		Key:       hex.EncodeToString(h.Sum(nil)),
		MessageID: d.MessageId,
		UserID:    d.UserId,
		Headers:   stringHeaders(d.Headers),
		Body:      d.Body,
	}
}

// stringHeaders keeps the string-valued headers of a delivery, for the
// dead-letter copy.
func stringHeaders(t amqp.Table) map[string]string {
	out := make(map[string]string, len(t))
	for k, v := range t {
		switch s := v.(type) {
		case string:
			out[k] = s
		case []byte:
			out[k] = string(s)
		}
	}
	return out
}

func headerString(t amqp.Table, key string) string {
	switch v := t[key].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}
