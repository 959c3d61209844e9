package export

import (
	"errors"
	"time"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// This file holds the contract between the exporter and its storage: the
// types the store hands back and takes, and its sentinel errors. The
// PostgreSQL store implements Store and ReportStore with these types, so
// the exporter never sees the driver.

// Batch is a set of payments exported together in one interbank file.
type Batch struct {
	ID              string
	CutoffAt        time.Time
	DebtorBankID    string
	Currency        string
	SettlementDate  time.Time
	Format          string
	FileName        string
	Count           int
	ControlSumMinor int64
	// State is "claimed" (payments assigned, file not yet known to be
	// written) or "written".
	State     string
	SHA256    string
	CreatedAt time.Time
	WrittenAt *time.Time
	// Dir is the outbound directory the file goes to, recorded at the
	// claim ("" for a batch claimed before directories were recorded).
	Dir string
}

// BatchItem is one payment of a batch, as a file needs it.
type BatchItem struct {
	Seq        int
	Payment    *payment.Payment
	DebtorName string
}

// CutoffClaim says what to claim at a cutoff.
type CutoffClaim struct {
	CutoffAt time.Time
	// SettlementDate is the interbank settlement date of the files; only
	// payments whose execution date is on or before it are claimed.
	SettlementDate time.Time
	// MaxPerFile bounds the payments in one batch.
	MaxPerFile int
	Format     string
	// FileName names a batch's file from its id.
	FileName func(batchID string) string
	// Runner names the process, for the record.
	Runner string
	// Location formats batch ids in the customers' zone.
	Location *time.Location
	// OnHeld, when set, is told after the claim commits which due payments
	// it held instead of exporting, because their approvals do not check.
	OnHeld func([]Held)
	// Kind says who started the run: CutoffScheduled or CutoffManual.
	Kind string
	// Dir is the outbound directory the batches' files go to (absolute,
	// cleaned), recorded on each batch ("" records none).
	Dir string
}

// The kinds of cutoff run: started by the scheduler at an instant of the
// schedule, or by an operator at any instant.
const (
	CutoffScheduled = "scheduled"
	CutoffManual    = "manual"
)

// Held is a due payment the claim held instead of exporting, and why.
type Held struct {
	PaymentID string
	Problems  []seal.Problem
}

// ErrCutoffTaken is returned when another process already ran (or runs)
// the cutoff: the unique key on the cutoff time decided.
var ErrCutoffTaken = errors.New("postgres: cutoff already taken by another run")

// ErrContentChanged is returned when a claimed payment's content, or its
// export entry, no longer matches the MAC sealed at the claim: the file is
// not written.
var ErrContentChanged = errors.New("alert=approval_mismatch: the payment's content or export entry changed after the claim; its file is not written")

// ReportEntry is one line of an interbank status report, already read.
type ReportEntry struct {
	// BatchID is the original message id: the batch the payment went in.
	BatchID string
	// PaymentID is the original transaction id.
	PaymentID string
	// Status is the ISO 20022 transaction status code.
	Status     string
	ReasonCode string
	Info       string
}

// ErrReportSeen is returned for a report whose content was processed before.
var ErrReportSeen = errors.New("postgres: status report already processed")

// ReportRefusal is why a report was quarantined instead of applied.
type ReportRefusal struct{ Reason string }

// Error implements error.
func (r *ReportRefusal) Error() string { return "status report refused: " + r.Reason }
