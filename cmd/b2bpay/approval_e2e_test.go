package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/staff"
)

// TestSeedFlow walks the seed from request to authorized through the real
// queues: the applicant confirms with an OTP, a reviewer approves, an
// authorizer authorizes with an OTP; each stage's task reaches its queue,
// the upstream hears every change, the timeline names who did what, and
// its hash chain verifies.
func TestSeedFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)

	p := e.submit(t, request("flow-1"))
	require.Equal(t, payment.StateAwaitingConfirmation, p.State)

	task := e.task(t, "C1", payment.StageConfirmation, p.ID)
	require.NoError(t, staff.CheckTaskDigest(task), "the task's content and digest agree")
	require.Equal(t, p.Digest(), task.Digest)
	res := e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), task.Digest, "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	require.Equal(t, payment.StateAwaitingReview, res.State)

	task = e.task(t, "C1", payment.StageReview, p.ID)
	res = e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), task.Digest, "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	require.Equal(t, payment.StateAwaitingAuthorization, res.State)

	task = e.task(t, "C1", payment.StageAuthorization, p.ID)
	require.Equal(t, "1 of 1", task.Authorizations)
	res = e.decide(t, alex.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), task.Digest, "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	require.Equal(t, payment.StateAuthorized, res.State)

	p = e.payment(t, p.ID)
	require.Equal(t, payment.StateAuthorized, p.State)
	tl, err := e.app.Store.PaymentTimeline(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, tl, 5)
	who := []string{tl[2].Actor.ID, tl[3].Actor.ID, tl[4].Actor.ID}
	require.Equal(t, []string{"ann", "rita", "alex"}, who)
	seq, why := payment.VerifyChain(tl, p.HeadHash)
	require.Zero(t, seq, why)
	// Three decisions, each with the digest of what was approved.
	require.Equal(t, 3, e.count(`SELECT count(*) FROM decisions WHERE payment_id = $1 AND outcome = 'applied' AND digest = $2`, p.ID, p.Digest()))

	// The upstream heard the answer and every change of state.
	var got []payment.Event
	require.Eventually(t, func() bool {
		for _, ev := range events(t, e.getAll("b2bpay.status.erp", 100, 50*time.Millisecond)) {
			if ev.PaymentID == p.ID {
				got = append(got, ev)
			}
		}
		return len(got) >= 4
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, payment.EventAccepted, got[0].Kind)
	require.Equal(t, payment.StateAuthorized, got[len(got)-1].State)
	require.Equal(t, "alex", got[len(got)-1].Actor.ID)

	// And the status API shows it to the customer's staff, not to others.
	var view struct {
		Payment struct {
			State  string `json:"state"`
			Amount string `json:"amount"`
		} `json:"payment"`
		Timeline []struct {
			Actor struct{ ID string } `json:"actor"`
			At    string              `json:"at"`
		} `json:"timeline"`
	}
	require.Equal(t, http.StatusOK, e.api(t, http.MethodGet, "/v1/payments/"+p.ID, rita.token, nil, &view))
	require.Equal(t, "authorized", view.Payment.State)
	require.Equal(t, "1286400.50", view.Payment.Amount)
	require.Len(t, view.Timeline, 5)
	require.Contains(t, view.Timeline[4].At, "+08:00", "times are shown in the customer's zone")
	carl := e.person(t, "carl", "C2", payment.RoleReviewer)
	require.Equal(t, http.StatusNotFound, e.api(t, http.MethodGet, "/v1/payments/"+p.ID, carl.token, nil, nil))

	// Operators see the counts at /metrics, on its own address.
	resp, err := http.Get("http://" + e.metricsAddr + "/metrics")
	require.NoError(t, err)
	metricsText, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(metricsText), `b2bpay_intake_messages_total{code="",outcome="accepted"} 1`)
	require.Contains(t, string(metricsText), `b2bpay_decisions_total{code="",outcome="applied",stage="authorization"} 1`)
	require.Contains(t, string(metricsText), "b2bpay_outbox_pending")

	// Once authorized the payment is frozen: the applicant cannot cancel.
	res = e.decide(t, ann.token, p.ID, "", approval.Cancel, "", "", "changed my mind")
	require.Equal(t, payment.CodeFrozen, res.Code, res.Reason)
	require.Equal(t, payment.StateAuthorized, e.payment(t, p.ID).State)
}

