package staff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/otp"
)

// TestAuthenticatorPreviousStepOnlyEarly: the previous step's code is
// shown early in a step, never in its last seconds, when the server would
// see it two steps old a moment later.
func TestAuthenticatorPreviousStepOnlyEarly(t *testing.T) {
	seed := []byte("0123456789abcdef0123")
	const step = 59_000_000
	start := time.Unix(step*stepSeconds, 0)
	code := func(s int64) string {
		c, err := otp.CodeAt(seed, s, otp.Options{})
		require.NoError(t, err)
		return c
	}

	early := &Authenticator{Seed: seed, Now: func() time.Time { return start.Add(5 * time.Second) }}
	got, err := early.Next()
	require.NoError(t, err)
	require.Equal(t, code(step-1), got, "early in a step: the previous step first")
	got, err = early.Next()
	require.NoError(t, err)
	require.Equal(t, code(step), got)
	got, err = early.Next()
	require.NoError(t, err)
	require.Equal(t, code(step+1), got)

	late := &Authenticator{Seed: seed, Now: func() time.Time { return start.Add(25 * time.Second) }}
	got, err = late.Next()
	require.NoError(t, err)
	require.Equal(t, code(step), got, "late in a step: never the previous one")
	last, err := late.Last()
	require.NoError(t, err)
	require.Equal(t, got, last)
}
