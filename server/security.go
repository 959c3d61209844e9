package server

import (
	"context"
	"time"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/seal"
	"github.com/b2bpay/b2bpay/secret"
)

// Security is what b2bpay derives from its master key: the sealer for
// secrets at rest, the signer of session tokens and the key of the MACs
// over decisions and timeline entries. Open checks the master key
// against the database's key versions and replaces sealer and mac with
// the ring of its version.
type Security struct {
	Master       []byte
	Sealer       *secret.Sealer
	Signer       *auth.Signer
	MAC          *seal.Key
	DecisionKeys *auth.DecisionKeys
	Throttle     auth.Throttle
	OTPPolicy    otp.Policy
	// LoginKey names the sign-in lock rows (postgres.Config.LoginKey).
	LoginKey []byte
	// Gate throttles sign-ins before their password is checked.
	Gate auth.GateConfig
}

// NewSecurity derives b2bpay's keys from the master key; now, when not
// nil, is the clock of the session tokens.
func NewSecurity(master []byte, tokenTTL time.Duration, now func() time.Time) (*Security, error) {
	sealer, err := sealerFor(master)
	if err != nil {
		return nil, err
	}
	signer, err := auth.NewSigner(auth.DeriveKey(master, "session-token"), tokenTTL, now)
	if err != nil {
		return nil, err
	}
	mac, err := MACKey(master)
	if err != nil {
		return nil, err
	}
	decisionKeys, err := auth.NewDecisionKeys(auth.DeriveKey(master, "decision-key"))
	if err != nil {
		return nil, err
	}
	return &Security{Master: master, Sealer: sealer, Signer: signer, MAC: mac, DecisionKeys: decisionKeys, Throttle: auth.DefaultThrottle,
		LoginKey: loginKey(master)}, nil
}

// loginKey derives the key that names the sign-in lock rows from the
// master key, with its own label; never stored.
func loginKey(master []byte) []byte { return auth.DeriveKey(master, "login-throttle") }

// MACKey derives the key of the approval MACs from the master key, with its
// own label: never the session token's key, never stored.
func MACKey(master []byte) (*seal.Key, error) {
	return seal.New(auth.DeriveKey(master, seal.Purpose))
}

// otpOpener opens a user's sealed OTP seed, bound to that user.
func (s *Security) otpOpener(sealed []byte, userID string) ([]byte, error) {
	return s.Sealer.Open(sealed, postgres.OTPSeedAD(userID))
}

// sessions signs people in and checks their tokens against the store, for
// the HTTP API and the decision worker alike.
type sessions struct {
	Sec   *Security
	Store *postgres.Store
}

var _ httpapi.Auth = sessions{}

// Sessions signs people in and checks their tokens, as the HTTP API and
// the decision worker do.
func (a *App) Sessions() httpapi.Auth { return sessions{Sec: a.Sec, Store: a.Store} }

// Login checks the password (throttled), opens a session and signs its token.
func (s sessions) Login(ctx context.Context, userID, password string) (string, time.Time, error) {
	u, err := s.Store.Login(ctx, userID, password, auth.CheckPassword, s.Sec.Throttle)
	if err != nil {
		return "", time.Time{}, err
	}
	token, claims, err := s.Sec.Signer.Issue(u.ID, u.CustomerID)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.Store.SessionCreate(ctx, claims); err != nil {
		return "", time.Time{}, err
	}
	return token, claims.ExpiresAt, nil
}

// Verify checks a token's signature and expiry, then that its session is
// neither revoked nor expired and its user still active.
func (s sessions) Verify(ctx context.Context, token string) (httpapi.Principal, error) {
	c, err := s.Sec.Signer.Verify(token)
	if err != nil {
		return httpapi.Principal{}, err
	}
	userID, err := s.Store.SessionCheck(ctx, c.SessionID)
	if err != nil {
		return httpapi.Principal{}, err
	}
	if userID != c.UserID {
		return httpapi.Principal{}, payment.Errorf(payment.CodeTokenInvalid, "the token does not match its session")
	}
	return httpapi.Principal{UserID: c.UserID, CustomerID: c.CustomerID, SessionID: c.SessionID}, nil
}

// DecisionKey returns the decision key of a token's session (the token's
// signature is checked; the key is derived, never stored).
func (s sessions) DecisionKey(token string) ([]byte, error) {
	c, err := s.Sec.Signer.Verify(token)
	if err != nil {
		return nil, err
	}
	return s.Sec.DecisionKeys.For(c.SessionID), nil
}

// Logout revokes the session.
func (s sessions) Logout(ctx context.Context, p httpapi.Principal) error {
	return s.Store.SessionRevoke(ctx, p.SessionID, "user:"+p.UserID)
}

// tokenVerifier adapts sessions to the decision worker.
type tokenVerifier struct{ sessions }

// Verify returns the signed-in user and session of a token.
func (t tokenVerifier) Verify(ctx context.Context, token string) (string, string, error) {
	p, err := t.sessions.Verify(ctx, token)
	return p.UserID, p.SessionID, err
}

// DecisionKey returns the decision key of a session.
func (t tokenVerifier) DecisionKey(sessionID string) []byte {
	return t.sessions.Sec.DecisionKeys.For(sessionID)
}
