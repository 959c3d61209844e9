package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// FutureSkew is how far in the future a manual cutoff may be without
// being forced: clocks disagree by that much at most.
const FutureSkew = 2 * time.Minute

// printCutoffRun tells what a cutoff run did: what it claimed, the business
// day its files settle on (and why, when the run's own day is not one),
// and the files of earlier runs a crash had left that it wrote.
func printCutoffRun(w io.Writer, res export.Result, loc *time.Location, cal *calendar.Calendar) {
	if res.CutoffAt.IsZero() {
		return
	}
	when := res.CutoffAt.In(loc).Format(time.RFC3339)
	if res.Taken {
		fmt.Fprintf(w, "cutoff %s was already run: nothing new claimed\n", when)
	} else {
		fmt.Fprintf(w, "cutoff %s: %d payments in %d files\n", when, res.Payments, len(res.Batches))
		for _, b := range res.Batches {
			fmt.Fprintf(w, "  %s\n", b.FileName)
		}
		day := calendar.DateOf(res.CutoffAt, loc)
		switch {
		case res.SettlementDate == day:
			fmt.Fprintf(w, "settles %s\n", res.SettlementDate)
		case !cal.IsBusinessDay(day) && res.SettlementDate == cal.NextBusinessDay(day):
			fmt.Fprintf(w, "settles %s: %s is not a business day of the %s calendar, the files settle on the next one\n",
				res.SettlementDate, day, cal.Name())
		default:
			fmt.Fprintf(w, "settles %s: the cutoff of %s is run late, the files settle on the first business day from today\n", res.SettlementDate, day)
		}
	}
	if len(res.Recovered) > 0 {
		payments := 0
		for _, b := range res.Recovered {
			payments += b.Count
		}
		fmt.Fprintf(w, "recovered %d files (%d payments) an earlier run left unwritten:\n", len(res.Recovered), payments)
		for _, b := range res.Recovered {
			fmt.Fprintf(w, "  %s (cutoff %s)\n", b.FileName, b.CutoffAt.In(loc).Format(time.RFC3339))
		}
	}
}

// ExportConfig is the export part of the configuration, read once
// (LoadExport).
type ExportConfig struct {
	outbound, inbound string
	schedule          *calendar.Schedule
	cal               *calendar.Calendar
	calSource         *calendarSource
	maxPerFile        int
	instg, instd      string
	delivery          DeliverySettings
}

// ExportSettings are the export's settings as the command line gives them.
type ExportSettings struct {
	// Outbound is where interbank files are delivered, Inbound where
	// pacs.002 status reports are dropped.
	Outbound, Inbound string
	// Cutoffs are cron expressions in the time zone, separated by ';'.
	Cutoffs string
	// Calendar is cn, weekdays, or a calendar file.
	Calendar   string
	MaxPerFile int
	// InstructingAgent and InstructedAgent are bank ids written as
	// InstgAgt and InstdAgt, when set.
	InstructingAgent, InstructedAgent string
	// Delivery configures the delivery of the files to the clearing
	// gateway (filedelivery.go).
	Delivery DeliverySettings
}

// LoadExport checks the export's settings once: the calendar, the
// schedule of cutoffs in loc, the agents' bank ids.
func LoadExport(s ExportSettings, loc *time.Location) (ExportConfig, error) {
	src, err := loadCalendar(s.Calendar)
	if err != nil {
		return ExportConfig{}, err
	}
	cal := src.cal
	var specs []string
	for _, c := range strings.Split(s.Cutoffs, ";") {
		if c = strings.TrimSpace(c); c != "" {
			specs = append(specs, c)
		}
	}
	sched, err := calendar.NewSchedule(loc, cal, specs...)
	if err != nil {
		return ExportConfig{}, fmt.Errorf("cutoffs: %w", err)
	}
	for _, id := range []string{s.InstructingAgent, s.InstructedAgent} {
		if id != "" {
			if err := payment.ValidBankID("agent", id); err != nil {
				return ExportConfig{}, err
			}
		}
	}
	return ExportConfig{outbound: s.Outbound, inbound: s.Inbound, schedule: sched, cal: cal, calSource: src,
		maxPerFile: s.MaxPerFile, instg: s.InstructingAgent, instd: s.InstructedAgent, delivery: s.Delivery}, nil
}

