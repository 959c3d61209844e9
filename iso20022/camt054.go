package iso20022

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Camt054Namespace is the XML namespace of camt.054.001.08.
const Camt054Namespace = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"

// ErrInvalidNotification marks a debit/credit notification that
// ReadNotification refuses or WriteNotification cannot write.
var ErrInvalidNotification = errors.New("invalid debit/credit notification")

// MaxNotificationEntries is the most transactions (TxDtls, or entries
// without details) in one notification.
const MaxNotificationEntries = 50_000

// Notification is a camt.054.001.08 BkToCstmrDbtCdtNtfctn: the bank's
// account of the debits (and credits) booked on b2bpay's settlement
// account. Every Ntfctn of the document contributes its entries.
type Notification struct {
	// MessageID is GrpHdr/MsgId.
	MessageID string
	// CreatedAt is GrpHdr/CreDtTm, in UTC.
	CreatedAt time.Time
	// ID is the first Ntfctn/Id.
	ID string
	// Account is the first Ntfctn/Acct/Id/Othr/Id (empty with an IBAN).
	Account string
	// Entries are the transactions: one per TxDtls, or one per Ntry that
	// has no TxDtls (without references: it cannot be matched).
	Entries []NotificationEntry
}

// NotificationEntry is one booked (or pending) transaction.
type NotificationEntry struct {
	// EntryRef is Ntry/NtryRef, empty when absent.
	EntryRef string
	// EndToEndID, TransactionID and MessageID are TxDtls/Refs: what the
	// pacs.008 carried as EndToEndId (the order reference), TxId (the
	// payment id, 32 hex digits) and the file's MsgId (the batch id).
	EndToEndID, TransactionID, MessageID string
	// AmountMinor and Currency are TxDtls/Amt, or Ntry/Amt for an entry
	// with one transaction or none.
	AmountMinor int64
	Currency    string
	// Credit is CdtDbtInd CRDT (TxDtls's, else Ntry's); false is DBIT.
	Credit bool
	// Reversal is Ntry/RvslInd true: the entry undoes an earlier one.
	Reversal bool
	// Status is Ntry/Sts/Cd (BOOK, PDNG, INFO, …) or Sts/Prtry.
	Status string
	// BookingDate is Ntry/BookgDt (Dt, or the UTC date of DtTm); zero
	// when absent.
	BookingDate time.Time
	// ReturnCode is TxDtls/RtrInf/Rsn/Cd (or Prtry); ReturnInfo every
	// RtrInf/AddtlInf joined with "\n". Returned reports whether RtrInf is
	// present at all.
	ReturnCode, ReturnInfo string
	Returned               bool
}

// IsReturn reports whether the entry gives money back for a payment: a
// reversal, a return (RtrInf) or a credit.
func (e NotificationEntry) IsReturn() bool { return e.Reversal || e.Returned || e.Credit }

// WriteNotification writes n as an XSD-valid camt.054.001.08 document
// (for tests, tools and the demo's clearing house): one Ntry per entry,
// each with one TxDtls. Ntfctn/Acct is Account (or "UNKNOWN").
func WriteNotification(w io.Writer, n Notification) error {
	if err := checkNotification(n); err != nil {
		return fmt.Errorf("iso20022: write notification %q: %w", payment.Clip(n.MessageID, 40), err)
	}
	x := newWriter(w, Camt054Namespace)
	x.start("BkToCstmrDbtCdtNtfctn")
	x.start("GrpHdr")
	x.text("MsgId", n.MessageID)
	x.text("CreDtTm", formatDateTime(n.CreatedAt))
	x.end("GrpHdr")
	x.start("Ntfctn")
	id := n.ID
	if id == "" {
		id = n.MessageID
	}
	x.text("Id", id)
	acct := n.Account
	if acct == "" {
		acct = "UNKNOWN"
	}
	account(x, "Acct", acct)
	for _, e := range n.Entries {
		writeNotificationEntry(x, e)
	}
	x.end("Ntfctn")
	x.end("BkToCstmrDbtCdtNtfctn")
	if err := x.close(); err != nil {
		return fmt.Errorf("iso20022: write notification %q: %w", payment.Clip(n.MessageID, 40), err)
	}
	return nil
}

