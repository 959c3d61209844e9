package auth_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 500_000_000, time.UTC)

func newSigner(t *testing.T, key []byte) (*auth.Signer, *testkit.Clock) {
	t.Helper()
	clk := testkit.NewClock(t0)
	s, err := auth.NewSigner(key, time.Hour, clk.Now)
	require.NoError(t, err)
	return s, clk
}

var master = bytes.Repeat([]byte{7}, 32)

// requireTokenInvalid checks err is the domain's token error and that its
// message says what is wrong.
func requireTokenInvalid(t *testing.T, err error, says string) {
	t.Helper()
	require.Equal(t, payment.CodeTokenInvalid, payment.ErrorCode(err), "got %v", err)
	require.Contains(t, err.Error(), says)
}

func TestSignerRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newSigner(t, auth.DeriveKey(master, "session-token"))
	token, c, err := s.Issue("alice", "CUST-1")
	require.NoError(t, err)
	_, err = uuid.Parse(c.SessionID)
	require.NoError(t, err)
	require.Equal(t, "alice", c.UserID)
	require.Equal(t, "CUST-1", c.CustomerID)
	require.Equal(t, t0.Truncate(time.Second), c.IssuedAt)
	require.Equal(t, t0.Truncate(time.Second).Add(time.Hour), c.ExpiresAt)

	got, err := s.Verify(token)
	require.NoError(t, err)
	require.Equal(t, c, got)

	_, c2, err := s.Issue("alice", "CUST-1")
	require.NoError(t, err)
	require.NotEqual(t, c.SessionID, c2.SessionID, "each session has its own id")
}

func TestSignerTimes(t *testing.T) {
	t.Parallel()
	s, clk := newSigner(t, master)
	token, c, err := s.Issue("alice", "CUST-1")
	require.NoError(t, err)

	clk.Set(c.ExpiresAt.Add(-time.Second))
	_, err = s.Verify(token)
	require.NoError(t, err)

	clk.Set(c.ExpiresAt.Add(time.Minute))
	_, err = s.Verify(token)
	requireTokenInvalid(t, err, "expired")

	clk.Set(c.IssuedAt.Add(-time.Minute))
	_, err = s.Verify(token)
	requireTokenInvalid(t, err, "not valid yet")
}

func TestSignerRefusesForgeries(t *testing.T) {
	t.Parallel()
	key := auth.DeriveKey(master, "session-token")
	s, _ := newSigner(t, key)
	token, c, err := s.Issue("alice", "CUST-1")
	require.NoError(t, err)

	claims := jwt.MapClaims{
		"iss": auth.Issuer, "sub": "mallory", "jti": c.SessionID, "cid": "CUST-1",
		"iat": c.IssuedAt.Unix(), "nbf": c.IssuedAt.Unix(), "exp": c.ExpiresAt.Unix(),
	}
	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		t.Helper()
		tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
		require.NoError(t, err)
		return tok
	}
	// The forger's token is well formed: with the right key it would pass.
	valid := sign(jwt.SigningMethodHS256, key, claims)
	_, err = s.Verify(valid)
	require.NoError(t, err)

	parts := strings.Split(token, ".")
	sig := []byte(parts[2])
	if sig[3] == 'A' {
		sig[3] = 'B'
	} else {
		sig[3] = 'A'
	}
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)
	payload := strings.Split(valid, ".")[1]
	swappedPayload := parts[0] + "." + payload + "." + parts[2]

	wrongIssuer := jwt.MapClaims{}
	for k, v := range claims {
		wrongIssuer[k] = v
	}
	wrongIssuer["iss"] = "evil"

	for name, tc := range map[string]struct{ token, says string }{
		"tampered signature": {tamperedSig, "signature"},
		"swapped payload":    {swappedPayload, "signature"},
		"alg none":           {sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims), "algorithm"},
		"alg HS512":          {sign(jwt.SigningMethodHS512, key, claims), "algorithm"},
		"another key":        {sign(jwt.SigningMethodHS256, auth.DeriveKey(master, "other"), claims), "signature"},
		"master key":         {sign(jwt.SigningMethodHS256, master, claims), "signature"},
		"wrong issuer":       {sign(jwt.SigningMethodHS256, key, wrongIssuer), "issued by"},
		"garbage":            {"not a token", "malformed"},
		"empty":              {"", "malformed"},
		"three dots":         {"a.b.c", "malformed"},
	} {
		_, err := s.Verify(tc.token)
		require.Error(t, err, name)
		requireTokenInvalid(t, err, tc.says)
	}
}

func TestSignerRequiresClaims(t *testing.T) {
	t.Parallel()
	s, _ := newSigner(t, master)
	full := jwt.MapClaims{
		"iss": auth.Issuer, "sub": "alice", "jti": uuid.NewString(), "cid": "CUST-1",
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, full).SignedString(master)
	require.NoError(t, err)
	_, err = s.Verify(tok)
	require.NoError(t, err)
	for _, missing := range []string{"sub", "jti", "cid", "iat", "nbf", "exp", "iss"} {
		c := jwt.MapClaims{}
		for k, v := range full {
			if k != missing {
				c[k] = v
			}
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(master)
		require.NoError(t, err)
		_, err = s.Verify(tok)
		require.Equal(t, payment.CodeTokenInvalid, payment.ErrorCode(err), "without %s: %v", missing, err)
	}
}

func TestNewSignerChecks(t *testing.T) {
	t.Parallel()
	_, err := auth.NewSigner(make([]byte, 31), time.Hour, nil)
	require.Error(t, err)
	_, err = auth.NewSigner(make([]byte, 32), 0, nil)
	require.Error(t, err)
	s, err := auth.NewSigner(make([]byte, 32), time.Hour, nil)
	require.NoError(t, err)
	_, c, err := s.Issue("alice", "CUST-1")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), c.IssuedAt, 2*time.Second, "nil clock is time.Now")
	_, _, err = s.Issue("", "CUST-1")
	require.Error(t, err)
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	a := auth.DeriveKey(master, "session-token")
	require.Len(t, a, 32)
	require.Equal(t, a, auth.DeriveKey(master, "session-token"), "deterministic")
	require.NotEqual(t, a, auth.DeriveKey(master, "other"), "one key per purpose")
	require.NotEqual(t, a, auth.DeriveKey(bytes.Repeat([]byte{8}, 32), "session-token"), "one key per master")
	require.NotEqual(t, master, a, "never the master key itself")
}
