package server

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestDeliveryMetrics reads the delivery gauges from the database (files
// delivered past the acknowledgement timeout, deliveries failing) and the
// counters the deliverer and the reports feed.
func TestDeliveryMetrics(t *testing.T) {
	ctx := context.Background()
	url := testkit.NewDatabase(t)
	a, err := Open(ctx, Config{DatabaseURL: url, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	m := NewMetrics(a.Store)
	require.Zero(t, scrape(t, m, "b2bpay_batches_unacknowledged"))
	require.Zero(t, scrape(t, m, "b2bpay_batches_delivery_failed"))

	require.NoError(t, a.Store.BankCreate(ctx, payment.Bank{ID: bankB2B, Name: "Bank", B2B: true}))
	var run int64
	require.NoError(t, a.Pool.QueryRow(ctx, `INSERT INTO cutoff_runs (cutoff_at, started_at, runner, kind)
		VALUES (now() - interval '1 day', now(), 'test', 'manual') RETURNING id`).Scan(&run))
	for i, b := range []struct{ state, delivered string }{
		{"delivered", "3 hours"}, {"delivered", "10 minutes"}, {"delivery_failed", ""}, {"acknowledged", "5 hours"},
	} {
		_, err := a.Pool.Exec(ctx, `INSERT INTO batches (id, cutoff_run_id, debtor_bank_id, currency, settlement_date, format,
			file_name, count, control_sum_minor, state, sha256, created_at, delivered_at) VALUES ($1, $2, $3, 'CNY', current_date,
			'pacs.008.001.08', $1 || '.xml', 1, 100, $4, 'ab', now(), now() - nullif($5, '')::interval)`,
			"B-"+strconv.Itoa(i), run, bankB2B, b.state, b.delivered)
		require.NoError(t, err)
	}
	require.Equal(t, 1.0, scrape(t, m, "b2bpay_batches_unacknowledged"), "past the default 2 h")
	require.Equal(t, 1.0, scrape(t, m, "b2bpay_batches_delivery_failed"))

	d := &export.Deliverer{AckTimeout: 4 * time.Hour}
	r := &export.Reports{}
	m.countDelivery(d, r)
	require.Zero(t, scrape(t, m, "b2bpay_batches_unacknowledged"), "within --ack-timeout")
	d.Counted("delivered")
	d.Counted("failed")
	d.Counted("failed")
	r.Acked(export.AckOutcome{Changed: true, State: export.BatchRejected})
	require.Equal(t, 1.0, scrapeOnly(t, m, `b2bpay_batch_deliveries_total{outcome="delivered"}`))
	require.Equal(t, 2.0, scrapeOnly(t, m, `b2bpay_batch_deliveries_total{outcome="failed"}`))
	require.Equal(t, 1.0, scrapeOnly(t, m, `b2bpay_batch_acknowledgements_total{state="rejected"}`))
	require.Zero(t, scrapeOnly(t, m, `b2bpay_batch_acknowledgements_total{state="acknowledged"}`))
}
