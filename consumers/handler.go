// Package consumers holds b2bpay's message consumers. A consumer only
// decodes and dispatches: handlers are plain functions of one delivery,
// cross-cutting concerns (panic recovery, retries of infrastructure
// failures, logging) are middleware, and one table (Decide) maps what a
// handler returned to ack, reject or requeue. Acks are sent only after the
// handler returned, which is after its database transaction committed.
package consumers

import (
	"context"
	"errors"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/rabbitmq"
)

// Handler handles one delivery. It returns nil once the delivery's effects
// are committed (including a recorded refusal), ErrPoison for a message to
// dead-letter as it is, and any other error for a failure worth retrying.
type Handler func(ctx context.Context, d amqp.Delivery) error

// Middleware wraps a Handler with a cross-cutting concern.
type Middleware func(Handler) Handler

// ErrPoison marks a delivery that can never be handled and could not be
// recorded: the broker's dead-letter exchange takes it.
var ErrPoison = errors.New("poison message")

// Chain wraps h in mws, the first middleware outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Decide is the one table from a handler's result to what happens to the
// delivery.
func Decide(err error) rabbitmq.Decision {
	switch {
	case err == nil:
		return rabbitmq.Ack
	case errors.Is(err, ErrPoison):
		return rabbitmq.Reject
	default:
		// Shutdown, an exhausted retry, a panic: the broker delivers the
		// message again, and dead-letters it past the queue's delivery limit.
		return rabbitmq.Requeue
	}
}

// Batch adapts a Handler to rabbitmq.BatchHandler, handling the deliveries
// of a batch in order.
func Batch(h Handler) rabbitmq.BatchHandler {
	return func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Decision {
		out := make([]rabbitmq.Decision, len(ds))
		for i, d := range ds {
			out[i] = Decide(h(ctx, d))
		}
		return out
	}
}
