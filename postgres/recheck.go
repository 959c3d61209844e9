package postgres

import (
	"context"
	"fmt"
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
// line. Payments and their applied decisions are read a chunk at a time,
// each chunk in one round trip.
func (s *Store) recheckClaimTx(ctx context.Context, tx pgx.Tx, now time.Time) ([]export.Held, error) {
	if s.cfg.Seal == nil {
		return nil, errNoSeal
	}
	var held []export.Held
	var holdPs []*payment.Payment
	var after string
	const chunk = `SELECT id FROM claim WHERE ($1 = '' OR id > $1::uuid) ORDER BY id LIMIT $2`
	for {
		var ps []*payment.Payment
		decided := map[string][]seal.Stored{}
		b := &pgx.Batch{}
		b.Queue(`SELECT `+prefixed("p.", paymentColumns)+` FROM (`+chunk+`) c JOIN payments p ON p.id = c.id ORDER BY p.id`,
			after, claimChunk).Query(func(rows pgx.Rows) error {
			return collect(rows, "claimed payments", func(row pgx.CollectableRow) error {
				p, err := scanPayment(row)
				if err == nil {
					ps = append(ps, p)
				}
				return err
			})
		})
		b.Queue(`SELECT d.payment_id::text, d.stage, d.verdict, d.actor_id, coalesce(d.otp_step, 0), coalesce(d.seal_seq, 0), d.digest, d.mac
			FROM (`+chunk+`) c JOIN decisions d ON d.payment_id = c.id WHERE d.outcome = 'applied'`,
			after, claimChunk).Query(func(rows pgx.Rows) error {
			return collect(rows, "claimed payments' decisions", func(row pgx.CollectableRow) error {
				var id, stage, verdict string
				var d seal.Stored
				err := row.Scan(&id, &stage, &verdict, &d.ActorID, &d.OTPStep, &d.Seq, &d.Digest, &d.MAC)
				d.Stage, d.Verdict = payment.Stage(stage), payment.Verdict(verdict)
				decided[id] = append(decided[id], d)
				return err
			})
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			break
		}
		for _, p := range ps {
			if problems := s.cfg.Seal.CheckApprovals(p, decided[p.ID]); len(problems) > 0 {
				held, holdPs = append(held, export.Held{PaymentID: p.ID, Problems: problems}), append(holdPs, p)
			}
		}
		after = ps[len(ps)-1].ID
	}
	if len(held) == 0 {
		return nil, nil
	}
	ids := make([]string, len(held))
	audits := make([]AuditEntry, len(held))
	for i, h := range held {
		ids[i] = h.PaymentID
		audits[i] = AuditEntry{Actor: "system:export", Event: "approval_mismatch", PaymentID: h.PaymentID, Detail: seal.Summary(h.Problems)}
	}
	// The rest are numbered again, so each batch's payments run 1, 2, … .
	if _, err := tx.Exec(ctx, `DELETE FROM claim WHERE id = ANY($1::uuid[])`, ids); err != nil {
		return nil, fmt.Errorf("take held payments out of the claim: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE claim c SET rn = n.rn
		FROM (SELECT id, row_number() OVER (PARTITION BY bank_id, currency ORDER BY id) AS rn FROM claim) n
		WHERE c.id = n.id`); err != nil {
		return nil, fmt.Errorf("number the claim again: %w", err)
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
