package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/staff"
)

// The staff client's commands, over package staff.

// staffFlags are shared by the staff client's commands.
var staffFlags = []cli.Flag{
	&cli.StringFlag{Name: "api-url", Value: "http://127.0.0.1:8480", Sources: cli.EnvVars("B2BPAY_API_URL"), Usage: "b2bpay HTTP API"},
	&cli.StringFlag{Name: "session-file", Sources: cli.EnvVars("B2BPAY_SESSION_FILE"), Usage: "where the signed-in session is kept (default ~/.b2bpay/session.json)"},
}

// verdictFlags choose the decision without a prompt.
var verdictFlags = []cli.Flag{
	&cli.BoolFlag{Name: "approve"},
	&cli.BoolFlag{Name: "reject"},
	&cli.StringFlag{Name: "reason", Usage: "why (required to reject)"},
	&cli.StringFlag{Name: "otp", Usage: "the one-time password (asked for when needed and not given)"},
	&cli.DurationFlag{Name: "wait", Value: 30 * time.Second, Usage: "how long to wait for the result"},
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
			pw, err := staff.ReadSecret(cmd.String("password-file"), "password: ")
			if err != nil {
				return err
			}
			return staff.SignIn(ctx, cmd.String("api-url"), cmd.String("user"), pw, cmd.String("session-file"), os.Stdout)
		},
	}
}

func logoutCommand() *cli.Command {
	return &cli.Command{Name: "logout", Usage: "revoke the session token and forget it", Flags: staffFlags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return staff.SignOut(ctx, cmd.String("api-url"), cmd.String("session-file"), os.Stdout)
		},
	}
}

func staffCommand() *cli.Command {
	return &cli.Command{
		Name:  "staff",
		Usage: "the staff client: list your tasks at a stage, or take the next one, see the payment, approve or reject",
		Commands: []*cli.Command{{
			Name:  "next",
			Usage: "take the next task of a stage from your customer's queue and decide it",
			Flags: append(append([]cli.Flag{
				&cli.StringFlag{Name: "stage", Required: true, Usage: "confirmation, review or authorization"},
			}, verdictFlags...), staffFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withStaff(ctx, cmd, "", func(c *staff.Client, choice staff.Choice) error {
					res, found, err := c.Next(ctx, payment.Stage(cmd.String("stage")), choice)
					if err != nil || !found {
						return err
					}
					return printResult(res)
				})
			},
		}, {
			Name:  "approve",
			Usage: "decide many payments of a stage with one one-time password: count, totals and batch digest shown first; exit 3 if any is refused",
			Flags: append(append([]cli.Flag{
				&cli.StringFlag{Name: "stage", Required: true, Usage: "confirmation, review or authorization"},
				&cli.BoolFlag{Name: "all", Usage: "every waiting task of the stage, up to --limit"},
				&cli.StringFlag{Name: "ids", Usage: "these payments, comma-separated"},
				&cli.StringFlag{Name: "max-total", Usage: "waiting tasks while each currency's total stays within this amount"},
				&cli.IntFlag{Name: "limit", Value: staff.DefaultBatchLimit, Usage: "the most payments in one batch"},
				&cli.BoolFlag{Name: "all-or-nothing", Usage: "apply none if any is refused"},
			}, verdictFlags...), staffFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				verdict := payment.VerdictApprove
				if cmd.Bool("reject") {
					verdict = payment.VerdictReject
				}
				sel := staff.Selection{All: cmd.Bool("all"), IDs: staff.SplitIDs(cmd.String("ids")), MaxTotal: cmd.String("max-total"), Limit: int(cmd.Int("limit"))}
				return batchDecide(ctx, cmd, payment.Stage(cmd.String("stage")), verdict, sel, cmd.Bool("all-or-nothing"))
			},
		}, {
			Name: "list", Usage: "list the payments waiting for you at a stage that you may decide, most urgent first",
			Flags: append([]cli.Flag{&cli.StringFlag{Name: "stage", Required: true, Usage: "confirmation, review or authorization"},
				&cli.IntFlag{Name: "limit", Usage: "at most this many (0: every one)"}, &cli.BoolFlag{Name: "json", Usage: "JSON instead of a table"}}, staffFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return staff.List(ctx, cmd.String("api-url"), cmd.String("session-file"), payment.Stage(cmd.String("stage")), int(cmd.Int("limit")), cmd.Bool("json"), os.Stdout)
			},
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
	return applicantCommand("confirm", "as the applicant, confirm payments with your one-time password (several ids: one code, one batch)",
		payment.StageConfirmation, payment.VerdictApprove)
}

func cancelCommand() *cli.Command {
	return applicantCommand("cancel", "as the applicant, cancel a payment that is not yet authorized", "", approval.Cancel)
}

// applicantCommand is confirm or cancel: an applicant's verdict on the
// payments named.
func applicantCommand(name, usage string, stage payment.Stage, verdict payment.Verdict) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, ArgsUsage: "PAYMENT_ID...", Flags: append(append([]cli.Flag{}, verdictFlags...), staffFlags...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 1 && verdict == payment.VerdictApprove {
				return batchDecide(ctx, cmd, stage, verdict, staff.Selection{IDs: cmd.Args().Slice()}, false)
			}
			return decideByID(ctx, cmd, stage, verdict)
		},
	}
}

// batchDecide decides the payments sel chooses in one batch (one code)
// and prints each one's result: exit 3 if any is refused.
func batchDecide(ctx context.Context, cmd *cli.Command, stage payment.Stage, verdict payment.Verdict, sel staff.Selection, allOrNothing bool) error {
	if err := sel.Check(); err != nil {
		return err
	}
	return withStaff(ctx, cmd, verdict, func(c *staff.Client, choice staff.Choice) error {
		res, ok, err := c.Batch(ctx, stage, sel, staff.BatchChoice{Choice: choice, AllOrNothing: allOrNothing}, nil)
		if err != nil || !ok {
			return err
		}
		staff.ShowBatchResult(os.Stdout, res)
		if res.Outcome != approval.BatchApplied {
			return cli.Exit("", 3)
		}
		return nil
	})
}

// decideByID fetches a payment through the API (for its content's
// digest) and sends the decision.
func decideByID(ctx context.Context, cmd *cli.Command, stage payment.Stage, verdict payment.Verdict) error {
	if cmd.Args().Len() != 1 {
		return errors.New("give the payment id")
	}
	return withStaff(ctx, cmd, verdict, func(c *staff.Client, choice staff.Choice) error {
		res, err := c.Decide(ctx, cmd.Args().First(), stage, choice)
		if err != nil {
			return err
		}
		return printResult(res)
	})
}

// withStaff runs fn with the signed-in person's client, connected to the
// broker, and the choice the flags make (verdict, when set, is the
// command's own: confirm approves, cancel cancels).
func withStaff(ctx context.Context, cmd *cli.Command, verdict payment.Verdict, fn func(*staff.Client, staff.Choice) error) error {
	if verdict == "" {
		var err error
		if verdict, err = staff.VerdictOf(cmd.Bool("approve"), cmd.Bool("reject")); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	c, err := staff.Open(ctx, cmd.String("api-url"), cfg.AMQPURL, cmd.String("session-file"), cfg.Logger, os.Stdout)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c, staff.Choice{Verdict: verdict, Reason: cmd.String("reason"), OTP: cmd.String("otp"), Wait: cmd.Duration("wait"),
		Prompt: func(p string) (string, error) { return staff.ReadSecret("", p) }})
}

func printResult(r approval.Result) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(b))
	if r.Outcome != approval.Applied {
		return cli.Exit("", 3)
	}
	return nil
}
