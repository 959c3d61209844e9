package export

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// Manifest describes a delivered file; it sits beside the file as
// <file>.manifest.json.
type Manifest struct {
	BatchID        string    `json:"batch_id"`
	File           string    `json:"file"`
	Format         string    `json:"format"`
	Count          int       `json:"count"`
	ControlSum     string    `json:"control_sum"`
	Currency       string    `json:"currency"`
	DebtorBankID   string    `json:"debtor_bank_id"`
	SettlementDate string    `json:"settlement_date"`
	SHA256         string    `json:"sha256"`
	CreatedAt      time.Time `json:"created_at"`
}

// ManifestName names the manifest of the file named fileName.
func ManifestName(fileName string) string { return fileName + ".manifest.json" }

// writeBatch streams a batch's file into dir under a temporary name,
// fsyncs it, renames it into place, and does the same for its manifest. It
// returns the file's SHA-256. The content depends only on the batch, so
// writing it again gives the same bytes. When want is set, a file whose
// SHA-256 differs is refused before it replaces anything in dir.
func (x *Exporter) writeBatch(ctx context.Context, b Batch, dir, want string) (string, error) {
	g := iso20022.Group{
		MessageID: b.ID, CreatedAt: b.CreatedAt, SettlementDate: b.SettlementDate, Currency: b.Currency,
		Count: b.Count, ControlSumMinor: b.ControlSumMinor,
		InstructingAgent: x.cfg.InstructingAgent, InstructedAgent: x.cfg.InstructedAgent,
	}
	h := sha256.New()
	mid := func() { x.cfg.Crash(CrashDuringWrite) }
	err := atomicWrite(filepath.Join(dir, b.FileName), mid, func(w io.Writer) error {
		if err := x.streamBatch(ctx, b, g, io.MultiWriter(w, h)); err != nil {
			return err
		}
		if sum := hex.EncodeToString(h.Sum(nil)); want != "" && sum != want {
			return fmt.Errorf("batch %s: the file written again has SHA-256 %s, not %s as delivered", b.ID, sum, want)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	m := Manifest{
		BatchID: b.ID, File: b.FileName, Format: b.Format, Count: b.Count,
		ControlSum: payment.FormatAmount(b.ControlSumMinor, b.Currency), Currency: b.Currency, DebtorBankID: b.DebtorBankID,
		SettlementDate: b.SettlementDate.Format(payment.DateLayout), SHA256: sum, CreatedAt: b.CreatedAt.UTC(),
	}
	err = atomicWrite(filepath.Join(dir, ManifestName(b.FileName)), nil, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
	return sum, err
}

// streamBatch feeds the batch's payments from the store to the format,
// one at a time.
func (x *Exporter) streamBatch(ctx context.Context, b Batch, g iso20022.Group, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan BatchItem, 512)
	read := make(chan error, 1)
	go func() {
		defer close(items)
		read <- x.store.BatchItems(ctx, b.ID, func(it BatchItem) error {
			select {
			case items <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	next := func() (iso20022.Transaction, bool, error) {
		it, ok := <-items
		if !ok {
			return iso20022.Transaction{}, false, <-read
		}
		return transaction(b, it), true, nil
	}
	err := x.cfg.Format.Write(w, g, next)
	cancel()
	for range items { //nolint:revive // drain so the reader can stop
	}
	return err
}

// transaction maps a stored payment to a file's transaction.
func transaction(b Batch, it BatchItem) iso20022.Transaction {
	p := it.Payment
	return iso20022.Transaction{
		InstructionID: fmt.Sprintf("%s-%06d", b.ID, it.Seq),
		EndToEndID:    p.OrderRef,
		TransactionID: strings.ReplaceAll(p.ID, "-", ""),
		AmountMinor:   p.AmountMinor, Currency: p.Currency,
		DebtorName: it.DebtorName, DebtorAccount: p.DebtorAccount, DebtorAgent: p.BankID,
		CreditorName: p.Creditor.Name, CreditorAccount: p.Creditor.Account, CreditorAgent: p.Creditor.BankID,
		Remittance: p.Remittance,
	}
}

// TempDir is the subdirectory of an outbound directory where files are
// written before they are renamed into place: on the same filesystem, so
// the rename is atomic, and out of a gateway's pickup pattern (a gateway
// taking `*` takes the directory's files; .tmp is a directory, and a dot
// name). A killed writer's temporary file stays there, never beside the
// delivered files, until the next exporter starts and removes it.
const TempDir = ".tmp"

// atomicWrite writes a file under a temporary name in dir/.tmp, holding an
// exclusive lock on it (so that a cleaner knows it is alive), fsyncs it,
// renames it over path and fsyncs the directory: readers see the old file
// or the whole new one, never part of one. mid, when set, is called once
// part of the file is on disk under its temporary name (a crash point).
func atomicWrite(path string, mid func(), fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmpDir := filepath.Join(dir, TempDir)
	if err := os.MkdirAll(tmpDir, 0o750); err != nil {
		return err
	}
	f, tmp, err := lockedTemp(tmpDir, filepath.Base(path))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
		_ = f.Close()
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	var w io.Writer = bw
	if mid != nil {
		w = &midWriter{w: bw, mid: mid}
	}
	if err = fill(w); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	// Renamed while still open and locked: a cleaner never sees it unlocked
	// under its temporary name.
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// lockedTemp creates a new temporary file for base in tmpDir and takes its
// lock. Another exporter's cleaner (cleanTemps, at its start) may take the
// lock of a file just created, before its writer could, and remove it: the
// writer then sees its lock refused, or its name gone or taken by another
// file, and starts again under a new name.
var errTempTaken = errors.New("removed by a cleaner before it was locked")

// lockAttempts bounds the new names lockedTemp tries: a cleaner runs at
// an exporter's start, but on a loaded machine one may take several
// fresh files in a row (TestAtomicWriteBesideCleaner runs one without
// pause).
const lockAttempts = 50

func lockedTemp(tmpDir, base string) (*os.File, string, error) {
	var err error
	for range lockAttempts {
		var r [6]byte
		_, _ = rand.Read(r[:])
		tmp := filepath.Join(tmpDir, base+"-"+hex.EncodeToString(r[:]))
		f, cerr := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if cerr != nil {
			return nil, "", cerr
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			mine, serr := f.Stat()
			named, nerr := os.Stat(tmp)
			if serr == nil && nerr == nil && os.SameFile(mine, named) {
				return f, tmp, nil
			}
			err = errTempTaken
		}
		_ = f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, errTempTaken) {
			_ = os.Remove(tmp)
			return nil, "", fmt.Errorf("lock %s: %w", tmp, err)
		}
	}
	return nil, "", fmt.Errorf("lock a temporary file in %s: %w", tmpDir, err)
}

// midWriter calls mid once, in the middle of the first write: half of it
// is flushed to the file, the rest not yet written.
type midWriter struct {
	w    *bufio.Writer
	mid  func()
	done bool
}

func (m *midWriter) Write(p []byte) (int, error) {
	if m.done || len(p) == 0 {
		return m.w.Write(p)
	}
	m.done = true
	half := len(p) / 2
	n, err := m.w.Write(p[:half])
	if err == nil {
		err = m.w.Flush()
	}
	if err != nil {
		return n, err
	}
	m.mid()
	k, err := m.w.Write(p[half:])
	return n + k, err
}

// legacyTempAge is how old a temporary file of the earlier layout (a
// .tmp-* name in the outbound directory itself, never locked) must be
// before it is taken as left by a killed writer.
const legacyTempAge = 10 * time.Minute

// cleanTemps removes the temporary files killed writers left: in dir/.tmp
// those no live writer holds locked, and the earlier layout's .tmp-* files
// in dir older than legacyTempAge. It returns the names removed.
func cleanTemps(dir string, now time.Time) ([]string, error) {
	var removed []string
	tmpDir := filepath.Join(dir, TempDir)
	entries, err := os.ReadDir(tmpDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		ok, err := removeUnlocked(filepath.Join(tmpDir, e.Name()))
		if err != nil {
			return removed, err
		}
		if ok {
			removed = append(removed, filepath.Join(TempDir, e.Name()))
		}
	}
	entries, err = os.ReadDir(dir)
	if err != nil {
		return removed, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < legacyTempAge {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		return removed, syncDir(tmpDir)
	}
	return removed, nil
}

// removeUnlocked removes a temporary file unless a live writer holds its
// lock; it reports whether it removed it.
func removeUnlocked(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // renamed into place meanwhile
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a live writer
		}
		return false, err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
