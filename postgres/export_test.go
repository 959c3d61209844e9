package postgres_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

// setupOwnDB is setupAt on a database of its own: CutoffClaimBatches
// claims every authorized payment in a database, so tests that claim never
// share one. The bundle's bank also has a USD account, and a second bank
// (known by its BIC) a CNY one; the accounts map holds them by
// "bank/currency".
func setupOwnDB(t *testing.T, now time.Time) (*bundle, map[string]string, payment.Bank) {
	t.Helper()
	ctx := t.Context()
	pool := testkit.OwnPool(t, 8)
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	clk := testkit.NewClock(now)
	store, err := postgres.New(pool, postgres.Config{Seal: pgtest.Key, Now: clk.Now, Location: loc, EventMessage: route.EventMessage,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	sfx := randomHex(5)
	b := &bundle{
		store: store, pool: pool, clock: clk, suffix: sfx,
		customer: payment.Customer{ID: "cust-" + sfx, Name: "上海浦东精密机械有限公司", OnlinePayment: true, Active: true},
		bank:     payment.Bank{ID: "104100000004", Name: "Bank of China", B2B: true},
	}
	b.account = payment.Account{Number: "340058712345", BankID: b.bank.ID, CustomerID: b.customer.ID, Currency: "CNY", Active: true}
	b.applicant = payment.User{ID: "appl-" + sfx, CustomerID: b.customer.ID, Name: "Applicant", Roles: []payment.Role{payment.RoleApplicant}, Active: true}
	b.upstream = payment.Upstream{ID: "erp-" + sfx, Name: "ERP", AMQPUser: "erp-" + sfx, Active: true, Customers: []string{b.customer.ID}}
	bic := payment.Bank{ID: "ICBKCNBJXXX", Name: "ICBC", B2B: true}
	require.NoError(t, store.CustomerCreate(ctx, b.customer))
	require.NoError(t, store.BankCreate(ctx, b.bank))
	require.NoError(t, store.BankCreate(ctx, bic))
	accounts := map[string]string{b.bank.ID + "/CNY": b.account.Number, b.bank.ID + "/USD": "340058799999", bic.ID + "/CNY": "620000111122"}
	require.NoError(t, store.AccountCreate(ctx, b.account))
	require.NoError(t, store.AccountCreate(ctx, payment.Account{Number: accounts[b.bank.ID+"/USD"], BankID: b.bank.ID, CustomerID: b.customer.ID, Currency: "USD", Active: true}))
	require.NoError(t, store.AccountCreate(ctx, payment.Account{Number: accounts[bic.ID+"/CNY"], BankID: bic.ID, CustomerID: b.customer.ID, Currency: "CNY", Active: true}))
	require.NoError(t, store.UserCreate(ctx, b.applicant))
	require.NoError(t, store.UpstreamCreate(ctx, b.upstream, nil, 0))
	return b, accounts, bic
}

// submitAuthorized stores n payments from bank's account in currency,
// executed on exec, and moves them to authorized at authorizedAt. The move
// is a test fixture standing in for the three approvals, which the
// decision tests cover.
func (b *bundle) submitAuthorized(t *testing.T, accounts map[string]string, bank, currency, exec string, n int, authorizedAt time.Time) []string {
	t.Helper()
	var ids []string
	for i := range n {
		out, err := b.store.IntakeSubmit(t.Context(), b.submission(t, b.request(func(r *payment.Request) {
			r.BankID, r.DebtorAccount, r.Currency, r.ExecutionDate = bank, accounts[bank+"/"+currency], currency, exec
			r.Amount = fmt.Sprintf("%d.%02d", 100+i, i)
		})))
		require.NoError(t, err)
		require.NotNil(t, out.Payment, out.Answer.Reason)
		ids = append(ids, out.Payment.ID)
	}
	_, err := b.pool.Exec(t.Context(), `UPDATE payments SET state = 'authorized', updated_at = $2 WHERE id::text = ANY($1)`, ids, authorizedAt)
	require.NoError(t, err)
	_, err = pgtest.Approve(t.Context(), b.pool, pgtest.Key) // the sealed decisions the export claim re-checks
	require.NoError(t, err)
	return ids
}

// claim is a CutoffClaim at cutoff settling on 2026-03-12.
func claim(cutoff time.Time, maxPerFile int) export.CutoffClaim {
	return export.CutoffClaim{
		CutoffAt: cutoff, SettlementDate: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC), MaxPerFile: maxPerFile,
		Format: "pacs.008.001.08", FileName: func(id string) string { return id + ".xml" }, Runner: "test",
	}
}

// cutoffAt10 is the 10:00 Shanghai cutoff of 2026-03-10 (baseTime).
var cutoffAt10 = baseTime

// batchItems lists a batch's items.
func batchItems(t *testing.T, s *postgres.Store, batchID string) []export.BatchItem {
	t.Helper()
	var items []export.BatchItem
	require.NoError(t, s.BatchItems(t.Context(), batchID, func(it export.BatchItem) error {
		items = append(items, it)
		return nil
	}))
	return items
}

// TestCutoffClaimBatches claims what is due into batches of at most
// MaxPerFile per bank and currency, in one transaction that records the
// cutoff; a second claim of the same cutoff is refused.
func TestCutoffClaimBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, accounts, bic := setupOwnDB(t, baseTime.Add(-2*time.Hour))
	before := cutoffAt10.Add(-time.Hour)
	cny := b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-12", 5, before)
	usd := b.submitAuthorized(t, accounts, b.bank.ID, "USD", "2026-03-10", 1, before)
	other := b.submitAuthorized(t, accounts, bic.ID, "CNY", "2026-03-11", 2, before)
	atCutoff := b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-12", 1, cutoffAt10)
	afterCutoff := b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-12", 1, cutoffAt10.Add(time.Microsecond))
	afterSettlement := b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-13", 1, before)
	notAuthorized, err := b.store.IntakeSubmit(ctx, b.submission(t, b.request()))
	require.NoError(t, err)

	now := cutoffAt10.Add(3 * time.Second).Add(123456 * time.Nanosecond)
	b.clock.Set(now)
	batches, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 2))
	require.NoError(t, err)

	// CNY of the first bank in chunks of 2, 2, 1; its USD; the BIC bank's
	// CNY; in that order, numbered from the cutoff's Shanghai time.
	type shape struct {
		ID, Bank, Currency string
		Count              int
	}
	var got []shape
	for _, bt := range batches {
		got = append(got, shape{bt.ID, bt.DebtorBankID, bt.Currency, bt.Count})
		require.Equal(t, "claimed", bt.State)
		require.Equal(t, bt.ID+".xml", bt.FileName)
		require.Equal(t, "pacs.008.001.08", bt.Format)
		require.Equal(t, "2026-03-12", bt.SettlementDate.Format(payment.DateLayout))
		requireTime(t, cutoffAt10, bt.CutoffAt)
		requireTime(t, now.Truncate(time.Microsecond), bt.CreatedAt)
		stored, err := b.store.BatchGet(ctx, bt.ID)
		require.NoError(t, err)
		require.Equal(t, bt.Count, stored.Count)
		require.Equal(t, bt.ControlSumMinor, stored.ControlSumMinor)
		requireTime(t, bt.CreatedAt, stored.CreatedAt)
		require.Empty(t, stored.SHA256)
		require.Nil(t, stored.WrittenAt)
	}
	require.Equal(t, []shape{
		{"B20260310100000-0001", b.bank.ID, "CNY", 2},
		{"B20260310100000-0002", b.bank.ID, "CNY", 2},
		{"B20260310100000-0003", b.bank.ID, "CNY", 1},
		{"B20260310100000-0004", b.bank.ID, "USD", 1},
		{"B20260310100000-0005", bic.ID, "CNY", 2},
	}, got)

	// Each batch holds its payments in id order, numbered from 1, with the
	// debtor's name; the control sum adds them up; the CNY chunks follow
	// each other in id order.
	var inBatches []string
	for _, bt := range batches {
		items := batchItems(t, b.store, bt.ID)
		require.Equal(t, bt.Count, len(items), "batch %s", bt.ID)
		var sum int64
		for i, it := range items {
			require.Equal(t, i+1, it.Seq)
			require.Equal(t, b.customer.Name, it.DebtorName)
			require.Equal(t, payment.StateExported, it.Payment.State)
			require.Equal(t, bt.DebtorBankID, it.Payment.BankID)
			require.Equal(t, bt.Currency, it.Payment.Currency)
			sum += it.Payment.AmountMinor
			inBatches = append(inBatches, it.Payment.ID)
		}
		require.Equal(t, sum, bt.ControlSumMinor)
	}
	sortedCNY := slices.Sorted(slices.Values(cny))
	require.Equal(t, sortedCNY, inBatches[:5], "the CNY chunks take the payments in id order")
	require.ElementsMatch(t, slices.Concat(cny, usd, other), inBatches)

	// Exported, with timeline entry and status event; the rest untouched.
	for _, id := range inBatches {
		p, err := b.store.PaymentGetByID(ctx, id)
		require.NoError(t, err)
		require.Equal(t, payment.StateExported, p.State)
		requireTime(t, now.Truncate(time.Microsecond), p.UpdatedAt)
		tl, err := b.store.PaymentTimeline(ctx, id)
		require.NoError(t, err)
		last := tl[len(tl)-1]
		require.Equal(t, payment.ActionExport, last.Action)
		require.Equal(t, payment.Actor{Kind: payment.ActorSystem, ID: "export"}, last.Actor)
		require.Regexp(t, `^batch (B20260310100000-000\d), file B20260310100000-000\d\.xml$`, last.Note)
		seq, why := payment.VerifyChain(tl, p.HeadHash)
		require.Zero(t, seq, why)
	}
	exported := 0
	for _, r := range byExchange(b.outboxRows(t), "b2bpay.events") {
		ev := decodeEvent(t, r.Body)
		if ev.Kind == payment.EventStateChanged && ev.State == payment.StateExported {
			exported++
			require.Contains(t, inBatches, ev.PaymentID)
			require.Equal(t, payment.ActionExport, ev.Action)
		}
	}
	require.Equal(t, len(inBatches), exported, "one status event per payment exported")
	for _, id := range slices.Concat(atCutoff, afterCutoff, afterSettlement) {
		p, err := b.store.PaymentGetByID(ctx, id)
		require.NoError(t, err)
		require.Equal(t, payment.StateAuthorized, p.State, "payment %s is not due", id)
	}
	p, err := b.store.PaymentGetByID(ctx, notAuthorized.Payment.ID)
	require.NoError(t, err)
	require.Equal(t, payment.StateAwaitingConfirmation, p.State)

	// The run is recorded; the same cutoff cannot be claimed again.
	var runs, nBatches, nPayments int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*), sum(batches), sum(payments) FROM cutoff_runs`).Scan(&runs, &nBatches, &nPayments))
	require.Equal(t, []int{1, 5, 8}, []int{runs, nBatches, nPayments})
	again, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 2))
	require.ErrorIs(t, err, export.ErrCutoffTaken)
	require.Empty(t, again)

	// The next cutoff takes the one authorized at 10:00 sharp (it made the
	// next cutoff, as the schedule tells the authorizer) and the one after.
	b.clock.Set(cutoffAt10.Add(4 * time.Hour))
	next, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10.Add(4*time.Hour), 100))
	require.NoError(t, err)
	require.Len(t, next, 1)
	require.Equal(t, "B20260310140000-0001", next[0].ID)
	require.ElementsMatch(t, slices.Concat(atCutoff, afterCutoff), idsOf(batchItems(t, b.store, next[0].ID)))
}

func idsOf(items []export.BatchItem) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.Payment.ID)
	}
	return ids
}

// TestCutoffClaimAtomic: a claim that fails part way leaves nothing: no
// cutoff record, no batch, every payment still authorized.
func TestCutoffClaimAtomic(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, accounts, _ := setupOwnDB(t, baseTime.Add(-2*time.Hour))
	ids := b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-12", 3, cutoffAt10.Add(-time.Hour))
	b.clock.Set(cutoffAt10.Add(time.Second))

	_, err := b.store.CutoffClaimBatches(ctx, export.CutoffClaim{CutoffAt: cutoffAt10, MaxPerFile: 0, Format: "x", FileName: func(string) string { return "" }})
	require.ErrorContains(t, err, "MaxPerFile")

	// Every batch gets the same file name: the second batch breaks the
	// unique file name, after the first batch was written.
	bad := claim(cutoffAt10, 1)
	bad.FileName = func(string) string { return "same.xml" }
	_, err = b.store.CutoffClaimBatches(ctx, bad)
	require.Error(t, err)
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM cutoff_runs) + (SELECT count(*) FROM batches)
		+ (SELECT count(*) FROM batch_payments)`).Scan(&n))
	require.Zero(t, n)
	last, err := b.store.CutoffLast(ctx)
	require.NoError(t, err)
	require.True(t, last.IsZero())
	for _, id := range ids {
		p, err := b.store.PaymentGetByID(ctx, id)
		require.NoError(t, err)
		require.Equal(t, payment.StateAuthorized, p.State)
		tl, err := b.store.PaymentTimeline(ctx, id)
		require.NoError(t, err)
		require.NotEqual(t, payment.ActionExport, tl[len(tl)-1].Action)
	}

	// The cutoff is still there to run.
	batches, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 1))
	require.NoError(t, err)
	require.Len(t, batches, 3)
}

