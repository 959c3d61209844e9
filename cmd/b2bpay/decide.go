package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// verdictFlags choose the decision without a prompt.
var verdictFlags = []cli.Flag{
	&cli.BoolFlag{Name: "approve"},
	&cli.BoolFlag{Name: "reject"},
	&cli.StringFlag{Name: "reason", Usage: "why (required to reject)"},
	&cli.StringFlag{Name: "otp", Usage: "the one-time password (asked for when needed and not given)"},
	&cli.DurationFlag{Name: "wait", Value: 30 * time.Second, Usage: "how long to wait for the result"},
}

func staffCommand() *cli.Command {
	return &cli.Command{
		Name:  "staff",
		Usage: "the staff client: take the next task of a stage, see the payment, approve or reject",
		Commands: []*cli.Command{{
			Name:  "next",
			Usage: "take the next task of a stage from your customer's queue and decide it",
			Flags: append(append([]cli.Flag{
				&cli.StringFlag{Name: "stage", Required: true, Usage: "confirmation, review or authorization"},
			}, verdictFlags...), staffFlags...),
			Action: staffNext,
		}},
	}
}

func decideCommand() *cli.Command {
	return &cli.Command{
		Name:      "decide",
		Usage:     "decide a payment by id at a stage (approve needs --otp at confirmation, review (unless the customer turned it off) and authorization)",
		ArgsUsage: "PAYMENT_ID",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "stage", Required: true, Usage: "confirmation, review or authorization"},
		}, verdictFlags...), staffFlags...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return decideByID(ctx, cmd, payment.Stage(cmd.String("stage")), "")
		},
	}
}

func confirmCommand() *cli.Command {
	return &cli.Command{
		Name:      "confirm",
		Usage:     "as the applicant, confirm a payment with your one-time password (seed steps 4-6)",
		ArgsUsage: "PAYMENT_ID",
		Flags:     append(append([]cli.Flag{}, verdictFlags...), staffFlags...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return decideByID(ctx, cmd, payment.StageConfirmation, payment.VerdictApprove)
		},
	}
}

func cancelCommand() *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "as the applicant, cancel a payment that is not yet authorized",
		ArgsUsage: "PAYMENT_ID",
		Flags:     append(append([]cli.Flag{}, verdictFlags...), staffFlags...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return decideByID(ctx, cmd, "", approval.Cancel)
		},
	}
}

// staffNext takes the next task that still needs a decision, shows it,
// asks for the verdict and sends it. Tasks that no longer need anyone (the
// payment moved on, was cancelled or expired) are acknowledged and
// skipped. The task is acknowledged once the decision is applied or moot,
// and handed back to the queue otherwise, for someone else.
func staffNext(ctx context.Context, cmd *cli.Command) error {
	stage := payment.Stage(cmd.String("stage"))
	if !stage.Valid() {
		return fmt.Errorf("--stage %q: want confirmation, review or authorization", stage)
	}
	s, err := loadSession(cmd)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	conn, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: cfg.AMQPURL, Name: "b2bpay-staff-" + s.UserID, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	for skipped := 0; ; skipped++ {
		d, ok, err := ch.Get(route.TaskQueue(s.CustomerID, stage), false)
		if err != nil {
			return fmt.Errorf("take a task: %w", err)
		}
		if !ok {
			fmt.Printf("no %s task is waiting for %s (%d done ones skipped)\n", stage, s.CustomerID, skipped)
			return nil
		}
		var t route.Task
		if err := json.Unmarshal(d.Body, &t); err != nil || t.Schema != route.TaskSchema {
			_ = d.Ack(false)
			fmt.Fprintf(os.Stderr, "dropped an unreadable task %s\n", d.MessageId)
			continue
		}
		if err := checkTaskDigest(t); err != nil {
			_ = d.Nack(false, true)
			return err
		}
		var now struct {
			Payment struct {
				State  payment.State `json:"state"`
				Digest string        `json:"digest"`
			} `json:"payment"`
		}
		err = apiCall(ctx, cmd.String("api-url"), http.MethodGet, "/v1/payments/"+t.PaymentID, s.Token, nil, &now)
		if err != nil && !strings.HasPrefix(err.Error(), string(payment.CodeNotFound)) {
			_ = d.Nack(false, true)
			return err
		}
		if err != nil || now.Payment.State != stage.State() || now.Payment.Digest != t.Digest {
			_ = d.Ack(false) // moot: nobody needs to decide this any more
			continue
		}
		showTask(t)
		res, err := decideAndSend(ctx, cmd, conn, s, t.PaymentID, stage, "", t.Digest)
		if err != nil {
			_ = d.Nack(false, true)
			return err
		}
		if res.Outcome == approval.Applied || moot(res.Code) {
			_ = d.Ack(false)
		} else {
			_ = d.Nack(false, true)
		}
		return printResult(res)
	}
}

