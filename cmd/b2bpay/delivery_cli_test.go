package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/iso20022"
)

// TestDeliveryCLI drives delivery, acknowledgement and re-issue from the
// command line: `cutoff run --deliver dir:…` writes and delivers the file,
// `batch list` shows it delivered, a pacs.002 group RJCT read by `reports
// import` rejects it, `batch reissue` (refused without an operator)
// supersedes it with a new file that is delivered too.
func TestDeliveryCLI(t *testing.T) {
	e := newEnv(t)
	dir, gw, inbound := t.TempDir(), t.TempDir(), t.TempDir()
	env := []string{"B2BPAY_DELIVER=dir:" + gw, "B2BPAY_INBOUND_DIR=" + inbound}
	cutoff := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	e.authorized(t, cutoff.Add(-time.Hour), time.Now().In(shanghai()).Format("2006-01-02"), "deliver-1", "deliver-2")

	r := e.b2bpay(t, dir, env, "cutoff", "run", "--at", cutoff.Format(time.RFC3339))
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "delivered 1 files to dir:"+gw+", 0 failed")
	var id, file string
	require.NoError(t, e.app.Pool.QueryRow(t.Context(), `SELECT id, file_name FROM batches`).Scan(&id, &file))
	sent, err := os.ReadFile(filepath.Join(gw, file))
	require.NoError(t, err)
	written, err := os.ReadFile(filepath.Join(dir, file))
	require.NoError(t, err)
	require.Equal(t, written, sent, "the file delivered is the file written")

	r = e.b2bpay(t, dir, env, "batch", "list")
	require.Zero(t, r.code, r.stderr)
	require.Regexp(t, `STATE\s+DELIVERY\s+ACK\s+FILE`, r.stdout)
	require.Regexp(t, id+`.*delivered\s+delivered \d\d-\d\d \d\d:\d\d\s+-\s+`+file, r.stdout)

	var rep bytes.Buffer
	require.NoError(t, iso20022.WriteStatusReport(&rep, iso20022.StatusReport{MessageID: "STS-1", CreatedAt: time.Now().UTC().Truncate(time.Second),
		OriginalMessageID: id, GroupStatus: "RJCT", GroupReasonCode: "FF01"}))
	require.NoError(t, os.WriteFile(filepath.Join(inbound, "rjct.xml"), rep.Bytes(), 0o600))
	r = e.b2bpay(t, dir, env, "reports", "import")
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "1 files: 1 applied")

	r = e.b2bpay(t, dir, env, "batch", "reissue", id, "--reason", "FF01")
	require.NotZero(t, r.code, "an operator is required")
	r = e.b2bpay(t, dir, env, "batch", "reissue", id, "--operator", "ops.li", "--reason", "clearing rejected FF01")
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "batch "+id+" superseded by "+id+"-R1: 2 payments in "+id+"-R1.")
	require.Contains(t, r.stdout, "delivered 1 files to dir:"+gw)
	var reissued string
	require.NoError(t, e.app.Pool.QueryRow(t.Context(), `SELECT file_name FROM batches WHERE reissue_of = $1`, id).Scan(&reissued))
	require.FileExists(t, filepath.Join(gw, reissued))

	r = e.b2bpay(t, dir, env, "batch", "list")
	require.Zero(t, r.code, r.stderr)
	require.Regexp(t, id+`\s.*superseded\s.*RJCT \d\d-\d\d \d\d:\d\d \(by `+id+`-R1\)`, r.stdout)
	require.Regexp(t, id+`-R1\s.*delivered\s.*\(re-issues `+id+`\)`, r.stdout)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM audit_log WHERE event = 'batch_reissued' AND actor = 'operator:ops.li'`))
}
