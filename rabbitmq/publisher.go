package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Message is one message to publish.
type Message struct {
	Exchange, Key string
	// Publishing is sent as is, with the mandatory flag. The caller sets MessageId (required,
	// non-empty, and unique among messages in flight: returns are matched to messages by it),
	// DeliveryMode amqp.Persistent, headers and so on.
	Publishing amqp.Publishing
}

var (
	// ErrReturned means the broker returned the message as unroutable (basic.return, matched by
	// MessageId): no queue is bound for its exchange and key. Its confirm was an ack all the same.
	ErrReturned = errors.New("rabbitmq: message returned as unroutable")
	// ErrNacked means the broker nacked the message: it did not take responsibility for it (for
	// example, a quorum queue with x-overflow=reject-publish is full).
	ErrNacked = errors.New("rabbitmq: message nacked by the broker")
	// ErrUnconfirmed means the channel closed before the broker confirmed the message: it may or may
	// not have been enqueued. Publish it again (at-least-once; consumers deduplicate by MessageId).
	ErrUnconfirmed = errors.New("rabbitmq: channel closed before the message was confirmed")
	// ErrNoMessageID means a Message has an empty Publishing.MessageId.
	ErrNoMessageID = errors.New("rabbitmq: message has no MessageId")
)

// Publisher publishes with publisher confirms and the mandatory flag over one confirm-mode
// channel, reopened lazily on the Conn's current connection after it or the connection closes.
// It is safe for concurrent use.
//
// Every error from Publish and PublishMany means "not known to be routed and stored": publish the
// message again. Only a nil error means the broker confirmed it and routed it to a queue.
type Publisher struct {
	c   *Conn
	log *slog.Logger

	lock   chan struct{} // a mutex that can be acquired with a context; guards reopening
	cur    atomic.Pointer[confirmChannel]
	closed atomic.Bool
}

// NewPublisher makes a publisher on c. It opens its channel on the first publish. A nil logger uses
// the connection's.
func NewPublisher(c *Conn, logger *slog.Logger) *Publisher {
	if logger == nil {
		logger = c.log
	}
	return &Publisher{c: c, log: logger, lock: make(chan struct{}, 1)}
}

// Publish publishes m and waits for its confirm. It returns nil only if the broker confirmed the
// message and routed it to at least one queue; ErrReturned, ErrNacked or ErrUnconfirmed (wrapped)
// otherwise, or an error from the connection or ctx. The wait is bounded by ctx and OpTimeout.
func (p *Publisher) Publish(ctx context.Context, m Message) error {
	return p.PublishMany(ctx, []Message{m})[0]
}

// inflight is a published message waiting for its confirm.
type inflight struct {
	i  int
	cc *confirmChannel
	dc *amqp.DeferredConfirmation
}

// PublishMany publishes all messages then waits for all confirms (pipelined). It returns one
// error per message, in order: nil means confirmed and routed. If the channel dies part way, the
// remaining messages go out on a new channel; those outstanding on the dead one get ErrUnconfirmed.
// The wait for confirms is bounded by ctx and OpTimeout, counted from the last publish.
func (p *Publisher) PublishMany(ctx context.Context, ms []Message) []error {
	errs := make([]error, len(ms))
	pending := make([]inflight, 0, len(ms))
	for i, m := range ms {
		if m.Publishing.MessageId == "" {
			errs[i] = ErrNoMessageID
			continue
		}
		cc, err := p.channel(ctx)
		if err != nil {
			errs[i] = fmt.Errorf("publish message %s: %w", m.Publishing.MessageId, err)
			continue
		}
		dc, err := cc.ch.PublishWithDeferredConfirmWithContext(ctx, m.Exchange, m.Key, true, false, m.Publishing)
		if err != nil {
			errs[i] = fmt.Errorf("rabbitmq: publish message %s: %w", m.Publishing.MessageId, err)
			continue
		}
		pending = append(pending, inflight{i: i, cc: cc, dc: dc})
	}
	if len(pending) == 0 {
		return errs
	}

	wctx, cancel := context.WithTimeout(ctx, p.c.cfg.OpTimeout)
	defer cancel()
	acked := make([]bool, len(pending))
	for k, f := range pending {
		acked[k], errs[f.i] = p.await(wctx, f.cc, f.dc, ms[f.i].Publishing.MessageId)
	}
	// Every ack above came after the returns for those messages were dispatched: collect them.
	// sync only waits for the watcher goroutine, which never blocks for long; it gets its own bound
	// so that a ctx that expired after the confirms arrived does not turn them into errors.
	sctx, scancel := context.WithTimeout(context.Background(), p.c.cfg.OpTimeout)
	defer scancel()
	synced := map[*confirmChannel]error{}
	for k, f := range pending {
		if !acked[k] {
			continue
		}
		serr, ok := synced[f.cc]
		if !ok {
			serr = f.cc.sync(sctx)
			synced[f.cc] = serr
		}
		id := ms[f.i].Publishing.MessageId
		switch r, returned := f.cc.claimReturn(id); {
		case serr != nil:
			errs[f.i] = fmt.Errorf("rabbitmq: message %s: check for basic.return: %w", id, serr)
		case returned:
			errs[f.i] = fmt.Errorf("message %s to exchange %q key %q: %w (%d %s)", id, r.Exchange,
				r.RoutingKey, ErrReturned, r.ReplyCode, r.ReplyText)
		}
	}
	return errs
}

// await waits for one confirm. It reports whether the broker acked it; if not, the error says why.
func (p *Publisher) await(ctx context.Context, cc *confirmChannel, dc *amqp.DeferredConfirmation,
	id string) (bool, error) {
	var ack bool
	var err error
	select {
	case <-dc.Done(): // already confirmed: the answer must not depend on an expired ctx
		ack = dc.Acked()
	default:
		ack, err = dc.WaitContext(ctx)
	}
	switch {
	case err != nil:
		return false, fmt.Errorf("rabbitmq: wait for confirm of message %s: %w", id, err)
	case ack:
		return true, nil
	case cc.ch.IsClosed():
		// amqp091-go nacks every outstanding confirm when the channel closes.
		if reason := cc.closeReason(ctx); reason != nil {
			return false, fmt.Errorf("message %s: %w: %v", id, ErrUnconfirmed, reason)
		}
		return false, fmt.Errorf("message %s: %w", id, ErrUnconfirmed)
	default:
		return false, fmt.Errorf("message %s: %w", id, ErrNacked)
	}
}

// channel returns the live confirm channel, opening a new one if there is none.
func (p *Publisher) channel(ctx context.Context) (*confirmChannel, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if cc := p.cur.Load(); cc != nil && cc.alive() {
		return cc, nil
	}
	select {
	case p.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.lock }()
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if cc := p.cur.Load(); cc != nil && cc.alive() {
		return cc, nil // another goroutine reopened it
	}
	ch, err := p.c.Channel(ctx)
	if err != nil {
		return nil, err
	}
	cc, err := openConfirmChannel(ctx, p.c.cfg.OpTimeout, ch, p.log)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	p.cur.Store(cc)
	p.log.Debug("rabbitmq publisher channel opened", "generation", p.c.Generation())
	return cc, nil
}

// Close closes the publisher's channel. Publishes still waiting for confirms get ErrUnconfirmed;
// later ones get ErrClosed. It does not close the Conn.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	p.lock <- struct{}{}
	defer func() { <-p.lock }()
	cc := p.cur.Swap(nil)
	if cc == nil || !cc.alive() {
		return nil
	}
	err := boundedDo(context.Background(), p.c.cfg.OpTimeout, "close publisher channel", cc.ch.Close)
	if err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	return nil
}
