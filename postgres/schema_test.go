package postgres_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestTimelineAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	out, err := b.store.IntakeSubmit(ctx, b.submission(t, b.request()))
	require.NoError(t, err)
	id := out.Payment.ID

	_, err = b.pool.Exec(ctx, `UPDATE payment_timeline SET note = 'rewritten' WHERE payment_id = $1`, id)
	pe := pgError(t, err)
	require.Contains(t, pe.Message, "append-only")
	require.Contains(t, pe.Message, "UPDATE")

	_, err = b.pool.Exec(ctx, `DELETE FROM payment_timeline WHERE payment_id = $1`, id)
	pe = pgError(t, err)
	require.Contains(t, pe.Message, "append-only")
	require.Contains(t, pe.Message, "DELETE")

	tl, err := b.store.PaymentTimeline(ctx, id)
	require.NoError(t, err)
	require.Len(t, tl, 2)
	require.Empty(t, tl[0].Code)
	require.NotEqual(t, "rewritten", tl[0].Note)

	// Appending still works, and a seq cannot be written twice.
	_, err = b.pool.Exec(ctx, `INSERT INTO payment_timeline (payment_id, seq, at, actor_kind, actor_id, action, from_state, to_state)
		VALUES ($1, 3, now(), 'user', $2, 'confirm', 'awaiting_confirmation', 'awaiting_review')`, id, b.applicant.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO payment_timeline (payment_id, seq, at, actor_kind, actor_id, action, from_state, to_state)
		VALUES ($1, 3, now(), 'user', $2, 'confirm', 'awaiting_confirmation', 'awaiting_review')`, id, b.applicant.ID)
	require.Equal(t, "23505", pgError(t, err).Code)
}

func TestPaymentConstraints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	// insert writes a payment by hand, as buggy code might.
	insert := func(orderRef string, amount int64, state string) error {
		_, err := b.pool.Exec(ctx, `INSERT INTO payments (id, upstream_id, request_id, order_ref, customer_id,
				applicant_id, bank_id, debtor_account, creditor_name, creditor_account, creditor_bank_id,
				amount_minor, currency, execution_date, state, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'Creditor', '31001520313050012345', '105290036005',
				$9, 'CNY', $10, $11, 1, $12, $12)`,
			uuid.NewString(), b.upstream.ID, "raw-"+randomHex(6), orderRef, b.customer.ID, b.applicant.ID,
			b.bank.ID, b.account.Number, amount, time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC), state, b.clock.Now())
		return err
	}
	order := "PO-" + randomHex(6)
	// The helper writes valid rows, so each failure below is the constraint.
	require.NoError(t, insert(order, 100, "received"))

	for _, amount := range []int64{0, -1, -128640050, 1_000_000_000_000_000} {
		pe := pgError(t, insert("PO-"+randomHex(6), amount, "received"))
		require.Equal(t, "23514", pe.Code, "amount %d", amount)
		require.Equal(t, "payments_amount_minor_check", pe.ConstraintName)
	}

	pe := pgError(t, insert("PO-"+randomHex(6), 100, "paid"))
	require.Equal(t, "23514", pe.Code)
	require.Equal(t, "payments_state_check", pe.ConstraintName)

	// One order, one active payment...
	pe = pgError(t, insert(order, 100, "awaiting_review"))
	require.Equal(t, "23505", pe.Code)
	require.Equal(t, "payments_active_order", pe.ConstraintName)
	// ...while payments that ended without moving money do not hold it.
	require.NoError(t, insert(order, 100, "rejected"))
	require.NoError(t, insert(order, 100, "cancelled"))
	require.Equal(t, 3, b.countPayments(t, order))

	// The ledger cannot claim acceptance without a payment.
	_, err := b.pool.Exec(ctx, `INSERT INTO intake_requests (upstream_id, request_id, body_sha256, outcome, answer, received_at)
		VALUES ($1, 'no-payment', $2, 'accepted', '{}', now())`, b.upstream.ID, make([]byte, 32))
	require.Equal(t, "23514", pgError(t, err).Code)
}
