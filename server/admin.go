package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
)

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
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					c := payment.Customer{ID: cmd.String("id"), Name: cmd.String("name"), OnlinePayment: cmd.Bool("online"), Active: true}
					if err := a.store.CustomerCreate(ctx, c); err != nil {
						return err
					}
					fmt.Printf("customer %s registered (online payment: %v)\n", c.ID, c.OnlinePayment)
					// Declare the customer's task queues now, so tasks are
					// routable before any serve restarts.
					if err := a.openBroker(ctx, "b2bpay-admin", 10*time.Second); err != nil {
						fmt.Printf("warning: %v; run `b2bpay topology` before its payments arrive\n", err)
						return nil
					}
					return route.CustomerTopology(c.ID).Declare(ctx, a.conn)
				})
			},
		}, {
			Name:      "online",
			Usage:     "enable or disable a customer for online payment",
			ArgsUsage: "ID on|off",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.Args().Len() != 2 || (cmd.Args().Get(1) != "on" && cmd.Args().Get(1) != "off") {
					return fmt.Errorf("usage: b2bpay customer online ID on|off")
				}
				return withDB(ctx, cmd, func(a *app) error {
					return a.store.CustomerSetOnline(ctx, cmd.Args().Get(0), cmd.Args().Get(1) == "on")
				})
			},
		}, {
			Name:      "review-otp",
			Usage:     "require (on, the default) or not (off) the reviewer's one-time password to approve at review",
			ArgsUsage: "ID on|off",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "operator", Usage: "who runs this, for the audit trail (default: the OS user)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.Args().Len() != 2 || (cmd.Args().Get(1) != "on" && cmd.Args().Get(1) != "off") {
					return fmt.Errorf("usage: b2bpay customer review-otp ID on|off")
				}
				operator, err := operatorName(cmd.String("operator"))
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *app) error {
					id, on := cmd.Args().Get(0), cmd.Args().Get(1) == "on"
					if err := a.store.CustomerSetReviewOTP(ctx, id, on, "admin:"+operator); err != nil {
						return err
					}
					fmt.Printf("customer %s: one-time password at review %s\n", id, cmd.Args().Get(1))
					return nil
				})
			},
		}},
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
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					b := payment.Bank{ID: cmd.String("id"), Name: cmd.String("name"), B2B: cmd.Bool("b2b")}
					if err := a.store.BankCreate(ctx, b); err != nil {
						return err
					}
					fmt.Printf("bank %s registered (B2B: %v)\n", b.ID, b.B2B)
					return nil
				})
			},
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
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					acc := payment.Account{Number: cmd.String("number"), BankID: cmd.String("bank"),
						CustomerID: cmd.String("customer"), Currency: cmd.String("currency"), Active: true}
					if err := a.store.AccountCreate(ctx, acc); err != nil {
						return err
					}
					fmt.Printf("account %s at %s registered for %s\n", acc.Number, acc.BankID, acc.CustomerID)
					return nil
				})
			},
		}},
	}
}

func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "register people of a customer with their roles",
		Commands: append([]*cli.Command{{
			Name:  "add",
			Usage: "register a user",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Required: true, Usage: "login name"},
				&cli.StringFlag{Name: "customer", Required: true},
				&cli.StringFlag{Name: "name", Required: true},
				&cli.StringSliceFlag{Name: "role", Required: true, Usage: "applicant, reviewer or authorizer (repeat for several)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					u := payment.User{ID: cmd.String("id"), CustomerID: cmd.String("customer"), Name: cmd.String("name"), Active: true}
					for _, r := range cmd.StringSlice("role") {
						u.Roles = append(u.Roles, payment.Role(strings.TrimSpace(r)))
					}
					if err := a.store.UserCreate(ctx, u); err != nil {
						return err
					}
					fmt.Printf("user %s of %s registered with roles %v\n", u.ID, u.CustomerID, u.Roles)
					return nil
				})
			},
		}}, userAdminCommands()...),
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
				return withDB(ctx, cmd, func(a *app) error {
					u := payment.Upstream{ID: cmd.String("id"), Name: cmd.String("name"), AMQPUser: cmd.String("amqp-user"),
						Active: true, Customers: cmd.StringSlice("customer")}
					var sealed, key []byte
					version := 0
					if cmd.Bool("hmac") {
						s, err := a.sealer()
						if err != nil {
							return err
						}
						key = secret.NewKey()
						sealed, version = s.Seal(key, intake.KeyAD(u.ID)), int(s.Version())
					}
					if err := a.store.UpstreamCreate(ctx, u, sealed, version); err != nil {
						return err
					}
					fmt.Printf("upstream %s registered for customers %v\n", u.ID, u.Customers)
					if key != nil {
						fmt.Printf("HMAC key (shown once; give it to the upstream, it signs %s): %x\n", route.HeaderSignature, key)
					}
					// Declare the status queue now, so the upstream's answers are
					// routable before any serve restarts.
					if err := a.openBroker(ctx, "b2bpay-admin", 10*time.Second); err != nil {
						fmt.Printf("warning: %v; run `b2bpay topology` before this upstream submits\n", err)
						return nil
					}
					if err := route.UpstreamTopology(u.ID).Declare(ctx, a.conn); err != nil {
						return fmt.Errorf("declare status queue of %s: %w", u.ID, err)
					}
					fmt.Printf("status events go to queue %s\n", route.StatusQueue(u.ID))
					if u.AMQPUser != "" {
						p := route.UpstreamPermissions(u.ID)
						fmt.Printf("broker permissions of %s (nothing more): rabbitmqctl set_permissions -p VHOST %s '%s' '%s' '%s'\n",
							u.AMQPUser, u.AMQPUser, p.Configure, p.Write, p.Read)
					}
					return nil
				})
			},
		}},
	}
}
