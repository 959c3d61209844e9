package postgres

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/recon"
)

// ReconImport matches, classifies and records every entry of a camt.054
// notification in one transaction (recon.Store). Each entry is matched to
// an exported payment (one in a batch) by its end-to-end id, the order
// reference pacs.008 carried (by the payment id in TxId when several
// payments share the reference, then by amount, then the newest); the
// candidates are locked FOR UPDATE in id order, all at once. A booked
// debit of an exported payment for its amount settles it, a booked return
// returns it, each with a timeline entry and a status event, written in
// chunks and guarded by each payment's state and version. A file recorded
// before gives recon.ErrSeen and changes nothing.
func (s *Store) ReconImport(ctx context.Context, f recon.File) ([]recon.Outcome, error) {
	var outs []recon.Outcome
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var seen bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM recon_files WHERE sha256 = $1)`, f.SHA256).Scan(&seen); err != nil {
			return err
		}
		if seen {
			return recon.ErrSeen
		}
		now := s.cfg.Now().UTC().Truncate(time.Microsecond)
		m, err := reconCandidatesTx(ctx, tx, f.Entries)
		if err != nil {
			return err
		}
		outs = make([]recon.Outcome, len(f.Entries))
		var moved []*payment.Payment
		var moves []reconMove
		mismatches := 0
		for i, e := range f.Entries {
			o, mv := m.classify(e)
			o.Seq, o.Entry = i+1, e
			if mv.action != "" {
				mv.out = i
				moved, moves = append(moved, m.byID[o.PaymentID]), append(moves, mv)
			}
			if o.Class.Mismatch() {
				mismatches++
			}
			outs[i] = o
		}
		for from := 0; from < len(moved); from += claimChunk {
			to := min(from+claimChunk, len(moved))
			chunk := moves[from:to]
			err := s.applyManyTx(ctx, tx, moved[from:to], now, func(i int, _ *payment.Payment) (payment.Action, payment.Actor, string, payment.Code) {
				return chunk[i].action, payment.Actor{Kind: payment.ActorSystem, ID: "bank"}, reconNote(f.MessageID, f.Entries[chunk[i].out]), chunk[i].code
			})
			if err != nil {
				return err
			}
		}
		for i, mv := range moves {
			outs[mv.out].StateAfter = moved[i].State
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
		return reconEntriesCopyTx(ctx, tx, f.SHA256, outs, now)
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

// reconMove is a change of state an entry makes: outcome out's payment.
type reconMove struct {
	action payment.Action
	code   payment.Code
	out    int
}

// reconNote is the timeline note of a move by entry e.
func reconNote(messageID string, e iso20022.NotificationEntry) string {
	note := "camt.054 " + payment.Text(messageID) + ": " + kindOf(e) + " booked"
	if !e.BookingDate.IsZero() {
		note += " on " + e.BookingDate.Format(time.DateOnly)
	}
	if e.ReturnInfo != "" {
		note += " (" + payment.Text(payment.Clip(e.ReturnInfo, 80)) + ")"
	}
	return note
}

// hex32 is a payment id as pacs.008 writes it in TxId.
var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// txPaymentID is the payment id an entry's TxId names, or "".
func txPaymentID(e iso20022.NotificationEntry) string {
	low := strings.ToLower(e.TransactionID)
	if !hex32.MatchString(low) {
		return ""
	}
	return low[0:8] + "-" + low[8:12] + "-" + low[12:16] + "-" + low[16:20] + "-" + low[20:]
}

// kindOf is an entry's kind: "return" for a reversal, a return or a
// credit, else "settlement".
func kindOf(e iso20022.NotificationEntry) string {
	if e.IsReturn() {
		return "return"
	}
	return "settlement"
}

// reconMatcher holds a file's candidate payments, locked, and what is
// known of them as the file's entries are classified in order.
type reconMatcher struct {
	byRef map[string][]*payment.Payment
	byID  map[string]*payment.Payment
	// state is each payment's state after the entries classified so far.
	state map[string]payment.State
	// first is (payment, kind) already matched, by an earlier file or
	// entry.
	first map[[2]string]bool
}

// reconCandidatesTx locks, in id order, every exported payment (one in a
// batch) that an entry's end-to-end id or TxId names, and reads which of
// them an earlier notification matched.
func reconCandidatesTx(ctx context.Context, tx pgx.Tx, entries []iso20022.NotificationEntry) (*reconMatcher, error) {
	m := &reconMatcher{byRef: map[string][]*payment.Payment{}, byID: map[string]*payment.Payment{},
		state: map[string]payment.State{}, first: map[[2]string]bool{}}
	var refs, ids []string
	for _, e := range entries {
		if e.Status != "BOOK" {
			continue
		}
		if e.EndToEndID != "" {
			refs = append(refs, e.EndToEndID)
		} else if id := txPaymentID(e); id != "" {
			ids = append(ids, id)
		}
	}
	if len(refs)+len(ids) == 0 {
		return m, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+prefixed("p.", paymentColumns)+` FROM payments p
		WHERE (p.order_ref = ANY($1) OR p.id = ANY($2::uuid[]))
		AND EXISTS (SELECT 1 FROM batch_payments bp WHERE bp.payment_id = p.id)
		ORDER BY p.id FOR UPDATE OF p`, refs, ids)
	if err != nil {
		return nil, err
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*payment.Payment, error) { return scanPayment(row) })
	if err != nil {
		return nil, err
	}
	found := make([]pgtype.UUID, 0, len(ps))
	for _, p := range ps {
		m.byRef[p.OrderRef] = append(m.byRef[p.OrderRef], p)
		m.byID[p.ID] = p
		m.state[p.ID] = p.State
		found = append(found, copyUUID(p.ID).(pgtype.UUID))
	}
	if len(found) == 0 {
		return m, nil
	}
	rows, err = tx.Query(ctx, `SELECT payment_id::text, kind FROM recon_entries WHERE payment_id = ANY($1)
		AND class IN ('settled', 'returned', 'short', 'conflict')`, found)
	if err != nil {
		return nil, err
	}
	earlier, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]string, error) {
		var k [2]string
		err := row.Scan(&k[0], &k[1])
		return k, err
	})
	for _, k := range earlier {
		m.first[k] = true
	}
	return m, err
}

// pick is the payment an entry names: among the payments with its
// end-to-end id (or, without one, the payment its TxId names), the one its
// TxId names, else one of the same amount and currency, else the newest.
func (m *reconMatcher) pick(e iso20022.NotificationEntry) *payment.Payment {
	id := txPaymentID(e)
	if e.EndToEndID == "" {
		return m.byID[id]
	}
	cands := append([]*payment.Payment(nil), m.byRef[e.EndToEndID]...)
	if len(cands) == 0 {
		return nil
	}
	rank := func(p *payment.Payment) int {
		r := 0
		if id != "" && p.ID == id {
			r += 2
		}
		if p.AmountMinor == e.AmountMinor && p.Currency == e.Currency {
			r++
		}
		return r
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra > rb
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return cands[0]
}

// classify decides one entry, given the entries before it, and the move it
// makes (none: action "").
func (m *reconMatcher) classify(e iso20022.NotificationEntry) (recon.Outcome, reconMove) {
	if e.Status != "BOOK" {
		return recon.Outcome{Class: recon.ClassNotBooked, Reason: "status " + payment.Text(e.Status) + ", not booked"}, reconMove{}
	}
	if e.EndToEndID == "" && txPaymentID(e) == "" {
		return recon.Outcome{Class: recon.ClassUnmatched, Reason: "the entry has neither an end-to-end id nor a b2bpay transaction id"}, reconMove{}
	}
	p := m.pick(e)
	if p == nil {
		return recon.Outcome{Class: recon.ClassUnmatched, Reason: fmt.Sprintf("no exported payment has end-to-end id %q",
			payment.Text(payment.Clip(e.EndToEndID, 40)))}, reconMove{}
	}
	state := m.state[p.ID]
	o := recon.Outcome{PaymentID: p.ID, StateBefore: state, StateAfter: state}
	kind := kindOf(e)
	key := [2]string{p.ID, kind}
	if m.first[key] {
		o.Class, o.Reason = recon.ClassDuplicated, "a "+kind+" of this payment was booked before"
		return o, reconMove{}
	}
	m.first[key] = true
	var mv reconMove
	switch {
	case state != payment.StateExported && state != payment.StateSettled && state != payment.StateReturned:
		o.Class, o.Reason = recon.ClassConflict, fmt.Sprintf("the payment is %s", state)
	case kind == "settlement" && state == payment.StateReturned:
		o.Class, o.Reason = recon.ClassConflict, "the bank booked a debit of a payment the clearing house returned"
	case kind == "return" && state == payment.StateSettled:
		o.Class, o.Reason = recon.ClassConflict, "the bank booked a return of a settled payment: an operator must decide"
	case kind == "settlement" && (e.AmountMinor != p.AmountMinor || e.Currency != p.Currency):
		o.Class = recon.ClassShort
		o.Reason = fmt.Sprintf("booked %s %s, the payment is %s %s", e.Currency, payment.FormatAmount(e.AmountMinor, e.Currency),
			p.Currency, payment.FormatAmount(p.AmountMinor, p.Currency))
	case kind == "settlement":
		o.Class = recon.ClassSettled
		if state == payment.StateExported {
			mv.action = payment.ActionSettle
			m.state[p.ID] = payment.StateSettled
		}
	default:
		o.Class = recon.ClassReturned
		if state == payment.StateExported {
			mv.action, mv.code = payment.ActionReturn, payment.Code(payment.Text(e.ReturnCode))
			m.state[p.ID] = payment.StateReturned
		}
	}
	return o, mv
}

// reconEntriesCopyTx records the outcomes with COPY.
func reconEntriesCopyTx(ctx context.Context, tx pgx.Tx, sha string, outs []recon.Outcome, now time.Time) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"recon_entries"}, []string{"file_sha256", "seq", "entry_ref", "end_to_end_id", "tx_id",
		"msg_id", "amount_minor", "currency", "credit", "reversal", "status", "booking_date", "return_code", "return_info", "kind",
		"payment_id", "class", "reason", "state_before", "state_after", "recorded_at"},
		pgx.CopyFromSlice(len(outs), func(i int) ([]any, error) {
			o := outs[i]
			e := o.Entry
			var pid any
			if o.PaymentID != "" {
				pid = copyUUID(o.PaymentID)
			}
			var booked any
			if !e.BookingDate.IsZero() {
				booked = pgtype.Date{Time: e.BookingDate, Valid: true}
			}
			return []any{sha, int32(o.Seq), payment.Text(e.EntryRef), payment.Text(e.EndToEndID), payment.Text(e.TransactionID),
				payment.Text(e.MessageID), e.AmountMinor, e.Currency, e.Credit, e.Reversal, payment.Text(e.Status), booked,
				payment.Text(e.ReturnCode), payment.Text(e.ReturnInfo), kindOf(e), pid, string(o.Class), payment.Text(o.Reason),
				string(o.StateBefore), string(o.StateAfter), now}, nil
		}))
	return err
}
