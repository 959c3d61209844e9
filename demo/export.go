package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/server"
)

// exportWalk runs a cutoff for the authorized payments, shows the file,
// then plays the clearing house: a pacs.002 report settles one payment and
// returns the other.
func exportWalk(ctx context.Context, a *server.App, dir string) error {
	outbound, inbound := filepath.Join(dir, "outbound"), filepath.Join(dir, "inbound")
	sched, err := calendar.NewSchedule(a.Config.Location, calendar.Weekdays(), "0 10 * * *", "30 22 * * *")
	if err != nil {
		return err
	}
	x, err := export.New(a.Store, export.Config{Dir: outbound, Format: iso20022.Pacs008(), MaxPerFile: 10000,
		Schedule: sched, Calendar: calendar.Weekdays(), Location: a.Config.Location, Runner: "demo", Log: a.Log})
	if err != nil {
		return err
	}
	// The demo's cutoff is now, whatever the day: a manual run. On a day
	// off (a Sunday) its file settles on the next business day.
	run, err := x.RunManual(ctx, time.Now())
	if err != nil {
		return err
	}
	if len(run.Batches) != 1 {
		return fmt.Errorf("demo: the cutoff made %d batches, want 1", len(run.Batches))
	}
	b := run.Batches[0]
	file := filepath.Join(outbound, b.FileName)
	abs, _ := filepath.Abs(file)
	fmt.Printf("\ncutoff %s: %d authorized payments exported in batch %s (%s %s, settles %s)\n",
		run.CutoffAt.In(a.Config.Location).Format("2006-01-02 15:04:05"), b.Count, b.ID,
		payment.FormatAmount(b.ControlSumMinor, b.Currency), b.Currency, b.SettlementDate.Format(payment.DateLayout))
	if today := calendar.DateOf(run.CutoffAt, a.Config.Location); !calendar.Weekdays().IsBusinessDay(today) {
		fmt.Printf("(%s is not a business day: the file settles on the next one, %s)\n", today, run.SettlementDate)
	}
	fmt.Printf("interbank file (pacs.008.001.08): %s\nmanifest: %s.manifest.json\n", abs, abs)

	var entries []iso20022.StatusEntry
	status := []string{"ACSC", "RJCT"}
	reasons := []string{"", "AM04"}
	i := 0
	err = a.Store.BatchItems(ctx, b.ID, func(it export.BatchItem) error {
		entries = append(entries, iso20022.StatusEntry{OriginalEndToEndID: it.Payment.OrderRef,
			OriginalTransactionID: strings.ReplaceAll(it.Payment.ID, "-", ""), Status: status[i%2], ReasonCode: reasons[i%2]})
		i++
		return nil
	})
	if err != nil {
		return err
	}
	var rep bytes.Buffer
	if err := iso20022.WriteStatusReport(&rep, iso20022.StatusReport{MessageID: "CNAPS-STS-" + b.ID, CreatedAt: time.Now().UTC().Truncate(time.Second),
		OriginalMessageID: b.ID, Entries: entries}); err != nil {
		return err
	}
	if err := os.MkdirAll(inbound, 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(inbound, "pacs002-"+b.ID+".xml"), rep.Bytes(), 0o640); err != nil {
		return err
	}
	sum, err := (&export.Reports{Store: a.Store, Dir: inbound, Log: a.Log}).RunOnce(ctx)
	if err != nil {
		return err
	}
	states, err := a.Store.PaymentCountByState(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("status report read back: %d payments changed (one settled, one returned AM04); payments by state: %v\n", sum.Payments, states)
	if sum.Applied != 1 || states[payment.StateSettled] != 1 || states[payment.StateReturned] != 1 {
		return fmt.Errorf("demo: the status report did not settle one payment and return the other")
	}
	return nil
}
