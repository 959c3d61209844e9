package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSecurityReviewOTPPolicyCommand: an approval at review needs the
// reviewer's code by default; `b2bpay customer review-otp C off` turns the
// customer's policy off (audited with the operator), `on` back on.
func TestSecurityReviewOTPPolicyCommand(t *testing.T) {
	e := newEnv(t)
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	p := e.submit(t, request("review-otp-1"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)

	res := e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, "", p.Digest(), "")
	require.Equal(t, payment.CodeOTPRequired, res.Code, res.Reason)

	r := e.b2bpay(t, t.TempDir(), nil, "customer", "review-otp", "C1", "off", "--operator", "sec-test")
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "customer C1: one-time password at review off")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM audit_log WHERE event = 'review_otp_set' AND actor = 'admin:sec-test'`))
	res = e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, "", p.Digest(), "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)

	r = e.b2bpay(t, t.TempDir(), nil, "customer", "review-otp", "C1", "maybe")
	require.NotZero(t, r.code)
	r = e.b2bpay(t, t.TempDir(), nil, "customer", "review-otp", "NO-SUCH-CUSTOMER", "on", "--operator", "sec-test")
	require.NotZero(t, r.code)
	require.Contains(t, r.stderr, "not_found")
}
