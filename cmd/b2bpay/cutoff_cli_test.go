package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/server"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// The b2bpay binary the command-line tests run, built once.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// b2bpayBinary builds cmd/b2bpay once per test process; TestMain removes it.
func b2bpayBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "b2bpay-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "b2bpay")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// ran is what a b2bpay command did.
type ran struct {
	code           int
	stdout, stderr string
}

// b2bpay runs the built binary on the env's database with the export
// configured (the cn calendar, Shanghai), the outbound directory dir and
// more environment.
func (e *env) b2bpay(t *testing.T, dir string, environ []string, args ...string) ran {
	t.Helper()
	cmd := exec.Command(b2bpayBinary(t), args...)
	cmd.Env = append(os.Environ(), "B2BPAY_DATABASE_URL="+e.cfg.DatabaseURL, "B2BPAY_TIMEZONE=Asia/Shanghai",
		"B2BPAY_CALENDAR=cn", "B2BPAY_OUTBOUND_DIR="+dir, "B2BPAY_INBOUND_DIR="+filepath.Join(t.TempDir(), "inbound"),
		"B2BPAY_LOG_LEVEL=warn", "B2BPAY_MASTER_KEY="+base64.StdEncoding.EncodeToString(e.master))
	cmd.Env = append(cmd.Env, environ...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := ran{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

// authorized stores payments through intake and moves them to authorized
// at at, executing on exec: a fixture standing in for the approvals (the
// approval tests cover them).
func (e *env) authorized(t *testing.T, at time.Time, exec string, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		p := e.submit(t, request(id))
		out = append(out, p.ID)
	}
	_, err := e.app.Pool.Exec(context.Background(), `UPDATE payments SET state = 'authorized', updated_at = $2, execution_date = $3
		WHERE id::text = ANY($1)`, out, at, exec)
	require.NoError(t, err)
	// The approvals, sealed with the key the binary derives from the
	// master key: the claim re-checks them.
	key, err := server.MACKey(e.master)
	require.NoError(t, err)
	_, err = pgtest.Approve(context.Background(), e.app.Pool, key)
	require.NoError(t, err)
	return out
}

var settlementRe = regexp.MustCompile(`<IntrBkSttlmDt>([0-9-]+)</IntrBkSttlmDt>`)

// requireValidFile checks a written file against the pacs.008 XSD and
// returns its settlement date.
func requireValidFile(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("xmllint", "--noout", "--schema", "../../iso20022/testdata/xsd/pacs.008.001.08.xsd", path).CombinedOutput()
	require.NoError(t, err, string(out))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	m := settlementRe.FindSubmatch(raw)
	require.NotNil(t, m, "a settlement date in %s", path)
	return string(m[1])
}

// TestCutoffRunFutureAndDayOff drives `b2bpay cutoff run` as an operator
// would: a cutoff --at more than the clock skew in the future is refused
// unless --force, and records nothing; forced on a Sunday (13 December
// 2026) the run writes a valid file that settles on Monday and says so.
func TestCutoffRunFutureAndDayOff(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	ids := e.authorized(t, time.Now().Add(-time.Hour), "2026-12-14", "sunday-1", "sunday-2")

	soon := time.Now().Add(3*time.Minute + time.Second).Format(time.RFC3339)
	r := e.b2bpay(t, dir, nil, "cutoff", "run", "--at", soon)
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	// 3 minutes less the time the command took to start (seconds on a
	// loaded machine).
	require.Regexp(t, `--at `+regexp.QuoteMeta(soon)+` is [23]m[0-9]+s in the future, more than the 2m0s allowed for clock skew`, r.stderr)
	require.Contains(t, r.stderr, "pass --force to run it anyway")
	require.Zero(t, e.count(`SELECT count(*) FROM cutoff_runs`), "a refused run records nothing")

	// A week ahead, on a Sunday: refused without --force, run with it.
	sunday := "2026-12-13T10:00:00+08:00"
	r = e.b2bpay(t, dir, nil, "cutoff", "run", "--at", sunday)
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "pass --force")

	r = e.b2bpay(t, dir, nil, "cutoff", "run", "--at", sunday, "--force")
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "warning: cutoff "+sunday+" is ")
	require.Contains(t, r.stdout, "run because of --force")
	require.Contains(t, r.stdout, "cutoff "+sunday+": 2 payments in 1 files\n")
	require.Contains(t, r.stdout, "settles 2026-12-14: 2026-12-13 is not a business day of the CN calendar, the files settle on the next one\n")
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.Equal(t, "2026-12-14", requireValidFile(t, files[0]))
	for _, id := range ids {
		require.Equal(t, payment.StateExported, e.payment(t, id).State)
	}
	require.Equal(t, 1, e.count(`SELECT count(*) FROM cutoff_runs WHERE kind = 'manual' AND cutoff_at = $1`, "2026-12-13T10:00:00+08:00"))

	// Within the skew (a clock a minute fast): allowed without --force.
	r = e.b2bpay(t, dir, nil, "cutoff", "run", "--at", time.Now().Add(time.Minute).Format(time.RFC3339))
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.NotContains(t, r.stdout, "warning")
	require.Contains(t, r.stdout, ": 0 payments in 0 files\n")
}

