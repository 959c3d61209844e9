// Package route names where each b2bpay message goes and what its envelope
// carries: the exchanges, queues and bindings (the topology), the routing
// keys and headers of the request contract, and the messages b2bpay builds
// from status events and refused requests.
package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
)

// Exchanges, queues and routing keys of the intake.
const (
	// RequestsExchange takes payment requests from upstream systems.
	RequestsExchange = "b2bpay.requests"
	// RequestKey is the routing key of a version 1 payment request.
	RequestKey = "payment.request.v1"
	// CancelKey is the routing key of a version 1 cancel request.
	CancelKey = "payment.cancel.v1"
	// IntakeQueue is the quorum queue the intake consumer reads.
	IntakeQueue = "b2bpay.intake"
	// EventsExchange carries status events to upstream systems, routed by
	// EventKey.
	EventsExchange = "b2bpay.events"
	// DeadLetterExchange takes refused and poison messages.
	DeadLetterExchange = "b2bpay.dlx"
	// IntakeDeadKey routes intake's dead letters.
	IntakeDeadKey = "intake"
	// IntakeDeadQueue holds intake's dead letters for operators.
	IntakeDeadQueue = "b2bpay.intake.dead"
	// IntakeDeliveryLimit is how often a message is redelivered before the
	// broker dead-letters it (a handler that keeps failing).
	IntakeDeliveryLimit = 20
)

// Headers of the request contract and of dead letters.
const (
	// HeaderUpstream names the upstream of an HMAC-signed request.
	HeaderUpstream = "x-b2bpay-upstream"
	// HeaderSignature is hex(HMAC-SHA256(upstream key, body)).
	HeaderSignature = "x-b2bpay-signature"
	// HeaderReasonCode is the machine-readable reason of a dead letter.
	HeaderReasonCode = "x-b2bpay-reason-code"
	// HeaderReason is the human-readable reason of a dead letter.
	HeaderReason = "x-b2bpay-reason"
	// HeaderOriginalMessageID is the message id of the dead-lettered message.
	HeaderOriginalMessageID = "x-b2bpay-original-message-id"
	// HeaderOriginalUserID is the validated user id of its publisher.
	HeaderOriginalUserID = "x-b2bpay-original-user-id"
)

// Topology is the broker topology b2bpay needs for intake.
func Topology() rabbitmq.Topology {
	return rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{
			{Name: RequestsExchange, Kind: "direct"},
			{Name: EventsExchange, Kind: "topic"},
			{Name: DeadLetterExchange, Kind: "direct"},
		},
		Queues: []rabbitmq.Queue{
			rabbitmq.QuorumQueue(IntakeQueue, IntakeDeliveryLimit, DeadLetterExchange, IntakeDeadKey),
			deadQueue(IntakeDeadQueue),
		},
		Bindings: []rabbitmq.Binding{
			{Queue: IntakeQueue, Exchange: RequestsExchange, Key: RequestKey},
			{Queue: IntakeQueue, Exchange: RequestsExchange, Key: CancelKey},
			{Queue: IntakeDeadQueue, Exchange: DeadLetterExchange, Key: IntakeDeadKey},
		},
	}
}

// deadQueue is a quorum queue that keeps dead letters until an operator
// takes them; it has no dead-letter exchange of its own.
func deadQueue(name string) rabbitmq.Queue {
	return rabbitmq.Queue{Name: name, Args: map[string]any{"x-queue-type": "quorum"}}
}

// StatusQueue is the queue that holds an upstream's status events.
func StatusQueue(upstreamID string) string { return "b2bpay.status." + upstreamID }

// EventKey is the routing key of an event for an upstream:
// payment.<upstream>.<kind>.
func EventKey(upstreamID string, kind payment.EventKind) string {
	return "payment." + upstreamID + "." + string(kind)
}

// UpstreamTopology declares an upstream's status queue, bound to exactly
// that upstream's events: payment.<upstream>.<kind>, one word for the
// upstream and one for the kind (the id holds no '.', '*' or '#':
// payment.ValidUpstreamID). It removes the binding older versions made,
// payment.<upstream>.#, which would also route an upstream
// "<upstream>.x"'s events here. b2bpay publishes events with the mandatory
// flag, so an upstream without this queue leaves its events pending in the
// outbox (and raises an alert) rather than losing them.
func UpstreamTopology(upstreamID string) rabbitmq.Topology {
	q := StatusQueue(upstreamID)
	return rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: EventsExchange, Kind: "topic"}},
		Queues:    []rabbitmq.Queue{{Name: q, Args: map[string]any{"x-queue-type": "quorum"}}},
		Bindings:  []rabbitmq.Binding{{Queue: q, Exchange: EventsExchange, Key: StatusKey(upstreamID)}},
		Unbind:    []rabbitmq.Binding{{Queue: q, Exchange: EventsExchange, Key: "payment." + upstreamID + ".#"}},
	}
}

// StatusKey is the binding key of an upstream's status queue:
// payment.<upstream>.*, every kind of event for exactly that upstream.
func StatusKey(upstreamID string) string { return "payment." + upstreamID + ".*" }

