package export_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testlog"
)

// records decodes the JSON log lines written so far.
func records(t *testing.T, s *testlog.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(s.Bytes()), []byte("\n")) {
		var r map[string]any
		require.NoError(t, json.Unmarshal(line, &r))
		out = append(out, r)
	}
	return out
}

// TestRunCutoffHoldsTamperedPayments: payments whose amount or creditor
// account was changed with SQL after they were approved are held at the
// cutoff, each with an ERROR log line carrying alert=approval_mismatch
// and the payment id; the file carries only the untampered payments.
func TestRunCutoffHoldsTamperedPayments(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	ids := f.submit(t, bankCNAPS, "CNY", 4, "2026-03-10")
	f.authorize(t, ids, at(2026, 3, 10, 9, 30))
	amount, creditor := ids[1], ids[3]
	_, err := f.pool.Exec(ctx, `UPDATE payments SET amount_minor = amount_minor + 100000000 WHERE id = $1`, amount)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE payments SET creditor_account = '6222020200112233' WHERE id = $1`, creditor)
	require.NoError(t, err)

	var logs testlog.Buffer
	dir := t.TempDir()
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(5 * time.Second))
	x := f.exporter(t, f.store, dir, func(c *export.Config) {
		c.MaxPerFile = 10
		c.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	res, err := x.RunCutoff(ctx, at(2026, 3, 10, 10, 0))
	require.NoError(t, err)

	require.Equal(t, 2, res.Payments)
	require.Len(t, res.Batches, 1)
	require.ElementsMatch(t, []string{ids[0], ids[2]}, paymentsInFile(t, filepath.Join(dir, res.Batches[0].FileName)))
	validate(t, filepath.Join(dir, res.Batches[0].FileName))
	require.Len(t, res.Held, 2)
	require.Equal(t, map[payment.State]int{payment.StateExported: 2}, count(f.states(t, []string{ids[0], ids[2]})))
	require.Equal(t, map[payment.State]int{payment.StateHeld: 2}, count(f.states(t, []string{amount, creditor})))

	alerted := map[string]string{}
	for _, r := range records(t, &logs) {
		if r["alert"] == "approval_mismatch" {
			require.Equal(t, "ERROR", r["level"])
			alerted[r["payment_id"].(string)] = r["failed"].(string)
		}
	}
	require.Equal(t, map[string]string{amount: "content_changed", creditor: "content_changed"}, alerted)
}

func count(states map[string]payment.State) map[payment.State]int {
	out := map[payment.State]int{}
	for _, st := range states {
		out[st]++
	}
	return out
}

// TestWriteRefusesContentChangedAfterClaim: a payment changed with SQL
// after the claim (the run stopped there) no longer matches its sealed
// export entry: its batch's file is not written, the batch stays claimed
// and the error says why; the other batches are written.
func TestWriteRefusesContentChangedAfterClaim(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	cny := f.submit(t, bankCNAPS, "CNY", 2, "2026-03-10")
	usd := f.submit(t, bankCNAPS, "USD", 1, "2026-03-10")
	f.authorize(t, append(cny, usd...), at(2026, 3, 10, 9, 30))
	dir := t.TempDir()
	cutoff := at(2026, 3, 10, 10, 0)
	f.clock.Set(cutoff.Add(5 * time.Second))
	x := f.exporter(t, f.store, dir, crashAt(export.CrashAfterClaim))
	runCrashing(t, func() { _, _ = x.RunCutoff(ctx, cutoff) })
	_, err := f.pool.Exec(ctx, `UPDATE payments SET creditor_account = '6222020200112233' WHERE id = $1`, cny[1])
	require.NoError(t, err)

	x = f.exporter(t, f.store, dir)
	_, err = x.WritePending(ctx)
	require.ErrorIs(t, err, export.ErrContentChanged)
	require.Contains(t, err.Error(), cny[1])
	pending, err := f.store.BatchesClaimed(ctx)
	require.NoError(t, err)
	require.Len(t, pending, 1, "the CNY batch stays claimed, unwritten")
	require.NoFileExists(t, filepath.Join(dir, pending[0].FileName))
	requireNoTemp(t, dir)
	require.Equal(t, map[string]string{"USD": "written", "CNY": "claimed"}, byCurrency(t, f))
}

// byCurrency is each batch's state by its currency.
func byCurrency(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	bs, err := f.store.BatchList(t.Context(), 100)
	require.NoError(t, err)
	out := map[string]string{}
	for _, b := range bs {
		out[b.Currency] = b.State
	}
	return out
}
