package server

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
)

// Metrics are b2bpay's Prometheus Metrics, served at /Metrics on an
// address of their own (--Metrics-addr), never the API's. They are
// counted by decorators around the stores and the publisher, so the
// packages that do the work know nothing of Prometheus.
type Metrics struct {
	reg       *prometheus.Registry
	intake    *prometheus.CounterVec
	decisions *prometheus.CounterVec
	published *prometheus.CounterVec
	cutoffs   prometheus.Counter
	exported  prometheus.Counter
	files     prometheus.Counter
	held      prometheus.Counter
	reports   *prometheus.CounterVec
	recon     *prometheus.CounterVec
	// missed counts scheduled cutoffs found due past their grace (run late
	// or not yet), caughtUp those of them run since: an alert watches
	// missed - caughtUp.
	missed, caughtUp prometheus.Counter
	// db holds the figures read from the database, refreshed in the
	// background: a scrape never queries the database.
	db *dbFigures
	// delivery counts deliveries and acknowledgements (delivery.go).
	delivery *deliveryMetrics
}

// metricsRefresh is how often the database figures of the metrics are read.
const metricsRefresh = 15 * time.Second

// dbFigures are the metrics read from the database (outbox backlog,
// cutoff alerts), as of the last refresh. A scrape reads them from memory,
// so scrapes, however many, cost the database nothing.
type dbFigures struct {
	store *postgres.Store
	mu    sync.Mutex
	figures
	// delivery, when set, has its gauges read with the others, against
	// ackTimeout (export.DefaultAckTimeout when 0).
	delivery   *deliveryMetrics
	ackTimeout time.Duration
}

// figures are the values of one refresh; -1 (and known false) until the
// first one succeeds and after one fails.
type figures struct {
	pending, stuck float64
	known          bool // lastCompleted was read
	lastCompleted  time.Time
}

func (d *dbFigures) get() figures {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.figures
}

// refresh reads the figures once; a failed read makes them unknown (-1).
func (d *dbFigures) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	f := figures{pending: -1, stuck: -1}
	if n, _, _, err := d.store.OutboxStats(ctx); err == nil {
		f.pending = float64(n)
	}
	if st, err := d.store.CutoffStatsAt(ctx, time.Now(), stuckAfter); err == nil {
		f.stuck, f.known, f.lastCompleted = float64(st.ClaimedStuck), true, st.LastCompleted
	}
	d.mu.Lock()
	d.figures = f
	timeout := d.ackTimeout
	d.mu.Unlock()
	if d.delivery != nil {
		if timeout <= 0 {
			timeout = export.DefaultAckTimeout
		}
		d.delivery.refresh(ctx, d.store, timeout)
	}
}

// run refreshes the figures at once and then every interval until ctx is done.
func (d *dbFigures) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stuckAfter is how long a batch may stay claimed (file not known to be
// written) before the gauge counts it as stuck: a file takes seconds.
const stuckAfter = 5 * time.Minute

func NewMetrics(store *postgres.Store) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_intake_messages_total",
			Help: "Intake messages handled, by outcome (accepted, refused, duplicate, conflict, rejected) and code."}, []string{"outcome", "code"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_decisions_total",
			Help: "Decisions handled, by stage, outcome (applied, refused) and code."}, []string{"stage", "outcome", "code"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_outbox_publishes_total",
			Help: "Outbox messages published, by result (confirmed, unroutable, failed)."}, []string{"result"}),
		cutoffs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "b2bpay_cutoff_runs_total", Help: "Cutoffs run by this process."}),
		exported: prometheus.NewCounter(prometheus.CounterOpts{Name: "b2bpay_payments_exported_total", Help: "Payments claimed into interbank batches."}),
		files:    prometheus.NewCounter(prometheus.CounterOpts{Name: "b2bpay_batches_claimed_total", Help: "Batches (interbank files) claimed."}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "b2bpay_approval_mismatch_total",
			Help: "Authorized payments the cutoff held instead of exporting: content or decisions do not match their MACs (alert on any)."}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b2bpay_status_reports_total",
			Help: "Status report files read, by outcome (applied, quarantined, repeated)."}, []string{"outcome"}),
	}
	m.recon = reconMismatches()
	m.db = &dbFigures{store: store, figures: figures{pending: -1, stuck: -1}}
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2bpay_outbox_pending",
		Help: "Outbox messages not yet confirmed by the broker (alert when it grows or stays high; -1 when unknown). Read every 15 s, not per scrape."},
		func() float64 { return m.db.get().pending })
	m.missed = prometheus.NewCounter(prometheus.CounterOpts{Name: "b2bpay_cutoffs_missed_total",
		Help: "Scheduled cutoffs this process found due later than their grace (5 minutes): missed while every exporter was down or failing."})
	m.caughtUp = prometheus.NewCounter(prometheus.CounterOpts{Name: "b2bpay_cutoffs_caught_up_total",
		Help: "Missed cutoffs since run (alert when missed - caught up stays above 0)."})
	lastAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2bpay_cutoff_last_completed_age_seconds",
		Help: "Seconds since the latest cutoff whose files are all written (+Inf when none ever was, -1 when unknown); " +
			"alert when it exceeds the longest gap of the schedule."}, func() float64 {
		f := m.db.get()
		switch {
		case !f.known:
			return -1
		case f.lastCompleted.IsZero():
			return math.Inf(1)
		}
		return time.Since(f.lastCompleted).Seconds()
	})
	stuck := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2bpay_batches_claimed_stuck",
		Help: "Batches claimed more than 5 minutes ago whose file is not known to be written (-1 when unknown); alert when above 0."},
		func() float64 { return m.db.get().stuck })
	m.reg.MustRegister(m.intake, m.decisions, m.published, m.cutoffs, m.exported, m.files, m.held, m.reports, m.recon, pending,
		m.missed, m.caughtUp, lastAge, stuck,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerDelivery()
	m.db.delivery = m.delivery
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// calendarDaysLeft exports the days of calendar data left (State Council
// notices, for China) as b2bpay_calendar_days_left, computed at each scrape
// so that it follows the clock and calendar reloads.
func (m *Metrics) calendarDaysLeft(src *calendarSource, loc *time.Location, now func() time.Time) {
	if _, _, ok := src.daysLeft(now(), loc); !ok {
		return // a calendar without data (weekdays) has nothing to run out of
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "b2bpay_calendar_days_left",
		Help: "Days from today until the business-day calendar's data (State Council notices) runs out; negative once it has, when the years after run on the fallback (alert below 60)."},
		func() float64 {
			days, _, _ := src.daysLeft(now(), loc)
			return float64(days)
		}))
}