// Permissions are the RabbitMQ permissions of one broker user on the vhost:
// regular expressions over the resource names it may configure, write and
// read (rabbitmqctl set_permissions USER CONFIGURE WRITE READ).
type Permissions struct{ Configure, Write, Read string }

// UpstreamPermissions are the only permissions an upstream system's broker
// user needs, all anchored: configure nothing (b2bpay declares and binds
// its status queue), write to the requests exchange only, read its own
// status queue only. So it can publish requests and consume its own
// answers, and can neither declare a queue, bind one to b2bpay.events, nor
// read another upstream's queue. The id must be a valid upstream id
// (payment.ValidUpstreamID: no character a regular expression reads as an
// operator); it is quoted all the same.
func UpstreamPermissions(upstreamID string) Permissions {
	return Permissions{
		Configure: "^$",
		Write:     "^" + regexp.QuoteMeta(RequestsExchange) + "$",
		Read:      "^" + regexp.QuoteMeta(StatusQueue(upstreamID)) + "$",
	}
}

// EventMessage is the outbox message that carries a status event.
func EventMessage(ev payment.Event) (outbox.Message, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	return outbox.Message{
		MessageID:   ev.ID,
		Exchange:    EventsExchange,
		RoutingKey:  EventKey(ev.UpstreamID, ev.Kind),
		ContentType: "application/json",
		Headers:     map[string]string{"x-b2bpay-correlation-id": correlation(ev)},
		Body:        body,
	}, nil
}

// correlation is what the answer is correlated by: the request id, or the
// incoming message id when the request could not be read. That id is
// whatever the publisher set, so it is made text the outbox (jsonb refuses
// NUL) and AMQP can carry.
func correlation(ev payment.Event) string {
	if ev.RequestID != "" {
		return payment.Text(ev.RequestID)
	}
	return payment.Text(ev.MessageID)
}

// Original describes a consumed message for its dead-letter copy.
type Original struct {
	Key       string // identifies it across redeliveries
	MessageID string
	UserID    string
	Headers   map[string]string
	Body      []byte
}

// DeadLetter is the copy of a refused or poison message sent to the intake
// dead-letter queue, the reason in its headers.
func DeadLetter(o Original, code payment.Code, reason string) outbox.Message {
	return DeadLetterTo(IntakeDeadKey, o, code, reason)
}

// DeadLetterTo is DeadLetter for the dead-letter queue bound with key.
func DeadLetterTo(key string, o Original, code payment.Code, reason string) outbox.Message {
	h := make(map[string]string, len(o.Headers)+4)
	for k, v := range o.Headers {
		h[payment.Text(k)] = payment.Text(v)
	}
	h[HeaderReasonCode] = string(code)
	h[HeaderReason] = payment.Cut(payment.Text(reason), 512) // clean first: U+FFFD is longer than the byte it replaces
	h[HeaderOriginalMessageID] = payment.Text(o.MessageID)
	h[HeaderOriginalUserID] = payment.Text(o.UserID)
	return outbox.Message{
		MessageID:   "dead/" + o.Key,
		Exchange:    DeadLetterExchange,
		RoutingKey:  key,
		ContentType: "application/octet-stream",
		Headers:     h,
		Body:        o.Body,
	}
}

// Publisher is the outbox relay's publisher over AMQP: each outbox row a
// persistent message with its id, correlation id, content type and
// headers, published with confirms and the mandatory flag; a message the
// broker returns fails with outbox.ErrUnroutable.
type Publisher struct {
	// AMQP publishes; *rabbitmq.Publisher, or one that counts what it does.
	AMQP interface {
		PublishMany(ctx context.Context, ms []rabbitmq.Message) []error
	}
}

// PublishMany publishes ms; one error per message.
func (p Publisher) PublishMany(ctx context.Context, ms []outbox.Message) []error {
	pubs := make([]rabbitmq.Message, len(ms))
	for i, m := range ms {
		pubs[i] = AMQPMessage(m)
	}
	errs := p.AMQP.PublishMany(ctx, pubs)
	for i, err := range errs {
		if errors.Is(err, rabbitmq.ErrReturned) {
			errs[i] = fmt.Errorf("%w: %w", outbox.ErrUnroutable, err)
		}
	}
	return errs
}

// AMQPMessage turns an outbox row into a persistent AMQP message.
func AMQPMessage(m outbox.Message) rabbitmq.Message {
	var headers amqp.Table
	if len(m.Headers) > 0 {
		headers = make(amqp.Table, len(m.Headers))
		for k, v := range m.Headers {
			headers[k] = v
		}
	}
	return rabbitmq.Message{
		Exchange: m.Exchange,
		Key:      m.RoutingKey,
		Publishing: amqp.Publishing{
			MessageId:     m.MessageID,
			CorrelationId: m.Headers["x-b2bpay-correlation-id"],
			ContentType:   m.ContentType,
			DeliveryMode:  amqp.Persistent,
			Headers:       headers,
			Body:          m.Body,
			Timestamp:     time.Now().UTC(),
		},
	}
}
