package postgres_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/seal"
	"github.com/b2bpay/b2bpay/testkit"
)

// setupApprovalsOwnDB is setupApprovals on a database of its own, for tests
// that run a cutoff (it claims every authorized payment of a database).
func setupApprovalsOwnDB(t *testing.T, now time.Time) *approvals {
	t.Helper()
	return setupApprovalsOn(t, testkit.OwnPool(t, 8), now)
}

// authorizedPayment takes a new payment through its decisions (as many
// authorizers as it needs), each with its OTP, as the decision worker
// does, then moves the clock past the OTP step.
func (a *approvals) authorizedPayment(t *testing.T) *payment.Payment {
	t.Helper()
	p := a.reviewed(t)
	for range p.RequiredAuthorizers {
		u, seed := a.authorizer(t)
		a.applied(t, a.authorization(t, p, u, seed))
	}
	a.clock.Advance(31 * time.Second) // the applicant's next code is a new step
	p = a.payment(t, p.ID)
	require.Equal(t, payment.StateAuthorized, p.State)
	return p
}

// verifyPayment is what `b2bpay verify` checks of one payment.
func (b *bundle) verifyPayment(t *testing.T, id string) []seal.Problem {
	t.Helper()
	p := b.payment(t, id)
	tl, err := b.store.PaymentTimeline(t.Context(), id)
	require.NoError(t, err)
	ds, err := b.store.PaymentDecisions(t.Context(), id)
	require.NoError(t, err)
	key := b.store.Seal()
	return append(key.CheckTimeline(p, tl), key.CheckApprovals(p, ds, seal.UserActors(tl)...)...)
}

