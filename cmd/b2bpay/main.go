// Command b2bpay carries business-to-business payments from the systems
// that request them, through a three-person approval, into interbank files.
// Run `b2bpay --help` for the subcommands.
//
// This package is the command line only: the flags, read and checked
// once, and short actions over the packages that do the work: server (the
// wiring: serve and the operators' commands), staff (the staff client),
// producers (submit, as an upstream), demo and bench.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/jobs"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "b2bpay:", err)
		os.Exit(1)
	}
}

func root() *cli.Command {
	return &cli.Command{
		Name:  "b2bpay",
		Usage: "B2B payments: intake from upstream systems, three-person approval, interbank files",
		Flags: globalFlags,
		Commands: []*cli.Command{
			migrateCommand(), serveCommand(), topologyCommand(), keygenCommand(), keyCommand(),
			customerCommand(), bankCommand(), accountCommand(), userCommand(), upstreamCommand(),
			submitCommand(), statusCommand(), demoCommand(),
			loginCommand(), logoutCommand(), staffCommand(), decideCommand(), confirmCommand(), cancelCommand(), verifyCommand(),
			cutoffCommand(), batchCommand(), reportsCommand(), reconCommand(), heldCommand(), capsCommand(),
			benchCommand(),
		},
	}
}

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply the database migrations embedded in this binary, as the role that owns the tables; with --app-role, grant serve's role what it needs",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "app-role", Sources: cli.EnvVars("B2BPAY_APP_ROLE"),
				Usage: "the PostgreSQL role serve connects as: after migrating, grant it SELECT, INSERT, UPDATE, DELETE on the tables, " +
					"only SELECT and INSERT on the append-only ones (timeline, audit, decisions, key versions), never TRUNCATE"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return server.Migrate(ctx, os.Stdout, cfg, cmd.String("app-role"))
		},
	}
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the intake and decision workers, the outbox relay, the status API, the cutoffs, status reports and expiry (or the --roles given) until SIGTERM",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "prefetch", Value: 50, Sources: cli.EnvVars("B2BPAY_PREFETCH"), Usage: "unacked deliveries per consumer"},
			&cli.IntFlag{Name: "max-message-bytes", Value: server.DefaultMaxMessageBytes, Sources: cli.EnvVars("B2BPAY_MAX_MESSAGE_BYTES"),
				Usage: "the broker's max_message_size (rabbitmq.conf; deploy/README.md sets 1 MiB): the largest delivery"},
			&cli.IntFlag{Name: "delivery-memory", Value: server.DefaultDeliveryMemory, Sources: cli.EnvVars("B2BPAY_DELIVERY_MEMORY"),
				Usage: "bytes all consumers' unacknowledged deliveries may take: prefetch is lowered so that prefetch × max-message-bytes × 2 queues fits"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Sources: cli.EnvVars("B2BPAY_CONCURRENCY"), Usage: "parallel handlers per queue"},
			&cli.IntFlag{Name: "intake-batch", Value: 50, Sources: cli.EnvVars("B2BPAY_INTAKE_BATCH"), Usage: "payment requests stored per intake transaction, at most (1: one at a time)"},
			&cli.IntFlag{Name: "decision-batch", Value: 20, Sources: cli.EnvVars("B2BPAY_DECISION_BATCH"), Usage: "decisions applied per transaction, at most (1: one at a time)"},
			&cli.DurationFlag{Name: "batch-wait", Value: 5 * time.Millisecond, Sources: cli.EnvVars("B2BPAY_BATCH_WAIT"), Usage: "how long a worker waits to fill a batch before storing what it has"},
			&cli.DurationFlag{Name: "drain-timeout", Value: 15 * time.Second, Usage: "how long in-flight messages may finish at shutdown"},
			&cli.StringFlag{Name: "roles", Sources: cli.EnvVars("B2BPAY_ROLES"), Usage: "parts to run, comma-separated: intake,decisions,relay,scheduler,http,console (empty: all)"},
			&cli.StringFlag{Name: "http-addr", Value: "127.0.0.1:8480", Sources: cli.EnvVars("B2BPAY_HTTP_ADDR"), Usage: "status API address (empty: none)"},
			&cli.StringFlag{Name: "console-addr", Sources: cli.EnvVars("B2BPAY_CONSOLE_ADDR"), Usage: "staff console address, e.g. 127.0.0.1:8490 (empty: none)"},
			&cli.BoolFlag{Name: "console-insecure", Usage: "console cookies without Secure, for plain HTTP beyond the loopback (tests and demos only)"},
			&cli.StringFlag{Name: "metrics-addr", Sources: cli.EnvVars("B2BPAY_METRICS_ADDR"), Usage: "Prometheus /metrics address, apart from the API's, e.g. 127.0.0.1:9480 (empty: none)"},
			&cli.DurationFlag{Name: "token-ttl", Value: 15 * time.Minute, Sources: cli.EnvVars("B2BPAY_TOKEN_TTL"), Usage: "lifetime of session tokens"},
			&cli.DurationFlag{Name: "expiry-every", Value: time.Minute, Usage: "how often waiting payments are checked for expiry"},
			&cli.DurationFlag{Name: "ttl-confirmation", Value: jobs.DefaultTTLs[payment.StateAwaitingConfirmation], Usage: "longest wait for the applicant's confirmation"},
			&cli.DurationFlag{Name: "ttl-review", Value: jobs.DefaultTTLs[payment.StateAwaitingReview], Usage: "longest wait for review"},
			&cli.DurationFlag{Name: "ttl-authorization", Value: jobs.DefaultTTLs[payment.StateAwaitingAuthorization], Usage: "longest wait for authorization"},
			&cli.DurationFlag{Name: "cutoff-tick", Value: 15 * time.Second, Usage: "how often due cutoffs are looked for"},
			&cli.DurationFlag{Name: "otp-lock", Value: 15 * time.Minute, Sources: cli.EnvVars("B2BPAY_OTP_LOCK"), Usage: "how long a user is locked after 5 wrong OTP codes in a row"},
			&cli.BoolFlag{Name: "allow-privileged-db-role", Sources: cli.EnvVars("B2BPAY_ALLOW_PRIVILEGED_DB_ROLE"),
				Usage: "start even when the database role is a superuser or owns the tables (it could rewrite history); logs an ERROR with alert=db_role_privileged. For development and tests only"},
			&cli.DurationFlag{Name: "login-lock", Value: 15 * time.Minute, Sources: cli.EnvVars("B2BPAY_LOGIN_LOCK"), Usage: "how long sign-in is locked after 5 wrong passwords in a row"},
		}, exportFlags...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return server.Run(ctx, cfg, server.Settings{
				Serve: server.ServeOptions{
					Prefetch: int(cmd.Int("prefetch")), Concurrency: int(cmd.Int("concurrency")), CutoffTick: cmd.Duration("cutoff-tick"),
					MaxMessageBytes: int64(cmd.Int("max-message-bytes")), DeliveryMemory: int64(cmd.Int("delivery-memory")),
					IntakeBatch: int(cmd.Int("intake-batch")), DecisionBatch: int(cmd.Int("decision-batch")), BatchWait: cmd.Duration("batch-wait"),
					Drain: cmd.Duration("drain-timeout"), HTTPAddr: cmd.String("http-addr"), ConsoleAddr: cmd.String("console-addr"),
					ConsoleInsecure: cmd.Bool("console-insecure"), MetricsAddr: cmd.String("metrics-addr"), ExpiryEvery: cmd.Duration("expiry-every"),
					TTLs: map[payment.State]time.Duration{
						payment.StateAwaitingConfirmation:  cmd.Duration("ttl-confirmation"),
						payment.StateAwaitingReview:        cmd.Duration("ttl-review"),
						payment.StateAwaitingAuthorization: cmd.Duration("ttl-authorization"),
					},
				},
				Export: exportSettings(cmd), TokenTTL: cmd.Duration("token-ttl"), LoginLock: cmd.Duration("login-lock"), OTPLock: cmd.Duration("otp-lock"),
				AllowPrivilegedRole: cmd.Bool("allow-privileged-db-role"), Roles: cmd.String("roles"),
			})
		},
	}
}

func topologyCommand() *cli.Command {
	return &cli.Command{
		Name:  "topology",
		Usage: "declare b2bpay's exchanges and queues, or print them as a RabbitMQ definitions file",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "definitions", Usage: "print the definitions JSON instead of declaring"},
			&cli.BoolFlag{Name: "kubernetes", Usage: "print the Messaging Topology Operator objects (namespace b2bpay, cluster b2bpay-rabbitmq) instead of declaring"},
			&cli.StringFlag{Name: "vhost", Value: "/", Usage: "vhost named in the definitions"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Bool("definitions") {
				return server.Definitions(os.Stdout, cmd.String("vhost"))
			} else if cmd.Bool("kubernetes") {
				return server.TopologyManifests(os.Stdout, "b2bpay", "b2bpay-rabbitmq")
			}
			return withDB(ctx, cmd, func(a *server.App) error { return a.Topology(ctx, os.Stdout) })
		},
	}
}
