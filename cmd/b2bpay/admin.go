package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/server"
)

// The administrative commands: the registry (customers, banks, accounts,
// people, upstreams), master keys, verification and held payments.

// onOff reads the ID on|off arguments of a switch command.
func onOff(cmd *cli.Command, usage string) (string, bool, error) {
	if cmd.Args().Len() != 2 || (cmd.Args().Get(1) != "on" && cmd.Args().Get(1) != "off") {
		return "", false, errors.New("usage: " + usage)
	}
	return cmd.Args().Get(0), cmd.Args().Get(1) == "on", nil
}

// printed prints what a command did, unless err says it failed, and
// returns err.
func printed(cmd *cli.Command, err error, format string, args ...any) error {
	if err == nil {
		fmt.Fprintf(cmd.Root().Writer, format+"\n", args...)
	}
	return err
}

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "print a new random 32-byte master key (base64) for B2BPAY_MASTER_KEY or a key file",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			fmt.Println(base64.StdEncoding.EncodeToString(secret.NewKey()))
			return nil
		},
	}
}

func customerCommand() *cli.Command {
	return &cli.Command{
		Name:  "customer",
		Usage: "register customers, set their online-payment eligibility and approval tiers",
		Commands: []*cli.Command{tierCommand(), {
			Name:  "add",
			Usage: "register a customer",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Required: true},
				&cli.StringFlag{Name: "name", Required: true},
				&cli.BoolFlag{Name: "online", Usage: "enabled for online payment"},
			},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				c := payment.Customer{ID: cmd.String("id"), Name: cmd.String("name"), OnlinePayment: cmd.Bool("online"), Active: true}
				return a.CustomerAdd(ctx, cmd.Root().Writer, c)
			}),
		}, {
			Name:      "online",
			Usage:     "enable or disable a customer for online payment",
			ArgsUsage: "ID on|off",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				id, on, err := onOff(cmd, "b2bpay customer online ID on|off")
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *server.App) error { return a.Store.CustomerSetOnline(ctx, id, on) })
			},
		}, {
			Name:      "review-otp",
			Usage:     "require (on, the default) or not (off) the reviewer's one-time password to approve at review",
			ArgsUsage: "ID on|off",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "operator", Usage: "who runs this, for the audit trail (default: the OS user)"}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				id, on, err := onOff(cmd, "b2bpay customer review-otp ID on|off")
				if err != nil {
					return err
				}
				operator, err := server.Operator(cmd.String("operator"))
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *server.App) error {
					return printed(cmd, a.Store.CustomerSetReviewOTP(ctx, id, on, "admin:"+operator),
						"customer %s: one-time password at review %s", id, cmd.Args().Get(1))
				})
			},
		}},
	}
}

// tierCommand sets a customer's approval tiers.
func tierCommand() *cli.Command {
	return &cli.Command{
		Name:  "tier",
		Usage: "require N distinct authorizers for a customer's payments above an amount (e.g. --above 1000000.00 --authorizers 2)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "customer", Required: true},
			&cli.StringFlag{Name: "currency", Value: "CNY"},
			&cli.StringFlag{Name: "above", Required: true},
			&cli.IntFlag{Name: "authorizers", Required: true},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cur := cmd.String("currency")
			above, err := payment.ParseAmount(cmd.String("above"), cur)
			if err != nil && cmd.String("above") != "0" {
				return err
			}
			n := int(cmd.Int("authorizers"))
			if n < 1 || n > 5 {
				return errors.New("--authorizers must be 1 to 5")
			}
			return withDB(ctx, cmd, func(a *server.App) error {
				return printed(cmd, a.Store.ApprovalTierSet(ctx, cmd.String("customer"), cur, above, n),
					"payments of %s above %s %s need %d authorizers (applies to payments received from now on)",
					cmd.String("customer"), payment.FormatAmount(above, cur), cur, n)
			})
		},
	}
}

func bankCommand() *cli.Command {
	return &cli.Command{
		Name:  "bank",
		Usage: "register paying banks",
		Commands: []*cli.Command{{
			Name:  "add",
			Usage: "register a bank (12-digit CNAPS code or BIC)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Required: true},
				&cli.StringFlag{Name: "name", Required: true},
				&cli.BoolFlag{Name: "b2b", Usage: "offers B2B online payment"},
			},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				b := payment.Bank{ID: cmd.String("id"), Name: cmd.String("name"), B2B: cmd.Bool("b2b")}
				return printed(cmd, a.Store.BankCreate(ctx, b), "bank %s registered (B2B: %v)", b.ID, b.B2B)
			}),
		}},
	}
}

func accountCommand() *cli.Command {
	return &cli.Command{
		Name:  "account",
		Usage: "register customers' accounts",
		Commands: []*cli.Command{{
			Name:  "add",
			Usage: "register an account of a customer at a bank",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "customer", Required: true},
				&cli.StringFlag{Name: "bank", Required: true},
				&cli.StringFlag{Name: "number", Required: true},
				&cli.StringFlag{Name: "currency", Value: "CNY"},
			},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				acc := payment.Account{Number: cmd.String("number"), BankID: cmd.String("bank"),
					CustomerID: cmd.String("customer"), Currency: cmd.String("currency"), Active: true}
				return printed(cmd, a.Store.AccountCreate(ctx, acc), "account %s at %s registered for %s", acc.Number, acc.BankID, acc.CustomerID)
			}),
		}},
	}
}

