package recon_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/recon"
)

// TestAllSettledBalanced: every exported payment booked by the bank for
// its amount settles, and the day balances.
func TestAllSettledBalanced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	cny, day := f.exported(t, "CNY", 3)
	usd, _ := f.exported(t, "USD", 2)
	var entries []iso20022.NotificationEntry
	for _, p := range append(cny, usd...) {
		entries = append(entries, settle(p, day))
	}
	sum, err := f.im.ImportFile(ctx, writeCamt(t, t.TempDir(), "CAMT-OK", entries...))
	require.NoError(t, err)
	require.Equal(t, 5, sum.Classes[recon.ClassSettled])
	require.Equal(t, 0, sum.Mismatches)
	require.Equal(t, 5, sum.Changed)
	for _, p := range append(cny, usd...) {
		require.Equal(t, payment.StateSettled, f.state(t, p.ID))
	}
	d, err := f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.True(t, d.Balanced(), d.Problems())
	require.Len(t, d.Batches, 2)
	tot := d.Totals()
	require.Len(t, tot, 2)
	require.Equal(t, "CNY", tot[0].Currency)
	require.Equal(t, 3, tot[0].Settled.Count)
	require.Equal(t, cny[0].AmountMinor+cny[1].AmountMinor+cny[2].AmountMinor, tot[0].Settled.SumMinor)
	require.Equal(t, tot[0].Exported, tot[0].Settled)
	var csv bytes.Buffer
	require.NoError(t, recon.WriteCSV(&csv, d))
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	require.Len(t, lines, 1+2+2) // header, two batches, two totals
	require.True(t, strings.HasSuffix(lines[3], ",yes"), lines[3])
	var text bytes.Buffer
	require.NoError(t, recon.WriteText(&text, d))
	require.Contains(t, text.String(), "balanced: every exported payment")
	require.NotContains(t, text.String(), "NOT balanced")
	require.NotContains(t, f.logs.String(), "recon_mismatch")
}