// writeNotificationEntry writes one Ntry (ReportEntry10) in the XSD's
// order with one TxDtls (EntryTransaction10).
func writeNotificationEntry(x *writer, e NotificationEntry) {
	cd := creditDebit(e.Credit)
	x.start("Ntry")
	x.optText("NtryRef", e.EntryRef)
	x.amount("Amt", e.AmountMinor, e.Currency)
	x.text("CdtDbtInd", cd)
	if e.Reversal {
		x.text("RvslInd", "true")
	}
	x.start("Sts")
	x.text("Cd", e.Status)
	x.end("Sts")
	if !e.BookingDate.IsZero() {
		x.start("BookgDt")
		x.text("Dt", e.BookingDate.Format(dateLayout))
		x.end("BookgDt")
	}
	sub := "ESCT"
	if e.IsReturn() {
		sub = "RRTN"
	}
	x.start("BkTxCd")
	x.start("Domn")
	x.text("Cd", "PMNT")
	x.start("Fmly")
	x.text("Cd", "ICDT")
	x.text("SubFmlyCd", sub)
	x.end("Fmly")
	x.end("Domn")
	x.end("BkTxCd")
	x.start("NtryDtls")
	x.start("TxDtls")
	if e.MessageID != "" || e.EndToEndID != "" || e.TransactionID != "" {
		x.start("Refs")
		x.optText("MsgId", e.MessageID)
		x.optText("EndToEndId", e.EndToEndID)
		x.optText("TxId", e.TransactionID)
		x.end("Refs")
	}
	x.amount("Amt", e.AmountMinor, e.Currency)
	x.text("CdtDbtInd", cd)
	if e.Returned {
		x.start("RtrInf")
		if e.ReturnCode != "" {
			reason(x, "Cd", e.ReturnCode)
		}
		if e.ReturnInfo != "" {
			for _, line := range strings.Split(e.ReturnInfo, "\n") {
				x.text("AddtlInf", line)
			}
		}
		x.end("RtrInf")
	}
	x.end("TxDtls")
	x.end("NtryDtls")
	x.end("Ntry")
}

func creditDebit(credit bool) string {
	if credit {
		return "CRDT"
	}
	return "DBIT"
}

// checkNotification applies the reader's rules before writing.
func checkNotification(n Notification) error {
	if err := checkNotificationText("GrpHdr/MsgId", n.MessageID, 35); err != nil {
		return err
	}
	if p := timeProblem(n.CreatedAt); p != "" {
		return notificationError("GrpHdr/CreDtTm %s", p)
	}
	if len(n.Entries) > MaxNotificationEntries {
		return notificationError("%d entries, at most %d", len(n.Entries), MaxNotificationEntries)
	}
	for i, e := range n.Entries {
		if err := checkNotificationEntry(e); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		if e.ReturnCode != "" && len(e.ReturnCode) > 4 {
			return notificationError("entry %d: RtrInf/Rsn/Cd %q is longer than 4", i+1, e.ReturnCode)
		}
	}
	return nil
}

// checkNotificationEntry checks what every entry read or written must have.
func checkNotificationEntry(e NotificationEntry) error {
	if err := payment.ValidCurrency(e.Currency); err != nil {
		return notificationError("Amt Ccy %q is not a known currency", payment.Clip(e.Currency, 10))
	}
	if e.AmountMinor <= 0 || e.AmountMinor > payment.MaxAmountMinor {
		return notificationError("Amt %d minor units is out of range", e.AmountMinor)
	}
	if e.Status == "" {
		return notificationError("Sts is missing")
	}
	for _, f := range []struct{ field, s string }{
		{"NtryRef", e.EntryRef}, {"Refs/EndToEndId", e.EndToEndID}, {"Refs/TxId", e.TransactionID},
		{"Refs/MsgId", e.MessageID}, {"Sts", e.Status},
	} {
		if f.s != "" {
			if err := checkNotificationText(f.field, f.s, 35); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNotificationText is checkText for a notification: the error wraps
// ErrInvalidNotification.
func checkNotificationText(field, s string, max int) error {
	return checkTextAs(notificationError, field, s, max)
}

// notificationError formats a refusal that wraps ErrInvalidNotification.
var notificationError = refusal(ErrInvalidNotification)
