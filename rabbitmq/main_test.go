package rabbitmq_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, testkit.Options{}) }

// testLogger logs to the test's output at Info and above.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// dial connects to amqpURL with fast reconnects and closes the connection at cleanup.
func dial(t testing.TB, amqpURL string) *rabbitmq.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := rabbitmq.Dial(ctx, rabbitmq.Config{
		URL:          amqpURL,
		Name:         "b2bpay-test " + t.Name(),
		OpTimeout:    5 * time.Second,
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 300 * time.Millisecond,
		Logger:       testLogger(t),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// fixture is one test's topology: exchange ex routes key "k" to a quorum queue whose dead letters
// go through dlx with key "dead" to dlq.
type fixture struct {
	c                   *rabbitmq.Conn
	ex, queue, dlx, dlq string
	topology            rabbitmq.Topology
}

// setup declares a fresh fixture on c with the given x-delivery-limit.
func setup(t testing.TB, c *rabbitmq.Conn, deliveryLimit int) *fixture {
	t.Helper()
	f := &fixture{
		c:     c,
		ex:    rabbitmqtest.QueueName(t, "ex"),
		queue: rabbitmqtest.QueueName(t, "q"),
		dlx:   rabbitmqtest.QueueName(t, "dlx"),
		dlq:   rabbitmqtest.QueueName(t, "dlq"),
	}
	f.topology = rabbitmq.Topology{
		Exchanges: []rabbitmq.Exchange{{Name: f.ex, Kind: "direct"}, {Name: f.dlx, Kind: "direct"}},
		Queues: []rabbitmq.Queue{
			rabbitmq.QuorumQueue(f.queue, deliveryLimit, f.dlx, "dead"),
			{Name: f.dlq, Args: amqp.Table{"x-queue-type": "quorum"}},
		},
		Bindings: []rabbitmq.Binding{
			{Queue: f.queue, Exchange: f.ex, Key: "k"},
			{Queue: f.dlq, Exchange: f.dlx, Key: "dead"},
		},
	}
	require.NoError(t, f.topology.Declare(t.Context(), c))
	return f
}

// msg builds a persistent message for the fixture's queue.
func (f *fixture) msg(id string) rabbitmq.Message {
	return rabbitmq.Message{Exchange: f.ex, Key: "k", Publishing: amqp.Publishing{
		MessageId: id, DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: []byte("body " + id),
	}}
}

// depth returns the number of ready messages in queue.
func depth(t testing.TB, c *rabbitmq.Conn, queue string) int {
	t.Helper()
	ch, err := c.Channel(t.Context())
	require.NoError(t, err)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

// collector records what a consumer received, by MessageId.
type collector struct {
	mu     sync.Mutex
	counts map[string]int
	seen   []amqp.Delivery
}

func newCollector() *collector { return &collector{counts: map[string]int{}} }

func (col *collector) add(ds []amqp.Delivery) {
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, d := range ds {
		col.counts[d.MessageId]++
		col.seen = append(col.seen, d)
	}
}

// snapshot copies the counts.
func (col *collector) snapshot() map[string]int {
	col.mu.Lock()
	defer col.mu.Unlock()
	out := make(map[string]int, len(col.counts))
	for k, v := range col.counts {
		out[k] = v
	}
	return out
}

// hasAll reports whether every id was received at least once.
func (col *collector) hasAll(ids []string) bool {
	got := col.snapshot()
	for _, id := range ids {
		if got[id] == 0 {
			return false
		}
	}
	return true
}

// consume runs Consume in the background with handler h and returns a function that stops it and
// checks that it returned nil.
func consume(t testing.TB, c *rabbitmq.Conn, cfg rabbitmq.ConsumeConfig, h rabbitmq.BatchHandler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rabbitmq.Consume(ctx, c, cfg, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				require.NoError(t, err)
			case <-time.After(15 * time.Second):
				t.Error("Consume did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// ackAll is a handler that records and acks everything.
func (col *collector) ackAll(_ context.Context, ds []amqp.Delivery) []rabbitmq.Disposition {
	col.add(ds)
	return make([]rabbitmq.Disposition, len(ds)) // all Ack
}

// ids returns "prefix-0" … "prefix-(n-1)".
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
