package rabbitmq

import (
	"context"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// confirmChannel is a channel in confirm mode plus the goroutine that drains its NotifyReturn and
// NotifyClose listeners.
//
// Matching returns to confirms: the broker sends basic.return before the basic.ack of the same
// message, and amqp091-go dispatches both from one reader goroutine, so the return has been handed
// to the (buffered) returns channel before the DeferredConfirmation is done. The watcher may not
// have recorded it yet, so after a confirm the publisher calls sync, which makes the watcher empty
// the buffer into the returned map first.
type confirmChannel struct {
	ch      *amqp.Channel
	log     *slog.Logger
	returns chan amqp.Return
	closes  chan *amqp.Error
	syncReq chan chan struct{}
	done    chan struct{} // closed when the watcher has exited (the channel is closed)

	mu       sync.Mutex
	returned map[string][]amqp.Return // by MessageId, not yet claimed by a publisher
	closeErr *amqp.Error
}

// openConfirmChannel puts ch in confirm mode and starts its watcher.
func openConfirmChannel(ctx context.Context, timeout time.Duration, ch *amqp.Channel,
	log *slog.Logger) (*confirmChannel, error) {
	cc := &confirmChannel{
		ch:       ch,
		log:      log,
		returns:  ch.NotifyReturn(make(chan amqp.Return, 256)),
		closes:   ch.NotifyClose(make(chan *amqp.Error, 1)),
		syncReq:  make(chan chan struct{}),
		done:     make(chan struct{}),
		returned: map[string][]amqp.Return{},
	}
	go cc.watch()
	if err := boundedDo(ctx, timeout, "enable publisher confirms", func() error { return ch.Confirm(false) }); err != nil {
		closeChannel(ch, timeout)
		return nil, err
	}
	return cc, nil
}

// alive reports whether the channel can still take publishes.
func (cc *confirmChannel) alive() bool { return !cc.ch.IsClosed() }

// watch drains returns and closes until the library closes both, and serves sync requests.
func (cc *confirmChannel) watch() {
	defer close(cc.done)
	returns, closes := cc.returns, cc.closes
	for returns != nil || closes != nil {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			cc.record(r)
		case e, ok := <-closes:
			if !ok {
				closes = nil
				continue
			}
			cc.mu.Lock()
			cc.closeErr = e
			cc.mu.Unlock()
			cc.log.Warn("rabbitmq publisher channel closed", "error", errString(e))
		case reply := <-cc.syncReq:
			returns = cc.drainReturns(returns)
			close(reply)
		}
	}
}

// drainReturns records every return already buffered and returns nil if the channel is closed.
func (cc *confirmChannel) drainReturns(returns chan amqp.Return) chan amqp.Return {
	for returns != nil {
		select {
		case r, ok := <-returns:
			if !ok {
				return nil
			}
			cc.record(r)
		default:
			return returns
		}
	}
	return nil
}

// record remembers a basic.return until the publisher of that MessageId claims it.
func (cc *confirmChannel) record(r amqp.Return) {
	cc.log.Warn("rabbitmq message returned as unroutable", "message_id", r.MessageId,
		"exchange", r.Exchange, "routing_key", r.RoutingKey, "reply_code", r.ReplyCode, "reply_text", r.ReplyText)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.returned[r.MessageId] = append(cc.returned[r.MessageId], r)
}

// sync waits until every return that the library dispatched before now has been recorded.
func (cc *confirmChannel) sync(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case cc.syncReq <- reply:
		<-reply // the watcher closes it right after draining the buffer
		return nil
	case <-cc.done:
		return nil // the watcher drained everything before exiting
	case <-ctx.Done():
		return ctx.Err()
	}
}

// claimReturn takes the oldest recorded return for messageID, if any.
func (cc *confirmChannel) claimReturn(messageID string) (amqp.Return, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	rs := cc.returned[messageID]
	if len(rs) == 0 {
		return amqp.Return{}, false
	}
	if len(rs) == 1 {
		delete(cc.returned, messageID)
	} else {
		cc.returned[messageID] = rs[1:]
	}
	return rs[0], true
}

// closeReason waits (bounded by ctx) for the watcher to see the channel close, and returns the
// broker's reason, or nil if there was none.
func (cc *confirmChannel) closeReason(ctx context.Context) *amqp.Error {
	select {
	case <-cc.done:
	case <-ctx.Done():
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.closeErr
}
