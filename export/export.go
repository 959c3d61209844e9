// Package export turns authorized payments into interbank files at
// cutoffs: claim (one transaction moves the payments into batches), then
// write each batch's file (stream, temporary name, fsync, rename, manifest),
// then mark it written. A crash between the steps is repaired by the next
// run: batches still marked claimed are written again, and since a batch
// always produces the same bytes, the file that may already be there is
// replaced by an identical one. Every payment is in exactly one file.
package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/seal"
)

// Store is what the exporter needs from storage.
type Store interface {
	CutoffClaimBatches(ctx context.Context, c postgres.CutoffClaim) ([]postgres.Batch, error)
	BatchesClaimed(ctx context.Context) ([]postgres.Batch, error)
	BatchItems(ctx context.Context, batchID string, fn func(postgres.BatchItem) error) error
	BatchMarkWritten(ctx context.Context, id, sha256 string) error
	BatchGet(ctx context.Context, id string) (postgres.Batch, error)
	CutoffFinish(ctx context.Context, cutoffAt time.Time) error
	CutoffLast(ctx context.Context) (time.Time, error)
}

// Config configures an Exporter.
type Config struct {
	// Dir is the outbound directory the clearing gateway picks files from.
	Dir        string
	Format     iso20022.Format
	MaxPerFile int
	Schedule   *calendar.Schedule
	Calendar   *calendar.Calendar
	Location   *time.Location
	// Runner names this process in the cutoff record.
	Runner string
	// InstructingAgent and InstructedAgent, when set, go in file headers.
	InstructingAgent, InstructedAgent string
	Log                               *slog.Logger
	Now                               func() time.Time
	// Crash, when set, is called at each named point of a run; tests and
	// the fault suite use it to stop the process there.
	Crash func(point string)
}

// Crash points of a run.
const (
	CrashAfterClaim = "export-after-claim"
	CrashAfterWrite = "export-after-write"
)

// CrashFromEnv stops the process (exit 3, no cleanup, as a kill would) when
// B2BPAY_CRASH_AT names the point.
func CrashFromEnv(point string) { crash.Point(point) }

// Exporter runs cutoffs.
type Exporter struct {
	store Store
	cfg   Config
}

