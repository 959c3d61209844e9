package intake_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/secret"
)

// credentials is an in-memory registry. err, when set, is what every
// lookup returns (the database being down).
type credentials struct {
	byID map[string]intake.Credential
	err  error
}

func (c *credentials) UpstreamGetByAMQPUser(_ context.Context, user string) (intake.Credential, error) {
	if c.err != nil {
		return intake.Credential{}, c.err
	}
	for _, cred := range c.byID {
		if cred.Upstream.AMQPUser != "" && cred.Upstream.AMQPUser == user {
			return cred, nil
		}
	}
	return intake.Credential{}, fmt.Errorf("upstream with RabbitMQ user %s: %w", user, payment.ErrNotFound)
}

func (c *credentials) UpstreamGetByID(_ context.Context, id string) (intake.Credential, error) {
	if c.err != nil {
		return intake.Credential{}, c.err
	}
	cred, ok := c.byID[id]
	if !ok {
		return intake.Credential{}, fmt.Errorf("upstream %s: %w", id, payment.ErrNotFound)
	}
	return cred, nil
}

// fixture is a registry of upstreams: erp authenticates by RabbitMQ user,
// mall and shop sign with HMAC, old is disabled (both ways), nokey has
// neither a key nor a user of its own that signs.
type fixture struct {
	auth     *intake.Authenticator
	creds    *credentials
	sealer   *secret.Sealer
	mallKey  []byte
	shopKey  []byte
	oldKey   []byte
	body     []byte
	erp      payment.Upstream
	mall     payment.Upstream
	shop     payment.Upstream
	old      payment.Upstream
	nokey    payment.Upstream
	swapped  payment.Upstream // holds shop's sealed key
	tampered payment.Upstream // holds mall's sealed key with a flipped byte
}

