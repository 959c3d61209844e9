package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/server"
)

// exportFlags configure the interbank export; serve and the operations
// commands share them.
var exportFlags = []cli.Flag{
	&cli.StringFlag{Name: "outbound-dir", Value: "var/outbound", Sources: cli.EnvVars("B2BPAY_OUTBOUND_DIR"), Usage: "where interbank files are delivered"},
	&cli.StringFlag{Name: "inbound-dir", Value: "var/inbound", Sources: cli.EnvVars("B2BPAY_INBOUND_DIR"), Usage: "where pacs.002 status reports are dropped"},
	&cli.StringFlag{Name: "cutoffs", Value: "0 10 * * *;0 14 * * *;15 17 * * *;30 22 * * *", Sources: cli.EnvVars("B2BPAY_CUTOFFS"),
		Usage: "cutoffs as cron expressions in --timezone, separated by ';' (intraday ones and the nightly settlement run)"},
	&cli.StringFlag{Name: "calendar", Value: "cn", Sources: cli.EnvVars("B2BPAY_CALENDAR"), Usage: "business-day calendar: cn, weekdays, or a calendar file"},
	&cli.IntFlag{Name: "max-per-file", Value: 10000, Sources: cli.EnvVars("B2BPAY_MAX_PER_FILE"), Usage: "most payments in one file"},
	&cli.StringFlag{Name: "instructing-agent", Sources: cli.EnvVars("B2BPAY_INSTRUCTING_AGENT"), Usage: "bank id written as InstgAgt (optional)"},
	&cli.StringFlag{Name: "instructed-agent", Sources: cli.EnvVars("B2BPAY_INSTRUCTED_AGENT"), Usage: "bank id written as InstdAgt (optional)"},
	&cli.StringFlag{Name: "deliver", Sources: cli.EnvVars("B2BPAY_DELIVER"),
		Usage: "deliver each written file to the clearing gateway: sftp://user@host:port/dir or dir:/path (default: none, files stay in --outbound-dir)"},
	&cli.StringFlag{Name: "deliver-key", Sources: cli.EnvVars("B2BPAY_DELIVER_KEY"), Usage: "SSH private key file for --deliver sftp://"},
	&cli.StringFlag{Name: "deliver-known-hosts", Sources: cli.EnvVars("B2BPAY_DELIVER_KNOWN_HOSTS"),
		Usage: "the gateway's pinned host key: a known_hosts file, or its SHA256:… fingerprint"},
	&cli.DurationFlag{Name: "ack-timeout", Value: 2 * time.Hour, Sources: cli.EnvVars("B2BPAY_ACK_TIMEOUT"),
		Usage: "alert (batch_unacknowledged) when a delivered file has no pacs.002 group status after this long"},
	&cli.DurationFlag{Name: "deliver-retry", Value: time.Minute, Sources: cli.EnvVars("B2BPAY_DELIVER_RETRY"),
		Usage: "first wait after a failed delivery, doubled each failure up to 1 h"},
}

func exportSettings(cmd *cli.Command) server.ExportSettings {
	return server.ExportSettings{Outbound: cmd.String("outbound-dir"), Inbound: cmd.String("inbound-dir"), Cutoffs: cmd.String("cutoffs"),
		Calendar: cmd.String("calendar"), MaxPerFile: int(cmd.Int("max-per-file")),
		InstructingAgent: cmd.String("instructing-agent"), InstructedAgent: cmd.String("instructed-agent"),
		Delivery: server.DeliverySettings{
			Target:     export.TargetSettings{Spec: cmd.String("deliver"), KeyFile: cmd.String("deliver-key"), KnownHosts: cmd.String("deliver-known-hosts")},
			AckTimeout: cmd.Duration("ack-timeout"), RetryMin: cmd.Duration("deliver-retry"), RetryMax: time.Hour,
		}}
}

// withExport runs fn with the database open and the export configured.
func withExport(ctx context.Context, cmd *cli.Command, fn func(*server.App, server.ExportConfig) error) error {
	return withDB(ctx, cmd, func(a *server.App) error {
		ec, err := server.LoadExport(exportSettings(cmd), a.Config.Location)
		if err != nil {
			return err
		}
		return fn(a, ec)
	})
}

