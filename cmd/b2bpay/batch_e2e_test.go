package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// oathtool makes the person's current code with Debian's oathtool, as
// their authenticator app would: a generator we did not write.
func (p *person) oathtool(t *testing.T) string {
	t.Helper()
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(p.auth.Seed)
	out, err := exec.Command("oathtool", "--totp", "-b", secret).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// staffRun runs the built binary as a member of staff (their session file,
// the env's API and broker), with stdin.
func (e *env) staffRun(t *testing.T, session, stdin string, args ...string) ran {
	t.Helper()
	cmd := exec.Command(b2bpayBinary(t), args...)
	cmd.Env = append(os.Environ(), "B2BPAY_API_URL=http://"+e.apiAddr, "B2BPAY_AMQP_URL="+e.cfg.AMQPURL,
		"B2BPAY_SESSION_FILE="+session, "B2BPAY_LOG_LEVEL=warn")
	cmd.Stdin = strings.NewReader(stdin)
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

// signIn signs p in through the binary and returns their session file.
func (e *env) signIn(t *testing.T, p *person) string {
	t.Helper()
	session := filepath.Join(t.TempDir(), p.id+".session")
	r := e.staffRun(t, session, testPassword+"\n", "login", "--user", p.id)
	require.Zero(t, r.code, r.stderr)
	return session
}

var batchDigestLine = regexp.MustCompile(`batch digest ([0-9a-f]{64})`)

// The whole afternoon through the binary, codes from oathtool: the
// applicant confirms four payments with one code (`confirm` with several
// ids), the reviewer approves every waiting review with one code (`staff
// approve --all`, the code typed at the prompt that shows the count,
// totals and digest), the authorizer approves by ids with one code: one
// over their limit is refused, the rest applied, exit 3.
func TestBatchThroughTheBinary(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	require.NoError(t, e.app.Store.UserSetLimit(ctx, "alex", "CNY", 2_000_000_00, "test"))
	var ids []string
	var want []approval.BatchItem
	for i := range 4 {
		r := request(fmt.Sprintf("batch-%d", i))
		if i == 3 {
			r.Amount = "2500000.00" // over alex's limit
		}
		p := e.submit(t, r)
		ids = append(ids, p.ID)
		want = append(want, approval.BatchItem{PaymentID: p.ID, Digest: p.Digest(), Currency: p.Currency, AmountMinor: p.AmountMinor})
	}

	annSession := e.signIn(t, ann)
	r := e.staffRun(t, annSession, "", append([]string{"confirm", "--otp", ann.oathtool(t)}, ids...)...)
	require.Zero(t, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	_, totals, digest, err := approval.Summarize(payment.StageConfirmation, payment.VerdictApprove, want)
	require.NoError(t, err)
	require.Contains(t, r.stdout, "batch digest "+digest, "the digest shown is the one we compute from the payments")
	require.Contains(t, r.stdout, "count        4")
	require.Contains(t, r.stdout, "total        "+payment.FormatAmount(totals[0].AmountMinor, "CNY")+" CNY")
	require.Contains(t, r.stdout, "applied, 4 applied, 0 refused of 4")
	for _, id := range ids {
		require.Equal(t, payment.StateAwaitingReview, e.payment(t, id).State)
	}
	var step int64
	require.Equal(t, 1, e.count(`SELECT count(DISTINCT otp_step) FROM decisions WHERE payment_id::text = ANY($1) AND stage = 'confirmation'`, ids))
	require.NoError(t, e.app.Pool.QueryRow(ctx, `SELECT otp_step FROM decision_batches WHERE actor_id = 'ann'`).Scan(&step))
	require.NotZero(t, step)

	// The reviewer: every waiting review, the code typed at the prompt.
	ritaSession := e.signIn(t, rita)
	r = e.staffRun(t, ritaSession, rita.oathtool(t)+"\n", "staff", "approve", "--stage", "review", "--all")
	require.Zero(t, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	m := batchDigestLine.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	require.Contains(t, r.stderr, "one-time password for approve of 4 payments, batch digest "+m[1], "the prompt names the digest")
	require.Less(t, strings.Index(r.stdout, "batch digest"), strings.Index(r.stdout, "applied  "), "shown before the results")
	for _, id := range ids {
		require.Equal(t, payment.StateAwaitingAuthorization, e.payment(t, id).State)
	}

	// The authorizer, by ids: one is over the limit.
	alexSession := e.signIn(t, alex)
	r = e.staffRun(t, alexSession, "", "staff", "approve", "--stage", "authorization", "--ids", strings.Join(ids, ","), "--otp", alex.oathtool(t))
	require.Equal(t, 3, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "partial, 3 applied, 1 refused of 4")
	require.Contains(t, r.stdout, "over_limit")
	for i, id := range ids {
		want := payment.StateAuthorized
		if i == 3 {
			want = payment.StateAwaitingAuthorization
		}
		require.Equal(t, want, e.payment(t, id).State)
	}

	// verify checks each batched approval as one alone, and each batch's
	// record against its MAC: a record changed with SQL is named.
	v := e.b2bpay(t, t.TempDir(), nil, "verify")
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stdout, "4 payments checked, 0 broken")
	require.Contains(t, v.stdout, "3 batch decisions checked, 0 broken")
	conn, err := e.app.Pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`) // past the append-only trigger, as a superuser can
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `UPDATE decision_batches SET item_count = 3 WHERE actor_id = 'rita'`)
	require.NoError(t, err)
	_, _ = conn.Exec(ctx, `SET session_replication_role = DEFAULT`)
	conn.Release()
	v = e.b2bpay(t, t.TempDir(), nil, "verify")
	require.Equal(t, 4, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stdout, "batch_mac_invalid")
	require.Contains(t, v.stdout, "review approve of 3 payments by rita")

	// Nothing left to review: exit 0, nothing sent.
	r = e.staffRun(t, ritaSession, "", "staff", "approve", "--stage", "review", "--all", "--otp", "000000")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "no review task is waiting")
	// No way to choose, or two: a clear error.
	r = e.staffRun(t, ritaSession, "", "staff", "approve", "--stage", "review", "--all", "--ids", ids[0])
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "one of --all, --ids or --max-total")
}
