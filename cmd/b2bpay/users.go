package main

import (
	"context"
	"errors"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/staff"
)

func userCommand() *cli.Command {
	id := func() cli.Flag { return &cli.StringFlag{Name: "id", Required: true} }
	return &cli.Command{
		Name:  "user",
		Usage: "register people of a customer with their roles",
		Commands: []*cli.Command{{
			Name:  "add",
			Usage: "register a user",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Required: true, Usage: "login name"},
				&cli.StringFlag{Name: "customer", Required: true},
				&cli.StringFlag{Name: "name", Required: true},
				&cli.StringSliceFlag{Name: "role", Required: true, Usage: "applicant, reviewer, authorizer, operator (the bank's operations) or admin (the customer's administrator); repeat for several"},
			},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				u := payment.User{ID: cmd.String("id"), CustomerID: cmd.String("customer"), Name: cmd.String("name"), Active: true}
				for _, r := range cmd.StringSlice("role") {
					u.Roles = append(u.Roles, payment.Role(strings.TrimSpace(r)))
				}
				return printed(cmd, a.Store.UserCreate(ctx, u), "user %s of %s registered with roles %v", u.ID, u.CustomerID, u.Roles)
			}),
		}, {
			Name:  "password",
			Usage: "set a user's password (argon2id; at least 12 characters), read from --password-file or the first line of stdin",
			Flags: []cli.Flag{id(), &cli.StringFlag{Name: "password-file"}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				pw, err := staff.ReadSecret(cmd.String("password-file"), "new password: ")
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *server.App) error { return a.UserSetPassword(ctx, cmd.Root().Writer, cmd.String("id"), pw) })
			},
		}, {
			Name: "enroll-otp",
			Usage: "generate a TOTP secret for a user, store it sealed, print the otpauth:// URI and write a QR code PNG " +
				"for an authenticator app (enrolling again replaces the secret)",
			Flags: []cli.Flag{id(),
				&cli.StringFlag{Name: "qr", Usage: "write the QR code PNG here (default <id>-otp.png)"},
				&cli.StringFlag{Name: "issuer", Value: "b2bpay"},
			},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.UserEnrollOTP(ctx, cmd.Root().Writer, cmd.String("id"), cmd.String("issuer"), cmd.String("qr"))
			}),
		}, {
			Name:   "disable",
			Usage:  "disable a user (their sessions are revoked)",
			Flags:  []cli.Flag{id(), &cli.StringFlag{Name: "reason", Required: true}},
			Action: func(ctx context.Context, cmd *cli.Command) error { return setActive(ctx, cmd, false) },
		}, {
			Name:   "enable",
			Usage:  "enable a disabled user",
			Flags:  []cli.Flag{id(), &cli.StringFlag{Name: "reason", Required: true}},
			Action: func(ctx context.Context, cmd *cli.Command) error { return setActive(ctx, cmd, true) },
		}, {
			Name: "unlock",
			Usage: "end a user's OTP lock and sign-in lock early and clear their failure counts " +
				"(audited as admin:<operator>, with the reason)",
			ArgsUsage: "[USER]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Usage: "the user (or give it as the argument)"},
				&cli.StringFlag{Name: "reason", Required: true, Usage: "why, for the audit trail (e.g. the help desk ticket)"},
				&cli.StringFlag{Name: "operator", Usage: "who runs this, for the audit trail (default: the OS user)"},
			},
			Action: unlockUser,
		}, {
			Name:  "limit",
			Usage: "set the largest amount a user may approve in a currency",
			Flags: []cli.Flag{id(),
				&cli.StringFlag{Name: "currency", Value: "CNY"},
				&cli.StringFlag{Name: "max", Required: true, Usage: "decimal amount, e.g. 500000.00"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				cur := cmd.String("currency")
				minor, err := payment.ParseAmount(cmd.String("max"), cur)
				if err != nil {
					return err
				}
				return withDB(ctx, cmd, func(a *server.App) error {
					return printed(cmd, a.Store.UserSetLimit(ctx, cmd.String("id"), cur, minor, "admin"),
						"%s may approve up to %s %s", cmd.String("id"), payment.FormatAmount(minor, cur), cur)
				})
			},
		}, {
			Name:  "audit",
			Usage: "print a user's audit trail (sign-ins, OTP attempts, enrolment, decisions refused and applied)",
			Flags: []cli.Flag{&cli.StringFlag{Name: "id"}, &cli.IntFlag{Name: "limit", Value: 200}},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.UserAudit(ctx, cmd.Root().Writer, cmd.String("id"), int(cmd.Int("limit")))
			}),
		}},
	}
}

// unlockUser is `user unlock`: it ends a user's OTP and sign-in locks.
func unlockUser(ctx context.Context, cmd *cli.Command) error {
	const usage = "usage: b2bpay user unlock USER --reason TEXT (or --id USER)"
	id := cmd.String("id")
	switch {
	case cmd.Args().Len() > 1 || (id != "" && cmd.Args().Len() == 1 && cmd.Args().First() != id):
		return errors.New(usage)
	case id == "":
		id = cmd.Args().First()
	}
	if id == "" {
		return errors.New(usage)
	}
	reason := strings.TrimSpace(cmd.String("reason"))
	if reason == "" {
		return errors.New("--reason must say why, for the audit trail")
	}
	operator, err := server.Operator(cmd.String("operator"))
	if err != nil {
		return err
	}
	return withDB(ctx, cmd, func(a *server.App) error { return a.UserUnlock(ctx, cmd.Root().Writer, id, operator, reason) })
}

func setActive(ctx context.Context, cmd *cli.Command, active bool) error {
	return withDB(ctx, cmd, func(a *server.App) error {
		return printed(cmd, a.Store.UserSetActive(ctx, cmd.String("id"), active, "admin", cmd.String("reason")),
			"user %s active: %v", cmd.String("id"), active)
	})
}
