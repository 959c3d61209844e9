package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
)

// queueBatchFacts adds to a Facts read what a batch decision needs: the
// batches already recorded under its ids, and the caps of its people and
// their customers.
func queueBatchFacts(b *pgx.Batch, k approval.Keys, f *approval.Facts) {
	f.Batches = map[string]approval.PriorBatch{}
	f.CustomerCaps, f.PersonCaps = map[string]approval.BatchCap{}, map[string]approval.BatchCap{}
	b.Queue(`SELECT id, result, coalesce(actor_id, '') FROM decision_batches WHERE id = ANY($1)`, k.BatchIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "decision batches", func(row pgx.CollectableRow) error {
			var id, actor string
			var raw []byte
			if err := row.Scan(&id, &raw, &actor); err != nil {
				return err
			}
			var res approval.BatchResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("decode batch %s: %w", id, err)
			}
			f.Batches[id] = approval.PriorBatch{Result: res, ActorID: actor}
			return nil
		})
	})
	b.Queue(`SELECT u.id, u.customer_id, c.batch_max_items, coalesce(u.batch_max_items, 0)
		FROM users u JOIN customers c ON c.id = u.customer_id WHERE u.id = ANY($1)`, k.UserIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "batch caps", func(row pgx.CollectableRow) error {
			var user, customer string
			var custMax, userMax int
			if err := row.Scan(&user, &customer, &custMax, &userMax); err != nil {
				return err
			}
			f.CustomerCaps[customer] = approval.BatchCap{MaxItems: custMax, MaxTotal: map[string]int64{}}
			f.PersonCaps[user] = approval.BatchCap{MaxItems: userMax, MaxTotal: map[string]int64{}}
			return nil
		})
	})
	b.Queue(`SELECT coalesce(customer_id, ''), coalesce(user_id, ''), currency, max_minor FROM batch_total_caps
		WHERE user_id = ANY($1) OR customer_id IN (SELECT customer_id FROM users WHERE id = ANY($1))`, k.UserIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "batch total caps", func(row pgx.CollectableRow) error {
			var customer, user, currency string
			var max int64
			if err := row.Scan(&customer, &user, &currency, &max); err != nil {
				return err
			}
			caps, id := f.PersonCaps, user
			if customer != "" {
				caps, id = f.CustomerCaps, customer
			}
			c := caps[id]
			if c.MaxTotal == nil {
				c.MaxTotal = map[string]int64{}
			}
			c.MaxTotal[currency] = max
			caps[id] = c
			return nil
		})
	})
}

// SaveBatches writes batch decision records, one row each.
func (d decisionTx) SaveBatches(ctx context.Context, bs []approval.BatchRecord) error {
	for _, r := range bs {
		raw, err := json.Marshal(r.Result)
		if err != nil {
			return err
		}
		totals, err := json.Marshal(r.Batch.Totals)
		if err != nil {
			return err
		}
		var actor, session any
		if r.ActorID != "" {
			actor = r.ActorID
		}
		if validUUIDOrEmpty(r.Batch.SessionID) != "" {
			session = r.Batch.SessionID
		}
		_, err = d.tx.Exec(ctx, `INSERT INTO decision_batches (id, actor_id, session_id, stage, verdict, all_or_nothing, item_count, totals,
			batch_digest, otp_step, outcome, code, reason, result, mac, decided_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			r.Batch.DecisionID, actor, session, string(r.Batch.Stage), string(r.Batch.Verdict), r.Batch.AllOrNothing, r.Batch.Count, totals,
			r.Batch.BatchDigest, r.OTPStep, r.Result.Outcome, string(r.Result.Code), r.Result.Reason, raw, r.MAC, r.At)
		if err != nil {
			return fmt.Errorf("record batch %s: %w", r.Batch.DecisionID, err)
		}
	}
	return nil
}

// BatchRecord reads a batch decision's record back as it was written
// (for verify and tests): nil when there is none.
func (s *Store) BatchRecord(ctx context.Context, id string) (*approval.BatchRecord, error) {
	var r approval.BatchRecord
	var actor, session *string
	var totals, raw []byte
	var stage, verdict string
	err := s.pool.QueryRow(ctx, `SELECT id, actor_id, session_id::text, stage, verdict, all_or_nothing, item_count, totals, batch_digest, otp_step,
		result, mac, decided_at FROM decision_batches WHERE id = $1`, id).Scan(&r.Batch.DecisionID, &actor, &session, &stage, &verdict,
		&r.Batch.AllOrNothing, &r.Batch.Count, &totals, &r.Batch.BatchDigest, &r.OTPStep, &raw, &r.MAC, &r.At)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read batch %s: %w", id, err)
	}
	r.Batch.Stage, r.Batch.Verdict = payment.Stage(stage), payment.Verdict(verdict)
	if actor != nil {
		r.ActorID = *actor
	}
	if session != nil {
		r.Batch.SessionID = *session
	}
	if err := json.Unmarshal(totals, &r.Batch.Totals); err != nil {
		return nil, fmt.Errorf("read batch %s totals: %w", id, err)
	}
	if err := json.Unmarshal(raw, &r.Result); err != nil {
		return nil, fmt.Errorf("read batch %s result: %w", id, err)
	}
	r.At = r.At.UTC()
	return &r, nil
}

// DecisionBatchIDs lists the batch decisions that the decisions of the
// payments ids belong to, in id order.
func (s *Store) DecisionBatchIDs(ctx context.Context, paymentIDs []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT batch_id FROM decisions
		WHERE batch_id IS NOT NULL AND payment_id::text = ANY($1) ORDER BY batch_id`, paymentIDs)
	if err != nil {
		return nil, fmt.Errorf("list decision batches: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
