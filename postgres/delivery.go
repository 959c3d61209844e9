package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// Delivery, acknowledgement and re-issue of batches (migration 0014).
var _ export.DeliveryStore = (*Store)(nil)

// BatchesToDeliver lists the written batches and the failed ones whose
// next attempt has come, oldest first.
func (s *Store) BatchesToDeliver(ctx context.Context, now time.Time, limit int) ([]export.Batch, error) {
	return s.batchList(ctx, `WHERE b.state = 'written' OR (b.state = 'delivery_failed' AND b.next_attempt_at <= $1)
		ORDER BY b.created_at, b.id LIMIT $2`, now.UTC(), limit)
}

// BatchDelivered records a file's delivery and sends each of its payments
// a file_status event (delivered). A batch already past written or
// delivery_failed is left as it is (changed false).
func (s *Store) BatchDelivered(ctx context.Context, id, to string) (bool, error) {
	changed := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.cfg.Now().UTC()
		tag, err := tx.Exec(ctx, `UPDATE batches SET state = 'delivered', delivered_at = $2, delivered_to = $3,
			delivery_attempts = 0, next_attempt_at = NULL, last_error = ''
			WHERE id = $1 AND state IN ('written', 'delivery_failed')`, id, now, payment.Text(to))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		return s.fileEventsTx(ctx, tx, id, payment.FileDelivered, "", "delivered to "+to, now)
	})
	return changed, err
}

// BatchDeliveryFailed records a failed attempt at a written (or already
// failed) batch: the attempts so far, the next one's time, the error.
func (s *Store) BatchDeliveryFailed(ctx context.Context, id string, attempts int, next time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE batches SET state = 'delivery_failed', delivery_attempts = $2, next_attempt_at = $3,
		last_error = $4 WHERE id = $1 AND state IN ('written', 'delivery_failed')`,
		id, attempts, next.UTC(), payment.Text(payment.Clip(reason, 1000)))
	return err
}

// BatchesUnacknowledged lists the batches delivered before before and not
// acknowledged (nor rejected) since.
func (s *Store) BatchesUnacknowledged(ctx context.Context, before time.Time) ([]export.Batch, error) {
	return s.batchList(ctx, `WHERE b.state = 'delivered' AND b.delivered_at < $1 ORDER BY b.delivered_at, b.id`, before.UTC())
}

// BatchUnackedAlerted marks the batch as alerted for its missing
// acknowledgement; first is true the first time.
func (s *Store) BatchUnackedAlerted(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE batches SET unacked_alert_at = $2 WHERE id = $1 AND unacked_alert_at IS NULL`,
		id, s.cfg.Now().UTC())
	return err == nil && tag.RowsAffected() == 1, err
}

// DeliveryStats counts the batches by state, and those delivered before
// before and not acknowledged: the figures of the delivery gauges.
func (s *Store) DeliveryStats(ctx context.Context, before time.Time) (byState map[string]int, unacked int, err error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM batches GROUP BY state`)
	if err != nil {
		return nil, 0, err
	}
	byState = map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return nil, 0, err
		}
		byState[st] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM batches WHERE state = 'delivered' AND delivered_at < $1`, before.UTC()).Scan(&unacked)
	return byState, unacked, err
}

