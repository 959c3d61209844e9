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
	// written), "written", then, through delivery (delivery.go),
	// "delivered" or "delivery_failed", "acknowledged" or "rejected", and
	// "superseded" once re-issued.
	State     string
	SHA256    string
	CreatedAt time.Time
	WrittenAt *time.Time
	// Dir is the outbound directory the file goes to, recorded at the
	// claim ("" for a batch claimed before directories were recorded).
	Dir string
	// Delivery records the file's delivery and acknowledgement.
	Delivery Delivery
}

// The states of a batch.
const (
	BatchClaimed        = "claimed"
	BatchWritten        = "written"
	BatchDelivered      = "delivered"
	BatchDeliveryFailed = "delivery_failed"
	BatchAcknowledged   = "acknowledged"
	BatchRejected       = "rejected"
	BatchSuperseded     = "superseded"
)

// Delivery is what is known of a batch file's way to the clearing gateway.
type Delivery struct {
	// Attempts counts the failed attempts since the last success.
	Attempts      int
	NextAttemptAt *time.Time
	LastError     string
	DeliveredAt   *time.Time
	// To names the target it was delivered to (no secret).
	To string
	// AckStatus is the pacs.002 group status that acknowledged or
	// rejected the file, AckReason its reason.
	AckStatus, AckReason string
	AcknowledgedAt       *time.Time
	// SupersededBy is the batch that re-issued this one, ReissueOf the
	// batch this one re-issues.
	SupersededBy, ReissueOf string
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

// AckOutcome says what a file's group status did.
type AckOutcome struct {
	// Changed is true when the batch moved (to acknowledged or rejected).
	Changed bool
	// State is the batch's state after.
	State string
	// Superseded is true for an acceptance of a file already re-issued:
	// both files may be settled (alert).
	Superseded bool
}

// AckAccepts reports whether a pacs.002 group status acknowledges a file
// (accepted, technically or for settlement, settled, partly accepted);
// RJCT rejects it; the others (PDNG, RCVD) say nothing of it.
func AckAccepts(status string) bool { return ackAccepting[status] }

// AckStatus reports whether a group status acknowledges or rejects a file.
func AckStatus(status string) bool { return ackAccepting[status] || status == "RJCT" }

var ackAccepting = map[string]bool{"ACTC": true, "ACCP": true, "ACSP": true, "ACSC": true, "ACCC": true, "ACWC": true, "PART": true,
	AckByTransactions: true}

// AckByTransactions is the ack_status of a file acknowledged by a report
// without a group status that gave its payments transaction statuses: the
// clearing has the file.
const AckByTransactions = "TXST"

// Reissue asks for a batch's file to be re-issued.
type Reissue struct {
	BatchID string
	// Operator and Reason go in the audit trail.
	Operator, Reason string
	// FileName names the new batch's file from its id.
	FileName func(batchID string) string
}