// TestCutoffRunRecovery kills `b2bpay cutoff run` inside a file's write
// (export-during-write: part of the file on disk, not renamed) and checks
// what a gateway taking every file of the outbound directory finds: no
// file at all. A run with another --outbound-dir refuses the batch
// (every exporter must share one directory) and writes nothing there; the
// run with the batch's directory removes the temporary file, writes the
// file and prints it as recovered.
func TestCutoffRunRecovery(t *testing.T) {
	e := newEnv(t)
	dir, other := t.TempDir(), t.TempDir()
	cutoff := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	e.authorized(t, cutoff.Add(-time.Hour), time.Now().In(shanghai()).Format(payment.DateLayout), "crash-1", "crash-2")
	at := cutoff.Format(time.RFC3339)

	r := e.b2bpay(t, dir, []string{"B2BPAY_CRASH_AT=" + export.CrashDuringWrite}, "cutoff", "run", "--at", at)
	require.Equal(t, 3, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "crashing at "+export.CrashDuringWrite)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing but the temporary directory")
	require.Equal(t, export.TempDir, entries[0].Name())
	require.True(t, entries[0].IsDir())
	temps, err := os.ReadDir(filepath.Join(dir, export.TempDir))
	require.NoError(t, err)
	require.Len(t, temps, 1, "the partial file is in the temporary directory")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM batches WHERE state = 'claimed'`))

	// Another outbound directory: refused, nothing written there, the batch
	// stays claimed for its own directory.
	r = e.b2bpay(t, other, nil, "cutoff", "run")
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "goes to "+dir)
	require.Contains(t, r.stderr, "every exporter must share one --outbound-dir")
	got, err := filepath.Glob(filepath.Join(other, "*"))
	require.NoError(t, err)
	require.Empty(t, got, "no second copy in another directory")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM batches WHERE state = 'claimed'`))

	// The batch's own directory: the same cutoff again recovers it.
	r = e.b2bpay(t, dir, nil, "cutoff", "run", "--at", at)
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "cutoff "+cutoff.In(shanghai()).Format(time.RFC3339)+" was already run: nothing new claimed\n")
	require.NotContains(t, r.stdout, "0 payments in 0 files")
	require.Regexp(t, `recovered 1 files \(2 payments\) an earlier run left unwritten:\n  B[0-9]+-0001\.pacs\.008\.001\.08\.xml \(cutoff `, r.stdout)
	temps, err = os.ReadDir(filepath.Join(dir, export.TempDir))
	require.NoError(t, err)
	require.Empty(t, temps, "the killed writer's temporary file is removed")
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.Contains(t, r.stdout, filepath.Base(files[0]))
	settles := requireValidFile(t, files[0])
	d, err := calendar.ParseDate(settles)
	require.NoError(t, err)
	require.True(t, calendar.China().IsBusinessDay(d), "settles on a business day: %s", settles)
	require.Zero(t, e.count(`SELECT count(*) FROM batches WHERE state = 'claimed'`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM batches WHERE outbound_dir = $1`, dir))
	require.True(t, strings.HasPrefix(dir, "/"))
	batchID := strings.SplitN(filepath.Base(files[0]), ".", 2)[0]
	r = e.b2bpay(t, dir, nil, "batch", "show", batchID)
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "dir       "+dir+"\n")
}