// TestMismatchesClassified: a short, an unmatched entry, a duplicate and a
// return are each classified and alerted; the day does not balance; the
// same file again is recorded once and changes nothing.
func TestMismatchesClassified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	ps, day := f.exported(t, "CNY", 5)
	short := settle(ps[1], day)
	short.AmountMinor--
	ret := settle(ps[3], day)
	ret.Credit, ret.Returned, ret.ReturnCode, ret.ReturnInfo = true, true, "AC04", "account closed"
	unmatched := iso20022.NotificationEntry{EndToEndID: "NOT-OURS-1", AmountMinor: 4200, Currency: "CNY", Status: "BOOK", BookingDate: day}
	pending := settle(ps[4], day)
	pending.Status = "PDNG"
	path := writeCamt(t, t.TempDir(), "CAMT-BAD", settle(ps[0], day), short, unmatched, settle(ps[0], day), ret, pending)
	sum, err := f.im.ImportFile(ctx, path)
	require.NoError(t, err)
	require.Equal(t, map[recon.Class]int{recon.ClassSettled: 1, recon.ClassShort: 1, recon.ClassUnmatched: 1,
		recon.ClassDuplicated: 1, recon.ClassReturned: 1, recon.ClassNotBooked: 1}, sum.Classes)
	require.Equal(t, 3, sum.Mismatches)
	require.Equal(t, map[recon.Class]int{recon.ClassShort: 1, recon.ClassUnmatched: 1, recon.ClassDuplicated: 1}, f.alerts)
	require.Equal(t, payment.StateSettled, f.state(t, ps[0].ID))
	require.Equal(t, payment.StateExported, f.state(t, ps[1].ID), "a short booking does not settle")
	require.Equal(t, payment.StateReturned, f.state(t, ps[3].ID))
	require.Equal(t, payment.StateExported, f.state(t, ps[4].ID), "a pending entry changes nothing")
	logs := f.logs.String()
	require.Equal(t, 3, strings.Count(logs, "alert=recon_mismatch"), logs)
	require.Contains(t, logs, "class=short")
	require.Contains(t, logs, "class=unmatched")
	require.Contains(t, logs, "class=duplicated")

	d, err := f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.False(t, d.Balanced())
	tot := d.Totals()
	require.Len(t, tot, 1)
	require.Equal(t, recon.Figure{Count: 1, SumMinor: ps[0].AmountMinor}, tot[0].Settled)
	require.Equal(t, recon.Figure{Count: 1, SumMinor: ps[3].AmountMinor}, tot[0].Returned)
	require.Equal(t, recon.Figure{Count: 3, SumMinor: ps[1].AmountMinor + ps[2].AmountMinor + ps[4].AmountMinor}, tot[0].Unanswered)
	require.Equal(t, recon.Figure{Count: 1, SumMinor: ps[1].AmountMinor - 1}, tot[0].Short)
	require.Equal(t, recon.Figure{Count: 1, SumMinor: ps[0].AmountMinor}, tot[0].Duplicated)
	require.Equal(t, recon.Figure{Count: 1, SumMinor: 4200}, tot[0].Unmatched)
	require.Contains(t, d.Verdict(), "NOT balanced")
	require.Contains(t, d.Verdict(), "1 unmatched (CNY 42.00)")

	// The same file again: recorded once, nothing moves, no alert.
	before := f.alerts[recon.ClassShort]
	again, err := f.im.ImportFile(ctx, path)
	require.NoError(t, err)
	require.True(t, again.Repeated)
	require.Equal(t, before, f.alerts[recon.ClassShort])
	var files, entries int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM recon_files), (SELECT count(*) FROM recon_entries)`).Scan(&files, &entries))
	require.Equal(t, 1, files)
	require.Equal(t, 6, entries)

	// The settlement of ps[0] in a second file is a duplicate; a settled
	// payment's reversal is a conflict.
	rev := settle(ps[0], day)
	rev.Reversal = true
	second := writeCamt(t, t.TempDir(), "CAMT-2", settle(ps[0], day), rev)
	sum, err = f.im.ImportFile(ctx, second)
	require.NoError(t, err)
	require.Equal(t, map[recon.Class]int{recon.ClassDuplicated: 1, recon.ClassConflict: 1}, sum.Classes)
	require.Equal(t, payment.StateSettled, f.state(t, ps[0].ID))
	// Recorded rows are append-only.
	_, err = f.pool.Exec(ctx, `UPDATE recon_entries SET class = 'settled'`)
	require.Error(t, err)
}

// TestSettledByStatusReportFirst: a payment the pacs.002 already settled
// is not moved again; it is matched and the day balances.
func TestSettledByStatusReportFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	ps, day := f.exported(t, "CNY", 2)
	d, err := f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.False(t, d.Balanced(), "exported and unanswered")
	require.Equal(t, 2, d.Totals()[0].Unanswered.Count)
	var batch string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT batch_id FROM batch_payments WHERE payment_id = $1`, ps[0].ID).Scan(&batch))
	_, err = f.store.StatusReportApply(ctx, strings.Repeat("a", 64), "r.xml", "STS-1", []exportEntry{
		{BatchID: batch, PaymentID: ps[0].ID, Status: "ACSC"}, {BatchID: batch, PaymentID: ps[1].ID, Status: "ACSC"}})
	require.NoError(t, err)
	d, err = f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.False(t, d.Balanced(), "settled but not booked")
	require.Equal(t, 2, d.Totals()[0].NotBooked.Count)
	sum, err := f.im.ImportFile(ctx, writeCamt(t, t.TempDir(), "CAMT-3", settle(ps[0], day), settle(ps[1], day)))
	require.NoError(t, err)
	require.Equal(t, 2, sum.Classes[recon.ClassSettled])
	require.Equal(t, 0, sum.Changed)
	var changes int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM payment_timeline WHERE payment_id = $1 AND action = 'settle'`, ps[0].ID).Scan(&changes))
	require.Equal(t, 1, changes)
	d, err = f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.True(t, d.Balanced(), d.Problems())
}

// TestSameFileAtOnce: one file imported by two importers at once is
// recorded once.
func TestSameFileAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ps, day := f.exported(t, "CNY", 3)
	path := writeCamt(t, t.TempDir(), "CAMT-RACE", settle(ps[0], day), settle(ps[1], day), settle(ps[2], day))
	var wg sync.WaitGroup
	sums := make([]recon.Summary, 4)
	errs := make([]error, 4)
	for i := range sums {
		wg.Go(func() { sums[i], errs[i] = f.im.ImportFile(t.Context(), path) })
	}
	wg.Wait()
	fresh := 0
	for i := range sums {
		if errs[i] != nil {
			// A serialization failure the store's retry gave up on is an error, never a second record.
			require.False(t, errors.Is(errs[i], iso20022.ErrInvalidNotification), errs[i])
			continue
		}
		if !sums[i].Repeated {
			fresh++
		}
	}
	require.Equal(t, 1, fresh)
	var entries int
	require.NoError(t, f.pool.QueryRow(t.Context(), `SELECT count(*) FROM recon_entries`).Scan(&entries))
	require.Equal(t, 3, entries)
}

// TestHostileFilesRefused: XXE, an oversized file and the wrong namespace
// are refused whole, nothing recorded.
func TestHostileFilesRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	ps, day := f.exported(t, "CNY", 1)
	good, err := os.ReadFile(writeCamt(t, dir, "CAMT-G", settle(ps[0], day)))
	require.NoError(t, err)
	xxe := bytes.Replace(good, []byte("?>"), []byte("?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"), 1)
	xxe = bytes.Replace(xxe, []byte("<MsgId>CAMT-G</MsgId>"), []byte("<MsgId>&x;</MsgId>"), 1)
	wrongNS := bytes.Replace(good, []byte(iso20022.Camt054Namespace), []byte("urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"), 1)
	huge := filepath.Join(dir, "huge.xml")
	hf, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, hf.Truncate(recon.MaxFileBytes+1))
	require.NoError(t, hf.Close())
	for name, data := range map[string][]byte{"xxe.xml": xxe, "ns.xml": wrongNS} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	for _, name := range []string{"xxe.xml", "ns.xml", "huge.xml"} {
		_, err := f.im.ImportFile(t.Context(), filepath.Join(dir, name))
		require.ErrorIs(t, err, iso20022.ErrInvalidNotification, name)
	}
	var files int
	require.NoError(t, f.pool.QueryRow(t.Context(), `SELECT count(*) FROM recon_files`).Scan(&files))
	require.Zero(t, files)
	require.Equal(t, payment.StateExported, f.state(t, ps[0].ID))
}

// TestReportReadsDeliveryColumns: when the batch table records delivery
// (delivered_at, acknowledged_at, as the delivery work may add), the
// report shows it; without, delivery is unknown.
func TestReportReadsDeliveryColumns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	ps, day := f.exported(t, "CNY", 2)
	has := func(table, column string) bool {
		var ok bool
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2)`, table, column).Scan(&ok))
		return ok
	}
	d, err := f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	if !has("batches", "delivered_at") { // before the delivery work's migration
		require.False(t, d.DeliveryKnown)
		_, err = f.pool.Exec(ctx, `ALTER TABLE batches ADD COLUMN delivered_at timestamptz, ADD COLUMN acknowledged_at timestamptz`)
		require.NoError(t, err)
	}
	_, err = f.pool.Exec(ctx, `UPDATE batches SET delivered_at = now()`)
	require.NoError(t, err)
	d, err = f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.True(t, d.DeliveryKnown)
	tot := d.Totals()[0]
	require.Equal(t, recon.Figure{Count: 2, SumMinor: ps[0].AmountMinor + ps[1].AmountMinor}, tot.Delivered)
	require.Zero(t, tot.Acknowledged.Count)

	// A re-issued file (as the delivery work does it): the payments move to
	// a new batch, their old rows stay but are no longer live. Each payment
	// counts once, in its live batch.
	if !has("batch_payments", "live") {
		_, err = f.pool.Exec(ctx, `ALTER TABLE batch_payments ADD COLUMN live boolean NOT NULL DEFAULT true,
			DROP CONSTRAINT batch_payments_payment_id_key`)
		require.NoError(t, err)
	}
	for _, q := range []string{
		`INSERT INTO batches (id, cutoff_run_id, debtor_bank_id, currency, settlement_date, format, file_name, count, control_sum_minor, state, sha256, created_at, acknowledged_at)
			SELECT id || '-R1', cutoff_run_id, debtor_bank_id, currency, settlement_date, format, file_name || '.r1', count, control_sum_minor, state, sha256, created_at, now() FROM batches`,
		`UPDATE batch_payments SET live = false`,
		`INSERT INTO batch_payments (batch_id, seq, payment_id, debtor_name, live) SELECT batch_id || '-R1', seq, payment_id, debtor_name, true FROM batch_payments`,
	} {
		_, err = f.pool.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	d, err = f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.Len(t, d.Batches, 1)
	require.True(t, strings.HasSuffix(d.Batches[0].BatchID, "-R1"))
	tot = d.Totals()[0]
	require.Equal(t, 2, tot.Exported.Count)
	require.Equal(t, 2, tot.Acknowledged.Count)
	sum, err := f.im.ImportFile(ctx, writeCamt(t, t.TempDir(), "CAMT-R", settle(ps[0], day), settle(ps[1], day)))
	require.NoError(t, err)
	require.Equal(t, 2, sum.Classes[recon.ClassSettled])
	d, err = f.store.ReconDay(ctx, day)
	require.NoError(t, err)
	require.True(t, d.Balanced(), d.Problems())
}

// TestTwoFilesAtOnce: two different files booking the same payments,
// imported at once: each payment is settled once, the other file's entry
// is a duplicate.
func TestTwoFilesAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ps, day := f.exported(t, "CNY", 3)
	dir := t.TempDir()
	a := writeCamt(t, dir, "CAMT-A", settle(ps[0], day), settle(ps[1], day), settle(ps[2], day))
	b := writeCamt(t, dir, "CAMT-B", settle(ps[2], day), settle(ps[1], day), settle(ps[0], day))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, path := range []string{a, b} {
		wg.Go(func() { _, errs[i] = f.im.ImportFile(t.Context(), path) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	rows, err := f.pool.Query(t.Context(), `SELECT class, count(*) FROM recon_entries GROUP BY class`)
	require.NoError(t, err)
	got := map[string]int{}
	for rows.Next() {
		var c string
		var n int
		require.NoError(t, rows.Scan(&c, &n))
		got[c] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int{"settled": 3, "duplicated": 3}, got)
	for _, p := range ps {
		require.Equal(t, payment.StateSettled, f.state(t, p.ID))
	}
}
