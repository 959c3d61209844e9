package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// TestPaymentExpireDue: PaymentExpireDue looks at every payment in the
// database, so its cases run one after the other with clocks in years of
// their own: long before the other tests' payments (2026), after
// TestOutbox's era (2001, whose claims must not see these messages), and
// each before the last, so a case's cutoff falls before every payment of
// the cases before it.
func TestPaymentExpireDue(t *testing.T) {
	t.Parallel()
	t.Run("WaitingLongerThanTTL", func(t *testing.T) { testExpireWaiting(t, time.Date(2011, 6, 1, 2, 0, 0, 0, time.UTC)) })
	t.Run("Limit", func(t *testing.T) { testExpireLimit(t, time.Date(2010, 6, 1, 2, 0, 0, 0, time.UTC)) })
	t.Run("Concurrent", func(t *testing.T) { testExpireConcurrent(t, time.Date(2009, 6, 1, 2, 0, 0, 0, time.UTC)) })
}

// submitToday submits a payment executed the day after the bundle's now.
func (b *bundle) submitToday(t *testing.T) *payment.Payment {
	t.Helper()
	return b.submitPayment(t, func(r *payment.Request) {
		r.ExecutionDate = b.clock.Now().AddDate(0, 0, 1).Format(payment.DateLayout)
	})
}

