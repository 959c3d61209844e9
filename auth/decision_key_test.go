package auth_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
)

// TestSecurityDecisionKeys: each session has a key of its own, derived
// (never stored) from a base key that the master key gives.
func TestSecurityDecisionKeys(t *testing.T) {
	t.Parallel()
	_, err := auth.NewDecisionKeys(make([]byte, 16))
	require.Error(t, err)
	master := bytes.Repeat([]byte{7}, 32)
	k, err := auth.NewDecisionKeys(auth.DeriveKey(master, "decision-key"))
	require.NoError(t, err)
	a := k.For("0f6e0a52-5d44-4b7e-9c1d-3b1f0e6a2c11")
	require.Len(t, a, 32)
	require.Equal(t, a, k.For("0f6e0a52-5d44-4b7e-9c1d-3b1f0e6a2c11"), "the same session, the same key (any serve)")
	require.NotEqual(t, a, k.For("0f6e0a52-5d44-4b7e-9c1d-3b1f0e6a2c12"))
	other, err := auth.NewDecisionKeys(auth.DeriveKey(bytes.Repeat([]byte{8}, 32), "decision-key"))
	require.NoError(t, err)
	require.NotEqual(t, a, other.For("0f6e0a52-5d44-4b7e-9c1d-3b1f0e6a2c11"), "another master key")
	require.NotEqual(t, auth.DeriveKey(master, "decision-key"), auth.DeriveKey(master, "session-token"))
}
