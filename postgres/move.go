package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// moveTx writes one change of state the domain made: the payment row
// (guarded by the state and version it was read with), the timeline entry,
// and what follows (status event, next task).
func (s *Store) moveTx(ctx context.Context, tx pgx.Tx, before, p *payment.Payment, e payment.Entry) error {
	if err := paymentUpdateTx(ctx, tx, before, p); err != nil {
		return err
	}
	if err := s.timelineCopyTx(ctx, tx, []payment.Entry{e}, []string{p.Digest()}); err != nil {
		return err
	}
	return s.afterChangeTx(ctx, tx, p, e)
}

// afterChangeTx writes what follows a change of state (changeMessages),
// counting the payment's applied authorizations when it waits for more.
func (s *Store) afterChangeTx(ctx context.Context, tx pgx.Tx, p *payment.Payment, e payment.Entry) error {
	done := 0
	if stage, ok := payment.StageOf(p.State); ok && stage == payment.StageAuthorization {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM decisions WHERE payment_id = $1 AND stage = 'authorization' AND outcome = 'applied'`,
			p.ID).Scan(&done); err != nil {
			return err
		}
	}
	msgs, err := s.changeMessages(p, e, done)
	if err != nil {
		return err
	}
	return outboxCopyTx(ctx, tx, msgs, e.At)
}

// changeMessages is what follows a change of state: the status event to
// the upstream and, when the payment now waits for a stage, its task,
// which says how many authorizations are done.
func (s *Store) changeMessages(p *payment.Payment, e payment.Entry, authorizationsDone int) ([]outbox.Message, error) {
	ev, err := s.cfg.EventMessage(payment.StateChangedEvent(p, e))
	if err != nil {
		return nil, fmt.Errorf("encode event of %s: %w", p.ID, err)
	}
	msgs := []outbox.Message{ev}
	if task, ok, err := s.taskMessage(p, authorizationsDone); err != nil {
		return nil, err
	} else if ok {
		msgs = append(msgs, task)
	}
	return msgs, nil
}

// taskMessage builds the task for the stage p now waits for, given how
// many authorizations it has; ok is false when p waits for none.
func (s *Store) taskMessage(p *payment.Payment, authorizationsDone int) (m outbox.Message, ok bool, err error) {
	stage, ok := payment.StageOf(p.State)
	if !ok || s.cfg.TaskMessage == nil {
		return outbox.Message{}, false, nil
	}
	m, err = s.cfg.TaskMessage(p, stage, authorizationsDone)
	if err != nil {
		return outbox.Message{}, false, fmt.Errorf("encode task of %s: %w", p.ID, err)
	}
	return m, true, nil
}

// paymentUpdateTx writes p's new state, guarded by the state and version
// it was read with: zero rows means somebody else changed it first.
func paymentUpdateTx(ctx context.Context, tx pgx.Tx, before, p *payment.Payment) error {
	tag, err := tx.Exec(ctx, `UPDATE payments SET state = $3, version = $4, updated_at = $5, head_hash = $6
		WHERE id = $1 AND version = $2 AND state = $7`,
		p.ID, before.Version, string(p.State), p.Version, p.UpdatedAt, p.HeadHash, string(before.State))
	if err != nil {
		return fmt.Errorf("update payment %s: %w", p.ID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("update payment %s: %w", p.ID, payment.Errorf(payment.CodeConflict, "payment %s changed meanwhile", p.ID))
	}
	return nil
}