// moot reports whether a refusal means the task no longer needs anyone.
func moot(c payment.Code) bool {
	return c == payment.CodeAlreadyDecided || c == payment.CodeNotFound || c == payment.CodeFrozen
}

// decideByID fetches a payment through the API (for its content and
// digest), shows it and sends the decision.
func decideByID(ctx context.Context, cmd *cli.Command, stage payment.Stage, verdict payment.Verdict) error {
	if cmd.Args().Len() != 1 {
		return errors.New("give the payment id")
	}
	s, err := loadSession(cmd)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	var got struct {
		Payment struct {
			Digest string `json:"digest"`
		} `json:"payment"`
	}
	id := cmd.Args().First()
	if err := apiCall(ctx, cmd.String("api-url"), http.MethodGet, "/v1/payments/"+id, s.Token, nil, &got); err != nil {
		return err
	}
	conn, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: cfg.AMQPURL, Name: "b2bpay-staff-" + s.UserID, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := decideAndSend(ctx, cmd, conn, s, id, stage, verdict, got.Payment.Digest)
	if err != nil {
		return err
	}
	return printResult(res)
}

// decideAndSend settles the verdict (flags or prompt), asks for the OTP
// where needed, and sends the decision.
func decideAndSend(ctx context.Context, cmd *cli.Command, conn *rabbitmq.Conn, s session, paymentID string,
	stage payment.Stage, verdict payment.Verdict, digest string) (approval.Result, error) {
	switch {
	case verdict != "":
	case cmd.Bool("approve") && cmd.Bool("reject"):
		return approval.Result{}, errors.New("--approve or --reject, not both")
	case cmd.Bool("approve"):
		verdict = payment.VerdictApprove
	case cmd.Bool("reject"):
		verdict = payment.VerdictReject
	default:
		answer, err := readSecret("", "approve or reject? ")
		if err != nil {
			return approval.Result{}, err
		}
		verdict = payment.Verdict(strings.TrimSpace(strings.ToLower(answer)))
	}
	reason := cmd.String("reason")
	if verdict == payment.VerdictReject && reason == "" {
		r, err := readSecret("", "reason: ")
		if err != nil {
			return approval.Result{}, err
		}
		reason = r
	}
	code := cmd.String("otp")
	if payment.NeedsOTP(stage, verdict) && code == "" {
		c, err := readSecret("", "one-time password for the content above: ")
		if err != nil {
			return approval.Result{}, err
		}
		code = strings.TrimSpace(c)
	}
	d := route.Decision{Schema: route.DecisionSchema, DecisionID: newDecisionID(), Token: s.Token, PaymentID: paymentID,
		Stage: stage, Verdict: verdict, Reason: reason, OTP: code, Digest: digest}
	return sendDecision(ctx, conn, s, d, cmd.Duration("wait"))
}

func printResult(r approval.Result) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(b))
	if r.Outcome != approval.Applied {
		return cli.Exit("", 3)
	}
	return nil
}
