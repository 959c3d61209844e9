package rabbitmq

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrNoQueue is returned by Inspect for a queue that does not exist.
var ErrNoQueue = errors.New("rabbitmq: no such queue")

// QueueState is what a passive declare tells of a queue: the messages
// ready in it and its consumers.
type QueueState struct {
	Name      string
	Messages  int
	Consumers int
}

// Inspect reads a queue's depth with a passive declare on a channel of its
// own (a missing queue closes the channel; ErrNoQueue then). It creates,
// changes and consumes nothing.
func (c *Conn) Inspect(ctx context.Context, name string) (QueueState, error) {
	ch, err := c.Channel(ctx)
	if err != nil {
		return QueueState{}, err
	}
	defer closeChannel(ch, c.cfg.OpTimeout)
	var q amqp.Queue
	err = boundedDo(ctx, c.cfg.OpTimeout, "inspect queue", func() error {
		var err error
		q, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
		return err
	})
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return QueueState{}, fmt.Errorf("queue %q: %w", name, ErrNoQueue)
	}
	if err != nil {
		return QueueState{}, fmt.Errorf("rabbitmq: inspect queue %q: %w", name, err)
	}
	return QueueState{Name: q.Name, Messages: q.Messages, Consumers: q.Consumers}, nil
}
