package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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

func sessionPath(cmd *cli.Command) (string, error) {
	return staff.SessionPath(cmd.String("session-file"))
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
			s, err := staff.Login(ctx, cmd.String("api-url"), cmd.String("user"), pw)
			if err != nil {
				return err
			}
			path, err := sessionPath(cmd)
			if err != nil {
				return err
			}
			if err := s.Save(path); err != nil {
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
			path, err := sessionPath(cmd)
			if err != nil {
				return err
			}
			s, err := staff.LoadSession(path)
			if err != nil {
				return err
			}
			if err := staff.Logout(ctx, cmd.String("api-url"), s); err != nil {
				return err
			}
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
		Prompt: func(p string) (string, error) { return readSecret("", p) }})
}

func printResult(r approval.Result) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(b))
	if r.Outcome != approval.Applied {
		return cli.Exit("", 3)
	}
	return nil
}
