package faults

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// TestCheckerCatches proves the checker can fail: after a clean run it is
// shown a message never published (lost), a payment doubled behind the
// back of the constraints, one person's OTP step consumed twice, and the
// step of a batch of hers used again by a decision alone, while the items
// of one batch sharing its step are not counted (duplicated), a request nobody meant, a ledger row rewritten and a
// payment moved on to exported without approvals and without a batch
// (unexpected, lost), and must count each.
func TestCheckerCatches(t *testing.T) {
	e := newEnv(t, "checker-self-test")
	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := append(series("ck", 4), hostileKinds[0]("ck-poison"))
	p.add(ms...)
	pub.mustSend(t, ms...)
	clean := e.settle(p, checkOptions{timeout: 30 * time.Second})
	require.Zero(t, clean.lost(), clean.notes)
	require.Zero(t, clean.duplicated, clean.notes)
	require.Zero(t, clean.unexpected, clean.notes)
	require.Equal(t, 5, clean.answersGot)
	require.Equal(t, 1, clean.deadGot)

	// Lost: meant, never published: no record, no answer.
	p.add(valid("ck-never-sent"))
	// Unexpected: published, never meant: a payment, a ledger row, an answer.
	stray := valid("ck-stray")
	pub.mustSend(t, stray)
	waitUntil(t, 20*time.Second, "the stray answer", func() bool { return e.collect().copiesOf(stray.answerID()) == 1 })
	// Unexpected: a request meant to be accepted now reads as refused, and
	// its payment has no accepted ledger row.
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `UPDATE intake_requests SET outcome = 'refused', code = $1, payment_id = NULL
		WHERE request_id = 'ck-00001'`, string(payment.CodeBankNotB2B))
	require.NoError(t, err)
	// Unexpected: a payment in a state intake never leaves it in, moved
	// there without a confirmation, a review or an authorization; and lost,
	// exported in no batch.
	_, err = e.pool.Exec(ctx, `UPDATE payments SET state = 'exported' WHERE request_id = 'ck-00002'`)
	require.NoError(t, err)
	// Duplicated: ann's OTP step consumed by two applied decisions.
	_, err = e.pool.Exec(ctx, `INSERT INTO decisions (id, payment_id, stage, verdict, actor_id, outcome, otp_step, result, decided_at)
		SELECT 'ck-otp-' || request_id, id, 'confirmation', 'approve', 'ann', 'applied', 12345, '{}', now()
		FROM payments WHERE request_id IN ('ck-00003', 'ck-stray')`)
	require.NoError(t, err)
	// Not duplicated: the two items of one batch of ann's carry its step.
	// Duplicated: the same step used again by a decision of its own.
	for _, sql := range []string{
		`INSERT INTO decision_batches (id, actor_id, stage, verdict, all_or_nothing, item_count, totals, batch_digest, otp_step,
			outcome, result, decided_at)
			VALUES ('ck-batch', 'ann', 'confirmation', 'approve', false, 2, '[]', repeat('0', 64), 12346, 'applied', '{}', now())`,
		`INSERT INTO decisions (id, payment_id, stage, verdict, actor_id, outcome, otp_step, result, decided_at, batch_id)
			SELECT 'ck-batch:' || request_id, id, 'confirmation', 'approve', 'ann', 'applied', 12346, '{}', now(), 'ck-batch'
			FROM payments WHERE request_id IN ('ck-00000', 'ck-00001')`,
		`INSERT INTO decisions (id, payment_id, stage, verdict, actor_id, outcome, otp_step, result, decided_at)
			SELECT 'ck-otp-again', id, 'confirmation', 'approve', 'ann', 'applied', 12346, '{}', now()
			FROM payments WHERE request_id = 'ck-00002'`,
	} {
		_, err = e.pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	// Duplicated: a second payment for ck-00000, once the constraints that
	// forbid it are gone: one too many per request id and per order.
	tx, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	for _, sql := range []string{
		`ALTER TABLE payments DROP CONSTRAINT payments_upstream_id_request_id_key`,
		`DROP INDEX payments_active_order`,
		`CREATE TEMP TABLE copy ON COMMIT DROP AS SELECT * FROM payments WHERE request_id = 'ck-00000'`,
		`UPDATE copy SET id = gen_random_uuid()`,
		`INSERT INTO payments SELECT * FROM copy`,
	} {
		_, err := tx.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	require.NoError(t, tx.Commit(ctx))

	r := e.evaluate(p.msgs, e.collect(), checkOptions{states: []payment.State{payment.StateAwaitingConfirmation}})
	for _, n := range r.notes {
		t.Log("checker: " + n)
	}
	require.Equal(t, 2, r.lostRecords, "ck-never-sent; ck-00002 exported in no batch")
	require.Equal(t, 1, r.lostAnswers)
	require.Equal(t, 0, r.lostDead)
	require.Equal(t, 4, r.duplicated, "ck-00000 per request id and per order; ann's OTP step twice, and her batch's step again")
	require.Equal(t, 7, r.unexpected, "stray payment, ledger row and answer; ck-00001 refused and its payment; ck-00002 exported, "+
		"and without approvals")
	s.stop()
}
