package export_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSecurityInboundBlockedSubdirs: files named processed and quarantine
// in the inbound directory, where its subdirectories belong, do not stop
// the pass: they are moved aside (and read, and quarantined as the garbage
// they are) with an alert, and the report beside them is applied.
func TestSecurityInboundBlockedSubdirs(t *testing.T) {
	t.Parallel()
	r := newReportFixture(t)
	var logs bytes.Buffer
	r.reports.Log = slog.New(slog.NewTextHandler(&logs, nil))
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "processed"), []byte("not a directory"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "quarantine"), []byte("nor this"), 0o600))
	r.drop(t, "pacs002-0001.xml", "CNAPS-STS-0001", r.batch.ID, r.entry(r.ids[0], "ACSC", ""))

	sum, err := r.reports.RunOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 3, Applied: 1, Quarantined: 2, Payments: 1}, sum)
	r.requireStates(t, r.ids[:1], payment.StateSettled)
	require.FileExists(t, filepath.Join(r.inbound, "processed", "pacs002-0001.xml"))
	for name, content := range map[string]string{"processed~1": "not a directory", "quarantine~1": "nor this"} {
		got, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", name))
		require.NoError(t, err)
		require.Equal(t, content, string(got))
		require.FileExists(t, filepath.Join(r.inbound, "quarantine", name+".reason.txt"))
	}
	require.Contains(t, logs.String(), "alert=inbound_blocked")
	require.Equal(t, []string{"processed", "quarantine"}, dirNames(t, r.inbound))

	// The next pass runs as usual.
	r.drop(t, "pacs002-0002.xml", "CNAPS-STS-0002", r.batch.ID, r.entry(r.ids[1], "ACSC", ""))
	sum, err = r.reports.RunOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 1, Applied: 1, Payments: 1}, sum)
}

// TestSecurityInboundNeverOverwrites: two reports dropped under one name
// (one after the other) both stay in processed/, and two refused ones
// under one name both stay in quarantine/, each beside its own reason.
func TestSecurityInboundNeverOverwrites(t *testing.T) {
	t.Parallel()
	r := newReportFixture(t)
	first := r.drop(t, "status.xml", "CNAPS-STS-0001", r.batch.ID, r.entry(r.ids[0], "ACSC", ""))
	_, err := r.reports.RunOnce(t.Context())
	require.NoError(t, err)
	second := r.drop(t, "status.xml", "CNAPS-STS-0002", r.batch.ID, r.entry(r.ids[1], "RJCT", "AC04"))
	_, err = r.reports.RunOnce(t.Context())
	require.NoError(t, err)
	r.requireStates(t, r.ids[:1], payment.StateSettled)
	r.requireStates(t, r.ids[1:2], payment.StateReturned)
	for name, want := range map[string][]byte{"status.xml": first, "status~1.xml": second} {
		got, err := os.ReadFile(filepath.Join(r.inbound, "processed", name))
		require.NoError(t, err)
		require.Equal(t, want, got, name)
	}

	for i, body := range []string{"<first/>", "<second/>"} {
		require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "bad.xml"), []byte(body), 0o600))
		sum, err := r.reports.RunOnce(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, sum.Quarantined, "pass %d", i)
	}
	for name, want := range map[string]string{"bad.xml": "<first/>", "bad~1.xml": "<second/>"} {
		got, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", name))
		require.NoError(t, err)
		require.Equal(t, want, string(got), name)
		reason, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", name+".reason.txt"))
		require.NoError(t, err)
		require.Contains(t, string(reason), "not a readable pacs.002 report")
	}
}
