package rabbitmq_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/testkit"
)

// publish publishes the ids to the fixture's queue and requires every confirm.
func publish(t testing.TB, f *fixture, ids ...string) {
	t.Helper()
	pub := rabbitmq.NewPublisher(f.c, nil)
	defer pub.Close()
	ms := make([]rabbitmq.Message, len(ids))
	for i, id := range ids {
		ms[i] = f.msg(id)
	}
	for i, err := range pub.PublishMany(t.Context(), ms) {
		require.NoError(t, err, "message %s", ids[i])
	}
}

// xDeathReason returns the reason of the first x-death entry of d.
func xDeathReason(d amqp.Delivery) string {
	deaths, _ := d.Headers["x-death"].([]any)
	if len(deaths) == 0 {
		return ""
	}
	death, _ := deaths[0].(amqp.Table)
	reason, _ := death["reason"].(string)
	return reason
}

func TestRejectDeadLetters(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	publish(t, f, "ok-1", "bad-1", "ok-2", "bad-2")

	main := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue, BatchSize: 4, BatchWait: 50 * time.Millisecond},
		func(_ context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
			main.add(ds)
			out := make([]rabbitmq.Disposition, len(ds))
			for i, d := range ds {
				if d.MessageId[:3] == "bad" {
					out[i] = rabbitmq.Reject
				}
			}
			return out
		})
	dead := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.dlq}, dead.ackAll)

	require.Eventually(t, func() bool { return dead.hasAll([]string{"bad-1", "bad-2"}) }, 10*time.Second, 10*time.Millisecond)
	require.True(t, main.hasAll([]string{"ok-1", "ok-2"}))
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, map[string]int{"bad-1": 1, "bad-2": 1}, dead.snapshot())
	dead.mu.Lock()
	require.Equal(t, "rejected", xDeathReason(dead.seen[0]))
	dead.mu.Unlock()
}

func TestRequeueRedelivers(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	publish(t, f, "again")

	col := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue}, func(_ context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		col.add(ds)
		if !ds[0].Redelivered {
			return []rabbitmq.Disposition{rabbitmq.Requeue}
		}
		return []rabbitmq.Disposition{rabbitmq.Ack}
	})
	require.Eventually(t, func() bool { return col.snapshot()["again"] == 2 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, 2, col.snapshot()["again"])
	require.Zero(t, depth(t, c, f.dlq))
}

func TestDeliveryLimitDeadLetters(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	const limit = 2
	f := setup(t, c, limit)
	publish(t, f, "poison")

	col := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue}, func(_ context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		col.add(ds)
		return []rabbitmq.Disposition{rabbitmq.Requeue}
	})
	dead := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.dlq}, dead.ackAll)

	require.Eventually(t, func() bool { return dead.hasAll([]string{"poison"}) }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, limit+1, col.snapshot()["poison"], "delivered limit+1 times, then dead-lettered")
	dead.mu.Lock()
	require.Equal(t, "delivery_limit", xDeathReason(dead.seen[0]))
	dead.mu.Unlock()
}

func TestHandlerMistakesRequeue(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	publish(t, f, "panic", "short")

	col := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue}, func(_ context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		col.add(ds)
		if ds[0].Redelivered {
			return []rabbitmq.Disposition{rabbitmq.Ack}
		}
		if ds[0].MessageId == "panic" {
			panic("handler bug")
		}
		return nil // no decision at all
	})
	require.Eventually(t, func() bool {
		got := col.snapshot()
		return got["panic"] == 2 && got["short"] == 2
	}, 10*time.Second, 10*time.Millisecond)
}

func TestGracefulShutdownAcksInFlight(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	publish(t, f, "slow")

	started := make(chan struct{})
	var handlerCtxErr atomic.Value
	stop := consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue, DrainTimeout: 5 * time.Second},
		func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
			close(started)
			time.Sleep(500 * time.Millisecond)
			handlerCtxErr.Store(ctx.Err() == nil)
			return []rabbitmq.Disposition{rabbitmq.Ack}
		})
	<-started
	begin := time.Now()
	stop() // cancels ctx and requires Consume to return nil
	require.GreaterOrEqual(t, time.Since(begin), 300*time.Millisecond, "Consume waited for the handler")
	require.Equal(t, true, handlerCtxErr.Load(), "the handler's ctx outlives Consume's")

	time.Sleep(200 * time.Millisecond)
	require.Zero(t, depth(t, c, f.queue), "the in-flight decision was acked, not redelivered")
}

func TestDrainTimeoutLeavesMessageForRedelivery(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	publish(t, f, "stuck")

	started := make(chan struct{})
	returned := make(chan struct{})
	stop := consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue, DrainTimeout: 200 * time.Millisecond},
		func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
			close(started)
			<-ctx.Done() // cancelled once the drain timeout passes
			time.Sleep(100 * time.Millisecond)
			defer close(returned)
			return []rabbitmq.Disposition{rabbitmq.Ack}
		})
	<-started
	stop()
	<-returned
	require.Eventually(t, func() bool { return depth(t, c, f.queue) == 1 }, 5*time.Second, 20*time.Millisecond,
		"a decision made after the channel closed is dropped; the broker keeps the message")
}

func TestConsumeConfigErrors(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	ack := newCollector().ackAll
	require.Error(t, rabbitmq.Consume(t.Context(), c, rabbitmq.ConsumeConfig{}, ack))
	require.Error(t, rabbitmq.Consume(t.Context(), c, rabbitmq.ConsumeConfig{Queue: "q"}, nil))

	// A missing queue is retried until ctx is done, then Consume returns nil.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, rabbitmq.Consume(ctx, c, rabbitmq.ConsumeConfig{Queue: "missing-" + t.Name()}, ack))
}
