package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"slices"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Exchange is a durable, not auto-deleted exchange. Kind is "direct", "topic", "fanout" or "headers".
type Exchange struct {
	Name, Kind string
	Args       amqp.Table
}

// Queue is a durable queue. Build quorum queues with QuorumQueue.
type Queue struct {
	Name string
	Args amqp.Table
}

// Binding routes messages published to Exchange with routing key Key to Queue.
type Binding struct{ Queue, Exchange, Key string }

// Topology is a declarative set of exchanges, queues and bindings, and the
// bindings that must not exist (left by an earlier version).
type Topology struct {
	Exchanges []Exchange
	Queues    []Queue
	Bindings  []Binding
	// Unbind lists bindings removed after the others are declared; removing
	// one that does not exist changes nothing.
	Unbind []Binding
}

// QuorumQueue builds a quorum queue spec: x-queue-type=quorum, x-delivery-limit=deliveryLimit,
// x-dead-letter-exchange=dlx, x-dead-letter-routing-key=dlKey (omitted if empty),
// x-dead-letter-strategy=at-least-once, x-overflow=reject-publish.
//
// A message nacked with requeue is delivered deliveryLimit+1 times before it is dead-lettered.
// With at-least-once dead-lettering the dead-letter queue must exist and be bound, or dead-lettered
// messages pile up in the source queue.
func QuorumQueue(name string, deliveryLimit int, dlx, dlKey string) Queue {
	args := amqp.Table{
		"x-queue-type":           "quorum",
		"x-delivery-limit":       deliveryLimit,
		"x-dead-letter-exchange": dlx,
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
	}
	if dlKey != "" {
		args["x-dead-letter-routing-key"] = dlKey
	}
	return Queue{Name: name, Args: args}
}

// Validate reports missing names and kinds, and arguments that AMQP cannot carry.
func (t Topology) Validate() error {
	var errs []error
	for _, e := range t.Exchanges {
		if e.Name == "" || e.Kind == "" {
			errs = append(errs, fmt.Errorf("exchange %q: name and kind are required", e.Name))
		}
		if err := e.Args.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("exchange %q arguments: %w", e.Name, err))
		}
	}
	for _, q := range t.Queues {
		if q.Name == "" {
			errs = append(errs, errors.New("queue: name is required"))
		}
		if err := q.Args.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("queue %q arguments: %w", q.Name, err))
		}
	}
	for _, b := range append(slices.Clip(t.Bindings), t.Unbind...) {
		if b.Queue == "" || b.Exchange == "" {
			errs = append(errs, fmt.Errorf("binding %q -> %q: queue and exchange are required", b.Exchange, b.Queue))
		}
	}
	return errors.Join(errs...)
}

// Declare declares every exchange, then every queue, then every binding, then removes the bindings
// of Unbind, on one fresh channel.
// It is idempotent: declaring the same topology again changes nothing. Declaring a queue or
// exchange that exists with different arguments fails with the broker's PRECONDITION_FAILED.
// The whole declaration is bounded by ctx and the connection's OpTimeout.
func (t Topology) Declare(ctx context.Context, c *Conn) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("rabbitmq: declare topology: %w", err)
	}
	ch, err := c.Channel(ctx)
	if err != nil {
		return fmt.Errorf("rabbitmq: declare topology: %w", err)
	}
	defer closeChannel(ch, c.cfg.OpTimeout)
	if err := boundedDo(ctx, c.cfg.OpTimeout, "declare topology", func() error { return t.declareOn(ch) }); err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	return nil
}

// declareOn runs the declarations on ch and stops at the first failure (which closes ch).
func (t Topology) declareOn(ch *amqp.Channel) error {
	for _, e := range t.Exchanges {
		if err := ch.ExchangeDeclare(e.Name, e.Kind, true, false, false, false, e.Args); err != nil {
			return fmt.Errorf("exchange %q: %w", e.Name, err)
		}
	}
	for _, q := range t.Queues {
		if _, err := ch.QueueDeclare(q.Name, true, false, false, false, q.Args); err != nil {
			return fmt.Errorf("queue %q: %w", q.Name, err)
		}
	}
	for _, b := range t.Bindings {
		if err := ch.QueueBind(b.Queue, b.Key, b.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %q to exchange %q with key %q: %w", b.Queue, b.Exchange, b.Key, err)
		}
	}
	for _, b := range t.Unbind {
		if err := ch.QueueUnbind(b.Queue, b.Key, b.Exchange, nil); err != nil {
			return fmt.Errorf("unbind queue %q from exchange %q with key %q: %w", b.Queue, b.Exchange, b.Key, err)
		}
	}
	return nil
}
