package approval_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// The batch decision: one OTP for many payments, every check of a single
// decision for each.

func batchResultMessage(r approval.BatchResult, replyTo string) (outbox.Message, bool, error) {
	if replyTo == "" {
		return outbox.Message{}, false, nil
	}
	body, err := json.Marshal(r)
	return outbox.Message{MessageID: "result/" + r.DecisionID, RoutingKey: replyTo, Body: body}, true, err
}

// newBatchKit is newKit whose Applier also answers batches.
func newBatchKit(t *testing.T) *kit {
	t.Helper()
	k := newKit(t)
	key, err := seal.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	k.app, err = approval.New(k.store, approval.Config{
		Now:                func() time.Time { return k.now },
		Seal:               key,
		OTPOpener:          func(sealed []byte, _ string) ([]byte, error) { return bytes.Clone(sealed), nil },
		EventMessage:       eventMessage,
		TaskMessage:        taskMessage,
		ResultMessage:      resultMessage,
		BatchResultMessage: batchResultMessage,
	})
	require.NoError(t, err)
	return k
}

// batch is u's verdict at stage on ps as stored, summed up as a client
// would, with u's code now.
func (k *kit) batch(u payment.User, stage payment.Stage, verdict payment.Verdict, ps ...*payment.Payment) approval.BatchDecision {
	k.t.Helper()
	k.n++
	bd := approval.BatchDecision{DecisionID: fmt.Sprintf("batch-%d", k.n), Stage: stage, Verdict: verdict, UserID: u.ID,
		SessionID: "sess-" + u.ID, ReplyTo: "reply." + u.ID}
	for _, p := range ps {
		s := k.stored(p.ID)
		bd.Items = append(bd.Items, approval.BatchItem{PaymentID: p.ID, Digest: s.Digest(), Currency: s.Currency, AmountMinor: s.AmountMinor})
	}
	if verdict == payment.VerdictReject {
		bd.Reason = "not this week"
	}
	if payment.NeedsOTPFor(stage, verdict, true) {
		bd.OTP = k.code(u)
	}
	k.sum(&bd)
	return bd
}

// sum sets the batch's count, totals and digest from its items.
func (k *kit) sum(bd *approval.BatchDecision) {
	var err error
	bd.Count, bd.Totals, bd.BatchDigest, err = approval.Summarize(bd.Stage, bd.Verdict, bd.Items)
	require.NoError(k.t, err)
}

func (k *kit) applyBatch(bd approval.BatchDecision) approval.BatchResult {
	k.t.Helper()
	res, err := k.app.ApplyBatch(k.t.Context(), bd)
	require.NoError(k.t, err)
	require.Len(k.t, res.Items, len(bd.Items), "every item gets one outcome")
	return res
}

// codes are the items' result codes, in canonical order.
func codes(res approval.BatchResult) []payment.Code {
	out := make([]payment.Code, len(res.Items))
	for i, r := range res.Items {
		out[i] = r.Code
	}
	return out
}