// authorizedFixture inserts n payments authorized an hour before
// cutoffAt10 (request ids prefix-1…prefix-n; amount each, or i for the
// i-th when 0), approves them with sealed decisions and sets the clock
// just past the cutoff.
func authorizedFixture(t *testing.T, b *bundle, prefix string, n int, amount int64) {
	t.Helper()
	ctx := t.Context()
	_, err := b.pool.Exec(ctx, `INSERT INTO payments (id, upstream_id, request_id, order_ref, customer_id, applicant_id,
			bank_id, debtor_account, creditor_name, creditor_account, creditor_bank_id, amount_minor, currency,
			execution_date, state, version, created_at, updated_at)
		SELECT gen_random_uuid(), $1, $8 || '-' || i, upper($8) || '-' || i, $2, $3, $4, $5, 'Creditor', '31001520313050012345',
			'105290036005', CASE WHEN $9::bigint > 0 THEN $9::bigint ELSE i END, 'CNY', '2026-03-10', 'authorized', 1, $6, $6
		FROM generate_series(1, $7) AS i`,
		b.upstream.ID, b.customer.ID, b.applicant.ID, b.bank.ID, b.account.Number, cutoffAt10.Add(-time.Hour), n, prefix, amount)
	require.NoError(t, err)
	_, err = pgtest.Approve(ctx, b.pool, pgtest.Key)
	require.NoError(t, err)
	b.clock.Set(cutoffAt10.Add(time.Second))
}

