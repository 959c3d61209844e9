// Package ops is the read side of the operations pages of the staff
// console: cutoffs (schedule, next, last runs, missed ones), batches and
// their files, status reports, dead letters, queue depths and the outbox.
// It holds no SQL and no AMQP: it reads through Store (postgres implements
// it) and Queues (the composition root implements it with passive
// declares). Every time in a view is UTC, every amount in minor units with
// its currency; the console renders them for its reader.
package ops

import (
	"context"
	"time"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// Store is what the views read from the database.
type Store interface {
	// CutoffRuns lists the latest limit cutoff runs, newest first.
	CutoffRuns(ctx context.Context, limit int) ([]CutoffRun, error)
	// CutoffHorizon and CutoffRunsBetween are the exporter's own reads
	// (export.Exporter.Due): where catching up starts, and the runs after it.
	CutoffHorizon(ctx context.Context, now time.Time) (time.Time, error)
	CutoffRunsBetween(ctx context.Context, from, to time.Time) ([]time.Time, error)
	// BatchList and BatchGet are the batch commands' reads.
	BatchList(ctx context.Context, limit int) ([]export.Batch, error)
	BatchGet(ctx context.Context, id string) (export.Batch, error)
	// BatchStates counts, for each batch of ids, its payments by state.
	BatchStates(ctx context.Context, ids []string) (map[string]map[payment.State]int, error)
	// StatusReports lists the latest limit status reports read, newest first.
	StatusReports(ctx context.Context, limit int) ([]Report, error)
	// DeadLetters lists the latest limit messages refused at intake or
	// never read, newest first, each with at most excerpt bytes of the body
	// of its dead-letter copy.
	DeadLetters(ctx context.Context, limit, excerpt int) ([]DeadLetter, error)
	// OutboxStats is the metrics' read of the outbox: pending messages, the
	// oldest one's age, the pending ones that failed at least once.
	OutboxStats(ctx context.Context) (pending int, oldest time.Duration, stuck int, err error)
	// OutboxFailing lists at most limit pending messages that failed at
	// least once, oldest first.
	OutboxFailing(ctx context.Context, limit int) ([]OutboxMessage, error)
}

// Queues tells the depths of b2bpay's queues.
type Queues interface {
	// Names lists b2bpay's queues: the intake's and approval's, every
	// upstream's status queue and every customer's task queues.
	Names(ctx context.Context) ([]string, error)
	// Depths reads the named queues, in order; a queue that does not
	// exist is marked Missing.
	Depths(ctx context.Context, names []string) ([]QueueDepth, error)
}

// Amount is a sum of money: minor units of a currency.
type Amount struct {
	Minor    int64
	Currency string
}

// String writes the amount as "1234.56 CNY".
func (a Amount) String() string { return payment.FormatAmount(a.Minor, a.Currency) + " " + a.Currency }

// Service builds the operations views.
type Service struct {
	store  Store
	queues Queues
	sched  *calendar.Schedule
	now    func() time.Time
	// Outbound is the outbound directory of the batches that recorded none
	// (claimed before directories were recorded); "" refuses their files.
	Outbound string
}

// New builds the views over store and queues, with the cutoff schedule
// (its zone and business-day calendar) and a clock (time.Now when nil).
func New(store Store, queues Queues, sched *calendar.Schedule, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, queues: queues, sched: sched, now: now}
}

// Limits of the lists: a page never asks for more than MaxLimit rows, and
// a limit of 0 or less means DefaultLimit.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// limit bounds a page size.
func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Clip lengths of what the views show of free text.
const (
	// ReasonChars bounds a reason or an error shown.
	ReasonChars = 300
	// ExcerptBytes bounds the excerpt of a dead letter's body.
	ExcerptBytes = 200
)

// utc returns t in UTC, the zero Time kept.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
