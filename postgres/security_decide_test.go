package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSecurityDecisionRepeatOnlyForItsPerson: a decision id seen before
// gets its first result only from the person who sent it; anyone else
// re-sending it (another person, or a bad token) learns nothing of it.
func TestSecurityDecisionRepeatOnlyForItsPerson(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	p = a.payment(t, p.ID)
	rev := a.newUser(t, payment.RoleReviewer)
	r := a.decision(p, rev, payment.StageReview, payment.VerdictApprove) // with rev's code
	first := a.applied(t, r)

	// Another person of the customer sends the same decision id, to their
	// own reply queue.
	other := a.newUser(t, payment.RoleReviewer)
	stolen := a.decision(p, other, payment.StageReview, payment.VerdictApprove)
	stolen.DecisionID = r.DecisionID
	res := a.apply(t, stolen)
	require.Equal(t, approval.Refused, res.Outcome)
	require.Equal(t, payment.CodeDecisionIDTaken, res.Code)
	require.Empty(t, res.State, "nothing of the first result")
	require.NotContains(t, res.Reason, rev.ID)
	got := a.result(t, stolen)
	require.Equal(t, payment.CodeDecisionIDTaken, got.Code)
	require.NotEmpty(t, a.auditOf(t, other.ID, "decision_refused"), "audited")

	// A bad token with the same id (nobody known): the refusal, not the
	// first result.
	anon := stolen
	anon.UserID, anon.SessionID = "", ""
	res, err := a.app.Refuse(t.Context(), anon, payment.Errorf(payment.CodeTokenInvalid, "garbage"))
	require.NoError(t, err)
	require.Equal(t, approval.Refused, res.Outcome)
	require.NotEqual(t, approval.Applied, res.Outcome)
	require.Empty(t, res.State)

	// The person who sent it gets the first result again.
	again := a.apply(t, r)
	require.Equal(t, first.Outcome, again.Outcome)
	require.Equal(t, first.State, again.State)
	require.Equal(t, 2, a.countDecisions(t, p.ID, approval.Applied), "confirmation and review, once each")
}

// TestSecurityDecisionOtherCustomerNotFound: a payment of another customer
// is not_found for a decision, as over HTTP, and the refusal names none of
// that customer's people nor the payment's state.
func TestSecurityDecisionOtherCustomerNotFound(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	p = a.payment(t, p.ID)
	other := setup(t)
	outsider := other.newUser(t, payment.RoleReviewer, payment.RoleApplicant, payment.RoleAuthorizer)

	for _, r := range []approval.Decision{
		a.decision(p, outsider, payment.StageReview, payment.VerdictApprove),
		a.decision(p, outsider, payment.StageConfirmation, payment.VerdictApprove),
		a.decision(p, outsider, payment.StageAuthorization, payment.VerdictApprove),
		func() approval.Decision {
			r := a.decision(p, outsider, "", approval.Cancel)
			r.Reason = "mine now"
			return r
		}(),
	} {
		res := a.apply(t, r)
		require.Equal(t, payment.CodeNotFound, res.Code, "%s %s: %s", r.Stage, r.Verdict, res.Reason)
		require.NotContains(t, res.Reason, a.applicant.ID)
		require.NotContains(t, res.Reason, string(p.State))
		require.NotContains(t, res.Reason, p.CustomerID)
	}
	// The same answer as a payment that does not exist.
	ghost := a.decision(p, outsider, payment.StageReview, payment.VerdictApprove)
	ghost.PaymentID = "01a21b23-e139-703c-8b96-c80ef836db0a"
	none := a.apply(t, ghost)
	require.Equal(t, strings.ReplaceAll(none.Reason, ghost.PaymentID, p.ID),
		a.apply(t, a.decision(p, outsider, payment.StageReview, payment.VerdictApprove)).Reason)
	require.Equal(t, payment.StateAwaitingReview, a.payment(t, p.ID).State)
}

// TestSecurityReviewNeedsOTP: an approval at review needs a one-time
// password unless the customer turned the policy off.
func TestSecurityReviewNeedsOTP(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	p = a.payment(t, p.ID)
	rev := a.newUser(t, payment.RoleReviewer)

	bare := a.decision(p, rev, payment.StageReview, payment.VerdictApprove)
	bare.OTP = ""
	require.Equal(t, payment.CodeOTPRequired, a.apply(t, bare).Code)
	wrong := a.decision(p, rev, payment.StageReview, payment.VerdictApprove)
	wrong.OTP = "000000"
	require.Equal(t, payment.CodeOTPInvalid, a.apply(t, wrong).Code)
	require.Equal(t, payment.StateAwaitingReview, a.payment(t, p.ID).State)

	// In a batch: the same checks, the same refusal.
	batch := a.decision(p, rev, payment.StageReview, payment.VerdictApprove)
	batch.OTP = ""
	results, err := a.app.ApplyMany(t.Context(), []approval.Decision{batch})
	require.NoError(t, err)
	require.Equal(t, payment.CodeOTPRequired, results[0].Code, "refused in the batch as alone")
	require.Equal(t, payment.StateAwaitingReview, a.payment(t, p.ID).State)

	// A rejection needs none.
	a.clock.Advance(time.Minute) // the applicant's next code
	q := a.submitPayment(t)
	a.applied(t, a.confirmation(t, q))
	q = a.payment(t, q.ID)
	rej := a.decision(q, rev, payment.StageReview, payment.VerdictReject)
	rej.Reason = "no contract"
	a.applied(t, rej)

	// The customer turns the policy off: a review without a code applies.
	require.NoError(t, a.store.CustomerSetReviewOTP(t.Context(), p.CustomerID, false, "admin:test"))
	off := a.decision(p, rev, payment.StageReview, payment.VerdictApprove)
	off.OTP = ""
	a.applied(t, off)
}

// TestSecurityDecisionBatchSameChecks: decisions in a batch get the checks
// single ones get: another customer's payment and a review without its
// code are not applied by the batch, and are refused as alone.
func TestSecurityDecisionBatchSameChecks(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	p = a.payment(t, p.ID)
	other := setup(t)
	outsider := other.newUser(t, payment.RoleReviewer)
	rev := a.newUser(t, payment.RoleReviewer)
	results, err := a.app.ApplyMany(t.Context(), []approval.Decision{
		a.decision(p, outsider, payment.StageReview, payment.VerdictApprove),
	})
	require.NoError(t, err)
	require.Equal(t, approval.Refused, results[0].Outcome)
	require.Equal(t, payment.CodeNotFound, results[0].Code, "another customer's payment does not exist, in a batch too")
	noCode := a.decision(p, rev, payment.StageReview, payment.VerdictApprove)
	noCode.OTP = ""
	results, err = a.app.ApplyMany(t.Context(), []approval.Decision{noCode})
	require.NoError(t, err)
	require.Equal(t, approval.Refused, results[0].Outcome, "a review without its code is not applied in a batch")
	require.Equal(t, payment.CodeOTPRequired, results[0].Code)
	require.Equal(t, payment.StateAwaitingReview, a.payment(t, p.ID).State)
}
