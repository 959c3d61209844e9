package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Disposition is what a handler wants done with one delivery.
type Disposition int

const (
	// Ack acknowledges the delivery: the broker forgets the message.
	Ack Disposition = iota
	// Reject nacks without requeue: the queue's dead-letter exchange takes the message.
	Reject
	// Requeue nacks with requeue: the message is delivered again (counting toward x-delivery-limit
	// on a quorum queue).
	Requeue
)

// String names the disposition for logs.
func (d Disposition) String() string {
	switch d {
	case Ack:
		return "ack"
	case Reject:
		return "reject"
	case Requeue:
		return "requeue"
	default:
		return fmt.Sprintf("decision(%d)", int(d))
	}
}

// BatchHandler handles a batch of deliveries and returns one disposition per delivery, in the same
// order. A missing disposition, an unknown one or a panic counts as Requeue. The handler's ctx is not
// cancelled when Consume's ctx is: it is cancelled DrainTimeout later, or at once if the channel is
// lost (its decisions would be dropped anyway). A handler that ignores its ctx can outlive Consume;
// its late decisions are dropped and the broker redelivers those messages.
type BatchHandler func(ctx context.Context, ds []amqp.Delivery) []Disposition

// ConsumeConfig configures Consume.
type ConsumeConfig struct {
	Queue        string
	Tag          string        // consumer tag prefix; a random suffix makes each tag unique
	Prefetch     int           // per-consumer QoS (global=false: quorum queues refuse global QoS); default 50; keep it >= BatchSize*Concurrency
	BatchSize    int           // deliver up to this many to the handler at once; default 1
	BatchWait    time.Duration // ...or whatever has arrived after this long; default 5ms
	Concurrency  int           // parallel handler goroutines sharing the channel's deliveries; default 1
	DrainTimeout time.Duration // on ctx cancel: stop consuming (basic.cancel), let in-flight handlers finish up to this long, then close; default 10s
}

// withDefaults fills in the zero fields of cfg.
func (cfg ConsumeConfig) withDefaults() ConsumeConfig {
	if cfg.Tag == "" {
		cfg.Tag = "b2bpay"
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 50
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 5 * time.Millisecond
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	return cfg
}

// Consume consumes cfg.Queue with manual acks and runs until ctx is done. On channel or connection
// loss it opens a fresh channel (waiting for the Conn to reconnect) and consumes again; decisions for
// deliveries received on a dead channel are dropped, never acked on the new channel: the broker
// redelivers those messages. Acks and nacks are sent only after the handler returns.
//
// It returns nil on clean shutdown (ctx done), ErrClosed if the Conn is closed, and an error for a
// bad config. Other failures (a missing queue, a lost channel) are logged and retried with backoff.
func Consume(ctx context.Context, c *Conn, cfg ConsumeConfig, h BatchHandler) error {
	cfg = cfg.withDefaults()
	if cfg.Queue == "" {
		return errors.New("rabbitmq: consume: queue is required")
	}
	if h == nil {
		return errors.New("rabbitmq: consume: handler is required")
	}
	log := c.log.With("queue", cfg.Queue)
	if cfg.Prefetch < cfg.BatchSize*cfg.Concurrency {
		log.Warn("rabbitmq prefetch is below batch size times concurrency; batches will not fill",
			"prefetch", cfg.Prefetch, "batch_size", cfg.BatchSize, "concurrency", cfg.Concurrency)
	}
	b := backoff{min: c.cfg.ReconnectMin, max: c.cfg.ReconnectMax}
	for {
		started, err := consumeOnce(ctx, c, cfg, h, log)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		if started {
			b.reset()
		}
		log.Warn("rabbitmq consumer interrupted; consuming again", "error", err, "generation", c.Generation())
		if sleepCtx(ctx, b.next()) != nil {
			return nil
		}
	}
}

// consumeOnce consumes on one fresh channel until ctx is done or the channel is lost. started
// reports whether consuming began, so that the caller can reset its backoff.
func consumeOnce(ctx context.Context, c *Conn, cfg ConsumeConfig, h BatchHandler,
	log *slog.Logger) (started bool, err error) {
	ch, err := c.Channel(ctx)
	if err != nil {
		return false, err
	}
	defer closeChannel(ch, c.cfg.OpTimeout) // requeues whatever is still unacked
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))

	op := c.cfg.OpTimeout
	if err := boundedDo(ctx, op, "set qos", func() error { return ch.Qos(cfg.Prefetch, 0, false) }); err != nil {
		return false, err
	}
	tag := cfg.Tag + "-" + randomSuffix(6)
	deliveries, err := bounded(ctx, op, "start consumer", func() (<-chan amqp.Delivery, error) {
		return ch.Consume(cfg.Queue, tag, false, false, false, false, nil)
	}, nil)
	if err != nil {
		return false, err
	}
	log = log.With("consumer_tag", tag)
	log.Debug("rabbitmq consumer started", "generation", c.Generation())

	s := newSession(ctx, ch, cfg, h, log)
	s.start(deliveries)
	select {
	case <-ctx.Done():
		s.drain(tag, op)
		return true, nil
	case amqpErr := <-closes:
		s.abort()
		return true, fmt.Errorf("channel closed: %s", errString(amqpErr))
	case <-s.batcherDone:
		s.abort()
		if ch.IsClosed() {
			return true, errors.New("channel closed")
		}
		return true, errors.New("consumer cancelled by the broker")
	}
}