// expireEntries counts the expire entries in each payment's timeline.
func (b *bundle) expireEntries(t *testing.T, ids []string) map[string]int {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT payment_id::text, count(*) FROM payment_timeline
		WHERE action = 'expire' AND payment_id::text = ANY($1) GROUP BY payment_id`, ids)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		out[id] = n
	}
	require.NoError(t, rows.Err())
	return out
}

func testExpireWaiting(t *testing.T, t0 time.Time) {
	a := setupApprovalsAt(t, t0)
	ctx := t.Context()

	old := a.submitToday(t)
	confirmed := a.submitToday(t)
	a.applied(t, a.confirmation(t, confirmed))
	frozen := a.submitToday(t)
	a.forceState(t, frozen.ID, payment.StateAuthorized)
	a.clock.Advance(12 * time.Hour)
	young := a.submitToday(t)
	a.clock.Advance(13 * time.Hour) // old has waited 25 hours, young 13

	n, err := a.store.PaymentExpireDue(ctx, payment.StateAwaitingConfirmation, 24*time.Hour, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	got, tl := a.requireChain(t, old.ID)
	require.Equal(t, payment.StateExpired, got.State)
	requireTime(t, a.clock.Now(), got.UpdatedAt)
	e := tl[len(tl)-1]
	require.Equal(t, payment.Actor{Kind: payment.ActorSystem, ID: "expiry"}, e.Actor)
	require.Equal(t, payment.ActionExpire, e.Action)
	require.Equal(t, payment.StateAwaitingConfirmation, e.From)
	require.Equal(t, payment.StateExpired, e.To)
	require.Equal(t, "waited 25h0m0s in awaiting_confirmation, longer than 24h0m0s", e.Note)
	events := a.sent(t, a.upstream.ID+"/"+old.RequestID+"/3")
	require.Len(t, events, 1)
	ev := decodeEvent(t, events[0].Body)
	require.Equal(t, payment.EventStateChanged, ev.Kind)
	require.Equal(t, payment.StateExpired, ev.State)
	require.Equal(t, payment.ActionExpire, ev.Action)
	require.Len(t, a.tasksOf(t, old.ID), 1, "no task for an expired payment")

	// The young one, the one in another state and the frozen one wait on.
	require.Equal(t, payment.StateAwaitingConfirmation, a.payment(t, young.ID).State)
	require.Equal(t, payment.StateAwaitingReview, a.payment(t, confirmed.ID).State)
	require.Equal(t, payment.StateAuthorized, a.payment(t, frozen.ID).State)
	require.Equal(t, map[string]int{old.ID: 1}, a.expireEntries(t, []string{old.ID, young.ID, confirmed.ID, frozen.ID}))

	// Again: nothing left to do.
	n, err = a.store.PaymentExpireDue(ctx, payment.StateAwaitingConfirmation, 24*time.Hour, 100)
	require.NoError(t, err)
	require.Zero(t, n)

	// Each waiting state has its own TTL.
	n, err = a.store.PaymentExpireDue(ctx, payment.StateAwaitingReview, 24*time.Hour, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, _ = a.requireChain(t, confirmed.ID)
	require.Equal(t, payment.StateExpired, got.State)

	// Exactly the TTL is not longer than the TTL.
	a.clock.Set(young.UpdatedAt.Add(24 * time.Hour))
	n, err = a.store.PaymentExpireDue(ctx, payment.StateAwaitingConfirmation, 24*time.Hour, 100)
	require.NoError(t, err)
	require.Zero(t, n)
	a.clock.Advance(time.Microsecond)
	n, err = a.store.PaymentExpireDue(ctx, payment.StateAwaitingConfirmation, 24*time.Hour, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, payment.StateExpired, a.payment(t, young.ID).State)

	// A state that cannot expire is an error, and changes nothing.
	_, err = a.store.PaymentExpireDue(ctx, payment.StateAuthorized, time.Hour, 100)
	require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
	require.Equal(t, payment.StateAuthorized, a.payment(t, frozen.ID).State)
	require.Empty(t, a.expireEntries(t, []string{frozen.ID}))
}

func testExpireLimit(t *testing.T, t0 time.Time) {
	b := setupAt(t, t0)
	var ids []string
	for range 8 {
		ids = append(ids, b.submitToday(t).ID)
		b.clock.Advance(time.Minute)
	}
	b.clock.Advance(48 * time.Hour)

	n, err := b.store.PaymentExpireDue(t.Context(), payment.StateAwaitingConfirmation, 24*time.Hour, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	// The longest waiting first.
	require.Equal(t, map[string]int{ids[0]: 1, ids[1]: 1}, b.expireEntries(t, ids))

	n, err = b.store.PaymentExpireDue(t.Context(), payment.StateAwaitingConfirmation, 24*time.Hour, 100)
	require.NoError(t, err)
	require.Equal(t, 6, n, "the rest, counted")
	require.Len(t, b.expireEntries(t, ids), 8)
}

// testExpireConcurrent: several runs at once share the work and never
// expire a payment twice.
func testExpireConcurrent(t *testing.T, t0 time.Time) {
	b := setupAt(t, t0)
	const due = 30
	ids := make([]string, due)
	for i := range ids {
		ids[i] = b.submitToday(t).ID
	}
	b.clock.Advance(25 * time.Hour)

	const runners = 4
	counts := make([]int, runners)
	errs := make([]error, runners)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range runners {
		wg.Go(func() {
			<-start
			for {
				n, err := b.store.PaymentExpireDue(t.Context(), payment.StateAwaitingConfirmation, 24*time.Hour, 3)
				counts[i] += n
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()

	total := 0
	for i := range runners {
		require.NoError(t, errs[i])
		total += counts[i]
	}
	require.Equal(t, due, total, "each payment counted once")
	entries := b.expireEntries(t, ids)
	require.Len(t, entries, due)
	for id, n := range entries {
		require.Equal(t, 1, n, "payment %s expired %d times", id, n)
		got, _ := b.requireChain(t, id)
		require.Equal(t, payment.StateExpired, got.State)
	}
}

func TestPaymentCancelByUpstream(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()

	// Waiting for confirmation.
	p := a.submitPayment(t)
	got, err := a.store.PaymentCancelByUpstream(ctx, a.upstream.ID, p.RequestID, "order withdrawn")
	require.NoError(t, err)
	require.Equal(t, payment.StateCancelled, got.State)
	stored, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateCancelled, stored.State)
	require.Equal(t, got.HeadHash, stored.HeadHash)
	e := tl[len(tl)-1]
	require.Equal(t, payment.Actor{Kind: payment.ActorUpstream, ID: a.upstream.ID}, e.Actor)
	require.Equal(t, payment.ActionCancel, e.Action)
	require.Equal(t, "order withdrawn", e.Note)
	ev := decodeEvent(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/3")[0].Body)
	require.Equal(t, payment.StateCancelled, ev.State)
	require.Equal(t, "order withdrawn", ev.Reason)

	// Once cancelled, it stays so.
	_, err = a.store.PaymentCancelByUpstream(ctx, a.upstream.ID, p.RequestID, "again")
	require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))

	// Waiting for authorization: still cancellable.
	q := a.reviewed(t)
	got, err = a.store.PaymentCancelByUpstream(ctx, a.upstream.ID, q.RequestID, "order withdrawn")
	require.NoError(t, err)
	require.Equal(t, payment.StateCancelled, got.State)

	// Authorized: frozen.
	a.clock.Advance(time.Minute)
	r := a.reviewed(t)
	authorizer, seed := a.authorizer(t)
	a.applied(t, a.authorization(t, r, authorizer, seed))
	before := a.payment(t, r.ID)
	require.Equal(t, payment.StateAuthorized, before.State)
	_, err = a.store.PaymentCancelByUpstream(ctx, a.upstream.ID, r.RequestID, "too late")
	require.Equal(t, payment.CodeFrozen, payment.ErrorCode(err))
	after, _ := a.requireChain(t, r.ID)
	require.Equal(t, before, after)

	// Another upstream's request, or none: not found.
	other := setup(t)
	s := a.submitPayment(t)
	_, err = other.store.PaymentCancelByUpstream(ctx, other.upstream.ID, s.RequestID, "not mine")
	require.ErrorIs(t, err, payment.ErrNotFound)
	_, err = a.store.PaymentCancelByUpstream(ctx, a.upstream.ID, "req-none-"+a.suffix, "")
	require.ErrorIs(t, err, payment.ErrNotFound)
	require.Equal(t, payment.StateAwaitingConfirmation, a.payment(t, s.ID).State)
}
