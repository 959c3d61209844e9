package otp_test

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
)

// The check policy, without a store: what a state makes of a code.
func TestCheck(t *testing.T) {
	now := time.Date(2026, 3, 11, 2, 30, 0, 0, time.UTC)
	seed, _, err := otp.Generate("b2bpay", "wang.fang")
	require.NoError(t, err)
	open := func(sealed []byte, _ string) ([]byte, error) { return bytes.Clone(sealed), nil }
	step, err := otp.Step(now, otp.Options{})
	require.NoError(t, err)
	code, err := otp.CodeAt(seed, step, otp.Options{})
	require.NoError(t, err)
	wrong := "000000"
	if wrong == code {
		wrong = "000001"
	}
	pol := otp.Policy{MaxFailures: 3, LockFor: time.Minute}
	enrolled := otp.State{Sealed: seed, LastStep: step - 5}
	codeOf := func(c otp.Checked) payment.Code {
		if c.Refusal == nil {
			return ""
		}
		return c.Refusal.Code
	}
	names := func(c otp.Checked) []string {
		var out []string
		for _, e := range c.Events {
			out = append(out, e.Name)
		}
		return out
	}

	t.Run("Accepted", func(t *testing.T) {
		st := enrolled
		st.Failures = 2
		c := otp.Check("u", st, code, open, pol, now)
		require.Nil(t, c.Refusal)
		require.Equal(t, step, c.Step)
		require.True(t, c.Changed)
		require.Equal(t, otp.State{Sealed: seed, LastStep: step}, c.State, "the step recorded, the count cleared")
		require.Equal(t, []otp.Event{{Name: "otp_ok", Detail: " step=" + itoa(step)}}, c.Events)
		require.Equal(t, seed, st.Sealed, "the sealed seed is not touched")
	})
	t.Run("Replayed", func(t *testing.T) {
		st := enrolled
		st.LastStep = step
		c := otp.Check("u", st, code, open, pol, now)
		require.Equal(t, payment.CodeOTPReplayed, codeOf(c))
		require.False(t, c.Changed)
		require.Equal(t, []string{"otp_replay"}, names(c))
		require.Contains(t, c.Events[0].Detail, "last_step=")
	})
	t.Run("WrongThenLocked", func(t *testing.T) {
		st := enrolled
		for i := 1; i <= 3; i++ {
			c := otp.Check("u", st, wrong, open, pol, now)
			require.Equal(t, payment.CodeOTPInvalid, codeOf(c))
			require.True(t, c.Changed)
			require.Equal(t, i, c.State.Failures)
			st = c.State
			if i < 3 {
				require.Equal(t, []string{"otp_wrong"}, names(c))
				require.Nil(t, st.LockedUntil)
			} else {
				require.Equal(t, []string{"otp_wrong", "otp_locked"}, names(c))
				require.Equal(t, now.Add(time.Minute), *st.LockedUntil)
				require.Contains(t, c.Refusal.Error(), "locked until")
			}
		}
		c := otp.Check("u", st, code, open, pol, now.Add(59*time.Second))
		require.Equal(t, payment.CodeOTPLocked, codeOf(c), "a right code while locked")
		require.False(t, c.Changed)
		// After the lock a wrong code starts the count again.
		c = otp.Check("u", st, wrong, open, pol, now.Add(time.Minute))
		require.Equal(t, 1, c.State.Failures)
		require.Nil(t, c.State.LockedUntil)
	})
	t.Run("NotEnrolled", func(t *testing.T) {
		c := otp.Check("u", otp.State{}, code, open, pol, now)
		require.Equal(t, payment.CodeOTPNotEnrolled, codeOf(c))
		require.Equal(t, []string{"otp_not_enrolled"}, names(c))
	})
	t.Run("Unopenable", func(t *testing.T) {
		broken := func([]byte, string) ([]byte, error) { return nil, errors.New("tampered") }
		for _, o := range []otp.Opener{broken, nil} {
			c := otp.Check("u", enrolled, code, o, pol, now)
			require.Equal(t, payment.CodeOTPInvalid, codeOf(c))
			require.Equal(t, []string{"otp_secret_unopenable"}, names(c))
			require.False(t, c.Changed, "not counted: the code was never judged")
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		p := otp.Policy{}.WithDefaults()
		require.Equal(t, 5, p.MaxFailures)
		require.Equal(t, 15*time.Minute, p.LockFor)
	})
}

func TestCountFailure(t *testing.T) {
	now := time.Date(2026, 3, 11, 2, 30, 0, 0, time.UTC)
	n, until := otp.CountFailure(0, nil, 3, time.Minute, now)
	require.Equal(t, 1, n)
	require.Nil(t, until)
	n, until = otp.CountFailure(2, nil, 3, time.Minute, now)
	require.Equal(t, 3, n)
	require.Equal(t, now.Add(time.Minute), *until)
	past := now.Add(-time.Hour)
	n, until = otp.CountFailure(3, &past, 3, time.Minute, now)
	require.Equal(t, 1, n, "a lock that ran out starts the count again")
	require.Nil(t, until)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
