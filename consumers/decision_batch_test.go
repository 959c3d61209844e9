package consumers

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// batchDelivery is the applicant's batch rejecting the fixture's payment
// at confirmation (no code needed), changed by change, signed (unless
// sign is false) and answered to a reply queue of the applicant.
func (f *decisionFixture) batchDelivery(t *testing.T, sign bool, change func(*route.BatchDecision)) (amqp.Delivery, string) {
	t.Helper()
	token := "token-of-" + f.applicant.ID
	s := f.tokens.sessions[token]
	bd := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: "batch-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:20] + "-" + randomSuffix(),
		Token: token, Stage: payment.StageConfirmation, Verdict: payment.VerdictReject, Reason: "wrong supplier",
		Items: []approval.BatchItem{{PaymentID: f.payment.ID, Digest: f.payment.Digest(), Currency: f.payment.Currency, AmountMinor: f.payment.AmountMinor}}}
	var err error
	bd.Count, bd.Totals, bd.BatchDigest, err = approval.Summarize(bd.Stage, bd.Verdict, bd.Items)
	require.NoError(t, err)
	if change != nil {
		change(&bd)
	}
	if sign {
		bd.Sign(f.tokens.DecisionKey(s[1]))
	}
	body, err := json.Marshal(bd)
	require.NoError(t, err)
	return amqp.Delivery{MessageId: bd.DecisionID, ReplyTo: route.ReplyQueue(s[0]), Body: body}, bd.DecisionID
}

func randomSuffix() string { return strings.ToLower(rand.Text()[:8]) }