func upstreamCommand() *cli.Command {
	return &cli.Command{
		Name:  "upstream",
		Usage: "register upstream systems that publish payment requests",
		Commands: []*cli.Command{{
			Name: "add",
			Usage: "register an upstream identified by its RabbitMQ user (--amqp-user) and/or an HMAC key (--hmac); " +
				"with --hmac the key is printed once and stored sealed",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Required: true},
				&cli.StringFlag{Name: "name", Required: true},
				&cli.StringFlag{Name: "amqp-user", Usage: "RabbitMQ user the upstream publishes as (user_id property)"},
				&cli.BoolFlag{Name: "hmac", Usage: "generate an HMAC key for signed requests"},
				&cli.StringSliceFlag{Name: "customer", Required: true, Usage: "customer it may submit for (repeat)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.String("amqp-user") == "" && !cmd.Bool("hmac") {
					return fmt.Errorf("give --amqp-user, --hmac, or both: an upstream must be identifiable")
				}
				return withDB(ctx, cmd, func(a *server.App) error {
					u := payment.Upstream{ID: cmd.String("id"), Name: cmd.String("name"), AMQPUser: cmd.String("amqp-user"),
						Active: true, Customers: cmd.StringSlice("customer")}
					return a.UpstreamAdd(ctx, cmd.Root().Writer, u, cmd.Bool("hmac"))
				})
			},
		}},
	}
}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "master key versions: show them, rotate to a new key",
		Commands: []*cli.Command{{
			Name:  "status",
			Usage: "check the configured master key against the database and list the key versions",
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.KeyStatus(ctx, cmd.Root().Writer)
			}),
		}, {
			Name: "rotate",
			Usage: "switch to a new master key: re-seal every upstream HMAC key and OTP seed with it, keep the older MAC keys " +
				"sealed with it so old decisions and timeline entries still verify; run with the configured (current) key and " +
				"the owner's database URL, with every serve stopped, then start them with the new key",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "new-key-file", Required: true, Usage: "file with the new 32-byte key (`b2bpay keygen`, chmod 600)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				next, err := secret.LoadKeyFile(cmd.String("new-key-file"))
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *server.App) error { return a.KeyRotate(ctx, cmd.Root().Writer, next) })
			},
		}},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name: "verify",
		Usage: "check every payment's timeline (hash chain and MACs) and its content against the decisions that approved it " +
			"(MACs with the key derived from the master key), and name what broke",
		ArgsUsage: "[PAYMENT_ID ...] (default: every payment)",
		Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
			broken, err := a.Verify(ctx, cmd.Root().Writer, cmd.Args().Slice())
			if err == nil && broken > 0 {
				return cli.Exit("", 4)
			}
			return err
		}),
	}
}

// heldCommand lists the payments the cutoff held (their approvals do not
// check) and lets an operator void one after investigation. Nothing
// releases a held payment into a file.
func heldCommand() *cli.Command {
	return &cli.Command{
		Name:  "held",
		Usage: "list payments held at a cutoff because their approvals do not check, or void one after investigation",
		Commands: []*cli.Command{{
			Name:  "list",
			Usage: "list held payments with what the cutoff found wrong",
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.HeldList(ctx, cmd.Root().Writer)
			}),
		}, {
			Name:      "void",
			Usage:     "end a held payment (it becomes cancelled, its order free for a new request); audited with the operator's name",
			ArgsUsage: "PAYMENT_ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "operator", Required: true, Usage: "who voids it, for the timeline and the audit trail"},
				&cli.StringFlag{Name: "reason", Required: true, Usage: "why, for the timeline and the audit trail"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.Args().Len() != 1 {
					return fmt.Errorf("usage: b2bpay held void PAYMENT_ID --operator NAME --reason TEXT")
				}
				return withDB(ctx, cmd, func(a *server.App) error {
					return a.HeldVoid(ctx, cmd.Root().Writer, cmd.Args().First(), cmd.String("operator"), cmd.String("reason"))
				})
			},
		}},
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a payment's state and full timeline",
		ArgsUsage: "PAYMENT_ID | UPSTREAM/REQUEST_ID",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return fmt.Errorf("usage: b2bpay status PAYMENT_ID | UPSTREAM/REQUEST_ID")
			}
			return withDB(ctx, cmd, func(a *server.App) error { return a.Status(ctx, cmd.Root().Writer, cmd.Args().First()) })
		},
	}
}

// capsCommand sets the caps on one batch decision of a customer's people or of one person.
func capsCommand() *cli.Command {
	return &cli.Command{
		Name: "caps", Usage: "cap batch decisions (many payments, one OTP) of a customer's people or of one person: items, and a total per currency",
		Flags: []cli.Flag{&cli.StringFlag{Name: "customer"}, &cli.StringFlag{Name: "user"}, &cli.IntFlag{Name: "items", Usage: "payments per batch, 1 to 5,000"},
			&cli.StringFlag{Name: "currency", Value: "CNY"}, &cli.StringFlag{Name: "max-total", Usage: "largest total of a batch, e.g. 50000000.00"},
			&cli.StringFlag{Name: "operator", Usage: "who runs this, for the audit trail (default: the OS user)"}},
		Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
			return a.CapsSet(ctx, cmd.Root().Writer, cmd.String("customer"), cmd.String("user"), int(cmd.Int("items")), cmd.String("currency"), cmd.String("max-total"), cmd.String("operator"))
		}),
	}
}
