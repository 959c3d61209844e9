package route_test

import (
	"context"
	"errors"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// returnsSecond publishes nothing: it records what it was given and fails
// the second message as the broker's return would.
type returnsSecond struct{ got []rabbitmq.Message }

func (r *returnsSecond) PublishMany(_ context.Context, ms []rabbitmq.Message) []error {
	r.got = ms
	errs := make([]error, len(ms))
	if len(ms) > 1 {
		errs[1] = rabbitmq.ErrReturned
	}
	return errs
}

// TestPublisherCarriesTheRow: each outbox row becomes a persistent message
// with its id, correlation id, content type, headers and body, and a
// returned message fails as outbox.ErrUnroutable (the relay keeps it
// pending and raises its alert).
func TestPublisherCarriesTheRow(t *testing.T) {
	amqpPub := &returnsSecond{}
	rows := []outbox.Message{
		{MessageID: "m1", Exchange: route.EventsExchange, RoutingKey: "payment.erp.accepted", ContentType: "application/json",
			Headers: map[string]string{"x-b2bpay-correlation-id": "req-1", "x-b2bpay-kind": "accepted"}, Body: []byte(`{"a":1}`)},
		{MessageID: "m2", Exchange: route.TasksExchange, RoutingKey: "C9.review", Body: []byte(`{}`)},
	}
	errs := route.Publisher{AMQP: amqpPub}.PublishMany(context.Background(), rows)
	require.Len(t, errs, 2)
	require.NoError(t, errs[0])
	require.True(t, errors.Is(errs[1], outbox.ErrUnroutable), "%v", errs[1])
	require.True(t, errors.Is(errs[1], rabbitmq.ErrReturned), "the broker's error is kept: %v", errs[1])

	require.Len(t, amqpPub.got, 2)
	m := amqpPub.got[0]
	require.Equal(t, route.EventsExchange, m.Exchange)
	require.Equal(t, "payment.erp.accepted", m.Key)
	require.Equal(t, "m1", m.Publishing.MessageId)
	require.Equal(t, "req-1", m.Publishing.CorrelationId)
	require.Equal(t, "application/json", m.Publishing.ContentType)
	require.Equal(t, amqp.Persistent, m.Publishing.DeliveryMode)
	require.Equal(t, amqp.Table{"x-b2bpay-correlation-id": "req-1", "x-b2bpay-kind": "accepted"}, m.Publishing.Headers)
	require.Equal(t, `{"a":1}`, string(m.Publishing.Body))
	require.False(t, m.Publishing.Timestamp.IsZero())
	require.Nil(t, amqpPub.got[1].Publishing.Headers, "no headers, no table")
}
