package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/postgres"
)

// DeliverySettings configure the delivery of written files to the
// clearing gateway, as the command line gives them.
type DeliverySettings struct {
	// Target is where files go (export.ParseTarget: sftp://… or dir:…);
	// an empty Spec delivers nothing (files stay in the outbound directory).
	Target export.TargetSettings
	// AckTimeout is how long a delivered file may wait for its
	// acknowledgement before the alert (export.DefaultAckTimeout when 0).
	AckTimeout time.Duration
	// RetryMin and RetryMax bound the wait after a failed delivery.
	RetryMin, RetryMax time.Duration
}

// Deliverer builds the delivery of the export's files, or nil when no
// target is configured. The target is checked here (key, host key), once.
func (a *App) Deliverer(ec ExportConfig) (*export.Deliverer, error) {
	t, err := export.ParseTarget(ec.delivery.Target)
	if err != nil || t == nil {
		return nil, err
	}
	return &export.Deliverer{Store: a.Store, Target: t, Dir: ec.outbound, MinBackoff: ec.delivery.RetryMin,
		MaxBackoff: ec.delivery.RetryMax, AckTimeout: ec.delivery.AckTimeout, Log: a.Log, Crash: export.CrashFromEnv}, nil
}

// deliverAfter delivers what is due, if delivery is configured, and says
// what it did on w (nil: nothing printed).
func deliverAfter(ctx context.Context, w io.Writer, d *export.Deliverer) error {
	if d == nil {
		return nil
	}
	sum, err := d.RunOnce(ctx)
	if w != nil && (sum.Delivered > 0 || sum.Failed > 0) {
		fmt.Fprintf(w, "delivered %d files to %s, %d failed (retried by serve)\n", sum.Delivered, d.Target.Name(), sum.Failed)
	}
	return err
}

// BatchReissue writes a new file for a rejected or lost batch and
// supersedes it, then delivers it when delivery is configured.
func (a *App) BatchReissue(ctx context.Context, w io.Writer, ec ExportConfig, id, operator, reason string) error {
	x, _, err := a.Exporter(ec)
	if err != nil {
		return err
	}
	d, err := a.Deliverer(ec)
	if err != nil {
		return err
	}
	nb, err := x.Reissue(ctx, id, operator, reason)
	if nb.ID != "" {
		fmt.Fprintf(w, "batch %s superseded by %s: %d payments in %s\n", id, nb.ID, nb.Count, nb.FileName)
	}
	if err != nil {
		return err
	}
	return deliverAfter(ctx, w, d)
}

// deliveryMetrics are the delivery's and acknowledgement's metrics.
type deliveryMetrics struct {
	deliveries *prometheus.CounterVec
	acks       *prometheus.CounterVec
	mu         sync.Mutex
	unacked    float64
	failed     float64
}

// registerDelivery adds the delivery metrics: counters of deliveries
// (delivered, failed) and acknowledgements (acknowledged, rejected), and
// gauges of the files delivered and not acknowledged within the timeout
// and of the files whose delivery is failing, read from the database with
// the other figures.
func (m *Metrics) registerDelivery() {
	dm := &deliveryMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_batch_deliveries_total",
			Help: "Interbank file deliveries to the clearing gateway, by outcome (delivered, failed)."}, []string{"outcome"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_batch_acknowledgements_total",
			Help: "Interbank files answered by a pacs.002 group status, by state (acknowledged, rejected)."}, []string{"state"}),
		unacked: -1, failed: -1,
	}
	for _, o := range []string{"delivered", "failed"} {
		dm.deliveries.WithLabelValues(o)
	}
	for _, s := range []string{export.BatchAcknowledged, export.BatchRejected} {
		dm.acks.WithLabelValues(s)
	}
	m.delivery = dm
	m.reg.MustRegister(dm.deliveries, dm.acks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2bpay_batches_unacknowledged",
			Help: "Files delivered longer than --ack-timeout ago and not acknowledged (-1 when unknown); alert when above 0."},
			func() float64 { dm.mu.Lock(); defer dm.mu.Unlock(); return dm.unacked }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2bpay_batches_delivery_failed",
			Help: "Files whose delivery failed and is being retried (-1 when unknown); alert when it stays above 0."},
			func() float64 { dm.mu.Lock(); defer dm.mu.Unlock(); return dm.failed }))
}

// refreshDelivery reads the delivery gauges' figures.
func (dm *deliveryMetrics) refresh(ctx context.Context, store *postgres.Store, ackTimeout time.Duration) {
	unacked, failed := -1.0, -1.0
	if byState, n, err := store.DeliveryStats(ctx, time.Now().Add(-ackTimeout)); err == nil {
		unacked, failed = float64(n), float64(byState[export.BatchDeliveryFailed])
	}
	dm.mu.Lock()
	dm.unacked, dm.failed = unacked, failed
	dm.mu.Unlock()
}

// countDelivery hooks the metrics into the deliverer and the reports.
func (m *Metrics) countDelivery(d *export.Deliverer, r *export.Reports) {
	if d != nil {
		d.Counted = func(outcome string) { m.delivery.deliveries.WithLabelValues(outcome).Inc() }
		m.db.mu.Lock()
		m.db.ackTimeout = d.AckTimeout
		m.db.mu.Unlock()
	}
	if r != nil {
		r.Acked = func(o export.AckOutcome) { m.delivery.acks.WithLabelValues(o.State).Inc() }
	}
}

// deliveryTick delivers what is due and raises the alert for files not
// acknowledged in time (logged once each; the gauge counts them).
func deliveryTick(ctx context.Context, d *export.Deliverer) error {
	if d == nil {
		return nil
	}
	_, err := d.RunOnce(ctx)
	_, uerr := d.Unacknowledged(ctx)
	if err != nil || uerr != nil {
		return fmt.Errorf("delivery: %w", errors.Join(err, uerr))
	}
	return nil
}

// deliveryCell says where a batch's file is on its way to the gateway:
// "-" before it is written or with no delivery, the time delivered, or the
// failed attempts and the next one.
func deliveryCell(b export.Batch, loc *time.Location) string {
	d := b.Delivery
	switch {
	case d.DeliveredAt != nil:
		return "delivered " + d.DeliveredAt.In(loc).Format("01-02 15:04")
	case b.State == export.BatchDeliveryFailed && d.NextAttemptAt != nil:
		return fmt.Sprintf("failed x%d, next %s", d.Attempts, d.NextAttemptAt.In(loc).Format("01-02 15:04:05"))
	case b.State == export.BatchWritten:
		return "pending"
	}
	return "-"
}

// ackCell says what the clearing answered for the file: its group status
// and when, the batch that superseded it, or "-".
func ackCell(b export.Batch, loc *time.Location) string {
	d := b.Delivery
	out := "-"
	if d.AcknowledgedAt != nil {
		out = d.AckStatus + " " + d.AcknowledgedAt.In(loc).Format("01-02 15:04")
	}
	if d.SupersededBy != "" {
		out += " (by " + d.SupersededBy + ")"
	}
	if d.ReissueOf != "" {
		out += " (re-issues " + d.ReissueOf + ")"
	}
	return out
}