// BatchAcknowledge applies a pacs.002 group status to the file whose
// message id is batchID: an accepting status (export.AckAccepts) moves a
// written, delivered or failed batch to acknowledged, RJCT to rejected,
// each with a file_status event per payment. A status the batch already
// has changes nothing; a rejection after an acceptance (or the reverse),
// an unknown batch or one whose file is not written is refused
// (*export.ReportRefusal). A superseded batch is not changed; an
// acceptance of one is reported (Outcome.Superseded) for its alert.
func (s *Store) BatchAcknowledge(ctx context.Context, batchID, status, reason string) (export.AckOutcome, error) {
	var out export.AckOutcome
	target, fileStatus := export.BatchAcknowledged, payment.FileAcknowledged
	if !export.AckAccepts(status) {
		target, fileStatus = export.BatchRejected, payment.FileRejected
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = export.AckOutcome{}
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM batches WHERE id = $1 FOR UPDATE`, batchID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return &export.ReportRefusal{Reason: fmt.Sprintf("original message id %q is not a b2bpay file", payment.Clip(batchID, 80))}
		}
		if err != nil {
			return err
		}
		out.State = state
		switch state {
		case target:
			return nil
		case export.BatchSuperseded:
			out.Superseded = target == export.BatchAcknowledged
			return nil
		case export.BatchWritten, export.BatchDelivered, export.BatchDeliveryFailed:
		default:
			return &export.ReportRefusal{Reason: fmt.Sprintf("file %s is %s: group status %s cannot apply", batchID, state, status)}
		}
		now := s.cfg.Now().UTC()
		if _, err := tx.Exec(ctx, `UPDATE batches SET state = $2, ack_status = $3, ack_reason = $4, acknowledged_at = $5,
			next_attempt_at = NULL WHERE id = $1`, batchID, target, payment.Text(status), payment.Text(payment.Clip(reason, 500)), now); err != nil {
			return err
		}
		out.Changed, out.State = true, target
		return s.fileEventsTx(ctx, tx, batchID, fileStatus, payment.Code(payment.Text(status)), payment.Clip(reason, 200), now)
	})
	return out, err
}

// fileEventsTx writes a file_status event for each payment live in the
// batch, with one COPY into the outbox.
func (s *Store) fileEventsTx(ctx context.Context, tx pgx.Tx, batchID, status string, code payment.Code, reason string, now time.Time) error {
	rows, err := tx.Query(ctx, `SELECT `+prefixed("p.", paymentColumns)+` FROM batch_payments bp
		JOIN payments p ON p.id = bp.payment_id WHERE bp.batch_id = $1 AND bp.live ORDER BY bp.seq`, batchID)
	if err != nil {
		return err
	}
	var msgs []outbox.Message
	for rows.Next() {
		p, err := scanPaymentExtra(rows)
		if err != nil {
			rows.Close()
			return err
		}
		m, err := s.cfg.EventMessage(payment.FileStatusEvent(p, batchID, status, code, payment.Text(reason), now))
		if err != nil {
			rows.Close()
			return err
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return outboxCopyTx(ctx, tx, msgs, now)
}

// BatchReissue re-issues a rejected or lost (delivered, never
// acknowledged) batch, in one transaction: a new batch, claimed, with a
// new id (the old one's with -R<n>), holds the old batch's payments still
// exported, renumbered; the old batch's payments stop being live in it (a
// payment is live in one batch at most: a unique index), the old batch is
// superseded by the new one, the audit trail says who, why, old and new
// ids, and each payment's upstream gets a file_status event (reissued).
func (s *Store) BatchReissue(ctx context.Context, r export.Reissue) (export.Batch, error) {
	var newID string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM batches WHERE id = $1 FOR UPDATE`, r.BatchID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("batch %s: %w", r.BatchID, payment.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state != export.BatchRejected && state != export.BatchDelivered {
			return payment.Errorf(payment.CodeConflict, "batch %s is %s: only a rejected file, or one delivered and never acknowledged, is re-issued", r.BatchID, state)
		}
		newID = reissueID(r.BatchID)
		now := s.cfg.Now().UTC()
		tag, err := tx.Exec(ctx, `INSERT INTO batches (id, cutoff_run_id, debtor_bank_id, currency, settlement_date, format,
			file_name, count, control_sum_minor, state, created_at, outbound_dir, reissue_of)
			SELECT $2, b.cutoff_run_id, b.debtor_bank_id, b.currency, b.settlement_date, b.format, $3, x.n, x.total, 'claimed', $4, b.outbound_dir, b.id
			FROM batches b, (SELECT count(*) AS n, sum(p.amount_minor) AS total FROM batch_payments bp JOIN payments p ON p.id = bp.payment_id
				WHERE bp.batch_id = $1 AND bp.live AND p.state = 'exported') x
			WHERE b.id = $1 AND x.n > 0`, r.BatchID, newID, r.FileName(newID), now)
		if err != nil {
			return fmt.Errorf("create batch %s: %w", newID, err)
		}
		if tag.RowsAffected() == 0 {
			return payment.Errorf(payment.CodeConflict, "batch %s holds no payment still exported: nothing to re-issue", r.BatchID)
		}
		if _, err := tx.Exec(ctx, `WITH moved AS (
				UPDATE batch_payments SET live = false WHERE batch_id = $1 AND live RETURNING seq, payment_id, debtor_name)
			INSERT INTO batch_payments (batch_id, seq, payment_id, debtor_name, live)
			SELECT $2, row_number() OVER (ORDER BY m.seq), m.payment_id, m.debtor_name, true
			FROM moved m JOIN payments p ON p.id = m.payment_id WHERE p.state = 'exported'`, r.BatchID, newID); err != nil {
			return fmt.Errorf("move the payments to batch %s: %w", newID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE batches SET state = 'superseded', superseded_by = $2 WHERE id = $1`, r.BatchID, newID); err != nil {
			return err
		}
		if err := s.auditTx(ctx, tx, AuditEntry{Actor: "operator:" + r.Operator, Event: "batch_reissued",
			Detail: fmt.Sprintf("batch %s (%s) re-issued as %s: %s", r.BatchID, state, newID, r.Reason)}); err != nil {
			return err
		}
		return s.fileEventsTx(ctx, tx, newID, payment.FileReissued, "", "file "+r.BatchID+" re-issued as "+newID+": "+r.Reason, now)
	})
	if err != nil {
		return export.Batch{}, err
	}
	return s.BatchGet(ctx, newID)
}

// reissueID names the re-issue of a batch: B…-0001 → B…-0001-R1, and
// B…-0001-R1 → B…-0001-R2.
func reissueID(id string) string {
	if i := strings.LastIndex(id, "-R"); i > 0 {
		if n, err := strconv.Atoi(id[i+2:]); err == nil && n > 0 {
			return id[:i] + "-R" + strconv.Itoa(n+1)
		}
	}
	return id + "-R1"
}
