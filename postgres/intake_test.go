package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
)

func TestIntakeSubmitAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	now := b.clock.Now()

	// The largest amount accepted survives the trip exactly.
	r := b.request(func(r *payment.Request) { r.Amount = "9999999999999.99" })
	sub := b.submission(t, r)
	require.Equal(t, payment.MaxAmountMinor, sub.Request.AmountMinor)
	out, err := b.store.IntakeSubmit(ctx, sub)
	require.NoError(t, err)
	require.False(t, out.Duplicate)
	require.False(t, out.Conflict)
	require.NotNil(t, out.Payment)

	ans := out.Answer
	require.Equal(t, payment.EventAccepted, ans.Kind)
	require.Equal(t, b.upstream.ID+"/"+r.RequestID+"/answer", ans.ID)
	require.Equal(t, out.Payment.ID, ans.PaymentID)
	require.Equal(t, payment.StateAwaitingConfirmation, ans.State)
	require.Equal(t, r.OrderRef, ans.OrderRef)
	requireTime(t, now, ans.At)

	p, err := b.store.PaymentGetByID(ctx, out.Payment.ID)
	require.NoError(t, err)
	require.Equal(t, payment.StateAwaitingConfirmation, p.State)
	require.Equal(t, 2, p.Version)
	require.Equal(t, int64(999_999_999_999_999), p.AmountMinor)
	require.Equal(t, "CNY", p.Currency)
	require.Equal(t, b.upstream.ID, p.UpstreamID)
	require.Equal(t, r.RequestID, p.RequestID)
	require.Equal(t, r.OrderRef, p.OrderRef)
	require.Equal(t, b.customer.ID, p.CustomerID)
	require.Equal(t, b.applicant.ID, p.ApplicantID)
	require.Equal(t, b.bank.ID, p.BankID)
	require.Equal(t, b.account.Number, p.DebtorAccount)
	require.Equal(t, r.Creditor, p.Creditor)
	require.Equal(t, r.Remittance, p.Remittance)
	requireTime(t, time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC), p.ExecutionDate)
	requireTime(t, now, p.CreatedAt)
	requireTime(t, now, p.UpdatedAt)

	byReq, err := b.store.PaymentGetByRequest(ctx, b.upstream.ID, r.RequestID)
	require.NoError(t, err)
	require.Equal(t, p.ID, byReq.ID)

	tl, err := b.store.PaymentTimeline(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, tl, 2)
	require.Equal(t, 1, tl[0].Seq)
	require.Equal(t, payment.ActionReceive, tl[0].Action)
	require.Equal(t, payment.Actor{Kind: payment.ActorUpstream, ID: b.upstream.ID}, tl[0].Actor)
	require.Equal(t, payment.StateNone, tl[0].From)
	require.Equal(t, payment.StateReceived, tl[0].To)
	require.Equal(t, 2, tl[1].Seq)
	require.Equal(t, payment.ActionRequestConfirmation, tl[1].Action)
	require.Equal(t, payment.ActorSystem, tl[1].Actor.Kind)
	require.Equal(t, payment.StateReceived, tl[1].From)
	require.Equal(t, payment.StateAwaitingConfirmation, tl[1].To)
	for _, e := range tl {
		require.Equal(t, p.ID, e.PaymentID)
		requireTime(t, now, e.At)
	}

	l := b.ledger(t, r.RequestID)
	require.Equal(t, "accepted", l.Outcome)
	require.Equal(t, "", l.Code)
	require.Equal(t, sub.BodySHA256[:], l.BodySHA256)
	require.NotNil(t, l.PaymentID)
	require.Equal(t, p.ID, *l.PaymentID)
	require.Equal(t, ans.ID, l.Answer.ID)

	rows := b.outboxRows(t)
	require.Len(t, rows, 1)
	m := rows[0]
	require.Equal(t, ans.ID, m.MessageID)
	require.Equal(t, "b2bpay.events", m.Exchange)
	require.Equal(t, "payment."+b.upstream.ID+".accepted", m.RoutingKey)
	require.Equal(t, "application/json", m.ContentType)
	require.Nil(t, m.SentAt)
	requireTime(t, now, m.AvailableAt)
	ev := decodeEvent(t, m.Body)
	require.Equal(t, p.ID, ev.PaymentID)
	require.Equal(t, payment.EventAccepted, ev.Kind)

	counts, err := b.store.PaymentCountByState(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, counts[payment.StateAwaitingConfirmation], 1)
}

func TestIntakeSubmitDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r := b.request()
	sub := b.submission(t, r)

	var outs []postgres.Outcome
	for range 3 {
		out, err := b.store.IntakeSubmit(ctx, sub)
		require.NoError(t, err)
		outs = append(outs, out)
		b.clock.Advance(time.Minute) // a redelivery comes later; the answer does not change
	}
	require.False(t, outs[0].Duplicate)
	require.NotNil(t, outs[0].Payment)
	for _, o := range outs[1:] {
		require.True(t, o.Duplicate)
		require.False(t, o.Conflict)
		require.Nil(t, o.Payment)
		require.Equal(t, outs[0].Answer.ID, o.Answer.ID)
		require.Equal(t, outs[0].Answer.PaymentID, o.Answer.PaymentID)
		require.Equal(t, outs[0].Answer.Kind, o.Answer.Kind)
		requireTime(t, outs[0].Answer.At, o.Answer.At)
	}
	require.Equal(t, 1, b.countPayments(t, r.OrderRef))

	rows := b.outboxRows(t)
	require.Len(t, rows, 3)
	for _, m := range rows {
		require.Equal(t, "b2bpay.events", m.Exchange)
		require.Equal(t, outs[0].Answer.ID, m.MessageID)
		require.Equal(t, outs[0].Payment.ID, decodeEvent(t, m.Body).PaymentID)
	}
}

func TestIntakeSubmitIdempotencyConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r := b.request()
	first, err := b.store.IntakeSubmit(ctx, b.submission(t, r))
	require.NoError(t, err)
	require.NotNil(t, first.Payment)

	// Same request id, different content (another amount), sent twice.
	changed := r
	changed.Amount = "1.00"
	for i := range 2 {
		sub := b.submission(t, changed)
		out, err := b.store.IntakeSubmit(ctx, sub)
		require.NoError(t, err)
		require.True(t, out.Conflict, "attempt %d", i)
		require.False(t, out.Duplicate)
		require.Nil(t, out.Payment)
		require.Equal(t, payment.EventRefused, out.Answer.Kind)
		require.Equal(t, payment.CodeIdempotencyConflict, out.Answer.Code)
		require.NotEqual(t, first.Answer.ID, out.Answer.ID)
	}

	p, err := b.store.PaymentGetByID(ctx, first.Payment.ID)
	require.NoError(t, err)
	require.Equal(t, int64(128640050), p.AmountMinor)
	require.Equal(t, 2, p.Version)
	require.Equal(t, payment.StateAwaitingConfirmation, p.State)
	require.Equal(t, 1, b.countPayments(t, r.OrderRef))
	l := b.ledger(t, r.RequestID)
	require.Equal(t, "accepted", l.Outcome)
	require.Equal(t, p.ID, *l.PaymentID)

	rows := b.outboxRows(t)
	dead := byExchange(rows, "b2bpay.dlx")
	require.Len(t, dead, 1, "one dead-letter copy however often the conflict comes")
	require.Equal(t, string(payment.CodeIdempotencyConflict), dead[0].Headers[route.HeaderReasonCode])
	answers := byExchange(rows, "b2bpay.events")
	require.Len(t, answers, 3) // accepted, then a refusal answer per conflicting copy
	require.Equal(t, first.Answer.ID, answers[0].MessageID)
	require.Equal(t, answers[1].MessageID, answers[2].MessageID)
	require.Equal(t, "payment."+b.upstream.ID+".refused", answers[1].RoutingKey)

	var rejects int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM intake_rejects WHERE upstream_id = $1`, b.upstream.ID).Scan(&rejects))
	require.Equal(t, 1, rejects)
}

func TestIntakeSubmitRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// prepare changes the registry or the request so a rule fails.
		prepare func(t *testing.T, b *bundle, r *payment.Request)
		code    payment.Code
	}{
		{"upstream disabled", func(t *testing.T, b *bundle, r *payment.Request) {
			_, err := b.pool.Exec(t.Context(), `UPDATE upstreams SET active = false WHERE id = $1`, b.upstream.ID)
			require.NoError(t, err)
		}, payment.CodeUnauthenticated},
		{"customer not enabled", func(t *testing.T, b *bundle, r *payment.Request) {
			require.NoError(t, b.store.CustomerSetOnline(t.Context(), b.customer.ID, false))
		}, payment.CodeCustomerNotEnabled},
		{"unknown customer", func(t *testing.T, b *bundle, r *payment.Request) {
			r.CustomerID = "nobody-" + b.suffix
		}, payment.CodeUnknownCustomer},
		{"upstream not serving customer", func(t *testing.T, b *bundle, r *payment.Request) {
			other := payment.Customer{ID: "other-" + b.suffix, Name: "Other", OnlinePayment: true, Active: true}
			require.NoError(t, b.store.CustomerCreate(t.Context(), other))
			r.CustomerID = other.ID
		}, payment.CodeUpstreamNotPermitted},
		{"unknown bank", func(t *testing.T, b *bundle, r *payment.Request) {
			r.BankID = randomDigits(12)
		}, payment.CodeUnknownBank},
		{"bank not B2B", func(t *testing.T, b *bundle, r *payment.Request) {
			bank := payment.Bank{ID: randomDigits(12), Name: "Counter-only bank"}
			require.NoError(t, b.store.BankCreate(t.Context(), bank))
			require.NoError(t, b.store.AccountCreate(t.Context(), payment.Account{Number: b.account.Number,
				BankID: bank.ID, CustomerID: b.customer.ID, Currency: "CNY", Active: true}))
			r.BankID = bank.ID
		}, payment.CodeBankNotB2B},
		{"unknown account", func(t *testing.T, b *bundle, r *payment.Request) {
			r.DebtorAccount = "9" + randomDigits(15)
		}, payment.CodeUnknownAccount},
		{"currency mismatch", func(t *testing.T, b *bundle, r *payment.Request) {
			r.Currency = "USD"
		}, payment.CodeCurrencyMismatch},
		{"unknown applicant", func(t *testing.T, b *bundle, r *payment.Request) {
			r.Applicant = "ghost-" + b.suffix
		}, payment.CodeUnknownApplicant},
		{"applicant without the applicant role", func(t *testing.T, b *bundle, r *payment.Request) {
			u := payment.User{ID: "rev-" + b.suffix, CustomerID: b.customer.ID, Name: "Reviewer",
				Roles: []payment.Role{payment.RoleReviewer}, Active: true}
			require.NoError(t, b.store.UserCreate(t.Context(), u))
			r.Applicant = u.ID
		}, payment.CodeApplicantNotAllowed},
		{"execution date already past in Shanghai", func(t *testing.T, b *bundle, r *payment.Request) {
			// 17:00 UTC on the 10th is 01:00 on the 11th in Shanghai.
			b.clock.Set(time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC))
			r.ExecutionDate = "2026-03-10"
		}, payment.CodeInvalidDate},
		{"order held by another request", func(t *testing.T, b *bundle, r *payment.Request) {
			holder := b.request(func(h *payment.Request) { h.OrderRef = r.OrderRef })
			out, err := b.store.IntakeSubmit(t.Context(), b.submission(t, holder))
			require.NoError(t, err)
			require.NotNil(t, out.Payment)
		}, payment.CodeOrderInUse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := t.Context()
			r := b.request()
			tc.prepare(t, b, &r)
			held := b.countPayments(t, r.OrderRef)
			before := len(b.outboxRows(t))

			sub := b.submission(t, r)
			out, err := b.store.IntakeSubmit(ctx, sub)
			require.NoError(t, err)
			require.Nil(t, out.Payment)
			require.False(t, out.Duplicate)
			require.False(t, out.Conflict)
			require.Equal(t, payment.EventRefused, out.Answer.Kind)
			require.Equal(t, tc.code, out.Answer.Code, "reason: %s", out.Answer.Reason)
			require.Equal(t, sub.MessageID, out.Answer.MessageID)
			require.NotEmpty(t, out.Answer.Reason)

			l := b.ledger(t, r.RequestID)
			require.Equal(t, "refused", l.Outcome)
			require.Equal(t, string(tc.code), l.Code)
			require.Nil(t, l.PaymentID)

			_, err = b.store.PaymentGetByRequest(ctx, b.upstream.ID, r.RequestID)
			require.ErrorIs(t, err, payment.ErrNotFound)
			require.Equal(t, held, b.countPayments(t, r.OrderRef))

			rows := b.outboxRows(t)[before:]
			require.Len(t, rows, 2)
			answers := byExchange(rows, "b2bpay.events")
			require.Len(t, answers, 1)
			require.Equal(t, out.Answer.ID, answers[0].MessageID)
			require.Equal(t, "payment."+b.upstream.ID+".refused", answers[0].RoutingKey)
			require.Equal(t, tc.code, decodeEvent(t, answers[0].Body).Code)
			dead := byExchange(rows, "b2bpay.dlx")
			require.Len(t, dead, 1)
			require.Equal(t, "dead/"+sub.MessageID, dead[0].MessageID) // route.DeadLetter names the copy
			require.Equal(t, string(tc.code), dead[0].Headers[route.HeaderReasonCode])
			require.Equal(t, out.Answer.Reason, dead[0].Headers[route.HeaderReason])
		})
	}
}

func TestIntakeSubmitRefusedRepeat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	sub := b.submission(t, b.request(func(r *payment.Request) { r.Currency = "USD" }))

	first, err := b.store.IntakeSubmit(ctx, sub)
	require.NoError(t, err)
	require.Equal(t, payment.CodeCurrencyMismatch, first.Answer.Code)
	again, err := b.store.IntakeSubmit(ctx, sub)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Answer.ID, again.Answer.ID)
	require.Equal(t, payment.CodeCurrencyMismatch, again.Answer.Code)

	// The answer is sent again; the dead-letter copy is not.
	rows := b.outboxRows(t)
	require.Len(t, byExchange(rows, "b2bpay.dlx"), 1)
	require.Len(t, byExchange(rows, "b2bpay.events"), 2)
}

func TestIntakeSubmitOrderFreedByCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r1 := b.request()
	first, err := b.store.IntakeSubmit(ctx, b.submission(t, r1))
	require.NoError(t, err)
	require.NotNil(t, first.Payment)

	_, err = b.pool.Exec(ctx, `UPDATE payments SET state = 'cancelled' WHERE id = $1`, first.Payment.ID)
	require.NoError(t, err)

	r2 := b.request(func(r *payment.Request) { r.OrderRef = r1.OrderRef })
	second, err := b.store.IntakeSubmit(ctx, b.submission(t, r2))
	require.NoError(t, err)
	require.NotNil(t, second.Payment, "refused: %s", second.Answer.Reason)
	require.Equal(t, payment.EventAccepted, second.Answer.Kind)
	require.NotEqual(t, first.Payment.ID, second.Payment.ID)
	require.Equal(t, 2, b.countPayments(t, r1.OrderRef))

	// The new payment holds the order again.
	r3 := b.request(func(r *payment.Request) { r.OrderRef = r1.OrderRef })
	third, err := b.store.IntakeSubmit(ctx, b.submission(t, r3))
	require.NoError(t, err)
	require.Equal(t, payment.CodeOrderInUse, third.Answer.Code)
}

func TestIntakeSubmitConcurrentSameRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r := b.request()
	sub := b.submission(t, r)

	const n = 20
	outs := make([]postgres.Outcome, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			outs[i], errs[i] = b.store.IntakeSubmit(ctx, sub)
		})
	}
	close(start)
	wg.Wait()

	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, payment.EventAccepted, outs[i].Answer.Kind)
		require.NotEmpty(t, outs[i].Answer.PaymentID)
		require.Equal(t, outs[0].Answer.PaymentID, outs[i].Answer.PaymentID)
		require.Equal(t, outs[0].Answer.ID, outs[i].Answer.ID)
		if outs[i].Payment != nil {
			created++
			require.False(t, outs[i].Duplicate)
		} else {
			require.True(t, outs[i].Duplicate)
		}
	}
	require.Equal(t, 1, created)
	require.Equal(t, 1, b.countPayments(t, r.OrderRef))
	rows := b.outboxRows(t)
	require.Len(t, rows, n)
	for _, m := range rows {
		require.Equal(t, outs[0].Answer.ID, m.MessageID)
	}
}

func TestIntakeSubmitConcurrentSameOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	order := "PO-" + randomHex(6)

	const n = 20
	subs := make([]postgres.Submission, n)
	for i := range subs {
		subs[i] = b.submission(t, b.request(func(r *payment.Request) { r.OrderRef = order }))
	}
	outs := make([]postgres.Outcome, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			outs[i], errs[i] = b.store.IntakeSubmit(ctx, subs[i])
		})
	}
	close(start)
	wg.Wait()

	accepted := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.False(t, outs[i].Duplicate)
		if outs[i].Answer.Kind == payment.EventAccepted {
			accepted++
			require.NotNil(t, outs[i].Payment)
			continue
		}
		require.Equal(t, payment.CodeOrderInUse, outs[i].Answer.Code, "reason: %s", outs[i].Answer.Reason)
		require.Equal(t, "refused", b.ledger(t, subs[i].Request.RequestID).Outcome)
	}
	require.Equal(t, 1, accepted)
	require.Equal(t, 1, b.countPayments(t, order))
	rows := b.outboxRows(t)
	require.Len(t, byExchange(rows, "b2bpay.events"), n)
	require.Len(t, byExchange(rows, "b2bpay.dlx"), n-1)
}

func TestIntakeSubmitUnknownUpstream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sub := b.submission(t, b.request())
	sub.Upstream.ID = "unregistered-" + b.suffix
	_, err := b.store.IntakeSubmit(t.Context(), sub)
	require.ErrorIs(t, err, payment.ErrNotFound)
	require.Empty(t, b.outboxRows(t))
}
