package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/recon"
)

// ReconImport matches, classifies and records every entry of a camt.054
// notification in one transaction (recon.Store). Each entry is matched to
// an exported payment (one in a batch) by its end-to-end id, the order
// reference pacs.008 carried (by the payment id in TxId when several
// payments share the reference, then by amount), locked FOR UPDATE. A
// booked debit of an exported payment for its amount settles it, a booked
// return returns it, each with a timeline entry and a status event, and
// the update is guarded by the payment's state and version. A file
// recorded before gives recon.ErrSeen and changes nothing.
func (s *Store) ReconImport(ctx context.Context, f recon.File) ([]recon.Outcome, error) {
	var outs []recon.Outcome
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		outs = outs[:0]
		var seen bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM recon_files WHERE sha256 = $1)`, f.SHA256).Scan(&seen); err != nil {
			return err
		}
		if seen {
			return recon.ErrSeen
		}
		now := s.cfg.Now().UTC().Truncate(time.Microsecond)
		firsts := map[[2]string]bool{} // (payment, kind) matched earlier in this file
		mismatches := 0
		for i, e := range f.Entries {
			o, err := s.reconEntryTx(ctx, tx, f, e, now, firsts)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i+1, err)
			}
			o.Seq, o.Entry = i+1, e
			if o.Class.Mismatch() {
				mismatches++
			}
			outs = append(outs, o)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO recon_files (sha256, file_name, message_id, created_at, entries, mismatches, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO NOTHING`,
			f.SHA256, payment.Text(f.Name), payment.Text(f.MessageID), f.CreatedAt.UTC(), len(outs), mismatches, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return recon.ErrSeen // imported at the same time by another process
		}
		return reconEntriesInsertTx(ctx, tx, f.SHA256, outs, now)
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

// hex32 is a payment id as pacs.008 writes it in TxId.
var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// kindOf is an entry's kind: "return" for a reversal, a return or a
// credit, else "settlement".
func kindOf(e iso20022.NotificationEntry) string {
	if e.IsReturn() {
		return "return"
	}
	return "settlement"
}

