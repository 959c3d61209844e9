// Package auth holds what b2bpay needs to know who is acting: password
// hashes (argon2id), the login throttle's settings, and signed session
// tokens (HS256 JWTs). It knows nothing of SQL: the store keeps the
// password hashes, the failure counters and the session rows, so that a
// session can be revoked before its token expires.
package auth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/b2bpay/b2bpay/payment"
)

// Issuer is the "iss" claim of every session token; Verify accepts no other.
const Issuer = "b2bpay"

// MinKeySize is the smallest signing key NewSigner accepts: 256 bits.
const MinKeySize = 32

// clockLeeway absorbs small clock differences between the host that
// issues a token and the one that verifies it.
const clockLeeway = 5 * time.Second

// Claims is what a session token says: which session, whose, and for how
// long. Times have whole-second precision, as in the token.
type Claims struct {
	SessionID  string // a UUID; the key of the session row that can revoke it
	UserID     string
	CustomerID string
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// tokenClaims is the JWT form of Claims: jti, sub, iss, iat, nbf, exp and
// the customer in "cid".
type tokenClaims struct {
	jwt.RegisteredClaims
	CustomerID string `json:"cid"`
}

// Signer issues and verifies session tokens with one HMAC key.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a signer with key (at least MinKeySize bytes; derive
// it with DeriveKey), tokens valid for ttl, and the clock now (nil means
// time.Now).
func NewSigner(key []byte, ttl time.Duration, now func() time.Time) (*Signer, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("auth: signing key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("auth: token lifetime %s is shorter than a second", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: append([]byte(nil), key...), ttl: ttl, now: now}, nil
}

// Issue signs a token for a new session of the user: a random session id,
// issued now and expiring after the signer's lifetime. The caller stores
// the claims (Store.SessionCreate) before handing out the token.
func (s *Signer) Issue(userID, customerID string) (string, Claims, error) {
	if userID == "" || customerID == "" {
		return "", Claims{}, errors.New("auth: a session needs a user and a customer")
	}
	iat := s.now().UTC().Truncate(time.Second)
	c := Claims{
		SessionID:  uuid.NewString(),
		UserID:     userID,
		CustomerID: customerID,
		IssuedAt:   iat,
		ExpiresAt:  iat.Add(s.ttl),
	}
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.UserID,
			ID:        c.SessionID,
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		CustomerID: c.CustomerID,
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(s.key)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return token, c, nil
}

// Verify checks a token's signature (HS256 only: "none" and every other
// algorithm are refused), its issuer, and its times (issued, not before,
// expiry, with a few seconds' leeway for clock differences between hosts),
// and returns its claims. Any failure is a *payment.Error with
// CodeTokenInvalid. A valid token may still name a revoked session: the
// caller also asks the store (Store.SessionCheck).
func (s *Signer) Verify(token string) (Claims, error) {
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("algorithm %v is not accepted", t.Header["alg"])
		}
		return s.key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockLeeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return Claims{}, tokenError(err)
	}
	if _, err := uuid.Parse(tc.ID); err != nil || tc.Subject == "" || tc.CustomerID == "" ||
		tc.IssuedAt == nil || tc.NotBefore == nil {
		return Claims{}, payment.Errorf(payment.CodeTokenInvalid, "session token lacks its session, user or customer")
	}
	return Claims{
		SessionID:  tc.ID,
		UserID:     tc.Subject,
		CustomerID: tc.CustomerID,
		IssuedAt:   tc.IssuedAt.UTC(),
		ExpiresAt:  tc.ExpiresAt.UTC(),
	}, nil
}

// tokenError turns a JWT library error into the domain's token error with
// a message that says what is wrong, never echoing the token.
func tokenError(err error) *payment.Error {
	msg := "session token is invalid"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "session token is malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "session token signature is invalid or its algorithm is not accepted"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "session token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "session token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = "session token was not issued by " + Issuer
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "session token lacks a required claim"
	}
	return payment.Errorf(payment.CodeTokenInvalid, "%s", msg)
}

// DeriveKey derives a 32-byte key for one purpose (for example
// "session-token") from the master key with HKDF-SHA256, so that the
// master key is the one secret to keep and each use gets its own key.
func DeriveKey(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, "b2bpay/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths over 255 hash blocks
	}
	return k
}

// DecisionKeys gives each session its decision key: the key with which the
// person signs their decisions (route.DecisionProof). It is derived from
// one base key (DeriveKey(master, "decision-key")) and the session id, so
// the database never holds it; the person receives it once, at sign-in,
// beside the token, and it never travels on the broker.
type DecisionKeys struct{ base []byte }

// NewDecisionKeys returns the decision keys derived from base (at least
// MinKeySize bytes).
func NewDecisionKeys(base []byte) (*DecisionKeys, error) {
	if len(base) < MinKeySize {
		return nil, fmt.Errorf("auth: decision key base is %d bytes, want at least %d", len(base), MinKeySize)
	}
	return &DecisionKeys{base: append([]byte(nil), base...)}, nil
}

// For returns the 32-byte decision key of a session.
func (k *DecisionKeys) For(sessionID string) []byte {
	m := hmac.New(sha256.New, k.base)
	m.Write([]byte("b2bpay/decision-key\x00" + sessionID))
	return m.Sum(nil)
}