// One code for three payments: all applied, one OTP step used, each item's
// row sealed as a single decision's and pointing to the batch, the batch's
// record sealed, one result message; the same code again is a replay.
func TestBatchOneOTP(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	var ps []*payment.Payment
	for range 3 {
		ps = append(ps, k.payment(s.applicant.ID, payment.StateAwaitingReview, 1))
	}
	bd := k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, ps...)
	res := k.applyBatch(bd)
	require.Equal(t, approval.BatchApplied, res.Outcome)
	require.Equal(t, 3, res.Applied)
	require.Equal(t, bd.BatchDigest, res.BatchDigest)
	step := k.store.db.people[s.reviewer.ID].OTP.LastStep
	require.NotZero(t, step)
	for i, r := range res.Items {
		require.Equal(t, approval.Applied, r.Outcome)
		require.Equal(t, approval.ItemDecisionID(bd.DecisionID, i+1), r.DecisionID)
		require.Equal(t, payment.StateAwaitingAuthorization, k.stored(r.PaymentID).State)
		rec, ok := k.record(r.DecisionID)
		require.True(t, ok)
		require.Equal(t, bd.DecisionID, rec.Decision.BatchID)
		require.Equal(t, step, *rec.OTPStep)
		require.NotNil(t, rec.Seal)
		require.Equal(t, 1, rec.Seal.Seq)
	}
	require.Len(t, k.store.db.batches, 1)
	br := k.store.db.batches[0]
	require.Equal(t, step, *br.OTPStep)
	key, _ := seal.New(bytes.Repeat([]byte{7}, 32))
	require.True(t, key.BatchSealed(approval.BatchSeal(br), br.MAC))
	br.Batch.Count = 2
	require.False(t, key.BatchSealed(approval.BatchSeal(br), br.MAC), "a changed count breaks the batch's MAC")
	require.Equal(t, []string{"result/" + bd.DecisionID}, k.messages("result/"), "one answer for the batch")
	require.Contains(t, k.events(s.reviewer.ID), "batch_decided")

	// Another batch with the same code, in the same step: a replay.
	more := []*payment.Payment{k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)}
	again := k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, more...)
	again.OTP = bd.OTP
	res = k.applyBatch(again)
	require.Equal(t, approval.BatchRefused, res.Outcome)
	require.Equal(t, payment.CodeOTPReplayed, res.Code)
	require.Equal(t, []payment.Code{payment.CodeOTPReplayed}, codes(res))
	require.Equal(t, payment.StateAwaitingReview, k.stored(more[0].ID).State)
	_, ok := k.record(approval.ItemDecisionID(again.DecisionID, 1))
	require.False(t, ok, "a batch refused whole writes no item row")
}

// A refused item blocks nothing: over the limit, decided already, one the
// person applied for, content changed, an amount not the payment's, and
// another customer's payment are refused, each with its code; the rest
// are applied.
func TestBatchPerItemRefusals(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	good := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	big := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	k.store.db.payments[big.ID].AmountMinor = 2_000_000_00
	k.store.db.limits[approval.Limit{UserID: s.auth1.ID, Currency: "CNY"}] = 1_500_000_00
	done := k.payment(s.applicant.ID, payment.StateAuthorized, 1)
	own := k.payment(s.auth1.ID, payment.StateAwaitingAuthorization, 1)
	changed := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	wrongAmount := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	other := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	k.store.db.payments[other.ID].CustomerID = "cust-bj"
	bd := k.batch(s.auth1, payment.StageAuthorization, payment.VerdictApprove, good, big, done, own, changed, wrongAmount, other)
	for i := range bd.Items {
		switch bd.Items[i].PaymentID {
		case changed.ID:
			bd.Items[i].Digest = (&payment.Payment{}).Digest()
		case wrongAmount.ID:
			bd.Items[i].AmountMinor++
		}
	}
	k.sum(&bd)
	res := k.applyBatch(bd)
	require.Equal(t, approval.BatchPartial, res.Outcome, "%s %s %v", res.Code, res.Reason, codes(res))
	require.Equal(t, 1, res.Applied)
	require.Equal(t, 6, res.Refused)
	want := map[string]payment.Code{good.ID: "", big.ID: payment.CodeOverLimit, done.ID: payment.CodeAlreadyDecided,
		own.ID: payment.CodeSeparationOfDuties, changed.ID: payment.CodeContentChanged, wrongAmount.ID: approval.CodeBatchMismatch,
		other.ID: payment.CodeNotFound}
	for _, r := range res.Items {
		require.Equal(t, want[r.PaymentID], r.Code, "%s: %s", r.PaymentID, r.Reason)
	}
	require.Equal(t, payment.StateAuthorized, k.stored(good.ID).State)
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(big.ID).State)
	require.Len(t, k.store.db.decisions, 7, "each item recorded once")
}

