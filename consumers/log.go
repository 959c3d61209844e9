package consumers

import (
	"context"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Log logs each delivery's result with its message and correlation ids.
// It never logs message bodies.
func Log(log *slog.Logger, queue string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d amqp.Delivery) error {
			start := time.Now()
			err := next(ctx, d)
			attrs := []any{"queue", queue, "message_id", d.MessageId, "correlation_id", d.CorrelationId,
				"redelivered", d.Redelivered, "decision", DispositionOf(err).String(), "duration_ms", time.Since(start).Milliseconds()}
			if err != nil {
				log.WarnContext(ctx, "delivery not handled", append(attrs, "error", err)...)
			} else {
				log.DebugContext(ctx, "delivery handled", attrs...)
			}
			return err
		}
	}
}
