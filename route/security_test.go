package route_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// TestSecurityReplyQueueOf: a reply queue belongs to one user only, and no
// other queue of the vhost passes for one.
func TestSecurityReplyQueueOf(t *testing.T) {
	t.Parallel()
	q := route.ReplyQueue("bob")
	require.True(t, strings.HasPrefix(q, "b2bpay.reply.bob."))
	require.True(t, route.IsReplyQueueOf("bob", q))
	require.NotEqual(t, q, route.ReplyQueue("bob"), "random")
	for _, bad := range []string{
		"", "b2bpay.intake", "b2bpay.decisions", "b2bpay.tasks.CUST.review", "b2bpay.status.erp", "amq.gen-abc",
		"b2bpay.reply.bob", "b2bpay.reply.bob.", "b2bpay.reply.bob.short",
		"b2bpay.reply.bob." + strings.Repeat("a", 65),
		"b2bpay.reply.bob.abcdefghijklmnop.x", "b2bpay.reply.bob.abcdefghijklmno*",
		"b2bpay.reply.bobby.abcdefghijklmnopq", "b2bpay.reply.bo.b.abcdefghijklmnopq",
	} {
		require.False(t, route.IsReplyQueueOf("bob", bad), bad)
	}
	require.False(t, route.IsReplyQueueOf("", "b2bpay.reply..abcdefghijklmnopq"))
	require.False(t, route.IsReplyQueueOf("bo", "b2bpay.reply.bo.b.abcdefghijklmnopq"), "a dot never in the suffix")
}

// TestSecurityDecisionProof: the proof covers every field a decision
// decides, under one session's key.
func TestSecurityDecisionProof(t *testing.T) {
	t.Parallel()
	key, other := []byte(strings.Repeat("k", 32)), []byte(strings.Repeat("o", 32))
	d := route.Decision{Schema: route.DecisionSchema, DecisionID: "d-1", Token: "tok", PaymentID: "p-1",
		Stage: payment.StageReview, Verdict: payment.VerdictApprove, OTP: "123456", Digest: "ab"}
	require.False(t, d.ProofValid(key), "no proof")
	d.Sign(key)
	require.True(t, d.ProofValid(key))
	require.False(t, d.ProofValid(other))
	require.False(t, d.ProofValid(nil))
	for name, change := range map[string]func(*route.Decision){
		"Schema": func(d *route.Decision) { d.Schema = "x" }, "ID": func(d *route.Decision) { d.DecisionID = "d-2" },
		"Payment": func(d *route.Decision) { d.PaymentID = "p-2" }, "Stage": func(d *route.Decision) { d.Stage = payment.StageAuthorization },
		"Verdict": func(d *route.Decision) { d.Verdict = payment.VerdictReject }, "Reason": func(d *route.Decision) { d.Reason = "r" },
		"OTP": func(d *route.Decision) { d.OTP = "654321" }, "Digest": func(d *route.Decision) { d.Digest = "cd" },
		"Shifted": func(d *route.Decision) { d.PaymentID, d.Stage = "p-1r", "eview" },
	} {
		c := d
		change(&c)
		require.False(t, c.ProofValid(key), name)
	}
	c := d
	c.Token = "another token of the same session"
	require.True(t, c.ProofValid(key), "the token names the session; the key is the session's")
}
