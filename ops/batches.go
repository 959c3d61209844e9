package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// The states of a batch as the operations pages show them: its file's
// (claimed, written) until the status reports speak, then its payments'.
const (
	BatchClaimed  = "claimed"  // payments assigned, file not known to be written
	BatchWritten  = "written"  // file written, no status report yet (payments exported)
	BatchSettled  = "settled"  // every payment settled
	BatchRejected = "rejected" // every payment rejected or returned
	BatchPartly   = "partly"   // some payments settled, rejected or returned, not all the same way
	// The file's way to the clearing (docs/export.md, delivery), until the
	// status reports speak of its payments.
	BatchDelivered      = "delivered"       // on the clearing gateway, not yet acknowledged
	BatchDeliveryFailed = "delivery_failed" // delivery failing, retried
	BatchAcknowledged   = "acknowledged"    // accepted by a pacs.002 group status
	BatchFileRejected   = "file_rejected"   // the whole file rejected (RJCT): to re-issue
	BatchSuperseded     = "superseded"      // re-issued as another batch
)

// BatchView is one batch: one interbank file.
type BatchView struct {
	ID string
	// CutoffAt is the run's cutoff; BusinessDate its date in the
	// schedule's zone, SettlementDate the file's interbank settlement date.
	CutoffAt       time.Time
	BusinessDate   calendar.Date
	SettlementDate calendar.Date
	CreatedAt      time.Time
	// WrittenAt is when the file was complete (zero while claimed).
	WrittenAt time.Time
	Bank      string
	Format    string
	// FileName and Manifest name the file and its manifest in the outbound
	// directory (Manifest "" while the file is not written).
	FileName, Manifest string
	SHA256             string
	Payments           int
	// Sums are the batch's totals per currency (a batch holds one).
	Sums []Amount
	// State is one of the Batch* states; States counts its payments by
	// state.
	State  string
	States map[payment.State]int
}

// Batches lists the latest batches, newest first.
func (s *Service) Batches(ctx context.Context, n int) ([]BatchView, error) {
	bs, err := s.store.BatchList(ctx, limit(n))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	states, err := s.store.BatchStates(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]BatchView, len(bs))
	for i, b := range bs {
		out[i] = s.batchView(b, states[b.ID])
	}
	return out, nil
}

func (s *Service) batchView(b export.Batch, states map[payment.State]int) BatchView {
	v := BatchView{ID: b.ID, CutoffAt: utc(b.CutoffAt), BusinessDate: calendar.DateOf(b.CutoffAt, s.sched.Location()),
		SettlementDate: calendar.DateOf(b.SettlementDate, time.UTC), CreatedAt: utc(b.CreatedAt), Bank: b.DebtorBankID,
		Format: b.Format, FileName: b.FileName, SHA256: b.SHA256, Payments: b.Count,
		Sums: []Amount{{Minor: b.ControlSumMinor, Currency: b.Currency}}, States: states}
	if b.WrittenAt != nil {
		v.WrittenAt = b.WrittenAt.UTC()
	}
	if b.State != BatchClaimed {
		v.Manifest = export.ManifestName(b.FileName)
	}
	v.State = batchState(b.State, b.Count, states)
	return v
}

// batchState is a batch's state: its file's until a status report
// settled, rejected or returned any of its payments.
func batchState(fileState string, count int, states map[payment.State]int) string {
	switch fileState {
	case BatchClaimed:
		return fileState
	case export.BatchRejected:
		fileState = BatchFileRejected
	}
	settled := states[payment.StateSettled]
	rejected := states[payment.StateRejected] + states[payment.StateReturned]
	switch {
	case settled+rejected == 0:
		return fileState
	case settled == count:
		return BatchSettled
	case rejected == count:
		return BatchRejected
	}
	return BatchPartly
}

// MaxFileBytes bounds a file BatchFile reads into memory.
const MaxFileBytes = 256 << 20

// ErrNotWritten is returned by BatchFile for a batch whose file is not
// written yet.
var ErrNotWritten = errors.New("ops: the batch's file is not written yet")

// BatchFile reads a written batch's file and manifest for a download. The
// file is the one the batch recorded: its name and outbound directory as
// stored at the claim (Outbound for a batch that recorded none), opened
// under that directory only, and its content checked against the SHA-256
// recorded when it was written. id is looked up, never used as a path.
func (s *Service) BatchFile(ctx context.Context, id string) (name string, body, manifest []byte, err error) {
	b, err := s.store.BatchGet(ctx, id)
	if err != nil {
		return "", nil, nil, err
	}
	if b.State == BatchClaimed || b.SHA256 == "" {
		return "", nil, nil, fmt.Errorf("batch %s: %w", b.ID, ErrNotWritten)
	}
	dir := b.Dir
	if dir == "" {
		dir = s.Outbound
	}
	if dir == "" {
		return "", nil, nil, fmt.Errorf("batch %s recorded no outbound directory and none is configured", b.ID)
	}
	if !plainName(b.FileName) {
		return "", nil, nil, fmt.Errorf("batch %s: recorded file name %q is not a plain file name", b.ID, b.FileName)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", nil, nil, fmt.Errorf("batch %s: outbound directory: %w", b.ID, err)
	}
	defer root.Close()
	if body, err = readBounded(root, b.FileName); err != nil {
		return "", nil, nil, fmt.Errorf("batch %s: %w", b.ID, err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != b.SHA256 {
		return "", nil, nil, fmt.Errorf("batch %s: file %s is not the one written (SHA-256 %x, recorded %s)", b.ID, b.FileName, sum, b.SHA256)
	}
	if manifest, err = readBounded(root, export.ManifestName(b.FileName)); err != nil {
		return "", nil, nil, fmt.Errorf("batch %s: %w", b.ID, err)
	}
	return b.FileName, body, manifest, nil
}

// plainName reports whether name is a file name and not a path.
func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && filepath.Base(name) == name && filepath.IsLocal(name)
}

// readBounded reads a regular file of root, at most MaxFileBytes.
func readBounded(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxFileBytes)
	}
	return b, nil
}
