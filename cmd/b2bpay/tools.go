package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/bench"
	"github.com/b2bpay/b2bpay/demo"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "seed sample data in a fresh demo database and push requests through intake, printing progress and a summary",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Value: 300, Usage: "how many requests to publish"},
			&cli.StringFlag{Name: "demo-database", Value: "b2bpay_demo", Usage: "database (re)created for the demo on the server of --database-url"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute},
			&cli.StringFlag{Name: "dir", Value: "var/demo", Usage: "where the demo's interbank files and status reports go"},
			&cli.StringFlag{Name: "console", Usage: "after the checks, keep serving the staff console at this address (e.g. 127.0.0.1:8490) until Ctrl-C"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL, err = demo.Database(ctx, cfg.DatabaseURL, cmd.String("demo-database")); err != nil {
				return err
			}
			if cmd.String("console") == "" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, cmd.Duration("timeout"))
				defer cancel()
			}
			return demo.Run(ctx, cfg, int(cmd.Int("count")), cmd.String("dir"), cmd.String("console"))
		},
	}
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name: "bench",
		Usage: "measure the machine's baselines and b2bpay's stages on a database and vhost of their own " +
			"(B2BPAY_TEST_DATABASE_URL, B2BPAY_TEST_AMQP_URL); print a table and write JSON",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Value: 20000, Usage: "messages per baseline and requests through intake"},
			&cli.StringFlag{Name: "export-sizes", Value: "10000,100000", Usage: "payments per export cutoff, comma-separated"},
			&cli.BoolFlag{Name: "export-max", Usage: "also export 1,000,000 payments"},
			&cli.StringFlag{Name: "json", Value: "var/bench-last-run.json", Usage: "where the figures are written"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write each stage's CPU profile to this path plus the stage: .intake, .intake-store, .relay, .decisions, .export-N, …"},
			&cli.IntFlag{Name: "decisions", Value: 2000, Usage: "payments taken through their three decisions (0: skip the stage)"},
			&cli.StringFlag{Name: "batch-sizes", Value: "100,1000", Usage: "items per batch decision, one decisions-batch/N stage each, comma-separated (empty: none)"},
			&cli.IntFlag{Name: "batch-payments", Value: 20000, Usage: "payments each decisions-batch/N stage takes through their three decisions"},
			&cli.IntFlag{Name: "e2e", Usage: "payments taken published → exported with batch decisions (0: skip; at 1000000 the stage is end-to-end-1m)"},
			&cli.IntFlag{Name: "intake-batch", Value: 50, Usage: "serve's --intake-batch during the intake stage"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "serve's --concurrency during the intake stage"},
			&cli.IntFlag{Name: "decision-batch", Value: 20, Usage: "serve's --decision-batch during the decision stages"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			sizes, err := bench.ExportSizes(cmd.String("export-sizes"), cmd.Bool("export-max"))
			if err != nil {
				return err
			}
			batchSizes, err := bench.BatchSizes(cmd.String("batch-sizes"))
			if err != nil {
				return err
			}
			_, err = bench.Run(ctx, bench.Options{Count: int(cmd.Int("count")), ExportSizes: sizes,
				BatchSizes: batchSizes, BatchPayments: int(cmd.Int("batch-payments")), EndToEnd: int(cmd.Int("e2e")),
				JSONPath: cmd.String("json"), CPUProfile: cmd.String("cpuprofile"),
				IntakeBatch: int(cmd.Int("intake-batch")), Concurrency: int(cmd.Int("concurrency")), DecisionBatch: int(cmd.Int("decision-batch")),
				Decisions: int(cmd.Int("decisions")),
				Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}, os.Stdout)
			return err
		},
	}
}
