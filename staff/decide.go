package staff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// Client decides payments as one signed-in person: the API for what a
// payment is now, the broker for tasks, decisions and their results.
type Client struct {
	// API is the base URL of b2bpay's HTTP API.
	API string
	// Conn is the broker connection (rabbitmq.Dial with the person's
	// credentials).
	Conn    *rabbitmq.Conn
	Session Session
	// Out is where tasks are shown and notes written.
	Out io.Writer
}

// Open reads the session kept at sessionPath ("" for the default) and
// connects to the broker at amqpURL, for the person signed in there to
// decide through the API at api; Close ends the connection.
func Open(ctx context.Context, api, amqpURL, sessionPath string, log *slog.Logger, out io.Writer) (*Client, error) {
	path, err := SessionPath(sessionPath)
	if err != nil {
		return nil, err
	}
	s, err := LoadSession(path)
	if err != nil {
		return nil, err
	}
	conn, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: amqpURL, Name: "b2bpay-staff-" + s.UserID, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Client{API: api, Conn: conn, Session: s, Out: out}, nil
}

// Close closes the broker connection.
func (c *Client) Close() error { return c.Conn.Close() }

// Choice is what the person decides, and how to ask for what is missing.
type Choice struct {
	// Verdict is approve or reject; "" asks Prompt.
	Verdict payment.Verdict
	// Reason is required to reject; "" asks Prompt when rejecting.
	Reason string
	// OTP is the one-time password; "" asks Prompt when the decision
	// needs one.
	OTP string
	// Wait is how long to wait for the result.
	Wait time.Duration
	// Prompt asks the person for a line (the verdict, a reason, the OTP).
	Prompt func(prompt string) (string, error)
}

// VerdictOf is the verdict of an approve and a reject switch: "" (ask)
// when neither is set, an error when both are.
func VerdictOf(approve, reject bool) (payment.Verdict, error) {
	switch {
	case approve && reject:
		return "", errors.New("--approve or --reject, not both")
	case approve:
		return payment.VerdictApprove, nil
	case reject:
		return payment.VerdictReject, nil
	}
	return "", nil
}

// Next takes the next task of stage that still needs a decision, shows it,
// settles the choice and sends the decision. Tasks that no longer need
// anyone (the payment moved on, was cancelled or expired) are acknowledged
// and skipped. The task is acknowledged once the decision is applied or
// moot, and handed back to the queue otherwise, for someone else. found is
// false when no task is waiting.
func (c *Client) Next(ctx context.Context, stage payment.Stage, choice Choice) (res approval.Result, found bool, err error) {
	if !stage.Valid() {
		return approval.Result{}, false, fmt.Errorf("--stage %q: want confirmation, review or authorization", stage)
	}
	ch, err := c.Conn.Channel(ctx)
	if err != nil {
		return approval.Result{}, false, err
	}
	defer ch.Close()
	for skipped := 0; ; skipped++ {
		d, ok, err := ch.Get(route.TaskQueue(c.Session.CustomerID, stage), false)
		if err != nil {
			return approval.Result{}, false, fmt.Errorf("take a task: %w", err)
		}
		if !ok {
			fmt.Fprintf(c.Out, "no %s task is waiting for %s (%d done ones skipped)\n", stage, c.Session.CustomerID, skipped)
			return approval.Result{}, false, nil
		}
		var t route.Task
		if err := json.Unmarshal(d.Body, &t); err != nil || t.Schema != route.TaskSchema {
			_ = d.Ack(false)
			fmt.Fprintf(os.Stderr, "dropped an unreadable task %s\n", d.MessageId)
			continue
		}
		if err := CheckTaskDigest(t); err != nil {
			_ = d.Nack(false, true)
			return approval.Result{}, false, err
		}
		var now struct {
			Payment struct {
				State  payment.State `json:"state"`
				Digest string        `json:"digest"`
			} `json:"payment"`
		}
		err = Call(ctx, c.API, http.MethodGet, "/v1/payments/"+t.PaymentID, c.Session.Token, nil, &now)
		if err != nil && !strings.HasPrefix(err.Error(), string(payment.CodeNotFound)) {
			_ = d.Nack(false, true)
			return approval.Result{}, false, err
		}
		if err != nil || now.Payment.State != stage.State() || now.Payment.Digest != t.Digest {
			_ = d.Ack(false) // moot: nobody needs to decide this any more
			continue
		}
		ShowTask(c.Out, t)
		res, err := c.DecideShown(ctx, t.PaymentID, stage, t.Digest, choice)
		if err != nil {
			_ = d.Nack(false, true)
			return approval.Result{}, true, err
		}
		if res.Outcome == approval.Applied || Moot(res.Code) {
			_ = d.Ack(false)
		} else {
			_ = d.Nack(false, true)
		}
		return res, true, nil
	}
}

// Moot reports whether a refusal means the task no longer needs anyone.
func Moot(c payment.Code) bool {
	return c == payment.CodeAlreadyDecided || c == payment.CodeNotFound || c == payment.CodeFrozen
}

// Decide fetches a payment through the API (for its content's digest)
// and sends the decision on it at stage ("" with approval.Cancel).
func (c *Client) Decide(ctx context.Context, paymentID string, stage payment.Stage, choice Choice) (approval.Result, error) {
	var got struct {
		Payment struct {
			Digest string `json:"digest"`
		} `json:"payment"`
	}
	if err := Call(ctx, c.API, http.MethodGet, "/v1/payments/"+paymentID, c.Session.Token, nil, &got); err != nil {
		return approval.Result{}, err
	}
	return c.DecideShown(ctx, paymentID, stage, got.Payment.Digest, choice)
}

// DecideShown decides a payment at stage on the content whose digest the
// person was shown (the console's payment page): it settles the verdict
// (the choice or a prompt), asks for a reason to reject and for the OTP
// where needed, and sends the decision. b2bpay refuses it when the
// payment's content no longer has that digest.
func (c *Client) DecideShown(ctx context.Context, paymentID string, stage payment.Stage, digest string, choice Choice) (approval.Result, error) {
	ask := choice.Prompt
	if ask == nil {
		ask = func(string) (string, error) { return "", errors.New("nothing to ask the person with") }
	}
	verdict := choice.Verdict
	if verdict == "" {
		answer, err := ask("approve or reject? ")
		if err != nil {
			return approval.Result{}, err
		}
		verdict = payment.Verdict(strings.TrimSpace(strings.ToLower(answer)))
	}
	reason := choice.Reason
	if verdict == payment.VerdictReject && reason == "" {
		r, err := ask("reason: ")
		if err != nil {
			return approval.Result{}, err
		}
		reason = r
	}
	code := choice.OTP
	if payment.NeedsOTP(stage, verdict) && code == "" {
		c, err := ask("one-time password for the content above: ")
		if err != nil {
			return approval.Result{}, err
		}
		code = strings.TrimSpace(c)
	}
	d := route.Decision{Schema: route.DecisionSchema, DecisionID: NewDecisionID(), Token: c.Session.Token, PaymentID: paymentID,
		Stage: stage, Verdict: verdict, Reason: reason, OTP: code, Digest: digest}
	return SendDecision(ctx, c.Conn, c.Session, d, choice.Wait)
}
