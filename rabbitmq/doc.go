// Package rabbitmq wraps amqp091-go for the rest of b2bpay: a self-healing connection, declarative
// topology, a publisher with confirms and a batch consumer with manual acks. It knows nothing
// about payments; it only makes sure a message is never silently lost.
//
// # Guarantees
//
// Delivery is at-least-once, never at-most-once:
//
//   - Publisher.Publish returns nil only when the broker confirmed the message (for a persistent
//     message on a quorum queue: stored on a majority) and routed it to at least one queue. The
//     mandatory flag turns an unroutable message into ErrReturned, matched by MessageId. Any error
//     means "publish it again"; a retry can duplicate a message.
//   - Consume acks only after the handler returns, so a crash or a lost channel redelivers.
//     Handlers must therefore be idempotent: deduplicate by MessageId.
//
// # Reconnect rules
//
//	Dial ──► connected (generation 1) ──NotifyClose──► down ──redial with backoff──► connected (generation n+1)
//	               ▲                                                                      │
//	               └──────────────────────────────────────────────────────────────────────┘
//
// The rules:
//
//  1. One supervisor goroutine per Conn watches the connection's NotifyClose (buffered, always
//     drained) and redials with exponential backoff and jitter (ReconnectMin..ReconnectMax) until
//     Close. amqp091-go's own Config.Recovery is not used: it reuses delivery tags across
//     reconnects, so an old delivery's ack could hit a different message.
//  2. Channels are never recovered. Conn.Channel always opens a fresh channel on the live
//     connection, waiting (bounded by ctx) for the supervisor while the connection is down.
//     Generation tells callers a reconnect happened.
//  3. The Publisher reopens its confirm channel lazily on the next publish. Messages whose confirm
//     was outstanding when the channel died get ErrUnconfirmed and must be published again.
//  4. Consume opens a new channel and consumes again. Decisions for deliveries received on the dead
//     channel are dropped: the broker has already requeued those messages, and their delivery
//     tags mean nothing on the new channel.
//  5. Every broker call (channel open, declare, qos, confirm wait, cancel, close) is bounded by
//     the caller's ctx and Config.OpTimeout, because amqp091-go's calls can block while the
//     network is gone until the heartbeat notices.
//
// # Shutdown
//
// Cancel Consume's ctx: it sends basic.cancel, lets in-flight handlers finish (their handler ctx
// stays live for DrainTimeout) and acks their decisions, then closes its channel, which requeues
// anything prefetched but not handled, and returns nil. Then close publishers, then the Conn.
//
// Logs use snake_case keys and never contain message bodies or the URL's password.
package rabbitmq