// A batch decision through the handler: applied, recorded with its item,
// answered once on the reply queue; again, the same answer; through the
// batch handler it goes alone.
func TestDecisionsBatchMessage(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	ctx := t.Context()
	d, id := f.batchDelivery(t, true, nil)
	var singles atomic.Int32
	bh := f.h.Batch(counting(f.h.Handle, &singles))
	require.Equal(t, []rabbitmq.Disposition{rabbitmq.Ack}, bh(ctx, []amqp.Delivery{d}))
	require.Equal(t, int32(1), singles.Load(), "a batch is a transaction of its own")
	p, err := f.store.PaymentGetByID(ctx, f.payment.ID)
	require.NoError(t, err)
	require.Equal(t, payment.StateRejected, p.State)
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decision_batches WHERE id = $1 AND outcome = 'applied' AND actor_id = $2`, id, f.applicant.ID))
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decisions WHERE batch_id = $1 AND outcome = 'applied'`, id))
	var raw []byte
	require.NoError(t, testPool(t).QueryRow(ctx, `SELECT body FROM outbox WHERE message_id = $1`, "result/"+id).Scan(&raw))
	var res approval.BatchResult
	require.NoError(t, json.Unmarshal(raw, &res))
	require.Equal(t, approval.BatchResultSchema, res.Schema)
	require.Equal(t, approval.BatchApplied, res.Outcome)
	require.Equal(t, payment.StateRejected, res.Items[0].State)

	require.NoError(t, f.h.Handle(ctx, d), "again: the first result")
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM decision_batches WHERE id = $1`, id))
	require.Equal(t, 2, countRows(t, `SELECT count(*) FROM outbox WHERE message_id = $1`, "result/"+id))
}

// Refusals of a batch message: a bad proof, a count that is not its
// items', a bad token; a batch that cannot be read is dead-lettered.
func TestDecisionsBatchRefused(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	ctx := t.Context()
	for name, tc := range map[string]struct {
		sign   bool
		change func(*route.BatchDecision)
		code   payment.Code
	}{
		"unsigned":  {false, nil, payment.CodeProofInvalid},
		"proof":     {true, func(b *route.BatchDecision) { b.Proof = strings.Repeat("0", 64) }, payment.CodeProofInvalid},
		"count":     {true, func(b *route.BatchDecision) { b.Count = 2 }, approval.CodeBatchMismatch},
		"totals":    {true, func(b *route.BatchDecision) { b.Totals[0].AmountMinor++ }, approval.CodeBatchMismatch},
		"token":     {true, func(b *route.BatchDecision) { b.Token = "forged" }, payment.CodeTokenInvalid},
		"itemValue": {true, func(b *route.BatchDecision) { b.Items[0].AmountMinor++ }, approval.CodeBatchMismatch},
	} {
		var d amqp.Delivery
		var id string
		d, id = f.batchDelivery(t, tc.sign, tc.change)
		if name == "proof" {
			var b route.BatchDecision
			require.NoError(t, json.Unmarshal(d.Body, &b))
			tc.change(&b)
			d.Body, _ = json.Marshal(b)
		}
		require.NoError(t, f.h.Handle(ctx, d), name)
		var code string
		require.NoError(t, testPool(t).QueryRow(ctx, `SELECT code FROM decision_batches WHERE id = $1`, id).Scan(&code), name)
		require.Equal(t, string(tc.code), code, name)
		require.Zero(t, countRows(t, `SELECT count(*) FROM decisions WHERE batch_id = $1`, id), name)
	}
	f.requireUnchanged(t)

	rejects := func() int {
		return countRows(t, `SELECT count(*) FROM intake_rejects WHERE message_key LIKE 'decision/%' AND code = 'invalid_field'
			AND reason LIKE '%items[0].payment_id%'`)
	}
	before := rejects()
	d, id := f.batchDelivery(t, true, func(b *route.BatchDecision) { b.Items[0].PaymentID = "1:2" })
	require.NoError(t, f.h.Handle(ctx, d))
	require.NoError(t, f.h.Handle(ctx, d))
	require.Zero(t, countRows(t, `SELECT count(*) FROM decision_batches WHERE id = $1`, id))
	require.Equal(t, before+1, rejects(), "dead-lettered once, with its reason")
}

func TestDecodeBatch(t *testing.T) {
	t.Parallel()
	good := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: "b-1", Token: "t", Stage: payment.StageReview,
		Verdict: payment.VerdictApprove, Count: 1, BatchDigest: strings.Repeat("a", 64),
		Items: []approval.BatchItem{{PaymentID: "01a21b23-e139-703c-8b96-c80ef836db0a", Digest: strings.Repeat("b", 64), Currency: "CNY", AmountMinor: 1}}}
	for name, tc := range map[string]struct {
		change func(*route.BatchDecision)
		code   payment.Code
	}{
		"valid":     {func(*route.BatchDecision) {}, ""},
		"cancel":    {func(b *route.BatchDecision) { b.Verdict = approval.Cancel }, payment.CodeInvalidField},
		"stage":     {func(b *route.BatchDecision) { b.Stage = "x" }, payment.CodeInvalidField},
		"noItems":   {func(b *route.BatchDecision) { b.Items = nil }, payment.CodeInvalidField},
		"longID":    {func(b *route.BatchDecision) { b.DecisionID = strings.Repeat("a", 59) }, payment.CodeInvalidField},
		"colon":     {func(b *route.BatchDecision) { b.Items[0].Digest = "a:b" }, payment.CodeInvalidField},
		"currency":  {func(b *route.BatchDecision) { b.Items[0].Currency = "cny" }, payment.CodeInvalidField},
		"amount":    {func(b *route.BatchDecision) { b.Items[0].AmountMinor = 0 }, payment.CodeInvalidField},
		"digest":    {func(b *route.BatchDecision) { b.BatchDigest = "A" }, payment.CodeInvalidField},
		"nul":       {func(b *route.BatchDecision) { b.Reason = "a\x00" }, payment.CodeMalformed},
		"tooMany":   {func(b *route.BatchDecision) { b.Items = make([]approval.BatchItem, approval.MaxBatchItems+1) }, payment.CodeInvalidField},
		"oldSchema": {func(b *route.BatchDecision) { b.Schema = route.DecisionSchema }, payment.CodeUnknownVersion},
	} {
		b := good
		b.Items = append([]approval.BatchItem(nil), good.Items...)
		tc.change(&b)
		body, err := json.Marshal(b)
		require.NoError(t, err)
		_, err = decodeBatch(body)
		require.Equal(t, tc.code, payment.ErrorCode(err), "%s: %v", name, err)
	}
	require.True(t, isBatch([]byte(`{"schema":"b2bpay.decision-batch.v1"}`)))
	require.False(t, isBatch([]byte(`{"schema":"b2bpay.decision.v1","reason":"b2bpay.decision-batch.v1"}`)))
}