// exporter builds the exporter and the status-report reader.
func (a *App) Exporter(ec ExportConfig) (*export.Exporter, *export.Reports, error) {
	host, _ := os.Hostname()
	x, err := export.New(a.Store, export.Config{
		Dir: ec.outbound, Format: iso20022.Pacs008(), MaxPerFile: ec.maxPerFile, Schedule: ec.schedule, Calendar: ec.cal,
		Location: a.Config.Location, Runner: fmt.Sprintf("%s/%d", host, os.Getpid()), Log: a.Log,
		InstructingAgent: ec.instg, InstructedAgent: ec.instd,
		Crash: export.CrashFromEnv,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(ec.inbound, 0o750); err != nil {
		return nil, nil, err
	}
	return x, &export.Reports{Store: a.Store, Dir: ec.inbound, Log: a.Log}, nil
}

// CutoffRun runs a manual cutoff at at (now when zero) and writes what it
// did: it claims every authorized payment due into batches and writes
// their files (it hides no scheduled cutoff; on a day off its files
// settle on the next business day). A cutoff more than FutureSkew after
// now is refused unless forced: it would claim payments before it comes.
func (a *App) CutoffRun(ctx context.Context, w io.Writer, ec ExportConfig, at time.Time, force bool) error {
	now := time.Now()
	if at.IsZero() {
		at = now
	}
	ahead := at.Sub(now)
	if ahead > FutureSkew && !force {
		return fmt.Errorf("--at %s is %s in the future, more than the %s allowed for clock skew: a cutoff in the future "+
			"claims payments before it comes; pass --force to run it anyway", at.Format(time.RFC3339), ahead.Round(time.Second), FutureSkew)
	}
	x, _, err := a.Exporter(ec)
	if err != nil {
		return err
	}
	if ahead > FutureSkew {
		fmt.Fprintf(w, "warning: cutoff %s is %s in the future, run because of --force\n",
			at.In(a.Config.Location).Format(time.RFC3339), ahead.Round(time.Second))
	}
	d, err := a.Deliverer(ec)
	if err != nil {
		return err
	}
	res, err := x.RunManual(ctx, at.UTC())
	printCutoffRun(w, res, a.Config.Location, ec.cal)
	return errors.Join(err, deliverAfter(ctx, w, d))
}

// BatchList writes the latest limit batches.
func (a *App) BatchList(ctx context.Context, w io.Writer, limit int) error {
	bs, err := a.Store.BatchList(ctx, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCH\tCUTOFF\tBANK\tCURRENCY\tSETTLES\tPAYMENTS\tCONTROL SUM\tSTATE\tDELIVERY\tACK\tFILE")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.CutoffAt.In(a.Config.Location).Format("2006-01-02 15:04"),
			b.DebtorBankID, b.Currency, b.SettlementDate.Format(payment.DateLayout), b.Count,
			payment.FormatAmount(b.ControlSumMinor, b.Currency), b.State, deliveryCell(b, a.Config.Location), ackCell(b, a.Config.Location), b.FileName)
	}
	return tw.Flush()
}

// BatchShow writes a batch and its payments.
func (a *App) BatchShow(ctx context.Context, w io.Writer, id string) error {
	b, err := a.Store.BatchGet(ctx, id)
	if err != nil {
		return err
	}
	dir := b.Dir
	if dir == "" {
		dir = "(not recorded)"
	}
	fmt.Fprintf(w, "batch     %s (%s)\ndelivery  %s\nack       %s\n", b.ID, b.State, deliveryCell(b, a.Config.Location), ackCell(b, a.Config.Location))
	if b.Delivery.LastError != "" {
		fmt.Fprintf(w, "error     %s\n", b.Delivery.LastError)
	}
	fmt.Fprintf(w, "cutoff    %s\nfile      %s\ndir       %s\nformat    %s\nbank      %s\nsettles   %s\npayments  %d\ncontrol   %s %s\nsha256    %s\n\n",
		b.CutoffAt.In(a.Config.Location).Format(time.RFC3339), b.FileName, dir, b.Format, b.DebtorBankID,
		b.SettlementDate.Format(payment.DateLayout), b.Count, payment.FormatAmount(b.ControlSumMinor, b.Currency), b.Currency, b.SHA256)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tPAYMENT\tORDER\tAMOUNT\tCREDITOR\tSTATE")
	err = a.Store.BatchItems(ctx, b.ID, func(it export.BatchItem) error {
		p := it.Payment
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", it.Seq, p.ID, p.OrderRef, payment.FormatAmount(p.AmountMinor, p.Currency), p.Creditor.Name, p.State)
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// BatchRedeliver writes a delivered batch's file again, byte-identical
// (checked by SHA-256), to dir ("" for the outbound directory).
func (a *App) BatchRedeliver(ctx context.Context, w io.Writer, ec ExportConfig, id, dir string) error {
	x, _, err := a.Exporter(ec)
	if err != nil {
		return err
	}
	sum, err := x.Redeliver(ctx, id, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "batch %s delivered again, sha256 %s\n", id, sum)
	return nil
}

// ReportsImport applies or quarantines every pacs.002 status report
// waiting in the inbound directory now.
func (a *App) ReportsImport(ctx context.Context, w io.Writer, ec ExportConfig) error {
	_, r, err := a.Exporter(ec)
	if err != nil {
		return err
	}
	sum, err := r.RunOnce(ctx)
	fmt.Fprintf(w, "%d files: %d applied (%d payments changed), %d quarantined, %d seen before\n",
		sum.Files, sum.Applied, sum.Payments, sum.Quarantined, sum.Repeated)
	return err
}
