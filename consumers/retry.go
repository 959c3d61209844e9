package consumers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RetryConfig bounds how long a delivery is retried in place.
type RetryConfig struct {
	// Initial and Max bound the backoff between attempts.
	Initial, Max time.Duration
	// Budget is the total time spent retrying one delivery before it is
	// handed back to the broker (requeued, counting toward its delivery
	// limit).
	Budget time.Duration
}

// Retry runs a handler again after a failure that is not ErrPoison (the
// database restarting, a lost connection), with exponential backoff, until
// it succeeds, the budget is spent, or ctx is done. Retrying in place keeps
// a short outage from counting against the message's delivery limit.
func Retry(cfg RetryConfig, log *slog.Logger) Middleware {
	if cfg.Initial <= 0 {
		cfg.Initial = 50 * time.Millisecond
	}
	if cfg.Max <= 0 {
		cfg.Max = 5 * time.Second
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 2 * time.Minute
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, d amqp.Delivery) error {
			deadline := time.Now().Add(cfg.Budget)
			wait := cfg.Initial
			for attempt := 1; ; attempt++ {
				err := next(ctx, d)
				if err == nil || errors.Is(err, ErrPoison) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
					return err
				}
				log.WarnContext(ctx, "handler failed; retrying", "message_id", d.MessageId, "attempt", attempt, "error", err, "wait", wait)
				select {
				case <-ctx.Done():
					return err
				case <-time.After(wait):
				}
				wait = min(wait*2, cfg.Max)
			}
		}
	}
}
