package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
)

// userAdminCommands are the user subcommands beyond add: credentials,
// OTP enrolment, limits, disabling. Each leaves a line in the audit trail.
func userAdminCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "password",
		Usage: "set a user's password (argon2id; at least 12 characters), read from --password-file or the first line of stdin",
		Flags: []cli.Flag{&cli.StringFlag{Name: "id", Required: true}, &cli.StringFlag{Name: "password-file"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			pw, err := readSecret(cmd.String("password-file"), "new password: ")
			if err != nil {
				return err
			}
			if err := auth.CheckPasswordStrength(pw); err != nil {
				return err
			}
			hash, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			return withDB(ctx, cmd, func(a *app) error {
				if err := a.store.UserSetPassword(ctx, cmd.String("id"), hash, "admin"); err != nil {
					return err
				}
				fmt.Printf("password of %s set\n", cmd.String("id"))
				return nil
			})
		},
	}, {
		Name: "enroll-otp",
		Usage: "generate a TOTP secret for a user, store it sealed, print the otpauth:// URI and write a QR code PNG " +
			"for an authenticator app (enrolling again replaces the secret)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Required: true},
			&cli.StringFlag{Name: "qr", Usage: "write the QR code PNG here (default <id>-otp.png)"},
			&cli.StringFlag{Name: "issuer", Value: "b2bpay"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return withDB(ctx, cmd, func(a *app) error {
				sealer, err := a.sealer()
				if err != nil {
					return err
				}
				id := cmd.String("id")
				if _, err := a.store.UserGet(ctx, id); err != nil {
					return err
				}
				seed, uri, err := otp.Generate(cmd.String("issuer"), id)
				if err != nil {
					return err
				}
				png, err := otp.QRCodePNG(uri, 256)
				if err != nil {
					return err
				}
				path := cmd.String("qr")
				if path == "" {
					path = id + "-otp.png"
				}
				if err := writePrivateFile(path, png); err != nil {
					return err
				}
				if err := a.store.UserEnrollOTP(ctx, id, sealer.Seal(seed, postgres.OTPSeedAD(id)), int(sealer.Version()), "admin"); err != nil {
					_ = os.Remove(path)
					return err
				}
				fmt.Printf("OTP enrolled for %s; scan %s with an authenticator app, or enter this URI (shown once):\n%s\n", id, path, uri)
				return nil
			})
		},
	}, {
		Name:  "disable",
		Usage: "disable a user (their sessions are revoked)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "id", Required: true}, &cli.StringFlag{Name: "reason", Required: true}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return setActive(ctx, cmd, false)
		},
	}, {
		Name:  "enable",
		Usage: "enable a disabled user",
		Flags: []cli.Flag{&cli.StringFlag{Name: "id", Required: true}, &cli.StringFlag{Name: "reason", Required: true}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return setActive(ctx, cmd, true)
		},
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
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Required: true},
			&cli.StringFlag{Name: "currency", Value: "CNY"},
			&cli.StringFlag{Name: "max", Required: true, Usage: "decimal amount, e.g. 500000.00"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			minor, err := payment.ParseAmount(cmd.String("max"), cmd.String("currency"))
			if err != nil {
				return err
			}
			return withDB(ctx, cmd, func(a *app) error {
				if err := a.store.UserSetLimit(ctx, cmd.String("id"), cmd.String("currency"), minor, "admin"); err != nil {
					return err
				}
				fmt.Printf("%s may approve up to %s %s\n", cmd.String("id"), payment.FormatAmount(minor, cmd.String("currency")), cmd.String("currency"))
				return nil
			})
		},
	}, {
		Name:  "audit",
		Usage: "print a user's audit trail (sign-ins, OTP attempts, enrolment, decisions refused and applied)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "id"}, &cli.IntFlag{Name: "limit", Value: 200}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return withDB(ctx, cmd, func(a *app) error {
				entries, err := a.store.AuditList(ctx, cmd.String("id"), int(cmd.Int("limit")))
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "USER\tACTOR\tEVENT\tPAYMENT\tDETAIL")
				for _, e := range entries {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.UserID, e.Actor, e.Event, e.PaymentID, e.Detail)
				}
				return w.Flush()
			})
		},
	}}
}

// unlockUser is `user unlock`: it ends a user's OTP and sign-in locks.
func unlockUser(ctx context.Context, cmd *cli.Command) error {
	id := cmd.String("id")
	switch {
	case cmd.Args().Len() > 1 || (id != "" && cmd.Args().Len() == 1 && cmd.Args().First() != id):
		return errors.New("usage: b2bpay user unlock USER --reason TEXT (or --id USER)")
	case id == "":
		id = cmd.Args().First()
	}
	if id == "" {
		return errors.New("usage: b2bpay user unlock USER --reason TEXT (or --id USER)")
	}
	reason := strings.TrimSpace(cmd.String("reason"))
	if reason == "" {
		return errors.New("--reason must say why, for the audit trail")
	}
	operator, err := operatorName(cmd.String("operator"))
	if err != nil {
		return err
	}
	return withDB(ctx, cmd, func(a *app) error {
		u, err := a.store.UserUnlock(ctx, id, "admin:"+operator, reason)
		if err != nil {
			return err
		}
		w := cmd.Root().Writer
		if u.OTPLockedUntil == nil && u.LoginLockedUntil == nil {
			fmt.Fprintf(w, "%s was not locked; failure counts cleared (OTP %d, sign-in %d)\n", id, u.OTPFailures, u.LoginFailures)
			return nil
		}
		if u.OTPLockedUntil != nil {
			fmt.Fprintf(w, "%s: OTP lock until %s ended\n", id, u.OTPLockedUntil.In(a.cfg.Location).Format(time.DateTime+" MST"))
		}
		if u.LoginLockedUntil != nil {
			fmt.Fprintf(w, "%s: sign-in lock until %s ended\n", id, u.LoginLockedUntil.In(a.cfg.Location).Format(time.DateTime+" MST"))
		}
		return nil
	})
}

// operatorName is who runs an administrative command, for the audit
// trail: the --operator flag, else the OS user.
func operatorName(flag string) (string, error) {
	if s := strings.TrimSpace(flag); s != "" {
		return s, nil
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if s := os.Getenv("USER"); s != "" {
		return s, nil
	}
	return "", errors.New("cannot tell who you are: give --operator")
}

func setActive(ctx context.Context, cmd *cli.Command, active bool) error {
	return withDB(ctx, cmd, func(a *app) error {
		if err := a.store.UserSetActive(ctx, cmd.String("id"), active, "admin", cmd.String("reason")); err != nil {
			return err
		}
		fmt.Printf("user %s active: %v\n", cmd.String("id"), active)
		return nil
	})
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
			above, err := payment.ParseAmount(cmd.String("above"), cmd.String("currency"))
			if err != nil && cmd.String("above") != "0" {
				return err
			}
			if n := cmd.Int("authorizers"); n < 1 || n > 5 {
				return errors.New("--authorizers must be 1 to 5")
			}
			return withDB(ctx, cmd, func(a *app) error {
				if err := a.store.ApprovalTierSet(ctx, cmd.String("customer"), cmd.String("currency"), above, int(cmd.Int("authorizers"))); err != nil {
					return err
				}
				fmt.Printf("payments of %s above %s %s need %d authorizers (applies to payments received from now on)\n",
					cmd.String("customer"), payment.FormatAmount(above, cmd.String("currency")), cmd.String("currency"), cmd.Int("authorizers"))
				return nil
			})
		},
	}
}