func setup(t *testing.T) *fixture {
	t.Helper()
	sealer, err := secret.NewSealer(1, map[byte][]byte{1: secret.NewKey()})
	require.NoError(t, err)
	f := &fixture{
		sealer:   sealer,
		mallKey:  secret.NewKey(),
		shopKey:  secret.NewKey(),
		oldKey:   secret.NewKey(),
		body:     []byte(`{"schema_version":1,"request_id":"req-1","amount":"1286400.50","remittance_info":"采购合同 HT-2026-0215"}`),
		erp:      payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "erp-user", Active: true, Customers: []string{"cust-1"}},
		mall:     payment.Upstream{ID: "mall", Name: "Mall", Active: true, Customers: []string{"cust-2"}},
		shop:     payment.Upstream{ID: "shop", Name: "Shop", Active: true},
		old:      payment.Upstream{ID: "old", Name: "Old", AMQPUser: "old-user", Active: false},
		nokey:    payment.Upstream{ID: "nokey", Name: "No key", AMQPUser: "nokey-user", Active: true},
		swapped:  payment.Upstream{ID: "swapped", Name: "Swapped", Active: true},
		tampered: payment.Upstream{ID: "tampered", Name: "Tampered", Active: true},
	}
	shopSealed := sealer.Seal(f.shopKey, intake.KeyAD(f.shop.ID))
	mallSealed := sealer.Seal(f.mallKey, intake.KeyAD(f.mall.ID))
	tampered := bytes.Clone(mallSealed)
	tampered[len(tampered)-1] ^= 1
	f.creds = &credentials{byID: map[string]intake.Credential{
		"erp":      {Upstream: f.erp},
		"mall":     {Upstream: f.mall, SealedKey: mallSealed, KeyVersion: 1},
		"shop":     {Upstream: f.shop, SealedKey: shopSealed, KeyVersion: 1},
		"old":      {Upstream: f.old, SealedKey: sealer.Seal(f.oldKey, intake.KeyAD(f.old.ID)), KeyVersion: 1},
		"nokey":    {Upstream: f.nokey},
		"swapped":  {Upstream: f.swapped, SealedKey: bytes.Clone(shopSealed), KeyVersion: 1},
		"tampered": {Upstream: f.tampered, SealedKey: tampered, KeyVersion: 1},
	}}
	f.auth = intake.NewAuthenticator(f.creds, sealer)
	return f
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	mallSig := intake.Sign(f.mallKey, f.body)
	tests := []struct {
		name  string
		claim intake.Claim
		body  []byte
		want  payment.Upstream // zero: refused as unauthenticated
	}{
		{"UserID", intake.Claim{UserID: "erp-user"}, nil, f.erp},
		{"UserIDWinsOverHeaders", intake.Claim{UserID: "erp-user", Upstream: "mall", Signature: "bad"}, nil, f.erp},
		{"UnknownUserID", intake.Claim{UserID: "stranger"}, nil, payment.Upstream{}},
		{"UnknownUserIDWithValidHMAC", intake.Claim{UserID: "stranger", Upstream: "mall", Signature: mallSig}, nil, payment.Upstream{}},
		{"UserIDOfUpstreamID", intake.Claim{UserID: "erp"}, nil, payment.Upstream{}},
		{"DisabledUserID", intake.Claim{UserID: "old-user"}, nil, payment.Upstream{}},
		{"HMACLowerHex", intake.Claim{Upstream: "mall", Signature: mallSig}, nil, f.mall},
		{"HMACUpperHex", intake.Claim{Upstream: "mall", Signature: strings.ToUpper(mallSig)}, nil, f.mall},
		{"HMACOtherUpstream", intake.Claim{Upstream: "shop", Signature: intake.Sign(f.shopKey, f.body)}, nil, f.shop},
		{"HMACDisabled", intake.Claim{Upstream: "old", Signature: intake.Sign(f.oldKey, f.body)}, nil, payment.Upstream{}},
		{"HMACWrongSignature", intake.Claim{Upstream: "mall", Signature: strings.Repeat("0", 64)}, nil, payment.Upstream{}},
		{"HMACNotHex", intake.Claim{Upstream: "mall", Signature: "not a signature"}, nil, payment.Upstream{}},
		{"HMACTruncated", intake.Claim{Upstream: "mall", Signature: mallSig[:63]}, nil, payment.Upstream{}},
		{"HMACOverOtherBody", intake.Claim{Upstream: "mall", Signature: intake.Sign(f.mallKey, []byte(`{"request_id":"req-2"}`))}, nil, payment.Upstream{}},
		{"HMACBodyChanged", intake.Claim{Upstream: "mall", Signature: mallSig}, append(bytes.Clone(f.body), ' '), payment.Upstream{}},
		{"HMACOtherUpstreamsKey", intake.Claim{Upstream: "mall", Signature: intake.Sign(f.shopKey, f.body)}, nil, payment.Upstream{}},
		{"HMACClaimsOtherUpstream", intake.Claim{Upstream: "shop", Signature: mallSig}, nil, payment.Upstream{}},
		{"NoHeaders", intake.Claim{}, nil, payment.Upstream{}},
		{"NoSignature", intake.Claim{Upstream: "mall"}, nil, payment.Upstream{}},
		{"NoUpstream", intake.Claim{Signature: mallSig}, nil, payment.Upstream{}},
		{"UnknownUpstream", intake.Claim{Upstream: "stranger", Signature: mallSig}, nil, payment.Upstream{}},
		{"UpstreamWithoutKey", intake.Claim{Upstream: "nokey", Signature: mallSig}, nil, payment.Upstream{}},
		{"UpstreamWithoutKeyEmptyHMAC", intake.Claim{Upstream: "nokey", Signature: intake.Sign(nil, f.body)}, nil, payment.Upstream{}},
		// shop's sealed key copied into swapped's row does not open for swapped,
		// even with a signature made with that key.
		{"SwappedKey", intake.Claim{Upstream: "swapped", Signature: intake.Sign(f.shopKey, f.body)}, nil, payment.Upstream{}},
		{"TamperedKey", intake.Claim{Upstream: "tampered", Signature: intake.Sign(f.mallKey, f.body)}, nil, payment.Upstream{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := tt.body
			if body == nil {
				body = f.body
			}
			got, err := f.auth.Authenticate(t.Context(), tt.claim, body)
			if tt.want.ID != "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			require.Equal(t, payment.CodeUnauthenticated, payment.ErrorCode(err), "error %v", err)
			require.True(t, payment.IsRefusal(err))
			require.Zero(t, got, "no upstream with a refusal")
		})
	}
}

