package consumers

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Recover turns a panic in a handler into an error (the delivery is
// requeued, and dead-lettered by the broker past its delivery limit), so
// one bad message never takes a worker down.
func Recover(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d amqp.Delivery) (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.ErrorContext(ctx, "handler panicked", "message_id", d.MessageId, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = fmt.Errorf("handler panicked: %v", r)
				}
			}()
			return next(ctx, d)
		}
	}
}
