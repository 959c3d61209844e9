package main

import (
	"context"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/server"
)

func reconCommand() *cli.Command {
	return &cli.Command{
		Name:  "recon",
		Usage: "reconcile payments against the bank's camt.054 notifications; the end-of-day report",
		Commands: []*cli.Command{{
			Name: "import", Usage: "import camt.054 files (each recorded once by its SHA-256)", ArgsUsage: "FILE...",
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.ReconImport(ctx, cmd.Root().Writer, cmd.Args().Slice())
			}),
		}, {
			Name: "report", Usage: "the end-of-day report of a settlement date",
			Flags: []cli.Flag{&cli.StringFlag{Name: "date", Usage: "settlement date YYYY-MM-DD (default today)"},
				&cli.BoolFlag{Name: "csv", Usage: "write CSV"}},
			Action: onApp(func(ctx context.Context, cmd *cli.Command, a *server.App) error {
				return a.ReconReport(ctx, cmd.Root().Writer, cmd.String("date"), cmd.Bool("csv"))
			}),
		}},
	}
}
