package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// TestReconCommands: payments exported through the real export path, a
// camt.054 the bank books for them imported with the built binary's
// `recon import`, and `recon report --csv` says the day balances; a second
// file with an unmatched entry is recorded and alerted, the day then does
// not balance; the same file again changes nothing; a hostile file is
// refused with a non-zero exit.
func TestReconCommands(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ids := e.authorized(t, time.Now().Add(-time.Hour), time.Now().Format(time.DateOnly), "recon-1", "recon-2", "recon-3")
	outbound, files := t.TempDir(), t.TempDir()
	run, err := e.exporter(t, outbound).RunManual(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, 3, run.Payments)
	day := run.SettlementDate.Time(time.UTC)
	var entries []iso20022.NotificationEntry
	for _, id := range ids {
		p := e.payment(t, id)
		entries = append(entries, iso20022.NotificationEntry{EndToEndID: p.OrderRef, TransactionID: strings.ReplaceAll(p.ID, "-", ""),
			AmountMinor: p.AmountMinor, Currency: p.Currency, Status: "BOOK", BookingDate: day})
	}
	write := func(name string, es ...iso20022.NotificationEntry) string {
		t.Helper()
		var buf bytes.Buffer
		require.NoError(t, iso20022.WriteNotification(&buf, iso20022.Notification{MessageID: strings.TrimSuffix(name, ".xml"),
			CreatedAt: time.Now().UTC().Truncate(time.Second), Entries: es}))
		path := filepath.Join(files, name)
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
		out, err := exec.Command("xmllint", "--noout", "--schema", "../../iso20022/testdata/xsd/camt.054.001.08.xsd", path).CombinedOutput()
		require.NoError(t, err, string(out))
		return path
	}
	date := day.Format(time.DateOnly)

	ok := write("camt-1.xml", entries...)
	r := e.b2bpay(t, outbound, nil, "recon", "import", ok)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "camt-1, 3 entries: 3 settled; 3 payments changed, 0 mismatches")
	for _, id := range ids {
		require.Equal(t, payment.StateSettled, e.payment(t, id).State)
	}
	r = e.b2bpay(t, outbound, nil, "recon", "report", "--date", date, "--csv")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout) // header, the batch, the CNY total
	require.True(t, strings.HasPrefix(lines[2], date+",total,,,CNY,,3,"), lines[2])
	require.True(t, strings.HasSuffix(lines[2], ",yes"), lines[2])
	r = e.b2bpay(t, outbound, nil, "recon", "report", "--date", date)
	require.Contains(t, r.stdout, date+" balanced")

	stray := write("camt-2.xml", iso20022.NotificationEntry{EndToEndID: "SO-unknown", AmountMinor: 100, Currency: "CNY", Status: "BOOK", BookingDate: day})
	r = e.b2bpay(t, outbound, nil, "recon", "import", stray)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 unmatched")
	require.Contains(t, r.stderr, "alert=recon_mismatch")
	r = e.b2bpay(t, outbound, nil, "recon", "import", stray, ok)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 2, strings.Count(r.stdout, "imported before; nothing done"), r.stdout)
	r = e.b2bpay(t, outbound, nil, "recon", "report", "--date", date, "--csv")
	require.Contains(t, r.stdout, ",no\n")
	r = e.b2bpay(t, outbound, nil, "recon", "report", "--date", date)
	require.Contains(t, r.stdout, "NOT balanced: 1 unmatched (CNY 1.00)")

	raw, err := os.ReadFile(ok)
	require.NoError(t, err)
	hostile := filepath.Join(files, "xxe.xml")
	require.NoError(t, os.WriteFile(hostile, bytes.Replace(raw, []byte("?>"), []byte("?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"), 1), 0o600))
	r = e.b2bpay(t, outbound, nil, "recon", "import", hostile)
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stdout, "refused")
	require.Contains(t, r.stdout, "declarations")
}