// CutoffRan counts a cutoff run: its payments, its files, and the
// payments it held because their approvals do not check.
func (m *Metrics) CutoffRan(r export.Result) {
	m.cutoffs.Inc()
	m.exported.Add(float64(r.Payments))
	m.files.Add(float64(len(r.Batches)))
	m.held.Add(float64(len(r.Held)))
}

// countedIntake counts what intake decides.
type countedIntake struct {
	intake.Store
	m *Metrics
}

func (c countedIntake) IntakeSubmit(ctx context.Context, s intake.Submission) (intake.Outcome, error) {
	out, err := c.Store.IntakeSubmit(ctx, s)
	if err == nil {
		c.count(out)
	}
	return out, err
}

func (c countedIntake) IntakeSubmitMany(ctx context.Context, s []intake.Submission) ([]intake.Outcome, error) {
	outs, err := c.Store.IntakeSubmitMany(ctx, s)
	if err == nil {
		for _, out := range outs {
			c.count(out)
		}
	}
	return outs, err
}

func (c countedIntake) count(out intake.Outcome) {
	outcome := string(out.Answer.Kind)
	switch {
	case out.Duplicate:
		outcome = "duplicate"
	case out.Conflict:
		outcome = "conflict"
	}
	c.m.intake.WithLabelValues(outcome, string(out.Answer.Code)).Inc()
}

func (c countedIntake) IntakeReject(ctx context.Context, r intake.Rejection) (bool, error) {
	first, err := c.Store.IntakeReject(ctx, r)
	if err == nil && first {
		c.m.intake.WithLabelValues("rejected", string(r.Code)).Inc()
	}
	return first, err
}

// countedApproval counts decisions.
type countedApproval struct {
	*approval.Applier
	m *Metrics
}

func (c countedApproval) Apply(ctx context.Context, d approval.Decision) (approval.Result, error) {
	res, err := c.Applier.Apply(ctx, d)
	if err == nil {
		c.m.decisions.WithLabelValues(string(d.Stage), res.Outcome, string(res.Code)).Inc()
	}
	return res, err
}

func (c countedApproval) ApplyMany(ctx context.Context, ds []approval.Decision) ([]approval.Result, error) {
	results, err := c.Applier.ApplyMany(ctx, ds)
	if err == nil {
		for i, res := range results {
			c.m.decisions.WithLabelValues(string(ds[i].Stage), res.Outcome, string(res.Code)).Inc()
		}
	}
	return results, err
}

func (c countedApproval) Refuse(ctx context.Context, d approval.Decision, refusal error) (approval.Result, error) {
	res, err := c.Applier.Refuse(ctx, d, refusal)
	if err == nil {
		c.m.decisions.WithLabelValues(string(d.Stage), res.Outcome, string(payment.ErrorCode(refusal))).Inc()
	}
	return res, err
}

// ApplyBatch counts each item of a batch decision as a decision.
func (c countedApproval) ApplyBatch(ctx context.Context, bd approval.BatchDecision) (approval.BatchResult, error) {
	res, err := c.Applier.ApplyBatch(ctx, bd)
	if err == nil {
		for _, r := range res.Items {
			c.m.decisions.WithLabelValues(string(bd.Stage), r.Outcome, string(r.Code)).Inc()
		}
	}
	return res, err
}

// countedPublisher counts the relay's publishes.
type countedPublisher struct {
	*rabbitmq.Publisher
	m *Metrics
}

func (c countedPublisher) PublishMany(ctx context.Context, ms []rabbitmq.Message) []error {
	errs := c.Publisher.PublishMany(ctx, ms)
	for _, err := range errs {
		switch {
		case err == nil:
			c.m.published.WithLabelValues("confirmed").Inc()
		case errors.Is(err, rabbitmq.ErrReturned):
			c.m.published.WithLabelValues("unroutable").Inc()
		default:
			c.m.published.WithLabelValues("failed").Inc()
		}
	}
	return errs
}
