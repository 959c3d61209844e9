package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit"
)

func requireThrottled(t *testing.T, err error) *auth.Throttled {
	t.Helper()
	require.Equal(t, payment.CodeLoginThrottled, payment.ErrorCode(err), "err: %v", err)
	var th *auth.Throttled
	require.True(t, errors.As(err, &th))
	require.GreaterOrEqual(t, th.RetryAfterSeconds(), 1)
	return th
}

// TestSecuritySignInGateBySourceThenUser: failures are charged to the
// source and the user id; the source runs out first (before the account
// lock of 5), successes are never charged, and time refills both.
func TestSecuritySignInGateBySourceThenUser(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Unix(1_700_000_000, 0))
	g := auth.NewGate(auth.GateConfig{PerSource: auth.Rate{Every: 10 * time.Second, Burst: 3},
		PerUser: auth.Rate{Every: time.Minute, Burst: 4}, Hashers: 4, Now: clk.Now})
	ctx := context.Background()
	attempt := func(source, user string, failed bool) error {
		done, err := g.Admit(ctx, source, user)
		if err == nil {
			done(failed)
		}
		return err
	}
	for range 20 {
		require.NoError(t, attempt("10.0.0.1", "alice", false), "successes are never throttled")
	}
	for range 3 {
		require.NoError(t, attempt("10.0.0.1", "alice", true))
	}
	th := requireThrottled(t, attempt("10.0.0.1", "alice", true))
	require.Equal(t, 10, th.RetryAfterSeconds())
	requireThrottled(t, attempt("10.0.0.1", "bob", false)) // the source, whoever it names
	require.NoError(t, attempt("10.0.0.2", "bob", false))  // another source is not held back

	// The user id's own bucket: 4 failures from anywhere.
	require.NoError(t, attempt("10.0.0.3", "alice", true))
	th = requireThrottled(t, attempt("10.0.0.4", "alice", false))
	require.Equal(t, 60, th.RetryAfterSeconds())
	// Unknown ids are charged the same way as anyone's.
	for range 3 {
		require.NoError(t, attempt("10.0.0.5", "nobody", true))
	}
	clk.Advance(10 * time.Second)
	require.NoError(t, attempt("10.0.0.1", "carol", false), "the source's bucket refills")
}

// TestSecuritySignInGateBoundsHashing: at most Hashers sign-ins check
// passwords at once; Waiting more wait at most MaxWait; beyond that a
// sign-in is refused at once with 429's error, Retry-After 1 s.
func TestSecuritySignInGateBoundsHashing(t *testing.T) {
	t.Parallel()
	g := auth.NewGate(auth.GateConfig{Hashers: 2, Waiting: 1, MaxWait: time.Hour})
	ctx := context.Background()
	d1, err := g.Admit(ctx, "a", "u1")
	require.NoError(t, err)
	d2, err := g.Admit(ctx, "b", "u2")
	require.NoError(t, err)

	waited := make(chan error, 1)
	go func() {
		for {
			d, err := g.Admit(ctx, "c", "u3")
			var th *auth.Throttled
			if errors.As(err, &th) {
				time.Sleep(time.Millisecond) // the probe below was the waiter
				continue
			}
			if err == nil {
				d(false)
			}
			waited <- err
			return
		}
	}()
	require.Eventually(t, func() bool {
		// Until the third waits, this one may be the waiter: its own
		// short deadline ends that wait (not a refusal).
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := g.Admit(short, "d", "u4")
		var th *auth.Throttled
		return errors.As(err, &th)
	}, 30*time.Second, time.Millisecond, "a fourth is refused while one waits")
	_, err = g.Admit(ctx, "d", "u4")
	th := requireThrottled(t, err)
	require.Equal(t, 1, th.RetryAfterSeconds())

	d1(true)
	require.NoError(t, <-waited, "the waiting one got the freed checker")
	d2(false)
	d2(false) // done twice releases once
	d3, err := g.Admit(ctx, "e", "u5")
	require.NoError(t, err)
	d4, err := g.Admit(ctx, "f", "u6")
	require.NoError(t, err)
	d3(false)
	d4(false)

	// A short wait runs out: refused, not hung.
	g = auth.NewGate(auth.GateConfig{Hashers: 1, Waiting: 1, MaxWait: 50 * time.Millisecond})
	d, err := g.Admit(ctx, "a", "u")
	require.NoError(t, err)
	_, err = g.Admit(ctx, "b", "v")
	requireThrottled(t, err)
	d(false)
}
