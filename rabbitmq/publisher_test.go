package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestPublishConsumeExactlyOnce(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	pub := rabbitmq.NewPublisher(c, nil)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })

	col := newCollector()
	stop := consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue, BatchSize: 10, Concurrency: 3}, col.ackAll)

	want := ids("m", 200)
	var wg sync.WaitGroup
	for w := range 4 { // concurrent publishers on one Publisher
		wg.Go(func() {
			for i := w; i < len(want); i += 4 {
				require.NoError(t, pub.Publish(t.Context(), f.msg(want[i])))
			}
		})
	}
	wg.Wait()

	require.Eventually(t, func() bool { return col.hasAll(want) }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show up
	stop()
	got := col.snapshot()
	require.Len(t, got, len(want))
	for _, id := range want {
		require.Equal(t, 1, got[id], "message %s", id)
	}
	require.Zero(t, depth(t, c, f.queue), "everything was acked")
}

func TestPublishMany(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	pub := rabbitmq.NewPublisher(c, nil)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })

	want := ids("many", 1000)
	ms := make([]rabbitmq.Message, len(want))
	for i, id := range want {
		ms[i] = f.msg(id)
	}
	errs := pub.PublishMany(t.Context(), ms)
	require.Len(t, errs, len(ms))
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}
	require.Eventually(t, func() bool { return depth(t, c, f.queue) == len(want) }, 5*time.Second, 20*time.Millisecond)

	col := newCollector()
	var maxBatch atomic.Int64
	h := func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		if n := int64(len(ds)); n > maxBatch.Load() {
			maxBatch.Store(n) // one worker: no race
		}
		return col.ackAll(ctx, ds)
	}
	stop := consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue, BatchSize: 50, Prefetch: 200}, h)
	require.Eventually(t, func() bool { return col.hasAll(want) }, 10*time.Second, 10*time.Millisecond)
	stop()
	require.Len(t, col.snapshot(), len(want))
	require.Greater(t, maxBatch.Load(), int64(1), "a backlog is handled in batches")
	require.LessOrEqual(t, maxBatch.Load(), int64(50))
	require.Zero(t, depth(t, c, f.queue), "batches acked with multiple=true")
}

func TestPublishReturnedIsMatchedByMessageID(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	pub := rabbitmq.NewPublisher(c, nil)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })

	ms := make([]rabbitmq.Message, 10)
	for i, id := range ids("ret", len(ms)) {
		ms[i] = f.msg(id)
	}
	ms[3].Key = "nowhere"
	ms[7].Key = "nowhere"
	errs := pub.PublishMany(t.Context(), ms)
	for i, err := range errs {
		if i == 3 || i == 7 {
			require.ErrorIs(t, err, rabbitmq.ErrReturned, "message %d", i)
			require.Contains(t, err.Error(), ms[i].Publishing.MessageId)
		} else {
			require.NoError(t, err, "message %d", i)
		}
	}
	require.Eventually(t, func() bool { return depth(t, c, f.queue) == 8 }, 5*time.Second, 20*time.Millisecond)

	// A single publish to an exchange with no bindings at all.
	lonely := rabbitmq.Topology{Exchanges: []rabbitmq.Exchange{{Name: f.ex + ".lonely", Kind: "topic"}}}
	require.NoError(t, lonely.Declare(t.Context(), c))
	m := f.msg("ret-lonely")
	m.Exchange = f.ex + ".lonely"
	require.ErrorIs(t, pub.Publish(t.Context(), m), rabbitmq.ErrReturned)
	// The publisher's channel is still good.
	require.NoError(t, pub.Publish(t.Context(), f.msg("ret-after")))
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	pub := rabbitmq.NewPublisher(c, nil)

	require.ErrorIs(t, pub.Publish(t.Context(), rabbitmq.Message{Exchange: f.ex, Key: "k"}), rabbitmq.ErrNoMessageID)

	// A publish to a missing exchange closes the channel (404): an error, and the next publish
	// works on a new channel.
	m := f.msg("err-1")
	m.Exchange = f.ex + ".missing"
	err := pub.Publish(t.Context(), m)
	require.Error(t, err)
	require.NotErrorIs(t, err, rabbitmq.ErrReturned)
	require.NoError(t, pub.Publish(t.Context(), f.msg("err-2")))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, pub.Publish(ctx, f.msg("err-3")), context.Canceled)

	require.NoError(t, pub.Close())
	require.ErrorIs(t, pub.Publish(t.Context(), f.msg("err-4")), rabbitmq.ErrClosed)
}

func TestPublishNackedWhenQueueFull(t *testing.T) {
	t.Parallel()
	c := dial(t, testkit.AMQP(t))
	f := setup(t, c, 5)
	full := rabbitmq.QuorumQueue(f.queue+".full", 5, f.dlx, "dead")
	full.Args["x-max-length"] = 1
	topo := rabbitmq.Topology{
		Queues:   []rabbitmq.Queue{full},
		Bindings: []rabbitmq.Binding{{Queue: full.Name, Exchange: f.ex, Key: "full"}},
	}
	require.NoError(t, topo.Declare(t.Context(), c))
	pub := rabbitmq.NewPublisher(c, nil)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })

	// A quorum queue notices it is over its limit one message late.
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		m := f.msg(fmt.Sprintf("full-%d", i))
		m.Key = "full"
		err = pub.Publish(t.Context(), m)
	}
	require.ErrorIs(t, err, rabbitmq.ErrNacked, "x-overflow=reject-publish nacks past x-max-length")
	require.False(t, errors.Is(err, rabbitmq.ErrUnconfirmed))
	require.NoError(t, pub.Publish(t.Context(), f.msg("full-3")), "the channel survives a nack")
}
