package postgres_test

import (
	"sync/atomic"
	"testing"
	"time"

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

// TestSecurityLoginThrottleRowsDoNotPileUp: the sign-in lock rows of ids
// typed once are pruned after a day (a running lock is kept).
func TestSecurityLoginThrottleRowsDoNotPileUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, err := b.pool.Exec(ctx, `INSERT INTO login_throttle (subject, failures, locked_until, updated_at) VALUES
		('\x01'::bytea || $1::bytea, 1, NULL, $2), ('\x02'::bytea || $1::bytea, 5, $3, $2)`,
		[]byte(b.suffix), baseTime.Add(-25*time.Hour), baseTime.Add(time.Hour))
	require.NoError(t, err)
	_, err = b.store.Login(ctx, "nobody-"+b.suffix, "wrong password guess", auth.CheckPassword, auth.Throttle{})
	require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
	var stale, locked int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failures = 1), count(*) FILTER (WHERE failures = 5)
		FROM login_throttle WHERE subject IN ('\x01'::bytea || $1::bytea, '\x02'::bytea || $1::bytea)`, []byte(b.suffix)).Scan(&stale, &locked))
	require.Zero(t, stale, "a day-old count is pruned")
	require.Equal(t, 1, locked, "a running lock is kept")
}
