package keyring_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/keyring"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
	"github.com/b2bpay/b2bpay/secret"
)

// apply writes a rotation into versions, as postgres.KeyRotate does.
func apply(versions []keyring.Version, rot *keyring.Rotation) []keyring.Version {
	out := make([]keyring.Version, 0, len(versions)+1)
	for _, v := range versions {
		for _, o := range rot.Older {
			if o.Version == v.Version {
				v.SealedMACKey = o.SealedMACKey
			}
		}
		out = append(out, v)
	}
	return append(out, rot.Next)
}

// TestSecurityKeyringRotateTwice: after two rotations the third key opens
// secrets re-sealed at each step and checks MACs made with each of the
// three keys; the first two keys are refused as retired, a stranger's key
// as wrong, and a MAC relabelled with another version does not check.
func TestSecurityKeyringRotateTwice(t *testing.T) {
	k1, k2, k3 := secret.NewKey(), secret.NewKey(), secret.NewKey()
	r1, err := keyring.Open(k1, nil)
	require.NoError(t, err)
	require.NotNil(t, r1.First)
	versions := []keyring.Version{*r1.First}
	r1, err = keyring.Open(k1, versions)
	require.NoError(t, err)
	require.Nil(t, r1.First)

	ad := []byte("otp-seed:ann")
	sealed := r1.Sealer.Seal([]byte("ann's seed"), ad)
	e := payment.Entry{PaymentID: "p1", Seq: 1, Action: "received", Hash: []byte("h1")}
	mac1 := r1.MAC.Entry("digest", e)
	require.Len(t, mac1, 32, "version 1 MACs keep their old form")

	rot, err := r1.Rotate(k2, versions)
	require.NoError(t, err)
	sealed, err = rot.Reseal(sealed, ad)
	require.NoError(t, err)
	versions = apply(versions, rot)
	r2, err := keyring.Open(k2, versions)
	require.NoError(t, err)
	require.Equal(t, 2, r2.Version)
	mac2 := r2.MAC.Entry("digest", e)
	require.Len(t, mac2, 33)
	require.Equal(t, byte(2), seal.MACVersion(mac2))

	rot, err = r2.Rotate(k3, versions)
	require.NoError(t, err)
	sealed, err = rot.Reseal(sealed, ad)
	require.NoError(t, err)
	versions = apply(versions, rot)
	r3, err := keyring.Open(k3, versions)
	require.NoError(t, err)
	plain, err := r3.Sealer.Open(sealed, ad)
	require.NoError(t, err)
	require.Equal(t, "ann's seed", string(plain))
	for _, mac := range [][]byte{mac1, mac2, r3.MAC.Entry("digest", e)} {
		e.MAC = mac
		require.True(t, r3.MAC.Sealed("digest", e), "version %d", seal.MACVersion(mac))
		require.False(t, r3.MAC.Sealed("other digest", e))
	}
	relabelled := append([]byte{3}, mac2[1:]...)
	e.MAC = relabelled
	require.False(t, r3.MAC.Sealed("digest", e))
	e.MAC = append([]byte{3}, mac1...)
	require.False(t, r3.MAC.Sealed("digest", e))

	for _, k := range [][]byte{k1, k2} {
		_, err := keyring.Open(k, versions)
		require.True(t, errors.Is(err, keyring.ErrRetiredKey), "%v", err)
	}
	_, err = keyring.Open(secret.NewKey(), versions)
	require.True(t, errors.Is(err, keyring.ErrWrongKey), "%v", err)
	_, err = r3.Rotate(k1, versions)
	require.ErrorContains(t, err, "already")
}
