package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// settles and returns map transaction statuses to actions; other known
// statuses (accepted, pending) change nothing.
var (
	settles = map[string]bool{"ACSC": true, "ACCC": true}
	returns = map[string]bool{"RJCT": true}
)

// StatusReportApply applies a status report in one transaction: each entry
// must name a payment of the batch it claims, exported (or already in the
// state the entry reports); settled statuses settle it, rejections return
// it with the reason code; every change gets its timeline entry and status
// event. Any entry that does not match refuses the whole report with a
// *export.ReportRefusal (nothing applied) — the caller quarantines it. A report
// already applied gives export.ErrReportSeen; one quarantined before is refused
// again.
func (s *Store) StatusReportApply(ctx context.Context, sha256, fileName, messageID string, entries []export.ReportEntry) (int, error) {
	applied := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		applied = 0
		var outcome, reason string
		err := tx.QueryRow(ctx, `SELECT outcome, reason FROM status_reports WHERE sha256 = $1`, sha256).Scan(&outcome, &reason)
		switch {
		case err == nil && outcome == "quarantined":
			// Refused before: refused again, not passed off as processed.
			return &export.ReportRefusal{Reason: "quarantined before: " + reason}
		case err == nil:
			return export.ErrReportSeen
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		now := s.cfg.Now().UTC().Truncate(time.Microsecond)
		for i, en := range entries {
			changed, err := s.reportEntryTx(ctx, tx, en, messageID, now)
			if err != nil {
				var rr *export.ReportRefusal
				if errors.As(err, &rr) {
					return &export.ReportRefusal{Reason: fmt.Sprintf("entry %d: %s", i+1, rr.Reason)}
				}
				return err
			}
			if changed {
				applied++
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO status_reports (sha256, file_name, message_id, outcome, entries, received_at)
			VALUES ($1, $2, $3, 'applied', $4, $5)`, sha256, fileName, payment.Text(messageID), len(entries), now)
		return err
	})
	return applied, err
}

func (s *Store) reportEntryTx(ctx context.Context, tx pgx.Tx, en export.ReportEntry, messageID string, now time.Time) (bool, error) {
	if uuid.Validate(en.PaymentID) != nil {
		return false, &export.ReportRefusal{Reason: fmt.Sprintf("transaction id %q is not a b2bpay payment id", payment.Clip(en.PaymentID, 80))}
	}
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+prefixed("p.", paymentColumns)+` FROM payments p
		JOIN batch_payments bp ON bp.payment_id = p.id WHERE p.id = $1 AND bp.batch_id = $2 AND bp.live FOR UPDATE OF p`, en.PaymentID, en.BatchID))
	if errors.Is(err, pgx.ErrNoRows) {
		return false, &export.ReportRefusal{Reason: fmt.Sprintf("payment %s is not in batch %s", en.PaymentID, payment.Clip(en.BatchID, 80))}
	}
	if err != nil {
		return false, err
	}
	var action payment.Action
	switch {
	case settles[en.Status]:
		action = payment.ActionSettle
		if p.State == payment.StateSettled {
			return false, nil // reported again: nothing to do
		}
	case returns[en.Status]:
		action = payment.ActionReturn
		if p.State == payment.StateReturned {
			return false, nil
		}
	default:
		return false, nil // accepted or pending: no change of state
	}
	if p.State != payment.StateExported {
		return false, &export.ReportRefusal{Reason: fmt.Sprintf("payment %s is %s; a report cannot %s it", p.ID, p.State, action)}
	}
	note := "status report " + payment.Text(messageID) + ": " + en.Status
	if en.Info != "" {
		note += " (" + payment.Text(payment.Clip(en.Info, 80)) + ")"
	}
	err = s.applyManyTx(ctx, tx, []*payment.Payment{p}, now, func(int, *payment.Payment) (payment.Action, payment.Actor, string, payment.Code) {
		return action, payment.Actor{Kind: payment.ActorSystem, ID: "clearing"}, note, payment.Code(payment.Text(en.ReasonCode))
	})
	return err == nil, err
}

// StatusReportQuarantine records a report that was refused, once.
func (s *Store) StatusReportQuarantine(ctx context.Context, sha256, fileName, messageID, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO status_reports (sha256, file_name, message_id, outcome, reason, received_at)
		VALUES ($1, $2, $3, 'quarantined', $4, $5) ON CONFLICT (sha256) DO NOTHING`,
		sha256, payment.Text(fileName), payment.Text(messageID), payment.Text(reason), s.cfg.Now().UTC())
	return err
}
