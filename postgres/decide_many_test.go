package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// reviewedMany makes n payments waiting for authorization, moving the
// clock a step on between the applicant's confirmations (one code a step).
func (a *approvals) reviewedMany(t *testing.T, n int) []*payment.Payment {
	t.Helper()
	out := make([]*payment.Payment, n)
	for i := range out {
		out[i] = a.reviewed(t)
		a.clock.Advance(31 * time.Second)
	}
	return out
}

// shape is a timeline entry without what differs between payments.
type shape struct {
	Actor    payment.ActorKind
	Action   payment.Action
	From, To payment.State
}

func shapes(tl []payment.Entry) []shape {
	out := make([]shape, len(tl))
	for i, e := range tl {
		out[i] = shape{e.Actor.Kind, e.Action, e.From, e.To}
	}
	return out
}

// A batch of good decisions is applied as Apply applies each alone: the
// same states, timelines, decision rows, audit entries, OTP steps,
// events, tasks and results.
func TestDecisionApplyManyApplies(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	ps := a.reviewedMany(t, 4)

	// The last one the single way, to compare.
	u, seed := a.authorizer(t)
	single := a.authorization(t, ps[3], u, seed)
	a.applied(t, single)

	var rs []approval.Decision
	for _, p := range ps[:3] {
		u, seed := a.authorizer(t)
		rs = append(rs, a.authorization(t, p, u, seed))
	}
	results, err := a.app.ApplyMany(ctx, rs)
	require.NoError(t, err)
	require.Len(t, results, len(rs))
	_, want := a.requireChain(t, ps[3].ID)
	for i, r := range rs {
		res := results[i]
		require.Equal(t, approval.Applied, res.Outcome)
		require.Equal(t, payment.StateAuthorized, res.State)
		require.Equal(t, r.DecisionID, res.DecisionID)
		p, tl := a.requireChain(t, r.PaymentID)
		require.Equal(t, payment.StateAuthorized, p.State)
		require.Equal(t, shapes(want), shapes(tl), "the same timeline as one at a time")
		require.Equal(t, r.UserID, tl[len(tl)-1].Actor.ID)
		require.Equal(t, res, a.result(t, r), "the result went to the reply queue")
		d := a.decisionRow(t, r.DecisionID)
		require.Equal(t, approval.Applied, d.Outcome)
		require.Equal(t, r.UserID, *d.ActorID)
		require.Equal(t, r.SessionID, *d.SessionID)
		require.NotNil(t, d.OTPStep, "the OTP step is kept")
		require.Equal(t, 3, a.countDecisions(t, r.PaymentID, approval.Applied))
		_, _, last := a.otpState(t, r.UserID)
		require.Equal(t, *d.OTPStep, last, "the code is used up")
	}
	var audits int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE payment_id = ANY($1::uuid[])
		AND (event = 'otp_ok' AND detail LIKE 'purpose=authorization %' OR event = 'decision_applied' AND detail LIKE 'authorization %')`, []string{ps[0].ID, ps[1].ID, ps[2].ID}).Scan(&audits))
	require.Equal(t, 3*2, audits, "otp_ok and decision_applied for each authorization")
}

// What a single decision would refuse or treat specially gets, in a
// batch, what it would get alone (a refusal recorded, counted and audited,
// a repeat's first result, a cancel applied), and blocks none of the
// others: a second decision on a payment sees the first.
func TestDecisionApplyManyDecidesEach(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	ps := a.reviewedMany(t, 4)
	good, goodSeed := a.authorizer(t)
	wrong, _ := a.authorizer(t)
	other, otherSeed := a.authorizer(t)
	earlier, earlierSeed := a.authorizer(t)

	repeated := a.authorization(t, ps[3], earlier, earlierSeed)
	first := a.applied(t, repeated)

	badCode := a.decision(ps[1], wrong, payment.StageAuthorization, payment.VerdictApprove)
	badCode.OTP = "000000"
	notAnAuthorizer := a.decision(ps[2], a.applicant, payment.StageAuthorization, payment.VerdictApprove)
	notAnAuthorizer.OTP, _ = code(t, a.bundle, a.applicantSeed, 0)
	rs := []approval.Decision{
		a.authorization(t, ps[0], good, goodSeed), // applied
		badCode,         // a wrong code
		notAnAuthorizer, // the applicant: wrong role
		a.authorization(t, ps[0], other, otherSeed), // a second decision on ps[0] in the batch
		repeated, // a decision id already applied
		a.decision(ps[2], a.applicant, "", approval.Cancel), // a cancel
	}
	results, err := a.app.ApplyMany(ctx, rs)
	require.NoError(t, err)
	require.Len(t, results, len(rs))
	require.Equal(t, approval.Applied, results[0].Outcome)
	require.Equal(t, payment.StateAuthorized, a.payment(t, ps[0].ID).State)
	require.Equal(t, payment.StateAwaitingAuthorization, a.payment(t, ps[1].ID).State, "a wrong code moves nothing")

	want := map[int]payment.Code{1: payment.CodeOTPInvalid, 2: payment.CodeWrongRole, 3: payment.CodeAlreadyDecided, 4: "", 5: ""}
	for i := 1; i < len(rs); i++ {
		require.Equal(t, want[i], results[i].Code, "decision %d: %s", i, results[i].Reason)
		require.Equal(t, results[i], a.result(t, rs[i]), "decision %d: the result went to the reply queue", i)
	}
	require.Equal(t, first.At, results[4].At, "a repeat gets its first result")
	require.Equal(t, approval.Applied, results[4].Outcome)
	require.Equal(t, payment.StateCancelled, a.payment(t, ps[2].ID).State)
	for _, i := range []int{1, 2, 3} {
		d := a.decisionRow(t, rs[i].DecisionID)
		require.Equal(t, approval.Refused, d.Outcome, "decision %d: the refusal is recorded", i)
	}
	failures, _, last := a.otpState(t, wrong.ID)
	require.Equal(t, 1, failures, "counted once")
	require.Zero(t, last)
	require.Len(t, a.auditOf(t, wrong.ID, "otp_wrong"), 1)
	require.Equal(t, 1, a.countDecisions(t, ps[0].ID, approval.Refused), "ps[0]: the second decision refused, once")
}

// The same batch redelivered to several workers at once: each decision is
// applied once, and every worker gets the same result for it.
func TestDecisionApplyManyConcurrentRedelivery(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	ps := a.reviewedMany(t, 3)
	var rs []approval.Decision
	for _, p := range ps {
		u, seed := a.authorizer(t)
		rs = append(rs, a.authorization(t, p, u, seed))
	}
	const workers = 4
	got := make([][]approval.Result, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			got[w], errs[w] = a.app.ApplyMany(ctx, rs)
		})
	}
	close(start)
	wg.Wait()
	for w := range workers {
		require.NoError(t, errs[w])
		for i, r := range rs {
			require.Equal(t, approval.Applied, got[w][i].Outcome, "worker %d, decision %d: %s", w, i, got[w][i].Code)
			require.Equal(t, got[0][i].At, got[w][i].At, "the first result, every time")
			require.Equal(t, 3, a.countDecisions(t, r.PaymentID, approval.Applied))
			_, tl := a.requireChain(t, r.PaymentID)
			authorized := 0
			for _, e := range tl {
				if e.To == payment.StateAuthorized {
					authorized++
				}
			}
			require.Equal(t, 1, authorized, "authorized once")
		}
	}
}

// One person deciding several payments at once, with one code: the
// decisions run one after the other (no deadlock to retry), one is applied
// and the others are refused as replays, whichever path they take.
func TestDecisionSamePersonConcurrent(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	ps := a.reviewedMany(t, 6)
	u, seed := a.authorizer(t)
	var rs []approval.Decision
	for _, p := range ps {
		rs = append(rs, a.authorization(t, p, u, seed))
	}
	results := make([]approval.Result, len(rs))
	errs := make([]error, len(rs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range rs {
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				results[i], errs[i] = a.app.Apply(ctx, rs[i])
				return
			}
			res, err := a.app.ApplyMany(ctx, rs[i:i+1])
			if err == nil {
				results[i] = res[0]
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	applied := 0
	for i := range rs {
		require.NoError(t, errs[i])
		if results[i].Outcome == approval.Applied {
			applied++
			continue
		}
		require.Equal(t, payment.CodeOTPReplayed, results[i].Code, results[i].Reason)
	}
	require.Equal(t, 1, applied)
}
