package rabbitmq

import (
	"context"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session is one consumer on one channel: a batcher goroutine that groups deliveries and
// Concurrency workers that run the handler and settle each batch on that same channel.
type session struct {
	ch  *amqp.Channel
	cfg ConsumeConfig
	h   BatchHandler
	log *slog.Logger

	hctx    context.Context // handlers' context: Consume's values, its own cancellation
	hcancel context.CancelFunc

	work        chan []amqp.Delivery // unbuffered: a batch leaves the batcher only for a free worker
	stop        chan struct{}        // closed: dispatch no more batches
	batcherDone chan struct{}
	workers     sync.WaitGroup
	stopOnce    sync.Once
}

// newSession prepares a session. Handlers get ctx's values but not its cancellation.
func newSession(ctx context.Context, ch *amqp.Channel, cfg ConsumeConfig, h BatchHandler, log *slog.Logger) *session {
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	return &session{
		ch: ch, cfg: cfg, h: h, log: log,
		hctx: hctx, hcancel: hcancel,
		work:        make(chan []amqp.Delivery),
		stop:        make(chan struct{}),
		batcherDone: make(chan struct{}),
	}
}

// start runs the batcher and the workers.
func (s *session) start(deliveries <-chan amqp.Delivery) {
	go s.batch(deliveries)
	s.workers.Add(s.cfg.Concurrency)
	for range s.cfg.Concurrency {
		go s.work1()
	}
}

// drain is the graceful stop: cancel the consumer, let in-flight handlers finish and settle on the
// still open channel, for at most DrainTimeout. Deliveries not yet handed to a handler stay unacked
// and are requeued when the channel closes.
func (s *session) drain(tag string, op time.Duration) {
	s.stopDispatch()
	if err := boundedDo(context.Background(), op, "cancel consumer", func() error { return s.ch.Cancel(tag, false) }); err != nil {
		s.log.Warn("rabbitmq consumer cancel failed", "error", err)
	}
	if !s.waitWorkers(s.cfg.DrainTimeout) {
		s.log.Warn("rabbitmq handlers still running after drain timeout; their messages will be redelivered",
			"drain_timeout", s.cfg.DrainTimeout)
	}
	s.hcancel()
}

// abort follows a lost channel: handlers are cancelled, since their decisions can no longer be
// sent, and given DrainTimeout to return so that old and new handlers do not overlap.
func (s *session) abort() {
	s.stopDispatch()
	s.hcancel()
	if !s.waitWorkers(s.cfg.DrainTimeout) {
		s.log.Warn("rabbitmq handlers ignored cancellation after channel loss", "drain_timeout", s.cfg.DrainTimeout)
	}
}

func (s *session) stopDispatch() { s.stopOnce.Do(func() { close(s.stop) }) }

// waitWorkers waits up to d for every worker to exit and reports whether they did.
func (s *session) waitWorkers(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// batch groups deliveries into batches of up to BatchSize, waiting at most BatchWait after the
// first, and hands each to a worker. It closes work when it stops.
func (s *session) batch(deliveries <-chan amqp.Delivery) {
	defer close(s.batcherDone)
	defer close(s.work)
	for {
		var first amqp.Delivery
		select {
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			first = d
		case <-s.stop:
			return
		}
		b, open := s.collect(first, deliveries)
		select {
		case s.work <- b:
		case <-s.stop:
			return
		}
		if !open {
			return
		}
	}
}

// collect adds to first what arrives within BatchWait, up to BatchSize. open is false if the
// deliveries channel closed.
func (s *session) collect(first amqp.Delivery, deliveries <-chan amqp.Delivery) (b []amqp.Delivery, open bool) {
	b = append(make([]amqp.Delivery, 0, s.cfg.BatchSize), first)
	if s.cfg.BatchSize == 1 {
		return b, true
	}
	t := time.NewTimer(s.cfg.BatchWait)
	defer t.Stop()
	for len(b) < s.cfg.BatchSize {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return b, false
			}
			b = append(b, d)
		case <-t.C:
			return b, true
		case <-s.stop:
			return b, true
		}
	}
	return b, true
}

// work1 is one worker: handle a batch, then settle it.
func (s *session) work1() {
	defer s.workers.Done()
	for b := range s.work {
		s.settle(b, s.handle(b))
	}
}

// handle runs the handler, turning a panic into Requeue for the whole batch.
func (s *session) handle(b []amqp.Delivery) (ds []Disposition) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rabbitmq handler panicked; requeueing its batch", "panic", r, "batch_size", len(b))
			ds = nil
		}
	}()
	return s.h(s.hctx, b)
}

// settle sends the decisions for batch b on the session's channel. Missing or unknown decisions
// count as Requeue. If the channel is closed, nothing is sent: the broker requeues those deliveries
// itself, and a new channel must never ack a delivery tag of an old one.
//
// A contiguous prefix of Acks is sent as one ack with multiple=true, but only with Concurrency 1:
// then every delivery before the batch was settled before this batch was handled, so "all tags up
// to N" means exactly this prefix. With several workers another batch with lower tags may still be
// in a handler, and multiple=true would ack it too early.
func (s *session) settle(b []amqp.Delivery, ds []Disposition) {
	if len(ds) != len(b) {
		s.log.Error("rabbitmq handler returned the wrong number of decisions; requeueing the missing ones",
			"batch_size", len(b), "decisions", len(ds))
		ds = fitDecisions(ds, len(b))
	}
	if s.ch.IsClosed() {
		s.dropped(b)
		return
	}
	i := 0
	if s.cfg.Concurrency == 1 {
		i = ackPrefix(b, ds)
	}
	if i > 1 {
		if err := s.ch.Ack(b[i-1].DeliveryTag, true); err != nil {
			s.dropped(b)
			return
		}
	} else {
		i = 0
	}
	for ; i < len(b); i++ {
		if err := s.send(b[i].DeliveryTag, ds[i]); err != nil {
			s.dropped(b[i:])
			return
		}
	}
}

// send sends one decision.
func (s *session) send(tag uint64, d Disposition) error {
	switch d {
	case Ack:
		return s.ch.Ack(tag, false)
	case Reject:
		return s.ch.Nack(tag, false, false)
	case Requeue:
		return s.ch.Nack(tag, false, true)
	default:
		s.log.Error("rabbitmq handler returned an unknown decision; requeueing", "decision", d.String())
		return s.ch.Nack(tag, false, true)
	}
}

// dropped logs deliveries whose decisions could not be sent.
func (s *session) dropped(b []amqp.Delivery) {
	s.log.Info("rabbitmq channel closed before decisions were sent; the broker will redeliver",
		"deliveries", len(b))
}

// ackPrefix returns the length of the leading run of Ack decisions whose delivery tags are
// consecutive.
func ackPrefix(b []amqp.Delivery, ds []Disposition) int {
	n := 0
	for n < len(b) && ds[n] == Ack && b[n].DeliveryTag == b[0].DeliveryTag+uint64(n) {
		n++
	}
	return n
}

// fitDecisions pads ds with Requeue, or cuts it, to length n.
func fitDecisions(ds []Disposition, n int) []Disposition {
	out := make([]Disposition, n)
	for i := range out {
		out[i] = Requeue
		if i < len(ds) {
			out[i] = ds[i]
		}
	}
	return out
}