// All-or-nothing: one refused item and nothing is applied; every item says
// why.
func TestBatchAllOrNothing(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	a := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	b := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	mine := k.payment(s.reviewer.ID, payment.StateAwaitingReview, 1)
	bd := k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b, mine)
	bd.AllOrNothing = true
	res := k.applyBatch(bd)
	require.Equal(t, approval.BatchRefused, res.Outcome)
	require.Equal(t, 0, res.Applied)
	for _, r := range res.Items {
		want := approval.CodeBatchNotApplied
		if r.PaymentID == mine.ID {
			want = payment.CodeSeparationOfDuties
		}
		require.Equal(t, want, r.Code, r.Reason)
		require.Equal(t, payment.StateAwaitingReview, k.stored(r.PaymentID).State)
	}
	require.Empty(t, k.store.db.timeline)
	require.Empty(t, k.messages("event/"))

	// Without the refused one, all-or-nothing applies all.
	k.next()
	bd = k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b)
	bd.AllOrNothing = true
	require.Equal(t, approval.BatchApplied, k.applyBatch(bd).Outcome)
}

// A batch whose count, totals or digest is not that of its items is
// refused whole, before its code is judged (the step stays unused).
func TestBatchSumsMismatch(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	a := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	b := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	for name, spoil := range map[string]func(*approval.BatchDecision){
		"count":  func(bd *approval.BatchDecision) { bd.Count = 3 },
		"totals": func(bd *approval.BatchDecision) { bd.Totals[0].AmountMinor-- },
		"digest": func(bd *approval.BatchDecision) { bd.BatchDigest = bd.BatchDigest[:63] + "0" },
		"twice": func(bd *approval.BatchDecision) {
			bd.Items[1] = bd.Items[0]
			bd.Count, bd.Totals, bd.BatchDigest, _ = approval.Summarize(bd.Stage, bd.Verdict, bd.Items)
		},
		"amount": func(bd *approval.BatchDecision) { bd.Items[0].AmountMinor++ },
	} {
		bd := k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b)
		spoil(&bd)
		res := k.applyBatch(bd)
		require.Equal(t, approval.BatchRefused, res.Outcome, name)
		require.Equal(t, approval.CodeBatchMismatch, res.Code, "%s: %s", name, res.Reason)
	}
	require.Zero(t, k.store.db.people[s.reviewer.ID].OTP.LastStep, "no step used")
	require.Equal(t, payment.StateAwaitingReview, k.stored(a.ID).State)
	// The code is still good for a batch that adds up.
	require.Equal(t, approval.BatchApplied, k.applyBatch(k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b)).Outcome)
}

// Caps of the customer and of the person: items per batch, total per
// currency.
func TestBatchCaps(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	a := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	b := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	k.store.db.customerCaps[customerID] = approval.BatchCap{MaxItems: 1}
	res := k.applyBatch(k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b))
	require.Equal(t, approval.CodeBatchCapExceeded, res.Code, res.Reason)
	k.store.db.customerCaps[customerID] = approval.BatchCap{MaxItems: 500}
	k.store.db.personCaps[s.reviewer.ID] = approval.BatchCap{MaxTotal: map[string]int64{"CNY": 2*128640050 - 1}}
	res = k.applyBatch(k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b))
	require.Equal(t, approval.CodeBatchCapExceeded, res.Code, res.Reason)
	require.Contains(t, res.Reason, "your own cap")
	k.store.db.personCaps[s.reviewer.ID] = approval.BatchCap{MaxTotal: map[string]int64{"CNY": 2 * 128640050}}
	require.Equal(t, approval.BatchApplied, k.applyBatch(k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a, b)).Outcome)
}

