package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// recheckClaimTx re-checks every payment of the claim table before it
// enters a batch: its current content digest must be what each required,
// distinct approver approved, with valid MACs (seal.Key.CheckApprovals).
// A payment that fails leaves the claim and is moved to held in this
// transaction, with its timeline entry, its status event and an audit
// line. The payments and their applied decisions (aggregated per payment)
// come in one query, checked as they stream: one round trip, and memory
// that holds only the payments held.
func (s *Store) recheckClaimTx(ctx context.Context, tx pgx.Tx, now time.Time) ([]export.Held, error) {
	if s.cfg.Seal == nil {
		return nil, errNoSeal
	}
	var held []export.Held
	var holdPs []*payment.Payment
	rows, err := tx.Query(ctx, `SELECT `+prefixed("p.", paymentColumns)+`, `+decidedColumns+`
		FROM claim cl JOIN payments p ON p.id = cl.id `+decidedJoin)
	if err != nil {
		return nil, fmt.Errorf("re-check the claim: %w", err)
	}
	var d decided
	err = collect(rows, "claimed payments and their decisions", func(row pgx.CollectableRow) error {
		p, err := scanPaymentExtra(row, d.dest()...)
		if err != nil {
			return err
		}
		if problems := s.cfg.Seal.CheckApprovals(p, d.stored()); len(problems) > 0 {
			held, holdPs = append(held, export.Held{PaymentID: p.ID, Problems: problems}), append(holdPs, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The claim's order (by id) decides the held payments' order.
	sort.Sort(byPaymentID{held, holdPs})
	if len(held) == 0 {
		return nil, nil
	}
	ids := make([]string, len(held))
	audits := make([]AuditEntry, len(held))
	for i, h := range held {
		ids[i] = h.PaymentID
		audits[i] = AuditEntry{Actor: "system:export", Event: "approval_mismatch", PaymentID: h.PaymentID, Detail: seal.Summary(h.Problems)}
	}
	// The files are cut from what is left (fileClaimTx), so each batch's
	// payments still run 1, 2, … .
	if _, err := tx.Exec(ctx, `DELETE FROM claim WHERE id = ANY($1::uuid[])`, ids); err != nil {
		return nil, fmt.Errorf("take held payments out of the claim: %w", err)
	}
	if err := s.applyManyTx(ctx, tx, holdPs, now, func(i int, _ *payment.Payment) (payment.Action, payment.Actor, string, payment.Code) {
		return payment.ActionHold, payment.Actor{Kind: payment.ActorSystem, ID: "export"},
			"approval mismatch: " + strings.Join(seal.Kinds(held[i].Problems), ", "), CodeApprovalMismatch
	}); err != nil {
		return nil, err
	}
	if err := s.auditCopyTx(ctx, tx, audits); err != nil {
		return nil, err
	}
	return held, nil
}

// decidedJoin joins to each payment p its applied decisions, aggregated
// into one row of arrays (decidedColumns), for seal.Key.CheckApprovals.
const decidedJoin = `LEFT JOIN LATERAL (SELECT array_agg(stage) AS stages, array_agg(verdict) AS verdicts,
		array_agg(coalesce(actor_id, '')) AS actors, array_agg(coalesce(otp_step, 0)) AS steps,
		array_agg(coalesce(seal_seq, 0)) AS seqs, array_agg(digest) AS digests, array_agg(mac) AS macs
	FROM decisions d WHERE d.payment_id = p.id AND d.outcome = 'applied') d ON true`

// decidedColumns are the columns decidedJoin adds, as decided scans them.
const decidedColumns = `d.stages, d.verdicts, d.actors, d.steps, d.seqs, d.digests, d.macs`

// decided scans a payment's applied decisions (decidedColumns); one value
// is reused row after row.
type decided struct {
	stages, verdicts, actors, digests []string
	steps                             []int64
	seqs                              []int32
	macs                              [][]byte
	out                               []seal.Stored
}

// dest clears what the last row left (a payment without decisions scans
// NULL arrays) and returns where to scan the next.
func (d *decided) dest() []any {
	d.stages, d.verdicts, d.actors, d.digests, d.steps, d.seqs, d.macs = nil, nil, nil, nil, nil, nil, nil
	return []any{&d.stages, &d.verdicts, &d.actors, &d.steps, &d.seqs, &d.digests, &d.macs}
}

// stored returns the decisions last scanned (valid until the next scan).
func (d *decided) stored() []seal.Stored {
	d.out = d.out[:0]
	for i := range d.stages {
		st := seal.Stored{MAC: d.macs[i]}
		st.Stage, st.Verdict, st.ActorID = payment.Stage(d.stages[i]), payment.Verdict(d.verdicts[i]), d.actors[i]
		st.OTPStep, st.Seq, st.Digest = d.steps[i], int(d.seqs[i]), d.digests[i]
		d.out = append(d.out, st)
	}
	return d.out
}

// byPaymentID sorts held payments (and the payments beside them) by id.
type byPaymentID struct {
	held []export.Held
	ps   []*payment.Payment
}

func (b byPaymentID) Len() int           { return len(b.held) }
func (b byPaymentID) Less(i, j int) bool { return b.held[i].PaymentID < b.held[j].PaymentID }
func (b byPaymentID) Swap(i, j int) {
	b.held[i], b.held[j] = b.held[j], b.held[i]
	b.ps[i], b.ps[j] = b.ps[j], b.ps[i]
}

// CodeApprovalMismatch is the code of the timeline entry that holds a
// payment whose approvals do not check.
const CodeApprovalMismatch payment.Code = "approval_mismatch"

// PaymentDecisions returns a payment's applied decisions as their MACs
// cover them, for seal.Key.CheckApprovals.
func (s *Store) PaymentDecisions(ctx context.Context, id string) ([]seal.Stored, error) {
	rows, err := s.pool.Query(ctx, `SELECT stage, verdict, coalesce(actor_id, ''), coalesce(otp_step, 0), coalesce(seal_seq, 0), digest, mac
		FROM decisions WHERE payment_id = $1 AND outcome = 'applied' ORDER BY seal_seq, decided_at`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (seal.Stored, error) {
		var d seal.Stored
		var stage, verdict string
		err := row.Scan(&stage, &verdict, &d.ActorID, &d.OTPStep, &d.Seq, &d.Digest, &d.MAC)
		d.PaymentID, d.Stage, d.Verdict = id, payment.Stage(stage), payment.Verdict(verdict)
		return d, err
	})
}

// Seal is the store's MAC key, nil when it has none.
func (s *Store) Seal() *seal.Key { return s.cfg.Seal }

// HeldPayment is a held payment with why the claim held it.
type HeldPayment struct {
	Payment *payment.Payment
	// Reason is what the claim found wrong, as audited.
	Reason string
}

// PaymentsHeld lists the held payments, oldest hold first, each with the
// reason of its hold.
func (s *Store) PaymentsHeld(ctx context.Context) ([]HeldPayment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+prefixed("p.", paymentColumns)+`, coalesce(a.detail, '')
		FROM payments p LEFT JOIN LATERAL (SELECT detail FROM audit_log
			WHERE payment_id = p.id AND event = 'approval_mismatch' ORDER BY id DESC LIMIT 1) a ON true
		WHERE p.state = 'held' ORDER BY p.updated_at, p.id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (HeldPayment, error) {
		var h HeldPayment
		var err error
		h.Payment, err = scanPaymentExtra(row, &h.Reason)
		return h, err
	})
}

// PaymentVoid ends a held payment after investigation, on an operator's
// word: it moves to cancelled (its order reference freed for a new
// request), with a sealed timeline entry naming the operator, the status
// event to its upstream and an audit line. Only a held payment can be
// voided, and nothing releases one into a file: money moves only on a new
// request, approved again.
func (s *Store) PaymentVoid(ctx context.Context, id, operator, reason string) (*payment.Payment, error) {
	if strings.TrimSpace(operator) == "" || strings.TrimSpace(reason) == "" {
		return nil, payment.Errorf(payment.CodeReasonRequired, "voiding a held payment needs the operator's name and a reason")
	}
	if validUUIDOrEmpty(id) == "" {
		return nil, fmt.Errorf("payment %s: %w", id, payment.ErrNotFound)
	}
	var out *payment.Payment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err, "payment "+id)
		}
		before := *p
		e, err := p.Apply(payment.ActionVoid, payment.Actor{Kind: payment.ActorSystem, ID: "operator:" + operator}, s.cfg.Now(), reason)
		if err != nil {
			return err
		}
		if err := s.moveTx(ctx, tx, &before, p, e); err != nil {
			return err
		}
		out = p
		return s.auditTx(ctx, tx, AuditEntry{Actor: "admin:" + operator, Event: "payment_voided", PaymentID: p.ID,
			Detail: "held payment voided: " + reason})
	})
	return out, err
}
