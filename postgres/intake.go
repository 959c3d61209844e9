package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
)

// The intake contract's types, under the names this package's callers used
// before they moved to package intake.
type (
	// Submission is intake.Submission.
	Submission = intake.Submission
	// Outcome is intake.Outcome.
	Outcome = intake.Outcome
	// Rejection is intake.Rejection.
	Rejection = intake.Rejection
)

var _ intake.Store = (*Store)(nil)

// eventTx writes a status event to the outbox.
func (s *Store) eventTx(ctx context.Context, tx pgx.Tx, ev payment.Event, now time.Time) error {
	m, err := s.cfg.EventMessage(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	return outboxInsertTx(ctx, tx, m, now)
}

// IntakeReject records a rejected message once and writes its dead-letter
// copy (and answer) to the outbox. A redelivery of the same message changes
// nothing; first reports whether this call was the first.
func (s *Store) IntakeReject(ctx context.Context, r Rejection) (first bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.cfg.Now().UTC()
		first, err = rejectOnceTx(ctx, tx, r.Key, r.UpstreamID, r.Code, r.Reason, now)
		if err != nil || !first {
			return err
		}
		if err := outboxInsertTx(ctx, tx, r.DeadLetter, now); err != nil {
			return err
		}
		if r.Answer != nil {
			return s.eventTx(ctx, tx, *r.Answer, now)
		}
		return nil
	})
	return first, err
}

func rejectOnceTx(ctx context.Context, tx pgx.Tx, key, upstreamID string, code payment.Code, reason string, now time.Time) (bool, error) {
	var up any
	if upstreamID != "" {
		up = upstreamID
	}
	tag, err := tx.Exec(ctx, `INSERT INTO intake_rejects (message_key, upstream_id, code, reason, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_key) DO NOTHING`, key, up, string(code), payment.Text(reason), now)
	if err != nil {
		return false, fmt.Errorf("record rejected message: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func toRoles(ss []string) []payment.Role {
	out := make([]payment.Role, len(ss))
	for i, s := range ss {
		out[i] = payment.Role(s)
	}
	return out
}
