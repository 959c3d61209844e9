package postgres_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSecurityLockoutSameForUnknownUsers: the sign-in lock does not tell
// who exists. An id nobody has and a user's id get the same answers, in
// the same order, after the same work (one password check per attempt):
// five failures lock both, and the lock refuses both until it runs out.
func TestSecurityLockoutSameForUnknownUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const pw = "correct horse battery staple"
	known := b.withPassword(t, pw)
	unknown := "nobody-" + b.suffix

	answers := func(id string) ([]string, int64) {
		var checks atomic.Int64
		check := func(hash, p string) (bool, error) { checks.Add(1); return auth.CheckPassword(hash, p) }
		var out []string
		for range 7 {
			_, err := b.store.Login(ctx, id, "wrong password guess", check, auth.Throttle{})
			out = append(out, string(payment.ErrorCode(err))+": "+err.Error())
		}
		return out, checks.Load()
	}
	knownAnswers, knownChecks := answers(known.ID)
	unknownAnswers, unknownChecks := answers(unknown)
	require.Equal(t, knownAnswers, unknownAnswers)
	require.Equal(t, knownChecks, unknownChecks, "the same password checks")
	require.Equal(t, int64(5), knownChecks, "a locked id is refused before any check")
	for i, a := range knownAnswers {
		want := payment.CodeLoginFailed
		if i >= 5 {
			want = payment.CodeLoginThrottled
		}
		require.Contains(t, a, string(want)+": ", "attempt %d", i+1)
	}

	// The lock names no one in the audit trail when the id is unknown.
	var named int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE detail LIKE '%' || $1 || '%' OR actor LIKE '%' || $1 || '%'`,
		unknown).Scan(&named))
	require.Zero(t, named, "an unknown id (perhaps a password) is never written down")
}
