package main

import (
	"bufio"
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
	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// staffFlags are shared by the staff client's commands.
var staffFlags = []cli.Flag{
	&cli.StringFlag{Name: "api-url", Value: "http://127.0.0.1:8480", Sources: cli.EnvVars("B2BPAY_API_URL"), Usage: "b2bpay HTTP API"},
	&cli.StringFlag{Name: "session-file", Sources: cli.EnvVars("B2BPAY_SESSION_FILE"), Usage: "where the signed-in session is kept (default ~/.b2bpay/session.json)"},
}

// session is what `b2bpay login` keeps: the signed token, the session's
// decision key (hex; it signs each decision and never goes on the queue)
// and, read from the token for routing only (b2bpay verifies the token
// itself), user and customer.
type session struct {
	Token       string    `json:"token"`
	DecisionKey string    `json:"decision_key"`
	UserID      string    `json:"user_id"`
	CustomerID  string    `json:"customer_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func sessionPath(cmd *cli.Command) (string, error) {
	if p := cmd.String("session-file"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".b2bpay", "session.json"), nil
}

func loadSession(cmd *cli.Command) (session, error) {
	path, err := sessionPath(cmd)
	if err != nil {
		return session{}, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return session{}, errors.New("not signed in: run `b2bpay login --user ID` first")
	}
	if err != nil {
		return session{}, err
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		return session{}, fmt.Errorf("session file %s: %w", path, err)
	}
	if time.Now().After(s.ExpiresAt) {
		return session{}, errors.New("the session has expired: run `b2bpay login` again")
	}
	return s, nil
}

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:  "login",
		Usage: "sign in (password) and keep the session token for the staff commands",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "user", Required: true},
			&cli.StringFlag{Name: "password-file", Usage: "read the password from this file (default: the first line of stdin)"},
		}, staffFlags...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			pw, err := readSecret(cmd.String("password-file"), "password: ")
			if err != nil {
				return err
			}
			var out struct {
				Token       string    `json:"token"`
				ExpiresAt   time.Time `json:"expires_at"`
				DecisionKey string    `json:"decision_key"`
			}
			if err := signIn(ctx, cmd.String("api-url"), map[string]string{"user": cmd.String("user"), "password": pw}, &out); err != nil {
				return err
			}
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(out.Token, claims); err != nil {
				return fmt.Errorf("the API returned an unreadable token: %w", err)
			}
			s := session{Token: out.Token, DecisionKey: out.DecisionKey, UserID: fmt.Sprint(claims["sub"]), CustomerID: fmt.Sprint(claims["cid"]),
				ExpiresAt: out.ExpiresAt}
			path, err := sessionPath(cmd)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			b, _ := json.Marshal(s)
			if err := writePrivateFile(path, b); err != nil {
				return err
			}
			fmt.Printf("signed in as %s of %s until %s\n", s.UserID, s.CustomerID, s.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
}

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "logout",
		Usage: "revoke the session token and forget it",
		Flags: staffFlags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			s, err := loadSession(cmd)
			if err != nil {
				return err
			}
			if err := apiCall(ctx, cmd.String("api-url"), http.MethodDelete, "/v1/sessions/current", s.Token, nil, nil); err != nil {
				return err
			}
			path, _ := sessionPath(cmd)
			_ = os.Remove(path)
			fmt.Println("signed out")
			return nil
		},
	}
}

// readSecret reads a password or code from a file, or one line of stdin.
func readSecret(file, prompt string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		return strings.TrimRight(string(b), "\r\n"), err
	}
	fmt.Fprint(os.Stderr, prompt)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// apiCall calls the b2bpay HTTP API and decodes its JSON answer into out.
func apiCall(ctx context.Context, base, method, path, token string, in, out any) error {
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
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("b2bpay API: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		ae := &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
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

// apiError is an error answer of the API.
type apiError struct {
	Status        int
	Code, Message string
	// RetryAfter is the answer's Retry-After, 0 when it has none.
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// signInRetries is how many times `b2bpay login` tries again when the API
// is busy checking other sign-ins (429 with a short Retry-After).
const signInRetries = 8

// signIn posts a sign-in, trying again while the API answers that it is
// busy (a Retry-After of 2 s at most); a locked or throttled user id gets
// its answer at once.
func signIn(ctx context.Context, api string, in map[string]string, out any) error {
	for attempt := 0; ; attempt++ {
		err := apiCall(ctx, api, http.MethodPost, "/v1/sessions", "", in, out)
		var ae *apiError
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

// showTask prints what the person is asked to decide, with its digest.
func showTask(t route.Task) {
	fmt.Printf("\n%s of payment %s (customer %s, applicant %s)\n", t.Stage, t.PaymentID, t.CustomerID, t.Applicant)
	fmt.Printf("  order       %s\n  amount      %s %s\n  debtor      %s at %s\n  creditor    %s, %s at %s\n  execution   %s\n",
		t.OrderRef, t.Amount, t.Currency, t.Debtor, t.BankID, t.Creditor.Name, t.Creditor.Account, t.Creditor.BankID, t.Execution)
	if t.Remittance != "" {
		fmt.Printf("  remittance  %s\n", t.Remittance)
	}
	if t.Authorizations != "" {
		fmt.Printf("  authorization %s\n", t.Authorizations)
	}
	fmt.Printf("  digest      %s\n", t.Digest)
}

// checkTaskDigest recomputes the digest from the content shown, so a
// person never approves content other than what they saw.
func checkTaskDigest(t route.Task) error {
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

// sendDecision signs a decision with the session's decision key,
// publishes it with a reply queue of the person's own
// (b2bpay.reply.<user>.<random>, exclusive to this connection: the only
// queue b2bpay answers a decision of this person to) and waits for its
// result.
func sendDecision(ctx context.Context, conn *rabbitmq.Conn, s session, d route.Decision, wait time.Duration) (approval.Result, error) {
	key, err := hex.DecodeString(s.DecisionKey)
	if err != nil || len(key) == 0 {
		return approval.Result{}, errors.New("the session has no decision key: run `b2bpay login` again")
	}
	d.Sign(key)
	ch, err := conn.Channel(ctx)
	if err != nil {
		return approval.Result{}, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclare(route.ReplyQueue(s.UserID), false, true, true, false, nil)
	if err != nil {
		return approval.Result{}, fmt.Errorf("declare the reply queue: %w", err)
	}
	results, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return approval.Result{}, err
	}
	body, _ := json.Marshal(d)
	pub := rabbitmq.NewPublisher(conn, nil)
	defer pub.Close()
	err = pub.Publish(ctx, rabbitmq.Message{Exchange: route.DecisionsExchange, Key: route.DecisionKey, Publishing: amqp.Publishing{
		MessageId: d.DecisionID, CorrelationId: d.DecisionID, ReplyTo: q.Name, ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Timestamp: time.Now().UTC(), Body: body,
	}})
	if err != nil {
		return approval.Result{}, fmt.Errorf("send decision: %w", err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-results:
			if !ok {
				return approval.Result{}, errors.New("the reply queue closed before the result arrived")
			}
			var r approval.Result
			if json.Unmarshal(m.Body, &r) == nil && r.DecisionID == d.DecisionID {
				return r, nil
			}
		case <-timer.C:
			return approval.Result{}, fmt.Errorf("no result for decision %s within %s (it may still be applied: check `b2bpay status`)", d.DecisionID, wait)
		case <-ctx.Done():
			return approval.Result{}, ctx.Err()
		}
	}
}

func newDecisionID() string { return "d-" + uuid.NewString() }
