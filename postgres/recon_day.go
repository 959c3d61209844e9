package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/recon"
)

// ReconDay reads the end-of-day figures of the batches settling on day
// and of the entries booked that day that matched no payment
// (recon.Store). Delivery is read from the batch table as it stands: the
// columns delivered_at and acknowledged_at when the table has them, else
// the batch's state (delivered, acknowledged); with neither, the report
// says delivery is unknown.
func (s *Store) ReconDay(ctx context.Context, day time.Time) (recon.Day, error) {
	d := recon.Day{Date: time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)}
	cols, err := s.tableColumns(ctx, "batches")
	if err != nil {
		return d, err
	}
	live, err := s.liveBatchPayments(ctx)
	if err != nil {
		return d, err
	}
	delivered, acknowledged := "b.state IN ('delivered', 'acknowledged')", "b.state = 'acknowledged'"
	if cols["delivered_at"] {
		delivered = "b.delivered_at IS NOT NULL"
	}
	if cols["acknowledged_at"] {
		acknowledged = "b.acknowledged_at IS NOT NULL"
	}
	d.DeliveryKnown = cols["delivered_at"] || cols["acknowledged_at"] || s.batchStatesKnowDelivery(ctx)
	rows, err := s.pool.Query(ctx, `SELECT b.id, b.file_name, b.currency, b.state, `+delivered+`, `+acknowledged+`,
		count(*), sum(p.amount_minor),
		count(*) FILTER (WHERE p.state = 'settled'), coalesce(sum(p.amount_minor) FILTER (WHERE p.state = 'settled'), 0),
		count(*) FILTER (WHERE p.state = 'returned'), coalesce(sum(p.amount_minor) FILTER (WHERE p.state = 'returned'), 0),
		count(*) FILTER (WHERE p.state = 'exported'), coalesce(sum(p.amount_minor) FILTER (WHERE p.state = 'exported'), 0),
		count(*) FILTER (WHERE p.state = 'settled' AND NOT bk.booked), coalesce(sum(p.amount_minor) FILTER (WHERE p.state = 'settled' AND NOT bk.booked), 0),
		coalesce(sum(en.short_n), 0), coalesce(sum(en.short_sum), 0), coalesce(sum(en.dup_n), 0), coalesce(sum(en.dup_sum), 0),
		coalesce(sum(en.conflict_n), 0), coalesce(sum(en.conflict_sum), 0)
		FROM batches b
		JOIN batch_payments bp ON bp.batch_id = b.id`+live+`
		JOIN payments p ON p.id = bp.payment_id
		CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM recon_entries r WHERE r.payment_id = p.id
			AND r.kind = 'settlement' AND r.class = 'settled') AS booked) bk
		LEFT JOIN LATERAL (SELECT
			count(*) FILTER (WHERE r.class = 'short') AS short_n, sum(r.amount_minor) FILTER (WHERE r.class = 'short') AS short_sum,
			count(*) FILTER (WHERE r.class = 'duplicated') AS dup_n, sum(r.amount_minor) FILTER (WHERE r.class = 'duplicated') AS dup_sum,
			count(*) FILTER (WHERE r.class = 'conflict') AS conflict_n, sum(r.amount_minor) FILTER (WHERE r.class = 'conflict') AS conflict_sum
			FROM recon_entries r WHERE r.payment_id = p.id AND r.currency = b.currency) en ON true
		WHERE b.settlement_date = $1
		GROUP BY b.id ORDER BY b.id`, d.Date)
	if err != nil {
		return d, err
	}
	d.Batches, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (recon.Row, error) {
		r := recon.Row{Kind: "batch"}
		var del, ack bool
		err := row.Scan(&r.BatchID, &r.FileName, &r.Currency, &r.State, &del, &ack,
			&r.Exported.Count, &r.Exported.SumMinor, &r.Settled.Count, &r.Settled.SumMinor,
			&r.Returned.Count, &r.Returned.SumMinor, &r.Unanswered.Count, &r.Unanswered.SumMinor,
			&r.NotBooked.Count, &r.NotBooked.SumMinor, &r.Short.Count, &r.Short.SumMinor,
			&r.Duplicated.Count, &r.Duplicated.SumMinor, &r.Conflict.Count, &r.Conflict.SumMinor)
		if del {
			r.Delivered = r.Exported
		}
		if ack {
			r.Acknowledged = r.Exported
		}
		return r, err
	})
	if err != nil {
		return d, err
	}
	d.Unmatched, err = s.reconLooseEntries(ctx, d.Date, live)
	return d, err
}

// reconLooseEntries are the entries of the day that belong to no batch
// row: unmatched entries booked that day (or, without a booking date,
// recorded that day), and mismatched entries of the day's batches booked
// in another currency than their batch's. One row per currency.
func (s *Store) reconLooseEntries(ctx context.Context, day time.Time, live string) ([]recon.Row, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.currency, r.class, count(*), sum(r.amount_minor)
		FROM recon_entries r
		LEFT JOIN batch_payments bp ON bp.payment_id = r.payment_id`+live+`
		LEFT JOIN batches b ON b.id = bp.batch_id
		WHERE (r.class = 'unmatched' AND coalesce(r.booking_date, (r.recorded_at AT TIME ZONE 'UTC')::date) = $1)
		   OR (b.settlement_date = $1 AND r.currency <> b.currency AND r.class IN ('short', 'duplicated', 'conflict'))
		GROUP BY 1, 2 ORDER BY 1, 2`, day)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recon.Row
	for rows.Next() {
		var ccy, class string
		var f recon.Figure
		if err := rows.Scan(&ccy, &class, &f.Count, &f.SumMinor); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Currency != ccy {
			out = append(out, recon.Row{Kind: "unmatched", Currency: ccy})
		}
		r := &out[len(out)-1]
		switch recon.Class(class) {
		case recon.ClassUnmatched:
			r.Unmatched = f
		case recon.ClassShort:
			r.Short = f
		case recon.ClassDuplicated:
			r.Duplicated = f
		case recon.ClassConflict:
			r.Conflict = f
		}
	}
	return out, rows.Err()
}

// tableColumns are the columns of a table of the current schema.
func (s *Store) tableColumns(ctx context.Context, table string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, err
}

// liveBatchPayments is the join condition that keeps a payment in its live
// batch only, when batch_payments says which (a re-issued file's payments
// move to the new batch and their old rows stay, no longer live); "" when
// a payment is in one batch ever.
func (s *Store) liveBatchPayments(ctx context.Context) (string, error) {
	cols, err := s.tableColumns(ctx, "batch_payments")
	if err != nil || !cols["live"] {
		return "", err
	}
	return " AND bp.live", nil
}

// batchStatesKnowDelivery reports whether the batches' state check allows
// a delivered state.
func (s *Store) batchStatesKnowDelivery(ctx context.Context) bool {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint
		WHERE conrelid = 'batches'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%delivered%')`).Scan(&ok)
	return err == nil && ok
}
