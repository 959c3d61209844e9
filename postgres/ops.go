package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
)

// The operations views read what the commands and metrics read (BatchList,
// BatchGet, CutoffHorizon, CutoffRunsBetween, OutboxStats) and these.
var _ ops.Store = (*Store)(nil)

// CutoffRuns lists the latest limit cutoff runs, newest first, each with
// its batches not yet written.
func (s *Store) CutoffRuns(ctx context.Context, limit int) ([]ops.CutoffRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.cutoff_at, r.started_at, r.finished_at, r.kind, r.runner, r.batches, r.payments,
		(SELECT count(*) FROM batches b WHERE b.cutoff_run_id = r.id AND b.state = 'claimed')
		FROM cutoff_runs r ORDER BY r.cutoff_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ops.CutoffRun, error) {
		var r ops.CutoffRun
		var finished *time.Time
		err := row.Scan(&r.CutoffAt, &r.StartedAt, &finished, &r.Kind, &r.Runner, &r.Batches, &r.Payments, &r.Unwritten)
		if finished != nil {
			r.FinishedAt = *finished
		}
		return r, err
	})
}

// BatchStates counts, for each batch of ids, its payments by state.
func (s *Store) BatchStates(ctx context.Context, ids []string) (map[string]map[payment.State]int, error) {
	out := make(map[string]map[payment.State]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT bp.batch_id, p.state, count(*) FROM batch_payments bp
		JOIN payments p ON p.id = bp.payment_id WHERE bp.batch_id = ANY($1) GROUP BY 1, 2`, ids)
	if err != nil {
		return nil, err
	}
	var id, state string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &state, &n}, func() error {
		if out[id] == nil {
			out[id] = map[payment.State]int{}
		}
		out[id][payment.State(state)] = n
		return nil
	})
	return out, err
}

// StatusReports lists the latest limit status reports read, newest first.
func (s *Store) StatusReports(ctx context.Context, limit int) ([]ops.Report, error) {
	rows, err := s.pool.Query(ctx, `SELECT sha256, file_name, message_id, outcome, reason, entries, received_at
		FROM status_reports ORDER BY received_at DESC, sha256 LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ops.Report, error) {
		var r ops.Report
		err := row.Scan(&r.SHA256, &r.FileName, &r.MessageID, &r.Outcome, &r.Reason, &r.Entries, &r.ReceivedAt)
		return r, err
	})
}

// DeadLetters lists the latest limit messages rejected at intake or by the
// decision worker (intake_rejects) and requests the intake refused (the
// ledger's refused rows), newest first. A rejected message carries the
// first excerpt bytes of its dead-letter copy's body, when the outbox
// still holds it, and that body's size; the whole body is never read.
func (s *Store) DeadLetters(ctx context.Context, limit, excerpt int) ([]ops.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `WITH d AS (
			(SELECT 'rejected' AS source, message_key AS key, coalesce(upstream_id, '') AS upstream_id, '' AS request_id,
				code, reason, received_at FROM intake_rejects ORDER BY received_at DESC LIMIT $1)
			UNION ALL
			(SELECT 'refused', upstream_id || '/' || request_id, upstream_id, request_id, code,
				coalesce(answer->>'reason', ''), received_at FROM intake_requests WHERE outcome = 'refused'
				ORDER BY received_at DESC LIMIT $1)
			ORDER BY received_at DESC, key LIMIT $1),
		copies AS (SELECT DISTINCT ON (message_id) message_id, substring(body FROM 1 FOR $2) AS excerpt, octet_length(body) AS size
			FROM outbox WHERE message_id IN (SELECT 'dead/' || key FROM d WHERE source = 'rejected') ORDER BY message_id, id)
		SELECT d.source, d.key, d.upstream_id, d.request_id, d.code, d.reason, d.received_at, c.excerpt, coalesce(c.size, 0)
		FROM d LEFT JOIN copies c ON d.source = 'rejected' AND c.message_id = 'dead/' || d.key
		ORDER BY d.received_at DESC, d.key`, limit, excerpt)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ops.DeadLetter, error) {
		var d ops.DeadLetter
		err := row.Scan(&d.Source, &d.Key, &d.UpstreamID, &d.RequestID, &d.Code, &d.Reason, &d.ReceivedAt, &d.Excerpt, &d.BodyBytes)
		return d, err
	})
}

// OutboxFailing lists at most limit pending outbox messages that failed at
// least once, oldest first, without their bodies.
func (s *Store) OutboxFailing(ctx context.Context, limit int) ([]ops.OutboxMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, message_id, exchange, routing_key, attempts, last_error, created_at, available_at
		FROM outbox WHERE sent_at IS NULL AND attempts > 0 ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ops.OutboxMessage, error) {
		var m ops.OutboxMessage
		err := row.Scan(&m.ID, &m.MessageID, &m.Exchange, &m.RoutingKey, &m.Attempts, &m.LastError, &m.CreatedAt, &m.AvailableAt)
		return m, err
	})
}
