package outbox

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/b2bpay/b2bpay/crash"
)

// Store is the outbox as the relay needs it.
type Store interface {
	OutboxClaim(ctx context.Context, limit int) ([]Message, error)
	OutboxMark(ctx context.Context, msgs []Message, errs []error) error
}

// Publisher publishes messages as persistent messages, with confirms and
// the mandatory flag; one error per message, ErrUnroutable (wrapped) for a
// message the broker could route to no queue. route.Publisher is the AMQP
// one.
type Publisher interface {
	PublishMany(ctx context.Context, ms []Message) []error
}

// ErrUnroutable is the error of a message the broker returned: no queue
// is bound for it.
var ErrUnroutable = errors.New("unroutable")

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Batch is the most messages claimed and published at once.
	Batch int
	// Poll is the longest wait between two looks at the outbox when no
	// notification arrives.
	Poll   time.Duration
	Logger *slog.Logger
}

// Relay moves messages from the outbox to the broker: it claims pending
// rows, publishes them with publisher confirms and the mandatory flag, and
// marks them sent only after the broker confirmed and routed them. An
// unroutable message stays pending and raises an alert; a crash between the
// confirm and the mark publishes the message again with the same message
// id.
type Relay struct {
	store Store
	pub   Publisher
	cfg   RelayConfig
}

// NewRelay builds a Relay.
func NewRelay(store Store, pub Publisher, cfg RelayConfig) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Relay{store: store, pub: pub, cfg: cfg}
}

// RunOnce claims one batch, publishes it and records the outcome. It
// returns how many were sent and how many failed.
func (r *Relay) RunOnce(ctx context.Context) (sent, failed int, err error) {
	msgs, err := r.store.OutboxClaim(ctx, r.cfg.Batch)
	if err != nil || len(msgs) == 0 {
		return 0, 0, err
	}
	errs := r.pub.PublishMany(ctx, msgs)
	crash.Point(crash.RelayAfterConfirm) // published, not yet marked sent
	for i, e := range errs {
		if errors.Is(e, ErrUnroutable) && msgs[i].DiscardUnroutable {
			// A reply whose recipient has gone: the database keeps the fact.
			r.cfg.Logger.InfoContext(ctx, "outbox reply dropped: its recipient has gone", "message_id", msgs[i].MessageID, "routing_key", msgs[i].RoutingKey)
			errs[i] = nil
		}
		if errs[i] == nil {
			sent++
			continue
		}
		failed++
		attrs := []any{"message_id", msgs[i].MessageID, "exchange", msgs[i].Exchange, "routing_key", msgs[i].RoutingKey,
			"attempts", msgs[i].Attempts + 1, "error", e}
		if errors.Is(e, ErrUnroutable) {
			r.cfg.Logger.ErrorContext(ctx, "outbox message is unroutable; it stays pending", append(attrs, "alert", "unroutable")...)
		} else {
			r.cfg.Logger.WarnContext(ctx, "outbox publish failed; will retry", attrs...)
		}
	}
	// Record the outcome even if ctx ended meanwhile: the broker has the
	// confirmed messages, and marking them spares a second copy.
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.store.OutboxMark(markCtx, msgs, errs); err != nil {
		return 0, 0, err
	}
	return sent, failed, nil
}

// Start runs the relay until ctx is done. wake, when not nil, signals new
// outbox rows (PostgreSQL NOTIFY); without a signal the outbox is looked at
// every Poll.
func (r *Relay) Start(ctx context.Context, wake <-chan struct{}) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		sent, failed, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Logger.WarnContext(ctx, "outbox relay run failed", "error", err)
		}
		if err == nil && failed == 0 && sent == r.cfg.Batch {
			continue // more are waiting
		}
		timer.Reset(r.cfg.Poll)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
	}
}
