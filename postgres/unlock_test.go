package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
)

// TestUserUnlock: an operator ends a user's OTP lock and sign-in lock
// before they run out; the right password and code work at once, the
// failure counts start again, and the audit trail says who did it, why,
// and which locks were ended.
func TestUserUnlock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	k := newOTPKit(t)
	const pw = "correct horse battery staple"
	u := b.withPassword(t, pw)
	seed := k.enroll(t, b, u.ID, nil)
	wrong := wrongCode(t, b, seed)
	for range 5 {
		_, err := b.store.Login(ctx, u.ID, "wrong password guess", auth.CheckPassword, auth.Throttle{})
		require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
		_, err = k.check(t, b, u.ID, wrong)
		require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err))
	}
	_, err := b.store.Login(ctx, u.ID, pw, auth.CheckPassword, auth.Throttle{})
	require.Equal(t, payment.CodeLoginThrottled, payment.ErrorCode(err))
	right, _ := code(t, b, seed, 0)
	_, err = k.check(t, b, u.ID, right)
	require.Equal(t, payment.CodeOTPLocked, payment.ErrorCode(err))

	got, err := b.store.UserUnlock(ctx, u.ID, "admin:ops-alice", "locked out by a typo, called the help desk")
	require.NoError(t, err)
	until := baseTime.Add(15 * time.Minute)
	require.Equal(t, 5, got.OTPFailures)
	require.Equal(t, 5, got.LoginFailures)
	require.NotNil(t, got.OTPLockedUntil)
	require.NotNil(t, got.LoginLockedUntil)
	requireTime(t, until, *got.OTPLockedUntil)
	requireTime(t, until, *got.LoginLockedUntil)

	n, lock := b.loginState(t, u.ID)
	require.Zero(t, n)
	require.Nil(t, lock)
	failures, lock, _ := b.otpState(t, u.ID)
	require.Zero(t, failures)
	require.Nil(t, lock)
	_, err = b.store.Login(ctx, u.ID, pw, auth.CheckPassword, auth.Throttle{})
	require.NoError(t, err, "signs in at once")
	_, err = k.check(t, b, u.ID, right)
	require.NoError(t, err, "the code is accepted at once")

	entries, err := b.store.AuditList(ctx, u.ID, 100)
	require.NoError(t, err)
	var unlock []string
	for _, e := range entries {
		if e.Event == "user_unlocked" {
			require.Equal(t, "admin:ops-alice", e.Actor)
			unlock = append(unlock, e.Detail)
		}
	}
	require.Len(t, unlock, 1)
	require.Contains(t, unlock[0], "OTP lock until "+until.UTC().Format(time.RFC3339)+" ended (5 failures)")
	require.Contains(t, unlock[0], "sign-in lock until "+until.UTC().Format(time.RFC3339)+" ended (5 failures)")
	require.Contains(t, unlock[0], "locked out by a typo, called the help desk")

	// Nothing locked: nothing to end, and still on the record.
	got, err = b.store.UserUnlock(ctx, u.ID, "admin:ops-bob", "checking")
	require.NoError(t, err)
	require.Nil(t, got.OTPLockedUntil)
	require.Nil(t, got.LoginLockedUntil)
	events := b.auditEvents(t, u.ID)
	require.Equal(t, "user_unlocked", events[len(events)-1])

	// A lock that ran out is not reported as ended.
	for range 5 {
		_, _ = b.store.Login(ctx, u.ID, "wrong password guess", auth.CheckPassword, auth.Throttle{})
	}
	b.clock.Advance(16 * time.Minute)
	got, err = b.store.UserUnlock(ctx, u.ID, "admin:ops-bob", "old lock")
	require.NoError(t, err)
	require.Nil(t, got.LoginLockedUntil)

	_, err = b.store.UserUnlock(ctx, "no-such-user-"+b.suffix, "admin:ops-bob", "typo")
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err))
	require.Empty(t, b.auditEvents(t, "no-such-user-"+b.suffix))
}
