package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/outbox"
)

// OutboxChannel is the LISTEN/NOTIFY channel that announces new outbox rows.
const OutboxChannel = "b2bpay_outbox"

// outboxInsertTx writes one outbox message (the same row encoding as
// outboxCopyTx, which it calls).
func outboxInsertTx(ctx context.Context, tx pgx.Tx, m outbox.Message, now time.Time) error {
	return outboxCopyTx(ctx, tx, []outbox.Message{m}, now)
}

// The outbox relay claims and marks through this store.
var _ outbox.Store = (*Store)(nil)

// OutboxLease is how long a claimed message is left to its relay before
// another relay may publish it again.
const OutboxLease = 10 * time.Second

// OutboxClaim takes up to limit messages due for publishing, oldest first,
// and leases them for OutboxLease: it pushes their available_at forward and
// commits, so no transaction is open while they are published. A relay that
// dies before OutboxMark leaves them to be claimed again when the lease ends.
func (s *Store) OutboxClaim(ctx context.Context, limit int) ([]outbox.Message, error) {
	var msgs []outbox.Message
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.cfg.Now().UTC()
		batch := &pgx.Batch{}
		batch.Queue(`UPDATE outbox SET available_at = $3
			WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND available_at <= $2
				ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING id, message_id, exchange, routing_key, content_type, headers, body, attempts, discard_unroutable`,
			limit, now, now.Add(OutboxLease)).Query(func(rows pgx.Rows) error {
			var err error
			msgs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (outbox.Message, error) {
				var m outbox.Message
				var headers []byte
				err := row.Scan(&m.ID, &m.MessageID, &m.Exchange, &m.RoutingKey, &m.ContentType, &headers, &m.Body, &m.Attempts, &m.DiscardUnroutable)
				if err == nil && len(headers) > 0 {
					err = json.Unmarshal(headers, &m.Headers)
				}
				return m, err
			})
			return err
		})
		return tx.SendBatch(ctx, batch).Close()
	})
	slices.SortFunc(msgs, func(a, b outbox.Message) int { return cmp.Compare(a.ID, b.ID) })
	return msgs, err
}

// OutboxMark records the outcome of publishing claimed messages: errs[i]
// nil marks msgs[i] sent; an error leaves it pending, retried after a
// backoff, with the error kept for operators. A sent message is deleted
// (one small WAL record, no new row version): its fact is in the
// payment's timeline and the intake ledger. Dead-letter copies (message
// id "dead/…") stay, marked sent: the operations page shows them.
func (s *Store) OutboxMark(ctx context.Context, msgs []outbox.Message, errs []error) error {
	if len(errs) != len(msgs) {
		return fmt.Errorf("postgres: outbox mark: %d results for %d messages", len(errs), len(msgs))
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.cfg.Now().UTC()
		batch := &pgx.Batch{}
		var okIDs []int64
		for i, m := range msgs {
			if errs[i] == nil {
				okIDs = append(okIDs, m.ID)
				continue
			}
			batch.Queue(`UPDATE outbox SET attempts = attempts + 1, last_error = $2, available_at = $3
				WHERE id = $1 AND sent_at IS NULL`, m.ID, errs[i].Error(), now.Add(backoff(m.Attempts)))
		}
		if len(okIDs) > 0 {
			batch.Queue(`WITH gone AS (DELETE FROM outbox WHERE id = ANY($1) AND sent_at IS NULL AND message_id NOT LIKE 'dead/%')
				UPDATE outbox SET sent_at = $2, attempts = attempts + 1
				WHERE id = ANY($1) AND sent_at IS NULL AND message_id LIKE 'dead/%'`, okIDs, now)
		}
		return tx.SendBatch(ctx, batch).Close()
	})
}

// OutboxStats reports the number of pending messages and the age of the
// oldest, for alerts.
func (s *Store) OutboxStats(ctx context.Context) (pending int, oldest time.Duration, stuck int, err error) {
	var oldestAt *time.Time
	err = s.pool.QueryRow(ctx, `SELECT count(*), min(created_at), count(*) FILTER (WHERE attempts > 0)
		FROM outbox WHERE sent_at IS NULL`).Scan(&pending, &oldestAt, &stuck)
	if err == nil && oldestAt != nil {
		oldest = s.cfg.Now().Sub(*oldestAt)
	}
	return pending, oldest, stuck, err
}

// backoff is the wait before a failed publish is tried again: 1 s doubling
// to at most 1 minute.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts, 6)
	return min(d, time.Minute)
}

// outboxCopyTx writes many outbox messages with COPY.
func outboxCopyTx(ctx context.Context, tx pgx.Tx, msgs []outbox.Message, now time.Time) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"},
		[]string{"message_id", "exchange", "routing_key", "content_type", "headers", "body", "created_at", "available_at", "discard_unroutable"},
		pgx.CopyFromSlice(len(msgs), func(i int) ([]any, error) {
			m := msgs[i]
			headers := []byte("{}")
			if m.Headers != nil {
				var err error
				if headers, err = json.Marshal(m.Headers); err != nil {
					return nil, err
				}
			}
			ct := m.ContentType
			if ct == "" {
				ct = "application/json"
			}
			return []any{m.MessageID, m.Exchange, m.RoutingKey, ct, string(headers), m.Body, now, now, m.DiscardUnroutable}, nil
		}))
	if err != nil {
		return fmt.Errorf("write outbox messages: %w", err)
	}
	return nil
}
