package staff

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// TestCheckTaskDigest: a task whose content was changed after b2bpay
// digested it is refused, so a person never approves what they did not
// see.
func TestCheckTaskDigest(t *testing.T) {
	t.Parallel()
	p := &payment.Payment{ID: "6f1c2a9e-0000-4000-8000-000000000001", OrderRef: "SO-1", AmountMinor: 128640050, Currency: "CNY",
		BankID: "104100000004", DebtorAccount: "6217000010001234567", ExecutionDate: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
		Creditor: payment.Creditor{Name: "深圳南方电子材料有限公司", Account: "755912345610801", BankID: "308584000013"}, Remittance: "发票 INV-1"}
	task := route.NewTask(p, payment.StageReview, 0)
	require.NoError(t, CheckTaskDigest(task))
	var shown bytes.Buffer
	ShowTask(&shown, task)
	require.Contains(t, shown.String(), "1286400.50 CNY")
	require.Contains(t, shown.String(), task.Digest)

	changed := task
	changed.Creditor.Account = "755900000000000"
	require.ErrorContains(t, CheckTaskDigest(changed), "does not match")
	changed = task
	changed.Amount = "1286400.51"
	require.ErrorContains(t, CheckTaskDigest(changed), "does not match")
}

// TestSessionFile: the session is kept readable by its owner only, read
// back as saved, and an expired one asks to sign in again.
func TestSessionFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b2bpay", "session.json")
	_, err := LoadSession(path)
	require.ErrorContains(t, err, "not signed in")

	s := Session{Token: "t", DecisionKey: "00ff", UserID: "alice", CustomerID: "C1", ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second)}
	require.NoError(t, s.Save(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	got, err := LoadSession(path)
	require.NoError(t, err)
	require.True(t, s.ExpiresAt.Equal(got.ExpiresAt))
	got.ExpiresAt = s.ExpiresAt
	require.Equal(t, s, got)

	s.ExpiresAt = time.Now().Add(-time.Second)
	require.NoError(t, s.Save(path))
	_, err = LoadSession(path)
	require.ErrorContains(t, err, "expired")

	p, err := SessionPath("")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(".b2bpay", "session.json"), filepath.Join(filepath.Base(filepath.Dir(p)), filepath.Base(p)))
	p, err = SessionPath(path)
	require.NoError(t, err)
	require.Equal(t, path, p)
}

// TestVerdictOf: the approve and reject switches give the verdict, none
// asks, both are refused.
func TestVerdictOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		approve, reject bool
		want            payment.Verdict
		err             bool
	}{{false, false, "", false}, {true, false, payment.VerdictApprove, false}, {false, true, payment.VerdictReject, false}, {true, true, "", true}} {
		got, err := VerdictOf(c.approve, c.reject)
		require.Equal(t, c.err, err != nil, "%+v", c)
		require.Equal(t, c.want, got, "%+v", c)
	}
	require.True(t, Moot(payment.CodeAlreadyDecided))
	require.True(t, Moot(payment.CodeFrozen))
	require.False(t, Moot(payment.CodeOTPInvalid))
}
