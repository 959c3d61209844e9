package export_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records decodes the JSON log lines written so far.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
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

	var logs syncBuffer
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
	for _, r := range logs.records(t) {
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