// enroll gives the seeded applicant ann a password and OTP.
func (e *env) enroll(t *testing.T, id string) *person {
	t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(testPassword)
	require.NoError(t, err)
	require.NoError(t, e.app.Store.UserSetPassword(ctx, id, hash, "test"))
	p := &person{id: id, auth: &staff.Authenticator{Seed: secret.NewKey()[:20]}}
	require.NoError(t, e.app.Store.UserEnrollOTP(ctx, id, e.sealer.Seal(p.auth.Seed, otpAD(id)), int(e.sealer.Version()), "test"))
	p.token = e.login(t, id, testPassword)
	return p
}

// TestApprovalRefusals: every check refuses, changes nothing, says why and
// leaves a line in the audit trail.
func TestApprovalRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	max := e.person(t, "max", "C1", payment.RoleReviewer, payment.RoleAuthorizer)
	pat := e.person(t, "pat", "C1", payment.RoleApplicant, payment.RoleReviewer, payment.RoleAuthorizer)
	carl := e.person(t, "carl", "C2", payment.RoleReviewer)
	lou := e.person(t, "lou", "C1", payment.RoleAuthorizer)
	require.NoError(t, e.app.Store.UserSetLimit(ctx, "alex", "CNY", 200000000, "test")) // 2,000,000.00 CNY

	// A payment waiting for confirmation, one for review (applicant pat),
	// one for authorization reviewed by max, and one too large for alex.
	waiting := e.submit(t, request("refuse-confirm"))
	r := request("refuse-review")
	r.Applicant = "pat"
	review := e.submit(t, r)
	res := e.decide(t, pat.token, review.ID, payment.StageConfirmation, payment.VerdictApprove, pat.code(t), review.Digest(), "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	authz := e.submit(t, request("refuse-authz"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, authz.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), authz.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, max.token, authz.ID, payment.StageReview, payment.VerdictApprove, max.code(t), authz.Digest(), "").Outcome)
	big := request("refuse-big")
	big.Amount = "2500000.00"
	large := e.submit(t, big)
	require.Equal(t, approval.Applied, e.decide(t, ann.token, large.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), large.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, rita.token, large.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), large.Digest(), "").Outcome)

	otherKey, err := auth.NewSigner(auth.DeriveKey(secret.NewKey(), "session-token"), time.Minute, nil)
	require.NoError(t, err)
	forged, _, err := otherKey.Issue("rita", "C1")
	require.NoError(t, err)
	past, err := auth.NewSigner(auth.DeriveKey(secret.NewKey(), "session-token"), time.Second, func() time.Time { return time.Now().Add(-time.Hour) })
	require.NoError(t, err)
	expired, _, err := past.Issue("rita", "C1")
	require.NoError(t, err)
	revoked := e.login(t, "rita", testPassword)
	require.Equal(t, http.StatusNoContent, e.api(t, http.MethodDelete, "/v1/sessions/current", revoked, nil, nil))

	cases := []struct {
		name    string
		token   string
		p       *payment.Payment
		stage   payment.Stage
		verdict payment.Verdict
		otp     func(*testing.T) string
		digest  string
		code    payment.Code
	}{
		{"no token", "", review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeTokenInvalid},
		{"forged token", forged, review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeTokenInvalid},
		{"expired token", expired, review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeTokenInvalid},
		{"revoked token", revoked, review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeTokenInvalid},
		{"garbage token", "not.a.token", review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeTokenInvalid},
		{"wrong role", alex.token, review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeWrongRole},
		{"wrong customer", carl.token, review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeNotFound}, // as over HTTP
		{"applicant reviews own payment", pat.token, review, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeSeparationOfDuties},
		{"not the applicant confirms", pat.token, waiting, payment.StageConfirmation, payment.VerdictApprove, pat.code, "", payment.CodeNotApplicant},
		{"reviewer authorizes", max.token, authz, payment.StageAuthorization, payment.VerdictApprove, max.code, "", payment.CodeSeparationOfDuties},
		{"over limit", alex.token, large, payment.StageAuthorization, payment.VerdictApprove, alex.code, "", payment.CodeOverLimit},
		{"content changed", lou.token, authz, payment.StageAuthorization, payment.VerdictApprove, lou.code, "0000", payment.CodeContentChanged},
		{"no OTP", lou.token, authz, payment.StageAuthorization, payment.VerdictApprove, nil, "", payment.CodeOTPRequired},
		{"wrong OTP", lou.token, authz, payment.StageAuthorization, payment.VerdictApprove, func(*testing.T) string { return "000000" }, "", payment.CodeOTPInvalid},
		{"applicant rejects at review", pat.token, review, payment.StageReview, payment.VerdictReject, nil, "", payment.CodeSeparationOfDuties},
		{"wrong state", rita.token, waiting, payment.StageReview, payment.VerdictApprove, nil, "", payment.CodeInvalidTransition},
		{"already decided", ann.token, review, payment.StageConfirmation, payment.VerdictApprove, ann.code, "", payment.CodeAlreadyDecided},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.payment(t, tc.p.ID)
			audits := e.count(`SELECT count(*) FROM audit_log WHERE event = 'decision_refused'`)
			digest := tc.digest
			if digest == "" {
				digest = tc.p.Digest()
			}
			code := ""
			if tc.otp != nil {
				code = tc.otp(t)
			}
			reason := ""
			if tc.verdict == payment.VerdictReject {
				reason = "test"
			}
			res := e.decide(t, tc.token, tc.p.ID, tc.stage, tc.verdict, code, digest, reason)
			require.Equal(t, approval.Refused, res.Outcome)
			require.Equal(t, tc.code, res.Code, res.Reason)
			require.NotEmpty(t, res.Reason)
			after := e.payment(t, tc.p.ID)
			require.Equal(t, before.State, after.State, "a refused decision changes nothing")
			require.Equal(t, before.Version, after.Version)
			require.Equal(t, audits+1, e.count(`SELECT count(*) FROM audit_log WHERE event = 'decision_refused'`), "refusals are audited")
		})
	}

	t.Run("replayed OTP", func(t *testing.T) {
		res := e.decide(t, lou.token, authz.ID, payment.StageAuthorization, payment.VerdictApprove, lou.code(t), authz.Digest(), "")
		require.Equal(t, approval.Applied, res.Outcome, res.Reason)
		// lou's code is spent: the same code again, on another payment, is a replay.
		again := e.submit(t, request("refuse-replay"))
		require.Equal(t, approval.Applied, e.decide(t, ann.token, again.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), again.Digest(), "").Outcome)
		require.Equal(t, approval.Applied, e.decide(t, rita.token, again.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), again.Digest(), "").Outcome)
		res = e.decide(t, lou.token, again.ID, payment.StageAuthorization, payment.VerdictApprove, lou.lastCode(t), again.Digest(), "")
		require.Equal(t, payment.CodeOTPReplayed, res.Code, res.Reason)
		require.Equal(t, payment.StateAwaitingAuthorization, e.payment(t, again.ID).State)
		require.Positive(t, e.count(`SELECT count(*) FROM audit_log WHERE user_id = 'lou' AND event = 'otp_replay'`))
	})

	t.Run("locked after five wrong codes", func(t *testing.T) {
		x := e.person(t, "xena", "C1", payment.RoleAuthorizer)
		p := large
		for range 5 {
			res := e.decide(t, x.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, "999999", p.Digest(), "")
			require.Equal(t, payment.CodeOTPInvalid, res.Code, res.Reason)
		}
		res := e.decide(t, x.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, x.code(t), p.Digest(), "")
		require.Equal(t, payment.CodeOTPLocked, res.Code, res.Reason)
		require.Equal(t, payment.StateAwaitingAuthorization, e.payment(t, p.ID).State)
		// Every attempt is audited, never with the code.
		require.Equal(t, 5, e.count(`SELECT count(*) FROM audit_log WHERE user_id = 'xena' AND event = 'otp_wrong'`))
		require.Zero(t, e.count(`SELECT count(*) FROM audit_log WHERE detail LIKE '%999999%'`))
	})
}

