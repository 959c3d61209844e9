package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/seal"
)

// batchOf is u's approval at stage of ps as they are now, with u's code
// now, summed up as a client would.
func (a *approvals) batchOf(t *testing.T, u payment.User, seed []byte, stage payment.Stage, ps ...*payment.Payment) approval.BatchDecision {
	t.Helper()
	bd := approval.BatchDecision{DecisionID: "batch-" + randomHex(8), Stage: stage, Verdict: payment.VerdictApprove,
		UserID: u.ID, SessionID: uuid.NewString()}
	for _, p := range ps {
		p = a.payment(t, p.ID)
		bd.Items = append(bd.Items, approval.BatchItem{PaymentID: p.ID, Digest: p.Digest(), Currency: p.Currency, AmountMinor: p.AmountMinor})
	}
	bd.OTP, _ = code(t, a.bundle, seed, 0)
	var err error
	bd.Count, bd.Totals, bd.BatchDigest, err = approval.Summarize(bd.Stage, bd.Verdict, bd.Items)
	require.NoError(t, err)
	return bd
}

func (a *approvals) applyBatch(t *testing.T, bd approval.BatchDecision) approval.BatchResult {
	t.Helper()
	res, err := a.app.ApplyBatch(t.Context(), bd)
	require.NoError(t, err)
	require.Len(t, res.Items, len(bd.Items))
	return res
}

// deadlocks is PostgreSQL's count of deadlocks in the database.
func (b *bundle) deadlocks(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
	return n
}

