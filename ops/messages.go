package ops

import (
	"context"
	"errors"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/payment"
)

// Report is one status report (pacs.002 file) read, as stored.
type Report struct {
	SHA256, FileName, MessageID string
	// Outcome is "applied" or "quarantined"; Reason says why a report was
	// quarantined.
	Outcome, Reason string
	// Entries counts the report's payment lines applied.
	Entries    int
	ReceivedAt time.Time
}

// ReportView is a status report as the page shows it: the reason clipped.
type ReportView = Report

// Reports lists the latest status reports read, newest first.
func (s *Service) Reports(ctx context.Context, n int) ([]ReportView, error) {
	rs, err := s.store.StatusReports(ctx, limit(n))
	if err != nil {
		return nil, err
	}
	for i := range rs {
		rs[i].Reason = payment.Clip(rs[i].Reason, ReasonChars)
		rs[i].ReceivedAt = utc(rs[i].ReceivedAt)
	}
	return rs, nil
}

// The sources of a dead letter.
const (
	// DeadRejected is a message that never became a request or decision
	// (unreadable, unauthenticated, oversized): a row of intake_rejects.
	DeadRejected = "rejected"
	// DeadRefused is a request the intake read and refused (a row of the
	// intake ledger, answered to its upstream).
	DeadRefused = "refused"
)

// DeadLetter is one refused or unreadable message, as stored.
type DeadLetter struct {
	// Source is DeadRejected or DeadRefused.
	Source string
	// Key identifies the message: the rejected message's key, or
	// UPSTREAM/REQUEST_ID of a refused request.
	Key                   string
	UpstreamID, RequestID string
	Code, Reason          string
	ReceivedAt            time.Time
	// Excerpt is the start of the dead-letter copy's body, when the store
	// still holds it; BodyBytes its full size.
	Excerpt   []byte
	BodyBytes int
}

// DeadLetterView is a dead letter as the page shows it: reason and
// excerpt clipped to text.
type DeadLetterView struct {
	Source, Key, UpstreamID, RequestID, Code, Reason string
	ReceivedAt                                       time.Time
	// Excerpt is at most ExcerptBytes of the body as text ("" when none
	// is kept); Clipped says the body was longer.
	Excerpt   string
	BodyBytes int
	Clipped   bool
}

// DeadLetters lists the latest refused and unreadable messages, newest
// first, never with their full bodies.
func (s *Service) DeadLetters(ctx context.Context, n int) ([]DeadLetterView, error) {
	ds, err := s.store.DeadLetters(ctx, limit(n), ExcerptBytes)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetterView, len(ds))
	for i, d := range ds {
		out[i] = deadLetterView(d)
	}
	return out, nil
}

func deadLetterView(d DeadLetter) DeadLetterView {
	v := DeadLetterView{Source: d.Source, Key: payment.Clip(d.Key, 100), UpstreamID: d.UpstreamID, RequestID: payment.Clip(d.RequestID, 100),
		Code: d.Code, Reason: payment.Clip(d.Reason, ReasonChars), ReceivedAt: utc(d.ReceivedAt), BodyBytes: d.BodyBytes}
	if len(d.Excerpt) > 0 {
		ex := string(d.Excerpt)
		v.Clipped = d.BodyBytes > len(ex)
		if v.Clipped {
			ex = dropPartialRune(ex)
		}
		ex = payment.Text(ex) // may grow: U+FFFD is longer than the byte it replaces
		if len(ex) > ExcerptBytes {
			ex, v.Clipped = payment.Cut(ex, ExcerptBytes), true
		}
		if v.Clipped {
			ex += "…"
		}
		v.Excerpt = ex
	}
	return v
}

// dropPartialRune drops the start of a character a cut left at the end of s.
func dropPartialRune(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

// QueueDepth is one of b2bpay's queues and what it holds.
type QueueDepth struct {
	Name      string
	Messages  int
	Consumers int
	// Missing says the queue does not exist on the broker.
	Missing bool
}

// Queues reads the depth of every b2bpay queue, by name; a queue missing
// on the broker is listed as missing.
func (s *Service) Queues(ctx context.Context) ([]QueueDepth, error) {
	if s.queues == nil {
		return nil, errors.New("ops: no broker connection to read queues from")
	}
	names, err := s.queues.Names(ctx)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return s.queues.Depths(ctx, names)
}

// OutboxMessage is a pending outbox message, as stored (never its body).
type OutboxMessage struct {
	ID                              int64
	MessageID, Exchange, RoutingKey string
	Attempts                        int
	LastError                       string
	CreatedAt, AvailableAt          time.Time
}

// OutboxView is the outbox page: the backlog and the messages failing.
type OutboxView struct {
	// Pending counts the messages not yet confirmed by the broker;
	// OldestAge is the oldest one's age.
	Pending   int
	OldestAge time.Duration
	// Failing counts the pending messages that failed at least once;
	// FailingShown lists the oldest of them (at most FailingListed).
	Failing      int
	FailingShown []OutboxMessage
}

// FailingListed bounds the failing outbox messages listed.
const FailingListed = 50

// Outbox reads the outbox page.
func (s *Service) Outbox(ctx context.Context) (OutboxView, error) {
	pending, oldest, failing, err := s.store.OutboxStats(ctx)
	if err != nil {
		return OutboxView{}, err
	}
	v := OutboxView{Pending: pending, OldestAge: oldest, Failing: failing}
	if failing == 0 {
		return v, nil
	}
	if v.FailingShown, err = s.store.OutboxFailing(ctx, FailingListed); err != nil {
		return OutboxView{}, err
	}
	for i := range v.FailingShown {
		m := &v.FailingShown[i]
		m.LastError = payment.Clip(m.LastError, ReasonChars)
		m.MessageID = payment.Clip(m.MessageID, 200)
		m.CreatedAt, m.AvailableAt = utc(m.CreatedAt), utc(m.AvailableAt)
	}
	return v, nil
}