// TestTwoAuthorizers: above the customer's tier, two different
// authorizers are needed; the first one cannot count twice.
func TestTwoAuthorizers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.app.Store.ApprovalTierSet(ctx, "C1", "CNY", 100000000, 2)) // above 1,000,000.00 CNY
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	bella := e.person(t, "bella", "C1", payment.RoleAuthorizer)

	p := e.submit(t, request("two-1")) // 1,286,400.50 CNY
	require.Equal(t, 2, p.RequiredAuthorizers)
	small := request("two-small")
	small.Amount = "999.00"
	require.Equal(t, 1, e.submit(t, small).RequiredAuthorizers)

	require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), p.Digest(), "").Outcome)
	res := e.decide(t, alex.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), p.Digest(), "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	require.Equal(t, payment.StateAwaitingAuthorization, res.State, "one of two authorizations")
	task := e.task(t, "C1", payment.StageAuthorization, p.ID)
	task2 := e.task(t, "C1", payment.StageAuthorization, p.ID)
	require.ElementsMatch(t, []string{"1 of 2", "2 of 2"}, []string{task.Authorizations, task2.Authorizations})
	res = e.decide(t, alex.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), p.Digest(), "")
	require.Equal(t, payment.CodeSeparationOfDuties, res.Code, res.Reason)
	res = e.decide(t, bella.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, bella.code(t), p.Digest(), "")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	require.Equal(t, payment.StateAuthorized, res.State)
}

