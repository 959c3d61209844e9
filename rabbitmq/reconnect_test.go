package rabbitmq_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/testkit"
)

// ownVhost gives a test a vhost of its own, for faults that hit every connection in it.
func ownVhost(t *testing.T) (amqpURL, vhost string) {
	t.Helper()
	u := testkit.OwnVhost(t)
	v, err := rabbitmqtest.VhostOf(u)
	require.NoError(t, err)
	return u, v
}

func TestReconnectMidStream(t *testing.T) {
	t.Parallel()
	u, vhost := ownVhost(t)
	pc, cc := dial(t, u), dial(t, u) // publisher and consumer on their own connections
	f := setup(t, pc, 5)
	require.Equal(t, uint64(1), pc.Generation())

	col := newCollector()
	consume(t, cc, rabbitmq.ConsumeConfig{Queue: f.queue, BatchSize: 10, Concurrency: 2}, col.ackAll)

	pub := rabbitmq.NewPublisher(pc, nil)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })
	var published atomic.Int64
	var retries atomic.Int64
	stopPub := make(chan struct{})
	pubDone := make(chan []string)
	go func() {
		var sent []string
		defer func() { pubDone <- sent }()
		for i := 0; ; i += 20 {
			select {
			case <-stopPub:
				return
			default:
			}
			todo := ids(fmt.Sprintf("r%d", i), 20) // pipelined, so confirms are outstanding when the fault hits
			for len(todo) > 0 {                    // at-least-once: retry until confirmed
				ms := make([]rabbitmq.Message, len(todo))
				for k, id := range todo {
					ms[k] = f.msg(id)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				errs := pub.PublishMany(ctx, ms)
				cancel()
				var failed []string
				for k, err := range errs {
					if err != nil {
						failed = append(failed, todo[k])
						continue
					}
					sent = append(sent, todo[k])
					published.Add(1)
				}
				retries.Add(int64(len(failed)))
				todo = failed
			}
		}
	}()

	require.Eventually(t, func() bool { return published.Load() >= 1000 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, rabbitmqtest.CloseConnections(vhost, "b2bpay test: broker fault"))
	require.Eventually(t, func() bool { return pc.Generation() >= 2 && cc.Generation() >= 2 },
		10*time.Second, 10*time.Millisecond, "both connections came back")
	after := published.Load()
	require.Eventually(t, func() bool { return published.Load() >= after+1000 }, 10*time.Second, 5*time.Millisecond,
		"publishing goes on after the reconnect")
	close(stopPub)
	sent := <-pubDone

	require.Eventually(t, func() bool { return col.hasAll(sent) }, 15*time.Second, 10*time.Millisecond,
		"every confirmed message arrives at least once, including those sent after the reconnect")
	t.Logf("published %d messages with %d retries; %d distinct received", len(sent), retries.Load(), len(col.snapshot()))
}

func TestDialRespectsContextAndRedactsPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := rabbitmq.Dial(ctx, rabbitmq.Config{
		URL:         "amqp://guest:s3cret@127.0.0.1:1/",
		DialTimeout: 100 * time.Millisecond,
	})
	require.Error(t, err)
	require.Less(t, time.Since(begin), 2*time.Second)
	require.NotContains(t, err.Error(), "s3cret")

	require.Equal(t, "amqp://guest:xxxxx@host:5672/v", rabbitmq.RedactURL("amqp://guest:pw@host:5672/v"))
	_, err = rabbitmq.Dial(t.Context(), rabbitmq.Config{URL: "http://x"})
	require.Error(t, err)
}

func TestChannelAfterClose(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: testkit.AMQP(t), Name: "b2bpay-test"})
	require.NoError(t, err)
	ch, err := c.Channel(ctx)
	require.NoError(t, err)
	require.NoError(t, ch.Close())
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close twice is fine")
	_, err = c.Channel(ctx)
	require.ErrorIs(t, err, rabbitmq.ErrClosed)
	require.NotContains(t, strings.ToLower(fmt.Sprint(err)), "guest:guest")
}

func TestDecisionsFromDeadChannelAreDropped(t *testing.T) {
	t.Parallel()
	u, vhost := ownVhost(t)
	c := dial(t, u)
	f := setup(t, c, 5)
	publish(t, f, "inflight")

	inHandler := make(chan struct{}, 1)
	col := newCollector()
	consume(t, c, rabbitmq.ConsumeConfig{Queue: f.queue}, func(ctx context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
		col.add(ds)
		if !ds[0].Redelivered && ds[0].MessageId == "inflight" {
			inHandler <- struct{}{}
			<-ctx.Done() // cancelled when the channel is lost
			return []rabbitmq.Disposition{rabbitmq.Ack}
		}
		return []rabbitmq.Disposition{rabbitmq.Ack}
	})
	<-inHandler
	require.NoError(t, rabbitmqtest.CloseConnections(vhost, "b2bpay test: fault during handler"))

	// The Ack made on the dead channel was dropped: the broker redelivers, and the new channel is
	// not broken by a stale delivery tag, so later messages still flow.
	require.Eventually(t, func() bool { return col.snapshot()["inflight"] == 2 }, 10*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, c.Generation(), uint64(2))
	publish(t, f, "later-1", "later-2")
	require.Eventually(t, func() bool { return col.hasAll([]string{"later-1", "later-2"}) }, 10*time.Second, 10*time.Millisecond)
	require.Zero(t, depth(t, c, f.queue))
}
