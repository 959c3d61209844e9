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
	"path/filepath"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/seal"
)

// Store is what the exporter needs from storage.
type Store interface {
	CutoffClaimBatches(ctx context.Context, c CutoffClaim) ([]Batch, error)
	BatchesClaimed(ctx context.Context) ([]Batch, error)
	BatchItems(ctx context.Context, batchID string, fn func(BatchItem) error) error
	BatchMarkWritten(ctx context.Context, id, sha256 string) error
	BatchGet(ctx context.Context, id string) (Batch, error)
	CutoffFinish(ctx context.Context, cutoffAt time.Time) error
	CutoffHorizon(ctx context.Context, now time.Time) (time.Time, error)
	CutoffRunsBetween(ctx context.Context, from, to time.Time) ([]time.Time, error)
	BatchReissue(ctx context.Context, r Reissue) (Batch, error)
}

// Config configures an Exporter.
type Config struct {
	// Dir is the outbound directory the clearing gateway picks files from.
	// Every exporter of a database must be given the same directory: a
	// batch records the directory it was claimed for, and an exporter
	// configured with another refuses to write it.
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
	// CrashDuringWrite is inside a batch file's write: part of the file is
	// on disk under its temporary name, not yet renamed into place.
	CrashDuringWrite = "export-during-write"
	CrashAfterWrite  = "export-after-write"
)

// ErrOtherDir is returned for a batch claimed for another outbound
// directory than the exporter's: it is not written here (the exporter
// configured with its directory writes it), so no second copy is
// delivered elsewhere.
var ErrOtherDir = errors.New("the batch belongs in another outbound directory")

// CrashFromEnv stops the process (exit 3, no cleanup, as a kill would) when
// B2BPAY_CRASH_AT names the point.
func CrashFromEnv(point string) { crash.Point(point) }

// Exporter runs cutoffs.
type Exporter struct {
	store Store
	cfg   Config
}

