package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
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
}

// futureSkew is how far in the future `cutoff run --at` may be without
// --force: clocks disagree by that much at most.
const futureSkew = 2 * time.Minute

// printCutoffRun tells what a cutoff run did: what it claimed, the business
// day its files settle on (and why, when the run's own day is not one),
// and the files of earlier runs a crash had left that it wrote.
func printCutoffRun(res export.Result, loc *time.Location, cal *calendar.Calendar) {
	if res.CutoffAt.IsZero() {
		return
	}
	when := res.CutoffAt.In(loc).Format(time.RFC3339)
	if res.Taken {
		fmt.Printf("cutoff %s was already run: nothing new claimed\n", when)
	} else {
		fmt.Printf("cutoff %s: %d payments in %d files\n", when, res.Payments, len(res.Batches))
		for _, b := range res.Batches {
			fmt.Printf("  %s\n", b.FileName)
		}
		day := calendar.DateOf(res.CutoffAt, loc)
		switch {
		case res.SettlementDate == day:
			fmt.Printf("settles %s\n", res.SettlementDate)
		case !cal.IsBusinessDay(day) && res.SettlementDate == cal.NextBusinessDay(day):
			fmt.Printf("settles %s: %s is not a business day of the %s calendar, the files settle on the next one\n",
				res.SettlementDate, day, cal.Name())
		default:
			fmt.Printf("settles %s: the cutoff of %s is run late, the files settle on the first business day from today\n", res.SettlementDate, day)
		}
	}
	if len(res.Recovered) > 0 {
		payments := 0
		for _, b := range res.Recovered {
			payments += b.Count
		}
		fmt.Printf("recovered %d files (%d payments) an earlier run left unwritten:\n", len(res.Recovered), payments)
		for _, b := range res.Recovered {
			fmt.Printf("  %s (cutoff %s)\n", b.FileName, b.CutoffAt.In(loc).Format(time.RFC3339))
		}
	}
}

// exportConfig is the export part of the configuration, read once.
type exportConfig struct {
	outbound, inbound string
	schedule          *calendar.Schedule
	cal               *calendar.Calendar
	calSource         *calendarSource
	maxPerFile        int
	instg, instd      string
}

func loadExportConfig(cmd *cli.Command, loc *time.Location) (exportConfig, error) {
	src, err := loadCalendar(cmd.String("calendar"))
	if err != nil {
		return exportConfig{}, err
	}
	cal := src.cal
	var specs []string
	for _, s := range strings.Split(cmd.String("cutoffs"), ";") {
		if s = strings.TrimSpace(s); s != "" {
			specs = append(specs, s)
		}
	}
	sched, err := calendar.NewSchedule(loc, cal, specs...)
	if err != nil {
		return exportConfig{}, fmt.Errorf("cutoffs: %w", err)
	}
	for _, id := range []string{cmd.String("instructing-agent"), cmd.String("instructed-agent")} {
		if id != "" {
			if err := payment.ValidBankID("agent", id); err != nil {
				return exportConfig{}, err
			}
		}
	}
	return exportConfig{outbound: cmd.String("outbound-dir"), inbound: cmd.String("inbound-dir"), schedule: sched, cal: cal, calSource: src,
		maxPerFile: int(cmd.Int("max-per-file")), instg: cmd.String("instructing-agent"), instd: cmd.String("instructed-agent")}, nil
}

// exporter builds the exporter and the status-report reader.
func (a *app) exporter(ec exportConfig) (*export.Exporter, *export.Reports, error) {
	host, _ := os.Hostname()
	x, err := export.New(a.store, export.Config{
		Dir: ec.outbound, Format: iso20022.Pacs008(), MaxPerFile: ec.maxPerFile, Schedule: ec.schedule, Calendar: ec.cal,
		Location: a.cfg.Location, Runner: fmt.Sprintf("%s/%d", host, os.Getpid()), Log: a.log,
		InstructingAgent: ec.instg, InstructedAgent: ec.instd,
		Crash: export.CrashFromEnv,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(ec.inbound, 0o750); err != nil {
		return nil, nil, err
	}
	return x, &export.Reports{Store: a.store, Dir: ec.inbound, Log: a.log}, nil
}

// withExport runs fn with the database and the export configured.
func withExport(ctx context.Context, cmd *cli.Command, fn func(*app, *export.Exporter, *export.Reports, exportConfig) error) error {
	return withDB(ctx, cmd, func(a *app) error {
		ec, err := loadExportConfig(cmd, a.cfg.Location)
		if err != nil {
			return err
		}
		x, r, err := a.exporter(ec)
		if err != nil {
			return err
		}
		return fn(a, x, r, ec)
	})
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
				&cli.BoolFlag{Name: "force", Usage: fmt.Sprintf("run a cutoff --at more than %s in the future", futureSkew)},
			}, exportFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				now := time.Now()
				at := now
				if s := cmd.String("at"); s != "" {
					var err error
					if at, err = time.Parse(time.RFC3339, s); err != nil {
						return fmt.Errorf("--at: %w", err)
					}
				}
				if ahead := at.Sub(now); ahead > futureSkew && !cmd.Bool("force") {
					return fmt.Errorf("--at %s is %s in the future, more than the %s allowed for clock skew: a cutoff in the future "+
						"claims payments before it comes; pass --force to run it anyway", cmd.String("at"), ahead.Round(time.Second), futureSkew)
				}
				return withExport(ctx, cmd, func(a *app, x *export.Exporter, _ *export.Reports, ec exportConfig) error {
					if ahead := at.Sub(now); ahead > futureSkew {
						fmt.Printf("warning: cutoff %s is %s in the future, run because of --force\n",
							at.In(a.cfg.Location).Format(time.RFC3339), ahead.Round(time.Second))
					}
					res, err := x.RunManual(ctx, at.UTC())
					printCutoffRun(res, a.cfg.Location, ec.cal)
					return err
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
				ec, err := loadExportConfig(cmd, cfg.Location)
				if err != nil {
					return err
				}
				t := time.Now()
				if s := cmd.String("at"); s != "" {
					if t, err = time.Parse(time.RFC3339, s); err != nil {
						return fmt.Errorf("--at: %w", err)
					}
				}
				cutoffNext(os.Stdout, ec, t, int(cmd.Int("count")), cfg.Location)
				return nil
			},
		}},
	}
}

