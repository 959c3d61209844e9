package consumers

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// decisionOutcome reads a decision's recorded outcome and code.
func decisionOutcome(t *testing.T, id string) (string, string) {
	t.Helper()
	var outcome, code string
	require.NoError(t, testPool(t).QueryRow(t.Context(), `SELECT outcome, code FROM decisions WHERE id = $1`, id).Scan(&outcome, &code))
	return outcome, code
}

// TestSecurityReplyToOwnQueueOnly: b2bpay publishes a result only to the
// decider's own reply queue; a reply_to naming any other queue of the
// vhost (a task queue, intake, another person's reply queue) is refused,
// audited, and nothing is published there; a decision with a bad token is
// answered nowhere (nobody is known to answer to).
func TestSecurityReplyToOwnQueueOnly(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	cancel := func(m map[string]any) {
		m["token"], m["verdict"], m["reason"] = "token-of-"+f.applicant.ID, "cancel", "ordered twice"
		delete(m, "stage")
	}
	for _, q := range []string{
		"b2bpay.tasks." + f.payment.CustomerID + ".review",
		"b2bpay.intake",
		"b2bpay.status." + f.payment.UpstreamID,
		"b2bpay.reply.someone-else." + rand.Text(),
		"b2bpay.reply." + f.applicant.ID + ".short",
		"b2bpay.reply." + f.applicant.ID + "." + rand.Text() + ".more",
		"amq.gen-" + rand.Text(),
	} {
		d, id := f.delivery(t, cancel)
		d.ReplyTo = q
		require.NoError(t, f.h.Handle(t.Context(), d), q)
		outcome, code := decisionOutcome(t, id)
		require.Equal(t, approval.Refused, outcome, q)
		require.Equal(t, string(payment.CodeReplyToRefused), code, q)
		require.Zero(t, countRows(t, `SELECT count(*) FROM outbox WHERE routing_key = $1`, q), "nothing published to %s", q)
		require.NotZero(t, countRows(t, `SELECT count(*) FROM audit_log WHERE event = 'decision_refused' AND user_id = $1 AND detail LIKE '%reply_to%'`,
			f.applicant.ID), "audited")
		f.requireUnchanged(t)
	}

	// A bad token: answered nowhere, whatever reply_to says.
	d, id := f.delivery(t, func(m map[string]any) { m["token"] = "forged" })
	d.ReplyTo = "b2bpay.intake"
	require.NoError(t, f.h.Handle(t.Context(), d))
	outcome, code := decisionOutcome(t, id)
	require.Equal(t, approval.Refused, outcome)
	require.Equal(t, string(payment.CodeTokenInvalid), code)
	require.Zero(t, countRows(t, `SELECT count(*) FROM outbox WHERE message_id = $1`, "result/"+id))
}

// TestSecurityDecisionNeedsProof: a decision must carry the MAC of its
// content under its session's decision key (never on the queue): one
// without it, or with a proof made for other content (a captured decision
// re-aimed at another payment, verdict or stage), is refused and changes
// nothing.
func TestSecurityDecisionNeedsProof(t *testing.T) {
	t.Parallel()
	f := newDecisionFixture(t)
	cancel := func(m map[string]any) {
		m["token"], m["verdict"], m["reason"] = "token-of-"+f.applicant.ID, "cancel", "ordered twice"
		delete(m, "stage")
	}
	d, id := f.delivery(t, func(m map[string]any) { cancel(m); m["proof"] = "" })
	require.NoError(t, f.h.Handle(t.Context(), d))
	outcome, code := decisionOutcome(t, id)
	require.Equal(t, approval.Refused, outcome)
	require.Equal(t, string(payment.CodeProofInvalid), code)
	f.requireUnchanged(t)

	f.requireReaimRefused(t, cancel)
}

// requireReaimRefused takes a decision signed by its person (change makes
// it) and sends it again re-aimed: at another payment, another verdict or
// reason, another stage, or signed with another session's key. Each is
// refused; the payment is unchanged.
func (f *decisionFixture) requireReaimRefused(t *testing.T, change func(m map[string]any)) {
	t.Helper()
	other := "b2bpay-other-session"
	f.tokens.sessions["token-of-other"] = [2]string{f.applicant.ID, other}
	for name, reaim := range map[string]func(m map[string]any){
		"Payment":    func(m map[string]any) { m["payment_id"] = "01a21b23-e139-703c-8b96-c80ef836db0a" },
		"Reason":     func(m map[string]any) { m["reason"] = "changed" },
		"Verdict":    func(m map[string]any) { m["verdict"], m["stage"], m["reason"] = "reject", "confirmation", "no" },
		"OtherToken": func(m map[string]any) { m["token"] = "token-of-other" },
	} {
		d, _ := f.delivery(t, change)
		var m map[string]any
		require.NoError(t, json.Unmarshal(d.Body, &m))
		reaim(m)
		m["decision_id"] = "dec-" + strings.ToLower(rand.Text()[:10])
		var err error
		d.Body, err = json.Marshal(m)
		require.NoError(t, err)
		id := m["decision_id"].(string)
		require.NoError(t, f.h.Handle(t.Context(), d), name)
		outcome, code := decisionOutcome(t, id)
		require.Equal(t, approval.Refused, outcome, name)
		require.Equal(t, string(payment.CodeProofInvalid), code, name)
		f.requireUnchanged(t)
	}
	// The decision as signed: applied.
	d, id := f.delivery(t, change)
	require.NoError(t, f.h.Handle(t.Context(), d))
	outcome, _ := decisionOutcome(t, id)
	require.Equal(t, approval.Applied, outcome)
	require.Equal(t, 1, countRows(t, `SELECT count(*) FROM outbox WHERE message_id = $1 AND routing_key = $2`, "result/"+id, d.ReplyTo),
		"answered to the decider's own reply queue")
}