// New builds an Exporter. It makes the outbound directory absolute, creates
// it, and removes the temporary files a killed writer left (those no live
// writer holds).
func New(store Store, cfg Config) (*Exporter, error) {
	if cfg.Dir == "" || cfg.Format == nil || cfg.Schedule == nil || cfg.Calendar == nil {
		return nil, errors.New("export: Dir, Format, Schedule and Calendar are required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("export: outbound directory: %w", err)
	}
	cfg.Dir = filepath.Clean(dir)
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
	removed, err := cleanTemps(cfg.Dir, time.Now())
	if err != nil {
		return nil, fmt.Errorf("export: clean temporary files: %w", err)
	}
	if len(removed) > 0 {
		cfg.Log.Warn("temporary files of an interrupted write removed", "dir", cfg.Dir, "files", removed)
	}
	return &Exporter{store: store, cfg: cfg}, nil
}

// Dir returns the outbound directory, absolute.
func (x *Exporter) Dir() string { return x.cfg.Dir }

// Result says what a cutoff run did.
type Result struct {
	CutoffAt time.Time
	// Kind is CutoffScheduled or CutoffManual.
	Kind string
	// SettlementDate is the business day the run's files settle on: the
	// cutoff's date when that is a business day, else the next one (and
	// never before today, for a cutoff caught up late).
	SettlementDate calendar.Date
	// Batches are the batches this run claimed, Payments their payments.
	Batches  []Batch
	Payments int
	// Recovered are the batches of earlier runs, left claimed by a crash,
	// whose files this run wrote.
	Recovered []Batch
	// Taken is true when another run had the cutoff.
	Taken bool
	// Held are the due payments held instead of exported: their approvals
	// do not check (each is logged at ERROR with alert=approval_mismatch).
	Held []Held
}

// RunCutoff runs a cutoff of the schedule, as the scheduler does: it
// claims what is due into batches and writes every batch not yet written
// (this run's and any a crash left). The run is recorded as scheduled: it
// is the horizon Due catches up from.
func (x *Exporter) RunCutoff(ctx context.Context, cutoffAt time.Time) (Result, error) {
	return x.run(ctx, cutoffAt, CutoffScheduled)
}

// RunManual runs a cutoff an operator asked for, at any instant: the same
// work as RunCutoff, recorded as manual, so it hides no scheduled cutoff
// (a manual run at a scheduled instant is that instant's run) and does not
// move the horizon Due catches up from. On a day that is not a business
// day its files settle on the next business day (Result.SettlementDate).
func (x *Exporter) RunManual(ctx context.Context, at time.Time) (Result, error) {
	return x.run(ctx, at, CutoffManual)
}

func (x *Exporter) run(ctx context.Context, cutoffAt time.Time, kind string) (Result, error) {
	res := Result{CutoffAt: cutoffAt, Kind: kind, SettlementDate: x.settlementDate(cutoffAt)}
	batches, err := x.store.CutoffClaimBatches(ctx, CutoffClaim{
		CutoffAt: cutoffAt, SettlementDate: res.SettlementDate.Time(time.UTC), MaxPerFile: x.cfg.MaxPerFile,
		Format: x.cfg.Format.Name(), FileName: x.fileName, Runner: x.cfg.Runner, Location: x.cfg.Location,
		Kind: kind, Dir: x.cfg.Dir,
		OnHeld: func(held []Held) { res.Held = held; x.alertHeld(ctx, held) },
	})
	switch {
	case errors.Is(err, ErrCutoffTaken):
		res.Taken = true
	case err != nil:
		return res, fmt.Errorf("claim cutoff %s: %w", cutoffAt.In(x.cfg.Location).Format(time.RFC3339), err)
	}
	res.Batches = batches
	mine := map[string]bool{}
	for _, b := range batches {
		res.Payments += b.Count
		mine[b.ID] = true
	}
	x.cfg.Crash(CrashAfterClaim)
	written, werr := x.WritePending(ctx)
	for _, b := range written {
		if !mine[b.ID] {
			res.Recovered = append(res.Recovered, b)
		}
	}
	// The run is finished once its files are written, even when a batch
	// of another directory was refused: the store checks.
	if err := x.store.CutoffFinish(ctx, cutoffAt); err != nil {
		return res, errors.Join(werr, err)
	}
	if werr != nil {
		return res, werr
	}
	x.cfg.Log.InfoContext(ctx, "cutoff run", "cutoff_at", cutoffAt.In(x.cfg.Location).Format(time.RFC3339), "kind", kind,
		"settlement_date", res.SettlementDate.String(), "batches", len(res.Batches), "payments", res.Payments,
		"held", len(res.Held), "recovered_files", len(res.Recovered), "taken_by_another_run", res.Taken)
	return res, nil
}

// alertHeld logs each payment the claim held: its approvals do not match
// its content, or their MACs do not check. Someone changed the database.
func (x *Exporter) alertHeld(ctx context.Context, held []Held) {
	for _, h := range held {
		x.cfg.Log.ErrorContext(ctx, "payment held: its approvals do not check, it is not exported", "alert", "approval_mismatch",
			"payment_id", h.PaymentID, "failed", strings.Join(seal.Kinds(h.Problems), ","), "detail", seal.Summary(h.Problems))
	}
}

// WritePending writes every batch still marked claimed for this exporter's
// directory, then records as finished every cutoff run whose batches are
// all written. It returns the batches it wrote. A batch claimed for another
// directory is refused (ErrOtherDir, logged with alert=outbound_dir) and
// stays claimed for the exporter that shares its directory.
func (x *Exporter) WritePending(ctx context.Context) ([]Batch, error) {
	pending, err := x.store.BatchesClaimed(ctx)
	if err != nil {
		return nil, err
	}
	var errs []error
	var written []Batch
	for _, b := range pending {
		if err := x.ownDir(ctx, b); err != nil {
			errs = append(errs, err)
			continue
		}
		sum, err := x.writeBatch(ctx, b, x.cfg.Dir, "")
		if err != nil {
			if errors.Is(err, ErrContentChanged) {
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
		b.State, b.SHA256 = "written", sum
		written = append(written, b)
		x.cfg.Log.InfoContext(ctx, "interbank file written", "batch_id", b.ID, "file", b.FileName,
			"payments", b.Count, "sha256", sum)
	}
	// A run a crash or a stop left unfinished, its files now written, is
	// recorded as finished now, not only at the next cutoff.
	if err := x.store.CutoffFinish(ctx, x.cfg.Now()); err != nil {
		errs = append(errs, err)
	}
	return written, errors.Join(errs...)
}

// ownDir refuses a batch claimed for another outbound directory, loudly:
// two exporters with different directories mean a misconfiguration that
// would deliver files where no gateway reads them.
func (x *Exporter) ownDir(ctx context.Context, b Batch) error {
	if b.Dir == "" || b.Dir == x.cfg.Dir {
		return nil
	}
	x.cfg.Log.ErrorContext(ctx, "batch claimed for another outbound directory: not written here; every exporter must share one outbound directory",
		"alert", "outbound_dir", "batch_id", b.ID, "batch_dir", b.Dir, "outbound_dir", x.cfg.Dir)
	return fmt.Errorf("batch %s: %w: it goes to %s, this exporter writes to %s (every exporter must share one --outbound-dir)",
		b.ID, ErrOtherDir, b.Dir, x.cfg.Dir)
}

// Redeliver writes a written batch's file again into dir (the outbound
// directory when empty), only if it is byte for byte the file first
// delivered (same SHA-256); otherwise it fails and dir is left as it was.
// Without dir, a batch delivered to another outbound directory is refused
// (ErrOtherDir): a copy goes elsewhere only when asked for by name.
func (x *Exporter) Redeliver(ctx context.Context, batchID, dir string) (string, error) {
	b, err := x.store.BatchGet(ctx, batchID)
	if err != nil {
		return "", err
	}
	if b.State == BatchClaimed || b.SHA256 == "" {
		return "", fmt.Errorf("batch %s is %s: it has not been written yet (the next run writes it)", b.ID, b.State)
	}
	if dir == "" {
		if err := x.ownDir(ctx, b); err != nil {
			return "", err
		}
		dir = x.cfg.Dir
	}
	// writeBatch checks the SHA-256 before the file replaces anything: bytes
	// that differ from the delivered file are never delivered.
	return x.writeBatch(ctx, b, dir, b.SHA256)
}

// firstStartWindow bounds the look back of a first start: with no cutoff
// run on record, only the latest cutoff of the past week is due.
const firstStartWindow = 7 * 24 * time.Hour

// Due returns the cutoffs of the schedule to run now, in order: every
// scheduled instant after the horizon, up to now, that has no run of any
// kind (a manual run at a scheduled instant is that instant's run; one at
// another instant hides none). The horizon is the latest scheduled run (the
// scheduler runs cutoffs in order, so those before it are done), or, with
// none, the latest manual run; so cutoffs missed while every process was
// down are caught up, and a manual run in the future freezes nothing. With
// no run at all, only the latest cutoff of the past week is due.
func (x *Exporter) Due(ctx context.Context) ([]time.Time, error) {
	now := x.cfg.Now()
	from, err := x.store.CutoffHorizon(ctx, now)
	if err != nil {
		return nil, err
	}
	if from.IsZero() {
		due := x.cfg.Schedule.Between(now.Add(-firstStartWindow), now)
		if len(due) == 0 {
			return nil, nil
		}
		return due[len(due)-1:], nil
	}
	all := x.cfg.Schedule.Between(from, now)
	if len(all) == 0 {
		return nil, nil
	}
	ran, err := x.store.CutoffRunsBetween(ctx, from, now)
	if err != nil {
		return nil, err
	}
	done := map[int64]bool{}
	for _, t := range ran {
		done[t.UnixMicro()] = true
	}
	var due []time.Time
	for _, t := range all {
		if !done[t.UnixMicro()] {
			due = append(due, t)
		}
	}
	return due, nil
}

// settlementDate is the business date a cutoff's files settle on: the
// cutoff's own date when it is a business day, else the next business day;
// for a cutoff caught up late, today's date by the same rule (never a day
// in the past).
func (x *Exporter) settlementDate(cutoffAt time.Time) calendar.Date {
	loc := x.cfg.Schedule.Location()
	if now := x.cfg.Now(); calendar.DateOf(cutoffAt, loc).Before(calendar.DateOf(now, loc)) {
		cutoffAt = now
	}
	return x.cfg.Schedule.SettlementDate(cutoffAt)
}

// fileName names a batch's file: <batch id>.<format><extension>.
func (x *Exporter) fileName(batchID string) string {
	return batchID + "." + x.cfg.Format.Name() + x.cfg.Format.Extension()
}

// Plan says which cutoff takes a payment executing on execution (a date
// in the schedule's zone) once authorized at now, and the date that
// cutoff settles on; ok is false when no cutoff within the horizon does.
func (x *Exporter) Plan(execution, now time.Time) (cutoff, settlement time.Time, ok bool) {
	loc := x.cfg.Schedule.Location()
	c, d := x.cfg.Schedule.CutoffFor(calendar.DateOf(execution, loc), now)
	if c.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	return c, d.Time(loc), true
}