func batchCommand() *cli.Command {
	return &cli.Command{
		Name:  "batch",
		Usage: "list batches, show one, or deliver its file again",
		Commands: []*cli.Command{{
			Name: "list", Usage: "the latest batches",
			Flags: []cli.Flag{&cli.IntFlag{Name: "limit", Value: 50}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					bs, err := a.store.BatchList(ctx, int(cmd.Int("limit")))
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "BATCH\tCUTOFF\tBANK\tCURRENCY\tSETTLES\tPAYMENTS\tCONTROL SUM\tSTATE\tFILE")
					for _, b := range bs {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.CutoffAt.In(a.cfg.Location).Format("2006-01-02 15:04"),
							b.DebtorBankID, b.Currency, b.SettlementDate.Format(payment.DateLayout), b.Count,
							payment.FormatAmount(b.ControlSumMinor, b.Currency), b.State, b.FileName)
					}
					return w.Flush()
				})
			},
		}, {
			Name: "show", Usage: "a batch and its payments", ArgsUsage: "BATCH_ID",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withDB(ctx, cmd, func(a *app) error {
					b, err := a.store.BatchGet(ctx, cmd.Args().First())
					if err != nil {
						return err
					}
					dir := b.Dir
					if dir == "" {
						dir = "(not recorded)"
					}
					fmt.Printf("batch     %s (%s)\ncutoff    %s\nfile      %s\ndir       %s\nformat    %s\nbank      %s\nsettles   %s\npayments  %d\ncontrol   %s %s\nsha256    %s\n\n",
						b.ID, b.State, b.CutoffAt.In(a.cfg.Location).Format(time.RFC3339), b.FileName, dir, b.Format, b.DebtorBankID,
						b.SettlementDate.Format(payment.DateLayout), b.Count, payment.FormatAmount(b.ControlSumMinor, b.Currency), b.Currency, b.SHA256)
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "#\tPAYMENT\tORDER\tAMOUNT\tCREDITOR\tSTATE")
					err = a.store.BatchItems(ctx, b.ID, func(it postgres.BatchItem) error {
						p := it.Payment
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", it.Seq, p.ID, p.OrderRef, payment.FormatAmount(p.AmountMinor, p.Currency), p.Creditor.Name, p.State)
						return nil
					})
					if err != nil {
						return err
					}
					return w.Flush()
				})
			},
		}, {
			Name: "redeliver", Usage: "write a delivered batch's file again (byte-identical, checked by SHA-256)", ArgsUsage: "BATCH_ID",
			Flags: append([]cli.Flag{&cli.StringFlag{Name: "to", Usage: "directory (default: --outbound-dir)"}}, exportFlags...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return withExport(ctx, cmd, func(a *app, x *export.Exporter, _ *export.Reports, _ exportConfig) error {
					sum, err := x.Redeliver(ctx, cmd.Args().First(), cmd.String("to"))
					if err != nil {
						return err
					}
					fmt.Printf("batch %s delivered again, sha256 %s\n", cmd.Args().First(), sum)
					return nil
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
				return withExport(ctx, cmd, func(a *app, _ *export.Exporter, r *export.Reports, _ exportConfig) error {
					sum, err := r.RunOnce(ctx)
					fmt.Printf("%d files: %d applied (%d payments changed), %d quarantined, %d seen before\n",
						sum.Files, sum.Applied, sum.Payments, sum.Quarantined, sum.Repeated)
					return err
				})
			},
		}},
	}
}