// atFlag parses the time of --at (RFC 3339), or returns zero (now).
func atFlag(cmd *cli.Command) (time.Time, error) {
	s := cmd.String("at")
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at: %w", err)
	}
	return t, nil
}

func cutoffCommand() *cli.Command {
	return &cli.Command{
		Name:  "cutoff",
		Usage: "run a cutoff now, or show the schedule",
		Commands: []*cli.Command{{
			Name: "run",
			Usage: "claim every authorized payment due into batches and write their interbank files now (a manual run: " +
				"it hides no scheduled cutoff; on a day off its files settle on the next business day)",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "at", Usage: "the cutoff time (RFC 3339); default now"},
				&cli.BoolFlag{Name: "force", Usage: fmt.Sprintf("run a cutoff --at more than %s in the future", server.FutureSkew)},
			}, exportFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				at, err := atFlag(cmd)
				if err != nil {
					return err
				}
				return withExport(ctx, cmd, func(a *server.App, ec server.ExportConfig) error {
					return a.CutoffRun(ctx, cmd.Root().Writer, ec, at, cmd.Bool("force"))
				})
			},
		}, {
			Name:  "next",
			Usage: "show the next cutoffs (and which one a payment authorized now would make), and the years the calendar has no notice for",
			Flags: append([]cli.Flag{
				&cli.IntFlag{Name: "count", Value: 5},
				&cli.StringFlag{Name: "at", Usage: "list the cutoffs after this time (RFC 3339); default now"},
			}, exportFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				t, err := atFlag(cmd)
				if err != nil {
					return err
				}
				return server.Cutoffs(os.Stdout, exportSettings(cmd), cfg.Location, t, int(cmd.Int("count")))
			},
		}},
	}
}

func batchCommand() *cli.Command {
	return &cli.Command{
		Name:  "batch",
		Usage: "list batches, show one, write its file again, or re-issue it",
		Commands: []*cli.Command{{
			Name: "list", Usage: "the latest batches",
			Flags: []cli.Flag{&cli.IntFlag{Name: "limit", Value: 50}},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.BatchList(ctx, cmd.Root().Writer, int(cmd.Int("limit")))
			}),
		}, {
			Name: "show", Usage: "a batch and its payments", ArgsUsage: "BATCH_ID",
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.BatchShow(ctx, cmd.Root().Writer, cmd.Args().First())
			}),
		}, {
			Name: "redeliver", Usage: "write a delivered batch's file again (byte-identical, checked by SHA-256)", ArgsUsage: "BATCH_ID",
			Flags: append([]cli.Flag{&cli.StringFlag{Name: "to", Usage: "directory (default: --outbound-dir)"}}, exportFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withExport(ctx, cmd, func(a *server.App, ec server.ExportConfig) error {
					return a.BatchRedeliver(ctx, cmd.Root().Writer, ec, cmd.Args().First(), cmd.String("to"))
				})
			},
		}, {
			Name: "reissue", ArgsUsage: "BATCH_ID",
			Usage: "write a new file (new message id) for a rejected or lost batch's payments, supersede the old one, deliver it (audited)",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "operator", Required: true, Usage: "who re-issues (audit trail)"},
				&cli.StringFlag{Name: "reason", Required: true, Usage: "why (audit trail)"},
			}, exportFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withExport(ctx, cmd, func(a *server.App, ec server.ExportConfig) error {
					return a.BatchReissue(ctx, cmd.Root().Writer, ec, cmd.Args().First(), cmd.String("operator"), cmd.String("reason"))
				})
			},
		}},
	}
}

func reportsCommand() *cli.Command {
	return &cli.Command{
		Name:  "reports",
		Usage: "read the pacs.002 status reports waiting in the inbound directory now",
		Commands: []*cli.Command{{
			Name: "import", Usage: "apply or quarantine every waiting report",
			Flags: exportFlags,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withExport(ctx, cmd, func(a *server.App, ec server.ExportConfig) error {
					return a.ReportsImport(ctx, cmd.Root().Writer, ec)
				})
			},
		}},
	}
}
