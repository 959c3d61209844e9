package rabbitmq

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// QueueState is what a passive declare tells of a queue: the messages
// ready in it and its consumers, or that it does not exist.
type QueueState struct {
	Name      string
	Messages  int
	Consumers int
	Missing   bool
}

// Inspect reads each named queue's depth with passive declares, in order,
// on one channel (a missing queue closes it: the next name gets a new one).
// It creates, changes and consumes nothing.
func (c *Conn) Inspect(ctx context.Context, names ...string) ([]QueueState, error) {
	out := make([]QueueState, 0, len(names))
	var ch *amqp.Channel
	defer func() { closeChannel(ch, c.cfg.OpTimeout) }()
	for _, name := range names {
		if ch == nil || ch.IsClosed() {
			closeChannel(ch, c.cfg.OpTimeout)
			var err error
			if ch, err = c.Channel(ctx); err != nil {
				return nil, err
			}
		}
		var q amqp.Queue
		err := boundedDo(ctx, c.cfg.OpTimeout, "inspect queue", func() error {
			var err error
			q, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
			return err
		})
		var ae *amqp.Error
		switch {
		case errors.As(err, &ae) && ae.Code == amqp.NotFound:
			out = append(out, QueueState{Name: name, Missing: true})
		case err != nil:
			return nil, fmt.Errorf("rabbitmq: inspect queue %q: %w", name, err)
		default:
			out = append(out, QueueState{Name: name, Messages: q.Messages, Consumers: q.Consumers})
		}
	}
	return out, nil
}