func TestAuthenticateWithoutSealer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	auth := intake.NewAuthenticator(f.creds, nil)
	got, err := auth.Authenticate(t.Context(), intake.Claim{UserID: "erp-user"}, f.body)
	require.NoError(t, err)
	require.Equal(t, f.erp, got)
	_, err = auth.Authenticate(t.Context(), intake.Claim{Upstream: "mall", Signature: intake.Sign(f.mallKey, f.body)}, f.body)
	require.Equal(t, payment.CodeUnauthenticated, payment.ErrorCode(err), "error %v", err)
}

func TestAuthenticateWithOtherSealingKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other, err := secret.NewSealer(1, map[byte][]byte{1: secret.NewKey()})
	require.NoError(t, err)
	auth := intake.NewAuthenticator(f.creds, other)
	_, err = auth.Authenticate(t.Context(), intake.Claim{Upstream: "mall", Signature: intake.Sign(f.mallKey, f.body)}, f.body)
	require.Equal(t, payment.CodeUnauthenticated, payment.ErrorCode(err), "error %v", err)
}

// TestAuthenticateRegistryFailure: a registry that cannot be read is not a
// refusal, so the consumer retries instead of dead-lettering the message.
func TestAuthenticateRegistryFailure(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	auth := intake.NewAuthenticator(&credentials{err: down}, nil)
	for _, c := range []intake.Claim{{UserID: "erp-user"}, {Upstream: "mall", Signature: strings.Repeat("ab", 32)}} {
		got, err := auth.Authenticate(t.Context(), c, []byte("{}"))
		require.Error(t, err)
		require.ErrorIs(t, err, down)
		require.False(t, payment.IsRefusal(err), "claim %+v: %v", c, err)
		require.Zero(t, got)
	}
}

// TestAuthenticateClipsClaims: what a stranger claims is quoted, clipped and
// escaped in the refusal, which travels in headers and the database.
func TestAuthenticateClipsClaims(t *testing.T) {
	t.Parallel()
	f := setup(t)
	long := "\x00\xff" + strings.Repeat("账", 40)
	_, err := f.auth.Authenticate(t.Context(), intake.Claim{Upstream: long, Signature: "ab"}, f.body)
	require.Equal(t, payment.CodeUnauthenticated, payment.ErrorCode(err))
	msg := err.Error()
	require.Less(t, len(msg), 200, msg)
	require.NotContains(t, msg, "\x00")
	require.True(t, utf8.ValidString(msg), "valid UTF-8: %q", msg)
}

func TestSignMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	bodies := [][]byte{
		[]byte(`{"request_id":"req-1"}`),
		[]byte("付款 \x00\xff\n"),
		{},
		bytes.Repeat([]byte("0123456789"), 10000),
	}
	keys := [][]byte{secret.NewKey(), []byte("k"), bytes.Repeat([]byte{0xa5}, 100)}
	for _, key := range keys {
		for _, body := range bodies {
			cmd := exec.CommandContext(t.Context(), openssl, "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(key))
			cmd.Stdin = bytes.NewReader(body)
			out, err := cmd.Output()
			require.NoError(t, err)
			// "HMAC-SHA2-256(stdin)= <hex>"
			fields := strings.Fields(string(out))
			require.NotEmpty(t, fields)
			want := fields[len(fields)-1]
			require.Len(t, want, 64, "openssl output %q", out)
			require.Equal(t, want, intake.Sign(key, body), "key %x, body of %d bytes", key, len(body))
		}
	}
}
