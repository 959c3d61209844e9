package postgres_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
)

// One batch decides each submission in order, seeing what the batch itself
// decided before it: a repeated request id, a reused idempotency key and a
// taken order reference are answered exactly as if they came one by one.
func TestIntakeSubmitManyInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	a := b.request()
	changed := a
	changed.Amount = "1.00"
	sameOrder := b.request(func(r *payment.Request) { r.OrderRef = a.OrderRef })
	usd := b.request(func(r *payment.Request) { r.Currency = "USD" })
	other := b.request()
	subs := []postgres.Submission{
		b.submission(t, a), b.submission(t, a), b.submission(t, changed),
		b.submission(t, sameOrder), b.submission(t, usd), b.submission(t, other),
	}
	outs, err := b.store.IntakeSubmitMany(ctx, subs)
	require.NoError(t, err)
	require.Len(t, outs, len(subs))

	require.NotNil(t, outs[0].Payment)
	require.Equal(t, payment.EventAccepted, outs[0].Answer.Kind)
	require.True(t, outs[1].Duplicate)
	require.Equal(t, outs[0].Answer.ID, outs[1].Answer.ID)
	require.Equal(t, outs[0].Payment.ID, outs[1].Answer.PaymentID)
	require.True(t, outs[2].Conflict)
	require.Equal(t, payment.CodeIdempotencyConflict, outs[2].Answer.Code)
	require.Equal(t, payment.CodeOrderInUse, outs[3].Answer.Code)
	require.Nil(t, outs[3].Payment)
	require.Equal(t, payment.EventRefused, outs[4].Answer.Kind)
	require.Nil(t, outs[4].Payment)
	require.NotNil(t, outs[5].Payment)

	require.Equal(t, 1, b.countPayments(t, a.OrderRef))
	require.Equal(t, 1, b.countPayments(t, other.OrderRef))
	require.Equal(t, "accepted", b.ledger(t, a.RequestID).Outcome)
	require.Equal(t, "refused", b.ledger(t, sameOrder.RequestID).Outcome)
	require.Equal(t, "refused", b.ledger(t, usd.RequestID).Outcome)
	p, err := b.store.PaymentGetByID(ctx, outs[0].Payment.ID)
	require.NoError(t, err)
	require.Equal(t, int64(128640050), p.AmountMinor, "the first request stands")
	tl, err := b.store.PaymentTimeline(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, tl, 2)
	seq, why := payment.VerifyChain(tl, p.HeadHash)
	require.Zero(t, seq, why)

	// Answers in order: accepted, its repeat, the conflict, two refusals,
	// accepted; a dead letter per refusal (this store sends no tasks).
	rows := b.outboxRows(t)
	answers := byExchange(rows, "b2bpay.events")
	require.Len(t, answers, 6)
	for i, o := range outs {
		require.Equal(t, o.Answer.ID, answers[i].MessageID, "answer %d", i)
	}
	require.Len(t, byExchange(rows, "b2bpay.dlx"), 3)
	require.Len(t, rows, 9)
}

// A batch is stored whole or not at all.
func TestIntakeSubmitManyAllOrNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := b.submission(t, b.request())
	bad := b.submission(t, b.request())
	bad.Upstream.ID = "unregistered-" + b.suffix
	_, err := b.store.IntakeSubmitMany(t.Context(), []postgres.Submission{good, bad})
	require.ErrorIs(t, err, payment.ErrNotFound)
	require.Equal(t, 0, b.countPayments(t, good.Request.OrderRef))
	require.Empty(t, b.outboxRows(t))
}

// Batches that overlap, submitted at once by several workers (as after a
// redelivery), make one payment per request and one answer id per request.
func TestIntakeSubmitManyConcurrentOverlap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const n, workers = 40, 4
	subs := make([]postgres.Submission, n)
	for i := range subs {
		subs[i] = b.submission(t, b.request())
	}
	answers := make([][]postgres.Outcome, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		mine := append([]postgres.Submission(nil), subs...)
		rand.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
		wg.Go(func() {
			<-start
			outs, err := b.store.IntakeSubmitMany(ctx, mine)
			errs[w] = err
			byReq := make([]postgres.Outcome, n)
			for i, o := range outs {
				for k := range subs {
					if subs[k].Request.RequestID == mine[i].Request.RequestID {
						byReq[k] = o
					}
				}
			}
			answers[w] = byReq
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for w := range workers {
		require.NoError(t, errs[w])
		for k := range subs {
			o := answers[w][k]
			require.Equal(t, payment.EventAccepted, o.Answer.Kind)
			require.Equal(t, answers[0][k].Answer.PaymentID, o.Answer.PaymentID)
			if o.Payment != nil {
				created++
			}
		}
	}
	require.Equal(t, n, created, "each request made its payment once")
	var payments int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE upstream_id = $1`, b.upstream.ID).Scan(&payments))
	require.Equal(t, n, payments)
}
