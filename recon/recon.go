// Package recon reconciles every exported payment against the bank's
// camt.054 debit/credit notifications, and makes the end-of-day report.
//
// Import reads a notification (iso20022.ReadNotification), hands its
// entries to the Store, which matches and classifies each in one
// transaction (see Class), and raises an alert for every mismatch: an
// ERROR log with alert=recon_mismatch and the Mismatch hook (a metric in
// serve). A notification is recorded once by its SHA-256: importing the
// same file again changes nothing. The package has no SQL: postgres
// implements Store.
package recon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// Class is what a notification entry turned out to be.
type Class string

// The classes of an entry.
const (
	// ClassSettled: a booked debit of a payment b2bpay exported, for its
	// amount and currency. The payment is settled (by this entry if it was
	// still exported, else already by a pacs.002).
	ClassSettled Class = "settled"
	// ClassReturned: a booked return, reversal or credit of an exported
	// payment (it moves to returned) or of one already returned.
	ClassReturned Class = "returned"
	// ClassUnmatched: no exported payment has the entry's end-to-end id.
	ClassUnmatched Class = "unmatched"
	// ClassShort: the payment's debit booked for another amount or
	// currency; the payment is not changed.
	ClassShort Class = "short"
	// ClassDuplicated: a second booked debit (or return) for a payment
	// already matched by an earlier entry, in this file or another.
	ClassDuplicated Class = "duplicated"
	// ClassConflict: the entry contradicts the payment's state: a debit of
	// a payment the clearing house returned, a return of a settled one.
	// Nothing is changed; an operator decides.
	ClassConflict Class = "conflict"
	// ClassNotBooked: an entry whose status is not BOOK (pending,
	// information): recorded, nothing else.
	ClassNotBooked Class = "not_booked"
)

// Classes lists every class in report order.
var Classes = []Class{ClassSettled, ClassReturned, ClassUnmatched, ClassShort, ClassDuplicated, ClassConflict, ClassNotBooked}

// Mismatch reports whether the class raises an alert.
func (c Class) Mismatch() bool {
	return c == ClassUnmatched || c == ClassShort || c == ClassDuplicated || c == ClassConflict
}

// File is a notification to record: its digest, name and entries.
type File struct {
	SHA256, Name, MessageID string
	CreatedAt               time.Time
	Entries                 []iso20022.NotificationEntry
}

// Outcome is what became of one entry.
type Outcome struct {
	Seq       int
	Entry     iso20022.NotificationEntry
	PaymentID string // "" when unmatched
	Class     Class
	Reason    string
	// StateBefore and StateAfter are the payment's; different when this
	// entry moved it.
	StateBefore, StateAfter payment.State
}

// Store records notifications and reads the day's figures.
type Store interface {
	// ReconImport matches, classifies and records every entry of f in one
	// transaction, moving the payments it settles or returns (guarded by
	// their state and version). A file recorded before gives ErrSeen.
	ReconImport(ctx context.Context, f File) ([]Outcome, error)
	// ReconDay reads the end-of-day figures of a settlement date.
	ReconDay(ctx context.Context, day time.Time) (Day, error)
}

// ErrSeen is a notification recorded before (the same SHA-256).
var ErrSeen = errors.New("recon: notification imported before")

// MaxFileBytes bounds a notification file.
const MaxFileBytes = iso20022.MaxReportBytes

// Summary says what one import did.
type Summary struct {
	File, MessageID string
	// Repeated is a file recorded before: nothing was done.
	Repeated bool
	Entries  int
	Classes  map[Class]int
	// Mismatches counts the entries of a mismatch class; Changed the
	// payments this file moved.
	Mismatches, Changed int
}

// Importer imports notifications.
type Importer struct {
	Store Store
	Log   *slog.Logger
	// Mismatch, when set, is called once per mismatched entry (a metric).
	Mismatch func(Class)
}

// ImportFile reads path (at most MaxFileBytes) and imports it.
func (im *Importer) ImportFile(ctx context.Context, path string) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{File: path}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return Summary{File: path}, err
	}
	if len(data) > MaxFileBytes {
		return Summary{File: path}, fmt.Errorf("%s: file is larger than %d bytes: %w", path, MaxFileBytes, iso20022.ErrInvalidNotification)
	}
	return im.Import(ctx, filepath.Base(path), data)
}

// Import reads one notification and records it. A file that does not read
// is refused whole (an error wrapping iso20022.ErrInvalidNotification,
// nothing recorded).
func (im *Importer) Import(ctx context.Context, name string, data []byte) (Summary, error) {
	sum := Summary{File: name, Classes: map[Class]int{}}
	n, err := iso20022.ReadNotification(bytes.NewReader(data))
	if err != nil {
		im.log().WarnContext(ctx, "camt.054 notification refused", "file", name, "reason", err.Error())
		return sum, fmt.Errorf("%s: %w", name, err)
	}
	h := sha256.Sum256(data)
	sum.MessageID, sum.Entries = n.MessageID, len(n.Entries)
	outs, err := im.Store.ReconImport(ctx, File{SHA256: hex.EncodeToString(h[:]), Name: payment.Text(name),
		MessageID: n.MessageID, CreatedAt: n.CreatedAt, Entries: n.Entries})
	if errors.Is(err, ErrSeen) {
		sum.Repeated = true
		im.log().InfoContext(ctx, "camt.054 notification imported before; nothing done", "file", name, "message_id", n.MessageID)
		return sum, nil
	}
	if err != nil {
		return sum, fmt.Errorf("%s: %w", name, err)
	}
	for _, o := range outs {
		sum.Classes[o.Class]++
		if o.StateAfter != o.StateBefore {
			sum.Changed++
		}
		if !o.Class.Mismatch() {
			continue
		}
		sum.Mismatches++
		im.log().ErrorContext(ctx, "reconciliation mismatch", "alert", "recon_mismatch", "class", string(o.Class),
			"file", name, "message_id", n.MessageID, "entry", o.Seq, "end_to_end_id", o.Entry.EndToEndID,
			"payment_id", o.PaymentID, "amount", payment.FormatAmount(o.Entry.AmountMinor, o.Entry.Currency),
			"currency", o.Entry.Currency, "reason", o.Reason)
		if im.Mismatch != nil {
			im.Mismatch(o.Class)
		}
	}
	im.log().InfoContext(ctx, "camt.054 notification imported", "file", name, "message_id", n.MessageID,
		"entries", len(outs), "mismatches", sum.Mismatches, "payments_changed", sum.Changed)
	return sum, nil
}

func (im *Importer) log() *slog.Logger {
	if im.Log == nil {
		return slog.Default()
	}
	return im.Log
}