// superuser runs fn on a connection that, as a database superuser can,
// bypasses triggers (the timeline's append-only guard).
func superuser(t *testing.T, pool *pgxpool.Pool, fn func(ctx context.Context, exec func(sql string, args ...any))) {
	t.Helper()
	ctx := t.Context()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	exec := func(sql string, args ...any) {
		_, err := conn.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	exec(`SET session_replication_role = replica`)
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SET session_replication_role = DEFAULT`) }()
	fn(ctx, exec)
}

// rewriteHistory changes a payment's amount and rewrites its whole
// timeline with plain SHA-256 hashes recomputed, its head hash and its
// decisions' digests to match, as someone who knows the hash function but
// not the MAC key would: the plain chain verifies clean.
func (a *approvals) rewriteHistory(t *testing.T, id string) {
	t.Helper()
	p := a.payment(t, id)
	tl, err := a.store.PaymentTimeline(t.Context(), id)
	require.NoError(t, err)
	p.AmountMinor *= 10
	superuser(t, a.pool, func(_ context.Context, exec func(string, ...any)) {
		var prev []byte
		for _, e := range tl {
			e.PrevHash = prev
			if e.Action == payment.ActionReceive {
				e.Note = "request rewritten"
			}
			e.Hash = e.ComputeHash()
			exec(`UPDATE payment_timeline SET note = $3, prev_hash = $4, hash = $5 WHERE payment_id = $1 AND seq = $2`,
				id, e.Seq, e.Note, e.PrevHash, e.Hash)
			prev = e.Hash
		}
		exec(`UPDATE payments SET amount_minor = $2, head_hash = $3 WHERE id = $1`, id, p.AmountMinor, prev)
		exec(`UPDATE decisions SET digest = $2 WHERE payment_id = $1 AND outcome = 'applied'`, id, p.Digest())
	})
	p = a.payment(t, id)
	tl, err = a.store.PaymentTimeline(t.Context(), id)
	require.NoError(t, err)
	seq, why := payment.VerifyChain(tl, p.HeadHash)
	require.Zero(t, seq, "the plain hash chain verifies: only the MACs tell (%s)", why)
}

// tamperCase is one way of changing an authorized payment with SQL; verify
// and held are the kinds of problem verify and the claim must name.
type tamperCase struct {
	name         string
	tamper       func(t *testing.T, p *payment.Payment)
	verify, held []string
}

// TestTamperedPaymentsAreHeld tampers with authorized payments as a
// database superuser would, with SQL, and runs a cutoff: each tampered
// payment is held (never in a batch), with its timeline entry, status
// event and audit line, and verify names what broke; the untampered
// payments of the same cutoff are exported and verify clean.
func TestTamperedPaymentsAreHeld(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a := setupApprovalsOwnDB(t, cutoffAt10.Add(-time.Hour))
	// Payments above 1,000.00 need two authorizers.
	_, err := a.pool.Exec(ctx, `INSERT INTO approval_tiers (customer_id, currency, above_minor, authorizers) VALUES ($1, 'CNY', 100000, 2)`, a.customer.ID)
	require.NoError(t, err)

	clean := []string{a.authorizedPayment(t).ID, a.authorizedPayment(t).ID}
	cases := []tamperCase{
		{"Amount", func(t *testing.T, p *payment.Payment) {
			_, err := a.pool.Exec(ctx, `UPDATE payments SET amount_minor = amount_minor * 100 WHERE id = $1`, p.ID)
			require.NoError(t, err)
		}, []string{seal.ContentChanged, seal.TimelineMACInvalid}, []string{seal.ContentChanged}},
		{"CreditorAccount", func(t *testing.T, p *payment.Payment) {
			_, err := a.pool.Exec(ctx, `UPDATE payments SET creditor_account = '6222020200112233' WHERE id = $1`, p.ID)
			require.NoError(t, err)
		}, []string{seal.ContentChanged, seal.TimelineMACInvalid}, []string{seal.ContentChanged}},
		{"DecisionUserSwapped", func(t *testing.T, p *payment.Payment) {
			// The review is now said to be by an authorizer of another payment.
			_, err := a.pool.Exec(ctx, `UPDATE decisions SET actor_id = (SELECT actor_id FROM decisions
					WHERE payment_id = $2 AND stage = 'authorization' AND outcome = 'applied' LIMIT 1)
				WHERE payment_id = $1 AND stage = 'review' AND outcome = 'applied'`, p.ID, clean[0])
			require.NoError(t, err)
		}, []string{seal.ActorSwapped}, []string{seal.DecisionMACInvalid}},
		{"DecisionDeleted", func(t *testing.T, p *payment.Payment) {
			_, err := a.pool.Exec(ctx, `DELETE FROM decisions WHERE payment_id = $1 AND stage = 'review'`, p.ID)
			require.NoError(t, err)
		}, []string{seal.DecisionMissing}, []string{seal.DecisionMissing}},
		{"LastAuthorizationDeleted", func(t *testing.T, p *payment.Payment) {
			_, err := a.pool.Exec(ctx, `DELETE FROM decisions WHERE payment_id = $1 AND seal_seq = 4`, p.ID)
			require.NoError(t, err)
		}, []string{seal.DecisionMissing}, []string{seal.DecisionMissing}},
		{"AuthorizersLowered", func(t *testing.T, p *payment.Payment) {
			_, err := a.pool.Exec(ctx, `UPDATE payments SET required_authorizers = 1 WHERE id = $1`, p.ID)
			require.NoError(t, err)
		}, []string{seal.DecisionMACInvalid}, []string{seal.DecisionMACInvalid}},
		{"HistoryRewritten", func(t *testing.T, p *payment.Payment) {
			a.rewriteHistory(t, p.ID)
		}, []string{seal.TimelineMACInvalid, seal.DecisionMACInvalid}, []string{seal.DecisionMACInvalid}},
		{"MovedToAuthorizedWithoutApprovals", func(t *testing.T, _ *payment.Payment) {}, // see below
			[]string{seal.StateMismatch, seal.DecisionMissing}, []string{seal.DecisionMissing}},
	}
	tampered := map[string]string{} // payment id → case
	for _, tc := range cases {
		var p *payment.Payment
		if tc.name == "MovedToAuthorizedWithoutApprovals" {
			p = a.submitPayment(t)
			_, err := a.pool.Exec(ctx, `UPDATE payments SET state = 'authorized' WHERE id = $1`, p.ID)
			require.NoError(t, err)
		} else {
			p = a.authorizedPayment(t)
		}
		tc.tamper(t, p)
		tampered[p.ID] = tc.name
	}
	for _, id := range clean {
		require.Empty(t, a.verifyPayment(t, id), "an untampered authorized payment verifies clean")
	}
	for _, tc := range cases {
		for id, name := range tampered {
			if name == tc.name {
				require.Subset(t, seal.Kinds(a.verifyPayment(t, id)), tc.verify, "%s: verify names it", name)
			}
		}
	}

	var held []export.Held
	a.clock.Set(cutoffAt10.Add(time.Second))
	c := claim(cutoffAt10, 100)
	c.OnHeld = func(h []export.Held) { held = h }
	batches, err := a.store.CutoffClaimBatches(ctx, c)
	require.NoError(t, err)

	require.Len(t, batches, 1)
	items := batchItems(t, a.store, batches[0].ID)
	require.ElementsMatch(t, clean, idsOf(items), "only the untampered payments are in the file")
	require.Equal(t, []int{1, 2}, []int{items[0].Seq, items[1].Seq}, "the batch is numbered without gaps")
	require.Equal(t, len(clean), batches[0].Count)

	require.Len(t, held, len(cases))
	for _, h := range held {
		name, ok := tampered[h.PaymentID]
		require.True(t, ok, "held %s, which was not tampered with", h.PaymentID)
		i := slices.IndexFunc(cases, func(c tamperCase) bool { return c.name == name })
		t.Logf("%s held: %s", name, seal.Summary(h.Problems))
		require.Subset(t, seal.Kinds(h.Problems), cases[i].held, "%s: the claim names it", name)

		p, tl := a.requireChain(t, h.PaymentID)
		require.Equal(t, payment.StateHeld, p.State, name)
		last := tl[len(tl)-1]
		require.Equal(t, payment.ActionHold, last.Action, name)
		require.Equal(t, postgres.CodeApprovalMismatch, last.Code, name)
		require.Equal(t, a.store.Seal().Entry(p.Digest(), last), last.MAC, "%s: the hold entry is sealed", name)
		require.Len(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/"+strconv.Itoa(p.Version)), 1, "%s: the upstream is told", name)
		var audits int
		require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE payment_id = $1 AND event = 'approval_mismatch'`,
			h.PaymentID).Scan(&audits))
		require.Equal(t, 1, audits, name)
		require.NotEmpty(t, a.verifyPayment(t, h.PaymentID), "%s: a held payment still verifies broken", name)
	}
	var inBatches int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM batch_payments WHERE payment_id::text = ANY($1)`,
		keys(tampered)).Scan(&inBatches))
	require.Zero(t, inBatches, "no tampered payment is in a batch")

	for _, id := range clean {
		require.Empty(t, a.verifyPayment(t, id), "an exported payment verifies clean, its export entry sealed")
		require.Equal(t, payment.StateExported, a.payment(t, id).State)
	}

	// A held payment is never claimed again.
	a.clock.Set(cutoffAt10.Add(4*time.Hour + time.Second))
	held = nil
	batches, err = a.store.CutoffClaimBatches(ctx, claim(cutoffAt10.Add(4*time.Hour), 100))
	require.NoError(t, err)
	require.Empty(t, batches)
	require.Empty(t, held)
}

// TestTimelineIsSealed: every entry intake, decisions and the export write
// carries a MAC over the content digest, the actor, the action and the OTP
// step; the decisions carry a chain of MACs.
func TestTimelineIsSealed(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.authorizedPayment(t)
	_, tl := a.requireChain(t, p.ID)
	require.Len(t, tl, 5)
	key := a.store.Seal()
	for _, e := range tl {
		require.Equal(t, key.Entry(p.Digest(), e), e.MAC, "entry %d", e.Seq)
	}
	require.NotZero(t, tl[2].OTPStep, "the confirmation's OTP step is in its entry")
	require.NotZero(t, tl[3].OTPStep, "the review's OTP step is in its entry (the default review policy)")
	require.NotZero(t, tl[4].OTPStep, "the authorization's OTP step is in its entry")
	ds, err := a.store.PaymentDecisions(t.Context(), p.ID)
	require.NoError(t, err)
	require.Len(t, ds, 3)
	for i, d := range ds {
		require.Equal(t, i+1, d.Seq)
	}
	require.Empty(t, key.CheckApprovals(p, ds))

	// Another key (another master key) checks nothing.
	other, err := seal.New([]byte("another master key's derived MAC key!"))
	require.NoError(t, err)
	require.Contains(t, seal.Kinds(other.CheckApprovals(p, ds)), seal.DecisionMACInvalid)
	require.Contains(t, seal.Kinds(other.CheckTimeline(p, tl)), seal.TimelineMACInvalid)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPaymentVoid: an operator voids a held payment after investigation:
// it ends cancelled with a sealed entry naming the operator, its upstream
// told, audited, and its order free for a new request; only a held
// payment can be voided, and only with a name and a reason.
func TestPaymentVoid(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a := setupApprovalsOwnDB(t, cutoffAt10.Add(-time.Hour))
	p := a.authorizedPayment(t)
	other := a.authorizedPayment(t)
	_, err := a.pool.Exec(ctx, `UPDATE payments SET amount_minor = 1 WHERE id = $1`, p.ID)
	require.NoError(t, err)

	_, err = a.store.PaymentVoid(ctx, p.ID, "ops.li", "investigated")
	require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err), "an authorized payment cannot be voided")
	a.clock.Set(cutoffAt10.Add(time.Second))
	_, err = a.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 100))
	require.NoError(t, err)
	require.Equal(t, payment.StateHeld, a.payment(t, p.ID).State)
	require.Equal(t, payment.StateExported, a.payment(t, other.ID).State)

	held, err := a.store.PaymentsHeld(ctx)
	require.NoError(t, err)
	require.Len(t, held, 1)
	require.Equal(t, p.ID, held[0].Payment.ID)
	require.Contains(t, held[0].Reason, seal.ContentChanged)

	_, err = a.store.PaymentVoid(ctx, p.ID, "ops.li", " ")
	require.Equal(t, payment.CodeReasonRequired, payment.ErrorCode(err))
	_, err = a.store.PaymentVoid(ctx, other.ID, "ops.li", "investigated")
	require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err), "an exported payment cannot be voided")

	got, err := a.store.PaymentVoid(ctx, p.ID, "ops.li", "amount changed in the database")
	require.NoError(t, err)
	require.Equal(t, payment.StateCancelled, got.State)
	q, tl := a.requireChain(t, p.ID)
	last := tl[len(tl)-1]
	require.Equal(t, payment.ActionVoid, last.Action)
	require.Equal(t, payment.Actor{Kind: payment.ActorSystem, ID: "operator:ops.li"}, last.Actor)
	require.Equal(t, a.store.Seal().Entry(q.Digest(), last), last.MAC)
	require.Len(t, a.sent(t, a.upstream.ID+"/"+q.RequestID+"/"+strconv.Itoa(q.Version)), 1)
	var audits int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE payment_id = $1 AND event = 'payment_voided'
		AND actor = 'admin:ops.li'`, p.ID).Scan(&audits))
	require.Equal(t, 1, audits)
	held, err = a.store.PaymentsHeld(ctx)
	require.NoError(t, err)
	require.Empty(t, held)

	// The order is free: the upstream may submit it again, to be approved again.
	again := a.submitPayment(t, func(r *payment.Request) { r.OrderRef = q.OrderRef })
	require.Equal(t, payment.StateAwaitingConfirmation, again.State)
}
