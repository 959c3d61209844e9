// Package consumers holds b2bpay's message consumers. A consumer only
// decodes and dispatches: handlers are plain functions of one delivery,
// cross-cutting concerns (panic recovery, retries of infrastructure
// failures, logging) are middleware, and one table (DispositionOf) maps what a
// handler returned to ack, reject or requeue. Acks are sent only after the
// handler returned, which is after its database transaction committed.
package consumers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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

// DispositionOf is the one table from a handler's result to what happens to the
// delivery.
func DispositionOf(err error) rabbitmq.Disposition {
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

// inOrder is the shape of a batch handler that stores many messages in one
// transaction. Deliveries that read (read's ok) are gathered into runs;
// each run goes to many, which stores what it can in one transaction and
// returns the positions in the run it left. Those, every delivery of a run
// whose transaction failed (or panicked), and every delivery that does not
// read, go through single one at a time: in the order the deliveries came,
// a run's leftovers right after its commit. Only what many stored is acked
// without single.
func inOrder[T any](ctx context.Context, log *slog.Logger, ds []amqp.Delivery, single Handler,
	read func(amqp.Delivery) (T, bool), many func([]T) (left []int, err error)) []rabbitmq.Disposition {
	out := make([]rabbitmq.Disposition, len(ds))
	var run []int
	var items []T
	flush := func() {
		if len(run) == 0 {
			return
		}
		left, err := safely(func() ([]int, error) { return many(items) })
		if err != nil {
			log.WarnContext(ctx, "batch not stored; handling its messages one at a time", "messages", len(items), "error", err)
			left = make([]int, len(run))
			for k := range left {
				left[k] = k
			}
		}
		for _, i := range run {
			out[i] = rabbitmq.Ack
		}
		for _, k := range left {
			out[run[k]] = DispositionOf(single(ctx, ds[run[k]]))
		}
		run, items = run[:0], items[:0]
	}
	for i, d := range ds {
		if item, ok := safelyRead(read, d); ok {
			run, items = append(run, i), append(items, item)
			continue
		}
		flush()
		out[i] = DispositionOf(single(ctx, d))
	}
	flush()
	return out
}

// safely runs fn, turning a panic into an error: the deliveries then go
// one at a time, where Recover reports it.
func safely(fn func() ([]int, error)) (left []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

// safelyRead is read, with a delivery that makes it panic left to the
// single path.
func safelyRead[T any](read func(amqp.Delivery) (T, bool), d amqp.Delivery) (item T, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return read(d)
}
