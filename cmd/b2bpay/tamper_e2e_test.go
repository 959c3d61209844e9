package main

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/server"
)

// TestTamperCaughtByVerifyAndCutoff approves three payments through the
// real workers, then changes one's amount and says another's review was by
// someone else, with SQL, as a database superuser could. The built binary's
// verify names both and exits 4; the cutoff exports only the untampered
// payment, holds the two and counts them in b2bpay_approval_mismatch_total;
// verify still names them afterwards and passes the exported one.
func TestTamperCaughtByVerifyAndCutoff(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	e.person(t, "max", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	var ids []string
	for _, name := range []string{"tamper-ok", "tamper-amount", "tamper-swap"} {
		p := e.submit(t, request(name))
		require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)
		require.Equal(t, approval.Applied, e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), p.Digest(), "").Outcome)
		res := e.decide(t, alex.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), p.Digest(), "")
		require.Equal(t, payment.StateAuthorized, res.State, res.Reason)
		ids = append(ids, p.ID)
	}
	clean, amount, swap := ids[0], ids[1], ids[2]

	bin := filepath.Join(t.TempDir(), "b2bpay")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "B2BPAY_DATABASE_URL="+e.cfg.DatabaseURL, "B2BPAY_MASTER_KEY="+base64.StdEncoding.EncodeToString(e.master))
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}
	verify := func() (string, int) { t.Helper(); return run("verify") }
	got, code := verify()
	require.Equal(t, 0, code, got)
	require.Contains(t, got, "3 payments checked, 0 broken")

	_, err = e.app.Pool.Exec(ctx, `UPDATE payments SET amount_minor = amount_minor * 10 WHERE id = $1`, amount)
	require.NoError(t, err)
	_, err = e.app.Pool.Exec(ctx, `UPDATE decisions SET actor_id = 'max' WHERE payment_id = $1 AND stage = 'review'`, swap)
	require.NoError(t, err)

	got, code = verify()
	require.Equal(t, 4, code, got)
	require.Contains(t, got, "BROKEN payment "+amount+": content_changed")
	require.Contains(t, got, "BROKEN payment "+swap+": actor_swapped")
	require.Contains(t, got, "decision 2 (review approve by max) was made by rita")
	require.NotContains(t, got, clean)
	require.Contains(t, got, "3 payments checked, 2 broken")

	outbound := t.TempDir()
	cut, err := e.exporter(t, outbound).RunManual(ctx, time.Now())
	require.NoError(t, err)
	m := server.NewMetrics(e.app.Store)
	m.CutoffRan(cut)

	require.Len(t, cut.Batches, 1)
	require.Equal(t, 1, cut.Payments)
	raw, err := os.ReadFile(filepath.Join(outbound, cut.Batches[0].FileName))
	require.NoError(t, err)
	require.Contains(t, string(raw), strings.ReplaceAll(clean, "-", ""))
	require.NotContains(t, string(raw), strings.ReplaceAll(amount, "-", ""))
	require.NotContains(t, string(raw), strings.ReplaceAll(swap, "-", ""))
	require.Equal(t, payment.StateExported, e.payment(t, clean).State)
	require.Equal(t, payment.StateHeld, e.payment(t, amount).State)
	require.Equal(t, payment.StateHeld, e.payment(t, swap).State)
	require.Equal(t, 2.0, counterValue(t, m, "b2bpay_approval_mismatch_total"))

	got, code = verify()
	require.Equal(t, 4, code, got)
	require.Contains(t, got, "BROKEN payment "+amount+": content_changed")
	require.Contains(t, got, "BROKEN payment "+swap+": actor_swapped")
	require.NotContains(t, got, clean, "the exported payment verifies clean")

	// An operator sees why each is held and voids one, audited; an
	// exported payment cannot be voided.
	got, code = run("held", "list")
	require.Equal(t, 0, code, got)
	require.Regexp(t, amount+`\s+erp/tamper-amount\s.*content_changed`, got)
	require.Regexp(t, swap+`\s+erp/tamper-swap\s.*decision_mac_invalid`, got)
	got, code = run("held", "void", amount, "--operator", "ops.li", "--reason", "amount changed in the database; the upstream submits it again")
	require.Equal(t, 0, code, got)
	require.Contains(t, got, "payment "+amount+" is cancelled")
	_, code = run("held", "void", clean, "--operator", "ops.li", "--reason", "no")
	require.Equal(t, 1, code)
	require.Equal(t, payment.StateExported, e.payment(t, clean).State)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM audit_log WHERE payment_id = $1 AND event = 'payment_voided' AND actor = 'admin:ops.li'`, amount))
	got, _ = run("held", "list")
	require.NotContains(t, got, amount)
	require.Contains(t, got, swap)
}

// counterValue reads a counter from the metrics' registry.
func counterValue(t *testing.T, m *server.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