// The same batch sent twice gets its first result, once written; another
// person's batch under that id is refused and not recorded.
func TestBatchRepeat(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	a := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	bd := k.batch(s.reviewer, payment.StageReview, payment.VerdictApprove, a)
	first := k.applyBatch(bd)
	k.next()
	again := k.applyBatch(bd)
	require.Equal(t, first, again)
	require.Len(t, k.store.db.batches, 1)
	require.Len(t, k.store.db.decisions, 1)

	thief := k.person("zhao.lei", payment.RoleReviewer)
	other := bd
	other.UserID, other.SessionID = thief.ID, "sess-x"
	res := k.applyBatch(other)
	require.Equal(t, payment.CodeDecisionIDTaken, res.Code)
	require.Len(t, k.store.db.batches, 1)
}

// The applicant confirms several of their own payments with one code; a
// payment of someone else's application is refused.
func TestBatchConfirmation(t *testing.T) {
	k := newBatchKit(t)
	s := k.staff()
	other := k.person("sun.li", payment.RoleApplicant)
	a := k.payment(s.applicant.ID, payment.StateAwaitingConfirmation, 1)
	b := k.payment(s.applicant.ID, payment.StateAwaitingConfirmation, 1)
	c := k.payment(other.ID, payment.StateAwaitingConfirmation, 1)
	res := k.applyBatch(k.batch(s.applicant, payment.StageConfirmation, payment.VerdictApprove, a, b, c))
	require.Equal(t, approval.BatchPartial, res.Outcome)
	for _, r := range res.Items {
		if r.PaymentID == c.ID {
			require.Equal(t, payment.CodeNotApplicant, r.Code)
		} else {
			require.Equal(t, payment.StateAwaitingReview, k.stored(r.PaymentID).State)
		}
	}
	// A rejection at review needs no code, and carries its reason to each.
	k.next()
	res = k.applyBatch(k.batch(s.reviewer, payment.StageReview, payment.VerdictReject, a, b))
	require.Equal(t, approval.BatchApplied, res.Outcome, "%v", codes(res))
	require.Equal(t, payment.StateRejected, k.stored(a.ID).State)
}

// The digest's exact bytes.
func TestBatchDigestInput(t *testing.T) {
	items := []approval.BatchItem{
		{PaymentID: "b0000000-0000-4000-8000-000000000002", Digest: "dd", Currency: "USD", AmountMinor: 5},
		{PaymentID: "a0000000-0000-4000-8000-000000000001", Digest: "cc", Currency: "CNY", AmountMinor: 120050},
		{PaymentID: "c0000000-0000-4000-8000-000000000003", Digest: "ee", Currency: "CNY", AmountMinor: 1},
	}
	totals, err := approval.SumItems(items)
	require.NoError(t, err)
	require.Equal(t, []approval.Total{{Currency: "CNY", AmountMinor: 120051}, {Currency: "USD", AmountMinor: 5}}, totals)
	require.Equal(t, "b2bpay.decision-batch.v1\n"+
		"stage:authorization\n"+
		"verdict:approve\n"+
		"count:3\n"+
		"total:CNY:120051\n"+
		"total:USD:5\n"+
		"item:a0000000-0000-4000-8000-000000000001:cc:CNY:120050\n"+
		"item:b0000000-0000-4000-8000-000000000002:dd:USD:5\n"+
		"item:c0000000-0000-4000-8000-000000000003:ee:CNY:1\n",
		string(approval.BatchDigestInput(payment.StageAuthorization, payment.VerdictApprove, items, totals)))
	// printf '<the bytes above>' | sha256sum
	digest := approval.BatchDigest(payment.StageAuthorization, payment.VerdictApprove, items, totals)
	require.Equal(t, "8ec8f1cc3988c54e7887a5742e7770ad261b78f62524a9c6cbdf6d6040bec309", digest)
	require.Equal(t, digest,
		approval.BatchDigest(payment.StageAuthorization, payment.VerdictApprove, []approval.BatchItem{items[2], items[0], items[1]}, totals),
		"the order of the items does not matter")
}
