package producers_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestSecurityUpstreamReadsOnlyItsOwnEvents runs two upstreams, erp and
// erp-sh, each as a scratch broker user with exactly the permissions the
// README gives (route.UpstreamPermissions), on a scratch vhost whose
// topology b2bpay declared, with the binding older versions left
// (payment.erp.#) in place before the declaration. Each upstream submits
// and reads its own answers; erp receives none of erp-sh's events (nor one
// routed as payment.erp.sh.*), and cannot read, get, bind to, purge or
// delete erp-sh's queue, declare a queue of its own, or publish events.
func TestSecurityUpstreamReadsOnlyItsOwnEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vhost := testkit.OwnVhost(t)

	admin, err := amqp.Dial(vhost)
	require.NoError(t, err)
	defer admin.Close()
	ach, err := admin.Channel()
	require.NoError(t, err)
	require.NoError(t, ach.Confirm(false))

	// What an older b2bpay declared: erp's queue bound with payment.erp.#.
	legacy := route.UpstreamTopology("erp")
	legacy.Bindings[0].Key, legacy.Unbind = "payment.erp.#", nil
	conn, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: vhost, Name: "security-test"})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, route.Topology().Declare(ctx, conn))
	require.NoError(t, legacy.Declare(ctx, conn))
	require.NoError(t, route.UpstreamTopology("erp").Declare(ctx, conn))
	require.NoError(t, route.UpstreamTopology("erp-sh").Declare(ctx, conn))

	publishEvent := func(key, correlation string) {
		body, err := json.Marshal(payment.Event{ID: correlation, RequestID: correlation, Kind: payment.EventAccepted})
		require.NoError(t, err)
		dc, err := ach.PublishWithDeferredConfirmWithContext(ctx, route.EventsExchange, key, false, false,
			amqp.Publishing{CorrelationId: correlation, Body: body, DeliveryMode: amqp.Persistent})
		require.NoError(t, err)
		ok, err := dc.WaitContext(ctx)
		require.NoError(t, err)
		require.True(t, ok)
	}
	publishEvent(route.EventKey("erp", payment.EventAccepted), "erp-1")
	publishEvent(route.EventKey("erp-sh", payment.EventAccepted), "erp-sh-1")
	publishEvent("payment.erp.sh.accepted", "dotted")
	publishEvent("payment.erp-sh.state_changed", "erp-sh-2")
	publishEvent(route.EventKey("erp", payment.EventStateChanged), "erp-end")

	type upstream struct {
		user, url string
		client    *producers.Client
	}
	dial := func(id string) upstream {
		p := route.UpstreamPermissions(id)
		user, url, dropUser, err := rabbitmqtest.NewUser(vhost, p.Configure, p.Write, p.Read)
		require.NoError(t, err)
		t.Cleanup(dropUser)
		c, err := producers.Dial(ctx, producers.Config{URL: url, UpstreamID: id, UserID: user})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return upstream{user: user, url: url, client: c}
	}
	erp, erpSH := dial("erp"), dial("erp-sh")

	// Each submits (publish with confirms and the mandatory flag).
	req := payment.Request{RequestID: "r-1", OrderRef: "SO-1"}
	require.NoError(t, erp.client.Submit(ctx, req))
	require.NoError(t, erpSH.client.Submit(ctx, req))

	// erp-sh waits for its second answer: the first goes back to its queue.
	ev, err := erpSH.client.Await(ctx, "erp-sh-2")
	require.NoError(t, err)
	require.Equal(t, "erp-sh-2", ev.ID)

	// erp reads exactly its own events, in order.
	answers, err := erp.client.Subscribe(ctx)
	require.NoError(t, err)
	_, err = answers.Wait(ctx, "erp-end")
	require.NoError(t, err)
	answers.Close()
	var got []string
	for _, e := range answers.Events() {
		got = append(got, e.ID)
	}
	require.Equal(t, []string{"erp-1", "erp-end"}, got)

	// erp-sh's first answer is still in its queue, for its own consumer.
	ev, err = erpSH.client.Await(ctx, "erp-sh-1")
	require.NoError(t, err)
	require.Equal(t, "erp-sh-1", ev.ID)

	// erp, on a connection of its own, tries everything else: each is refused.
	raw, err := amqp.Dial(erp.url)
	require.NoError(t, err)
	defer raw.Close()
	other, own := route.StatusQueue("erp-sh"), route.StatusQueue("erp")
	attacks := map[string]func(ch *amqp.Channel) error{
		"consume another upstream's queue": func(ch *amqp.Channel) error {
			_, err := ch.Consume(other, "", false, false, false, false, nil)
			return err
		},
		"get from another upstream's queue": func(ch *amqp.Channel) error {
			_, _, err := ch.Get(other, false)
			return err
		},
		"declare a private queue": func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("", false, true, true, false, nil)
			return err
		},
		"declare a named queue": func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("b2bpay.status.erp-sh.copy", true, false, false, false, nil)
			return err
		},
		"bind its own queue to another upstream's events": func(ch *amqp.Channel) error {
			return ch.QueueBind(own, route.EventKey("erp-sh", payment.EventAccepted), route.EventsExchange, false, nil)
		},
		"bind another upstream's queue elsewhere": func(ch *amqp.Channel) error {
			return ch.QueueBind(other, "x", route.RequestsExchange, false, nil)
		},
		"purge another upstream's queue": func(ch *amqp.Channel) error {
			_, err := ch.QueuePurge(other, false)
			return err
		},
		"delete another upstream's queue": func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(other, false, false, false)
			return err
		},
		"delete its own queue": func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(own, false, false, false)
			return err
		},
		"publish an event": func(ch *amqp.Channel) error {
			if err := ch.PublishWithContext(ctx, route.EventsExchange, route.EventKey("erp-sh", payment.EventAccepted), false, false,
				amqp.Publishing{Body: []byte("{}")}); err != nil {
				return err
			}
			return ch.Qos(1, 0, false) // a synchronous call after the publish sees the channel's close
		},
		"publish to another upstream's queue directly": func(ch *amqp.Channel) error {
			if err := ch.PublishWithContext(ctx, "", other, false, false, amqp.Publishing{Body: []byte("{}")}); err != nil {
				return err
			}
			return ch.Qos(1, 0, false)
		},
	}
	for name, attack := range attacks {
		ch, err := raw.Channel()
		require.NoError(t, err, name)
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		err = attack(ch)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.ChannelError {
			// The broker's close reached the channel before the call that
			// was to see it: the close carries the broker's reason.
			select {
			case reason := <-closed:
				if reason != nil {
					err = reason
				}
			case <-time.After(5 * time.Second):
			}
		}
		require.True(t, errors.As(err, &ae), "%s: want ACCESS_REFUSED, got %v", name, err)
		require.Equal(t, amqp.AccessRefused, ae.Code, "%s: %v", name, err)
		_ = ch.Close()
	}

	// Nothing was lost on the way: erp-sh's queue is empty, erp's too.
	for _, q := range []string{own, other} {
		st, err := ach.QueueDeclarePassive(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		require.NoError(t, err)
		require.Zero(t, st.Messages, q)
	}
}