// TestConcurrentDecisions fires many decisions at one payment at once:
// exactly one is applied, the others are told it was already decided.
func TestConcurrentDecisions(t *testing.T) {
	e := newEnv(t)
	ann := e.enroll(t, "ann")
	p := e.submit(t, request("race-1"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)
	const n = 12
	reviewers := make([]*person, n)
	for i := range reviewers {
		reviewers[i] = e.person(t, fmt.Sprintf("rev%02d", i), "C1", payment.RoleReviewer)
	}
	results := make([]approval.Result, n)
	codes := make([]string, n) // an approval at review carries the reviewer's code
	for i := 0; i < n; i += 2 {
		codes[i] = reviewers[i].code(t)
	}
	var wg sync.WaitGroup
	for i := range reviewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			verdict, reason := payment.VerdictApprove, ""
			if i%2 == 1 {
				verdict, reason = payment.VerdictReject, "race"
			}
			results[i] = e.decide(t, reviewers[i].token, p.ID, payment.StageReview, verdict, codes[i], p.Digest(), reason)
		}()
	}
	wg.Wait()
	applied := 0
	for _, r := range results {
		if r.Outcome == approval.Applied {
			applied++
			continue
		}
		require.Equal(t, payment.CodeAlreadyDecided, r.Code, r.Reason)
	}
	require.Equal(t, 1, applied)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM decisions WHERE payment_id = $1 AND stage = 'review' AND outcome = 'applied'`, p.ID))
	require.Equal(t, 4, e.payment(t, p.ID).Version, "received, asked, confirmed, reviewed: no more")
}

// TestCancelAndExpiry: the applicant cancels before authorization (which
// frees the order), and a payment left waiting expires.
func TestCancelAndExpiry(t *testing.T) {
	e := newEnv(t)
	e.halt()
	e.expiryEvery, e.ttls = 100*time.Millisecond, map[payment.State]time.Duration{payment.StateAwaitingReview: time.Second}
	e.start()
	ann := e.enroll(t, "ann")

	p := e.submit(t, request("cancel-1"))
	res := e.decide(t, ann.token, p.ID, "", approval.Cancel, "", "", "ordered by mistake")
	require.Equal(t, approval.Applied, res.Outcome, res.Reason)
	require.Equal(t, payment.StateCancelled, res.State)
	again := request("cancel-2")
	again.OrderRef = p.OrderRef
	require.Equal(t, payment.StateAwaitingConfirmation, e.submit(t, again).State, "a cancelled payment frees its order")

	q := e.submit(t, request("expire-1"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, q.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), q.Digest(), "").Outcome)
	require.Eventually(t, func() bool { return e.payment(t, q.ID).State == payment.StateExpired }, 20*time.Second, 50*time.Millisecond)
	tl, err := e.app.Store.PaymentTimeline(context.Background(), q.ID)
	require.NoError(t, err)
	require.Equal(t, payment.ActionExpire, tl[len(tl)-1].Action)
	require.Equal(t, "expiry", tl[len(tl)-1].Actor.ID)
}

// TestUpstreamCancel: the upstream cancels with a message of its own until
// the payment is authorized; after that it is told the payment is frozen.
func TestUpstreamCancel(t *testing.T) {
	e := newEnv(t)
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	cancel := func(requestID string) {
		e.publishKey(t, "payment.cancel.v1", "cancel-"+requestID, []byte(`{"schema_version":1,"request_id":"`+requestID+`","reason":"order withdrawn"}`))
	}

	p := e.submit(t, request("ucancel-1"))
	cancel("ucancel-1")
	require.Eventually(t, func() bool { return e.payment(t, p.ID).State == payment.StateCancelled }, 20*time.Second, 20*time.Millisecond)

	q := e.submit(t, request("ucancel-2"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, q.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), q.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, rita.token, q.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), q.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, alex.token, q.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), q.Digest(), "").Outcome)
	cancel("ucancel-2")
	var refusal payment.Event
	require.Eventually(t, func() bool {
		for _, ev := range events(t, e.getAll("b2bpay.status.erp", 100, 50*time.Millisecond)) {
			if ev.RequestID == "ucancel-2" && ev.Kind == payment.EventRefused {
				refusal = ev
			}
		}
		return refusal.Kind != ""
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, payment.CodeFrozen, refusal.Code, refusal.Reason)
	require.Equal(t, payment.StateAuthorized, e.payment(t, q.ID).State)
}