// TestCutoffClaimManyChunks claims more payments than one round trip moves
// (2,000), so the claim pages through them: all exported once.
func TestCutoffClaimManyChunks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, _, _ := setupOwnDB(t, baseTime)
	const n = 4321
	// A fixture: authorized payments inserted in one statement.
	authorizedFixture(t, b, "bulk", n, 0)
	batches, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 1000))
	require.NoError(t, err)
	require.Len(t, batches, 5)
	require.Equal(t, 321, batches[4].Count)
	var total int64
	for _, bt := range batches {
		total += bt.ControlSumMinor
	}
	require.Equal(t, int64(n*(n+1)/2), total)
	var exported, entries, distinct, events int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM payments WHERE state = 'exported'),
			(SELECT count(*) FROM payment_timeline WHERE action = 'export'),
			(SELECT count(DISTINCT payment_id) FROM payment_timeline WHERE action = 'export'),
			(SELECT count(*) FROM outbox)`).Scan(&exported, &entries, &distinct, &events))
	require.Equal(t, []int{n, n, n, n}, []int{exported, entries, distinct, events})
}

// TestCutoffClaimPagesWithinBatch claims a file larger than one round trip
// moves (2,000): its payments are read and moved in pages, each exported
// once, numbered 1…n without gaps in payment order, in the batch's file.
func TestCutoffClaimPagesWithinBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, _, _ := setupOwnDB(t, baseTime)
	const n = 4500
	authorizedFixture(t, b, "page", n, 0)
	batches, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 4100))
	require.NoError(t, err)
	require.Len(t, batches, 2)
	require.Equal(t, []int{4100, 400}, []int{batches[0].Count, batches[1].Count})
	var prev string
	for _, bt := range batches {
		items := batchItems(t, b.store, bt.ID)
		require.Equal(t, bt.Count, len(items), "batch %s", bt.ID)
		var sum int64
		for i, it := range items {
			require.Equal(t, i+1, it.Seq, "batch %s numbered from 1 without gaps", bt.ID)
			require.Greater(t, it.Payment.ID, prev, "batch %s in payment order, after the batch before", bt.ID)
			require.Equal(t, payment.StateExported, it.Payment.State)
			prev = it.Payment.ID
			sum += it.Payment.AmountMinor
		}
		require.Equal(t, bt.ControlSumMinor, sum)
	}
	var exported, entries, live, events int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM payments WHERE state = 'exported'),
			(SELECT count(DISTINCT payment_id) FROM payment_timeline WHERE action = 'export'),
			(SELECT count(DISTINCT payment_id) FROM batch_payments WHERE live),
			(SELECT count(*) FROM outbox)`).Scan(&exported, &entries, &live, &events))
	require.Equal(t, []int{n, n, n, n}, []int{exported, entries, live, events})
}