// A batch is stored with its digest, OTP step and MAC; each item's row
// points to it and is sealed as a single decision's, so verify checks a
// batched approval as it checks one alone, and names a tampered one.
func TestBatchDecisionStored(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ps := a.reviewedMany(t, 3)
	u, seed := a.authorizer(t)
	bd := a.batchOf(t, u, seed, payment.StageAuthorization, ps...)
	res := a.applyBatch(t, bd)
	require.Equal(t, approval.BatchApplied, res.Outcome, "%s %s", res.Code, res.Reason)

	r, err := a.store.BatchRecord(t.Context(), bd.DecisionID)
	require.NoError(t, err)
	require.NotNil(t, r)
	require.Equal(t, u.ID, r.ActorID)
	require.Equal(t, bd.BatchDigest, r.Batch.BatchDigest)
	require.Equal(t, bd.Totals, r.Batch.Totals)
	require.Equal(t, 3, r.Batch.Count)
	require.NotNil(t, r.OTPStep)
	require.Equal(t, res, r.Result)
	require.True(t, pgtest.Key.BatchSealed(approval.BatchSeal(*r), r.MAC), "the batch's MAC checks as read back")
	spoiled := *r
	spoiled.Batch.Count = 2
	require.False(t, pgtest.Key.BatchSealed(approval.BatchSeal(spoiled), r.MAC))

	for i, item := range res.Items {
		require.Equal(t, approval.Applied, item.Outcome)
		var batchID string
		var step int64
		require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT batch_id, otp_step FROM decisions WHERE id = $1`,
			approval.ItemDecisionID(bd.DecisionID, i+1)).Scan(&batchID, &step))
		require.Equal(t, bd.DecisionID, batchID)
		require.Equal(t, *r.OTPStep, step, "every item carries the batch's one step")
		require.Empty(t, a.verifyPayment(t, item.PaymentID), "a batched approval verifies as one alone")
	}

	// The same batch again: its first result, nothing written twice.
	a.clock.Advance(31 * time.Second)
	require.Equal(t, res, a.applyBatch(t, bd))
	require.Equal(t, 3, a.countDecisions(t, ps[0].ID, approval.Applied), "confirmation, review, one authorization")

	// Another batch with the same step: a replay.
	more := a.reviewed(t)
	again := a.batchOf(t, u, seed, payment.StageAuthorization, more)
	again.OTP = bd.OTP // the previous step's code, still in the window
	rep := a.applyBatch(t, again)
	require.Equal(t, payment.CodeOTPReplayed, rep.Code, rep.Reason)

	// A batched item's decision tampered with (its actor): verify names it.
	other := a.newUser(t, payment.RoleAuthorizer)
	superuser(t, a.pool, func(ctx context.Context, exec func(string, ...any)) {
		exec(`UPDATE decisions SET actor_id = $2 WHERE id = $1`, approval.ItemDecisionID(bd.DecisionID, 2), other.ID)
	})
	problems := a.verifyPayment(t, res.Items[1].PaymentID)
	require.NotEmpty(t, problems)
	require.Contains(t, seal.Kinds(problems), seal.ActorSwapped, seal.Summary(problems))
	require.Empty(t, a.verifyPayment(t, res.Items[0].PaymentID), "the batch's other items are untouched")
}

// Races: two people batching overlapping sets, a batch racing single
// decisions, the same batch sent twice, an item cancelled mid-batch. Each
// payment moves at most once per stage, every item gets one outcome, and
// PostgreSQL counts no deadlock.
func TestBatchDecisionRaces(t *testing.T) {
	t.Parallel()
	a := setupApprovalsOwnDB(t, baseTime)
	before := a.deadlocks(t)
	ps := a.reviewedMany(t, 16)

	u1, s1 := a.authorizer(t)
	u2, s2 := a.authorizer(t)
	u3, s3 := a.authorizer(t)
	overlapA := a.batchOf(t, u1, s1, payment.StageAuthorization, ps[0:6]...)
	overlapB := a.batchOf(t, u2, s2, payment.StageAuthorization, ps[3:9]...)
	racing := a.batchOf(t, u3, s3, payment.StageAuthorization, ps[9:14]...)
	var singles []approval.Decision
	for _, p := range ps[9:14] {
		u, seed := a.authorizer(t)
		singles = append(singles, a.authorization(t, p, u, seed))
	}
	u4, s4 := a.authorizer(t)
	twice := a.batchOf(t, u4, s4, payment.StageAuthorization, ps[14])
	u5, s5 := a.authorizer(t)
	withCancel := a.batchOf(t, u5, s5, payment.StageAuthorization, ps[15])
	cancel := a.decision(ps[15], a.applicant, "", approval.Cancel)
	cancel.Reason = "ordered twice"

	var wg sync.WaitGroup
	batches := []approval.BatchDecision{overlapA, overlapB, racing, twice, twice, withCancel}
	results := make([]approval.BatchResult, len(batches))
	errs := make([]error, len(batches)+len(singles)+1)
	singleResults := make([]approval.Result, len(singles)+1)
	start := make(chan struct{})
	for i, bd := range batches {
		wg.Go(func() {
			<-start
			results[i], errs[i] = a.app.ApplyBatch(t.Context(), bd)
		})
	}
	for i, d := range append(singles, cancel) {
		wg.Go(func() {
			<-start
			singleResults[i], errs[len(batches)+i] = a.app.Apply(t.Context(), d)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	for i, res := range results {
		require.Len(t, res.Items, len(batches[i].Items), "every item gets one outcome")
		for _, it := range res.Items {
			if it.Outcome == approval.Refused {
				require.Contains(t, []payment.Code{payment.CodeAlreadyDecided, payment.CodeInvalidTransition}, it.Code, it.Reason)
			}
		}
	}
	require.Equal(t, results[3], results[4], "the same batch twice: one result")

	for _, p := range ps {
		got, tl := a.requireChain(t, p.ID)
		var auths int
		require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT count(*) FROM decisions WHERE payment_id = $1 AND outcome = 'applied'
			AND stage = 'authorization'`, p.ID).Scan(&auths))
		if p.ID == ps[15].ID && got.State == payment.StateCancelled {
			require.Zero(t, auths, "cancelled, never authorized")
			continue
		}
		require.Equal(t, payment.StateAuthorized, got.State, p.ID)
		require.Equal(t, 1, auths, "authorized exactly once: %s", p.ID)
		require.Len(t, tl, 5)
	}
	var rows int
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT count(*) FROM decision_batches WHERE id = $1`, twice.DecisionID).Scan(&rows))
	require.Equal(t, 1, rows)
	require.Equal(t, before, a.deadlocks(t), "no deadlock")
}

// A batch racing the expiry job: each payment is authorized or expired,
// never both, and every item gets one outcome.
func TestBatchDecisionRacesExpiry(t *testing.T) {
	t.Parallel()
	a := setupApprovalsOwnDB(t, baseTime)
	before := a.deadlocks(t)
	ps := a.reviewedMany(t, 6)
	u, seed := a.authorizer(t)
	bd := a.batchOf(t, u, seed, payment.StageAuthorization, ps...)
	a.clock.Advance(time.Second)
	var res approval.BatchResult
	var expired int
	var batchErr, expireErr error
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; res, batchErr = a.app.ApplyBatch(t.Context(), bd) })
	wg.Go(func() {
		<-start
		expired, expireErr = a.store.PaymentExpireDue(t.Context(), payment.StateAwaitingAuthorization, 0, 100)
	})
	close(start)
	wg.Wait()
	require.NoError(t, batchErr)
	require.NoError(t, expireErr)
	require.Len(t, res.Items, len(ps))
	require.Equal(t, len(ps), res.Applied+expired, "each payment moved once: by the batch or by the expiry")
	for _, it := range res.Items {
		got, tl := a.requireChain(t, it.PaymentID)
		require.Len(t, tl, 5)
		if it.Outcome == approval.Applied {
			require.Equal(t, payment.StateAuthorized, got.State)
		} else {
			require.Equal(t, payment.StateExpired, got.State)
			require.Contains(t, []payment.Code{payment.CodeAlreadyDecided, payment.CodeInvalidTransition}, it.Code, it.Reason)
		}
	}
	require.Equal(t, before, a.deadlocks(t), "no deadlock")
}