// reconEntryTx matches and classifies one entry, moving its payment when
// the entry settles or returns it.
func (s *Store) reconEntryTx(ctx context.Context, tx pgx.Tx, f recon.File, e iso20022.NotificationEntry, now time.Time,
	firsts map[[2]string]bool) (recon.Outcome, error) {
	if e.Status != "BOOK" {
		return recon.Outcome{Class: recon.ClassNotBooked, Reason: "status " + payment.Text(e.Status) + ", not booked"}, nil
	}
	var byID *string
	if low := strings.ToLower(e.TransactionID); hex32.MatchString(low) {
		id := low[0:8] + "-" + low[8:12] + "-" + low[12:16] + "-" + low[16:20] + "-" + low[20:]
		byID = &id
	}
	if e.EndToEndID == "" && byID == nil {
		return recon.Outcome{Class: recon.ClassUnmatched, Reason: "the entry has neither an end-to-end id nor a b2bpay transaction id"}, nil
	}
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+prefixed("p.", paymentColumns)+` FROM payments p
		JOIN batch_payments bp ON bp.payment_id = p.id
		WHERE ($1 <> '' AND p.order_ref = $1) OR ($1 = '' AND p.id = $2::uuid)
		ORDER BY p.id = $2::uuid DESC NULLS LAST, (p.amount_minor = $3 AND p.currency = $4) DESC, p.created_at DESC, p.id
		LIMIT 1 FOR UPDATE OF p`, e.EndToEndID, byID, e.AmountMinor, e.Currency))
	if errors.Is(err, pgx.ErrNoRows) {
		return recon.Outcome{Class: recon.ClassUnmatched, Reason: fmt.Sprintf("no exported payment has end-to-end id %q",
			payment.Text(payment.Clip(e.EndToEndID, 40)))}, nil
	}
	if err != nil {
		return recon.Outcome{}, err
	}
	o := recon.Outcome{PaymentID: p.ID, StateBefore: p.State, StateAfter: p.State}
	kind := kindOf(e)
	key := [2]string{p.ID, kind}
	var earlier bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM recon_entries WHERE payment_id = $1 AND kind = $2
		AND class IN ('settled', 'returned', 'short', 'conflict'))`, p.ID, kind).Scan(&earlier); err != nil {
		return o, err
	}
	if earlier || firsts[key] {
		o.Class, o.Reason = recon.ClassDuplicated, "a "+kind+" of this payment was booked before"
		return o, nil
	}
	firsts[key] = true
	var action payment.Action
	switch {
	case kind == "settlement" && p.State == payment.StateReturned:
		o.Class, o.Reason = recon.ClassConflict, "the bank booked a debit of a payment the clearing house returned"
	case kind == "return" && p.State == payment.StateSettled:
		o.Class, o.Reason = recon.ClassConflict, "the bank booked a return of a settled payment: an operator must decide"
	case kind == "settlement" && (e.AmountMinor != p.AmountMinor || e.Currency != p.Currency):
		o.Class = recon.ClassShort
		o.Reason = fmt.Sprintf("booked %s %s, the payment is %s %s", e.Currency, payment.FormatAmount(e.AmountMinor, e.Currency),
			p.Currency, payment.FormatAmount(p.AmountMinor, p.Currency))
	case kind == "settlement":
		o.Class = recon.ClassSettled
		if p.State == payment.StateExported {
			action = payment.ActionSettle
		}
	default:
		o.Class = recon.ClassReturned
		if p.State == payment.StateExported {
			action = payment.ActionReturn
		}
	}
	if o.Class == recon.ClassSettled || o.Class == recon.ClassReturned {
		if p.State != payment.StateExported && p.State != payment.StateSettled && p.State != payment.StateReturned {
			o.Class, o.Reason = recon.ClassConflict, fmt.Sprintf("the payment is %s", p.State)
			action = ""
		}
	}
	if action == "" {
		return o, nil
	}
	note := "camt.054 " + payment.Text(f.MessageID) + ": " + kind + " booked"
	if !e.BookingDate.IsZero() {
		note += " on " + e.BookingDate.Format(time.DateOnly)
	}
	if e.ReturnInfo != "" {
		note += " (" + payment.Text(payment.Clip(e.ReturnInfo, 80)) + ")"
	}
	err = s.applyManyTx(ctx, tx, []*payment.Payment{p}, now, func(int, *payment.Payment) (payment.Action, payment.Actor, string, payment.Code) {
		return action, payment.Actor{Kind: payment.ActorSystem, ID: "bank"}, note, payment.Code(payment.Text(e.ReturnCode))
	})
	if err != nil {
		return o, err
	}
	o.StateAfter = p.State
	return o, nil
}

// reconEntriesInsertTx records the outcomes in one round trip.
func reconEntriesInsertTx(ctx context.Context, tx pgx.Tx, sha string, outs []recon.Outcome, now time.Time) error {
	b := &pgx.Batch{}
	for _, o := range outs {
		e := o.Entry
		var pid *string
		if o.PaymentID != "" {
			pid = &o.PaymentID
		}
		var booked *time.Time
		if !e.BookingDate.IsZero() {
			booked = &e.BookingDate
		}
		b.Queue(`INSERT INTO recon_entries (file_sha256, seq, entry_ref, end_to_end_id, tx_id, msg_id, amount_minor, currency,
			credit, reversal, status, booking_date, return_code, return_info, kind, payment_id, class, reason, state_before, state_after, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::uuid, $17, $18, $19, $20, $21)`,
			sha, o.Seq, payment.Text(e.EntryRef), payment.Text(e.EndToEndID), payment.Text(e.TransactionID), payment.Text(e.MessageID),
			e.AmountMinor, e.Currency, e.Credit, e.Reversal, payment.Text(e.Status), booked, payment.Text(e.ReturnCode),
			payment.Text(e.ReturnInfo), kindOf(e), pid, string(o.Class), payment.Text(o.Reason), string(o.StateBefore), string(o.StateAfter), now)
	}
	return tx.SendBatch(ctx, b).Close()
}