// TestCutoffClaimSplitsByControlSum: a day of payments at the largest
// amount accepted is cut into files whose control sums fit pacs.008's 18
// digits (999 such payments a file), not one file no clearing system reads.
func TestCutoffClaimSplitsByControlSum(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, _, _ := setupOwnDB(t, baseTime)
	const n = 2100
	authorizedFixture(t, b, "big", n, payment.MaxAmountMinor)
	batches, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 10000))
	require.NoError(t, err)
	var counts []int
	total := 0
	for _, bt := range batches {
		counts = append(counts, bt.Count)
		total += bt.Count
		require.LessOrEqual(t, bt.ControlSumMinor, postgres.MaxControlSumMinor, "batch %s", bt.ID)
		require.Equal(t, int64(bt.Count)*payment.MaxAmountMinor, bt.ControlSumMinor)
		items := batchItems(t, b.store, bt.ID)
		require.Len(t, items, bt.Count)
		for i, it := range items {
			require.Equal(t, i+1, it.Seq, "batch %s numbered from 1 without gaps", bt.ID)
		}
	}
	require.Equal(t, []int{999, 999, 102}, counts)
	require.Equal(t, n, total)
}

// TestBatchLifecycle: claimed batches are listed for writing until marked
// written; marking twice changes nothing; runs are recorded and finished.
func TestBatchLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, accounts, _ := setupOwnDB(t, baseTime.Add(-2*time.Hour))
	last, err := b.store.CutoffLast(ctx)
	require.NoError(t, err)
	require.True(t, last.IsZero(), "no cutoff run yet")

	b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-12", 3, cutoffAt10.Add(-time.Hour))
	b.clock.Set(cutoffAt10.Add(time.Second))
	first, err := b.store.CutoffClaimBatches(ctx, claim(cutoffAt10, 2))
	require.NoError(t, err)
	require.Len(t, first, 2)
	b.submitAuthorized(t, accounts, b.bank.ID, "USD", "2026-03-12", 1, cutoffAt10.Add(time.Hour))
	afternoon := cutoffAt10.Add(4 * time.Hour)
	b.clock.Set(afternoon.Add(time.Second))
	second, err := b.store.CutoffClaimBatches(ctx, claim(afternoon, 2))
	require.NoError(t, err)
	require.Len(t, second, 1)
	last, err = b.store.CutoffLast(ctx)
	require.NoError(t, err)
	requireTime(t, afternoon, last)

	ids := func(bs []export.Batch) []string {
		var out []string
		for _, x := range bs {
			out = append(out, x.ID)
		}
		return out
	}
	claimed, err := b.store.BatchesClaimed(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{first[0].ID, first[1].ID, second[0].ID}, ids(claimed), "oldest first")

	sha := strings.Repeat("ab", 32)
	b.clock.Set(afternoon.Add(time.Minute))
	require.NoError(t, b.store.BatchMarkWritten(ctx, first[1].ID, sha))
	b.clock.Set(afternoon.Add(2 * time.Minute))
	require.NoError(t, b.store.BatchMarkWritten(ctx, first[1].ID, strings.Repeat("cd", 32)), "marking twice is harmless")
	got, err := b.store.BatchGet(ctx, first[1].ID)
	require.NoError(t, err)
	require.Equal(t, "written", got.State)
	require.Equal(t, sha, got.SHA256, "the first mark stands")
	require.NotNil(t, got.WrittenAt)
	requireTime(t, afternoon.Add(time.Minute), *got.WrittenAt)
	claimed, err = b.store.BatchesClaimed(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{first[0].ID, second[0].ID}, ids(claimed))

	list, err := b.store.BatchList(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []string{second[0].ID, first[1].ID}, ids(list), "newest first")
	_, err = b.store.BatchGet(ctx, "B20990101000000-0001")
	require.ErrorIs(t, err, payment.ErrNotFound)
	require.NoError(t, b.store.BatchItems(ctx, "B20990101000000-0001", func(export.BatchItem) error {
		return errors.New("no item expected")
	}))
	stop := errors.New("stop")
	require.ErrorIs(t, b.store.BatchItems(ctx, first[0].ID, func(export.BatchItem) error { return stop }), stop)

	// A run is finished only once all its batches are written.
	var finished *time.Time
	require.NoError(t, b.store.CutoffFinish(ctx, cutoffAt10))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT finished_at FROM cutoff_runs WHERE cutoff_at = $1`, cutoffAt10).Scan(&finished))
	require.Nil(t, finished, "a batch of the run is still claimed")
	require.NoError(t, b.store.BatchMarkWritten(ctx, first[0].ID, sha))
	require.NoError(t, b.store.CutoffFinish(ctx, cutoffAt10))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT finished_at FROM cutoff_runs WHERE cutoff_at = $1`, cutoffAt10).Scan(&finished))
	require.NotNil(t, finished)
	requireTime(t, afternoon.Add(2*time.Minute), *finished)
	b.clock.Set(afternoon.Add(time.Hour))
	require.NoError(t, b.store.CutoffFinish(ctx, cutoffAt10))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT finished_at FROM cutoff_runs WHERE cutoff_at = $1`, cutoffAt10).Scan(&finished))
	requireTime(t, afternoon.Add(2*time.Minute), *finished)
}
