package intake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/secret"
)

// Credential is an upstream as authentication needs it: its registration
// and, for HMAC signing, its sealed key.
type Credential struct {
	Upstream   payment.Upstream
	SealedKey  []byte
	KeyVersion int
}

// Credentials finds upstream registrations; not found is payment.ErrNotFound.
type Credentials interface {
	UpstreamGetByAMQPUser(ctx context.Context, user string) (Credential, error)
	UpstreamGetByID(ctx context.Context, id string) (Credential, error)
}

// Claim is what a message says about its sender.
type Claim struct {
	// UserID is the AMQP user_id property. The broker refuses a publish
	// whose user_id differs from the connection's user, so when present
	// it is vouched for.
	UserID string
	// Upstream and Signature are the x-b2bpay-upstream and
	// x-b2bpay-signature headers of an HMAC-signed message.
	Upstream  string
	Signature string
}

// Authenticator decides which upstream sent a message. It fails closed:
// anything it cannot verify is CodeUnauthenticated.
type Authenticator struct {
	creds  Credentials
	sealer *secret.Sealer
}

// NewAuthenticator builds an Authenticator; sealer opens HMAC keys and may
// be nil when no upstream signs with HMAC.
func NewAuthenticator(creds Credentials, sealer *secret.Sealer) *Authenticator {
	return &Authenticator{creds: creds, sealer: sealer}
}

// KeyAD is the additional data that binds an upstream's sealed HMAC key to
// its row.
func KeyAD(upstreamID string) []byte { return []byte("upstream-hmac:" + upstreamID) }

// Sign returns the signature of body with key, as HeaderSignature carries it.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Authenticate returns the upstream that sent body, or an error: an *Error
// with CodeUnauthenticated when the sender cannot be verified, any other
// error when the registry could not be read (retry).
func (a *Authenticator) Authenticate(ctx context.Context, c Claim, body []byte) (payment.Upstream, error) {
	if c.UserID != "" {
		cred, err := a.creds.UpstreamGetByAMQPUser(ctx, c.UserID)
		if errors.Is(err, payment.ErrNotFound) {
			return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated, "RabbitMQ user %q is not a registered upstream", payment.Clip(c.UserID, 64))
		}
		if err != nil {
			return payment.Upstream{}, fmt.Errorf("authenticate: %w", err)
		}
		return active(cred.Upstream)
	}
	if c.Upstream == "" || c.Signature == "" {
		return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated,
			"the message has neither a user_id property nor x-b2bpay-upstream and x-b2bpay-signature headers")
	}
	cred, err := a.creds.UpstreamGetByID(ctx, c.Upstream)
	if errors.Is(err, payment.ErrNotFound) {
		return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated, "upstream %q is not registered", payment.Clip(c.Upstream, 64))
	}
	if err != nil {
		return payment.Upstream{}, fmt.Errorf("authenticate: %w", err)
	}
	if cred.SealedKey == nil || a.sealer == nil {
		return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated, "upstream %q does not sign with HMAC", c.Upstream)
	}
	key, err := a.sealer.Open(cred.SealedKey, KeyAD(cred.Upstream.ID))
	if err != nil {
		// A key that does not open is tampered or swapped: refuse, never guess.
		return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated, "the HMAC key of upstream %q cannot be opened", c.Upstream)
	}
	want := Sign(key, body)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(c.Signature))) {
		return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated, "the signature does not match the body for upstream %q", c.Upstream)
	}
	return active(cred.Upstream)
}

func active(u payment.Upstream) (payment.Upstream, error) {
	if !u.Active {
		return payment.Upstream{}, payment.Errorf(payment.CodeUnauthenticated, "upstream %s is disabled", u.ID)
	}
	return u, nil
}

// Memo returns an Authenticator that reads each registration at most once:
// for one batch of messages, whose senders are few. Lookups that fail are
// not kept. It is not safe for concurrent use.
func (a *Authenticator) Memo() *Authenticator {
	return &Authenticator{creds: &memoCreds{next: a.creds, byUser: map[string]Credential{}, byID: map[string]Credential{}}, sealer: a.sealer}
}

type memoCreds struct {
	next         Credentials
	byUser, byID map[string]Credential
}

func (m *memoCreds) UpstreamGetByAMQPUser(ctx context.Context, user string) (Credential, error) {
	return memo(m.byUser, user, func() (Credential, error) { return m.next.UpstreamGetByAMQPUser(ctx, user) })
}

func (m *memoCreds) UpstreamGetByID(ctx context.Context, id string) (Credential, error) {
	return memo(m.byID, id, func() (Credential, error) { return m.next.UpstreamGetByID(ctx, id) })
}

func memo(seen map[string]Credential, key string, get func() (Credential, error)) (Credential, error) {
	if c, ok := seen[key]; ok {
		return c, nil
	}
	c, err := get()
	if err == nil {
		seen[key] = c
	}
	return c, err
}
