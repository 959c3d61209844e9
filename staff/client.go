// Package staff is the client library of the people who decide payments:
// sign in over the HTTP API and keep the session, take a task of a stage
// from the customer's queue, check and show it, and send a decision
// (approve, reject, cancel) signed with the session's decision key,
// waiting for its result on a reply queue of the person's own. The
// `b2bpay login/logout/staff/decide/confirm/cancel` commands are built on
// it, as a web console would be. It knows nothing of the database.
package staff

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
)

// Session is what signing in keeps: the signed token, the session's
// decision key (hex; it signs each decision and never goes on the queue)
// and, read from the token for routing only (b2bpay verifies the token
// itself), user and customer.
type Session struct {
	Token       string    `json:"token"`
	DecisionKey string    `json:"decision_key"`
	UserID      string    `json:"user_id"`
	CustomerID  string    `json:"customer_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// SessionPath is where the session is kept: path, or ~/.b2bpay/session.json
// when path is "".
func SessionPath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".b2bpay", "session.json"), nil
}

// LoadSession reads the session kept at path; a missing file means not
// signed in, an expired session means signing in again.
func LoadSession(path string) (Session, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Session{}, errors.New("not signed in: run `b2bpay login --user ID` first")
	}
	if err != nil {
		return Session{}, err
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return Session{}, fmt.Errorf("session file %s: %w", path, err)
	}
	if time.Now().After(s.ExpiresAt) {
		return Session{}, errors.New("the session has expired: run `b2bpay login` again")
	}
	return s, nil
}

// Save keeps the session at path, readable by its owner only.
func (s Session) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(s)
	return secret.WritePrivateFile(path, b)
}

// Login signs in with a password through the API at api and returns the
// session (not yet saved).
func Login(ctx context.Context, api, user, password string) (Session, error) {
	var out struct {
		Token       string    `json:"token"`
		ExpiresAt   time.Time `json:"expires_at"`
		DecisionKey string    `json:"decision_key"`
	}
	if err := signIn(ctx, api, map[string]string{"user": user, "password": password}, &out); err != nil {
		return Session{}, err
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(out.Token, claims); err != nil {
		return Session{}, fmt.Errorf("the API returned an unreadable token: %w", err)
	}
	return Session{Token: out.Token, DecisionKey: out.DecisionKey, UserID: fmt.Sprint(claims["sub"]), CustomerID: fmt.Sprint(claims["cid"]),
		ExpiresAt: out.ExpiresAt}, nil
}

// Logout revokes the session's token.
func Logout(ctx context.Context, api string, s Session) error {
	return Call(ctx, api, http.MethodDelete, "/v1/sessions/current", s.Token, nil, nil)
}

// Call calls the b2bpay HTTP API and decodes its JSON answer into out.
func Call(ctx context.Context, base, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient(ctx).Do(req)
	if err != nil {
		return fmt.Errorf("b2bpay API: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		ae := &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ae.RetryAfter = time.Duration(s) * time.Second
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
			return ae
		}
		ae.Message = "b2bpay API: " + resp.Status
		return ae
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

type httpClientKey struct{}

// WithHTTPClient returns a context whose API calls (Call and everything
// built on it) go through hc: the console calls the API in process, with
// the browser's address, through a client of its own.
func WithHTTPClient(ctx context.Context, hc *http.Client) context.Context {
	return context.WithValue(ctx, httpClientKey{}, hc)
}

// httpClient is the context's API client, else one with a 30 s timeout.
func httpClient(ctx context.Context) *http.Client {
	if hc, ok := ctx.Value(httpClientKey{}).(*http.Client); ok && hc != nil {
		return hc
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// APIError is an error answer of the API.
type APIError struct {
	Status        int
	Code, Message string
	// RetryAfter is the answer's Retry-After, 0 when it has none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// signInRetries is how many times Login tries again when the API is busy
// checking other sign-ins (429 with a short Retry-After).
const signInRetries = 8

// signIn posts a sign-in, trying again while the API answers that it is
// busy (a Retry-After of 2 s at most); a locked or throttled user id gets
// its answer at once.
func signIn(ctx context.Context, api string, in map[string]string, out any) error {
	for attempt := 0; ; attempt++ {
		err := Call(ctx, api, http.MethodPost, "/v1/sessions", "", in, out)
		var ae *APIError
		if attempt >= signInRetries || !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests ||
			ae.RetryAfter <= 0 || ae.RetryAfter > 2*time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(ae.RetryAfter):
		}
	}
}

// ShowTask writes what the person is asked to decide, with its digest.
func ShowTask(w io.Writer, t route.Task) {
	fmt.Fprintf(w, "\n%s of payment %s (customer %s, applicant %s)\n", t.Stage, t.PaymentID, t.CustomerID, t.Applicant)
	fmt.Fprintf(w, "  order       %s\n  amount      %s %s\n  debtor      %s at %s\n  creditor    %s, %s at %s\n  execution   %s\n",
		t.OrderRef, t.Amount, t.Currency, t.Debtor, t.BankID, t.Creditor.Name, t.Creditor.Account, t.Creditor.BankID, t.Execution)
	if t.Remittance != "" {
		fmt.Fprintf(w, "  remittance  %s\n", t.Remittance)
	}
	if t.Authorizations != "" {
		fmt.Fprintf(w, "  authorization %s\n", t.Authorizations)
	}
	fmt.Fprintf(w, "  digest      %s\n", t.Digest)
}

// CheckTaskDigest recomputes the digest from the content shown, so a
// person never approves content other than what they saw.
func CheckTaskDigest(t route.Task) error {
	amount, err := payment.ParseAmount(t.Amount, t.Currency)
	if err != nil {
		return err
	}
	exec, err := time.Parse(payment.DateLayout, t.Execution)
	if err != nil {
		return err
	}
	p := payment.Payment{ID: t.PaymentID, OrderRef: t.OrderRef, AmountMinor: amount, Currency: t.Currency, BankID: t.BankID,
		DebtorAccount: t.Debtor, Creditor: t.Creditor, ExecutionDate: exec, Remittance: t.Remittance}
	if p.Digest() != t.Digest {
		return fmt.Errorf("the task's digest does not match its content: refusing to show it for approval")
	}
	return nil
}

// SendDecision signs a decision with the session's decision key,
// publishes it with a reply queue of the person's own
// (b2bpay.reply.<user>.<random>, exclusive to this connection: the only
// queue b2bpay answers a decision of this person to) and waits for its
// result.
func SendDecision(ctx context.Context, conn *rabbitmq.Conn, s Session, d route.Decision, wait time.Duration) (approval.Result, error) {
	key, err := decisionKey(s)
	if err != nil {
		return approval.Result{}, err
	}
	d.Sign(key)
	body, _ := json.Marshal(d)
	var r approval.Result
	err = roundTrip(ctx, conn, s, d.DecisionID, body, wait, func(b []byte) bool {
		return json.Unmarshal(b, &r) == nil && r.DecisionID == d.DecisionID
	})
	return r, err
}

// decisionKey is the session's decision key.
func decisionKey(s Session) ([]byte, error) {
	key, err := hex.DecodeString(s.DecisionKey)
	if err != nil || len(key) == 0 {
		return nil, errors.New("the session has no decision key: run `b2bpay login` again")
	}
	return key, nil
}

// roundTrip publishes a signed decision body (single or batch) with a
// reply queue of the person's own (b2bpay.reply.<user>.<random>,
// exclusive to this connection) and waits until match accepts a message
// of that queue as its result.
func roundTrip(ctx context.Context, conn *rabbitmq.Conn, s Session, id string, body []byte, wait time.Duration, match func([]byte) bool) error {
	ch, err := conn.Channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	q, err := ch.QueueDeclare(route.ReplyQueue(s.UserID), false, true, true, false, nil)
	if err != nil {
		return fmt.Errorf("declare the reply queue: %w", err)
	}
	results, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return err
	}
	pub := rabbitmq.NewPublisher(conn, nil)
	defer pub.Close()
	err = pub.Publish(ctx, rabbitmq.Message{Exchange: route.DecisionsExchange, Key: route.DecisionKey, Publishing: amqp.Publishing{
		MessageId: id, CorrelationId: id, ReplyTo: q.Name, ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Timestamp: time.Now().UTC(), Body: body,
	}})
	if err != nil {
		return fmt.Errorf("send decision: %w", err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-results:
			if !ok {
				return errors.New("the reply queue closed before the result arrived")
			}
			if match(m.Body) {
				return nil
			}
		case <-timer.C:
			return fmt.Errorf("no result for decision %s within %s (it may still be applied: check `b2bpay status`)", id, wait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NewDecisionID is a fresh decision id.
func NewDecisionID() string { return "d-" + uuid.NewString() }
