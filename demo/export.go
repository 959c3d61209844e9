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
	"github.com/b2bpay/b2bpay/recon"
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
	if err := deliverWalk(ctx, a, dir, outbound, b); err != nil {
		return err
	}

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
	if got, err := a.Store.BatchGet(ctx, b.ID); err != nil || got.State != export.BatchAcknowledged {
		return fmt.Errorf("demo: the status report did not acknowledge batch %s (%q, %v)", b.ID, got.State, err)
	}
	fmt.Printf("batch %s: acknowledged by the clearing house's report\n", b.ID)
	if sum.Applied != 1 || states[payment.StateSettled] != 1 || states[payment.StateReturned] != 1 {
		return fmt.Errorf("demo: the status report did not settle one payment and return the other")
	}
	return reconWalk(ctx, a, inbound, b)
}

// reconWalk plays the bank: a camt.054 books the debit of the settled
// payment on the settlement date (the returned one was never debited),
// dropped where serve picks notifications up and read by the same pickup;
// then the day's end-of-day report, which must balance.
func reconWalk(ctx context.Context, a *server.App, inbound string, b export.Batch) error {
	var entries []iso20022.NotificationEntry
	err := a.Store.BatchItems(ctx, b.ID, func(it export.BatchItem) error {
		p, err := a.Store.PaymentGetByID(ctx, it.Payment.ID)
		if err != nil || p.State != payment.StateSettled {
			return err
		}
		entries = append(entries, iso20022.NotificationEntry{EndToEndID: p.OrderRef, TransactionID: strings.ReplaceAll(p.ID, "-", ""),
			MessageID: b.ID, AmountMinor: p.AmountMinor, Currency: p.Currency, Status: "BOOK", BookingDate: b.SettlementDate})
		return nil
	})
	if err != nil {
		return err
	}
	var n bytes.Buffer
	if err := iso20022.WriteNotification(&n, iso20022.Notification{MessageID: "CAMT-" + b.ID, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Account: "SETTLEMENT", Entries: entries}); err != nil {
		return err
	}
	dir := filepath.Join(inbound, server.ReconSubdir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "camt054-"+b.ID+".xml"), n.Bytes(), 0o640); err != nil {
		return err
	}
	sum, err := (&recon.Pickup{Importer: a.Reconciler(nil), Dir: dir, Log: a.Log}).RunOnce(ctx)
	if err != nil {
		return err
	}
	if sum.Imported != 1 || sum.Mismatches != 0 {
		return fmt.Errorf("demo: the camt.054 was not imported cleanly: %+v", sum)
	}
	fmt.Printf("\nbank's camt.054 read back: %d booked debit matched; the end-of-day report:\n", len(entries))
	d, err := a.Store.ReconDay(ctx, b.SettlementDate)
	if err != nil {
		return err
	}
	if err := recon.WriteText(os.Stdout, d); err != nil {
		return err
	}
	if !d.Balanced() {
		return fmt.Errorf("demo: the end-of-day report does not balance: %v", d.Problems())
	}
	return nil
}

// deliverWalk delivers the batch's file to the demo's clearing gateway
// (OpenSSH's sshd serving SFTP on the loopback, its host key pinned) and
// checks that the gateway holds the same bytes under the same name.
func deliverWalk(ctx context.Context, a *server.App, dir, outbound string, b export.Batch) error {
	gw, err := startGateway(ctx, dir)
	if err != nil {
		return err
	}
	defer gw.stop()
	target, err := export.ParseTarget(gw.settings)
	if err != nil {
		return err
	}
	sum, err := (&export.Deliverer{Store: a.Store, Target: target, Dir: outbound, Log: a.Log}).RunOnce(ctx)
	if err != nil {
		return err
	}
	want, err := os.ReadFile(filepath.Join(outbound, b.FileName))
	if err != nil {
		return err
	}
	got, err := os.ReadFile(filepath.Join(gw.inbox, b.FileName))
	if err != nil || sum.Delivered != 1 || !bytes.Equal(got, want) {
		return fmt.Errorf("demo: the file was not delivered whole to the gateway (%+v, %v)", sum, err)
	}
	how := "SFTP to OpenSSH's sshd on the loopback, host key pinned, uploaded under a temporary name and renamed"
	if gw.cmd == nil {
		how = "a directory (sshd is not installed)"
	}
	fmt.Printf("delivered to the clearing gateway by %s: %s, %d bytes, the same bytes\n", how, b.FileName, len(got))
	return nil
}