// New builds an Exporter.
func New(store Store, cfg Config) (*Exporter, error) {
	if cfg.Dir == "" || cfg.Format == nil || cfg.Schedule == nil || cfg.Calendar == nil {
		return nil, errors.New("export: Dir, Format, Schedule and Calendar are required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("export: outbound directory: %w", err)
	}
	if cfg.MaxPerFile <= 0 {
		cfg.MaxPerFile = 10000
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Crash == nil {
		cfg.Crash = func(string) {}
	}
	return &Exporter{store: store, cfg: cfg}, nil
}

// Result says what a cutoff run did.
type Result struct {
	CutoffAt time.Time
	Batches  []postgres.Batch
	Payments int
	// Taken is true when another run had the cutoff.
	Taken bool
	// Held are the due payments held instead of exported: their approvals
	// do not check (each is logged at ERROR with alert=approval_mismatch).
	Held []postgres.Held
}

// RunCutoff runs one cutoff: it claims what is due into batches and
// writes every batch not yet written (this run's and any a crash left).
func (x *Exporter) RunCutoff(ctx context.Context, cutoffAt time.Time) (Result, error) {
	res := Result{CutoffAt: cutoffAt}
	batches, err := x.store.CutoffClaimBatches(ctx, postgres.CutoffClaim{
		CutoffAt: cutoffAt, SettlementDate: x.settlementDate(cutoffAt).Time(time.UTC), MaxPerFile: x.cfg.MaxPerFile,
		Format: x.cfg.Format.Name(), FileName: x.fileName, Runner: x.cfg.Runner, Location: x.cfg.Location,
		OnHeld: func(held []postgres.Held) { res.Held = held; x.alertHeld(ctx, held) },
	})
	switch {
	case errors.Is(err, postgres.ErrCutoffTaken):
		res.Taken = true
	case err != nil:
		return res, fmt.Errorf("claim cutoff %s: %w", cutoffAt.In(x.cfg.Location).Format(time.RFC3339), err)
	}
	res.Batches = batches
	for _, b := range batches {
		res.Payments += b.Count
	}
	x.cfg.Crash(CrashAfterClaim)
	if err := x.WritePending(ctx); err != nil {
		return res, err
	}
	if err := x.store.CutoffFinish(ctx, cutoffAt); err != nil {
		return res, err
	}
	x.cfg.Log.InfoContext(ctx, "cutoff run", "cutoff_at", cutoffAt.In(x.cfg.Location).Format(time.RFC3339),
		"batches", len(res.Batches), "payments", res.Payments, "held", len(res.Held), "taken_by_another_run", res.Taken)
	return res, nil
}

// alertHeld logs each payment the claim held: its approvals do not match
// its content, or their MACs do not check. Someone changed the database.
func (x *Exporter) alertHeld(ctx context.Context, held []postgres.Held) {
	for _, h := range held {
		x.cfg.Log.ErrorContext(ctx, "payment held: its approvals do not check, it is not exported", "alert", "approval_mismatch",
			"payment_id", h.PaymentID, "failed", strings.Join(seal.Kinds(h.Problems), ","), "detail", seal.Summary(h.Problems))
	}
}

// WritePending writes every batch still marked claimed, then records as
// finished every cutoff run whose batches are all written.
func (x *Exporter) WritePending(ctx context.Context) error {
	pending, err := x.store.BatchesClaimed(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range pending {
		sum, err := x.writeBatch(ctx, b, x.cfg.Dir, "")
		if err != nil {
			if errors.Is(err, postgres.ErrContentChanged) {
				x.cfg.Log.ErrorContext(ctx, "batch not written: a payment changed after the claim", "alert", "approval_mismatch",
					"batch_id", b.ID, "error", err)
			}
			errs = append(errs, fmt.Errorf("batch %s: %w", b.ID, err))
			continue
		}
		x.cfg.Crash(CrashAfterWrite)
		if err := x.store.BatchMarkWritten(ctx, b.ID, sum); err != nil {
			errs = append(errs, fmt.Errorf("mark batch %s written: %w", b.ID, err))
			continue
		}
		x.cfg.Log.InfoContext(ctx, "interbank file written", "batch_id", b.ID, "file", b.FileName,
			"payments", b.Count, "sha256", sum)
	}
	if len(errs) == 0 {
		// A run a crash or a stop left unfinished, its files now written,
		// is recorded as finished now, not only at the next cutoff.
		if err := x.store.CutoffFinish(ctx, x.cfg.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Redeliver writes a written batch's file again into dir (the outbound
// directory when empty), only if it is byte for byte the file first
// delivered (same SHA-256); otherwise it fails and dir is left as it was.
func (x *Exporter) Redeliver(ctx context.Context, batchID, dir string) (string, error) {
	b, err := x.store.BatchGet(ctx, batchID)
	if err != nil {
		return "", err
	}
	if b.State != "written" {
		return "", fmt.Errorf("batch %s is %s: it has not been delivered yet (the next run writes it)", b.ID, b.State)
	}
	if dir == "" {
		dir = x.cfg.Dir
	}
	// writeBatch checks the SHA-256 before the file replaces anything: bytes
	// that differ from the delivered file are never delivered.
	return x.writeBatch(ctx, b, dir, b.SHA256)
}

// Due returns the cutoffs that have passed since the last one run, up to
// now, in order: the ones to run (catching up those missed while every
// process was down). With no cutoff run yet, only the latest is due.
func (x *Exporter) Due(ctx context.Context) ([]time.Time, error) {
	now := x.cfg.Now()
	last, err := x.store.CutoffLast(ctx)
	if err != nil {
		return nil, err
	}
	if last.IsZero() {
		last = now.Add(-7 * 24 * time.Hour)
		due := x.cfg.Schedule.Between(last, now)
		if len(due) == 0 {
			return nil, nil
		}
		return due[len(due)-1:], nil
	}
	return x.cfg.Schedule.Between(last, now), nil
}

// settlementDate is the business date a cutoff's files settle on: the
// cutoff's own date, or, for a cutoff caught up late, the first business
// day from today.
func (x *Exporter) settlementDate(cutoffAt time.Time) calendar.Date {
	d := x.cfg.Schedule.SettlementDate(cutoffAt)
	today := calendar.DateOf(x.cfg.Now(), x.cfg.Location)
	if d.Before(today) {
		d = today
		if !x.cfg.Calendar.IsBusinessDay(d) {
			d = x.cfg.Calendar.NextBusinessDay(d)
		}
	}
	return d
}

// fileName names a batch's file: <batch id>.<format><extension>.
func (x *Exporter) fileName(batchID string) string {
	return batchID + "." + x.cfg.Format.Name() + x.cfg.Format.Extension()
}
